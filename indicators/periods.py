"""The period an indicator page shows (issue 13, item 3): a month, a quarter, a year or custom
dates, each with the period before it for the comparison. Bad input never fails: the page falls
back to the current month and says why, in French."""

import dataclasses
import datetime

from django.utils import timezone

from pdp.dates import MONTHS

KINDS = {"mois": "Mois", "trimestre": "Trimestre", "annee": "Année", "perso": "Dates choisies"}
FIRST_YEAR = 2000
MAX_DAYS = 3 * 366
NBSP = "\u00a0"


@dataclasses.dataclass(frozen=True)
class Period:
    kind: str
    start: datetime.date
    end: datetime.date  # inclusive

    @property
    def days(self):
        return (self.end - self.start).days + 1

    def previous(self):
        """The period just before: the previous month, quarter or year; for custom dates, as
        many days just before."""
        if self.kind == "mois":
            return month(*_shift_month(self.start.year, self.start.month, -1))
        if self.kind == "trimestre":
            year, first = _shift_month(self.start.year, self.start.month, -3)
            return quarter(year, (first - 1) // 3 + 1)
        if self.kind == "annee":
            return year_period(self.start.year - 1)
        end = self.start - datetime.timedelta(days=1)
        return Period("perso", end - datetime.timedelta(days=self.days - 1), end)

    @property
    def label(self):
        if self.kind == "mois":
            return f"{MONTHS[self.start.month - 1]} {self.start.year}"
        if self.kind == "trimestre":
            n = (self.start.month - 1) // 3 + 1
            return f"{n}{'er' if n == 1 else 'e'} trimestre {self.start.year}"
        if self.kind == "annee":
            return f"année {self.start.year}"
        return f"du {_day(self.start)} au {_day(self.end)}"


def _day(day):
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first}{NBSP}{MONTHS[day.month - 1]} {day.year}"


def _shift_month(year, month_number, delta):
    index = year * 12 + month_number - 1 + delta
    return index // 12, index % 12 + 1


def _last_day(year, month_number):
    year2, month2 = _shift_month(year, month_number, 1)
    return datetime.date(year2, month2, 1) - datetime.timedelta(days=1)


def month_start(day):
    """The first day of `day`'s month."""
    return day.replace(day=1)


def shift(first, months):
    """The first day of the month `months` after (or before) the month of `first`."""
    return datetime.date(*_shift_month(first.year, first.month, months), 1)


def month_end(first):
    """The last day of `first`'s month."""
    return _last_day(first.year, first.month)


def month(year, month_number):
    return Period("mois", datetime.date(year, month_number, 1), _last_day(year, month_number))


def quarter(year, n):
    first = 3 * (n - 1) + 1
    return Period("trimestre", datetime.date(year, first, 1), _last_day(year, first + 2))


def year_period(year):
    return Period("annee", datetime.date(year, 1, 1), datetime.date(year, 12, 31))


def _int(params, name, low, high):
    value = (params.get(name) or "").strip()
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(name)
    return int(value)


def _date(params, name):
    try:
        return datetime.date.fromisoformat((params.get(name) or "").strip())
    except ValueError:
        raise ValueError(name) from None


def period_from(params, today=None):
    """(Period, French error or None) from the page's query string: ``periode`` (mois,
    trimestre, annee, perso), ``annee``, ``mois``, ``trimestre``, ``du``, ``au``."""
    today = today or timezone.localdate()
    kind = params.get("periode") or "mois"
    current = month(today.year, today.month)
    if kind not in KINDS:
        return current, "Période inconnue : le mois en cours est affiché."
    try:
        if kind == "perso":
            start, end = _date(params, "du"), _date(params, "au")
            if start > end:
                return (
                    current,
                    "La date de début suit la date de fin : le mois en cours est affiché.",
                )
            if (end - start).days + 1 > MAX_DAYS:
                return current, "Trois ans au plus : le mois en cours est affiché."
            if start.year < FIRST_YEAR or end.year > today.year + 1:
                raise ValueError("du")
            return Period("perso", start, end), None
        year = (
            _int(params, "annee", FIRST_YEAR, today.year + 1) if params.get("annee") else today.year
        )
        if kind == "annee":
            return year_period(year), None
        if kind == "trimestre":
            default = (today.month - 1) // 3 + 1
            n = _int(params, "trimestre", 1, 4) if params.get("trimestre") else default
            return quarter(year, n), None
        m = _int(params, "mois", 1, 12) if params.get("mois") else today.month
        return month(year, m), None
    except ValueError:
        return current, "Dates invalides : le mois en cours est affiché."
