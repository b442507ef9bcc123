"""The catalogue of indicators (issue 13, item 1), first part: each indicator has a code, a
French label, the definition shown beside it, a version (changed whenever its definition
changes), and says how it counts — the model, the date that puts a record in a period, the
paths to the record's unit and region, and its breakdown (rows, optionally columns).

`table(indicator, scope, period)` computes it live, set-based: one grouped query for the
period, one for the period before (its totals, for the comparison), one for the breakdown by
unit or region when the scope has one — a constant number of queries whatever the volume.
Nothing is ever grouped by a member of staff (the CNIL refused league tables of social
workers): `grouping_paths` lists every path a table groups by, and a test resolves each one on
its model and fails if one goes through a user.
"""

import dataclasses

from django.db.models import Count, Q

from cases.models import Accompagnement, Cloture, Mission, Outcome
from referrals.models import Origine, Service, Signalement


@dataclasses.dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    definition: str
    version: int
    model: type
    in_period: object  # callable(period) -> Q
    unit_path: str
    region_path: str
    rows: tuple  # (path, choices, header)
    columns: tuple | None = None  # (path, choices)

    @property
    def grouping_paths(self):
        paths = [self.rows[0], self.unit_path, self.region_path]
        if self.columns:
            paths.append(self.columns[0])
        return paths


@dataclasses.dataclass
class Table:
    indicator: Indicator
    row_header: str
    column_labels: list
    rows: list  # [label, [counts per column], total, previous total]
    total: list  # [counts per column], total, previous total
    breakdown: list | None = None  # [(name, total, previous total)]
    breakdown_header: str = ""


def _between(field):
    return lambda period: Q(**{f"{field}__gte": period.start, f"{field}__lte": period.end})


def _open_at_end(period):
    return Q(date_ouverture__lte=period.end) & (
        Q(date_cloture__isnull=True) | Q(date_cloture__gt=period.end)
    )


CATALOGUE = [
    Indicator(
        code="signalements_origine",
        label="Signalements par origine et service",
        definition=(
            "Nombre de signalements reçus dans la période (date du signalement), par origine"
            " et par service destinataire, quel que soit leur statut aujourd'hui."
        ),
        version=1,
        model=Signalement,
        in_period=_between("date_signalement"),
        unit_path="unit_id",
        region_path="region_id",
        rows=("origine", Origine.choices, "Origine"),
        columns=("service", Service.choices),
    ),
    Indicator(
        code="accompagnements_ouverts",
        label="Nouveaux accompagnements",
        definition=(
            "Nombre d'accompagnements individuels ouverts dans la période (date d'ouverture),"
            " par mission."
        ),
        version=1,
        model=Accompagnement,
        in_period=_between("date_ouverture"),
        unit_path="unit_id",
        region_path="unit__region_id",
        rows=("mission", Mission.choices, "Mission"),
    ),
    Indicator(
        code="file_active",
        label="File active en fin de période",
        definition=(
            "Nombre d'accompagnements ouverts le dernier jour de la période : ouverts ce jour-là"
            " ou avant, et pas encore clôturés ce jour-là, par mission."
        ),
        version=1,
        model=Accompagnement,
        in_period=_open_at_end,
        unit_path="unit_id",
        region_path="unit__region_id",
        rows=("mission", Mission.choices, "Mission"),
    ),
    Indicator(
        code="issues_cloture",
        label="Issues à la clôture",
        definition=(
            "Accompagnements clôturés dans la période (date de clôture), par issue ; la part de"
            " chaque issue parmi les clôtures de la période. Un accompagnement rouvert puis"
            " clôturé de nouveau compte pour chaque clôture."
        ),
        version=1,
        model=Cloture,
        in_period=_between("date_cloture"),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("outcome", Outcome.choices, "Issue"),
    ),
]
BY_CODE = {indicator.code: indicator for indicator in CATALOGUE}
assert len(BY_CODE) == len(CATALOGUE), "indicator codes are unique"


def _scoped(indicator, scope):
    qs = indicator.model.objects.all()
    if scope.unit_id is not None:
        return qs.filter(**{indicator.unit_path: scope.unit_id})
    if scope.region_id is not None:
        return qs.filter(**{indicator.region_path: scope.region_id})
    return qs


def _grouped(qs, *paths):
    return {
        tuple(row[p] for p in paths): row["n"]
        for row in qs.values(*paths).order_by().annotate(n=Count("pk"))
    }


def table(indicator, scope, period, *, names=None):
    """The indicator's table for `scope` and `period` (see the module's docstring). `names`:
    {unit or region id: name} for the breakdown."""
    qs = _scoped(indicator, scope)
    current = qs.filter(indicator.in_period(period))
    previous = qs.filter(indicator.in_period(period.previous()))
    row_path, row_choices, row_header = indicator.rows
    column_path, column_choices = indicator.columns or (None, [(None, "Nombre")])
    paths = [row_path] + ([column_path] if column_path else [])
    now = _grouped(current, *paths)
    before = _grouped(previous, row_path)
    rows = []
    column_totals = [0] * len(column_choices)
    for value, label in row_choices:
        counts = [now.get((value, c) if column_path else (value,), 0) for c, _l in column_choices]
        column_totals = [a + b for a, b in zip(column_totals, counts, strict=True)]
        rows.append([label, counts, sum(counts), before.get((value,), 0)])
    result = Table(
        indicator=indicator,
        row_header=row_header,
        column_labels=[label for _c, label in column_choices],
        rows=rows,
        total=[column_totals, sum(column_totals), sum(before.values())],
    )
    if scope.breakdown is not None:
        path = indicator.unit_path if scope.breakdown == "unit" else indicator.region_path
        now_by = _grouped(current, path)
        before_by = _grouped(previous, path)
        keys = set(now_by) | set(before_by)
        names = names or {}
        result.breakdown = sorted(
            (
                (
                    names.get(key[0], "File régionale (sans unité)"),
                    now_by.get(key, 0),
                    before_by.get(key, 0),
                )
                for key in keys
            ),
            key=lambda r: r[0],
        )
        result.breakdown_header = "Unité" if scope.breakdown == "unit" else "Région"
    return result


def breakdown_names(scope):
    """{id: name} of the units of the scope's region, or of the regions (one query)."""
    from pdp.models import Region, Unit

    if scope.breakdown == "unit":
        return dict(Unit.objects.filter(region_id=scope.region_id).values_list("pk", "name"))
    if scope.breakdown == "region":
        return dict(Region.objects.values_list("pk", "name"))
    return {}


def tables(scope, period):
    names = breakdown_names(scope)
    return [table(indicator, scope, period, names=names) for indicator in CATALOGUE]
