"""The indicators page (issue 13, first step): `/indicateurs/`, for the unit managers (their
unit), the regional managers (their region, by unit, or one of its units), the
administrators (the nation, by region) and the coordinators of the cellule PDP (their
instances, or one of them: the cellule indicators). Filters in the query string
(`periods.period_from`); `?format=csv` downloads the same tables (small cells applied, « ; »,
UTF-8 with BOM, no cell read as a formula)."""

import csv
import dataclasses
import hashlib
import io

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from indicators import catalogue, cells, exports, filters, periods, snapshots
from indicators import scope as scopes
from indicators.definitions import Table
from pdp.exports import safe_cell
from pdp.models import Role

app_name = "indicators"


def _lines(table, period):
    """(header, lines) of the indicator's table, small cells applied: what the page shows and
    what the exports write."""
    head = [table.row_header, *table.column_labels]
    several = len(table.column_labels) > 1 and not table.indicator.stages
    if several:
        head.append("Total")
    head += [f"{period.previous().label.capitalize()}", "Part"]
    grand = table.total[1]
    lines = []
    for label, counts, total, before in table.rows:
        line = [label, *map(cells.count_cell, counts)]
        if several:
            line.append(cells.count_cell(total))
        lines.append([*line, cells.count_cell(before), cells.rate_cell(total, grand)])
    counts, total, before = table.total
    line = ["Total", *map(cells.count_cell, counts)]
    if several:
        line.append(cells.count_cell(total))
    lines.append([*line, cells.count_cell(before), ""])
    width = len(head)
    for label, days, base in table.stats:
        lines.append([label, cells.days_cell(days, base), *[""] * (width - 2)])
    return head, lines


def _chart(table, period):
    """The chart's data (labels, two series: the period and the one before), small cells
    applied: a hidden count is null (no bar)."""

    def serie(label, values):
        return {
            "label": label,
            "values": [None if cells.count_cell(n) == cells.HIDDEN else n for n in values],
            "shown": [cells.count_cell(n) for n in values],
        }

    return {
        "labels": [r[0] for r in table.rows],
        "series": [
            serie(period.label.capitalize(), [r[2] for r in table.rows]),
            serie(period.previous().label.capitalize(), [r[3] for r in table.rows]),
        ],
    }


def _breakdown_lines(table, period):
    if not table.breakdown:
        return None, []
    head = [table.breakdown_header, period.label.capitalize(), period.previous().label.capitalize()]
    return head, [[n, cells.count_cell(a), cells.count_cell(b)] for n, a, b in table.breakdown]


NOT_APPLICABLE = "Non applicable avec les filtres choisis."


def _csv(scope, period, tables):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([f"Indicateurs – {scope.label} – {period.label}"])
    for indicator, table in tables:
        if table is None:
            writer.writerow([])
            writer.writerow([safe_cell(indicator.label), NOT_APPLICABLE])
            continue
        head, lines = _lines(table, period)
        by_head, by_lines = _breakdown_lines(table, period)
        writer.writerow([])
        writer.writerow([table.indicator.label])
        writer.writerow([table.indicator.definition])
        for line in [head, *lines] + ([[], by_head, *by_lines] if by_head else []):
            writer.writerow([safe_cell(str(v)) for v in line])
    response = HttpResponse(("\ufeff" + out.getvalue()).encode(), content_type="text/csv")
    name = f"indicateurs_{period.start:%Y-%m-%d}_{period.end:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _xlsx(scope, period, tables):
    content = exports.workbook(scope=scope, period=period, tables=tables)
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"indicateurs_{period.start:%Y-%m-%d}_{period.end:%Y-%m-%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _shortcuts(request, today):
    """Links to the periods asked for most — last month, last quarter, this year, last year —
    keeping the other choices (unit, filters)."""
    last_month = periods.month(today.year, today.month).previous()
    this_quarter = periods.quarter(today.year, (today.month - 1) // 3 + 1)
    last_quarter = this_quarter.previous()
    out = []
    for label, params in [
        (
            "Mois précédent",
            {"periode": "mois", "annee": last_month.start.year, "mois": last_month.start.month},
        ),
        (
            "Trimestre précédent",
            {
                "periode": "trimestre",
                "annee": last_quarter.start.year,
                "trimestre": (last_quarter.start.month - 1) // 3 + 1,
            },
        ),
        ("Année en cours", {"periode": "annee", "annee": today.year}),
        ("Année précédente", {"periode": "annee", "annee": today.year - 1}),
    ]:
        query = request.GET.copy()
        for name in ("periode", "annee", "mois", "trimestre", "du", "au", "format"):
            query.pop(name, None)
        query.update(params)
        out.append((label, f"{request.path}?{query.urlencode()}"))
    return out


def _cache_key(scope, period, chosen, run):
    """The key of a page's figures: the scope, the period, the filters, the last snapshot run
    (a new run gives new figures), the day and the catalogue's codes and versions."""
    parts = [
        scope.level,
        scope.unit_id,
        scope.region_id,
        scope.instance_ids,
        period.kind,
        period.start,
        period.end,
        sorted(chosen.items()),
        run.isoformat() if run else None,
        timezone.localdate(),
        [(i.code, i.version) for i in catalogue.CATALOGUE],
    ]
    return "indicators:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def _figures(scope, period, chosen, run):
    """(tables, when they were counted): from the cache when the same figures were counted
    less than INDICATORS_CACHE_SECONDS ago, else counted now (and kept). The cache holds the
    tables' figures by indicator code, not the indicators themselves."""
    seconds = settings.INDICATORS_CACHE_SECONDS
    key = _cache_key(scope, period, chosen, run)
    kept = cache.get(key) if seconds > 0 else None
    if kept is not None:
        at, figures = kept
        tables = []
        for code, fields in figures:
            indicator = catalogue.BY_CODE[code]
            tables.append((indicator, None if fields is None else Table(indicator, **fields)))
        return tables, at
    at = timezone.now()
    tables = catalogue.tables(scope, period, chosen)
    if seconds > 0:
        figures = [
            (
                indicator.code,
                None
                if t is None
                else {
                    f.name: getattr(t, f.name)
                    for f in dataclasses.fields(t)
                    if f.name != "indicator"
                },
            )
            for indicator, t in tables
        ]
        cache.set(key, (at, figures), seconds)
    return tables, at


def _items(tables, period):
    return [
        {"indicator": indicator, "table": None}
        if t is None
        else {
            "indicator": indicator,
            "table": t,
            "table_lines": _lines(t, period),
            "breakdown_lines": _breakdown_lines(t, period),
            "chart": _chart(t, period),
            "chart_id": f"chart-{t.indicator.code}",
            "chart_height": 40 + 26 * len(t.rows),
        }
        for indicator, t in tables
    ]


def _tables_html(scope, period, chosen, run, tables):
    """The page's tables and charts: rendered from `tables`, kept beside the figures (the same
    key and life) — most of the page's time once the figures are kept."""
    seconds = settings.INDICATORS_CACHE_SECONDS
    key = _cache_key(scope, period, chosen, run) + ":html"
    html = cache.get(key) if seconds > 0 else None
    if html is None:
        html = render_to_string(
            "indicators/_tables.html",
            {"tables": _items(tables, period), "not_applicable": NOT_APPLICABLE},
        )
        if seconds > 0:
            cache.set(key, html, seconds)
    return mark_safe(html)  # noqa: S308 — our template's output, escaped when rendered


@login_required
@require_GET
def index(request):
    scope = scopes.scope_for(request.user, request.GET)
    today = timezone.localdate()
    period, error = periods.period_from(request.GET, today)
    options = filters.choices(scope)
    chosen, filter_error = filters.filters_from(request.GET, options)
    # A coordinator without an instance: a sentence, no tables (`scope.empty`).
    run = None if scope.empty else snapshots.last_run(scope)
    tables, counted_at = [], None
    if not scope.empty:
        tables, counted_at = _figures(scope, period, chosen, run)
    if request.GET.get("format") == "csv":
        return _csv(scope, period, tables)
    if request.GET.get("format") == "xlsx":
        return _xlsx(scope, period, tables)
    tables_html = "" if scope.empty else _tables_html(scope, period, chosen, run, tables)
    query = request.GET.copy()
    query["format"] = "csv"
    csv_url = f"{request.path}?{query.urlencode()}"
    query["format"] = "xlsx"
    xlsx_url = f"{request.path}?{query.urlencode()}"
    return render(
        request,
        "indicators/index.html",
        {
            "scope": scope,
            "period": period,
            "previous": period.previous(),
            "errors": [e for e in (error, filter_error) if e],
            "filters": [
                {"name": name, "label": filters.LABELS[name], "options": choices}
                for name, choices in options.items()
            ],
            "chosen": {k: str(v) for k, v in chosen.items()},
            "not_applicable": NOT_APPLICABLE,
            "tables": [{"indicator": indicator} for indicator, _t in tables],
            "tables_html": tables_html,
            "quarter": (period.start.month - 1) // 3 + 1,
            "csv_url": csv_url,
            "xlsx_url": xlsx_url,
            "kinds": periods.KINDS,
            "months": list(enumerate(periods.MONTHS, start=1)),
            "years": list(range(today.year, periods.FIRST_YEAR + 14, -1)),
            "units": scopes.units_of(scope) if request.user.role == Role.REGIONAL else [],
            "instances": (
                scopes.instances_of(request.user) if request.user.role == Role.COORDINATEUR else []
            ),
            "params": request.GET,
            "shortcuts": _shortcuts(request, today),
            "computed_at": run,
            "counted_at": counted_at,
        },
    )


urlpatterns = [path("", index, name="index")]
