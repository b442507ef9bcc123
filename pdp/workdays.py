"""French "jours ouvrables": Monday to Saturday, public holidays excluded."""

from __future__ import annotations

import datetime
from functools import lru_cache

import holidays

# Calendar used for public holidays: ``holidays.France()`` without subdivision, i.e. the
# national public holidays of metropolitan France (11 days, incl. lundi de Pentecôte).
# The Alsace-Moselle extra days (Vendredi saint, 26 décembre) and overseas days are
# deliberately not included.
HOLIDAY_CALENDAR = "France (métropole), jours fériés nationaux"

_SUNDAY = 6


@lru_cache(maxsize=64)
def _holidays_for_year(year: int) -> frozenset[datetime.date]:
    return frozenset(holidays.France(years=year).keys())


def closed_day_label(d: datetime.date) -> str | None:
    """« un dimanche » or « un jour férié (Noël) » when no meeting is normally held on ``d``."""
    if d in _holidays_for_year(d.year):
        name = holidays.France(years=d.year, language="fr").get(d)
        return f"un jour férié ({name})" if name else "un jour férié"
    if d.weekday() == _SUNDAY:
        return "un dimanche"
    return None


def is_public_holiday(d: datetime.date) -> bool:
    """True if ``d`` is a French public holiday (the calendar above)."""
    return d in _holidays_for_year(d.year)


def is_jour_ouvrable(d: datetime.date) -> bool:
    """True if ``d`` is a Monday-Saturday that is not a public holiday."""
    return d.weekday() != _SUNDAY and d not in _holidays_for_year(d.year)


def count_jours_ouvrables(start: datetime.date, end: datetime.date) -> int:
    """Number of jours ouvrables between ``start`` and ``end``, both included (0 if end < start)."""
    if end < start:
        return 0
    total_days = (end - start).days + 1
    full_weeks, remainder = divmod(total_days, 7)
    # Each full week holds exactly one Sunday.
    count = full_weeks * 6
    first_weekday = start.weekday()
    count += sum(1 for i in range(remainder) if (first_weekday + i) % 7 != _SUNDAY)
    for year in range(start.year, end.year + 1):
        count -= sum(
            1 for h in _holidays_for_year(year) if start <= h <= end and h.weekday() != _SUNDAY
        )
    return count


def add_jours_ouvrables(start: datetime.date, n: int) -> datetime.date:
    """Date of the n-th jour ouvrable from ``start`` (``start`` is day 1 if it is ouvrable).

    ``add_jours_ouvrables(d, 1)`` is ``d`` itself when ``d`` is a jour ouvrable, otherwise
    the next jour ouvrable. ``n`` must be >= 1.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    d = start
    remaining = n
    while True:
        if is_jour_ouvrable(d):
            remaining -= 1
            if remaining == 0:
                return d
        d += datetime.timedelta(days=1)
