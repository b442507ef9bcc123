"""Which database a read goes to (README « Production », replica).

The reporting replica, when `REPORTING_DATABASE_URL` configures one, serves only the code that
asks for it by name: the indicators page and its CSV and XLSX exports read there with
`.using(reporting_alias())`. A replica lags the primary by a moment, which aggregated figures
can afford and the page of a person cannot (read-your-writes): nothing else reads there.
"""

from django.conf import settings
from django.db import connection


def reporting_alias():
    """The alias of the reporting replica, or of the primary when none is configured."""
    return settings.REPORTING_DATABASE_ALIAS


def timeouts_at_least(*, statement, lock):
    """Within the current transaction, raise this process's `statement_timeout` and
    `lock_timeout` (settings DB_STATEMENT_TIMEOUT and DB_LOCK_TIMEOUT, by PDP_PROCESS_ROLE) to
    at least `statement` and `lock` seconds: for the rare web request that does a job's work.
    `SET LOCAL`, so it ends with the transaction (also behind PgBouncer); 0 (no limit) stays."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name, current, wanted in (
            ("statement_timeout", settings.DB_STATEMENT_TIMEOUT, statement),
            ("lock_timeout", settings.DB_LOCK_TIMEOUT, lock),
        ):
            if current and current < wanted:
                cursor.execute(f"SET LOCAL {name} = '{int(wanted)}s'")
