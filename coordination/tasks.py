"""Thin tasks: they take IDs and call a service; safe to retry (each e-mail is claimed by an
UPDATE … WHERE sent IS NULL before it goes, so two workers never send it twice)."""

from celery import shared_task

from coordination import notifications


@shared_task(time_limit=300, soft_time_limit=240)
def send_convocations(reunion_id):
    return notifications.convocations_send(reunion_id=reunion_id)


@shared_task(time_limit=60, soft_time_limit=45)
def send_action_notice(action_id):
    return notifications.action_notice_send(action_id=action_id)
