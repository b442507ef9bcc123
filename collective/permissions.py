"""Who may do what with collective actions (issue 11). Not visible → 404; visible but not
allowed → 403 (`pdp.permissions.fetch_for_user`).

- Seeing an action (title, type, dates, counts; the regional calendar): staff of its region
  (`ActionCollective.objects.visible_to`): ASS, conseillers, managers, the regional manager.
- Running it (edit, sessions, ask for validations, publish, start, finish, cancel; participants
  and attendance): its animateur, its co-animateurs, and the manager of its unit (for a
  regional action without unit: the regional manager).
- Validating: « unité » by a manager of the action's unit; « région » by the « Encadrement
  régional » of its region.
- Participants' names: those who run it only — the theme says something about health. An ASS
  who is a participant's référent sees that participation on the case timeline, not the list.
"""

from collective.models import ActionCollective
from pdp.models import Role
from pdp.permissions import fetch_for_user, has_role, is_manager


def _co_leads(user, action):
    annotated = getattr(action, "user_is_co_animateur", None)
    if annotated is not None:
        return annotated
    return action.co_animateurs.filter(pk=user.pk).exists()


def is_regional(user, region_id):
    return has_role(user, Role.REGIONAL) and user.region_id == region_id


def can_run_action(user, action):
    if not user.is_authenticated:
        return False
    if user.pk == action.animateur_id:
        return True
    if action.unit_id is not None and is_manager(user) and user.unit_id == action.unit_id:
        return True
    if action.unit_id is None and is_regional(user, action.region_id):
        return True
    return _co_leads(user, action)


def can_see_participants(user, action):
    return can_run_action(user, action)


def can_validate_unit(user, action):
    return action.unit_id is not None and is_manager(user) and user.unit_id == action.unit_id


def can_validate_region(user, action):
    return is_regional(user, action.region_id)


def can_create_action(user):
    """ASS and managers create their unit's actions; the regional manager regional ones."""
    return (has_role(user, Role.ASS, Role.MANAGER) and user.unit_id is not None) or has_role(
        user, Role.REGIONAL
    )


def get_action_for_user(user, pk, rule=None):
    qs = ActionCollective.objects.select_related("type", "theme", "unit", "region", "animateur")
    return fetch_for_user(qs, user, pk, rule)
