"""Routing a service social referral to a unit, and assigning it to a social worker."""

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Length

from pdp.models import Role, Unit, UnitTerritory, User
from referrals import hooks
from referrals.models import OPEN_STATUSES, Signalement, SignalementEvent


def route_unit(postal_code):
    """The unit whose territory holds `postal_code` (longest prefix wins), else None."""
    if not postal_code:
        return None
    prefixes = {postal_code[:n] for n in range(2, len(postal_code) + 1)}
    if postal_code[:2] == "20":  # Corsica: 2A (200xx–201xx) / 2B (202xx–206xx)
        prefixes.add("2A" if postal_code[:3] in ("200", "201") else "2B")
    territory = (
        UnitTerritory.objects.filter(prefix__in=prefixes)
        .select_related("unit")
        .order_by(Length("prefix").desc())
        .first()
    )
    return territory.unit if territory else None


def with_load(users):
    """Annotate `load`: open referrals assigned to each user plus the open cases they are
    référent of (counted by the cases app through `referrals.hooks`). The one definition of a
    worker's load, used by automatic assignment here and in the detection job."""
    return users.annotate(
        load=Count("signalements", filter=Q(signalements__statut__in=OPEN_STATUSES), distinct=True)
        + hooks.open_case_load()
    )


# Who a referral can be assigned to: the social workers and the conseillers, who do the first
# contact (domain §2). Managers assign, they are not given referrals.
ASSIGNABLE_ROLES = (Role.ASS, Role.CONSEILLER)
_ROLE_TAGS = {Role.ASS: "ASS", Role.CONSEILLER: "conseiller"}


def eligible_assignees(units):
    """The people a referral of `units` (one unit, or a queryset or list of units) may be
    assigned to: the active ASS and conseillers of that unit. The one rule of eligibility: the
    assignment form lists them, the service refuses anyone else."""
    people = User.objects.filter(is_active=True, role__in=ASSIGNABLE_ROLES)
    if units is None:  # the regional queue: nobody works a referral there
        return people.none()
    if isinstance(units, Unit):
        return people.filter(unit=units)
    return people.filter(unit__in=units)


def assignee_label(user):
    """ "Prénom Nom (conseiller)": the name with the role, in the choice lists."""
    tag = _ROLE_TAGS.get(user.role)
    return f"{user} ({tag})" if tag else str(user)


def lightest_worker(unit):
    """The active ASS of `unit` with the fewest open referrals and open cases."""
    workers = User.objects.filter(unit=unit, role=Role.ASS, is_active=True)
    return with_load(workers).order_by("load", "pk").first()


@transaction.atomic
def signalement_assign(*, signalement, acting_user, unit=None, assigned_to=None, reason=""):
    """Move a referral to `unit` and/or a worker; records who, when and why."""
    signalement = Signalement.objects.select_for_update().get(pk=signalement.pk)
    if assigned_to is not None and unit is None:
        unit = assigned_to.unit
    if assigned_to is not None and assigned_to.unit_id != unit.pk:
        raise ValueError("La personne choisie n'appartient pas à cette unité.")
    old = _assignment_label(signalement)
    signalement.unit = unit
    signalement.assigned_to = assigned_to
    signalement.save(update_fields=["unit", "assigned_to", "updated_at"])
    SignalementEvent.objects.create(
        signalement=signalement,
        actor=acting_user,
        kind=SignalementEvent.Kind.ASSIGNED,
        old_value=old,
        new_value=_assignment_label(signalement),
        reason=reason,
    )
    return signalement


def _assignment_label(signalement):
    unit = str(signalement.unit) if signalement.unit_id else "À répartir"
    who = str(signalement.assigned_to) if signalement.assigned_to_id else "non attribué"
    return f"{unit} / {who}"[:100]


@transaction.atomic
def unit_set_auto_assign(*, unit, acting_user, enabled):
    """Switch a unit's automatic assignment of new referrals on or off; audited."""
    from pdp.audit import audit
    from pdp.models import AuditLog

    updated = (
        Unit.objects.filter(pk=unit.pk).exclude(auto_assign=enabled).update(auto_assign=enabled)
    )
    if updated:
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=unit,
            changes={"auto_assign": [not enabled, enabled]},
        )
    unit.auto_assign = enabled
    return unit
