"""Who may do what in the cellule PDP, and the fetch-and-authorise helpers (domain §2, §9).

Who sees a record is its QuerySet's `visible_to(user)` (coordinators: what their instances
hold; members: the meetings they are invited to, while members; unit staff who read a case:
its submissions). What a visible record allows is here. Not visible → 404; visible but not
allowed → 403. The fiche of a situation is readable only while its consent holds
(`Saisine.fiche_lisible`); the référent and the manager read their case's submissions whatever
happens, through the case.
"""

from django.utils import timezone

from cases.permissions import can_read_case_content
from coordination.models import ActionInstance, Instance, MembreInstance, Reunion, Saisine
from pdp.models import Role
from pdp.permissions import fetch_for_user


def is_coordinator(user, instance):
    """One query, or none when the view annotated `is_coordinator` on the instance."""
    if not user.is_authenticated or user.is_admin:
        return False
    annotated = getattr(instance, "user_is_coordinator", None)
    if annotated is not None:
        return annotated
    return instance.coordinateurs.filter(pk=user.pk).exists()


def is_partner(user):
    return user.is_authenticated and user.role == Role.PARTENAIRE


def active_membership(user, instance, day=None):
    if not user.is_authenticated:
        return None
    return (
        MembreInstance.objects.active(day or timezone.localdate())
        .filter(instance=instance, user=user)
        .first()
    )


def can_run_reunion(user, reunion):
    return is_coordinator(user, reunion.instance)


def can_read_fiche(user, saisine, *, coordinator=False, invited=False):
    """Coordinators and invited members read the fiche while the consent holds; the case's
    content readers (référent, manager) read it always — it is their own case."""
    if saisine.fiche_lisible and (coordinator or invited):
        return True
    return can_read_case_content(user, saisine.accompagnement)


def get_instance_for_user(user, pk, rule=None):
    return fetch_for_user(Instance.objects.all(), user, pk, rule)


def get_reunion_for_user(user, pk, rule=None):
    return fetch_for_user(Reunion.objects.select_related("instance"), user, pk, rule)


def get_saisine_for_user(user, pk, rule=None):
    qs = Saisine.objects.select_related(
        "instance", "consentement", "accompagnement__assure", "accompagnement__unit"
    )
    return fetch_for_user(qs, user, pk, rule)


def get_action_for_user(user, pk, rule=None):
    qs = ActionInstance.objects.select_related(
        "responsable__user", "responsable__contact", "point__saisine", "point__reunion__instance"
    )
    return fetch_for_user(qs, user, pk, rule)
