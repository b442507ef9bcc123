"""Forms of the meeting pages: validation and layout only; `coordination.services` does the
changes. The pick lists (decision types, members) are given as lists evaluated once by the view,
so that thirty agenda items render their forms without a query each."""

import datetime

from django import forms
from django.utils import timezone

from coordination.models import Addendum, Presence, Reunion
from pdp.forms import FrenchChoicesMixin
from pdp.models import TEXT_MAX_LENGTH


def _textarea(rows=3):
    return forms.Textarea(attrs={"rows": rows})


class ReunionForm(FrenchChoicesMixin, forms.Form):
    """Date and time, and a place or a visio link (at least one: checked by the service)."""

    date = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    heure = forms.TimeField(
        label="Heure", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    lieu = forms.CharField(
        label="Lieu",
        max_length=Reunion._meta.get_field("lieu").max_length,
        required=False,
        help_text="Adresse et salle\u00a0; laissez vide pour une réunion en visioconférence seule.",
    )
    lien_visio = forms.URLField(
        label="Lien de visioconférence",
        max_length=Reunion._meta.get_field("lien_visio").max_length,
        required=False,
        assume_scheme="https",
    )

    @classmethod
    def initial_for(cls, reunion):
        debut = timezone.localtime(reunion.debut)
        return {
            "date": debut.date(),
            "heure": debut.time().replace(second=0, microsecond=0),
            "lieu": reunion.lieu,
            "lien_visio": reunion.lien_visio,
        }

    def debut(self):
        """The aware start of the meeting, in the site's time zone."""
        data = self.cleaned_data
        naive = datetime.datetime.combine(data["date"], data["heure"])
        return timezone.make_aware(naive)


class PresenceForm(FrenchChoicesMixin, forms.Form):
    statut = forms.ChoiceField(
        label="Présence",
        choices=Presence.Statut.choices,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    represente_par = forms.CharField(
        label="Représenté·e par",
        max_length=Presence._meta.get_field("represente_par").max_length,
        required=False,
        widget=forms.TextInput(
            attrs={"class": "form-control form-control-sm", "placeholder": "Représenté·e par"}
        ),
    )

    def __init__(self, *args, presence, **kwargs):
        kwargs.setdefault(
            "initial", {"statut": presence.statut, "represente_par": presence.represente_par}
        )
        super().__init__(*args, prefix=f"presence-{presence.pk}", **kwargs)


class PointForm(FrenchChoicesMixin, forms.Form):
    synthese = forms.CharField(
        label="Synthèse des échanges",
        max_length=TEXT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "class": "form-control",
                "placeholder": "Quelques lignes, sans diagnostic.",
            }
        ),
    )
    a_representer = forms.BooleanField(
        label="À représenter à la prochaine réunion",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args, point, **kwargs):
        kwargs.setdefault(
            "initial", {"synthese": point.synthese, "a_representer": point.a_representer}
        )
        super().__init__(*args, prefix=f"point-{point.pk}", **kwargs)


class _PickField(forms.TypedChoiceField):
    """A select over a list of records already loaded: returns the record, no query."""

    def __init__(self, *, objects, label_of=str, **kwargs):
        self.objects = {str(obj.pk): obj for obj in objects}
        choices = [("", "Choisir…")] + [(key, label_of(obj)) for key, obj in self.objects.items()]
        super().__init__(choices=choices, coerce=self.objects.get, empty_value=None, **kwargs)


class DecisionForm(FrenchChoicesMixin, forms.Form):
    type = forms.Field(label="Décision ou recommandation")
    texte = forms.CharField(
        label="Précisions",
        max_length=TEXT_MAX_LENGTH,
        required=False,
        widget=_textarea(1),
    )

    def __init__(self, *args, point, types, **kwargs):
        super().__init__(*args, prefix=f"decision-{point.pk}", **kwargs)
        self.fields["type"] = _PickField(
            objects=[t for t in types if t.actif],
            label=self.base_fields["type"].label,
        )


class ActionForm(FrenchChoicesMixin, forms.Form):
    libelle = forms.CharField(label="Action", max_length=255)
    responsable = forms.Field(label="Confiée à")
    echeance = forms.DateField(
        label="Échéance", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, point, membres, **kwargs):
        super().__init__(*args, prefix=f"action-{point.pk}", **kwargs)
        self.fields["responsable"] = _PickField(
            objects=membres,
            label_of=lambda m: f"{m.nom} ({m.get_organisation_display()})",
            label=self.base_fields["responsable"].label,
        )


class AddendumForm(FrenchChoicesMixin, forms.Form):
    texte = forms.CharField(
        label="Correction",
        max_length=Addendum._meta.get_field("texte").max_length,
        widget=_textarea(3),
        help_text="Le compte rendu validé reste tel quel\u00a0; l'addendum y est joint et daté.",
    )
