"""Celery tasks of the indicators (schedule in ``pdp/celery.py``)."""

from celery import shared_task


@shared_task(time_limit=60 * 60, soft_time_limit=55 * 60)
def snapshot_region(region_id):
    """One region's snapshots (`indicators.snapshots.compute_region`): idempotent; a second
    worker on the same region waits for the first's lock, then writes the same rows."""
    from indicators.snapshots import compute_region

    return compute_region(region_id)


@shared_task(time_limit=300, soft_time_limit=240)
def snapshot_all():
    """Nightly: queues one `snapshot_region` per region, one region at a time per worker."""
    from pdp.models import Region

    ids = list(Region.objects.order_by("pk").values_list("pk", flat=True))
    for region_id in ids:
        snapshot_region.delay(region_id)
    return len(ids)
