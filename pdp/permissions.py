"""Who may see what (querysets) and who may do what (rules), in one place.

Not visible → 404 (the record's existence is not revealed). Visible but not allowed → 403.
Domain §2: unit staff see their unit's records; regional staff only aggregates; the médecin
conseil sees the service médical referrals of the region and nothing of social case content.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404

from pdp.models import Role


def _is_admin(user):
    return user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN)


def _in_unit(user):
    return user.is_authenticated and user.is_unit_member


def signalement_scope(qs, user):
    from referrals.models import Service

    if _is_admin(user):
        return qs
    if _in_unit(user):
        mine = qs.filter(unit_id=user.unit_id)
        if user.role == Role.MANAGER:
            # The regional "à répartir" queue: social referrals not yet routed to a unit.
            queue = qs.filter(
                unit__isnull=True,
                service=Service.SOCIAL,
                assure__cpam__region_id=user.unit.region_id,
            )
            return mine | queue
        return mine
    if user.is_authenticated and user.role == Role.MEDECIN and user.region_id:
        return qs.filter(service=Service.MEDICAL, assure__cpam__region_id=user.region_id)
    return qs.none()


def accompagnement_scope(qs, user):
    if _is_admin(user):
        return qs
    if _in_unit(user):
        return qs.filter(unit_id=user.unit_id)
    return qs.none()


def assure_scope(qs, user):
    from cases.models import Accompagnement
    from referrals.models import Signalement

    if _is_admin(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    visible_signalements = signalement_scope(Signalement.objects.all(), user)
    condition = Exists(visible_signalements.filter(assure_id=OuterRef("pk")))
    if _in_unit(user):
        visible_cases = accompagnement_scope(Accompagnement.objects.all(), user)
        condition |= Exists(visible_cases.filter(assure_id=OuterRef("pk")))
    return qs.filter(condition)


# --- Rules: what a user may do with a record they can see --------------------------------


def can_work_signalement(user, signalement):
    """Record contact attempts, change status, open an accompagnement."""
    if _is_admin(user):
        return True
    if not _in_unit(user) or signalement.service != "social":
        return False
    if signalement.unit_id != user.unit_id:
        return False
    if user.role == Role.MANAGER:
        return True
    return signalement.assigned_to_id in (None, user.pk)


def can_assign_signalement(user, signalement):
    if _is_admin(user):
        return True
    if user.role != Role.MANAGER or signalement.service != "social":
        return False
    return signalement.unit_id in (None, user.unit_id)


def can_forward_signalement(user, signalement):
    return signalement.service == "medical" and (_is_admin(user) or user.role == Role.MEDECIN)


def can_read_case_content(user, case):
    """Évaluation globale, notes, plan d'aide, documents: not for conseillers (domain §2)."""
    if _is_admin(user):
        return True
    return _in_unit(user) and user.role in (Role.ASS, Role.MANAGER) and case.unit_id == user.unit_id


def can_edit_case(user, case):
    if _is_admin(user):
        return True
    if not _in_unit(user) or case.unit_id != user.unit_id:
        return False
    return user.role == Role.MANAGER or case.referent_id == user.pk


def can_schedule_for_case(user, case):
    """Conseillers book meetings for an ASS; the référent and the manager too."""
    return can_edit_case(user, case) or (
        _in_unit(user) and user.role == Role.CONSEILLER and case.unit_id == user.unit_id
    )


def can_see_nir(user):
    return _is_admin(user) or _in_unit(user) or user.role == Role.MEDECIN


# --- Fetch and authorise ------------------------------------------------------------------


def _fetch(qs, user, pk, rule):
    obj = get_object_or_404(qs.visible_to(user), pk=pk)
    if rule is not None and not rule(user, obj):
        raise PermissionDenied("Vous n'avez pas les droits pour cette action.")
    return obj


def get_assure_for_user(user, pk, rule=None):
    from referrals.models import Assure

    return _fetch(Assure.objects.select_related("cpam"), user, pk, rule)


def get_signalement_for_user(user, pk, rule=None):
    from referrals.models import Signalement

    qs = Signalement.objects.select_related("assure", "arret", "unit", "assigned_to")
    return _fetch(qs, user, pk, rule)


def get_accompagnement_for_user(user, pk, rule=None):
    from cases.models import Accompagnement

    qs = Accompagnement.objects.select_related("assure", "referent", "unit")
    return _fetch(qs, user, pk, rule)
