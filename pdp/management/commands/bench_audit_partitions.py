"""Benchmark of the access log's monthly partitions (issue 15, item 5), on PostgreSQL only.

    DATABASE_URL=postgres://… manage.py bench_audit_partitions [--rows 1000000] [--singles 20000]

Everything happens in one transaction that is rolled back at the end: two scratch tables shaped
like `pdp_auditlog` (its columns, its three indexes, its append-only trigger), one plain with
the primary key (id), one partitioned by month as migration 0009 makes it (key (id, at), a
DEFAULT partition). For each it prints

1. the time of writing `--rows` rows in month 1 then `--rows` rows in month 2 with one
   `INSERT … SELECT` each (the set-based path), in rows per second;
2. the time of `--singles` one-row INSERTs (the path of a page view's audit row);
3. the time of removing month 1: a DELETE of its rows under the purge door (plain table), a
   `DROP TABLE` of its partition (partitioned table).
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
        parser.add_argument("--rows", type=int, default=1_000_000, help="rows per month")
        parser.add_argument("--singles", type=int, default=20_000, help="one-row INSERTs")

    def handle(self, *args, rows, singles, **options):
        if connection.vendor != "postgresql":
            raise CommandError("PostgreSQL only (DATABASE_URL=postgres://…).")
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                self._run(cursor, rows, singles)
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
