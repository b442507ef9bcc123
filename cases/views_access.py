"""« Qui a consulté ce dossier » : the access log of one person, for those responsible for the
file (domain §11, issue 14 item 1)."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import path

from cases.permissions import can_see_access_history
from pdp.audit import audit, object_type_label
from pdp.models import AuditLog
from referrals.permissions import get_assure_for_user

PAGE_SIZE = 50
# What the page itself writes in `changes["page"]` of its own read row.
PAGE_NAME = "consultations"


def assure_access_history(request, pk):
    user = request.user
    assure = get_assure_for_user(user, pk, can_see_access_history)
    action = request.GET.get("action", "")
    if action not in AuditLog.Action.values:
        action = ""
    rows = (
        AuditLog.objects.filter(assure_id=assure.pk).select_related("user").order_by("-at", "-pk")
    )
    if action:
        rows = rows.filter(action=action)
    # The read of this page is written before the list is read: it is its first row.
    audit(
        user=user,
        action=AuditLog.Action.VIEW,
        obj=assure,
        assure_id=assure.pk,
        changes={"page": PAGE_NAME},
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page:
        row.object_label = object_type_label(row.object_type)
        row.page_name = row.changes.get("page") if isinstance(row.changes, dict) else None
    return render(
        request,
        "cases/assure_access_history.html",
        {
            "assure": assure,
            "page_obj": page,
            "action": action,
            "actions": AuditLog.Action.choices,
        },
    )


urlpatterns = [
    path(
        "assures/<int:pk>/consultations/",
        assure_access_history,
        name="assure_access_history",
    ),
]
