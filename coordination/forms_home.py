"""Forms of the instance page (members) and of « mes actions »: validation and layout only;
`coordination.services` does the changes."""

from django import forms
from django.db.models import Q
from django.utils import timezone

from cases.forms import DateInput
from coordination.models import ActionInstance, Organisation
from pdp.forms import FrenchChoicesMixin
from pdp.models import TEXT_MAX_LENGTH, UNIT_ROLES, PartnerContact, Role, User


class MemberUserField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        where = obj.unit or obj.region
        return f"{obj} — {obj.get_role_display()}" + (f", {where}" if where else "")


class MemberContactField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} — {obj.partner}" + (f", {obj.function}" if obj.function else "")


def member_user_choices(instance):
    """Who may be linked as a member: the active staff of the region's units, its médecins
    conseils and coordinators, and the partner accounts (created by the administrator)."""
    region_id = instance.region_id
    return (
        User.objects.filter(is_active=True, is_superuser=False)
        .filter(
            Q(role__in=sorted(UNIT_ROLES), unit__region_id=region_id)
            | Q(role__in=[Role.MEDECIN, Role.COORDINATEUR], region_id=region_id)
            | Q(role=Role.PARTENAIRE, region_id=region_id)
            | Q(role=Role.PARTENAIRE, region__isnull=True)
        )
        .select_related("unit", "region")
        .order_by("last_name", "first_name", "pk")
    )


def member_contact_choices(instance):
    """The contacts of the region's partners (and of partners common to every region)."""
    return (
        PartnerContact.objects.filter(
            Q(partner__region_id=instance.region_id) | Q(partner__region__isnull=True)
        )
        .select_related("partner")
        .order_by("name", "pk")
    )


class MembreAddForm(FrenchChoicesMixin, forms.Form):
    user = MemberUserField(
        label="Compte",
        queryset=User.objects.none(),
        required=False,
        help_text=(
            "Un agent de l'Assurance Maladie, ou le compte"
            " «\u00a0Partenaire (membre d'instance)\u00a0» d'un partenaire."
        ),
    )
    contact = MemberContactField(
        label="Contact partenaire",
        queryset=PartnerContact.objects.none(),
        required=False,
        help_text="Pour un membre partenaire, avec ou sans compte.",
    )
    organisation = forms.ChoiceField(label="Organisation représentée", choices=())
    fonction = forms.CharField(label="Fonction", max_length=120, required=False)
    date_debut = forms.DateField(label="Membre depuis le", widget=DateInput())
    date_fin = forms.DateField(label="Jusqu'au", widget=DateInput(), required=False)

    def __init__(self, *args, instance, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = member_user_choices(instance)
        self.fields["contact"].queryset = member_contact_choices(instance)
        self.fields["organisation"].choices = [("", "Choisir…"), *Organisation.choices]
        self.fields["date_debut"].initial = timezone.localdate

    def clean(self):
        data = super().clean()
        if not data.get("user") and not data.get("contact"):
            raise forms.ValidationError("Choisissez un compte, un contact partenaire, ou les deux.")
        return data


class MembreEndForm(FrenchChoicesMixin, forms.Form):
    date_fin = forms.DateField(label="Fin de l'adhésion le", widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date_fin"].initial = timezone.localdate


class ActionReportForm(FrenchChoicesMixin, forms.Form):
    statut = forms.ChoiceField(
        label="Statut",
        choices=ActionInstance.Statut.choices,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    compte_rendu = forms.CharField(
        label="Suite donnée",
        max_length=TEXT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control form-control-sm"}),
        help_text="Ce qui a été fait, sans diagnostic ni élément d'identité de la personne.",
    )
