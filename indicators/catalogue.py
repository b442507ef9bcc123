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
import datetime

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import TruncDate

from cases.models import (
    Accompagnement,
    Cloture,
    DispositifMobilise,
    DispositifStatut,
    DispositifType,
    Entretien,
    Mission,
    Outcome,
)
from outreach.models import AppelCible, CanalCampagne, Cible
from referrals.models import ContactAttempt, Origine, Service, Signalement


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
    # Instead of grouping by `rows`: counter(queryset) -> ({row value: n}, [(label, value)]),
    # rows and statistics (delays); no breakdown by unit then.
    counter: object = None
    counter_groups: tuple = ()  # the paths a counter groups by (checked like the others)
    stages: bool = False  # the columns are successive stages: a row's total is its first
    # {filter name: path} of the filters that apply (`indicators.filters`).
    filter_paths: dict = dataclasses.field(default_factory=dict)

    @property
    def grouping_paths(self):
        paths = [self.unit_path, self.region_path, *self.counter_groups]
        if self.counter is None:  # a counter groups by `counter_groups` only
            paths.append(self.rows[0])
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
    stats: list = dataclasses.field(default_factory=list)  # [(label, days or None, base)]


def _between(field):
    return lambda period: Q(**{f"{field}__gte": period.start, f"{field}__lte": period.end})


def _dispositif_types():
    return list(DispositifType.objects.order_by("label").values_list("pk", "label"))


def _open_at_end(period):
    return Q(date_ouverture__lte=period.end) & (
        Q(date_cloture__isnull=True) | Q(date_cloture__gt=period.end)
    )


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(f) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()  # over date differences: an interval


DELAY_BUCKETS = [
    ("j7", "7 jours ou moins", 7),
    ("j15", "8 à 15 jours", 15),
    ("j30", "16 à 30 jours", 30),
    ("j60", "31 à 60 jours", 60),
    ("plus", "Plus de 60 jours", None),
    ("aucun", "Pas encore", None),
]


def _delay_counter(success_only):
    """Counts of the referrals by delay from the referral to its first contact attempt (or
    first successful one), the median and the 80th percentile in days (PostgreSQL only: None
    elsewhere) — one query, and one more for the percentiles."""

    def counter(qs):
        attempts = ContactAttempt.objects.filter(signalement=OuterRef("pk"))
        if success_only:
            attempts = attempts.filter(resultat=ContactAttempt.Resultat.JOINT)
        first = Subquery(attempts.order_by("at").values("at")[:1])
        qs = qs.annotate(first_day=TruncDate(first))
        limits, counts = {}, {}
        previous = None
        for key, _label, days in DELAY_BUCKETS:
            if key == "aucun":
                limits[key] = Count("pk", filter=Q(first_day__isnull=True))
            elif days is None:
                limits[key] = Count(
                    "pk",
                    filter=Q(first_day__gt=F("date_signalement") + datetime.timedelta(days=60)),
                )
            else:
                condition = Q(first_day__lte=F("date_signalement") + datetime.timedelta(days=days))
                if previous is not None:
                    condition &= Q(
                        first_day__gt=F("date_signalement") + datetime.timedelta(days=previous)
                    )
                limits[key] = Count("pk", filter=condition)
                previous = days
        counts = qs.aggregate(**limits)
        stats = [("Médiane (jours)", None), ("80e centile (jours)", None)]
        reached = sum(n for k, n in counts.items() if k != "aucun")
        if connection.vendor == "postgresql" and reached:
            delay = F("first_day") - F("date_signalement")
            values = qs.filter(first_day__isnull=False).aggregate(
                median=Percentile(delay, fraction=0.5), p80=Percentile(delay, fraction=0.8)
            )
            stats = [
                ("Médiane (jours)", _days(values["median"])),
                ("80e centile (jours)", _days(values["p80"])),
            ]
        keyed = {(k,): n for k, n in counts.items()}
        return keyed, stats, reached, keyed

    return counter


FUNNEL_STAGES = [
    ("contactes", "Contactées"),
    ("ouvert", "Lien ouvert"),
    ("rdv", "Rendez-vous pris"),
]


def _reached_in(period):
    """A campaign's target reached in the period: its invitation sent then (SMS, e-mail,
    letter, webinar), or for the call list a first call then."""
    calls = AppelCible.objects.filter(
        cible=OuterRef("pk"), at__date__gte=period.start, at__date__lte=period.end
    )
    sent = Q(envoye_le__date__gte=period.start, envoye_le__date__lte=period.end)
    return (sent & ~Q(canal=CanalCampagne.APPEL)) | (Q(canal=CanalCampagne.APPEL) & Exists(calls))


def _funnel_counter(qs):
    rows = (
        qs.values("canal")
        .order_by()
        .annotate(
            contactes=Count("pk"),
            ouvert=Count("pk", filter=Q(ouvert_le__isnull=False)),
            rdv=Count("pk", filter=Q(rdv_pris_le__isnull=False)),
        )
    )
    counts = {}
    for row in rows:
        for stage, _label in FUNNEL_STAGES:
            counts[(row["canal"], stage)] = row[stage]
    before = {(canal,): n for (canal, stage), n in counts.items() if stage == "contactes"}
    return counts, [], None, before


def _days(value):
    """A percentile of date differences, in days (PostgreSQL gives a number of days)."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() / 86400, 1)
    return round(float(value), 1)


REFERRAL_FILTERS = {"cpam": "arret__cpam_id", "type_arret": "arret__type_arret"}
CASE_FILTERS = {
    "mission": "mission",
    "cpam": "assure__cpam_id",
    "type_arret": "signalement__arret__type_arret",
}


def _through(prefix, paths):
    return {name: f"{prefix}__{path}" for name, path in paths.items()}


def _delay_indicator(*, code, label, definition, success_only):
    """A delay of the social service's referrals received in the period (`_delay_counter`)."""
    return Indicator(
        code=code,
        label=label,
        definition=definition,
        version=1,
        filter_paths=REFERRAL_FILTERS,
        model=Signalement,
        in_period=lambda p: _between("date_signalement")(p) & Q(service=Service.SOCIAL),
        unit_path="unit_id",
        region_path="region_id",
        rows=("delai", [(k, text) for k, text, _d in DELAY_BUCKETS], "Délai"),
        counter=_delay_counter(success_only=success_only),
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
        filter_paths=REFERRAL_FILTERS,
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
        filter_paths=CASE_FILTERS,
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
        filter_paths=CASE_FILTERS,
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
        filter_paths=_through("accompagnement", CASE_FILTERS),
        model=Cloture,
        in_period=_between("date_cloture"),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("outcome", Outcome.choices, "Issue"),
    ),
    Indicator(
        code="entretiens_realises",
        label="Entretiens individuels réalisés",
        definition=(
            "Entretiens d'accompagnement individuel tenus dans la période (statut « réalisé »,"
            " date de l'entretien), par modalité."
        ),
        version=1,
        filter_paths=_through("accompagnement", CASE_FILTERS),
        model=Entretien,
        in_period=lambda p: Q(
            statut=Entretien.Statut.REALISE, debut__date__gte=p.start, debut__date__lte=p.end
        ),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("mode", Entretien.Mode.choices, "Modalité"),
    ),
    Indicator(
        code="dispositifs",
        label="Dispositifs mobilisés, par type et statut",
        definition=(
            "Dispositifs dont le début tombe dans la période, par type et par statut à ce jour"
            " (envisagé, demandé, accordé, en cours, terminé, refusé, abandonné)."
        ),
        version=1,
        filter_paths=_through("accompagnement", CASE_FILTERS),
        model=DispositifMobilise,
        in_period=_between("date_debut"),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("type_id", _dispositif_types, "Dispositif"),
        columns=("statut", DispositifStatut.choices),
    ),
    _delay_indicator(
        code="delai_premiere_tentative",
        label="Délai du signalement à la première tentative de contact",
        definition=(
            "Signalements au service social reçus dans la période (date du signalement), par"
            " délai en jours jusqu'à la première tentative de contact, quel qu'en soit le"
            " résultat ; médiane et 80e centile sur ceux déjà tentés, les autres comptés « pas"
            " encore »."
        ),
        success_only=False,
    ),
    _delay_indicator(
        code="delai_premier_contact",
        label="Délai du signalement au premier contact réussi",
        definition=(
            "Signalements au service social reçus dans la période, par délai en jours jusqu'à la"
            " première tentative où la personne a été jointe ; médiane et 80e centile sur les"
            " personnes jointes."
        ),
        success_only=True,
    ),
    Indicator(
        code="campagnes_canal",
        label="Personnes contactées par les campagnes, par canal",
        definition=(
            "Personnes d'une campagne de contact atteintes dans la période — invitation envoyée"
            " (SMS, e-mail, courrier, webinaire) ou, pour les appels, premier appel passé — par"
            " canal, puis celles qui ont ouvert leur lien et celles qui ont pris rendez-vous"
            " (à ce jour). Les campagnes régionales comptent dans la vue de la région, pas dans"
            " celle d'une unité."
        ),
        version=1,
        filter_paths={"cpam": "arret__cpam_id", "type_arret": "arret__type_arret"},
        model=Cible,
        in_period=_reached_in,
        unit_path="campagne__unit_id",
        region_path="campagne__region_id",
        rows=(
            "canal",
            [(v, label) for v, label in CanalCampagne.choices if v != CanalCampagne.AUCUN],
            "Canal",
        ),
        columns=("etape", FUNNEL_STAGES),
        counter=_funnel_counter,
        counter_groups=("canal",),
        stages=True,
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


def table(indicator, scope, period, *, names=None, filters=None):
    """The indicator's table for `scope` and `period` (see the module's docstring). `names`:
    {unit or region id: name} for the breakdown; `filters`: {filter name: value}. None when a
    filter does not apply to the indicator."""
    filters = filters or {}
    missing = [name for name in filters if name not in indicator.filter_paths]
    if missing:
        return None
    qs = _scoped(indicator, scope).filter(
        **{indicator.filter_paths[name]: value for name, value in filters.items()}
    )
    current = qs.filter(indicator.in_period(period))
    previous = qs.filter(indicator.in_period(period.previous()))
    row_path, row_choices, row_header = indicator.rows
    if callable(row_choices):  # choices from the database (one query)
        row_choices = row_choices()
    column_path, column_choices = indicator.columns or (None, [(None, "Nombre")])
    paths = [row_path] + ([column_path] if column_path else [])
    stats = []
    if indicator.counter is not None:
        now, stats, reached, _ = indicator.counter(current)
        before = indicator.counter(previous)[3]
        stats = [(label, value, reached) for label, value in stats]
    else:
        now = _grouped(current, *paths)
        before = _grouped(previous, row_path)
    rows = []
    column_totals = [0] * len(column_choices)
    for value, label in row_choices:
        counts = [now.get((value, c) if column_path else (value,), 0) for c, _l in column_choices]
        column_totals = [a + b for a, b in zip(column_totals, counts, strict=True)]
        total = counts[0] if indicator.stages else sum(counts)
        rows.append([label, counts, total, before.get((value,), 0)])
    result = Table(
        indicator=indicator,
        row_header=row_header,
        column_labels=[label for _c, label in column_choices],
        rows=rows,
        total=[
            column_totals,
            column_totals[0] if indicator.stages else sum(column_totals),
            sum(before.values()),
        ],
        stats=stats,
    )
    if scope.breakdown is not None and indicator.counter is None:
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


def tables(scope, period, filters=None):
    """[(indicator, its table or None when a filter does not apply)]."""
    names = breakdown_names(scope)
    return [
        (indicator, table(indicator, scope, period, names=names, filters=filters))
        for indicator in CATALOGUE
    ]
