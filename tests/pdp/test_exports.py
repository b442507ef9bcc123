import datetime
from decimal import Decimal

import pytest

from pdp.exports import looks_like_formula, safe_cell


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+33 6 10 20 30 40", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "=", "-"],
)
def test_a_text_read_as_a_formula_gets_a_leading_quote(value):
    assert looks_like_formula(value)
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["MARTIN", "Jean-Paul", "a=b", " =1+1", "'=1", "", "06 10 20 30 40", "é=1"]
)
def test_any_other_text_is_left_as_it_is(value):
    assert not looks_like_formula(value)
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [None, 3, -3, Decimal("-1.50"), datetime.date(2026, 1, 1)])
def test_values_that_are_not_text_are_left_as_they_are(value):
    assert not looks_like_formula(value)
    assert safe_cell(value) is value
