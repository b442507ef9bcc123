"""Role helpers shared by every app, and the one fetch-and-authorise helper they all use.

This module imports no app: who may see a record lives in its app's QuerySet
(`<Model>.objects.visible_to(user)`), what a visible record allows in its app's `permissions.py`
(`referrals.permissions`, `cases.permissions`, …). Not visible → 404 (the record's existence is
not revealed); visible but not allowed → 403.

The « Administrateur » role manages reference data and users through the Django admin and sees
no individual record in the application (domain §2, §11); superusers are operations accounts and
are treated the same way here.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from pdp.models import Role

FORBIDDEN_MESSAGE = "Vous n'avez pas les droits pour cette action."


def is_admin(user):
    """The « Administrateur » role or a superuser (`User.is_admin`, the one definition)."""
    return user.is_authenticated and user.is_admin


def in_unit(user):
    """ASS, conseiller or manager with a unit: the roles that see their unit's records."""
    return user.is_authenticated and user.is_unit_member


def has_role(user, *roles):
    return user.is_authenticated and user.role in roles


def is_manager(user):
    return in_unit(user) and user.role == Role.MANAGER


def is_medecin(user):
    return has_role(user, Role.MEDECIN) and user.region_id is not None


def can_see_nir(user):
    """The NIR is for identification: unit staff, the médecin conseil and administrators."""
    return is_admin(user) or in_unit(user) or has_role(user, Role.MEDECIN)


def fetch_for_user(qs, user, pk, rule=None):
    """`qs.visible_to(user).get(pk=pk)` or 404; then `rule(user, obj)` or 403."""
    obj = get_object_or_404(qs.visible_to(user), pk=pk)
    if rule is not None and not rule(user, obj):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    return obj
