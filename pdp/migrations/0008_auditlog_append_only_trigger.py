"""The access log is append-only in the database too (issue 14, item 1): a PostgreSQL trigger
refuses every UPDATE and DELETE of `pdp_auditlog`, whatever the path (raw SQL, psql, another
application), except

- an UPDATE that only sets `user_id` to NULL: the FK's SET NULL when a user is deleted (the
  rows stay, without their author);
- a DELETE inside `AuditLog.objects.purge_older_than`, which sets the transaction-local
  setting `pdp.audit_purge` to « on » around its statement (the retention job);
- an UPDATE inside `AuditLog.objects.anonymise_people`, which sets `pdp.audit_anonymise` to
  « on » around its statement, and only blanks `changes` and clears `assure_id` (the retention
  job, when a person is anonymised: who read what and when stays, not whose file it was).

A function and a row trigger, nothing else: issue 15 will partition the table by month, and a
row trigger on a partitioned table applies to its partitions. TRUNCATE fires no row trigger
(the test runner empties tables with it). A no-op on SQLite (development, tests without
DATABASE_URL), where the ORM guard (`AuditLogQuerySet`) is the only one.
"""

from django.db import migrations

FUNCTION = "pdp_auditlog_append_only"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.user_id IS NULL
           AND (NEW.id, NEW.at, NEW.action, NEW.object_type, NEW.object_id, NEW.assure_id,
                NEW.changes)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.at, OLD.action, OLD.object_type, OLD.object_id, OLD.assure_id,
                OLD.changes) THEN
            RETURN NEW;
        END IF;
        IF current_setting('pdp.audit_anonymise', true) = 'on'
           AND NEW.assure_id IS NULL AND NEW.changes = '{{}}'::jsonb
           AND (NEW.id, NEW.at, NEW.user_id, NEW.action, NEW.object_type, NEW.object_id)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.at, OLD.user_id, OLD.action, OLD.object_type, OLD.object_id) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'pdp_auditlog is append-only: UPDATE refused (row %%)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_setting('pdp.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'pdp_auditlog is append-only: DELETE refused outside the retention purge (row %%)', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER {FUNCTION} BEFORE UPDATE OR DELETE ON pdp_auditlog
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
"""

DROP = f"""
DROP TRIGGER IF EXISTS {FUNCTION} ON pdp_auditlog;
DROP FUNCTION IF EXISTS {FUNCTION}();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("pdp", "0007_campaign_sending"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
