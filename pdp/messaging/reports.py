"""The SMS provider's delivery reports (issue 12, item 7).

The provider POSTs reports to ``/messagerie/accuses/`` (``pdp.views_messaging``); each names
the provider's message id (``Message.provider_id``, given back when the SMS was sent), a
status in the provider's words and the time of that status at the provider. They arrive late,
twice, out of order: the rules below make the stored status the latest one known, whatever
the order of arrival.

- Provider statuses map to ``Message.Delivery`` (``DELIVERY_STATUSES``); an unknown status is
  ignored (counted).
- A report older than the stored one (``at`` < ``delivery_at``) changes nothing; at the same
  time, a final status beats « en attente ».
- « délivré » is final: nothing after it changes the row (no downgrade).
- The same report twice changes nothing the second time (idempotent).
- A report for an unknown provider id is counted, not an error (the provider may send the
  reports of another application using the same account).

A list is recorded in three statements whatever its length: one ``SELECT … FOR UPDATE`` of
the messages named (in primary-key order, so that two workers receiving overlapping lists
wait for each other instead of deadlocking), one ``UPDATE`` of those that change, one bulk
insert of their audit rows.
"""

import dataclasses
import datetime
import logging

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from pdp.audit import audit_many
from pdp.models import AuditLog, Message

logger = logging.getLogger("pdp.messaging")

Delivery = Message.Delivery

DELIVERY_STATUSES = {
    "delivered": Delivery.DELIVERED,
    "undelivered": Delivery.UNDELIVERED,
    "failed": Delivery.UNDELIVERED,
    "rejected": Delivery.UNDELIVERED,
    "expired": Delivery.UNDELIVERED,
    "accepted": Delivery.PENDING,
    "buffered": Delivery.PENDING,
    "pending": Delivery.PENDING,
    "sent": Delivery.PENDING,
}
# At the same time, the more final status wins.
_RANK = {"": -1, Delivery.PENDING: 0, Delivery.UNDELIVERED: 1, Delivery.DELIVERED: 2}
PROVIDER_ID_MAX_LENGTH = Message._meta.get_field("provider_id").max_length


@dataclasses.dataclass(frozen=True)
class Report:
    provider_id: str
    status: str  # the provider's word, e.g. "delivered"
    at: datetime.datetime  # aware


@dataclasses.dataclass
class Outcome:
    recorded: int = 0  # reports that changed a message
    ignored: int = 0  # known message, but older, a downgrade, a repeat, or an unknown status
    unknown: int = 0  # no SMS with that provider id

    def as_dict(self):
        return dataclasses.asdict(self)


def delivery_status_of(provider_status):
    """The ``Message.Delivery`` value of a provider's status, or None when unknown."""
    return DELIVERY_STATUSES.get(str(provider_status).strip().lower())


def supersedes(*, current_status, current_at, new_status, new_at):
    """Whether a report (``new_status`` at ``new_at``) replaces the stored delivery state."""
    if current_status == Delivery.DELIVERED:
        return False
    if current_at is None:
        return True
    if new_at != current_at:
        return new_at > current_at
    return _RANK[new_status] > _RANK[current_status]


def delivery_report_record(*, provider_id, status, at, received_at=None):
    """Record one delivery report; returns {"recorded": n, "ignored": n, "unknown": n}."""
    return delivery_reports_record(
        reports=[Report(provider_id=str(provider_id), status=status, at=at)],
        received_at=received_at,
    )


@transaction.atomic
def delivery_reports_record(*, reports, received_at=None):
    """Record a list of ``Report``: three statements whatever its length. Returns the counts
    {"recorded": n, "ignored": n, "unknown": n} (one per report)."""
    received_at = received_at or timezone.now()
    outcome = Outcome()
    known = []
    for report in reports:
        status = delivery_status_of(report.status)
        if status is None:
            outcome.ignored += 1
        else:
            known.append((report.provider_id, status, report.at))
    if not known:
        return outcome.as_dict()
    rows = (
        Message.objects.select_for_update()
        .filter(channel=Message.Channel.SMS, provider_id__in={pid for pid, _, _ in known})
        .order_by("pk")
        .values_list("pk", "provider_id", "delivery_status", "delivery_at", "assure_id")
    )
    messages = {}  # provider id → its messages' states (normally one)
    for pk, provider_id, status, at, assure_id in rows:
        state = _State(pk=pk, assure_id=assure_id, old=(status, at), status=status, at=at)
        messages.setdefault(provider_id, []).append(state)
    # Applied in the provider's order: the result does not depend on the order of the list.
    for provider_id, status, at in sorted(known, key=lambda r: (r[2], _RANK[r[1]])):
        states = messages.get(provider_id)
        if not states:
            outcome.unknown += 1
            continue
        applied = False
        for state in states:
            if supersedes(
                current_status=state.status, current_at=state.at, new_status=status, new_at=at
            ):
                state.status, state.at, state.changed = status, at, True
                applied = True
        if applied:
            outcome.recorded += 1
        else:
            outcome.ignored += 1
    changed = [state for states in messages.values() for state in states if state.changed]
    _write(changed, received_at)
    logger.info("SMS delivery reports: %s", outcome.as_dict())
    return outcome.as_dict()


@dataclasses.dataclass
class _State:
    pk: int
    assure_id: int | None
    old: tuple  # (status, at) before the reports
    status: str
    at: datetime.datetime | None
    changed: bool = False


def _write(changed, received_at):
    """One UPDATE of the changed messages, one INSERT of their audit rows."""
    if not changed:
        return
    Message.objects.filter(pk__in=[s.pk for s in changed]).update(
        delivery_status=Case(*(When(pk=s.pk, then=Value(s.status)) for s in changed)),
        delivery_at=Case(*(When(pk=s.pk, then=Value(s.at)) for s in changed)),
        delivery_received_at=received_at,
    )
    audit_many(
        user=None,
        action=AuditLog.Action.UPDATE,
        model=Message,
        entries=(
            (
                s.pk,
                s.assure_id,
                {"delivery_status": [s.old[0], s.status], "delivery_at": [s.old[1], s.at]},
            )
            for s in changed
        ),
    )
