"""Every change of state of an accompagnement goes through a function here.

Each one runs in a transaction, takes `acting_user`, and writes a CaseEvent (the timeline)
plus an audit entry, so every change of a person's record is traceable to a user.
"""

from django.db import transaction
from django.utils import timezone

from cases.models import Accompagnement, CaseEvent, CaseStatus, Mission
from pdp.audit import audit
from pdp.models import AuditLog


def case_event_add(*, accompagnement, acting_user, kind, summary, detail="", changes=None):
    event = CaseEvent.objects.create(
        accompagnement=accompagnement,
        actor=acting_user,
        kind=kind,
        summary=summary[:255],
        detail=detail,
        changes=changes or {},
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=accompagnement,
        assure_id=accompagnement.assure_id,
        changes={"event": kind, "summary": summary[:255], **(changes or {})},
    )
    return event


@transaction.atomic
def case_open(*, assure, referent, acting_user, mission=Mission.PDP, signalement=None):
    """Open an accompagnement; the database refuses a second open one for the same mission."""
    case = Accompagnement.objects.create(
        assure=assure,
        referent=referent,
        unit=referent.unit,
        mission=mission,
        statut=CaseStatus.OUVERT,
        date_ouverture=timezone.localdate(),
    )
    summary = f"Accompagnement ouvert, référent : {referent}"
    if signalement is not None:
        summary += f" (signalement du {signalement.date_signalement:%d/%m/%Y})"
    case_event_add(
        accompagnement=case, acting_user=acting_user, kind=CaseEvent.Kind.OPENED, summary=summary
    )
    return case
