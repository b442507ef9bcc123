"""Monthly range partitions of the access log and of the message receipts (issue 15, item 5;
README « Partitioned access log and receipts »).

On PostgreSQL, migration pdp 0009 makes `pdp_auditlog` a table `PARTITION BY RANGE (at)`, and
migration pdp 0010 makes `pdp_message` one `PARTITION BY RANGE (created_at)` (`PARTITIONED`:
each table with its partition key): one partition per calendar month (UTC bounds), named
`<table>_pYYYY_MM`, and a DEFAULT partition, `<table>_default`, that catches a row whose month
has no partition (an old date, or the beat task not run for months), so that no write ever
fails.

- `ensure_partitions` creates the partitions of the current month and the next
  `months_ahead` ones of one table, `ensure_all_partitions` of every table of `PARTITIONED`
  (the daily beat task `pdp.tasks.ensure_monthly_partitions`). Idempotent, and safe with two
  workers: a transaction-level advisory lock serialises the runs and
  `CREATE TABLE IF NOT EXISTS` makes a second one a no-op. Rows of that month already in the
  DEFAULT partition (the task not run for months) are moved into the new partition.
- `drop_partitions_before` drops the monthly partitions wholly older than a cutoff, for
  `AuditLog.objects.purge_older_than` and `Message.objects.purge_older_than` (the retention
  job): the rows of those months go with a `DROP TABLE`, no row trigger, no dead tuples, no
  vacuum; the boundary month and the DEFAULT partition are left to the purge's DELETE.
  Columns that point at the table without a constraint (`references`: the outreach foreign
  keys to `pdp.Message`, `db_constraint=False` since a partitioned table's key is
  `(id, created_at)`) are set to NULL for the partition's rows first, in the drop's
  transaction, as their `on_delete=SET_NULL` would.

On SQLite (development without DATABASE_URL) the table is a plain table and every function
here does nothing.
"""

import datetime
import logging
import re

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

AUDIT_TABLE = "pdp_auditlog"
MESSAGE_TABLE = "pdp_message"
# Every partitioned table, with its partition key (a timestamptz column).
PARTITIONED = {AUDIT_TABLE: "at", MESSAGE_TABLE: "created_at"}
MONTHS_AHEAD = 3

# pg_advisory_xact_lock key of ensure_partitions ("PDPPARTS" in ASCII-ish).
LOCK_KEY = 0x50445050_41525453 & 0x7FFFFFFFFFFFFFFF

# A DROP of a partition takes an ACCESS EXCLUSIVE lock on the whole log for an instant; it
# waits at most this long behind a long query instead of queueing every page's audit write.
DROP_LOCK_TIMEOUT = "5s"


def month_start(moment):
    """The first instant (UTC) of the month of `moment` (a date or an aware datetime)."""
    if isinstance(moment, datetime.datetime):
        moment = moment.astimezone(datetime.UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def next_month(start):
    return (start + datetime.timedelta(days=32)).replace(day=1)


def partition_name(table, start):
    return f"{table}_p{start:%Y_%m}"


def _name_pattern(table):
    return re.compile(rf"^{re.escape(table)}_p(\d{{4}})_(\d{{2}})$")


def is_partitioned(table=AUDIT_TABLE, using="default"):
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table]
        )
        return cursor.fetchone() is not None


def partitions(table=AUDIT_TABLE, using="default"):
    """{month start: partition name} of the monthly partitions of `table` (the DEFAULT one and
    partitions not named by `partition_name` are left out)."""
    pattern = _name_pattern(table)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = {}
    for name in names:
        if match := pattern.match(name):
            year, month = map(int, match.groups())
            found[datetime.datetime(year, month, 1, tzinfo=datetime.UTC)] = name
    return dict(sorted(found.items()))


def create_partition_sql(table, start):
    end = next_month(start)
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition_name(table, start)}" PARTITION OF "{table}" '
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def create_partition(table, start, using="default"):
    """Creates the partition of the month beginning at `start` if it is missing. If the DEFAULT
    partition already holds rows of that month (PostgreSQL then refuses: check_violation),
    they are moved to the new partition (`_create_moving_default_rows`)."""
    connection = connections[using]
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(create_partition_sql(table, start))
    except IntegrityError as exc:
        if getattr(exc.__cause__, "pgcode", None) != "23514":  # check_violation
            raise
        moved = _create_moving_default_rows(table, start, using)
        logger.warning("partitions: %s created, %s rows moved from DEFAULT", start, moved)


def _create_moving_default_rows(table, start, using):
    """In one transaction, the table locked (ACCESS EXCLUSIVE, by the DETACH): DEFAULT
    detached, the month's partition created, the month's rows copied into it and deleted from
    DEFAULT (the rows move, none is lost; a detached partition of the log loses its clone of
    the append-only trigger, the purge door is opened anyway in case it had one), DEFAULT
    attached again, which gives it back the trigger."""
    default, name, key = f"{table}_default", partition_name(table, start), PARTITIONED[table]
    bounds = [start, next_month(start)]
    within = f'"{key}" >= %s AND "{key}" < %s'
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" DETACH PARTITION "{default}"')
        cursor.execute(create_partition_sql(table, start))
        cursor.execute(f'INSERT INTO "{name}" SELECT * FROM "{default}" WHERE {within}', bounds)
        cursor.execute("SELECT set_config('pdp.audit_purge', 'on', true)")
        cursor.execute(f'DELETE FROM "{default}" WHERE {within}', bounds)
        moved = cursor.rowcount
        cursor.execute("SELECT set_config('pdp.audit_purge', 'off', true)")
        cursor.execute(f'ALTER TABLE "{table}" ATTACH PARTITION "{default}" DEFAULT')
    return moved


def ensure_partitions(months_ahead=MONTHS_AHEAD, *, table=AUDIT_TABLE, now=None, using="default"):
    """Creates the monthly partitions of the current month and the `months_ahead` next ones
    that are missing; returns the names created (none on a second run, nor on SQLite)."""
    if not is_partitioned(table, using):
        return []
    start = month_start(now or timezone.now())
    created = []
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        existing = partitions(table, using)
        for _ in range(months_ahead + 1):
            if start not in existing:
                create_partition(table, start, using)
                created.append(partition_name(table, start))
            start = next_month(start)
    if created:
        logger.info("partitions: created %s", ", ".join(created))
    return created


def ensure_all_partitions(months_ahead=MONTHS_AHEAD, *, now=None, using="default"):
    """`ensure_partitions` of every table of PARTITIONED; returns the names created."""
    return [
        name
        for table in PARTITIONED
        for name in ensure_partitions(months_ahead, table=table, now=now, using=using)
    ]


def null_references_sql(source, references):
    """The UPDATEs that set to NULL the columns `references` ((table, column), …) pointing at
    a row of `source` (a table or a partition of it, with an `id`)."""
    return [
        f'UPDATE "{table}" SET "{column}" = NULL WHERE "{column}" IN (SELECT id FROM "{source}")'
        for table, column in references
    ]


def drop_partitions_before(cutoff, *, table=AUDIT_TABLE, references=(), using="default"):
    """Drops the monthly partitions whose every row is older than `cutoff` (their month ends
    at or before it); returns how many rows went with them. Each drop is its own short
    transaction (or savepoint, inside a caller's transaction): the `references` to the
    partition's rows set to NULL (one UPDATE each, before the lock: nothing new points at a
    month that old), then the table locked, the partition counted and dropped."""
    if not is_partitioned(table, using):
        return 0
    connection = connections[using]
    dropped = 0
    for start, name in partitions(table, using).items():
        if next_month(start) > cutoff:
            break
        with transaction.atomic(using=using), connection.cursor() as cursor:
            for statement in null_references_sql(name, references):
                cursor.execute(statement)
            cursor.execute("SELECT current_setting('lock_timeout')")
            (previous,) = cursor.fetchone()
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DROP_LOCK_TIMEOUT])
            cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            cursor.execute(f'SELECT count(*) FROM "{name}"')
            (rows,) = cursor.fetchone()
            cursor.execute(f'DROP TABLE "{name}"')
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        logger.info("partitions: dropped %s (%s rows)", name, rows)
        dropped += rows
    return dropped
