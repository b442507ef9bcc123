"""The cellule PDP's panel on the accompagnement page (registered in `CoordinationConfig`)."""

from django.db.models import Prefetch

from cases.models import CaseStatus
from cases.permissions import can_manage_case, can_read_case_content
from coordination.models import ActionInstance, Decision, Instance, PointOrdreDuJour, Saisine


def case_panel(request, case):
    """The case's submissions with their outcome, for whoever reads the case's content.

    Queries: the submissions, and whether an instance covers the unit (for the button); when
    there are submissions, their meetings, decisions and actions (3 more), whatever their
    number."""
    user = request.user
    if not can_read_case_content(user, case):
        return None
    points = PointOrdreDuJour.objects.select_related("reunion").prefetch_related(
        Prefetch("decisions", queryset=Decision.objects.select_related("type")),
        Prefetch(
            "actions",
            queryset=ActionInstance.objects.select_related(
                "responsable__user", "responsable__contact"
            ),
        ),
    )
    saisines = list(
        Saisine.objects.filter(accompagnement=case)
        .select_related("instance", "submitted_by")
        .prefetch_related(Prefetch("points", queryset=points.order_by("reunion__debut", "pk")))
        .order_by("-submitted_at", "-pk")
    )
    can_submit = (
        can_manage_case(user, case)
        and case.statut != CaseStatus.CLOTURE
        and Instance.objects.covering(case.unit_id).exists()
    )
    if not saisines and not can_submit:
        return None
    return {
        "template": "coordination/_case_panel.html",
        "case": case,
        "saisines": saisines,
        "can_submit": can_submit,
    }
