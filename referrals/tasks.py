"""Celery tasks of the referrals app. Thin: they call a service and return what it counted.

The schedules live in `pdp/celery.py` (beat_schedule)."""

import datetime

from celery import shared_task
from django.contrib.auth import get_user_model

from pdp.models import Region
from referrals.detection import scan_arrets


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
