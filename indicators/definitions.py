"""What an indicator is (issue 13, item 1): a code, a French label, the definition shown beside
it, a version (changed whenever its definition changes), and how it counts — the model, which
records count in a period, the paths to their unit and region, its breakdown (rows, and
columns or successive stages), the filters that apply.

Every indicator is *additive over months*, so that the nightly snapshots of each month
(`indicators.snapshots`) add up to any period:

- a **flow** counts the records whose `date_path` falls in the period (and that `where` keeps);
- a **stock** counts the records `at(day)` keeps on the period's last day (the open caseload);
- an **active** indicator counts the records begun by the period's end (`start_path`) and not
  ended before its start (`end_path`): the stock on the day before plus the flow of the period.

A **histogram** indicator has an integer for its row (a delay in days, a number of meetings):
its rows are `buckets` of it (and `none_label` for records without a value), with the median
and 80th percentile or the mean (`stats`) computed from the counts per value.

Nothing is ever grouped by a member of staff (the CNIL refused league tables of social
workers): `grouping_paths` lists every model path a table groups by, and a test resolves each
one and fails if one goes through a user.
"""

import dataclasses

from django.db.models import Q

from pdp.typography import nbsp

FLOW, STOCK, ACTIVE = "flow", "stock", "active"
PERCENTILES, MEAN = "percentiles", "mean"


@dataclasses.dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    definition: str
    version: int
    model: type
    unit_path: str
    region_path: str
    rows: tuple  # (path or annotation name, choices or a callable returning them, header)
    kind: str = FLOW
    date_path: str = ""  # flow: a date (or datetime, read as a local date) path or annotation
    where: Q = dataclasses.field(default_factory=Q)  # every kind: the records that may count
    at: object = None  # stock: callable(day) -> Q, the records counted on that day
    start_path: str = ""  # active: the date the record begins
    end_path: str = ""  # active: the date it ends (null: still going)
    columns: tuple | None = None  # (path or annotation name, choices)
    # Successive stages instead of columns: [(key, label, Q)]; a record counts in every stage
    # whose condition it meets, and a row's total is its first stage.
    stages: tuple = ()
    annotations: dict = dataclasses.field(default_factory=dict)  # {name: expression}
    annotation_paths: tuple = ()  # the model paths the annotations read to group by
    # {filter name: path} of the page's filters that apply (`indicators.filters`).
    filter_paths: dict = dataclasses.field(default_factory=dict)
    instance_path: str = ""  # path to the cellule PDP instance: coordinators see these
    buckets: tuple = ()  # histogram: [(key, label, upper bound included, or None: the rest)]
    none_label: str = ""  # histogram: the row of the records without a value
    stats: str = ""  # histogram: PERCENTILES or MEAN

    def __post_init__(self):
        # The no-break spaces of French typography, for every catalogue at once.
        object.__setattr__(self, "label", nbsp(self.label))
        object.__setattr__(self, "definition", nbsp(self.definition))

    @property
    def histogram(self):
        return bool(self.buckets)

    @property
    def grouping_paths(self):
        """Every model path a table of this indicator groups by (annotations by what they
        read)."""
        paths = [self.unit_path, self.region_path, *self.annotation_paths]
        if self.instance_path:
            paths.append(self.instance_path)
        for path in [self.rows[0], self.columns[0] if self.columns else None]:
            if path and path not in self.annotations:
                paths.append(path)
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
    stats: list = dataclasses.field(default_factory=list)  # [(label, value or None, base)]


REFERRAL_FILTERS = {"cpam": "arret__cpam_id", "type_arret": "arret__type_arret"}
CASE_FILTERS = {
    "mission": "mission",
    "cpam": "assure__cpam_id",
    "type_arret": "signalement__arret__type_arret",
}


def through(prefix, paths):
    """`paths` read from a related record: {name: prefix__path}."""
    return {name: f"{prefix}__{path}" for name, path in paths.items()}
