"""The extract's keys to reference tables without a database constraint (issue 15, item 3).

`Assure.cpam`, `ArretTravail.cpam` and `ArretTravail.last_import` keep their column, their
index and Django's `on_delete`; PostgreSQL no longer checks them on every row an import writes
(`referrals.models.REFERENCE_KEYS_WITHOUT_CONSTRAINT`). On PostgreSQL a trigger keeps what the
constraints on the CPAM guaranteed to a DELETE in SQL: a CPAM still referenced by an assuré or
an arrêt cannot be deleted (nor its id changed); a CpamImport is never deleted.
"""

import django.db.models.deletion
from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION pdp_cpamoffice_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM referrals_assure WHERE cpam_id = OLD.id)
       OR EXISTS (SELECT 1 FROM referrals_arrettravail WHERE cpam_id = OLD.id) THEN
        RAISE EXCEPTION 'La CPAM % est encore référencée par des assurés ou des arrêts.', OLD.code
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER pdp_cpamoffice_referenced
    BEFORE DELETE OR UPDATE OF id ON pdp_cpamoffice
    FOR EACH ROW EXECUTE FUNCTION pdp_cpamoffice_referenced();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS pdp_cpamoffice_referenced ON pdp_cpamoffice;
DROP FUNCTION IF EXISTS pdp_cpamoffice_referenced();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("pdp", "0010_message_partitioned"),
        ("referrals", "0022_unit_index_with_person"),
    ]

    operations = [
        migrations.AlterField(
            model_name="arrettravail",
            name="cpam",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="pdp.cpamoffice",
                verbose_name="CPAM",
            ),
        ),
        migrations.AlterField(
            model_name="arrettravail",
            name="last_import",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="referrals.cpamimport",
                verbose_name="dernier import",
            ),
        ),
        migrations.AlterField(
            model_name="assure",
            name="cpam",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="pdp.cpamoffice",
                verbose_name="CPAM",
            ),
        ),
        migrations.RunPython(guard, unguard, elidable=False),
    ]
