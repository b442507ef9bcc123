"""Celery tasks of the right of access (schedule in ``pdp/celery.py``). Thin: each calls a
service of `privacy.archive`. Registered through CELERY_IMPORTS (autodiscovery only looks for
``<app>.tasks``)."""

from celery import shared_task


@shared_task(time_limit=20 * 60, soft_time_limit=18 * 60)
def build_access_archive(archive_id):
    """On demand: the PDF and JSON files of one archive (``archive_build``). Safe to run
    twice: only a pending archive is built, locked without waiting."""
    from privacy.archive import archive_build

    archive = archive_build(archive_id=archive_id)
    return archive.status if archive is not None else None


@shared_task(time_limit=10 * 60, soft_time_limit=9 * 60)
def purge_expired_access_archives():
    """Nightly: the files of the expired archives are removed (``archive_purge_expired``)."""
    from privacy.archive import archive_purge_expired

    return archive_purge_expired()
