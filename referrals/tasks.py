"""Celery tasks of the referrals app. Thin: they call a service and return what it counted.

The schedules live in `pdp/celery.py` (beat_schedule)."""

import datetime

from celery import shared_task

from referrals.detection import scan_arrets


@shared_task(time_limit=30 * 60, soft_time_limit=25 * 60)
def scan_arrets_task(day=None):
    """Daily duration-threshold detection (domain §4). `day`: ISO date, default today.

    Safe to retry or to run twice: the scan never raises a referral twice."""
    day = datetime.date.fromisoformat(day) if day else None
    return scan_arrets(day=day).as_dict()
