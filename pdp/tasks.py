from celery import shared_task
from django.db import connection
from django.utils import timezone

# Tasks of pdp's packages, registered with the worker through this module (autodiscovery).
from pdp.messaging.tasks import deliver_message  # noqa: F401
from pdp.partitions import ensure_all_partitions


@shared_task(time_limit=30, soft_time_limit=20)
def health_check():
    """Proves the worker can reach the database; returns a small status dict."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        db_ok = cursor.fetchone()[0] == 1
    return {"db": db_ok, "at": timezone.now().isoformat()}


@shared_task(time_limit=120, soft_time_limit=100)
def ensure_monthly_partitions():
    """The monthly partitions of this month and the next ones of the access log and of the
    message receipts (pdp.partitions): idempotent, and two workers at once create each
    partition once (advisory lock). Returns the names created."""
    return ensure_all_partitions()
