"""The nightly snapshots (issue 13, item 7): for every indicator, scope and kind of period, a
table read from the snapshots (months they cover) and live (the rest) equals the table counted
live; the pages do read them; the current month is counted live; a run is idempotent and two
workers on the same region give the rows of one."""

import datetime
import threading
import zoneinfo

import pytest
from django.db import connection

from cases.models import Accompagnement, Cloture, DispositifMobilise, DispositifType, Entretien
from indicators import catalogue, periods, snapshots, tasks
from indicators.models import Snapshot, SnapshotMonth
from indicators.scope import Scope
from referrals.models import ContactAttempt, Signalement
from tests.factories import (
    AccompagnementFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

D = datetime.date
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TODAY = D(2026, 5, 20)  # the snapshots cover up to 19 May 2026; 20 May on is counted live


def _build():
    region = RegionFactory()
    a = UnitFactory(region=region, name="Unité A")
    b = UnitFactory(region=region, name="Unité B")
    elsewhere = UnitFactory(
        region=RegionFactory(code="BRE", name="CARSAT Bretagne"), name="Unité C"
    )
    pmsmp = DispositifType.objects.create(code="pmsmp-snap", label="PMSMP (s)", phase="pendant")
    for n, unit in enumerate([a, a, b, elsewhere] * 5):
        month = 1 + n % 5  # January to May
        day = D(2026, month, 1 + (n * 3) % 27)
        referral = SignalementFactory(
            unit=unit,
            date_signalement=day,
            service="social" if n % 4 else "medical",
            date_echeance=day + datetime.timedelta(days=20) if n % 3 else None,
        )
        if n % 5:
            ContactAttempt.objects.create(
                signalement=referral,
                at=datetime.datetime.combine(day, datetime.time(10), PARIS)
                + datetime.timedelta(days=n * 2),
                canal="telephone",
                resultat="joint" if n % 2 else "pas_de_reponse",
            )
        ass = UserFactory(ass=True, unit=unit)
        case = AccompagnementFactory(
            referent=ass,
            signalement=referral,
            date_ouverture=day,
            mission="pdp" if n % 3 else "securisation",
        )
        for k in range(n % 4):
            Entretien.objects.create(
                accompagnement=case,
                ass=ass,
                mode="sur_place" if k % 2 else "telephone",
                statut="realise",
                debut=datetime.datetime.combine(day, datetime.time(14), PARIS)
                + datetime.timedelta(days=7 * (k + 1)),
            )
        if n % 2:
            closed = day + datetime.timedelta(days=40)
            Accompagnement.objects.filter(pk=case.pk).update(statut="cloture", date_cloture=closed)
            Cloture.objects.create(
                accompagnement=case,
                outcome="maintien_poste" if n % 3 else "formation",
                date_cloture=closed,
                closed_by=ass,
            )
        DispositifMobilise.objects.create(
            accompagnement=case,
            type=pmsmp,
            statut="accorde" if n % 2 else "refuse",
            date_debut=day + datetime.timedelta(days=10),
        )
    return region, a, b, elsewhere


@pytest.fixture
def data(db):
    return _build()


def _scopes(region, a, b):
    return [
        Scope("unit", a.name, unit_id=a.pk, region_id=region.pk),
        Scope("region", region.name, region_id=region.pk),
        # As the page builds it: the live counts go through the region's unit ids.
        Scope("region", region.name, region_id=region.pk, unit_ids=(a.pk, b.pk)),
        Scope("nation", "France entière"),
    ]


PERIODS = [
    periods.month(2026, 3),
    periods.quarter(2026, 1),
    periods.quarter(2026, 2),  # April from the snapshots, May live
    periods.year_period(2026),
    periods.Period("perso", D(2026, 2, 10), D(2026, 4, 20)),
]


def _compute_all():
    from pdp.models import Region

    for pk in Region.objects.values_list("pk", flat=True):
        snapshots.compute_region(pk, today=TODAY)


def test_the_snapshots_give_the_live_figures_for_every_indicator(data):
    region, a, b, _c = data
    _compute_all()
    assert Snapshot.objects.filter(rollup=Snapshot.BY_REGION).exists()
    for scope in _scopes(region, a, b):
        names = catalogue.breakdown_names(scope)
        for period in PERIODS:
            coverage = snapshots.covered(scope, catalogue._candidate_months(period))
            assert coverage, (scope.level, period)
            for filters in ({}, {"mission": "pdp"}):
                for indicator in catalogue.CATALOGUE:
                    read = catalogue.table(
                        indicator, scope, period, names=names, filters=filters, coverage=coverage
                    )
                    live = catalogue.table(
                        indicator, scope, period, names=names, filters=filters, coverage={}
                    )
                    assert read == live, (indicator.code, scope.level, period, filters)


def test_pages_read_the_snapshots_and_count_the_current_month_live(data):
    region, a, _b, _c = data
    _compute_all()
    scope = Scope("unit", a.name, unit_id=a.pk, region_id=region.pk)
    indicator = catalogue.BY_CODE["signalements_origine"]
    march = periods.month(2026, 3)
    before = catalogue.table(indicator, scope, march).total[1]
    assert before > 0
    Signalement.objects.filter(unit=a, date_signalement__month=3).delete()
    # Read from the snapshot of March: unchanged until the next night.
    assert catalogue.table(indicator, scope, march).total[1] == before
    assert catalogue.table(indicator, scope, march, coverage={}).total[1] == 0
    may = periods.month(2026, 5)
    live_before = catalogue.table(indicator, scope, may).total[1]
    SignalementFactory(unit=a, date_signalement=TODAY)
    assert catalogue.table(indicator, scope, may).total[1] == live_before + 1
    # Yesterday's is in the snapshot of the current month: seen after the next run.
    SignalementFactory(unit=a, date_signalement=TODAY - datetime.timedelta(days=1))
    assert catalogue.table(indicator, scope, may).total[1] == live_before + 1
    snapshots.compute_region(region.pk, today=TODAY)
    assert catalogue.table(indicator, scope, march).total[1] == 0
    assert catalogue.table(indicator, scope, may).total[1] == live_before + 2


def test_a_run_is_idempotent_and_stores_the_current_month_up_to_yesterday(data):
    region, a, *_ = data

    def rows():
        return sorted(
            Snapshot.objects.filter(region=region).values_list(
                "code", "month", "part", "unit_id", "mission", "row", "col", "n", "rollup"
            ),
            key=str,
        )

    SignalementFactory(unit=a, date_signalement=TODAY)  # today: counted live, not stored
    snapshots.compute_region(region.pk, today=TODAY)
    first = rows()
    assert first and SnapshotMonth.objects.filter(region=region).count() == 37 * len(
        catalogue.CATALOGUE
    )
    snapshots.compute_region(region.pk, today=TODAY)
    assert rows() == first
    may = SnapshotMonth.objects.filter(region=region, month=D(2026, 5, 1))
    assert set(may.values_list("until", flat=True)) == {D(2026, 5, 19)}
    # No stock at the end of a month not over yet.
    assert not Snapshot.objects.filter(month=D(2026, 5, 1), part="s").exists()
    stored_may = sum(
        Snapshot.objects.filter(
            code="signalements_origine", month=D(2026, 5, 1), unit=a, rollup=Snapshot.BY_UNIT
        ).values_list("n", flat=True)
    )
    assert (
        stored_may
        == Signalement.objects.filter(
            unit=a, date_signalement__range=(D(2026, 5, 1), D(2026, 5, 19))
        ).count()
    )
    assert snapshots.window(TODAY)[0] == (D(2023, 5, 1), D(2023, 5, 31))
    assert snapshots.window(TODAY)[-2:] == [
        (D(2026, 4, 1), D(2026, 4, 30)),
        (D(2026, 5, 1), D(2026, 5, 19)),
    ]
    assert snapshots.window(D(2026, 5, 1))[-1] == (D(2026, 4, 1), D(2026, 4, 30))


def test_the_nightly_task_computes_every_region(data, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.snapshot_region, "delay", lambda pk: queued.append(pk))
    assert tasks.snapshot_all() == 2 and len(queued) == 2
    region, *_ = data
    assert tasks.snapshot_region(region.pk) > 0  # the task itself, run in the process


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_region_write_the_rows_of_one():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises writers on its own)")
    region, *_ = _build()
    errors = []

    def run():
        try:
            snapshots.compute_region(region.pk, today=TODAY)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    once = Snapshot.objects.filter(region=region).count()
    snapshots.compute_region(region.pk, today=TODAY)
    assert Snapshot.objects.filter(region=region).count() == once > 0


def test_the_page_says_when_the_figures_were_computed_and_links_the_usual_periods(client, data):
    region, a, *_ = data
    client.force_login(UserFactory(manager=True, unit=a))
    html = client.get("/indicateurs/").content.decode()
    assert "Chiffres à jour à " in html
    snapshots.compute_region(region.pk, today=TODAY)
    html = client.get("/indicateurs/").content.decode()
    assert "Mois écoulés&nbsp;: chiffres du calcul de nuit, le " in html
    today = datetime.date.today()
    last = today.replace(day=1) - datetime.timedelta(days=1)
    assert f"periode=mois&amp;annee={last.year}&amp;mois={last.month}" in html
    assert 'href="#ind-file_active"' in html and 'id="ind-file_active"' in html
