"""The set-based writers of the access log (`pdp.audit.audit_listed`, `audit_many`): one row per
record, with the user, the action, the record, the person and the changes, the time of the
request, in as few statements as the chunking allows (a list page: one)."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pdp import audit as audit_module
from pdp.audit import audit_listed, audit_many
from pdp.models import AuditLog
from referrals.models import Assure
from tests.factories import AssureFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 6, 10, 30, tzinfo=datetime.UTC)


def _rows():
    return list(
        AuditLog.objects.order_by("id").values_list(
            "user_id", "action", "object_type", "object_id", "assure_id", "changes", "at"
        )
    )


@time_machine.travel(NOW, tick=False)
def test_a_listed_page_writes_one_read_row_per_person_in_one_statement():
    user = UserFactory()
    people = AssureFactory.create_batch(3)
    with CaptureQueriesContext(connection) as captured:
        count = audit_listed(
            user=user, objects=people, assure_id_of=lambda a: a.pk, page="recherche"
        )
    assert count == 3
    assert len(captured) == 1
    assert _rows() == [
        (user.pk, "view", "referrals.assure", str(a.pk), a.pk, {"page": "recherche"}, NOW)
        for a in people
    ]


def test_nothing_listed_writes_nothing():
    with CaptureQueriesContext(connection) as captured:
        assert audit_listed(user=None, objects=[], assure_id_of=lambda a: a.pk, page="x") == 0
    assert len(captured) == 0
    assert AuditLog.objects.count() == 0


@time_machine.travel(NOW, tick=False)
def test_many_rows_are_written_in_chunks_with_their_own_changes(monkeypatch):
    monkeypatch.setattr(audit_module, "_INSERT_CHUNK", 2)
    entries = [
        (pk, pk * 10 if pk % 2 else None, {"n": pk, "le": timezone.localdate()}) for pk in range(5)
    ]
    with CaptureQueriesContext(connection) as captured:
        count = audit_many(user=None, action=AuditLog.Action.CREATE, model=Assure, entries=entries)
    assert count == 5
    assert len(captured) == 3  # 2 + 2 + 1
    assert _rows() == [
        (None, "create", "referrals.assure", str(pk), assure_id, {"n": pk, "le": "2026-12-06"}, NOW)
        for pk, assure_id, _ in entries
    ]
