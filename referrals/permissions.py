"""What a visible referral or person allows, and the fetch-and-authorise helpers of referrals.

Who sees a record is its QuerySet's `visible_to(user)` (`referrals.models`); the rules below say
what a user may do with a record they can see. Not visible → 404, visible but not allowed → 403.
"""

from pdp.models import Role, Unit
from pdp.permissions import fetch_for_user, in_unit, is_manager
from referrals.models import Assure, Service, Signalement


def can_work_signalement(user, signalement):
    """Record contact attempts and change the status: the unit's manager, and the person the
    referral is assigned to (ASS or conseiller), or anyone of the unit while it is unassigned."""
    if not in_unit(user) or signalement.service != Service.SOCIAL:
        return False
    if signalement.unit_id != user.unit_id:
        return False
    if user.role == Role.MANAGER:
        return True
    return signalement.assigned_to_id in (None, user.pk)


def can_open_case(user, signalement):
    """Conseillers do outreach; opening a case (choosing a référent) is for ASS and managers."""
    return can_work_signalement(user, signalement) and user.role != Role.CONSEILLER


def can_assign_signalement(user, signalement):
    if not is_manager(user) or signalement.service != Service.SOCIAL:
        return False
    return signalement.unit_id in (None, user.unit_id)


def assignable_units(user, signalement):
    """The units `user` may move `signalement` to: a manager sends a referral of their unit or
    of the regional « à répartir » queue to any unit of their region (a misrouted referral goes
    to the right unit). Nobody else assigns."""
    if not is_manager(user) or signalement.service != Service.SOCIAL:
        return Unit.objects.none()
    if signalement.unit_id in (None, user.unit_id):
        return Unit.objects.filter(region_id=user.unit.region_id)
    return Unit.objects.none()


def may_name_assignee(user, signalement, unit):
    """Whether the manager may also choose who works the referral in `unit`: in their own
    unit, and for the regional queue; a referral sent to another unit of the region arrives
    unassigned, for that unit's manager to give."""
    return unit is not None and (signalement.unit_id is None or unit.pk == user.unit_id)


def can_hand_over_signalement(user, signalement):
    """A conseiller working the referral books the first meeting with an ASS and hands it over
    (they never open the case themselves)."""
    return user.role == Role.CONSEILLER and can_work_signalement(user, signalement)


def can_forward_signalement(user, signalement):
    return signalement.service == Service.MEDICAL and user.role == Role.MEDECIN


def can_record_medical_decisions(user, signalement):
    """The médecin conseil (who sees only the service médical referrals of their region) notes
    a visite de pré-reprise request or a temps partiel thérapeutique decision on one."""
    return signalement.service == Service.MEDICAL and user.role == Role.MEDECIN


def get_assure_for_user(user, pk, rule=None):
    return fetch_for_user(Assure.objects.select_related("cpam"), user, pk, rule)


def get_signalement_for_user(user, pk, rule=None):
    qs = Signalement.objects.select_related(
        "assure", "arret", "unit", "assigned_to", "rdv_ass", "rdv_par"
    )
    return fetch_for_user(qs, user, pk, rule)
