import time
from datetime import date, timedelta

import pytest

from pdp.workdays import (
    HOLIDAY_CALENDAR,
    add_jours_ouvrables,
    count_jours_ouvrables,
    is_jour_ouvrable,
)


def count_by_loop(start: date, end: date) -> int:
    days = (end - start).days + 1
    return sum(1 for i in range(max(days, 0)) if is_jour_ouvrable(start + timedelta(days=i)))


def test_the_holiday_calendar_is_documented():
    assert HOLIDAY_CALENDAR == "France (métropole), jours fériés nationaux"


def test_monday_to_saturday_are_jours_ouvrables_but_not_sunday():
    # 3-9 March 2025, no public holiday.
    assert [is_jour_ouvrable(date(2025, 3, d)) for d in range(3, 10)] == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


def test_a_week_with_a_sunday_has_six_jours_ouvrables():
    assert count_jours_ouvrables(date(2025, 3, 3), date(2025, 3, 9)) == 6


def test_a_week_with_the_first_of_may_has_five_jours_ouvrables():
    assert is_jour_ouvrable(date(2024, 5, 1)) is False
    assert count_jours_ouvrables(date(2024, 4, 29), date(2024, 5, 5)) == 5


def test_a_week_with_the_fourteenth_of_july_has_five_jours_ouvrables():
    assert is_jour_ouvrable(date(2025, 7, 14)) is False
    assert count_jours_ouvrables(date(2025, 7, 14), date(2025, 7, 20)) == 5


def test_a_week_with_easter_monday_has_five_jours_ouvrables():
    assert is_jour_ouvrable(date(2025, 4, 21)) is False
    assert count_jours_ouvrables(date(2025, 4, 21), date(2025, 4, 27)) == 5


def test_a_holiday_falling_on_a_sunday_is_not_counted_twice():
    # 14 July 2024 is a Sunday.
    assert count_jours_ouvrables(date(2024, 7, 8), date(2024, 7, 14)) == 6


def test_saturday_is_a_jour_ouvrable():
    assert is_jour_ouvrable(date(2025, 3, 8)) is True


@pytest.mark.parametrize(
    "holiday",
    [
        date(2025, 1, 1),
        date(2025, 5, 8),
        date(2025, 5, 29),  # Ascension
        date(2025, 6, 9),  # lundi de Pentecôte
        date(2025, 8, 15),
        date(2025, 11, 1),  # a Saturday
        date(2025, 11, 11),
        date(2025, 12, 25),
    ],
)
def test_national_public_holidays_are_not_jours_ouvrables(holiday):
    assert is_jour_ouvrable(holiday) is False


def test_alsace_moselle_extra_holidays_are_jours_ouvrables():
    assert is_jour_ouvrable(date(2025, 4, 18)) is True  # Vendredi saint
    assert is_jour_ouvrable(date(2025, 12, 26)) is True  # Saint-Étienne


def test_count_is_inclusive_of_both_ends():
    assert count_jours_ouvrables(date(2025, 3, 3), date(2025, 3, 3)) == 1
    assert count_jours_ouvrables(date(2025, 3, 9), date(2025, 3, 9)) == 0


def test_count_is_zero_when_end_is_before_start():
    assert count_jours_ouvrables(date(2025, 3, 10), date(2025, 3, 3)) == 0


def test_count_across_the_year_boundary():
    # 23 Dec 2024 - 4 Jan 2025: 25 Dec, 29 Dec (Sunday) and 1 Jan excluded.
    assert count_jours_ouvrables(date(2024, 12, 23), date(2025, 1, 4)) == 10


def test_count_matches_a_day_by_day_loop_for_many_ranges():
    base = date(2023, 12, 20)
    for offset in range(0, 400, 13):
        for length in (0, 1, 5, 6, 7, 8, 30, 200, 500):
            start = base + timedelta(days=offset)
            end = start + timedelta(days=length)
            assert count_jours_ouvrables(start, end) == count_by_loop(start, end)


def test_counting_several_years_is_fast():
    t0 = time.perf_counter()
    for _ in range(200):
        count_jours_ouvrables(date(2020, 1, 1), date(2029, 12, 31))
    assert time.perf_counter() - t0 < 2.0


def test_the_fourteenth_and_fifteenth_jours_ouvrables_without_holidays():
    start = date(2025, 3, 3)  # Monday
    assert add_jours_ouvrables(start, 14) == date(2025, 3, 18)
    assert add_jours_ouvrables(start, 15) == date(2025, 3, 19)
    assert count_jours_ouvrables(start, date(2025, 3, 18)) == 14
    assert count_jours_ouvrables(start, date(2025, 3, 19)) == 15


def test_the_fourteenth_and_fifteenth_jours_ouvrables_across_may_holidays():
    # 1 May 2025 (Thursday) and 8 May 2025 (Thursday) are public holidays.
    start = date(2025, 5, 1)
    assert add_jours_ouvrables(start, 1) == date(2025, 5, 2)
    assert add_jours_ouvrables(start, 14) == date(2025, 5, 19)
    assert add_jours_ouvrables(start, 15) == date(2025, 5, 20)
    assert count_jours_ouvrables(start, date(2025, 5, 18)) == 13
    assert count_jours_ouvrables(start, date(2025, 5, 19)) == 14
    assert count_jours_ouvrables(start, date(2025, 5, 20)) == 15


def test_add_across_the_year_boundary():
    assert add_jours_ouvrables(date(2024, 12, 31), 2) == date(2025, 1, 2)


def test_add_counts_start_as_day_one_when_it_is_ouvrable():
    assert add_jours_ouvrables(date(2025, 3, 3), 1) == date(2025, 3, 3)


def test_add_starts_on_the_next_jour_ouvrable_when_start_is_not_ouvrable():
    assert add_jours_ouvrables(date(2025, 3, 9), 1) == date(2025, 3, 10)  # Sunday
    assert add_jours_ouvrables(date(2025, 12, 25), 1) == date(2025, 12, 26)  # Christmas


def test_add_rejects_n_below_one():
    with pytest.raises(ValueError):
        add_jours_ouvrables(date(2025, 3, 3), 0)


def test_add_and_count_agree():
    start = date(2025, 4, 14)
    for n in range(1, 60):
        assert count_jours_ouvrables(start, add_jours_ouvrables(start, n)) == n
