"""Celery tasks of collective actions. Thin: each calls a service (schedules in
``pdp/celery.py``)."""

from celery import shared_task

from collective.participants import participants_expire


@shared_task(time_limit=300, soft_time_limit=240)
def expire_participants():
    """Every 15 minutes: seats offered from the waitlist and not confirmed in time expire and
    go to the next person (``participants_expire``; rows locked, safe with two workers)."""
    return participants_expire()
