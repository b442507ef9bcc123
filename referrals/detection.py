"""The duration-threshold detection job (domain §4): raise referrals for long arrêts.

`scan_arrets(day=D, region=R)` looks at the arrêts ongoing on D (started on or before D, last
known end on or after D) and, with the thresholds of the region of the arrêt's CPAM (else the
assuré's CPAM) — the region stored on each referral it raises:

- raises a **service médical** referral for each arrêt of MORE than `medical_threshold_days`
  (45 by default), status « nouveau », no unit (the médecin conseil's regional list);
- raises a **service social** referral for each arrêt of AT LEAST `social_threshold_days`
  (90 by default), status « à contacter » (the CPAM threshold is itself the reason to offer a
  meeting, and the first-contact due date already runs: start + `first_contact_deadline_day` − 1,
  day 120 = end of the 4th month by default), routed to the unit of the assuré's postal code
  (longest territory prefix, like `referrals.routing.route_unit`) or to the regional « à répartir »
  queue, and given to the least loaded ASS when the unit has `auto_assign` on (one after the
  other in the order of their arrêts, each to the active ASS of the unit with the lightest open
  load — `referrals.routing.with_load`, counting those given before —, the lowest id on a tie).

It is a catch-up rule, not an anniversary: an arrêt past a threshold without a referral gets one
whatever the day the job runs. Never twice: the WHERE clauses skip arrêts already referred to the
service, persons with an open social referral or an open accompagnement; the unique constraints
`signalement_once_per_arret_and_service` and `signalement_one_open_social_per_assure` plus
`ON CONFLICT DO NOTHING` absorb races with concurrent writers. For a person with several
ongoing arrêts, only the oldest one is considered for the social referral (so overlapping
episodes of the same sick leave don't bring a second referral after the first was refused or
closed). Arrêts with no CPAM (neither their own nor the assuré's) have no thresholds: they are
skipped and counted as « sans CPAM », under the region of the unit their postal code routes to.

Regions and runs: with `region` the scan only raises the referrals of that region (a condition
on the region in the same statements, after the "oldest arrêt per person" choice, so the union
of the scans of every region is exactly the scan of all of them); without it (the nightly job,
`manage.py scan_arrets`) it scans every region in one pass. Either way it records one
`DetectionRun` per region scanned, written « en cours » before the scan (committed at once when
no transaction is open, as in the Celery task) and completed with that region's counts, or
marked « échec » with the error when the scan raises (its referrals are then rolled back). The
runs of one pass share its start and end times. `acting_user` (None: « planifiée ») is the
manager who launched it (`detection_launch`, audited, enqueued after commit).

The work is set-based, a constant number of statements whatever the number of arrêts (and of
regions), and reads the arrêts once: a temporary table of the arrêts looked at (ongoing, old
enough for the lowest threshold, with their CPAM and their rank among the person's ongoing
arrêts, `_ongoing_sql`); from it one count grouped by region, then per service one
`WITH cand AS (…) INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`, which on PostgreSQL also
writes the creation events (data-modifying CTE). The social statement gives each new referral of
an auto-assign unit its ASS itself (`_assignment_sql`, from the loads read once before it) and
writes the assignment events with the creation ones: no later UPDATE of the fresh rows. Plus one
query for the loads, one for the units' codes, and one INSERT and one UPDATE of the runs.
The scan runs in one transaction holding a PostgreSQL advisory lock so that two scans never
interleave, whatever their regions (one lock for all: a person's arrêts may belong to two
regions). The same candidate SQL runs on
SQLite ≥ 3.35 (date arithmetic, the JSON of the loads and the events statement differ: see
`_Dialect`). Measured with `manage.py bench_referrals` (README « Performance »); the index
`arret_ongoing_idx` serves the "ongoing on D" condition.
"""

import dataclasses
import datetime
import functools
import json
import logging
from collections import Counter, defaultdict

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from pdp.audit import audit
from pdp.models import AuditLog, CpamOffice, Region, Role, Unit, UnitTerritory, User
from referrals import hooks
from referrals.models import (
    OPEN_STATUSES,
    ArretTravail,
    Assure,
    DetectionRun,
    Origine,
    Service,
    Signalement,
    SignalementEvent,
    Statut,
)
from referrals.routing import with_load

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: serialises scans (any constant; "PDPSCAN" in ASCII-ish).
SCAN_LOCK_KEY = 0x5044505343414E

# The temporary table of the arrêts one scan looks at (`_ongoing_sql`), dropped at its end.
ONGOING_TABLE = "detection_ongoing"

SOCIAL_STATUT = Statut.A_CONTACTER
MEDICAL_STATUT = Statut.NOUVEAU
DEFAULT_MEDICAL_THRESHOLD = Region._meta.get_field("medical_threshold_days").default
DEFAULT_SOCIAL_THRESHOLD = Region._meta.get_field("social_threshold_days").default


# The counts a DetectionRun records, per region.
RUN_COUNTS = ("arrets_examines", "sans_cpam", "medical", "social", "attribues_auto", "a_repartir")
FAILURE_MESSAGE_LENGTH = 500


@dataclasses.dataclass
class RegionCounts:
    arrets_examines: int = 0
    sans_cpam: int = 0
    medical: int = 0
    social: int = 0
    attribues_auto: int = 0
    a_repartir: int = 0


@dataclasses.dataclass
class ScanResult:
    """What one scan did. `routes` counts the new social referrals per unit code, plus
    `"a_repartir"` for those left in the regional queue; `regions` the counts per region id
    (what each DetectionRun records); `runs` the DetectionRun rows written."""

    day: datetime.date
    arrets_examines: int = 0
    sans_cpam: int = 0
    medical: int = 0
    social: int = 0
    routes: dict = dataclasses.field(default_factory=dict)
    attribues_auto: int = 0
    created_ids: list = dataclasses.field(default_factory=list)
    regions: dict = dataclasses.field(default_factory=lambda: defaultdict(RegionCounts))
    runs: list = dataclasses.field(default_factory=list)

    def as_dict(self):
        return {
            "date": self.day.isoformat(),
            "arrets_examines": self.arrets_examines,
            "sans_cpam": self.sans_cpam,
            "signalements": {
                Service.MEDICAL.value: self.medical,
                Service.SOCIAL.value: self.social,
            },
            "routes": dict(self.routes),
            "attribues_auto": self.attribues_auto,
        }


def scan_arrets(*, day=None, region=None, acting_user=None):
    """Raise the threshold referrals due on `day` (default: today) for `region` (default: every
    region) and record one DetectionRun per region scanned, launched by `acting_user` (None:
    the scheduled job). Returns a ScanResult; re-raises what made the scan fail, after marking
    its runs « échec »."""
    day = day or timezone.localdate()
    regions = [region] if region is not None else list(Region.objects.order_by("pk"))
    started_at = timezone.now()
    runs = DetectionRun.objects.bulk_create(
        DetectionRun(day=day, region=r, launched_by=acting_user, started_at=started_at)
        for r in regions
    )
    try:
        result = _scan(day=day, region=region)
    except Exception as exc:
        logger.exception("Échec de la détection du %s.", day.isoformat())
        message = f"{type(exc).__name__} : {exc}".strip()[:FAILURE_MESSAGE_LENGTH]
        DetectionRun.objects.filter(pk__in=[run.pk for run in runs]).update(
            status=DetectionRun.Status.FAILED, finished_at=timezone.now(), message=message
        )
        raise
    finished_at = timezone.now()
    for run in runs:
        counts = result.regions.get(run.region_id, RegionCounts())
        for name in RUN_COUNTS:
            setattr(run, name, getattr(counts, name))
        run.status, run.finished_at = DetectionRun.Status.DONE, finished_at
    DetectionRun.objects.bulk_update(runs, [*RUN_COUNTS, "status", "finished_at"])
    result.runs = runs
    return result


@transaction.atomic
def detection_launch(*, region, acting_user, day=None):
    """A manager's « Lancer la détection »: audited now, the scan of `region` is enqueued once
    the request's transaction commits (in-process when Celery runs eagerly). A failing scan
    marks its run « échec » rather than breaking the page (`robust`)."""
    from referrals.tasks import scan_arrets_task  # the task module imports this one

    day = day or timezone.localdate()
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=region,
        changes={"detection": "lancée", "jour": day.isoformat()},
    )

    def enqueue():  # a function, not a partial: Django logs a robust failure by its __qualname__
        scan_arrets_task.delay(day.isoformat(), region_id=region.pk, user_id=acting_user.pk)

    transaction.on_commit(enqueue, robust=True)


@transaction.atomic
def _scan(*, day, region):
    result = ScanResult(day=day)
    dialect = _Dialect(connection)
    tables = _tables()
    dialect.lock()

    medical_day, social_day = _first_days(region)
    now = timezone.now()
    params = {
        "day": dialect.date(day),
        # Sargable pre-filters: started early enough to cross the scanned region's (else the
        # lowest) threshold; the exact threshold of the arrêt's region is checked after the joins.
        "examined_start": dialect.date(
            day - datetime.timedelta(days=min(medical_day, social_day) - 1)
        ),
        "medical_start": dialect.date(day - datetime.timedelta(days=medical_day - 1)),
        "social_start": dialect.date(day - datetime.timedelta(days=social_day - 1)),
        "day_fr": f"{day:%d/%m/%Y}",
        "now": dialect.datetime(now),
        "region_id": region.pk if region is not None else None,
    }
    in_region = functools.partial(_in_region, region)
    regions = result.regions
    workers = _auto_assign_workers()  # read under the lock: a concurrent scan has committed
    if workers:
        params["workers"] = json.dumps(workers)
    with connection.cursor() as cursor:
        dialect.create_ongoing(cursor, _ongoing_sql(tables), params)
        cursor.execute(_count_sql(tables, in_region), params)
        for region_id, examined, sans_cpam in cursor.fetchall():
            result.arrets_examines += examined or 0
            result.sans_cpam += sans_cpam or 0
            if region_id is not None:  # without a CPAM nor a territory: no region's run
                regions[region_id].arrets_examines += examined or 0
                regions[region_id].sans_cpam += sans_cpam or 0
        medical_sql = _medical_sql(tables, dialect, in_region)
        medical_rows = dialect.insert(cursor, medical_sql, params)
        social_sql = _social_sql(tables, dialect, in_region, assigning=bool(workers))
        social_rows = dialect.insert(cursor, social_sql, params, assigning=bool(workers))
        new_ids = [row[0] for row in medical_rows + social_rows]
        if new_ids and not dialect.postgres:  # PostgreSQL wrote them with the referrals
            events_sql = _events_sql(tables, dialect, assigning=bool(workers))
            cursor.execute(events_sql, {**params, "ids": json.dumps(new_ids)})
        dialect.drop_ongoing(cursor)

    result.medical, result.social = len(medical_rows), len(social_rows)
    result.created_ids = sorted(new_ids)
    result.routes = _route_counts(social_rows)
    for _, _, region_id, _ in medical_rows:
        regions[region_id].medical += 1
    for _, unit_id, region_id, assigned_to_id in social_rows:
        regions[region_id].social += 1
        regions[region_id].a_repartir += unit_id is None
        regions[region_id].attribues_auto += assigned_to_id is not None
        result.attribues_auto += assigned_to_id is not None
    logger.info(
        "Détection du %s (%s) : %d arrêts examinés (%d sans CPAM), %d signalements médicaux, "
        "%d sociaux écrits, %d attribués automatiquement.",
        day.isoformat(),
        region or "toutes les régions",
        result.arrets_examines,
        result.sans_cpam,
        result.medical,
        result.social,
        result.attribues_auto,
    )
    return result


def _in_region(region, column):
    """The WHERE condition scoping a statement to the scanned region, if any."""
    return f"AND {column} = %(region_id)s" if region is not None else ""


def _first_days(region=None):
    """First day of an arrêt on which the region's (else some region's) medical / social
    threshold is crossed."""
    if region is not None:
        return region.medical_threshold_days + 1, region.social_threshold_days
    agg = Region.objects.aggregate(
        medical=Min("medical_threshold_days"), social=Min("social_threshold_days")
    )
    medical = (agg["medical"] or DEFAULT_MEDICAL_THRESHOLD) + 1
    social = agg["social"] or DEFAULT_SOCIAL_THRESHOLD
    return medical, social


def _tables():
    return {
        "arret": ArretTravail._meta.db_table,
        "assure": Assure._meta.db_table,
        "cpam": CpamOffice._meta.db_table,
        "region": Region._meta.db_table,
        "sig": Signalement._meta.db_table,
        "event": SignalementEvent._meta.db_table,
        "territory": UnitTerritory._meta.db_table,
        "unit": Unit._meta.db_table,
        "ongoing": ONGOING_TABLE,
    }


def _quoted(values):
    # Only our own enum values end up here, never user input.
    return ", ".join(f"'{v}'" for v in values)


def _ongoing_sql(t):
    """The one pass over the arrêts: those ongoing on the day (last known end on or after it,
    written with COALESCE(date_fin_reelle, date_fin_prevue) to match the index
    arret_ongoing_idx, which the planner scans from the day on) and started early enough to
    cross the lowest threshold, with their CPAM (the arrêt's, else the assuré's: the subquery
    only runs when the arrêt has none) and their rank among the person's ongoing arrêts, oldest
    first (`rn`). Every later statement reads this table, not the arrêts.

    Ranking over these arrêts rather than over those old enough for the social threshold gives
    the same oldest arrêt wherever it matters: a person's oldest ongoing arrêt is among both
    sets as soon as it is old enough for a social referral."""
    return f"""
        SELECT a.id, a.assure_id, a.date_debut,
               COALESCE(a.cpam_id,
                        (SELECT p.cpam_id FROM {t["assure"]} p WHERE p.id = a.assure_id))
                   AS cpam_id,
               ROW_NUMBER() OVER (PARTITION BY a.assure_id ORDER BY a.date_debut, a.id) AS rn
        FROM {t["arret"]} a
        WHERE a.date_debut <= %(examined_start)s
          AND COALESCE(a.date_fin_reelle, a.date_fin_prevue) >= %(day)s
    """


def _postal_code_of(arret, t):
    return f"(SELECT p.code_postal FROM {t['assure']} p WHERE p.id = {arret}.assure_id)"


# Every candidate query returns the same columns, in this order.
_INSERTED = (
    "assure_id, arret_id, service, origine, date_signalement, statut, unit_id, assigned_to_id, "
    "region_id, date_echeance, motif, created_at, updated_at"
)


def _count_sql(t, in_region):
    """Arrêts looked at, per region: (region_id, examined, sans CPAM). With a CPAM (the
    arrêt's, else the person's), under its region; without any, under the region of the unit
    their postal code routes to (NULL when none), counted as « sans CPAM » too."""
    return f"""
        WITH nocp AS (
            SELECT {_postal_code_of("o", t)} AS cp
            FROM {t["ongoing"]} o
            WHERE o.cpam_id IS NULL
        ),
        routes AS ({_routes_sql(t, "nocp")})
        SELECT c.region_id, COUNT(*), 0
        FROM {t["ongoing"]} o
        JOIN {t["cpam"]} c ON c.id = o.cpam_id
        WHERE 1 = 1 {in_region("c.region_id")}
        GROUP BY c.region_id
        UNION ALL
        SELECT u.region_id, COUNT(*), COUNT(*)
        FROM nocp n
        LEFT JOIN routes ro ON ro.cp = n.cp
        LEFT JOIN {t["unit"]} u ON u.id = ro.unit_id
        WHERE 1 = 1 {in_region("u.region_id")}
        GROUP BY u.region_id
    """


def _routes_sql(t, source):
    """The unit of each distinct postal code `cp` of the relation `source`: the territory with
    the longest prefix (5, 4, 3 characters, then Corsica 2A/2B before the 2-digit "20"), as
    referrals.routing.route_unit does; none → NULL. Computed once per postal code."""
    corsica = """CASE WHEN substr(z.cp, 1, 2) = '20' THEN
                     CASE WHEN substr(z.cp, 1, 3) IN ('200', '201') THEN '2A' ELSE '2B' END
                 END"""
    return f"""
        SELECT z.cp,
               COALESCE(t5.unit_id, t4.unit_id, t3.unit_id, tc.unit_id, t2.unit_id) AS unit_id
        FROM (SELECT DISTINCT cp FROM {source}) z
        LEFT JOIN {t["territory"]} t5 ON t5.prefix = substr(z.cp, 1, 5)
        LEFT JOIN {t["territory"]} t4 ON t4.prefix = substr(z.cp, 1, 4)
        LEFT JOIN {t["territory"]} t3 ON t3.prefix = substr(z.cp, 1, 3)
        LEFT JOIN {t["territory"]} tc ON tc.prefix = {corsica}
        LEFT JOIN {t["territory"]} t2 ON t2.prefix = substr(z.cp, 1, 2)
    """


def _medical_sql(t, d, in_region):
    """Medical candidates: duration = D − start + 1 > T  ⇔  start ≤ D − T, never referred to
    the service médical. The arrêts already referred are dropped first, straight on the
    arrêts looked at (materialised CTE): the planner then knows how many rows it probes, which
    it would not after the condition on the region."""
    return f"""
        WITH fresh AS MATERIALIZED (
            SELECT a.id, a.assure_id, a.date_debut, a.cpam_id
            FROM {t["ongoing"]} a
            WHERE a.date_debut <= %(medical_start)s
              AND NOT EXISTS (
                  SELECT 1 FROM {t["sig"]} x
                  WHERE x.arret_id = a.id AND x.service = '{Service.MEDICAL}'
              )
        )
        SELECT a.assure_id, a.id, '{Service.MEDICAL}', '{Origine.SEUIL_CPAM}', %(day)s,
               '{MEDICAL_STATUT}', CAST(NULL AS bigint), CAST(NULL AS bigint), r.id,
               CAST(NULL AS date),
               'Arrêt de travail de plus de ' || r.medical_threshold_days || ' jours au '
                   || %(day_fr)s || ' (détection automatique).',
               %(now)s, %(now)s
        FROM fresh a
        JOIN {t["cpam"]} c ON c.id = a.cpam_id
        JOIN {t["region"]} r ON r.id = c.region_id
        WHERE a.date_debut <= {d.add_days("%(day)s", "-r.medical_threshold_days")}
          {in_region("r.id")}
    """


def _social_sql(t, d, in_region, *, assigning):
    """Social candidates: the oldest ongoing arrêt of each person (one referral per person even
    with overlapping episodes) when it has lasted ≥ T (start ≤ D − (T − 1)) and was never
    referred to the service social, the person having no open social referral and no open
    accompagnement. Due date = start + (deadline − 1). Unit: the territory with the longest
    prefix of the postal code (`_routes_sql`); none → NULL, the regional queue. The region
    condition comes after the choice of the oldest arrêt, which looks at every region. With
    `assigning` (some auto-assign unit has an active ASS, `%(workers)s`), the ASS of each
    candidate of such a unit (`_assignment_sql`), else none."""
    if assigning:
        assignment = f", {_assignment_sql(d, 'elig')}"
        assigned_to, join_assigned = "asg.user_id", "LEFT JOIN assigned asg ON asg.id = a.id"
    else:
        assignment, assigned_to, join_assigned = "", "CAST(NULL AS bigint)", ""
    return f"""
        WITH fresh AS MATERIALIZED (
            SELECT o.id, o.assure_id, o.date_debut, o.cpam_id, {_postal_code_of("o", t)} AS cp
            FROM {t["ongoing"]} o
            WHERE o.rn = 1 AND o.date_debut <= %(social_start)s
              AND NOT EXISTS (
                  SELECT 1 FROM {t["sig"]} x
                  WHERE x.arret_id = o.id AND x.service = '{Service.SOCIAL}'
              )
        ),
        routes AS ({_routes_sql(t, "fresh")}),
        elig AS (
            SELECT a.id, a.assure_id, a.date_debut, ro.unit_id, r.id AS region_id,
                   r.social_threshold_days, r.first_contact_deadline_day
            FROM fresh a
            JOIN {t["cpam"]} c ON c.id = a.cpam_id
            JOIN {t["region"]} r ON r.id = c.region_id
            LEFT JOIN routes ro ON ro.cp = a.cp
            WHERE a.date_debut <= {d.add_days("%(day)s", "1 - r.social_threshold_days")}
              {in_region("r.id")}
              AND NOT EXISTS (
                  SELECT 1 FROM {t["sig"]} x
                  WHERE x.assure_id = a.assure_id AND x.service = '{Service.SOCIAL}'
                    AND x.statut IN ({_quoted(OPEN_STATUSES)})
              )
              AND NOT {hooks.open_case_exists_sql("a.assure_id")}
        ){assignment}
        SELECT a.assure_id, a.id, '{Service.SOCIAL}', '{Origine.SEUIL_CPAM}', %(day)s,
               '{SOCIAL_STATUT}', a.unit_id, {assigned_to}, a.region_id,
               {d.add_days("a.date_debut", "a.first_contact_deadline_day - 1")},
               'Arrêt de travail d''au moins ' || a.social_threshold_days || ' jours au '
                   || %(day_fr)s || ' (détection automatique).',
               %(now)s, %(now)s
        FROM elig a
        {join_assigned}
    """


def _assignment_sql(d, source):
    """CTEs ending with `assigned (id, user_id)`: the ASS of each candidate (arrêt `id`,
    `unit_id`) of `source` whose unit is among the auto-assign workers `%(workers)s` (user_id,
    unit_id, load: `_auto_assign_workers`).

    The rule is the sequential one: take the candidates of a unit in arrêt order and give each
    to the worker of lowest (load, id), that load then counting it. Worker w's k-th referral
    (k = 1, 2, …) is taken when its load is load_w + k − 1, so ranking every (w, k) by
    (load_w + k, id) orders the turns exactly as the sequence does: the n-th candidate goes to
    the n-th turn. A unit's n candidates need at most n turns per worker, hence the pairs
    (worker, candidate rank). A candidate refused by a unique constraint at insertion (a
    concurrent writer) leaves its turn unused, as if given and then withdrawn."""
    return f"""
        workers AS ({d.workers_sql()}),
        queue AS (
            SELECT q.id, q.unit_id, ROW_NUMBER() OVER (PARTITION BY q.unit_id ORDER BY q.id) AS n
            FROM {source} q
            WHERE q.unit_id IN (SELECT w.unit_id FROM workers w)
        ),
        turns AS (
            SELECT w.unit_id, w.user_id,
                   ROW_NUMBER() OVER (PARTITION BY w.unit_id ORDER BY w.load + q.n, w.user_id)
                       AS n
            FROM workers w
            JOIN queue q ON q.unit_id = w.unit_id
        ),
        assigned AS (
            SELECT q.id, tu.user_id
            FROM queue q
            JOIN turns tu ON tu.unit_id = q.unit_id AND tu.n = q.n
        )
    """


def _created_events_select(sig, source, t):
    """SELECT the creation event of each new referral `sig` of `source`, with the threshold of
    its region (read in the same snapshot as the candidates)."""
    return f"""
        SELECT {sig}.id, %(now)s, CAST(NULL AS bigint), '{SignalementEvent.Kind.CREATED}', '',
               {sig}.statut,
               'Détection automatique (seuil de '
                   || CASE WHEN {sig}.service = '{Service.MEDICAL}' THEN r.medical_threshold_days
                           ELSE r.social_threshold_days END
                   || ' jours)'
        FROM {source}
        JOIN {t["region"]} r ON r.id = {sig}.region_id
    """


_EVENT_COLUMNS = "signalement_id, at, actor_id, kind, old_value, new_value, reason"
AUTO_ASSIGN_REASON = "Attribution automatique à l'ASS la moins chargée."


def _assigned_events_select(sig, source, d):
    """SELECT the assignment event of each referral `sig` of `source` given to an auto-assign
    worker of `%(workers)s`, with the labels read with the loads."""
    reason = AUTO_ASSIGN_REASON.replace("'", "''")
    return f"""
        SELECT {sig}.id, %(now)s, CAST(NULL AS bigint), '{SignalementEvent.Kind.ASSIGNED}',
               w.unassigned, w.assigned, '{reason}'
        FROM {source}
        JOIN ({d.workers_sql()}) w ON w.user_id = {sig}.assigned_to_id
    """


def _events_sql(t, d, *, assigning):
    """SQLite only (PostgreSQL writes the events in the INSERT statement itself): one creation
    event per new referral, then, with `assigning`, one assignment event per referral given to
    an ASS."""
    new = f"{t['sig']} s"
    sql = f"""
        INSERT INTO {t["event"]} ({_EVENT_COLUMNS})
        {_created_events_select("s", new, t)}
        WHERE s.id IN (SELECT value FROM json_each(%(ids)s))
    """
    if assigning:
        sql += f"""
            UNION ALL
            {_assigned_events_select("s", new, d)}
            WHERE s.id IN (SELECT value FROM json_each(%(ids)s))
        """
    return sql


def _auto_assign_workers():
    """The active ASS of the auto-assign units, with their open load (`with_load`) and the
    labels of their assignment events, for `%(workers)s`: [{user_id, unit_id, load,
    unassigned, assigned}] in id order."""
    workers = with_load(
        User.objects.filter(unit__auto_assign=True, role=Role.ASS, is_active=True).select_related(
            "unit"
        )
    ).order_by("pk")
    return [
        {
            "user_id": worker.pk,
            "unit_id": worker.unit_id,
            "load": worker.load,
            "unassigned": f"{worker.unit} / non attribué"[:100],
            "assigned": f"{worker.unit} / {worker}"[:100],
        }
        for worker in workers
    ]


def _route_counts(social_rows):
    """The new social referrals per unit code (sorted by unit id), plus `"a_repartir"` for those
    left in the regional queue."""
    per_unit = Counter(unit_id for _, unit_id, _, _ in social_rows)
    codes = dict(Unit.objects.filter(pk__in=[u for u in per_unit if u]).values_list("pk", "code"))
    routes = {codes[u]: n for u, n in sorted(per_unit.items(), key=_unit_sort) if u}
    if per_unit.get(None):
        routes["a_repartir"] = per_unit[None]
    return routes


def _unit_sort(item):
    unit_id, _ = item
    return (unit_id is None, unit_id or 0)


class _Dialect:
    """The few places where PostgreSQL and SQLite SQL differ."""

    def __init__(self, conn):
        self.conn = conn
        self.postgres = conn.vendor == "postgresql"

    def lock(self):
        if self.postgres:
            with self.conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SCAN_LOCK_KEY])
                # The correlated subqueries make the planner's cost estimates high enough to
                # trigger JIT compilation, which costs ~1 s per statement and gains nothing on
                # these index-bound statements (measured with bench_referrals).
                cursor.execute("SET LOCAL jit = off")
                # Sorts and hashes over the candidates stay in memory (default 4 MB spills).
                cursor.execute("SET LOCAL work_mem = '64MB'")
        # SQLite: a single writer at a time already; the unique indexes do the rest.

    def create_ongoing(self, cursor, ongoing_sql, params):
        """Write the arrêts the scan looks at into a temporary table, dropped by `drop_ongoing`
        at the end of the scan (or with the rollback of a failed one). The scan is one
        transaction: on PostgreSQL the table is also declared ON COMMIT DROP, so that it never
        outlives it behind PgBouncer in transaction mode (SQLite has no such clause)."""
        create = f"CREATE TEMPORARY TABLE {ONGOING_TABLE}"
        create += " ON COMMIT DROP" if self.postgres else ""
        cursor.execute(f"{create} AS {ongoing_sql}", params)
        if self.postgres:  # fresh statistics for the planner of the next statements
            cursor.execute(f"ANALYZE {ONGOING_TABLE}")

    def drop_ongoing(self, cursor):
        cursor.execute(f"DROP TABLE {ONGOING_TABLE}")

    def insert(self, cursor, candidates_sql, params, *, assigning=False):
        """Insert the candidate referrals, skipping any that a unique constraint refuses;
        returns [(id, unit_id, region_id, assigned_to_id)] of the new rows. On PostgreSQL the
        same statement writes their creation events, and with `assigning` the assignment events
        of those given to an ASS (a data-modifying CTE); elsewhere `_events_sql` does."""
        sig, event = Signalement._meta.db_table, SignalementEvent._meta.db_table
        cand = f"cand ({_INSERTED})"
        returned = "id, unit_id, region_id, assigned_to_id"
        if self.postgres:
            events = _created_events_select("ins", "ins", _tables())
            if assigning:
                events += f"UNION ALL {_assigned_events_select('ins', 'ins', self)}"
            sql = f"""
                WITH {cand} AS ({candidates_sql}),
                ins AS (
                    INSERT INTO {sig} ({_INSERTED})
                    SELECT {_INSERTED} FROM cand WHERE true
                    ON CONFLICT DO NOTHING
                    RETURNING {returned}, service, statut
                ),
                events AS (INSERT INTO {event} ({_EVENT_COLUMNS}) {events})
                SELECT {returned} FROM ins
            """
        else:
            sql = f"""
                WITH {cand} AS ({candidates_sql})
                INSERT INTO {sig} ({_INSERTED})
                SELECT {_INSERTED} FROM cand WHERE true
                ON CONFLICT DO NOTHING
                RETURNING {returned}
            """
        cursor.execute(sql, params)
        return cursor.fetchall()

    def date(self, value):
        return self.conn.ops.adapt_datefield_value(value)

    def datetime(self, value):
        return self.conn.ops.adapt_datetimefield_value(value)

    def add_days(self, date_sql, days_sql):
        if self.postgres:
            return f"(CAST({date_sql} AS date) + CAST({days_sql} AS integer))"
        return f"date({date_sql}, ({days_sql}) || ' days')"

    def workers_sql(self):
        """The rows of the JSON parameter `%(workers)s` (`_auto_assign_workers`)."""
        if self.postgres:
            return """SELECT * FROM json_to_recordset(CAST(%(workers)s AS json)) AS w(
                user_id bigint, unit_id bigint, load integer, unassigned text, assigned text)"""
        fields = ("user_id", "unit_id", "load", "unassigned", "assigned")
        columns = ", ".join(f"json_extract(value, '$.{f}') AS {f}" for f in fields)
        return f"SELECT {columns} FROM json_each(%(workers)s)"
