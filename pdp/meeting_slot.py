"""The date, time and length of a meeting, as every form that books one asks them.

One implementation for the meeting forms of cases (an entretien) and referrals (the first
meeting a conseiller proposes): the date within the plausible range, a confirmation for a Sunday
or a public holiday, and the aware start datetime.
"""

import datetime

from django import forms
from django.utils import timezone

from pdp.forms import FrenchChoicesMixin
from pdp.workdays import closed_day_label

MEETING_PAST_DAYS = 366
MEETING_FUTURE_DAYS = 731
MEETING_MIN_MINUTES = 5
MEETING_MAX_MINUTES = 8 * 60
MEETING_LENGTH_MESSAGE = "La durée doit être comprise entre 5 minutes et 8 heures."


def meeting_length_ok(minutes):
    """The one rule of a meeting's length, for the forms and the services that book one."""
    return MEETING_MIN_MINUTES <= (minutes or 0) <= MEETING_MAX_MINUTES


class MeetingSlotForm(FrenchChoicesMixin, forms.Form):
    date = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    heure = forms.TimeField(
        label="Heure", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    duree_minutes = forms.IntegerField(
        label="Durée (minutes)",
        min_value=MEETING_MIN_MINUTES,
        max_value=MEETING_MAX_MINUTES,
        initial=60,
    )
    confirmer_jour = forms.BooleanField(
        label="Maintenir ce rendez-vous un dimanche ou un jour férié",
        required=False,
        help_text="À cocher seulement si le rendez-vous est bien prévu ce jour-là.",
    )

    def clean_date(self):
        day = self.cleaned_data["date"]
        today = timezone.localdate()
        earliest = today - datetime.timedelta(days=MEETING_PAST_DAYS)
        latest = today + datetime.timedelta(days=MEETING_FUTURE_DAYS)
        if not earliest <= day <= latest:
            raise forms.ValidationError(
                "Choisissez une date entre l'année dernière et dans deux ans au plus."
            )
        return day

    def clean(self):
        data = super().clean()
        day = data.get("date")
        closed = closed_day_label(day) if day else None
        if closed and not data.get("confirmer_jour"):
            self.add_error(
                "date",
                f"Le {day:%d/%m/%Y} est {closed} : choisissez un autre jour ou cochez "
                "« Maintenir ce rendez-vous un dimanche ou un jour férié ».",
            )
        return data

    @property
    def debut(self):
        combined = datetime.datetime.combine(self.cleaned_data["date"], self.cleaned_data["heure"])
        return timezone.make_aware(combined)
