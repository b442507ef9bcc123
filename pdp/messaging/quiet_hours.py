"""When an SMS may be sent: not at night, not on Sundays, not on French public holidays.

Allowed: Monday to Saturday, from ``SMS_QUIET_END`` (08:00) to ``SMS_QUIET_START`` (20:00),
Europe/Paris, except the national public holidays of ``pdp.workdays`` (the same calendar as the
« jours ouvrables » of the deadlines). An SMS asked for outside these hours waits for the next
allowed moment: 08:00 of the next allowed day.
"""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from pdp.workdays import is_jour_ouvrable

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_QUIET_START = datetime.time(20, 0)
DEFAULT_QUIET_END = datetime.time(8, 0)


def _time_setting(name, default):
    value = getattr(settings, name, None) or default
    if isinstance(value, str):
        value = datetime.time.fromisoformat(value)
    return value


def window():
    """(first allowed time, first quiet time) of an allowed day, from the settings."""
    start = _time_setting("SMS_QUIET_END", DEFAULT_QUIET_END)
    end = _time_setting("SMS_QUIET_START", DEFAULT_QUIET_START)
    if not start < end:
        raise ImproperlyConfigured(
            "SMS_QUIET_END doit précéder SMS_QUIET_START (ex. 08:00, 20:00)."
        )
    return start, end


def is_allowed(moment: datetime.datetime) -> bool:
    """True if an SMS may be sent at ``moment`` (an aware datetime)."""
    return next_allowed(moment) == moment


def next_allowed(moment: datetime.datetime | None = None) -> datetime.datetime:
    """``moment`` itself if an SMS may be sent then, else the next allowed moment (the start of
    the next allowed day's window), as an aware datetime in Europe/Paris."""
    if moment is None:
        moment = timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("next_allowed() needs an aware datetime")
    start, end = window()
    local = moment.astimezone(PARIS)
    day = local.date()
    if is_jour_ouvrable(day):
        if start <= local.time() < end:
            return moment
        if local.time() < start:
            return datetime.datetime.combine(day, start, tzinfo=PARIS)
    day += datetime.timedelta(days=1)
    while not is_jour_ouvrable(day):
        day += datetime.timedelta(days=1)
    return datetime.datetime.combine(day, start, tzinfo=PARIS)
