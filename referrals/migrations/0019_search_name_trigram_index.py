"""A trigram index serving the person search (`cases.search`), on PostgreSQL only.

`search_name` is already the normalised text the search reads (lower-cased, accents dropped by
`build_search_name`, the one rule shared by the import, the ORM and the generator), and the
search looks for each word anywhere in it (`LIKE '%mot%'`): a GIN index with pg_trgm's
`gin_trgm_ops` serves exactly that, without a second normalisation in SQL. Built CONCURRENTLY
(so outside a transaction) so that a deployment on a full table does not block the writes. On
SQLite (`make run` without DATABASE_URL) this migration does nothing and the search scans.
"""

from django.db import migrations

INDEX = "referrals_assure_search_name_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a "trusted" extension (PostgreSQL ≥ 13): the database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
        "ON referrals_assure USING gin (search_name gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("referrals", "0018_indicator_indexes"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
