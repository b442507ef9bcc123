"""The access log partitioned by month (issue 15, item 5): migration pdp 0009, pdp.partitions,
the beat task that creates the months ahead, and the purge that drops whole months.

PostgreSQL only (on SQLite the table is a plain one and pdp.partitions does nothing)."""

import datetime
import threading

import pytest
import time_machine
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from pdp import partitions
from pdp.audit import audit
from pdp.celery import app
from pdp.models import AUDIT_TRIGGER, AuditLog
from pdp.tasks import ensure_monthly_partitions
from tests.factories import AssureFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TABLE = AuditLog._meta.db_table
DEFAULT = f"{TABLE}_default"


def _sql(statement, params=()):
    """Run `statement` in a savepoint, so that a refusal leaves the test's transaction usable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def _partition_of(row):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [row.pk])
        return cursor.fetchone()[0]


def _exists(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _row_at(moment, user=None):
    person = AssureFactory()
    with time_machine.travel(moment, tick=False):
        return audit(user=user, action=AuditLog.Action.VIEW, obj=person, assure_id=person.pk)


@pytest.fixture
def row(ass):
    return _row_at(timezone.now(), ass)


def _month(offset, now=None):
    start = partitions.month_start(now or timezone.now())
    for _ in range(abs(offset)):
        start = (
            partitions.next_month(start)
            if offset > 0
            else partitions.month_start(start - datetime.timedelta(days=1))
        )
    return start


def test_the_log_is_partitioned_by_month_with_the_next_months_ready():
    assert partitions.is_partitioned(TABLE)
    months = partitions.partitions(TABLE)
    for offset in range(partitions.MONTHS_AHEAD + 1):
        assert _month(offset) in months
    assert _exists(DEFAULT)


def test_a_row_goes_to_the_partition_of_its_month(row):
    assert _partition_of(row) == partitions.partition_name(TABLE, _month(0))
    assert AuditLog.objects.get(pk=row.pk) == row


def test_a_row_whose_month_has_no_partition_goes_to_the_default_partition():
    old = _row_at(timezone.now() - datetime.timedelta(days=5 * 365))
    assert _partition_of(old) == DEFAULT
    assert AuditLog.objects.filter(pk=old.pk).exists()


def test_every_partition_has_the_append_only_trigger():
    expected = {*partitions.partitions(TABLE).values(), DEFAULT}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = %s AND tgparentid <> 0",
            [AUDIT_TRIGGER],
        )
        assert {name for (name,) in cursor.fetchall()} == expected


def test_a_new_partition_gets_the_trigger_too():
    future = partitions.next_month(max(partitions.partitions(TABLE)))
    partitions.create_partition(TABLE, future)
    name = partitions.partition_name(TABLE, future)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass",
            [AUDIT_TRIGGER, name],
        )
        assert cursor.fetchone()


@pytest.mark.parametrize("statement", ["UPDATE {t} SET action = 'delete'", "DELETE FROM {t}"])
def test_a_raw_change_directly_on_a_partition_is_refused(row, statement):
    old = _row_at(timezone.now() - datetime.timedelta(days=5 * 365))
    for target in (_partition_of(row), DEFAULT):
        with pytest.raises(DatabaseError, match="append-only"):
            _sql(statement.format(t=target))
    assert AuditLog.objects.filter(pk__in=[row.pk, old.pk]).count() == 2


def test_deleting_a_user_sets_null_on_their_rows_in_every_partition(ass):
    rows = [
        _row_at(timezone.now(), ass),
        _row_at(timezone.now() - datetime.timedelta(days=2000), ass),
    ]
    assert {_partition_of(r) for r in rows} == {
        partitions.partition_name(TABLE, _month(0)),
        DEFAULT,
    }
    ass.delete()
    assert list(
        AuditLog.objects.filter(pk__in=[r.pk for r in rows]).values_list("user_id", flat=True)
    ) == [None, None]


def test_ensure_partitions_creates_the_months_ahead_once():
    later = _month(partitions.MONTHS_AHEAD + 2)
    created = partitions.ensure_partitions(2, now=later)
    assert created == [partitions.partition_name(TABLE, _month(i, later)) for i in range(3)]
    assert partitions.ensure_partitions(2, now=later) == []
    assert partitions.ensure_partitions() == []


def test_a_month_already_in_the_default_partition_gets_its_partition_and_its_rows():
    later = _month(partitions.MONTHS_AHEAD + 2)
    strays = [_row_at(later + datetime.timedelta(days=d)) for d in (0, 3, 27)]
    elsewhere = _row_at(later - datetime.timedelta(days=400))
    assert {_partition_of(r) for r in [*strays, elsewhere]} == {DEFAULT}
    created = partitions.ensure_partitions(1, now=later)
    name = partitions.partition_name(TABLE, later)
    assert created == [name, partitions.partition_name(TABLE, _month(1, later))]
    assert {_partition_of(r) for r in strays} == {name}
    assert _partition_of(elsewhere) == DEFAULT
    assert [AuditLog.objects.get(pk=r.pk) for r in strays] == strays
    # DEFAULT is attached again, with its trigger, and the purge door is closed.
    assert _partition_of(_row_at(later - datetime.timedelta(days=500))) == DEFAULT
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"DELETE FROM {DEFAULT}")
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"DELETE FROM {name}")


def test_the_beat_task_runs_daily_and_creates_what_is_missing():
    entry = app.conf.beat_schedule["ensure-monthly-partitions"]
    assert entry["task"] == "pdp.tasks.ensure_monthly_partitions"
    assert len(entry["schedule"].hour) == 1
    missing = max(partitions.partitions(TABLE))
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{partitions.partition_name(TABLE, missing)}"')
    assert ensure_monthly_partitions.delay().get(timeout=5) == [
        partitions.partition_name(TABLE, missing)
    ]


def test_the_purge_drops_the_old_months_and_deletes_only_in_the_boundary_month(ass, row):
    now = timezone.now()
    cutoff = now - datetime.timedelta(days=365)
    boundary, old = _month(0, cutoff), _month(-2, cutoff)
    for start in (old, boundary):
        partitions.create_partition(TABLE, start)
    in_old = [_row_at(old + datetime.timedelta(days=d, hours=1), ass) for d in (0, 5, 20)]
    assert {_partition_of(r) for r in in_old} == {partitions.partition_name(TABLE, old)}
    before_cutoff = _row_at(
        max(boundary, cutoff - datetime.timedelta(days=2)) + datetime.timedelta(minutes=1)
    )
    after_cutoff = _row_at(cutoff + datetime.timedelta(hours=1))
    in_default = _row_at(now - datetime.timedelta(days=5 * 365))
    assert _partition_of(after_cutoff) == partitions.partition_name(TABLE, boundary)

    # The rows were written in this test's transaction: run their deferred FK checks now,
    # as their commit would have (PostgreSQL drops no table with pending trigger events).
    _sql("SET CONSTRAINTS ALL IMMEDIATE")

    assert AuditLog.objects.purge_older_than(365) == 5

    assert not _exists(partitions.partition_name(TABLE, old))
    assert _exists(partitions.partition_name(TABLE, boundary))
    kept = set(AuditLog.objects.values_list("pk", flat=True))
    assert {row.pk, after_cutoff.pk} <= kept
    assert kept.isdisjoint({r.pk for r in in_old} | {before_cutoff.pk, in_default.pk})
    # The trigger still refuses other deletes, on the parent and on the boundary partition.
    for target in (TABLE, partitions.partition_name(TABLE, boundary)):
        with pytest.raises(DatabaseError, match="append-only"):
            _sql(f"DELETE FROM {target}")
    assert AuditLog.objects.filter(pk__in=[row.pk, after_cutoff.pk]).count() == 2


def test_the_purge_drops_no_month_that_ends_after_the_cutoff(row):
    months = partitions.partitions(TABLE)
    assert AuditLog.objects.purge_older_than(1) == 0
    assert partitions.partitions(TABLE) == months
    assert AuditLog.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_create_each_partition_once():
    later = _month(120)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            results.append(partitions.ensure_partitions(2, now=later))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(map(len, results)) == [0, 3]
    finally:
        with connection.cursor() as cursor:
            for i in range(3):
                cursor.execute(
                    f'DROP TABLE IF EXISTS "{partitions.partition_name(TABLE, _month(i, later))}"'
                )


def _names():
    """The indexes and foreign keys of the log, by name, with their columns."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, regexp_replace(indexdef, '.* USING ', '') FROM pg_indexes "
            "WHERE tablename = %s",
            [TABLE],
        )
        indexes = dict(cursor.fetchall())
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [TABLE],
        )
        return indexes, dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_the_rows_keeps_the_indexes_and_is_reversible():
    """0009 back (a plain table again) with rows written there, then forward: the rows keep
    their ids and land in their months, the sequence goes on after them, the indexes and the
    foreign key keep their names."""
    before = [("pdp", "0008_auditlog_append_only_trigger")]
    after = [("pdp", "0009_auditlog_partitioned")]
    indexes, foreign_keys = _names()
    assert indexes[f"{TABLE}_pkey"] == "btree (id, at)"
    assert len(indexes) == 4 and len(foreign_keys) == 1
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        assert not partitions.is_partitioned(TABLE)
        assert _names() == ({**indexes, f"{TABLE}_pkey": "btree (id)"}, foreign_keys)
        now = timezone.now()
        earlier = now - datetime.timedelta(days=40)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (id, at, action, object_type, object_id, changes) "
                "VALUES (41, %s, 'view', 'x', '1', '{}'), (42, %s, 'view', 'x', '2', '{}')",
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
        assert _names() == (indexes, foreign_keys)
        assert AuditLog.objects.create(action="view", object_type="x", object_id="3").pk == 43
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        current = partitions.month_start(timezone.now())
        with connection.cursor() as cursor:
            for start, name in partitions.partitions(TABLE).items():
                if start < current:  # the months of the rows above: leave the table as it was
                    cursor.execute(f'DROP TABLE "{name}"')
