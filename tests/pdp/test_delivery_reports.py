"""The SMS provider's delivery reports: signature, mapping, order of arrival, idempotence,
no downgrade of « délivré », constant statements, and hostile bodies (never a 500)."""

import datetime
import hashlib
import hmac
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pdp.messaging import reports
from pdp.models import AuditLog, Message

SECRET = "test-only-report-secret"
T0 = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
URL = "/messagerie/accuses/"


def minutes(n):
    return (T0 + datetime.timedelta(minutes=n)).isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def secret(settings):
    settings.SMS_REPORT_SECRET = SECRET


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()


def sms(provider_id, channel=Message.Channel.SMS, **fields):
    return Message.objects.create(
        channel=channel,
        template="campagne",
        recipient="+33612345678",
        body="Bonjour",
        status=Message.Status.SENT,
        sent_at=T0,
        provider_id=provider_id,
        assure_id=fields.pop("assure_id", 42),
        **fields,
    )


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, payload, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"X-PDP-Signature": signature if signature is not None else sign(body)}
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def state(message):
    message.refresh_from_db()
    return message.delivery_status, message.delivery_at


def report(pid, status, minute):
    return {"id": pid, "status": status, "at": minutes(minute)}


# --- Configuration and signature -------------------------------------------------------------


def test_it_answers_503_when_no_secret_is_configured(client, settings, db):
    settings.SMS_REPORT_SECRET = ""
    m = sms("p1")
    response = post(client, report("p1", "delivered", 1), signature=sign(b"", "x"))
    assert response.status_code == 503
    assert "non configurés" in response.json()["erreur"]
    assert state(m) == ("", None)


def test_it_refuses_a_bad_or_missing_signature_and_changes_nothing(client, db):
    m = sms("p1")
    body = json.dumps(report("p1", "delivered", 1)).encode()
    for signature in ("", "sha256=00", sign(body, "another-secret"), sign(body + b" "), "é" * 80):
        response = post(client, None, signature=signature, raw=body)
        assert response.status_code == 403, signature
        assert response.json() == {"erreur": "Signature invalide."}
    assert state(m) == ("", None)
    assert post(client, None, signature=sign(body).upper(), raw=body).status_code == 200
    assert state(m)[0] == "delivered"


def test_many_bad_signatures_from_one_address_get_429(client, db):
    statuses = [post(client, {}, signature="sha256=bad").status_code for _ in range(21)]
    assert statuses[:20] == [403] * 20
    assert statuses[20] == 429


def test_it_needs_no_login_nor_csrf_token_and_only_takes_post(db):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    sms("p1")
    assert post(strict, report("p1", "delivered", 1)).status_code == 200
    assert strict.get(URL).status_code == 405
    assert reverse("delivery_reports") == URL


# --- Recording ---------------------------------------------------------------------------------


def test_a_delivered_report_is_recorded_with_its_time_and_audited(client, db):
    m = sms("p1", assure_id=7)
    before = timezone.now()
    response = post(client, report("p1", "DELIVERED", 5))
    assert response.status_code == 200
    assert response.json() == {"recorded": 1, "ignored": 0, "unknown": 0}
    m.refresh_from_db()
    assert m.delivery_status == Message.Delivery.DELIVERED
    assert m.delivery_at == T0 + datetime.timedelta(minutes=5)
    assert m.delivery_received_at >= before
    assert m.status == Message.Status.SENT  # the sending status is not the delivery status
    log = AuditLog.objects.get(object_type="pdp.message", object_id=str(m.pk))
    assert log.assure_id == 7 and log.user is None
    assert log.changes["delivery_status"] == ["", "delivered"]


@pytest.mark.parametrize(
    "provider_status, expected",
    [
        ("delivered", "delivered"),
        ("undelivered", "undelivered"),
        ("failed", "undelivered"),
        ("rejected", "undelivered"),
        ("expired", "undelivered"),
        ("accepted", "pending"),
        ("buffered", "pending"),
        ("pending", "pending"),
        ("sent", "pending"),
    ],
)
def test_provider_statuses_are_mapped(db, provider_status, expected):
    m = sms("p1")
    assert reports.delivery_report_record(provider_id="p1", status=provider_status, at=T0) == {
        "recorded": 1,
        "ignored": 0,
        "unknown": 0,
    }
    assert state(m) == (expected, T0)


def test_unknown_status_and_unknown_id_are_counted_not_errors(client, db):
    m = sms("p1")
    response = post(
        client,
        [report("p1", "teleported", 1), report("nope", "delivered", 1), report(99, "sent", 1)],
    )
    assert response.status_code == 200
    assert response.json() == {"recorded": 0, "ignored": 1, "unknown": 2}
    assert state(m) == ("", None)


def test_an_email_with_the_same_provider_id_is_not_touched(client, db):
    mail = sms("p1", channel=Message.Channel.EMAIL)
    assert post(client, report("p1", "undelivered", 1)).json()["unknown"] == 1
    assert state(mail) == ("", None)


# --- Order of arrival, idempotence, no downgrade ---------------------------------------------


def test_reports_out_of_order_keep_the_latest(client, db):
    m = sms("p1")
    assert post(client, report("p1", "buffered", 10)).json()["recorded"] == 1
    assert post(client, report("p1", "accepted", 2)).json() == {
        "recorded": 0,
        "ignored": 1,
        "unknown": 0,
    }
    assert state(m) == ("pending", T0 + datetime.timedelta(minutes=10))
    assert post(client, report("p1", "expired", 30)).json()["recorded"] == 1
    assert post(client, report("p1", "sent", 20)).json()["ignored"] == 1  # older: late
    assert state(m) == ("undelivered", T0 + datetime.timedelta(minutes=30))


def test_delivered_is_never_downgraded(client, db):
    m = sms("p1")
    post(client, report("p1", "delivered", 5))
    for later in (report("p1", "failed", 50), report("p1", "pending", 60)):
        assert post(client, later).json()["ignored"] == 1
    assert state(m) == ("delivered", T0 + datetime.timedelta(minutes=5))
    # an undelivered then a later delivered (the provider retried): delivered wins
    n = sms("p2")
    post(client, report("p2", "undelivered", 5))
    assert post(client, report("p2", "delivered", 9)).json()["recorded"] == 1
    assert state(n)[0] == "delivered"


def test_the_same_report_twice_changes_nothing(client, db):
    m = sms("p1")
    first = post(client, report("p1", "failed", 5))
    assert first.json()["recorded"] == 1
    m.refresh_from_db()
    received = m.delivery_received_at
    audit_rows = AuditLog.objects.count()
    again = post(client, report("p1", "failed", 5))
    assert again.json() == {"recorded": 0, "ignored": 1, "unknown": 0}
    m.refresh_from_db()
    assert m.delivery_received_at == received
    assert AuditLog.objects.count() == audit_rows


def test_at_the_same_time_a_final_status_beats_pending(client, db):
    m = sms("p1")
    post(client, report("p1", "undelivered", 5))
    assert post(client, report("p1", "pending", 5)).json()["ignored"] == 1
    assert state(m)[0] == "undelivered"


def test_a_list_gives_the_same_result_whatever_its_order(client, db):
    steps = [
        report("a", "accepted", 1),
        report("a", "delivered", 3),
        report("a", "failed", 7),
        report("b", "sent", 1),
        report("b", "expired", 8),
        report("b", "buffered", 4),
    ]
    first_a, first_b = sms("a"), sms("b")
    post(client, steps)
    forward = state(first_a), state(first_b)
    Message.objects.all().delete()
    second_a, second_b = sms("a"), sms("b")
    post(client, list(reversed(steps)))
    assert (state(second_a), state(second_b)) == forward
    assert forward[0] == ("delivered", T0 + datetime.timedelta(minutes=3))
    assert forward[1] == ("undelivered", T0 + datetime.timedelta(minutes=8))


def test_a_list_is_recorded_in_a_constant_number_of_statements(db):
    def run(n, prefix):
        for i in range(n):
            sms(f"{prefix}-{i}")
        batch = [
            reports.Report(provider_id=f"{prefix}-{i}", status="delivered", at=T0) for i in range(n)
        ]
        with CaptureQueriesContext(connection) as ctx:
            outcome = reports.delivery_reports_record(reports=batch)
        assert outcome == {"recorded": n, "ignored": 0, "unknown": 0}
        return len(ctx.captured_queries)

    assert run(2, "small") == run(20, "large")
    assert Message.objects.filter(delivery_status="delivered").count() == 22
    assert AuditLog.objects.filter(object_type="pdp.message").count() == 22


# --- Hostile bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[" * 100_000,
        b"null",
        b"42",
        b'"delivered"',
        b"[]",
        b"[1, 2]",
        b'{"id": "p1"}',
        b'{"id": "p1", "status": "delivered"}',
        b'{"id": "p1", "status": "delivered", "at": "hier"}',
        b'{"id": "p1", "status": "delivered", "at": "2027-13-45T99:00:00Z"}',
        b'{"id": "p1", "status": "delivered", "at": "9999-12-31T23:59:59-23:59"}',
        b'{"id": "p1", "status": "delivered", "at": 1700000000}',
        b'{"id": true, "status": "delivered", "at": "2027-03-01T10:00:00Z"}',
        b'{"id": "", "status": "delivered", "at": "2027-03-01T10:00:00Z"}',
        b'{"id": "p1\\u0000", "status": "delivered", "at": "2027-03-01T10:00:00Z"}',
        b'{"id": ["p1"], "status": "delivered", "at": "2027-03-01T10:00:00Z"}',
        b'{"id": "p1", "status": {"a": 1}, "at": "2027-03-01T10:00:00Z"}',
        b'{"id": "' + b"x" * 500 + b'", "status": "delivered", "at": "2027-03-01T10:00:00Z"}',
        b'[{"id": "p1", "status": "delivered", "at": "2027-03-01T10:00:00Z"}, {"id": "p1"}]',
        json.dumps([report("p1", "delivered", 1)] * 1001).encode(),
    ],
)
def test_hostile_bodies_get_400_in_french_and_change_nothing(client, db, raw):
    m = sms("p1")
    response = post(client, None, raw=raw)
    assert response.status_code == 400, response.content
    assert response.json()["erreur"]
    assert state(m) == ("", None)


def test_a_naive_time_is_read_as_utc_and_an_offset_is_honoured(client, db):
    m = sms("p1")
    post(client, {"id": "p1", "status": "pending", "at": "2027-03-01T09:05:00"})
    assert state(m) == ("pending", T0 + datetime.timedelta(minutes=5))
    post(client, {"id": "p1", "status": "failed", "at": "2027-03-01T10:04:00+01:00"})
    assert state(m) == ("pending", T0 + datetime.timedelta(minutes=5))  # 09:04 UTC: older
