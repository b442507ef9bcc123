"""The catalogue of indicators (issue 13, item 1) and their tables.

Each indicator is a `definitions.Indicator`; the collective actions', surveys' and cellule
PDP's are in `catalogue_collective` and `catalogue_cellule`.

`table(indicator, scope, period)` gives an indicator's table for a scope and a period: months
the nightly snapshots cover are read from them (`indicators.snapshots`), the rest — the
current month, days of a month cut by custom dates, months not computed yet — is counted live
(`indicators.counting`), with the same grouping. A constant number of queries whatever the
volume: the cells of the period and of the period before, each from the snapshots and/or live;
the breakdown by unit or region comes from the same cells.
"""

import datetime
import math

from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate

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
from indicators import catalogue_cellule, catalogue_collective, counting, snapshots
from indicators.definitions import (
    ACTIVE,
    CASE_FILTERS,
    FLOW,
    MEAN,
    PERCENTILES,
    REFERRAL_FILTERS,
    STOCK,
    Indicator,
    Table,
    through,
)
from indicators.periods import month_end, month_start, shift
from outreach.models import AppelCible, CanalCampagne, Cible
from referrals.models import ContactAttempt, Origine, Service, Signalement

DELAY_BUCKETS = (
    ("j7", "7 jours ou moins", 7),
    ("j15", "8 à 15 jours", 15),
    ("j30", "16 à 30 jours", 30),
    ("j60", "31 à 60 jours", 60),
    ("plus", "Plus de 60 jours", None),
)
NOT_YET = "Pas encore"
MEETING_BUCKETS = (
    ("0", "Aucun entretien", 0),
    ("1", "1 entretien", 1),
    ("2-3", "2 ou 3 entretiens", 3),
    ("4-5", "4 ou 5 entretiens", 5),
    ("6-9", "6 à 9 entretiens", 9),
    ("10+", "10 entretiens ou plus", None),
)
FUNNEL_STAGES = (
    ("contactes", "Contactées", Q()),
    ("ouvert", "Lien ouvert", Q(ouvert_le__isnull=False)),
    ("rdv", "Rendez-vous pris", Q(rdv_pris_le__isnull=False)),
)
SOCIAL = Q(service=Service.SOCIAL)


class DaysBetween(Func):
    """Whole days from the date `earlier` to the date `later` (an integer; null if either is)."""

    output_field = IntegerField()
    arg_joiner = " - "
    template = "(%(expressions)s)"  # PostgreSQL: date - date is an integer

    def as_sqlite(self, compiler, connection, **extra):
        later, earlier = (compiler.compile(e) for e in self.get_source_expressions())
        sql = f"CAST(julianday({later[0]}) - julianday({earlier[0]}) AS INTEGER)"
        return sql, (*later[1], *earlier[1])


def _dispositif_types():
    return list(DispositifType.objects.order_by("label").values_list("pk", "label"))


def _first_day(subquery):
    """The local date of the first of a subquery's datetimes ("at" or "debut")."""
    return TruncDate(Subquery(subquery[:1]))


def _first_attempt(success_only):
    attempts = ContactAttempt.objects.filter(signalement=OuterRef("pk"))
    if success_only:
        attempts = attempts.filter(resultat=ContactAttempt.Resultat.JOINT)
    return _first_day(attempts.order_by("at").values("at"))


def _first_meeting():
    meetings = Entretien.objects.filter(
        accompagnement__signalement=OuterRef("pk"), statut=Entretien.Statut.REALISE
    )
    return _first_day(meetings.order_by("debut").values("debut"))


def _delay_indicator(*, code, label, definition, first):
    """Social-service referrals received in the period, by delay in days from the referral to
    `first` (a date expression); median and 80th percentile over those with one."""
    return Indicator(
        code=code,
        label=label,
        definition=definition,
        version=1,
        model=Signalement,
        date_path="date_signalement",
        where=SOCIAL,
        filter_paths=REFERRAL_FILTERS,
        unit_path="unit_id",
        region_path="region_id",
        annotations={"delai": DaysBetween(first, F("date_signalement"))},
        annotation_paths=("date_signalement",),
        rows=("delai", (), "Délai"),
        buckets=DELAY_BUCKETS,
        none_label=NOT_YET,
        stats=PERCENTILES,
    )


def _reached_on():
    """The day a campaign reached its target: the invitation sent (SMS, e-mail, letter,
    webinar) or, for the call list, the first call."""
    first_call = AppelCible.objects.filter(cible=OuterRef("pk")).order_by("at").values("at")
    return Case(
        When(canal=CanalCampagne.APPEL, then=_first_day(first_call)),
        default=TruncDate("envoye_le"),
    )


def _meetings_before_closure():
    held = (
        Entretien.objects.filter(
            accompagnement=OuterRef("accompagnement"),
            statut=Entretien.Statut.REALISE,
            debut__date__lte=OuterRef("date_cloture"),
        )
        .order_by()
        .values("accompagnement")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(held), Value(0))


CONTACT_DUE = (
    ("avant", "Jointes avant l'échéance"),
    ("apres", "Jointes après l'échéance"),
    ("pas_encore", "Pas encore jointes"),
    ("sans_echeance", "Sans échéance connue"),
)


# The row of `contact_avant_echeance`, over the annotation `premier_contact`.
CONTACT_DUE_ROW = Case(
    When(Q(date_echeance__isnull=True), then=Value("sans_echeance")),
    When(Q(premier_contact__isnull=True), then=Value("pas_encore")),
    When(Q(premier_contact__lte=F("date_echeance")), then=Value("avant")),
    default=Value("apres"),
)

CORE = [
    Indicator(
        code="signalements_origine",
        label="Signalements par origine et service",
        definition=(
            "Nombre de signalements reçus dans la période (date du signalement), par origine"
            " et par service destinataire, quel que soit leur statut aujourd'hui."
        ),
        version=1,
        model=Signalement,
        date_path="date_signalement",
        filter_paths=REFERRAL_FILTERS,
        unit_path="unit_id",
        region_path="region_id",
        rows=("origine", Origine.choices, "Origine"),
        columns=("service", Service.choices),
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
        first=_first_attempt(success_only=False),
    ),
    _delay_indicator(
        code="delai_premier_contact",
        label="Délai du signalement au premier contact réussi",
        definition=(
            "Signalements au service social reçus dans la période, par délai en jours jusqu'à la"
            " première tentative où la personne a été jointe ; médiane et 80e centile sur les"
            " personnes jointes."
        ),
        first=_first_attempt(success_only=True),
    ),
    _delay_indicator(
        code="delai_premier_entretien",
        label="Délai du signalement au premier entretien",
        definition=(
            "Signalements au service social reçus dans la période, par délai en jours jusqu'au"
            " premier entretien réalisé de l'accompagnement ouvert sur ce signalement ;"
            " médiane et 80e centile sur les personnes déjà reçues en entretien."
        ),
        first=_first_meeting(),
    ),
    Indicator(
        code="contact_avant_echeance",
        label="Personnes jointes avant la fin du 4e mois d'arrêt",
        definition=(
            "Signalements au service social reçus dans la période, selon que la personne a été"
            " jointe (première tentative réussie) au plus tard à l'échéance du premier contact"
            " — la fin du 4e mois de l'arrêt, ou le seuil de la région — ou après, ou pas"
            " encore ; « Part » donne la part de chaque cas."
        ),
        version=1,
        model=Signalement,
        date_path="date_signalement",
        where=SOCIAL,
        filter_paths=REFERRAL_FILTERS,
        unit_path="unit_id",
        region_path="region_id",
        annotations={
            "premier_contact": _first_attempt(success_only=True),
            "echeance": CONTACT_DUE_ROW,
        },
        annotation_paths=("date_echeance",),
        rows=("echeance", CONTACT_DUE, "Premier contact"),
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
        version=2,
        model=Cible,
        date_path="atteint_le",
        filter_paths={"cpam": "arret__cpam_id", "type_arret": "arret__type_arret"},
        unit_path="campagne__unit_id",
        region_path="campagne__region_id",
        annotations={"atteint_le": _reached_on()},
        annotation_paths=("canal",),
        rows=(
            "canal",
            [(v, label) for v, label in CanalCampagne.choices if v != CanalCampagne.AUCUN],
            "Canal",
        ),
        stages=FUNNEL_STAGES,
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
        date_path="date_ouverture",
        filter_paths=CASE_FILTERS,
        unit_path="unit_id",
        region_path="region_id",
        rows=("mission", Mission.choices, "Mission"),
    ),
    Indicator(
        code="personnes_accompagnees",
        label="Personnes accompagnées individuellement",
        definition=(
            "Accompagnements individuels en cours à un moment de la période : ouverts au plus"
            " tard son dernier jour et pas clôturés avant son premier jour (la file active de la"
            " veille plus les ouvertures de la période), par mission. Chaque accompagnement"
            " compte une personne."
        ),
        version=1,
        model=Accompagnement,
        kind=ACTIVE,
        start_path="date_ouverture",
        end_path="date_cloture",
        filter_paths=CASE_FILTERS,
        unit_path="unit_id",
        region_path="region_id",
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
        kind=STOCK,
        start_path="date_ouverture",
        end_path="date_cloture",
        filter_paths=CASE_FILTERS,
        unit_path="unit_id",
        region_path="region_id",
        rows=("mission", Mission.choices, "Mission"),
    ),
    Indicator(
        code="entretiens_realises",
        label="Entretiens individuels réalisés",
        definition=(
            "Entretiens d'accompagnement individuel tenus dans la période (statut « réalisé »,"
            " date de l'entretien), par modalité."
        ),
        version=1,
        model=Entretien,
        date_path="debut",
        where=Q(statut=Entretien.Statut.REALISE),
        filter_paths=through("accompagnement", CASE_FILTERS),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("mode", Entretien.Mode.choices, "Modalité"),
    ),
    Indicator(
        code="entretiens_par_cloture",
        label="Entretiens par accompagnement clôturé",
        definition=(
            "Accompagnements clôturés dans la période (date de clôture), par nombre d'entretiens"
            " réalisés jusqu'à la clôture ; la moyenne sur ces accompagnements."
        ),
        version=1,
        model=Cloture,
        date_path="date_cloture",
        filter_paths=through("accompagnement", CASE_FILTERS),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        annotations={"entretiens": _meetings_before_closure()},
        annotation_paths=("accompagnement_id",),
        rows=("entretiens", (), "Entretiens"),
        buckets=MEETING_BUCKETS,
        stats=MEAN,
    ),
    Indicator(
        code="dispositifs",
        label="Dispositifs mobilisés, par type et statut",
        definition=(
            "Dispositifs dont le début tombe dans la période, par type et par statut à ce jour"
            " (envisagé, demandé, accordé, en cours, terminé, refusé, abandonné)."
        ),
        version=1,
        model=DispositifMobilise,
        date_path="date_debut",
        filter_paths=through("accompagnement", CASE_FILTERS),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("type_id", _dispositif_types, "Dispositif"),
        columns=("statut", DispositifStatut.choices),
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
        date_path="date_cloture",
        filter_paths=through("accompagnement", CASE_FILTERS),
        unit_path="accompagnement__unit_id",
        region_path="accompagnement__unit__region_id",
        rows=("outcome", Outcome.choices, "Issue"),
    ),
]
CATALOGUE = CORE + catalogue_collective.INDICATORS + catalogue_cellule.INDICATORS
BY_CODE = {indicator.code: indicator for indicator in CATALOGUE}
assert len(BY_CODE) == len(CATALOGUE), "indicator codes are unique"


# --- Reading a period ---------------------------------------------------------------------------


def _ranges_without(period, used):
    """The date ranges of the period outside the `used` ranges (sorted, disjoint)."""
    ranges, day = [], period.start
    for start, until in used:
        if day < start:
            ranges.append((day, start - datetime.timedelta(days=1)))
        day = until + datetime.timedelta(days=1)
    if day <= period.end:
        ranges.append((day, period.end))
    return ranges


def _candidate_months(period):
    """The months a page may read from the snapshots for `period` and the one before: every
    month they touch, and the one before (a stock read on its last day)."""
    first = shift(month_start(period.previous().start), -1)
    months = []
    while first <= period.end:
        months.append(first)
        first = shift(first, 1)
    return months


def _plan(indicator, period, coverage):
    """How the cells of `period` are read: ([(part, months)] from the snapshots, the date
    ranges counted live or None, the day whose stock is counted live or None)."""
    done = {
        m: until
        for (code, version, m), until in coverage.items()
        if (code, version) == _key(indicator)
    }
    reads, ranges, stock_day = [], None, None
    if indicator.kind in (FLOW, ACTIVE):
        used = sorted(
            (m, until) for m, until in done.items() if m >= period.start and until <= period.end
        )
        reads.append((counting.FLOW_PART, tuple(m for m, _until in used)))
        ranges = _ranges_without(period, used)
    if indicator.kind in (STOCK, ACTIVE):
        day = period.end if indicator.kind == STOCK else period.start - datetime.timedelta(1)
        first = month_start(day)
        if done.get(first) == day == month_end(first):
            reads.append((counting.STOCK_PART, (first,)))
        else:
            stock_day = day
    return [(part, months) for part, months in reads if months], ranges, stock_day


def cells(indicator, scope, period, filters, coverage, stored=None):
    """The cells of `period`: from the snapshots for the days `coverage` has (whole months, and
    the current month up to yesterday), live for the rest. `stored`: the snapshot cells already
    read (`snapshots.stored_many`), else they are read here."""
    reads, ranges, stock_day = _plan(indicator, period, coverage)
    out = []
    for part, months in reads:
        if stored is not None:
            out += stored[(*_key(indicator), part, months)]
        else:
            out += snapshots.stored(indicator, scope, filters, part, list(months))
    if ranges is not None:
        out += counting.live_flow(indicator, scope, filters, ranges)
    if stock_day is not None:
        out += counting.live_stock(indicator, scope, filters, stock_day)
    return out


def _key(indicator):
    return (indicator.code, indicator.version)


def _bucket(indicator, row_key):
    if row_key == "":
        return "_none"
    value = int(row_key)
    for key, _label, limit in indicator.buckets:
        if limit is None or value <= limit:
            return key
    return indicator.buckets[-1][0]


def _choices(indicator):
    if indicator.histogram:
        choices = [(key, label) for key, label, _limit in indicator.buckets]
        if indicator.none_label:
            choices.append(("_none", indicator.none_label))
        return choices
    choices = indicator.rows[1]
    if callable(choices):  # from the database (one query)
        choices = choices()
    return [(_text(value), label) for value, label in choices]


def _text(value):
    """A choice's value as the database casts it to text."""
    if isinstance(value, bool):  # PostgreSQL casts to true/false, SQLite to 1/0
        if connection.vendor == "sqlite":
            return str(int(value))
        return "true" if value else "false"
    return str(value)


def _row(indicator, cell):
    return _bucket(indicator, cell["_row"]) if indicator.histogram else cell["_row"]


def percentile(histogram, fraction):
    """PostgreSQL's percentile_cont over the values of `histogram` {value: count}."""
    values = sorted(histogram.items())
    total = sum(n for _v, n in values)
    if not total:
        return None
    position = fraction * (total - 1)
    low = math.floor(position)

    def at(index):
        seen = 0
        for value, n in values:
            seen += n
            if index < seen:
                return value
        return values[-1][0]

    lower = at(low)
    upper = at(low + 1) if low + 1 < total else lower
    return round(lower + (position - low) * (upper - lower), 1)


def _stats(indicator, current):
    if not indicator.stats:
        return []
    histogram = {}
    for cell in current:
        if cell["_row"] != "":
            value = int(cell["_row"])
            histogram[value] = histogram.get(value, 0) + cell["n"]
    base = sum(histogram.values())
    if indicator.stats == MEAN:
        mean = round(sum(v * n for v, n in histogram.items()) / base, 1) if base else None
        return [("Moyenne", mean, base)]
    return [
        ("Médiane (jours)", percentile(histogram, 0.5), base),
        ("80e centile (jours)", percentile(histogram, 0.8), base),
    ]


def _first_column(indicator, cell):
    return not indicator.stages or cell["_col"] == indicator.stages[0][0]


def table(indicator, scope, period, *, names=None, filters=None, coverage=None, stored=None):
    """The indicator's table for `scope` and `period` (see the module's docstring). `names`:
    {unit or region id: name} for the breakdown; `filters`: {filter name: value}; `coverage`:
    `snapshots.covered` (read when not given); `stored`: the snapshot cells of both periods
    already read (`snapshots.stored_many`). None when a filter does not apply."""
    filters = filters or {}
    if not applies(indicator, filters):
        return None
    if coverage is None:
        coverage = snapshots.covered(scope, _candidate_months(period))
    current = cells(indicator, scope, period, filters, coverage, stored)
    previous = cells(indicator, scope, period.previous(), filters, coverage, stored)
    row_choices = _choices(indicator)
    if indicator.stages:
        column_choices = [(key, label) for key, label, _q in indicator.stages]
    elif indicator.columns:
        column_choices = [(_text(v), label) for v, label in indicator.columns[1]]
    else:
        column_choices = [("", "Nombre")]
    now, before = {}, {}
    for cell in current:
        key = (_row(indicator, cell), cell["_col"])
        now[key] = now.get(key, 0) + cell["n"]
    for cell in previous:
        if _first_column(indicator, cell):
            key = _row(indicator, cell)
            before[key] = before.get(key, 0) + cell["n"]
    rows, column_totals = [], [0] * len(column_choices)
    for value, label in row_choices:
        counts = [now.get((value, c), 0) for c, _l in column_choices]
        column_totals = [a + b for a, b in zip(column_totals, counts, strict=True)]
        total = counts[0] if indicator.stages else sum(counts)
        rows.append([label, counts, total, before.get(value, 0)])
    shown = {value for value, _label in row_choices}
    result = Table(
        indicator=indicator,
        row_header=indicator.rows[2],
        column_labels=[label for _c, label in column_choices],
        rows=rows,
        total=[
            column_totals,
            column_totals[0] if indicator.stages else sum(column_totals),
            sum(n for key, n in before.items() if key in shown),
        ],
        stats=_stats(indicator, current),
    )
    if scope.breakdown is not None:
        geo = "_unit" if scope.breakdown == "unit" else "_region"
        now_by, before_by = {}, {}
        for source, target in ((current, now_by), (previous, before_by)):
            for cell in source:
                if _first_column(indicator, cell) and _row(indicator, cell) in shown:
                    target[cell[geo]] = target.get(cell[geo], 0) + cell["n"]
        names = names or {}
        result.breakdown = sorted(
            (
                (
                    names.get(key, "File régionale (sans unité)"),
                    now_by.get(key, 0),
                    before_by.get(key, 0),
                )
                for key in set(now_by) | set(before_by)
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


def for_scope(scope):
    """The indicators a scope shows: a coordinator's, those of the cellule PDP."""
    if scope.level == "instances":
        return [indicator for indicator in CATALOGUE if indicator.instance_path]
    return CATALOGUE


def applies(indicator, filters):
    """Whether every chosen filter applies to the indicator (else its table is « non
    applicable »)."""
    return all(name in indicator.filter_paths for name in filters or {})


def tables(scope, period, filters=None):
    """[(indicator, its table or None when a filter does not apply)]. The snapshot cells of
    every table, for the period and the one before, are read in one query."""
    names = breakdown_names(scope)
    coverage = snapshots.covered(scope, _candidate_months(period))
    indicators = for_scope(scope)
    reads = [
        (indicator, part, months)
        for indicator in indicators
        if applies(indicator, filters)
        for shown in (period, period.previous())
        for part, months in _plan(indicator, shown, coverage)[0]
    ]
    stored = snapshots.stored_many(scope, filters, reads)
    return [
        (
            indicator,
            table(
                indicator,
                scope,
                period,
                names=names,
                filters=filters,
                coverage=coverage,
                stored=stored,
            ),
        )
        for indicator in indicators
    ]
