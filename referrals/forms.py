"""Triage forms: validation and layout only; the changes are made by referrals.services."""

from django import forms
from django.utils import timezone

from pdp.forms import FrenchChoicesMixin
from pdp.identifiers import IdentifierError, nir_normalize
from pdp.meeting_slot import MeetingSlotForm
from pdp.models import TEXT_MAX_LENGTH, CpamOffice, Role, Unit, User
from referrals.models import Canal, ContactAttempt, DecisionTpt, ModeRencontre, Sexe, Statut
from referrals.permissions import assignable_units, may_name_assignee
from referrals.routing import assignee_label, eligible_assignees
from referrals.services import MANUAL, MANUAL_ORIGINS, next_statuses

NO_DIAGNOSIS = "Sans aucun diagnostic ni information médicale."
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class ContactAttemptForm(FrenchChoicesMixin, forms.Form):
    at = forms.DateTimeField(
        label="Date et heure",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    canal = forms.ChoiceField(label="Canal", choices=Canal.choices)
    resultat = forms.ChoiceField(label="Résultat", choices=ContactAttempt.Resultat.choices)
    note = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=NO_DIAGNOSIS,
        max_length=TEXT_MAX_LENGTH,
    )
    propose_meeting = forms.BooleanField(
        label="Une rencontre a été proposée à la personne",
        required=False,
        help_text=(
            "Seulement si la personne a été jointe : le statut passe à « Rencontre proposée »."
        ),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "contact")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("at", timezone.localtime().replace(second=0, microsecond=0))


class StatusForm(forms.Form):
    to_status = forms.ChoiceField(label="Nouveau statut")
    reason = forms.CharField(
        label="Motif",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Obligatoire pour clore le signalement. " + NO_DIAGNOSIS,
        max_length=TEXT_MAX_LENGTH,
    )
    from_status = forms.ChoiceField(choices=Statut.choices, widget=forms.HiddenInput)

    def __init__(self, *args, signalement, **kwargs):
        kwargs.setdefault("prefix", "statut")
        super().__init__(*args, **kwargs)
        choices = [(s, Statut(s).label) for s in next_statuses(signalement, MANUAL)]
        self.fields["to_status"].choices = [("", "Choisir…"), *choices] if choices else []
        self.fields["from_status"].initial = signalement.statut


class AssignForm(forms.Form):
    """The manager's assignment: a unit they may send the referral to, and one of its
    eligible people (`routing.eligible_assignees`), labelled by role and grouped by unit when
    the referral comes from the regional queue."""

    unit = forms.ModelChoiceField(
        label="Unité", queryset=Unit.objects.none(), empty_label="Choisir…"
    )
    assigned_to = forms.TypedChoiceField(
        label="Attribué à",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Laisser « Non attribué » pour la file de l'unité.",
    )
    reason = forms.CharField(
        label="Motif de l'attribution",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=NO_DIAGNOSIS,
        max_length=TEXT_MAX_LENGTH,
    )

    def __init__(self, *args, user, signalement, **kwargs):
        kwargs.setdefault("prefix", "attribution")
        super().__init__(*args, **kwargs)
        units = assignable_units(user, signalement).order_by("name")
        from_queue = signalement.unit_id is None  # people of any unit, else of theirs only
        self._user, self._signalement = user, signalement
        self.fields["unit"].queryset = units
        named_units = units if from_queue else units.filter(pk=user.unit_id)
        people = eligible_assignees(named_units).select_related("unit")
        people = people.order_by("unit__name", "role", "last_name", "first_name", "pk")
        self._people = {p.pk: p for p in people}
        choices = [(p.pk, assignee_label(p)) for p in self._people.values()]
        if from_queue:
            groups = {}
            for person in self._people.values():
                groups.setdefault(str(person.unit), []).append((person.pk, assignee_label(person)))
            choices = list(groups.items())
        self.fields["assigned_to"].choices = [("", "Non attribué"), *choices]
        if not self.is_bound:
            self.initial.setdefault("unit", signalement.unit_id)
            self.initial.setdefault("assigned_to", signalement.assigned_to_id)

    def clean_assigned_to(self):
        pk = self.cleaned_data.get("assigned_to")
        return self._people.get(pk) if pk is not None else None

    def clean(self):
        data = super().clean()
        unit, person = data.get("unit"), data.get("assigned_to")
        if unit is not None and person is not None:
            if not may_name_assignee(self._user, self._signalement, unit):
                self.add_error(
                    "assigned_to",
                    f"Pour l'envoyer à « {unit} », laissez « Non attribué » : le responsable de "
                    "cette unité l'attribuera.",
                )
            elif person.unit_id != unit.pk:
                self.add_error("assigned_to", f"Cette personne n'appartient pas à « {unit} ».")
        return data


class HandOverForm(MeetingSlotForm):
    """The conseiller's hand-over: the ASS and the first meeting proposed to the person."""

    ass = forms.ModelChoiceField(label="ASS", queryset=User.objects.none())
    mode = forms.ChoiceField(label="Modalité", choices=ModeRencontre.choices)
    field_order = ["ass", "date", "heure", "duree_minutes", "mode", "confirmer_jour"]

    def __init__(self, *args, signalement, **kwargs):
        kwargs.setdefault("prefix", "relais")
        super().__init__(*args, **kwargs)
        self.fields["date"].label = "Date du rendez-vous"
        self.fields["ass"].queryset = (
            eligible_assignees(signalement.unit)
            .filter(role=Role.ASS)
            .order_by("last_name", "first_name", "pk")
        )


class ForwardForm(forms.Form):
    motif = forms.CharField(
        label="Motif de la transmission",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=(
            "Situation à risque de désinsertion professionnelle, en termes de contraintes et de "
            "besoins. " + NO_DIAGNOSIS
        ),
        max_length=TEXT_MAX_LENGTH,
    )


class ClassifyForm(forms.Form):
    reason = forms.CharField(
        label="Motif du classement",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=NO_DIAGNOSIS,
        max_length=TEXT_MAX_LENGTH,
    )


class MedicalDecisionsForm(FrenchChoicesMixin, forms.Form):
    """What the médecin conseil notes on a service médical referral (no diagnosis)."""

    visite_pre_reprise_demandee_le = forms.DateField(
        label="Visite de pré-reprise demandée le",
        required=False,
        widget=DATE_WIDGET,
        help_text="Date de votre demande de visite de pré-reprise au médecin du travail.",
    )
    tpt_decision = forms.ChoiceField(
        label="Temps partiel thérapeutique",
        required=False,
        choices=[("", "Pas de décision"), *DecisionTpt.choices],
    )
    tpt_decision_le = forms.DateField(
        label="Date de la décision",
        required=False,
        widget=DATE_WIDGET,
    )

    def __init__(self, *args, signalement, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.update(
                {
                    "visite_pre_reprise_demandee_le": signalement.visite_pre_reprise_demandee_le,
                    "tpt_decision": signalement.tpt_decision,
                    "tpt_decision_le": signalement.tpt_decision_le,
                }
            )


class ManualSignalementForm(FrenchChoicesMixin, forms.Form):
    origine = forms.ChoiceField(
        label="Origine",
        choices=[(o.value, o.label) for o in MANUAL_ORIGINS],
    )
    nir = forms.CharField(
        label="NIR",
        max_length=30,
        help_text=(
            "15 caractères, espaces acceptés. Si la personne est déjà connue, sa fiche est "
            "reprise et les champs d'identité ci-dessous sont ignorés."
        ),
    )
    nom = forms.CharField(label="Nom de naissance", max_length=100, required=False)
    prenom = forms.CharField(label="Prénom(s)", max_length=150, required=False)
    date_naissance = forms.DateField(label="Date de naissance", required=False, widget=DATE_WIDGET)
    sexe = forms.ChoiceField(label="Sexe", choices=[("", "—"), *Sexe.choices], required=False)
    code_postal = forms.RegexField(
        label="Code postal",
        regex=r"^\d{5}$",
        max_length=5,
        required=False,
        error_messages={"invalid": "Le code postal compte 5 chiffres."},
        help_text="Sert à orienter le signalement vers l'unité du territoire.",
    )
    commune = forms.CharField(label="Commune", max_length=120, required=False)
    telephone = forms.CharField(label="Téléphone", max_length=30, required=False)
    cpam = forms.ModelChoiceField(
        label="CPAM", queryset=CpamOffice.objects.none(), required=False, empty_label="—"
    )
    motif = forms.CharField(
        label="Motif du signalement",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=NO_DIAGNOSIS,
        max_length=TEXT_MAX_LENGTH,
    )

    def __init__(self, *args, region_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cpam"].queryset = CpamOffice.objects.filter(region_id=region_id)

    def clean_nir(self):
        try:
            return nir_normalize(self.cleaned_data["nir"])
        except IdentifierError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc

    def clean_date_naissance(self):
        value = self.cleaned_data.get("date_naissance")
        if value and value > timezone.localdate():
            raise forms.ValidationError("La date de naissance est dans le futur.")
        return value
