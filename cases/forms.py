"""Forms of the accompagnement page: validation and layout only; services do the changes."""

from datetime import timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from cases.models import (
    Action,
    Consentement,
    EvaluationGlobale,
    Mission,
    Objectif,
    Orientation,
    Outcome,
    ShareReason,
)
from cases.services import EVALUATION_AREAS
from pdp.forms import FrenchChoicesMixin
from pdp.models import TEXT_MAX_LENGTH, Partner, Role, User

NO_DIAGNOSIS = "Sans diagnostic : seulement ce qui est utile à l'accompagnement."


class DateInput(forms.DateInput):
    def __init__(self, attrs=None):
        super().__init__(attrs={"type": "date", **(attrs or {})}, format="%Y-%m-%d")


def _textarea(rows=3):
    return forms.Textarea(attrs={"rows": rows})


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Note",
        widget=_textarea(5),
        max_length=10000,
        help_text=NO_DIAGNOSIS,
    )


class EvaluationForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = EvaluationGlobale
        fields = [*EVALUATION_AREAS, "niveau_risque"]
        widgets = {name: _textarea(4) for name in EVALUATION_AREAS}
        help_texts = {
            "contraintes_sante": (
                "Jamais de diagnostic : seulement les contraintes et limitations fonctionnelles "
                "(port de charges, station debout, fatigabilité…)."
            ),
            "emploi": "Poste, relation avec l'employeur, contrat.",
            "freins": NO_DIAGNOSIS,
        }


class ObjectifForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = Objectif
        fields = ["domaine", "libelle", "echeance", "statut"]
        widgets = {"echeance": DateInput()}
        help_texts = {"libelle": "Négocié avec l'assuré, formulé simplement."}

    def __init__(self, *args, with_status=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_status:
            del self.fields["statut"]


class ActionForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = Action
        fields = ["libelle", "porteur", "echeance"]
        widgets = {"echeance": DateInput()}


class OrientationForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = Orientation
        fields = ["partner_kind", "partner", "motif", "accord_assure", "date_orientation", "statut"]
        widgets = {"motif": _textarea(3), "date_orientation": DateInput()}
        help_texts = {
            "motif": NO_DIAGNOSIS,
            "accord_assure": "Obligatoire pour envoyer l'orientation au partenaire.",
            "partner": "Facultatif : le partenaire précis, s'il est connu.",
        }

    def __init__(self, *args, region_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = Partner.objects.filter(
            Q(region__isnull=True) | Q(region_id=region_id)
        )
        self.fields["statut"].choices = [
            (Orientation.Statut.PROPOSEE, "Proposée (à envoyer)"),
            (Orientation.Statut.ENVOYEE, "Envoyée au partenaire"),
        ]
        self.fields["date_orientation"].initial = timezone.localdate

    def clean(self):
        data = super().clean()
        partner, kind = data.get("partner"), data.get("partner_kind")
        if partner is not None and kind and partner.kind != kind:
            self.add_error("partner", "Ce partenaire n'est pas du type choisi.")
        if data.get("statut") not in (None, Orientation.Statut.PROPOSEE) and not data.get(
            "accord_assure"
        ):
            self.add_error("accord_assure", "Une orientation ne part qu'avec l'accord de l'assuré.")
        return data


class OrientationUpdateForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = Orientation
        fields = ["statut", "accord_assure", "suivi"]
        widgets = {"suivi": _textarea(4)}
        help_texts = {"suivi": NO_DIAGNOSIS}

    def clean(self):
        data = super().clean()
        if data.get("statut") not in (None, Orientation.Statut.PROPOSEE) and not data.get(
            "accord_assure"
        ):
            self.add_error("accord_assure", "Une orientation ne part qu'avec l'accord de l'assuré.")
        return data


class ConsentementForm(FrenchChoicesMixin, forms.Form):
    portee = forms.ChoiceField(label="Portée", choices=Consentement.Portee.choices)
    date_recueil = forms.DateField(label="Recueilli le", widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date_recueil"].initial = timezone.localdate


class ConsentementRevokeForm(FrenchChoicesMixin, forms.Form):
    date_revocation = forms.DateField(label="Révoqué le", widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date_revocation"].initial = timezone.localdate


def outcome_choices():
    """The 14 outcomes grouped as social workers read them (domain §3)."""
    dans, en, autres = [], [], []
    for value, label in Outcome.choices:
        if label.startswith("Maintien dans l'emploi – "):
            dans.append((value, label.removeprefix("Maintien dans l'emploi – ").capitalize()))
        elif label.startswith("Maintien en emploi – "):
            en.append((value, label.removeprefix("Maintien en emploi – ").capitalize()))
        else:
            autres.append((value, label))
    return [
        ("", "— Choisir l'issue —"),
        ("Maintien dans l'emploi (même employeur)", dans),
        ("Maintien en emploi (ailleurs)", en),
        ("Autres issues", autres),
    ]


class ClotureForm(FrenchChoicesMixin, forms.Form):
    outcome = forms.ChoiceField(
        label="Issue de l'accompagnement",
        choices=outcome_choices,
        error_messages={"required": "Choisissez l'issue de l'accompagnement."},
    )
    date_cloture = forms.DateField(label="Date de clôture", widget=DateInput())
    commentaire = forms.CharField(
        label="Commentaire",
        required=False,
        widget=_textarea(3),
        help_text=NO_DIAGNOSIS,
        max_length=TEXT_MAX_LENGTH,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date_cloture"].initial = timezone.localdate


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Motif", widget=_textarea(3), help_text=NO_DIAGNOSIS, max_length=TEXT_MAX_LENGTH
    )

    def __init__(self, *args, required=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        if not required:
            self.fields["reason"].label = "Motif (facultatif)"


class ReferentForm(FrenchChoicesMixin, forms.Form):
    referent = forms.ModelChoiceField(
        label="Nouveau référent du parcours", queryset=User.objects.none()
    )

    def __init__(self, *args, case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["referent"].queryset = (
            User.objects.filter(unit_id=case.unit_id, role=Role.ASS, is_active=True)
            .exclude(pk=case.referent_id)
            .order_by("last_name", "first_name")
        )


class OpenCaseForm(FrenchChoicesMixin, forms.Form):
    referent = forms.ModelChoiceField(label="Référent du parcours (ASS)", queryset=User.objects)
    mission = forms.ChoiceField(label="Mission", choices=Mission.choices, initial=Mission.PDP)

    def __init__(self, *args, signalement, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["referent"].queryset = User.objects.filter(
            unit_id=signalement.unit_id, role=Role.ASS, is_active=True
        ).order_by("last_name", "first_name")
        assigned = signalement.assigned_to
        if assigned is not None and assigned.role == Role.ASS and not self.is_bound:
            self.initial.setdefault("referent", assigned.pk)


class ShareUserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} – {obj.unit}"


class CaseShareForm(FrenchChoicesMixin, forms.Form):
    user = ShareUserChoiceField(
        label="Partager avec",
        queryset=User.objects.none(),
        empty_label="Choisir une ASS…",
        help_text="Une ASS de la région, de cette unité ou d'une autre.",
    )
    reason = forms.ChoiceField(label="Motif", choices=ShareReason.choices)
    date_fin = forms.DateField(
        label="Jusqu'au (inclus)",
        widget=DateInput(),
        help_text="Le partage prend fin de lui-même après cette date.",
    )
    comment = forms.CharField(label="Précision", max_length=255, required=False)

    def __init__(self, *args, case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            User.objects.filter(role=Role.ASS, is_active=True, unit__region_id=case.unit.region_id)
            .exclude(pk=case.referent_id)
            .select_related("unit")
            .order_by("unit__name", "last_name", "first_name")
        )
        if not self.is_bound:
            self.initial.setdefault("date_fin", timezone.localdate() + timedelta(days=30))
