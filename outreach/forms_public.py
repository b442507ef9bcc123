"""Forms of the public booking pages: the code from a letter, the birth date, a cancellation
reason. No date field: the birth date is three selects (day, month, year) that a phone shows as
wheels, and slots are chosen from links."""

import datetime

from django import forms
from django.utils import timezone

from outreach.booking import CANCEL_REASON_MAX_LENGTH
from pdp.dates import MONTHS
from pdp.forms import FrenchChoicesMixin


class CodeForm(FrenchChoicesMixin, forms.Form):
    code = forms.CharField(
        label="Code reçu par courrier",
        max_length=20,
        help_text="8 caractères, par exemple ABCD-EFGH.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


class BirthDateForm(FrenchChoicesMixin, forms.Form):
    jour = forms.TypedChoiceField(
        label="Jour", coerce=int, choices=[("", "Jour")] + [(d, d) for d in range(1, 32)]
    )
    mois = forms.TypedChoiceField(
        label="Mois",
        coerce=int,
        choices=[("", "Mois")] + [(n, name) for n, name in enumerate(MONTHS, start=1)],
    )
    annee = forms.TypedChoiceField(label="Année", coerce=int, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        this_year = timezone.localdate().year
        self.fields["annee"].choices = [("", "Année")] + [
            (y, y) for y in range(this_year - 14, this_year - 101, -1)
        ]

    def birth_date(self):
        """The date typed, or None if it does not exist (31 February)."""
        data = self.cleaned_data
        try:
            return datetime.date(data["annee"], data["mois"], data["jour"])
        except (KeyError, ValueError):
            return None


class CancelForm(FrenchChoicesMixin, forms.Form):
    reason = forms.CharField(
        label="Motif de l'annulation (facultatif)",
        required=False,
        max_length=CANCEL_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
