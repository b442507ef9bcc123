"""What every form of the project shares: French labels for the empty choice of a select.

Django labels the empty choice of a select « --------- » (`ModelChoiceField.empty_label`,
`BLANK_CHOICE_DASH` of model fields with choices). Forms inherit `FrenchChoicesMixin` (first in
the bases) to read « Choisir… » instead; the admin does the same in `pdp.admin_base`.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import BLANK_CHOICE_DASH

from pdp.dates import plausible_date_validator

BLANK_LABEL = "Choisir…"
DJANGO_BLANK = BLANK_CHOICE_DASH[0][1]


def french_blank_choice(field, label=BLANK_LABEL):
    """Replace Django's « --------- » empty choice of `field` (a form field) by `label`."""
    if isinstance(field, forms.ModelChoiceField):
        if field.empty_label == DJANGO_BLANK:
            field.empty_label = label
    elif isinstance(field, forms.ChoiceField):
        choices = list(field.choices)
        if any(value == "" and text == DJANGO_BLANK for value, text in choices):
            field.choices = [
                (value, label if value == "" and text == DJANGO_BLANK else text)
                for value, text in choices
            ]
    return field


class FrenchChoicesMixin:
    """First in the bases of every form: French empty choices, and every date field bounded
    to plausible years (`pdp.dates.plausible_date_validator`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            french_blank_choice(field)
            if isinstance(field, forms.DateField | forms.DateTimeField) and (
                plausible_date_validator not in field.validators
            ):
                field.validators.append(plausible_date_validator)


def apply_service(form, service, **kwargs):
    """Call a service for a valid form; when it refuses (ValidationError), put its French
    message next to the field it names (or on the form) and return None. The one bridge from
    the services' refusals to every form page."""
    try:
        return service(**kwargs)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return None
