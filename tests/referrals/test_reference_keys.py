"""The extract's keys to reference tables without a database constraint (issue 15, item 3):
what the constraints guaranteed still holds (`referrals.models.REFERENCE_KEYS_WITHOUT_CONSTRAINT`,
migration 0023)."""

import io
import threading

import pytest
from django.apps import apps
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import ProtectedError

from referrals.importer import import_extract
from referrals.models import (
    REFERENCE_KEYS_WITHOUT_CONSTRAINT,
    ArretTravail,
    Assure,
    CpamImport,
    CpamImportCaisse,
)
from tests.factories import CpamFactory
from tests.referrals.test_import import build_extract, extract_row

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger and the locks are PostgreSQL's"
)


def constraint_columns(model):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {tuple(c["columns"]) for c in constraints.values() if c["foreign_key"]}


def test_only_the_reference_keys_lost_their_constraint(db):
    for label, name in REFERENCE_KEYS_WITHOUT_CONSTRAINT:
        field = apps.get_model(label)._meta.get_field(name)
        assert not field.db_constraint
        assert (field.column,) not in constraint_columns(field.model)
    # The person's own key keeps it.
    assert ("assure_id",) in constraint_columns(ArretTravail)


def import_one(cpam):
    data = build_extract([extract_row(1, code_caisse=cpam.code)])
    return import_extract(io.BytesIO(data), file_name="extrait.csv")


def test_a_referenced_cpam_cannot_be_deleted_by_django_nor_in_sql(db):
    cpam = CpamFactory(code="761")
    import_one(cpam)
    Assure.objects.update(cpam=None)  # only the arrêt refers to it now
    with pytest.raises(ProtectedError):
        cpam.delete()
    with (
        pytest.raises(IntegrityError, match="encore référencée"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM pdp_cpamoffice WHERE id = %s", [cpam.pk])
    with (
        pytest.raises(IntegrityError, match="encore référencée"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE pdp_cpamoffice SET id = id + 1000 WHERE id = %s", [cpam.pk])
    ArretTravail.objects.update(cpam=None)
    CpamImportCaisse.objects.all().delete()  # these keep their constraint
    CpamImport.objects.update(cpam=None)
    with connection.cursor() as cursor:  # referenced by nothing: it goes
        cursor.execute("UPDATE pdp_cpamoffice SET name = 'renommée' WHERE id = %s", [cpam.pk])
        cursor.execute("DELETE FROM pdp_cpamoffice WHERE id = %s", [cpam.pk])
        assert cursor.rowcount == 1


@pytest.mark.django_db(transaction=True)
def test_a_cpam_cannot_be_deleted_while_an_import_writing_it_runs():
    cpam = CpamFactory(code="761")
    outcome = {}
    deleting, done = threading.Event(), threading.Event()

    def other_session():
        try:
            deleting.wait(10)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
                cursor.execute("DELETE FROM pdp_cpamoffice WHERE id = %s", [cpam.pk])
            outcome["deleted"] = True
        except OperationalError as exc:
            outcome["error"] = getattr(exc.__cause__, "pgcode", None)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=other_session)
    thread.start()
    try:
        with transaction.atomic():
            import_one(cpam)  # not committed yet: its rows are invisible to the other session
            deleting.set()
            assert done.wait(10)
    finally:
        deleting.set()
        thread.join()
    assert outcome == {"error": "55P03"}  # lock_not_available: the import's FOR KEY SHARE
    assert ArretTravail.objects.get().cpam_id == cpam.pk


def test_an_import_by_a_role_that_owns_no_table_still_runs(db):
    """A worker role with the usual grants but not the owner of the tables (README « Database:
    timeouts… »): the merge of the names' index, which only the owner may run, is left to
    autovacuum instead of failing the import."""
    cpam = CpamFactory(code="761")
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE pdp_test_not_owner")  # rolled back with the test
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
            "TO pdp_test_not_owner"
        )
        cursor.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pdp_test_not_owner")
        cursor.execute("SET LOCAL ROLE pdp_test_not_owner")
    cpam_import = import_one(cpam)
    assert cpam_import.rows_created == 1
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert ArretTravail.objects.get().cpam_id == cpam.pk
