"""What a visible accompagnement allows, and its fetch-and-authorise helper (domain §2, §11).

Who sees that a case exists is `Accompagnement.objects.visible_to(user)`: the unit's staff
(header: référent, status, next meeting — enough to cover a phone call) and the ASS a case is
shared with. Its content — évaluations, notes and timeline, plan d'aide, documents, dispositif
details, orientations, consents, closures — is for the référent, the unit's manager and the
beneficiaries of an active share (`CaseShare`). Conseillers book meetings but read no content.
"""

from cases.models import Accompagnement, CaseShare
from pdp.models import Role
from pdp.permissions import fetch_for_user, in_unit
from referrals.models import Signalement


def _is_manager_of(user, case):
    return in_unit(user) and user.role == Role.MANAGER and user.unit_id == case.unit_id


def has_active_share(user, case):
    """From the annotation `get_accompagnement_for_user` adds, else one query."""
    if not user.is_authenticated:
        return False
    annotated = getattr(case, "shared_with_me", None)
    if annotated is not None:
        return annotated
    return CaseShare.objects.active().filter(accompagnement_id=case.pk, user_id=user.pk).exists()


def can_manage_case(user, case):
    """Close, reopen, suspend, resume, share: the référent and the unit's manager."""
    if not in_unit(user):
        return False
    return _is_manager_of(user, case) or (
        case.referent_id == user.pk and user.unit_id == case.unit_id
    )


def can_read_case_content(user, case):
    return can_manage_case(user, case) or (
        in_unit(user) and user.role == Role.ASS and has_active_share(user, case)
    )


def can_edit_case(user, case):
    """Write in the case (notes, évaluation, plan, meetings, dispositifs…): whoever reads its
    content — the référent, the manager, an ASS covering through a share."""
    return can_read_case_content(user, case)


def can_change_referent(user, case):
    """Only the unit's manager hands a case to another ASS."""
    return _is_manager_of(user, case)


def can_schedule_for_case(user, case):
    """Conseillers book meetings for an ASS; whoever edits the case too."""
    return can_edit_case(user, case) or (
        in_unit(user) and user.role == Role.CONSEILLER and case.unit_id == user.unit_id
    )


def can_edit_assure(user, assure):
    """Unit staff who see the person correct their details; not the médecin."""
    return in_unit(user)


def can_see_access_history(user, assure):
    """« Qui a consulté ce dossier » (domain §11: reads are visible to those responsible for
    the file): the ASS référent of one of the person's cases in her unit, and the manager of
    the unit of one of their cases or referrals. Not conseillers, other ASS of the unit, nor
    the region's « à répartir » queue; administrators see no individual record here (they read
    the log in the read-only Django admin)."""
    if not in_unit(user):
        return False
    if user.role == Role.MANAGER:
        return _manages_unit_of(user, assure)
    if user.role == Role.ASS:
        return Accompagnement.objects.filter(
            assure_id=assure.pk, unit_id=user.unit_id, referent_id=user.pk
        ).exists()
    return False


def can_request_access_archive(user, assure):
    """The right of access (RGPD art. 15, `privacy.archive`): the manager of the unit of one
    of the person's cases or referrals answers the person's request. Not the ASS référent nor
    the rest of the unit: the answer is the controller's, and the archive reaches beyond one
    worker's cases (every unit's records, the whole access log)."""
    return in_unit(user) and user.role == Role.MANAGER and _manages_unit_of(user, assure)


def _manages_unit_of(user, assure):
    """`user` (a manager) runs the unit of one of the person's cases or referrals."""
    return (
        Accompagnement.objects.filter(assure_id=assure.pk, unit_id=user.unit_id).exists()
        or Signalement.objects.filter(assure_id=assure.pk, unit_id=user.unit_id).exists()
    )


def get_accompagnement_for_user(user, pk, rule=None):
    qs = Accompagnement.objects.select_related("assure", "referent", "unit", "signalement")
    return fetch_for_user(qs.with_share_flag(user), user, pk, rule)


def can_manage_availability(user, ass):
    """Opening ranges and absences of an ASS: herself, or her unit's manager."""
    if not in_unit(user) or ass.role != Role.ASS or ass.unit_id != user.unit_id:
        return False
    return user.pk == ass.pk or user.role == Role.MANAGER
