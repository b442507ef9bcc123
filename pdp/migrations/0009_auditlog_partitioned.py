"""The access log partitioned by month (issue 15, item 5; README « Partitioned access log and
receipts »). PostgreSQL only: on SQLite the table stays a plain one and this does nothing.

`pdp_auditlog` is rebuilt as a table `PARTITION BY RANGE (at)`:

- one partition per calendar month (UTC bounds), `pdp_auditlog_pYYYY_MM`, from the month of
  the oldest row (or the current month) to MONTHS_AHEAD months ahead — then the daily beat task
  `pdp.tasks.ensure_audit_partitions` keeps them ahead — and a DEFAULT partition,
  `pdp_auditlog_default`, for a row whose month has none;
- the rows copied (ids kept, the identity sequence set after the largest);
- the same indexes and foreign key, under the same names; the primary key becomes
  (id, at), because a unique constraint of a partitioned table must contain the partition key.
  The ORM keeps `id` as the model's primary key (ids come from one sequence, so they stay
  unique): nothing points at the log, no composite key is needed in Django;
- the append-only trigger of 0008 created on the partitioned table, which PostgreSQL clones to
  every partition, present and future: a raw UPDATE or DELETE is refused on the parent and on
  a partition alike.

One transaction; the table is locked while its rows are copied (fine at the sizes a deployment
has when it migrates; on a large log, run it in a maintenance window). Reversible: the reverse
rebuilds a plain table the same way.
"""

import datetime

from django.db import migrations

TABLE = "pdp_auditlog"
OLD = "pdp_auditlog_unpartitioned"
TRIGGER = "pdp_auditlog_append_only"
MONTHS_AHEAD = 3


def _next_month(start):
    return (start + datetime.timedelta(days=32)).replace(day=1)


def _month_start(moment):
    moment = moment.astimezone(datetime.UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def _rebuild(cursor, *, partitioned):
    """Replaces TABLE by a copy of itself, partitioned by month or plain."""
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
        cursor.execute(f"CREATE TABLE {TABLE} ({like}) PARTITION BY RANGE (at)")
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f"SELECT min(at), now() FROM {OLD}")
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
    cursor.execute(f"DROP TABLE {OLD}")  # its trigger, indexes and sequence with it

    key = "(id, at)" if partitioned else "(id)"
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY {key}")
    for definition in indexes:
        cursor.execute(definition.replace(" ON ONLY ", " ON "))  # a partitioned index's
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
    cursor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
    )


def _on_postgresql(partitioned):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                _rebuild(cursor, partitioned=partitioned)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("pdp", "0008_auditlog_append_only_trigger"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(True), _on_postgresql(False), elidable=False),
    ]
