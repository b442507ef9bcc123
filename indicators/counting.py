"""How an indicator counts (see `indicators.definitions`): one grouped query over the live
records, the same whether it answers a page (the current month, or what no snapshot covers) or
fills the nightly snapshots (`indicators.snapshots`).

Every count is a *cell*: (row key, column key, unit id, region id, n) — with the month and the
filter values when it fills a snapshot. Keys are text, cast by the database, so that the
live counts and the stored ones compare alike.
"""

import datetime

from django.core.exceptions import FieldDoesNotExist
from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    F,
    IntegerField,
    Q,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, TruncMonth
from django.utils import timezone

from indicators.definitions import ACTIVE, FLOW, STOCK
from indicators.periods import month_end
from pdp.db import reporting_alias

FILTER_NAMES = ("mission", "cpam", "type_arret")
# Parts of a snapshot: "f" what happened in the month (flows, and what an active indicator
# begins), "s" what stands on the month's last day (stocks, and an active indicator's stock).
FLOW_PART, STOCK_PART = "f", "s"


def _field(model, path):
    """The model field at the end of `path` (a__b__c), or None for an annotation."""
    field = None
    for name in path.split("__"):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:  # an annotation
            return None
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    return field


def date_lookup(indicator, path):
    """The lookup of a date path: a datetime is read as a local date."""
    return f"{path}__date" if isinstance(_field(indicator.model, path), DateTimeField) else path


def flow_path(indicator):
    return indicator.start_path if indicator.kind == ACTIVE else indicator.date_path


def at_day(indicator, day):
    """Q of the records an indicator counts on `day`: its stock."""
    if indicator.at is not None:
        return indicator.at(day)
    start = date_lookup(indicator, indicator.start_path)
    end = date_lookup(indicator, indicator.end_path)
    return Q(**{f"{start}__lte": day}) & (
        Q(**{f"{indicator.end_path}__isnull": True}) | Q(**{f"{end}__gt": day})
    )


def _local_midnight(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def between(indicator, path, start, end):
    """Q of the records whose `path` falls from `start` to `end` (dates, included); on a
    datetime, as local dates, written as a range of the column so that its index serves."""
    if isinstance(_field(indicator.model, path), DateTimeField):
        return Q(
            **{
                f"{path}__gte": _local_midnight(start),
                f"{path}__lt": _local_midnight(end + datetime.timedelta(days=1)),
            }
        )
    return Q(**{f"{path}__gte": start, f"{path}__lte": end})


def in_ranges(indicator, ranges):
    """Q of the records whose flow date falls in one of `ranges` [(start, end)]."""
    q = Q(pk__in=[])
    for start, end in ranges:
        q |= between(indicator, flow_path(indicator), start, end)
    return q


def _key(expression):
    return Coalesce(Cast(expression, TextField()), Value(""), output_field=TextField())


def queryset(indicator, scope=None, filters=None):
    """The indicator's records within `scope` (unit, region, instances, or all) and
    `filters` ({name: value}), annotated."""
    qs = indicator.model.objects.filter(indicator.where)
    if indicator.annotations:
        qs = qs.annotate(**indicator.annotations)
    if scope is not None:
        if scope.level == "instances":
            qs = qs.filter(**{f"{indicator.instance_path}__in": scope.instance_ids})
        elif scope.unit_id is not None:
            qs = qs.filter(**{indicator.unit_path: scope.unit_id})
        elif scope.region_id is not None:
            through_unit = indicator.unit_path.removesuffix("_id") + "__region_id"
            if scope.unit_ids and indicator.region_path == through_unit:
                qs = qs.filter(**{f"{indicator.unit_path}__in": scope.unit_ids})
            else:
                qs = qs.filter(**{indicator.region_path: scope.region_id})
    for name, value in (filters or {}).items():
        qs = qs.filter(**{indicator.filter_paths[name]: value})
    return qs


def _stage_columns(indicator):
    if indicator.stages:
        return {
            f"_s_{key}": Count("pk", filter=condition) if condition else Count("pk")
            for key, _l, condition in indicator.stages
        }
    return {"_n": Count("pk")}


def grouped(qs, indicator, *, extra=None):
    """[{dimension: value, "col": key, "n": count}] of `qs` grouped by row, column, unit,
    region and `extra` ({alias: expression}) — one query."""
    dims = {
        "_row": _key(F(indicator.rows[0])),
        "_col": _key(F(indicator.columns[0]))
        if indicator.columns
        else Value("", output_field=TextField()),
        "_unit": F(indicator.unit_path),
        "_region": F(indicator.region_path),
        **(extra or {}),
    }
    counts = _stage_columns(indicator)
    rows = qs.annotate(**dims).values(*dims).order_by().annotate(**counts)
    cells = []
    for row in rows:
        base = {k: row[k] for k in dims}
        if indicator.stages:
            for key, _label, _condition in indicator.stages:
                cells.append({**base, "_col": key, "n": row[f"_s_{key}"]})
        else:
            cells.append({**base, "n": row["_n"]})
    return [c for c in cells if c["n"]]


def filter_dimensions(indicator):
    """{alias: expression} of the filter values a snapshot keeps (null when a filter does not
    apply to the indicator)."""
    out = {}
    for name in FILTER_NAMES:
        path = indicator.filter_paths.get(name)
        kind = IntegerField() if name == "cpam" else TextField()
        if path is None:
            out[f"_{name}"] = Value(None, output_field=kind)
        elif name == "cpam":
            out[f"_{name}"] = F(path)
        else:
            out[f"_{name}"] = _key(F(path))
    return out


def live_flow(indicator, scope, filters, ranges):
    """The live cells of what happened in `ranges` (a page's: on the reporting replica)."""
    if not ranges:
        return []
    qs = queryset(indicator, scope, filters).filter(in_ranges(indicator, ranges))
    return grouped(qs.using(reporting_alias()), indicator)


def live_stock(indicator, scope, filters, day):
    qs = queryset(indicator, scope, filters).filter(at_day(indicator, day))
    return grouped(qs.using(reporting_alias()), indicator)


def snapshot_flow(indicator, region_id, first, until):
    """The cells from the day `first` to the day `until` of one region, per month and filter
    value: one query."""
    path = flow_path(indicator)
    month = TruncMonth(path, output_field=DateField())
    qs = queryset(indicator).filter(
        between(indicator, path, first, until), **{indicator.region_path: region_id}
    )
    return grouped(qs, indicator, extra={"_month": month, **filter_dimensions(indicator)})


def snapshot_stock(indicator, region_id, month):
    """The cells standing on the last day of `month` in one region: one query."""
    qs = queryset(indicator).filter(
        at_day(indicator, month_end(month)), **{indicator.region_path: region_id}
    )
    cells = grouped(qs, indicator, extra=filter_dimensions(indicator))
    for cell in cells:
        cell["_month"] = month
    return cells


def parts(indicator):
    if indicator.kind == FLOW:
        return (FLOW_PART,)
    if indicator.kind == STOCK:
        return (STOCK_PART,)
    return (FLOW_PART, STOCK_PART)
