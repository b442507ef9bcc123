"""The form of a call of a campaign's call list: validation and layout only;
`outreach.campaign_calls.call_record` decides and records (and checks again)."""

from django import forms
from django.utils import timezone

from outreach.campaign_calls import NO_CALLBACK, NOTE_MAX, PAST_CALLBACK
from outreach.models import ResultatAppel
from pdp.forms import FrenchChoicesMixin

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class CallForm(FrenchChoicesMixin, forms.Form):
    resultat = forms.ChoiceField(
        label="Résultat de l'appel",
        choices=ResultatAppel.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choisissez le résultat de l'appel."},
    )
    rappeler_le = forms.DateTimeField(
        label="Rappeler le",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text="Seulement pour «\u00a0Joint — rappeler le…\u00a0».",
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": NOTE_MAX}),
        help_text="Sans aucun diagnostic ni information médicale.",
    )

    def clean(self):
        data = super().clean()
        when = data.get("rappeler_le")
        if data.get("resultat") == ResultatAppel.RAPPELER and "rappeler_le" not in self.errors:
            if when is None:
                self.add_error("rappeler_le", NO_CALLBACK)
            elif when <= timezone.now():
                self.add_error("rappeler_le", PAST_CALLBACK)
        return data
