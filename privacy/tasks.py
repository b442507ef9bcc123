"""Celery tasks of data protection (schedule in ``pdp/celery.py``)."""

from celery import shared_task


@shared_task(time_limit=4 * 3600, soft_time_limit=4 * 3600 - 300)
def retention_nightly():
    """The nightly retention job, always wet (`privacy.retention.retention_run`). Idempotent:
    a second run finds nothing left to do; two at once — the second returns at once (lock)."""
    from privacy.retention import retention_run

    run = retention_run(wet_run=True, scheduled=True)
    return None if run is None else run.counts
