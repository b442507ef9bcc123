"""Benchmark of the monthly partitions of the access log and of the message receipts (issue 15,
item 5), on PostgreSQL only.

    DATABASE_URL=postgres://… manage.py bench_audit_partitions [--rows 1000000] [--singles 20000]
    DATABASE_URL=postgres://… manage.py bench_audit_partitions --receipts [--rows 50000]
        [--months 30] [--lookups 2000]

Everything happens in one transaction that is rolled back at the end: two scratch tables shaped
like `pdp_auditlog` (its columns, its three indexes, its append-only trigger), one plain with
the primary key (id), one partitioned by month as migration 0009 makes it (key (id, at), a
DEFAULT partition). For each it prints

1. the time of writing `--rows` rows in month 1 then `--rows` rows in month 2 with one
   `INSERT … SELECT` each (the set-based path), in rows per second;
2. the time of `--singles` one-row INSERTs (the path of a page view's audit row);
3. the time of removing month 1: a DELETE of its rows under the purge door (plain table), a
   `DROP TABLE` of its partition (partitioned table).

With `--receipts`, two scratch tables shaped like `pdp_message` (its columns and five indexes;
plain with the key (id), partitioned as migration 0010 makes it, `--months` monthly partitions
and DEFAULT), `--rows` messages a month each, every one with a provider id, and a scratch table
of references (one for every tenth message, like the campaign targets). For each it prints the
time of `--lookups` one-row lookups by `provider_id` (a delivery report) and by `id` (the
sending task), and of removing month 1 with its references set to NULL first: UPDATE then
DELETE (plain table), UPDATE then `DROP TABLE` of its partition (partitioned table).
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from pdp.models import AUDIT_TRIGGER

MONTH_1, MONTH_2, MONTH_3 = "2026-01-01 00:00+00", "2026-02-01 00:00+00", "2026-03-01 00:00+00"
COLUMNS = "at, action, object_type, object_id, assure_id, changes"


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Insert and purge speed of the access log, plain table against monthly partitions."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rows", type=int, help="rows per month (1,000,000; with --receipts 50,000)"
        )
        parser.add_argument("--singles", type=int, default=20_000, help="one-row INSERTs")
        parser.add_argument("--receipts", action="store_true", help="the messages table")
        parser.add_argument("--months", type=int, default=30, help="months of messages")
        parser.add_argument("--lookups", type=int, default=2_000, help="one-row lookups")

    def handle(self, *args, rows, singles, receipts, months, lookups, **options):
        if connection.vendor != "postgresql":
            raise CommandError("PostgreSQL only (DATABASE_URL=postgres://…).")
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                if receipts:
                    self._run_receipts(cursor, rows or 50_000, months, lookups)
                else:
                    self._run(cursor, rows or 1_000_000, singles)
                raise Rollback
        except Rollback:
            self.stdout.write("Rolled back: nothing stays in the database.")

    def _timed(self, cursor, label, sql, params=None, count=None):
        start = time.perf_counter()
        cursor.execute(sql, params)
        elapsed = time.perf_counter() - start
        rate = f", {count / elapsed:,.0f} rows/s" if count else ""
        self.stdout.write(f"  {label}: {elapsed:.3f} s{rate}")
        return elapsed

    def _create(self, cursor, table, partitioned):
        like = "LIKE pdp_auditlog INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS"
        if partitioned:
            cursor.execute(f"CREATE TABLE {table} ({like}) PARTITION BY RANGE (at)")
            for name, bounds in (
                ("p1", f"FROM ('{MONTH_1}') TO ('{MONTH_2}')"),
                ("p2", f"FROM ('{MONTH_2}') TO ('{MONTH_3}')"),
            ):
                cursor.execute(
                    f"CREATE TABLE {table}_{name} PARTITION OF {table} FOR VALUES {bounds}"
                )
            cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id, at)")
        else:
            cursor.execute(f"CREATE TABLE {table} ({like})")
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        for column in ("at", "assure_id", "user_id"):
            cursor.execute(f"CREATE INDEX ON {table} ({column})")
        cursor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {AUDIT_TRIGGER}()"
        )

    def _run(self, cursor, rows, singles):
        for table, partitioned in (("bench_audit_plain", False), ("bench_audit_part", True)):
            self.stdout.write(f"{table} ({'partitioned by month' if partitioned else 'plain'}):")
            self._create(cursor, table, partitioned)
            fill = (
                f"INSERT INTO {table} ({COLUMNS}) "
                "SELECT %s::timestamptz + g * interval '28 days' / %s, 'view', "
                "'referrals.assure', g::text, g %% 100000, '{}'::jsonb "
                "FROM generate_series(1, %s) g"
            )
            for label, month in (("month 1", MONTH_1), ("month 2", MONTH_2)):
                self._timed(
                    cursor, f"INSERT … SELECT {rows:,} rows, {label}", fill, [month, rows, rows],
                    count=rows,
                )  # fmt: skip
            single = (
                f"INSERT INTO {table} ({COLUMNS}) "
                "VALUES (now(), 'view', 'referrals.assure', %s, %s, '{}'::jsonb)"
            )
            start = time.perf_counter()
            cursor.executemany(single, [(str(i), i % 100000) for i in range(singles)])
            elapsed = time.perf_counter() - start
            self.stdout.write(
                f"  {singles:,} one-row INSERTs: {elapsed:.2f} s, {singles / elapsed:,.0f} rows/s"
            )
            if partitioned:
                self._timed(cursor, "purge month 1: DROP TABLE of its partition",
                            f"DROP TABLE {table}_p1")  # fmt: skip
            else:
                cursor.execute("SELECT set_config('pdp.audit_purge', 'on', true)")
                self._timed(
                    cursor, f"purge month 1: DELETE of {rows:,} rows",
                    f"DELETE FROM {table} WHERE at < %s", [MONTH_2],
                )  # fmt: skip
                cursor.execute("SELECT set_config('pdp.audit_purge', 'off', true)")

    def _create_receipts(self, cursor, table, months):
        like = "LIKE pdp_message INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS"
        if months:
            cursor.execute(f"CREATE TABLE {table} ({like}) PARTITION BY RANGE (created_at)")
            for i in range(months):
                cursor.execute(
                    f"CREATE TABLE {table}_p{i + 1} PARTITION OF {table} FOR VALUES "
                    f"FROM (%s::timestamptz + interval '{i} months') "
                    f"TO (%s::timestamptz + interval '{i + 1} months')",
                    [MONTH_1, MONTH_1],
                )
            cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id, created_at)")
        else:
            cursor.execute(f"CREATE TABLE {table} ({like})")
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        for columns in ("object_type, object_id", "status, send_after", "assure_id", "created_at"):
            cursor.execute(f"CREATE INDEX ON {table} ({columns})")
        cursor.execute(f"CREATE INDEX ON {table} (provider_id) WHERE provider_id <> ''")
        cursor.execute(f"CREATE TABLE {table}_refs (id bigint PRIMARY KEY, message_id bigint)")

    def _lookups(self, cursor, label, sql, values):
        start = time.perf_counter()
        for value in values:
            cursor.execute(sql, [value])
            if cursor.fetchone() is None:
                raise CommandError(f"not found: {value}")
        elapsed = time.perf_counter() - start
        self.stdout.write(
            f"  {len(values):,} lookups by {label}: {elapsed:.2f} s, "
            f"{elapsed / len(values) * 1000:.3f} ms each"
        )

    def _run_receipts(self, cursor, rows, months, lookups):
        total = rows * months
        step = max(total // lookups, 1)
        for table, partitioned in (("bench_message_plain", False), ("bench_message_part", True)):
            kind = f"partitioned, {months} months" if partitioned else "plain"
            self.stdout.write(f"{table} ({kind}, {total:,} messages):")
            self._create_receipts(cursor, table, months if partitioned else 0)
            self._timed(
                cursor, f"INSERT … SELECT {total:,} messages",
                f"INSERT INTO {table} (channel, template, recipient, object_type, object_id, "
                "subject, body, status, provider_id, error, delivery_status, created_at) "
                "SELECT 'sms', 'campagne', '+33612345678', '', '', '', 'Bonjour', 'sent', "
                "'p' || g, '', '', %s::timestamptz + (g - 1) * interval '1 month' / %s "
                "FROM generate_series(1, %s) g",
                [MONTH_1, rows, total], count=total,
            )  # fmt: skip
            cursor.execute(f"INSERT INTO {table}_refs SELECT id, id FROM {table} WHERE id % 10 = 0")
            cursor.execute(f"ANALYZE {table}")
            ids = list(range(1, total + 1, step))[:lookups]
            self._lookups(
                cursor, "provider_id (a delivery report)",
                f"SELECT id FROM {table} WHERE channel = 'sms' AND provider_id = %s",
                [f"p{i}" for i in ids],
            )  # fmt: skip
            self._lookups(cursor, "id", f"SELECT id FROM {table} WHERE id = %s", ids)
            month_1 = f"{table}_p1" if partitioned else table
            self._timed(
                cursor, "month 1: references set to NULL",
                f"UPDATE {table}_refs SET message_id = NULL WHERE message_id IN "
                f"(SELECT id FROM {month_1} WHERE created_at < %s)", [MONTH_2],
            )  # fmt: skip
            if partitioned:
                self._timed(cursor, "month 1: DROP TABLE of its partition",
                            f"DROP TABLE {table}_p1")  # fmt: skip
            else:
                self._timed(
                    cursor, f"month 1: DELETE of {rows:,} messages",
                    f"DELETE FROM {table} WHERE created_at < %s", [MONTH_2],
                )  # fmt: skip
