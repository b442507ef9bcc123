"""Forms of the availability page: a weekly opening range, an absence."""

import datetime

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone

from cases.models import Entretien, PlageOuverture
from pdp.forms import FrenchChoicesMixin

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _NoTagForm(FrenchChoicesMixin, forms.Form):
    @property
    def helper(self):
        helper = FormHelper()
        helper.form_tag = False
        return helper


class PlageForm(_NoTagForm):
    weekday = forms.TypedChoiceField(
        label="Jour", choices=PlageOuverture._meta.get_field("weekday").choices, coerce=int
    )
    heure_debut = forms.TimeField(label="De", widget=TIME_WIDGET)
    heure_fin = forms.TimeField(label="À", widget=TIME_WIDGET)
    lieu = forms.CharField(
        label="Lieu",
        max_length=200,
        required=False,
        help_text="Pour les rendez-vous sur place : l'adresse de la permanence.",
    )
    modes = forms.MultipleChoiceField(
        label="Modalités proposées",
        choices=Entretien.Mode.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    premier_jour = forms.DateField(label="À partir du", widget=DATE_WIDGET)
    dernier_jour = forms.DateField(
        label="Jusqu'au", widget=DATE_WIDGET, required=False, help_text="Vide : sans fin."
    )

    def __init__(self, *args, instance=None, **kwargs):
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "weekday": instance.weekday,
                    "heure_debut": instance.heure_debut,
                    "heure_fin": instance.heure_fin,
                    "lieu": instance.lieu,
                    "modes": instance.modes,
                    "premier_jour": instance.premier_jour,
                    "dernier_jour": instance.dernier_jour,
                },
            )
        else:
            kwargs.setdefault("initial", {"premier_jour": timezone.localdate()})
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        debut, fin = data.get("heure_debut"), data.get("heure_fin")
        if debut and fin and fin <= debut:
            self.add_error("heure_fin", "L'heure de fin doit suivre l'heure de début.")
        return data


class AbsenceForm(_NoTagForm):
    debut = forms.DateTimeField(label="Du", widget=DATETIME_WIDGET)
    fin = forms.DateTimeField(label="Au", widget=DATETIME_WIDGET)
    motif = forms.CharField(
        label="Motif",
        max_length=200,
        required=False,
        help_text=(
            "Facultatif, visible de vous et de votre responsable (par exemple « formation »)."
        ),
    )

    def __init__(self, *args, **kwargs):
        today = timezone.localdate()
        start = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(9))
        kwargs.setdefault(
            "initial",
            {"debut": start, "fin": start + datetime.timedelta(hours=8, minutes=30)},
        )
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        debut, fin = data.get("debut"), data.get("fin")
        if debut and fin and fin <= debut:
            self.add_error("fin", "La fin de l'absence doit suivre son début.")
        return data
