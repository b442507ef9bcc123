"""Celery tasks of outreach. Thin: each calls a service (schedules in ``pdp/celery.py``)."""

from celery import shared_task

from outreach.reminders import reminders_send
from outreach.webinars import webinar_messages_send


@shared_task(time_limit=300, soft_time_limit=240)
def send_reminders():
    """Every 15 minutes: the reminders 48 hours before meetings (``reminders_send``)."""
    return reminders_send()


@shared_task(time_limit=240, soft_time_limit=200)
def send_webinar_messages():
    """Every 5 minutes: webinar reminders the day before and one hour before, and the
    « merci » after the last session (``webinar_messages_send``)."""
    return webinar_messages_send()


@shared_task(time_limit=600, soft_time_limit=540)
def send_surveys():
    """Daily: the survey invitations due, the pending ones, the reminders (``surveys_send``)."""
    from outreach.surveys import surveys_send

    return surveys_send()


@shared_task(time_limit=300, soft_time_limit=240)
def send_pending_surveys():
    """After a collective action finished: its end-of-action invitations."""
    from outreach.surveys import surveys_send_pending

    return surveys_send_pending()


@shared_task(time_limit=20 * 60, soft_time_limit=18 * 60)
def build_letter_batch(lot_id):
    """On demand: one batch of campaign letters, its PDF and CSV (``lot_build``). Takes the
    lot's id only: the clear codes are made inside the task and never cross the broker."""
    from outreach.campaign_letters import lot_build

    lot = lot_build(lot_id=lot_id)
    return lot.nombre if lot is not None else None


@shared_task(time_limit=30 * 60, soft_time_limit=28 * 60)
def send_campaign_invitations(campagne_id, user_id=None):
    """On launch: the campaign's SMS, e-mail and webinar invitations (``invitations_send``),
    in the name of the manager who launched it (audit, history). Takes ids only: the codes
    are made inside the task. Safe to run twice (claimed rows)."""
    from outreach.campaign_sending import invitations_send
    from pdp.models import User

    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    return invitations_send(campagne_id=campagne_id, acting_user=user).total


@shared_task(time_limit=30 * 60, soft_time_limit=28 * 60)
def send_campaign_pending():
    """Every half hour in the daytime: invitations still waiting in running campaigns (the
    call lists' fallbacks to SMS or e-mail, a launch whose task was lost)."""
    from outreach.campaign_sending import pending_send

    return pending_send()


@shared_task(time_limit=30 * 60, soft_time_limit=28 * 60)
def campaigns_daily():
    """Daily: the J+3 reminders of unanswered campaign invitations, then the campaigns whose
    invitations have all expired are closed."""
    from outreach.campaign_sending import campaigns_close_due, reminders_send

    return {"relances": reminders_send(), "closes": campaigns_close_due()}
