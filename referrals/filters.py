"""Filters of the referral inboxes (django-filter)."""

import django_filters
from django import forms
from django.utils import timezone

from pdp.models import CpamOffice, Role, User
from referrals.models import OPEN_STATUSES, Origine, Signalement, Statut
from referrals.routing import ASSIGNABLE_ROLES, assignee_label

OPEN = "ouverts"
SOCIAL_STATUSES = [s for s in Statut if s not in (Statut.TRANSMIS, Statut.CLASSE)]


class AssigneeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return assignee_label(obj)


class AssigneeFilter(django_filters.ModelChoiceFilter):
    field_class = AssigneeChoiceField


class InboxFilter(django_filters.FilterSet):
    """Origin, status (open ones by default), CPAM, overdue and, for managers, the worker."""

    origine = django_filters.ChoiceFilter(
        label="Origine", choices=Origine.choices, empty_label="Toutes"
    )
    statut = django_filters.ChoiceFilter(
        label="Statut",
        choices=[(OPEN, "En cours (tous)"), *((s.value, s.label) for s in SOCIAL_STATUSES)],
        empty_label="Tous les statuts",
        method="filter_statut",
    )
    cpam = django_filters.ModelChoiceFilter(
        label="CPAM",
        field_name="assure__cpam",
        queryset=CpamOffice.objects.none(),
        empty_label="Toutes",
    )
    en_retard = django_filters.BooleanFilter(
        label="Échéance dépassée",
        method="filter_en_retard",
        widget=forms.CheckboxInput,
    )
    assigned_to = AssigneeFilter(
        label="Attribué à",
        queryset=User.objects.none(),
        empty_label="Toutes",
    )

    class Meta:
        model = Signalement
        fields = ["origine", "statut", "cpam", "en_retard", "assigned_to"]

    def __init__(self, data=None, *args, user, **kwargs):
        if data is not None:
            data = data.copy()
            if "statut" not in data:
                data["statut"] = OPEN
        super().__init__(data, *args, **kwargs)
        region_id = user.unit.region_id if user.unit_id else None
        self.filters["cpam"].queryset = CpamOffice.objects.filter(region_id=region_id)
        if user.role == Role.MANAGER:
            # Everyone a referral of the unit may be assigned to, by role (conseillers too: the
            # manager hands them batches for the first contact), and those who left.
            self.filters["assigned_to"].queryset = User.objects.filter(
                unit_id=user.unit_id, role__in=ASSIGNABLE_ROLES
            ).order_by("role", "last_name", "first_name")
        else:
            del self.filters["assigned_to"]

    def filter_statut(self, queryset, name, value):
        if value == OPEN:
            return queryset.filter(statut__in=OPEN_STATUSES)
        return queryset.filter(statut=value)

    def filter_en_retard(self, queryset, name, value):
        if value:
            return queryset.overdue(timezone.localdate())
        return queryset
