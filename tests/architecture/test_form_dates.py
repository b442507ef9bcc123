"""Every date a form takes is bounded to plausible years (no year 0001 or 9999 reaches a rule):
every form with a date field has `FrenchChoicesMixin`, which adds the validator, and the
validator refuses those years with a French message."""

import datetime

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import fields_for_model

from pdp.dates import plausible_date_validator
from pdp.forms import FrenchChoicesMixin
from tests.architecture.test_text_lengths import _form_classes


def _has_date_field(form_class):
    fields = dict(getattr(form_class, "base_fields", {}))
    meta = getattr(form_class, "_meta", None)
    if getattr(meta, "model", None) is not None:
        fields |= fields_for_model(meta.model, fields=meta.fields, exclude=meta.exclude)
    return any(isinstance(f, forms.DateField | forms.DateTimeField) for f in fields.values())


DATED = [c for c in _form_classes() if _has_date_field(c)]


@pytest.mark.parametrize("form_class", DATED, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_form_taking_a_date_bounds_it(form_class):
    assert issubclass(form_class, FrenchChoicesMixin)


@pytest.mark.parametrize("day", [datetime.date(1, 1, 1), datetime.date(9999, 12, 31)])
def test_the_years_0001_and_9999_are_refused(day):
    with pytest.raises(ValidationError, match="Vérifiez l'année"):
        plausible_date_validator(day)


def test_a_birth_date_and_next_year_are_accepted():
    plausible_date_validator(datetime.date(1950, 5, 12))
    plausible_date_validator(datetime.date.today() + datetime.timedelta(days=365))
