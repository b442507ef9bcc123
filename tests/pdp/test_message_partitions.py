"""The message receipts partitioned by month (issue 15, item 5): migration pdp 0010, the
partitions created ahead with the access log's, the delivery reports, and the purge that drops
whole months after setting the foreign keys to them to NULL.

PostgreSQL only (on SQLite the table is a plain one and pdp.partitions does nothing)."""

import datetime

import pytest
import time_machine
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from outreach.models import Campagne, Cible, Rappel
from pdp import partitions
from pdp.celery import app
from pdp.messaging import reports, send_sms
from pdp.models import Message, references_to
from pdp.tasks import ensure_monthly_partitions
from referrals.models import ArretTravail
from tests.factories import AssureFactory, EntretienFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TABLE = Message._meta.db_table
DEFAULT = f"{TABLE}_default"
INDEXES = {
    f"{TABLE}_pkey": "btree (id, created_at)",
    "message_object_idx": "btree (object_type, object_id)",
    "message_status_idx": "btree (status, send_after)",
    "message_provider_idx": "btree (provider_id) WHERE (NOT ((provider_id)::text = ''::text))",
}


def _partition_of(message):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [message.pk])
        return cursor.fetchone()[0]


def _exists(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _indexes(table=TABLE):
    """{name: definition after USING} of the indexes of `table`, the Django-named ones
    (assure_id, created_at) keyed by their column."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, regexp_replace(indexdef, '.* USING ', '') FROM pg_indexes "
            "WHERE tablename = %s",
            [table],
        )
        found = {}
        for name, definition in cursor.fetchall():
            for column in ("assure_id", "created_at"):
                if name.startswith(f"{TABLE}_{column}_"):
                    name = column
            found[name] = definition
        return found


def _message_at(moment, **fields):
    with time_machine.travel(moment, tick=False):
        return Message.objects.create(
            channel=Message.Channel.SMS,
            template="rappel",
            recipient="+33612345678",
            body="Bonjour",
            status=Message.Status.SENT,
            sent_at=moment,
            **fields,
        )


def _month(offset, now=None):
    start = partitions.month_start(now or timezone.now())
    for _ in range(abs(offset)):
        start = (
            partitions.next_month(start)
            if offset > 0
            else partitions.month_start(start - datetime.timedelta(days=1))
        )
    return start


def test_the_receipts_are_partitioned_by_month_with_the_next_months_ready():
    assert partitions.is_partitioned(TABLE)
    months = partitions.partitions(TABLE)
    for offset in range(partitions.MONTHS_AHEAD + 1):
        assert _month(offset) in months
    assert _exists(DEFAULT)


def test_the_indexes_are_on_the_partitioned_table_and_on_every_partition():
    expected = {**INDEXES, "assure_id": "btree (assure_id)", "created_at": "btree (created_at)"}
    assert _indexes() == expected
    for name in [*partitions.partitions(TABLE).values(), DEFAULT]:
        assert sorted(_indexes(name).values()) == sorted(expected.values())


@pytest.mark.parametrize("days", [0, -5 * 365, 45, 3650])
def test_a_message_of_any_date_is_written_and_read_back(days):
    moment = timezone.now() + datetime.timedelta(days=days)
    with time_machine.travel(moment, tick=False):
        sent = send_sms(to="06 12 34 56 78", body="Votre rendez-vous", template="rappel")
    months = partitions.partitions(TABLE)
    start = partitions.month_start(moment)
    assert _partition_of(sent) == months.get(start, DEFAULT)
    assert Message.objects.get(pk=sent.pk).recipient == "+33612345678"
    assert Message.objects.filter(pk=sent.pk).update(status=Message.Status.SENT) == 1


def test_a_delivery_report_finds_its_message_in_any_partition():
    now = timezone.now()
    messages = [
        _message_at(now, provider_id="p-now"),
        _message_at(now - datetime.timedelta(days=5 * 365), provider_id="p-old"),
    ]
    assert {_partition_of(m) for m in messages} == {
        partitions.partition_name(TABLE, _month(0)),
        DEFAULT,
    }
    outcome = reports.delivery_reports_record(
        reports=[
            reports.Report(provider_id="p-now", status="delivered", at=now),
            reports.Report(provider_id="p-old", status="undelivered", at=now),
            reports.Report(provider_id="p-none", status="delivered", at=now),
        ]
    )
    assert outcome == {"recorded": 2, "ignored": 0, "unknown": 1}
    assert list(
        Message.objects.filter(pk__in=[m.pk for m in messages])
        .order_by("-created_at")
        .values_list("delivery_status", flat=True)
    ) == [Message.Delivery.DELIVERED, Message.Delivery.UNDELIVERED]


def test_ensure_creates_the_missing_months_of_both_tables_once():
    missing = max(partitions.partitions(TABLE))
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{partitions.partition_name(TABLE, missing)}"')
    assert partitions.ensure_all_partitions() == [partitions.partition_name(TABLE, missing)]
    assert partitions.ensure_all_partitions() == []
    later = _month(partitions.MONTHS_AHEAD + 2)
    created = partitions.ensure_all_partitions(1, now=later)
    assert created == [
        partitions.partition_name(table, _month(i, later))
        for table in partitions.PARTITIONED
        for i in range(2)
    ]
    assert partitions.ensure_all_partitions(1, now=later) == []


def test_a_month_already_in_default_gets_its_partition_and_its_messages():
    later = _month(partitions.MONTHS_AHEAD + 2)
    strays = [_message_at(later + datetime.timedelta(days=d)) for d in (0, 13)]
    assert {_partition_of(m) for m in strays} == {DEFAULT}
    assert partitions.ensure_partitions(0, table=TABLE, now=later) == [
        partitions.partition_name(TABLE, later)
    ]
    assert {_partition_of(m) for m in strays} == {partitions.partition_name(TABLE, later)}
    assert _partition_of(_message_at(later - datetime.timedelta(days=500))) == DEFAULT


def test_the_beat_task_creates_the_months_of_the_receipts_too():
    entry = app.conf.beat_schedule["ensure-monthly-partitions"]
    assert entry["task"] == "pdp.tasks.ensure_monthly_partitions"
    missing = max(partitions.partitions(TABLE))
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{partitions.partition_name(TABLE, missing)}"')
    assert ensure_monthly_partitions.delay().get(timeout=5) == [
        partitions.partition_name(TABLE, missing)
    ]


def test_every_foreign_key_to_a_message_sets_null_and_has_no_constraint():
    """What dropping a partition does to the rows pointing at it (`purge_older_than` sets
    them to NULL): right only while every such key is SET_NULL."""
    fields = references_to(Message)
    assert {(f.model.__name__, f.name) for f in fields} == {
        ("Rappel", "message"),
        ("RappelSeance", "message"),
        ("Cible", "message"),
        ("Cible", "relance_message"),
    }
    for field in fields:
        assert field.remote_field.on_delete is models.SET_NULL
        assert not field.db_constraint
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE confrelid = %s::regclass", [TABLE])
        assert cursor.fetchone()[0] == 0


def _pointing_at(*messages):
    """A meeting reminder, and a campaign target (invitation, reminder) pointing at these."""
    invitation, relance = messages[0], messages[-1]
    rappel = Rappel.objects.create(
        entretien=EntretienFactory(), debut=timezone.now(), message=invitation
    )
    entretien = rappel.entretien
    unit = entretien.accompagnement.unit
    campagne = Campagne.objects.create(
        region=unit.region,
        unit=unit,
        nom="Mars",
        date_reference=datetime.date(2026, 3, 1),
        created_by=entretien.ass,
    )
    assure = AssureFactory()
    arret = ArretTravail.objects.create(
        assure=assure,
        type_arret="MAL",
        date_debut=datetime.date(2025, 11, 1),
        date_fin_prevue=datetime.date(2026, 6, 1),
    )
    cible = Cible.objects.create(
        campagne=campagne,
        assure=assure,
        arret=arret,
        canal="sms",
        created_at=timezone.now(),
        message=invitation,
        relance_message=relance,
    )
    return rappel, cible


def test_the_purge_drops_the_old_months_and_sets_the_references_to_null():
    now = timezone.now()
    days = 730
    cutoff = now - datetime.timedelta(days=days)
    boundary, old = _month(0, cutoff), _month(-2, cutoff)
    for start in (old, boundary):
        partitions.create_partition(TABLE, start)
    in_old = [_message_at(old + datetime.timedelta(days=d, hours=1)) for d in (0, 5, 20)]
    assert {_partition_of(m) for m in in_old} == {partitions.partition_name(TABLE, old)}
    before_cutoff = _message_at(
        max(boundary, cutoff - datetime.timedelta(days=2)) + datetime.timedelta(minutes=1)
    )
    after_cutoff = _message_at(cutoff + datetime.timedelta(hours=1))
    in_default = _message_at(now - datetime.timedelta(days=5 * 365))
    recent = _message_at(now)
    assert _partition_of(after_cutoff) == partitions.partition_name(TABLE, boundary)
    old_rappel, old_cible = _pointing_at(in_old[0], in_old[2])
    boundary_rappel, boundary_cible = _pointing_at(before_cutoff, in_default)
    kept_rappel, kept_cible = _pointing_at(after_cutoff, recent)

    assert Message.objects.purge_older_than(days) == 5

    assert not _exists(partitions.partition_name(TABLE, old))
    assert _exists(partitions.partition_name(TABLE, boundary))
    kept = set(Message.objects.values_list("pk", flat=True))
    assert {after_cutoff.pk, recent.pk} <= kept
    assert kept.isdisjoint({m.pk for m in in_old} | {before_cutoff.pk, in_default.pk})
    for rappel in (old_rappel, boundary_rappel):
        rappel.refresh_from_db()
        assert rappel.message_id is None
    for cible in (old_cible, boundary_cible):
        cible.refresh_from_db()
        assert (cible.message_id, cible.relance_message_id) == (None, None)
    kept_rappel.refresh_from_db()
    kept_cible.refresh_from_db()
    assert kept_rappel.message == after_cutoff
    assert (kept_cible.message, kept_cible.relance_message) == (after_cutoff, recent)
    # A second run finds nothing left.
    assert Message.objects.purge_older_than(days) == 0


def test_the_purge_drops_no_month_that_ends_after_the_cutoff():
    recent = _message_at(timezone.now() - datetime.timedelta(days=2))
    months = partitions.partitions(TABLE)
    assert Message.objects.purge_older_than(1) == 1
    assert partitions.partitions(TABLE) == months
    assert not Message.objects.filter(pk=recent.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_the_rows_keeps_the_indexes_and_is_reversible():
    """0010 back (a plain table again) with rows written there, then forward: the rows keep
    their ids and land in their months, the sequence goes on after them, the indexes keep
    their names."""
    before = [("pdp", "0009_auditlog_partitioned")]
    after = [("pdp", "0010_message_partitioned")]
    indexes = _indexes()
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        assert not partitions.is_partitioned(TABLE)
        assert _indexes() == {**indexes, f"{TABLE}_pkey": "btree (id)"}
        now = timezone.now()
        earlier = now - datetime.timedelta(days=40)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (id, created_at, channel, template, recipient, "
                "object_type, object_id, subject, body, status, provider_id, error, "
                "delivery_status) VALUES "
                "(41, %s, 'sms', 'x', '+33612345678', '', '', '', 'a', 'sent', 'p41', '', ''), "
                "(42, %s, 'sms', 'x', '+33612345678', '', '', '', 'b', 'sent', '', '', '')",
                [earlier, now],
            )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert partitions.is_partitioned(TABLE)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, tableoid::regclass::text FROM {TABLE} ORDER BY id")
            assert cursor.fetchall() == [
                (41, partitions.partition_name(TABLE, partitions.month_start(earlier))),
                (42, partitions.partition_name(TABLE, partitions.month_start(now))),
            ]
        assert _indexes() == indexes
        assert _message_at(now).pk == 43
        assert Message.objects.get(provider_id="p41").pk == 41
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        current = partitions.month_start(timezone.now())
        with connection.cursor() as cursor:
            for start, name in partitions.partitions(TABLE).items():
                if start < current:  # the months of the rows above: leave the table as it was
                    cursor.execute(f'DROP TABLE "{name}"')
