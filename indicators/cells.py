"""The small-cell rule (issue 13, item 4): a count below 5 shows « < 5 », a rate over fewer
than 10 people is not shown — on the page and in the exports alike. Zero reveals nobody and is
shown as 0. Known limit of this first step: a hidden cell can still be deduced from a total and
the other cells of its row or column (no secondary suppression yet)."""

SMALL_COUNT = 5
RATE_MIN_BASE = 10
HIDDEN = "< 5"
NO_RATE = "—"
NNBSP = "\u202f"


def thousands(n):
    return f"{n:,}".replace(",", NNBSP)


def count_cell(n):
    """The text of a count."""
    if n is None:
        return NO_RATE
    if 0 < n < SMALL_COUNT:
        return HIDDEN
    return thousands(n)


def rate_cell(part, base):
    """The text of the share `part` / `base` in %, one decimal, French style; not shown over
    fewer than RATE_MIN_BASE people, nor for a hidden count (the rate would give it back)."""
    if base is None or base < RATE_MIN_BASE or part is None or 0 < part < SMALL_COUNT:
        return NO_RATE
    return f"{100 * part / base:.1f}".replace(".", ",") + "\u00a0%"


def days_cell(days, base):
    """A median or percentile of delays, in days, over `base` people: not shown over fewer
    than RATE_MIN_BASE."""
    if days is None or base is None or base < RATE_MIN_BASE:
        return NO_RATE
    return f"{days:.1f}".replace(".", ",").removesuffix(",0")
