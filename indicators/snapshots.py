"""The nightly snapshots (issue 13, item 7).

`compute_region(region_id)` computes, for one region, every indicator of the catalogue over
the last `MONTHS` complete months and the current month up to yesterday: a month already
stored is recomputed only while it is one of the last INDICATORS_RECOMPUTE_MONTHS — figures of
recent months still move (a first contact made late, a dispositif accordé since) — and older
ones are frozen, so that the people anonymised by the retention job (privacy.retention) after
two years without activity stay counted in them; months never stored are computed. In one
transaction: the region's rows are locked, its old cells deleted and the new ones inserted,
set-based (one grouped query per indicator for what happened in the months, one per whole
month for what stood at its end), then the rollups. Running it twice, or on two workers at
once, gives the same rows (the second waits for the first's lock). Pages count live only what
no snapshot covers: today, and the days of a month not computed.

`stored(...)` reads cells back for a page; `covered(...)` says which months a page may read.
"""

import datetime

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from indicators import counting
from indicators.models import Snapshot, SnapshotMonth
from indicators.periods import month_end, month_start, shift
from pdp.db import reporting_alias
from pdp.models import Region

MONTHS = 36
BATCH = 5000


def window(today=None):
    """[(first day, last day counted)] of the months a run computes: the `MONTHS` before the
    current one, whole, and the current one up to yesterday (none on its first day)."""
    today = today or timezone.localdate()
    current = month_start(today)
    months = [(shift(current, -n), month_end(shift(current, -n))) for n in range(MONTHS, 0, -1)]
    if today > current:
        months.append((current, today - datetime.timedelta(days=1)))
    return months


def _rows(indicator, cells, part, region_id):
    for cell in cells:
        yield Snapshot(
            code=indicator.code,
            version=indicator.version,
            month=cell["_month"],
            part=part,
            region_id=region_id,
            unit_id=cell["_unit"],
            cpam_id=cell["_cpam"],
            mission=cell["_mission"],
            type_arret=cell["_type_arret"],
            row=cell["_row"][:100],
            col=cell["_col"][:100],
            n=cell["n"],
        )


def _rollup(indicator, region_id, months):
    """The indicator's rollup cells of the region for `months`: its cells summed over the
    filters (BY_UNIT), then over the units too (BY_REGION) — an INSERT … SELECT each."""
    table = Snapshot._meta.db_table
    placeholders = ", ".join(["%s"] * len(months))
    for level, unit, source in (
        (Snapshot.BY_UNIT, "unit_id", Snapshot.DETAIL),
        (Snapshot.BY_REGION, "NULL", Snapshot.BY_UNIT),
    ):
        group = "code, version, month, part, region_id, row, col"
        if unit != "NULL":
            group += ", unit_id"
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (code, version, month, part, region_id, unit_id, cpam_id,
                                     mission, type_arret, row, col, n, rollup)
                SELECT code, version, month, part, region_id, {unit}, NULL, NULL, NULL, row,
                       col, SUM(n), %s
                FROM {table}
                WHERE code = %s AND version = %s AND region_id = %s AND month IN ({placeholders})
                      AND rollup = %s
                GROUP BY {group}
                """,
                [level, indicator.code, indicator.version, region_id, *months, source],
            )


def to_compute(indicator, region_id, months, today=None):
    """The (month, until) of `months` this run computes for the indicator: every month of the
    last INDICATORS_RECOMPUTE_MONTHS (figures still move), and the older ones only when not
    stored yet up to their end. Older months are frozen: a person anonymised since
    (privacy.retention, after two years without activity) stays counted in them."""
    today = today or timezone.localdate()
    recent = shift(month_start(today), -settings.INDICATORS_RECOMPUTE_MONTHS)
    stored_until = dict(
        SnapshotMonth.objects.filter(
            code=indicator.code,
            version=indicator.version,
            region_id=region_id,
            month__in=[month for month, _until in months],
        ).values_list("month", "until")
    )
    return [
        (month, until)
        for month, until in months
        if month >= recent or stored_until.get(month) is None or stored_until[month] < until
    ]


def compute_region(region_id, *, catalogue=None, today=None):
    """Recompute the region's snapshots (see the module's docstring); the number of cells."""
    from indicators.catalogue import CATALOGUE

    indicators = catalogue if catalogue is not None else CATALOGUE
    window_months = window(today)
    now = timezone.now()
    written = 0
    with transaction.atomic():
        Region.objects.select_for_update().filter(pk=region_id).first()
        for indicator in indicators:
            months = to_compute(indicator, region_id, window_months, today)
            if not months:
                continue
            firsts = [month for month, _until in months]
            Snapshot.objects.filter(
                region_id=region_id, code=indicator.code, month__in=firsts
            ).delete()
            SnapshotMonth.objects.filter(
                region_id=region_id, code=indicator.code, month__in=firsts
            ).delete()
            rows = []
            if counting.FLOW_PART in counting.parts(indicator):
                cells = counting.snapshot_flow(indicator, region_id, firsts[0], months[-1][1])
                wanted = set(firsts)
                cells = [cell for cell in cells if cell["_month"] in wanted]
                rows += _rows(indicator, cells, counting.FLOW_PART, region_id)
            if counting.STOCK_PART in counting.parts(indicator):
                # What stands at the end of each whole month (not of the current one).
                for month, until in months:
                    if until == month_end(month):
                        cells = counting.snapshot_stock(indicator, region_id, month)
                        rows += _rows(indicator, cells, counting.STOCK_PART, region_id)
            Snapshot.objects.bulk_create(rows, batch_size=BATCH)
            written += len(rows)
            _rollup(indicator, region_id, firsts)
            SnapshotMonth.objects.bulk_create(
                SnapshotMonth(
                    code=indicator.code,
                    version=indicator.version,
                    region_id=region_id,
                    month=month,
                    until=until,
                    computed_at=now,
                )
                for month, until in months
            )
    return written


def covered(scope, months):
    """{(code, version, month): last day counted} the snapshots cover for the whole of `scope`
    among `months`: computed for its region, or for every region for the nation (up to the
    earliest of their last days). Two queries at most."""
    if scope.level == "instances" or not months:
        return {}
    qs = SnapshotMonth.objects.using(reporting_alias()).filter(month__in=months)
    if scope.region_id is not None:
        qs = qs.filter(region_id=scope.region_id)
        return {
            (c, v, m): until
            for c, v, m, until in qs.values_list("code", "version", "month", "until")
        }
    total = Region.objects.using(reporting_alias()).count()
    rows = (
        qs.values("code", "version", "month")
        .order_by()
        .annotate(n=Count("region_id"), until=Min("until"))
    )
    return {(r["code"], r["version"], r["month"]): r["until"] for r in rows if r["n"] >= total}


def last_run(scope):
    """When the snapshots the scope reads were last computed (the oldest of its regions'
    latest runs for the nation), or None. One query."""
    if scope.level == "instances":
        return None
    qs = SnapshotMonth.objects.using(reporting_alias()).all()
    if scope.region_id is not None:
        qs = qs.filter(region_id=scope.region_id)
    latest = qs.values("region_id").order_by().annotate(at=Max("computed_at"))
    return min((row["at"] for row in latest), default=None)


def _level(scope, filters):
    """The rollup level a page reads: the cells with a filter, else those summed over the
    filters (per unit), or over the units too for the nation."""
    if filters:
        return Snapshot.DETAIL
    if scope.unit_id is None and scope.region_id is None:
        return Snapshot.BY_REGION
    return Snapshot.BY_UNIT


FILTER_COLUMNS = {"cpam": "cpam_id", "mission": "mission", "type_arret": "type_arret"}


def _scoped(qs, scope, filters):
    """The snapshot rows of `scope` at the rollup level the page reads, with `filters`."""
    if scope.unit_id is not None:
        qs = qs.filter(unit_id=scope.unit_id)
    elif scope.region_id is not None:
        qs = qs.filter(region_id=scope.region_id)
    return qs.filter(
        rollup=_level(scope, filters),
        **{FILTER_COLUMNS[name]: value for name, value in (filters or {}).items()},
    )


def _cell(r):
    return {
        "_row": r["row"],
        "_col": r["col"],
        "_unit": r["unit_id"],
        "_region": r["region_id"],
        "n": r["total"],
    }


def stored(indicator, scope, filters, part, months):
    """The cells of `months` in the snapshots, summed per row, column, unit and region."""
    if not months:
        return []
    qs = Snapshot.objects.using(reporting_alias()).filter(
        code=indicator.code, version=indicator.version, part=part, month__in=months
    )
    qs = _scoped(qs, scope, filters)
    rows = qs.values("row", "col", "unit_id", "region_id").order_by().annotate(total=Sum("n"))
    return [_cell(r) for r in rows]


def _batches(keys):
    """`keys` [(code, version, part, months)] in batches whose reads share no month of an
    indicator's part (a snapshot row then belongs to one read of its batch): one batch for a
    page's usual reads, whose periods do not overlap."""
    batches = []
    for key in keys:
        code, version, part, months = key
        for batch, seen in batches:
            if not any((code, version, part, m) in seen for m in months):
                batch.append(key)
                seen.update((code, version, part, m) for m in months)
                break
        else:
            batches.append(([key], {(code, version, part, m) for m in months}))
    return [batch for batch, _seen in batches]


def stored_many(scope, filters, reads):
    """{(code, version, part, months): cells} of `reads` [(indicator, part, months)]: what
    `stored` gives for each, read in one query — the snapshot rows joined to the list of
    (code, version, part, month, read), summed per read, row, column, unit and region."""
    keys = list(dict.fromkeys((i.code, i.version, part, tuple(m)) for i, part, m in reads if m))
    out = {key: [] for key in keys}
    if not keys:
        return out
    wanted, params = [], []
    for batch_number, batch in enumerate(_batches(keys)):
        for code, version, part, months in batch:
            for month in months:
                wanted.append("(%s, %s, %s, %s, %s, %s)")
                params += [
                    code,
                    version,
                    part,
                    month,
                    batch_number,
                    keys.index((code, version, part, months)),
                ]
    where, where_params = ["s.rollup = %s"], [_level(scope, filters)]
    if scope.unit_id is not None:
        where.append("s.unit_id = %s")
        where_params.append(scope.unit_id)
    elif scope.region_id is not None:
        where.append("s.region_id = %s")
        where_params.append(scope.region_id)
    for name, value in (filters or {}).items():
        where.append(f"s.{FILTER_COLUMNS[name]} = %s")
        where_params.append(value)
    # VALUES names its columns column1, column2… in PostgreSQL and SQLite alike. A read's
    # batch keeps apart two reads of the same month (never on a page: its periods are
    # disjoint), so that a row counts once per read.
    sql = f"""
        SELECT w.column6, s.row, s.col, s.unit_id, s.region_id, SUM(s.n)
        FROM {Snapshot._meta.db_table} s
        JOIN (VALUES {", ".join(wanted)}) w
          ON s.code = w.column1 AND s.version = w.column2 AND s.part = w.column3
             AND s.month = w.column4
        WHERE {" AND ".join(where)}
        GROUP BY w.column5, w.column6, s.row, s.col, s.unit_id, s.region_id
    """
    with connections[reporting_alias()].cursor() as cursor:
        cursor.execute(sql, params + where_params)
        for read, row, col, unit_id, region_id, total in cursor.fetchall():
            out[keys[read]].append(
                {"_row": row, "_col": col, "_unit": unit_id, "_region": region_id, "n": total}
            )
    return out
