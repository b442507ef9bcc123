"""The nightly snapshots of the indicators (issue 13, item 7): each past month's counts of each
indicator, per region, unit, filter value, row and column, so that a page adds up months
instead of counting millions of records. `SnapshotMonth` records which (indicator, version,
region, month) a run has computed: the pages read only those, and count the rest live."""

from django.db import models


class Snapshot(models.Model):
    code = models.CharField("indicateur", max_length=40)
    version = models.PositiveSmallIntegerField("version")
    month = models.DateField("mois")  # its first day
    part = models.CharField("partie", max_length=1)  # "f": in the month, "s": at its end
    region = models.ForeignKey("pdp.Region", on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey("pdp.Unit", on_delete=models.CASCADE, null=True, related_name="+")
    # The page's filters (null: the filter does not apply to the indicator).
    cpam = models.ForeignKey(
        "pdp.CpamOffice", on_delete=models.CASCADE, null=True, related_name="+"
    )
    mission = models.CharField("mission", max_length=20, null=True)
    type_arret = models.CharField("type d'arrêt", max_length=10, null=True)
    row = models.CharField("ligne", max_length=100)
    col = models.CharField("colonne", max_length=100)
    n = models.PositiveIntegerField("nombre")
    # DETAIL: the cells; BY_UNIT: summed over the filters (their columns null), for the pages
    # without a filter — most of them; BY_REGION: summed over the units too (unit null), for
    # the nation's. Far fewer rows to add up.
    DETAIL, BY_UNIT, BY_REGION = 0, 1, 2
    rollup = models.PositiveSmallIntegerField("niveau de cumul", default=DETAIL)

    class Meta:
        verbose_name = "instantané d'indicateur"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "code",
                    "version",
                    "month",
                    "part",
                    "region",
                    "unit",
                    "cpam",
                    "mission",
                    "type_arret",
                    "row",
                    "col",
                    "rollup",
                ],
                name="snapshot_one_cell",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["code", "version", "rollup", "month", "region"])]

    def __str__(self):
        return f"{self.code} {self.month:%Y-%m} {self.row}/{self.col}: {self.n}"


class SnapshotMonth(models.Model):
    code = models.CharField("indicateur", max_length=40)
    version = models.PositiveSmallIntegerField("version")
    region = models.ForeignKey("pdp.Region", on_delete=models.CASCADE, related_name="+")
    month = models.DateField("mois")
    # The last day the month's snapshot counts: its last day, or for the current month the
    # day before the run (the pages count today live).
    until = models.DateField("jusqu'au")
    computed_at = models.DateTimeField("calculé le")

    class Meta:
        verbose_name = "mois calculé"
        constraints = [
            models.UniqueConstraint(
                fields=["code", "version", "region", "month"], name="snapshot_month_once"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.month:%Y-%m}"
