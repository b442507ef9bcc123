"""pdp.messaging.send_many: one INSERT for many messages, a bad recipient does not stop the
others, clear codes only in the tasks' arguments, delivery by chunks, SMS deferred at night."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from pdp import messaging
from pdp.messaging import MASK, Outgoing, outbox, send_many
from pdp.models import Message

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MONDAY_10 = datetime.datetime(2027, 3, 1, 10, 0, tzinfo=PARIS)
SATURDAY_NIGHT = datetime.datetime(2027, 3, 6, 22, 0, tzinfo=PARIS)


def sms(to, code="K7M2P9QX"):
    return Outgoing(
        channel=Message.Channel.SMS,
        to=to,
        body=f"Votre code {code}",
        template="test.bulk",
        assure_id=1,
        object_type="outreach.cible",
        object_id="7",
        secrets=(code,),
    )


@pytest.fixture(autouse=True)
def _empty():
    outbox.clear()
    yield
    outbox.clear()


def test_many_messages_in_one_insert_delivered_by_chunks(monkeypatch):
    chunks = []
    real = messaging._enqueue_many
    monkeypatch.setattr(
        messaging, "_enqueue_many", lambda pairs, eta: (chunks.append(len(pairs)), real(pairs, eta))
    )
    items = [sms(f"06 12 34 56 {n:02d}") for n in range(5)]
    items.insert(2, sms("02 35 00 00 00"))  # a landline: refused, the others go
    items.append(
        Outgoing(
            channel=Message.Channel.EMAIL,
            to="a@example.org",
            subject="Objet",
            body="Code K7M2P9QX",
            template="test.bulk",
            secrets=("K7M2P9QX",),
        )
    )
    with (
        time_machine.travel(MONDAY_10, tick=False),
        TestCase.captureOnCommitCallbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        results = send_many(items=items, chunk=2)
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "pdp_message"')]
    assert len(inserts) == 1
    assert isinstance(results[2], ValidationError)
    assert all(isinstance(r, Message) for i, r in enumerate(results) if i != 2)
    assert chunks == [2, 2, 2]
    assert len(outbox) == 5 and {s.body for s in outbox} == {"Votre code K7M2P9QX"}
    assert mail.outbox[0].body == "Code K7M2P9QX"
    stored = Message.objects.order_by("pk")
    assert all(MASK in m.body and "K7M2P9QX" not in m.body for m in stored)
    assert set(stored.values_list("status", flat=True)) == {Message.Status.SENT}


def test_sms_at_night_wait_for_monday_and_a_redelivered_chunk_sends_nothing():
    with (
        time_machine.travel(SATURDAY_NIGHT, tick=False),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        [message] = send_many(items=[sms("06 12 34 56 78")])
    assert message.status == Message.Status.DEFERRED
    assert message.send_after == datetime.datetime(2027, 3, 8, 8, 0, tzinfo=PARIS)
    assert not outbox  # the eager run before its time sent nothing
    from pdp.messaging.tasks import deliver_messages

    with time_machine.travel(message.send_after, tick=False):
        assert deliver_messages([[message.pk, {"body": "Votre code K7M2P9QX"}]]) == {"sent": 1}
        assert deliver_messages([[message.pk, {"body": "Votre code K7M2P9QX"}]]) == {"skipped": 1}
    assert len(outbox) == 1
