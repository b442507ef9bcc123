"""The access log is append-only in the database itself (issue 14, item 1): the trigger of
migration pdp 0008 refuses UPDATE and DELETE of `pdp_auditlog` from raw SQL too, except the
FK's SET NULL when a user is deleted and the retention purge (`purge_older_than`).

Since migration 0009 the table is partitioned by month: these statements go through the
partitioned table, and the trigger cloned on each partition refuses them (an UPDATE of `at`
that would move a row to another month included); tests/pdp/test_audit_partitions.py aims at
the partitions themselves.

PostgreSQL only (the trigger is not created on SQLite, where the ORM guard is the only one)."""

import datetime

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from pdp.audit import audit
from pdp.models import AUDIT_TRIGGER, AuditLog
from tests.factories import AssureFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TABLE = AuditLog._meta.db_table


@pytest.fixture
def row(ass):
    person = AssureFactory()
    return audit(user=ass, action=AuditLog.Action.VIEW, obj=person, assure_id=person.pk)


def _sql(statement, params=()):
    """Run `statement` in a savepoint, so that a refusal leaves the test's transaction usable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


@pytest.mark.parametrize(
    "assignment",
    [
        "action = 'delete'",
        "assure_id = assure_id + 1",
        'changes = \'{"page": "autre"}\'::jsonb',
        "at = at - interval '400 days'",
        "user_id = NULL, action = 'delete'",
    ],
)
def test_a_raw_update_is_refused(row, assignment):
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"UPDATE {TABLE} SET {assignment} WHERE id = %s", [row.pk])
    stored = AuditLog.objects.get(pk=row.pk)
    assert (stored.action, stored.assure_id, stored.at, stored.user_id) == (
        row.action,
        row.assure_id,
        row.at,
        row.user_id,
    )


def test_a_raw_update_giving_the_row_to_another_user_is_refused(row):
    other = UserFactory()
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"UPDATE {TABLE} SET user_id = %s WHERE id = %s", [other.pk, row.pk])


def test_a_raw_delete_is_refused(row):
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"DELETE FROM {TABLE} WHERE id = %s", [row.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"DELETE FROM {TABLE}")
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_deleting_a_user_keeps_their_rows_without_author(row, ass):
    ass.delete()
    stored = AuditLog.objects.get(pk=row.pk)
    assert stored.user_id is None
    assert (stored.action, stored.assure_id, stored.changes) == (
        row.action,
        row.assure_id,
        row.changes,
    )


def test_the_purge_deletes_the_old_rows_and_nothing_else_after_it(ass, row):
    person = AssureFactory()
    with time_machine.travel(timezone.now() - datetime.timedelta(days=400)):
        old = audit(user=ass, action=AuditLog.Action.VIEW, obj=person, assure_id=person.pk)
    assert AuditLog.objects.purge_older_than(365) == 1
    assert not AuditLog.objects.filter(pk=old.pk).exists()
    # The purge's permission ends with its statement, even inside a longer transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pdp.audit_purge', true)")
        assert cursor.fetchone()[0] == "off"
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"DELETE FROM {TABLE} WHERE id = %s", [row.pk])
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_the_trigger_is_installed_on_the_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [TABLE],
        )
        assert [name for (name,) in cursor.fetchall()] == [AUDIT_TRIGGER]


def test_anonymising_a_person_blanks_their_rows_and_nothing_else_after_it(ass, row):
    other = audit(
        user=ass,
        action=AuditLog.Action.VIEW,
        obj=row,
        assure_id=row.assure_id + 1,
        changes={"page": "fiche"},
    )
    with transaction.atomic():
        assert AuditLog.objects.anonymise_people([row.assure_id]) == 1
        # The setting is off again: the rest of the transaction cannot blank other rows.
        with pytest.raises(DatabaseError, match="append-only"):
            _sql(
                f"UPDATE {TABLE} SET changes = '{{}}'::jsonb, assure_id = NULL WHERE id = %s",
                [other.pk],
            )
    stored = AuditLog.objects.get(pk=row.pk)
    assert (stored.changes, stored.assure_id, stored.user_id, stored.action) == (
        {},
        None,
        row.user_id,
        row.action,
    )
    assert AuditLog.objects.get(pk=other.pk).changes == {"page": "fiche"}


def test_a_raw_blanking_outside_the_retention_job_is_refused(row):
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(
            f"UPDATE {TABLE} SET changes = '{{}}'::jsonb, assure_id = NULL WHERE id = %s", [row.pk]
        )
