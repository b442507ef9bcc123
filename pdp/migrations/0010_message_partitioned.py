"""The message receipts partitioned by month (issue 15, item 5; README « Partitioned access log
and receipts »), as 0009 did for the access log. PostgreSQL only: on SQLite the table stays a
plain one and this does nothing.

`pdp_message` is rebuilt as a table `PARTITION BY RANGE (created_at)`:

- one partition per calendar month (UTC bounds), `pdp_message_pYYYY_MM`, from the month of the
  oldest message (or the current month) to MONTHS_AHEAD months ahead — then the daily beat task
  `pdp.tasks.ensure_monthly_partitions` keeps them ahead — and a DEFAULT partition,
  `pdp_message_default`, for a message whose month has none;
- the rows copied (ids kept, the identity sequence set after the largest);
- the same indexes under the same names (`message_object_idx`, `message_status_idx`, the
  partial `message_provider_idx`, `assure_id`, `created_at`); the primary key becomes
  (id, created_at), because a unique constraint of a partitioned table must contain the
  partition key. The ORM keeps `id` as the model's primary key (ids come from one sequence, so
  they stay unique). Nothing may reference the table by `id` alone any more: outreach 0008,
  run before this one, dropped the constraints of the four foreign keys to it (they keep
  `SET_NULL` in Django, and `Message.objects.purge_older_than` sets them to NULL before it
  drops a month); a constraint still pointing here stops the migration with its name.

One transaction; the table is locked while its rows are copied (fine at the sizes a deployment
has when it migrates; on a large table, run it in a maintenance window). Reversible: the
reverse rebuilds a plain table the same way.
"""

import datetime

from django.db import migrations

TABLE = "pdp_message"
KEY = "created_at"
OLD = "pdp_message_unpartitioned"
MONTHS_AHEAD = 3


def _next_month(start):
    return (start + datetime.timedelta(days=32)).replace(day=1)


def _month_start(moment):
    moment = moment.astimezone(datetime.UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def _rebuild(cursor, *, partitioned):
    """Replaces TABLE by a copy of itself, partitioned by month or plain."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE confrelid = %s::regclass AND contype = 'f' AND conparentid = 0",
        [TABLE],
    )
    if pointing := cursor.fetchall():
        raise RuntimeError(
            f"{TABLE} is still referenced by foreign key constraints {pointing}: declare those "
            "fields db_constraint=False first (as outreach 0008 does)."
        )
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname <> %s",
        [TABLE, f"{TABLE}_pkey"],
    )
    indexes = [definition for _, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' AND conparentid = 0",
        [TABLE],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    (sequence,) = cursor.fetchone()

    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {OLD}_id_seq")
    like = (
        f"LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
        "INCLUDING STORAGE INCLUDING COMMENTS"
    )
    if partitioned:
        cursor.execute(f"CREATE TABLE {TABLE} ({like}) PARTITION BY RANGE ({KEY})")
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f"SELECT min({KEY}), now() FROM {OLD}")
        oldest, now = cursor.fetchone()
        start, last = _month_start(oldest or now), _month_start(now)
        for _ in range(MONTHS_AHEAD):
            last = _next_month(last)
        while start <= last:
            end = _next_month(start)
            cursor.execute(
                f"CREATE TABLE {TABLE}_p{start:%Y_%m} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
            start = end
    else:
        cursor.execute(f"CREATE TABLE {TABLE} ({like})")
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
        f"COALESCE((SELECT max(id) FROM {TABLE}), 0) + 1, false)"
    )
    cursor.execute(f"DROP TABLE {OLD}")  # its indexes and sequence with it

    key = f"(id, {KEY})" if partitioned else "(id)"
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY {key}")
    for definition in indexes:
        cursor.execute(definition.replace(" ON ONLY ", " ON "))  # a partitioned index's
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")


def _on_postgresql(partitioned):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                _rebuild(cursor, partitioned=partitioned)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("pdp", "0009_auditlog_partitioned"),
        ("outreach", "0008_message_fk_without_constraint"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(True), _on_postgresql(False), elidable=False),
    ]
