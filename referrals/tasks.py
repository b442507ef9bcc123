"""Celery tasks of the referrals app. Thin: they call a service and return what it counted.

The schedules live in `pdp/celery.py` (beat_schedule)."""

import datetime

from celery import shared_task
from django.contrib.auth import get_user_model

from pdp.models import Region
from referrals.detection import scan_arrets
from referrals.importer.jobs import import_run


@shared_task(time_limit=30 * 60, soft_time_limit=25 * 60)
def scan_arrets_task(day=None, region_id=None, user_id=None):
    """Duration-threshold detection (domain §4). `day`: ISO date, default today.

    Without `region_id`: every region, one DetectionRun each (the nightly job, « planifiée »).
    With `region_id` and `user_id`: a manager's « Lancer la détection » for their region.
    Safe to retry or to run twice: the scan never raises a referral twice."""
    day = datetime.date.fromisoformat(day) if day else None
    region = Region.objects.get(pk=region_id) if region_id else None
    user = get_user_model().objects.get(pk=user_id) if user_id else None
    return scan_arrets(day=day, region=region, acting_user=user).as_dict()


@shared_task(
    acks_late=True, reject_on_worker_lost=True, time_limit=30 * 60, soft_time_limit=25 * 60
)
def import_cpam_extract_task(import_id):
    """An uploaded CPAM extract (``referrals.importer.jobs.import_run``). Safe to retry or to
    run twice: only a pending import is run, locked without waiting; a worker lost mid-way
    rolls back and the message, acknowledged late, is delivered again."""
    cpam_import = import_run(import_id=import_id)
    return cpam_import.status if cpam_import is not None else None
