"""Plausible dates: one rule for every date a person types (domain records are recent).

A date of year 0001 or 9999 is a typing slip, and at the edges of the calendar it would overflow
the date arithmetic of the rules (an HTTP 500). Every service that takes a date from a form
checks it here, with a French message next to the field.
"""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

# French month names, lower case, January first (forms and labels).
MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
PAST_YEARS = 10  # nothing of a follow-up is recorded about more than ten years ago
FUTURE_YEARS = 3  # nor planned more than three years ahead


def _years(n):
    return datetime.timedelta(days=365 * n + n // 4)


def require_plausible_date(day, *, field, label, past=True, future=True, today=None):
    """Refuse `day` outside [today − 10 years, today + 3 years]; `past=False` also refuses a
    day before today (a due date set at creation), `future=False` one after today (something
    that happened). `None` passes (optional dates)."""
    if day is None:
        return day
    if isinstance(day, datetime.datetime):
        day = timezone.localtime(day).date() if timezone.is_aware(day) else day.date()
    today = today or timezone.localdate()
    earliest = today - _years(PAST_YEARS) if past else today
    latest = today + _years(FUTURE_YEARS) if future else today
    if day < earliest:
        if not past:
            raise ValidationError({field: f"{label} ne peut pas être déjà passée."})
        raise ValidationError(
            {field: f"{label} ne peut pas précéder le {earliest:%d/%m/%Y} : vérifiez l'année."}
        )
    if day > latest:
        if not future:
            raise ValidationError({field: f"{label} ne peut pas être dans le futur."})
        raise ValidationError(
            {field: f"{label} ne peut pas dépasser le {latest:%d/%m/%Y} : vérifiez l'année."}
        )
    return day


EARLIEST_DATE = datetime.date(1900, 1, 1)
LATEST_YEARS = 10


def plausible_date_validator(value):
    """Every date field of every form: between 1900 and ten years ahead (a birth date as well
    as a planned end). Beyond, the date arithmetic of the rules would overflow (year 9999) or
    compare nonsense (year 0001); the services check each date's own, tighter, range."""
    if value is None:
        return
    if isinstance(value, datetime.datetime):
        value = value.date()
    latest = timezone.localdate() + _years(LATEST_YEARS)
    if not EARLIEST_DATE <= value <= latest:
        raise ValidationError(
            f"Vérifiez l'année : la date doit être comprise entre le {EARLIEST_DATE:%d/%m/%Y} "
            f"et le {latest:%d/%m/%Y}."
        )
