"""The Celery application. Every periodic schedule of the project is listed here."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pdp.settings")

app = Celery("pdp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One place for every periodic job (Europe/Paris time).
app.conf.beat_schedule = {
    "health-check": {
        "task": "pdp.tasks.health_check",
        "schedule": crontab(minute="*/15"),
    },
    # The monthly partitions of the access log and of the message receipts, created ahead
    # (pdp.partitions.ensure_all_partitions): this month and the next three; a run that finds
    # them all creates nothing.
    "ensure-monthly-partitions": {
        "task": "pdp.tasks.ensure_monthly_partitions",
        "schedule": crontab(hour=1, minute=40),
    },
    # Every region in one pass, one DetectionRun per region (« planifiée »); managers launch
    # their region's scan from the inbox (referrals.detection.detection_launch).
    "scan-arrets-daily": {
        "task": "referrals.tasks.scan_arrets_task",
        "schedule": crontab(hour=5, minute=30),
    },
    # Deferred messages whose ETA task was lost (pdp.messaging.tasks).
    "deliver-overdue-messages": {
        "task": "pdp.messaging.tasks.deliver_overdue_messages",
        "schedule": crontab(minute="7,22,37,52"),
    },
    # Reminders 48 hours before meetings (outreach.reminders): each run sends what became due
    # in the last quarter of an hour; a run that overlaps the next one sends nothing twice.
    "send-reminders": {
        "task": "outreach.tasks.send_reminders",
        "schedule": crontab(minute="*/15"),
    },
    # Seats offered from a collective action's waitlist and not confirmed in time
    # (collective.participants.participants_expire): expired, offered to the next person.
    "expire-collective-participants": {
        "task": "collective.tasks.expire_participants",
        "schedule": crontab(minute="3,18,33,48"),
    },
    # Webinars and information meetings (outreach.webinars): reminders the day before and one
    # hour before (hence every 5 minutes), the « merci » after the last session; each message
    # is a unique row claimed before sending, so an overlapping run sends nothing twice.
    "send-webinar-messages": {
        "task": "outreach.tasks.send_webinar_messages",
        "schedule": crontab(minute="*/5"),
    },
    # Satisfaction surveys and the return-to-work follow-up (outreach.surveys): invitations
    # due (barometer 7 days after a closure, follow-up at 6 and 12 months), then the
    # reminders. In the morning, so that SMS are not deferred; unique per closure and kind.
    "send-surveys": {
        "task": "outreach.tasks.send_surveys",
        "schedule": crontab(hour=10, minute=15),
    },
    # Outreach campaigns (outreach.campaign_sending): invitations still waiting (call-list
    # fallbacks), in the daytime; the J+3 reminders and the closing of finished campaigns,
    # in the morning so that SMS are not deferred. Each target is claimed: nothing twice.
    "send-campaign-pending": {
        "task": "outreach.tasks.send_campaign_pending",
        "schedule": crontab(minute="11,41", hour="8-19", day_of_week="mon-sat"),
    },
    "campaigns-daily": {
        "task": "outreach.tasks.campaigns_daily",
        "schedule": crontab(hour=10, minute=35),
    },
    # Right of access (privacy.archive): the files of expired archives are removed.
    "purge-access-archives": {
        "task": "privacy.tasks_archive.purge_expired_access_archives",
        "schedule": crontab(hour=3, minute=10),
    },
    "indicator-snapshots": {
        "task": "indicators.tasks.snapshot_all",
        "schedule": crontab(hour=2, minute=30),
    },
    # Retention (privacy.retention): warnings, anonymisation after two years without contact,
    # message receipts, access-log purge. Always wet when scheduled; a lock keeps it single.
    "retention-nightly": {
        "task": "privacy.tasks.retention_nightly",
        "schedule": crontab(hour=3, minute=30),
    },
}
