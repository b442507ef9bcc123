"""Detection runs (one DetectionRun per region scanned) and the region stored on each referral."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from referrals import detection
from referrals.detection import scan_arrets
from referrals.models import DetectionRun, Service, Signalement
from referrals.tasks import scan_arrets_task
from tests.factories import (
    ArretFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
)

D = datetime.date(2025, 6, 2)
pytestmark = pytest.mark.django_db


def days(n):
    return datetime.timedelta(days=n)


def arret_at_day(n, **kwargs):
    kwargs.setdefault("date_fin_prevue", D + days(30))
    return ArretFactory(date_debut=D - days(n - 1), **kwargs)


@pytest.fixture
def normandie():
    return RegionFactory(code="NOR", name="CARSAT Normandie")


@pytest.fixture
def bretagne():
    return RegionFactory(code="BRE", name="CARSAT Bretagne")


@pytest.fixture
def cpam_bretagne(bretagne):
    return CpamFactory(code="291", name="CPAM du Finistère", region=bretagne)


def in_bretagne(n, cpam, **kwargs):
    return arret_at_day(n, assure=AssureFactory(cpam=cpam, code_postal="29200"), **kwargs)


def run_counts(run):
    return {name: getattr(run, name) for name in detection.RUN_COUNTS}


# --- nightly: every region, one run each -------------------------------------------------------


def test_the_nightly_scan_records_one_run_per_region_with_its_own_counts(
    normandie, bretagne, cpam_bretagne
):
    unit = UnitFactory(region=normandie)
    UnitTerritoryFactory(unit=unit, prefix="76")
    empty = RegionFactory(code="IDF", name="CARSAT Île-de-France")
    arret_at_day(100)  # Normandie, routed to the unit
    arret_at_day(50)  # Normandie, medical only
    arret_at_day(120, assure=AssureFactory(code_postal="27000"))  # Normandie, queue
    in_bretagne(95, cpam_bretagne)  # Bretagne, no territory: queue

    result = scan_arrets(day=D)

    runs = {run.region: run for run in DetectionRun.objects.all()}
    assert set(runs) == {normandie, bretagne, empty}
    assert all(run.launched_by is None for run in runs.values())
    assert all(run.status == DetectionRun.Status.DONE for run in runs.values())
    assert all(run.day == D and run.finished_at >= run.started_at for run in runs.values())
    assert run_counts(runs[normandie]) == {
        "arrets_examines": 3,
        "sans_cpam": 0,
        "medical": 3,
        "social": 2,
        "attribues_auto": 0,
        "a_repartir": 1,
    }
    assert run_counts(runs[bretagne]) == {
        "arrets_examines": 1,
        "sans_cpam": 0,
        "medical": 1,
        "social": 1,
        "attribues_auto": 0,
        "a_repartir": 1,
    }
    assert set(run_counts(runs[empty]).values()) == {0}
    assert (result.medical, result.social, result.arrets_examines) == (4, 3, 4)
    assert sorted(run.pk for run in result.runs) == sorted(r.pk for r in runs.values())


def test_auto_assigned_referrals_are_counted_in_their_regions_run(normandie, ass, unit):
    unit.auto_assign = True
    unit.save()
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret_at_day(100)
    arret_at_day(110)

    scan_arrets(day=D)

    run = DetectionRun.objects.get(region=unit.region)
    assert (run.social, run.attribues_auto, run.a_repartir) == (2, 2, 0)


def test_an_arret_without_cpam_is_counted_in_the_region_its_postal_code_routes_to(
    normandie, bretagne
):
    UnitTerritoryFactory(unit=UnitFactory(region=bretagne), prefix="29")
    arret_at_day(120, assure=AssureFactory(cpam=None, code_postal="29200"), cpam=None)
    arret_at_day(120, assure=AssureFactory(cpam=None, code_postal="75011"), cpam=None)  # nowhere

    result = scan_arrets(day=D)

    assert (result.arrets_examines, result.sans_cpam) == (2, 2)
    runs = {run.region: run for run in DetectionRun.objects.all()}
    assert (runs[bretagne].arrets_examines, runs[bretagne].sans_cpam) == (1, 1)
    assert (runs[normandie].arrets_examines, runs[normandie].sans_cpam) == (0, 0)
    assert not Signalement.objects.exists()


def test_the_number_of_queries_does_not_grow_with_the_number_of_regions(normandie):
    arret_at_day(100)
    with CaptureQueriesContext(connection) as one_region:
        scan_arrets(day=D)
    for n in range(5):
        RegionFactory(code=f"R{n}", name=f"Région {n}")
    arret_at_day(101)

    with CaptureQueriesContext(connection) as six_regions:
        scan_arrets(day=D + days(1))

    assert DetectionRun.objects.filter(day=D + days(1)).count() == 6
    assert len(six_regions.captured_queries) == len(one_region.captured_queries)


# --- a manager's run: one region only -----------------------------------------------------------


def test_a_regional_scan_only_raises_the_referrals_of_that_region(
    normandie, bretagne, cpam_bretagne
):
    manager = UserFactory(manager=True, unit=UnitFactory(region=bretagne))
    ours = in_bretagne(100, cpam_bretagne)
    theirs = arret_at_day(100)  # Normandie

    result = scan_arrets(day=D, region=bretagne, acting_user=manager)

    assert {s.service for s in Signalement.objects.filter(arret=ours)} == {"medical", "social"}
    assert not Signalement.objects.filter(arret=theirs).exists()
    run = DetectionRun.objects.get()
    assert (run.region, run.launched_by, run.status) == (bretagne, manager, "termine")
    assert (run.arrets_examines, run.medical, run.social) == (1, 1, 1)
    assert (result.arrets_examines, result.medical, result.social) == (1, 1, 1)

    # The nightly scan then catches up with the other region, and only with it.
    again = scan_arrets(day=D)

    assert (again.medical, again.social) == (1, 1)
    assert Signalement.objects.filter(arret=theirs).count() == 2
    assert {run.region: run.social for run in DetectionRun.objects.filter(launched_by=None)} == {
        normandie: 1,
        bretagne: 0,
    }


def test_a_regional_scan_keeps_one_social_referral_per_person_on_the_oldest_arret(
    normandie, bretagne, cpam_bretagne
):
    older = arret_at_day(150)  # Normandie
    newer = arret_at_day(100, assure=older.assure, cpam=cpam_bretagne)

    scan_arrets(day=D, region=bretagne)

    # The person's social referral belongs to the oldest arrêt, whose region was not scanned.
    assert not Signalement.objects.filter(service=Service.SOCIAL).exists()
    assert Signalement.objects.get(arret=newer).service == Service.MEDICAL

    scan_arrets(day=D, region=normandie)

    assert Signalement.objects.get(service=Service.SOCIAL).arret == older


def test_a_regional_scan_uses_the_thresholds_of_its_region(normandie, bretagne, cpam_bretagne):
    bretagne.social_threshold_days = 60
    bretagne.first_contact_deadline_day = 90
    bretagne.save()
    arret = in_bretagne(60, cpam_bretagne)

    scan_arrets(day=D, region=bretagne)

    social = Signalement.objects.get(arret=arret, service=Service.SOCIAL)
    assert social.date_echeance == arret.date_debut + days(89)


# --- failure -------------------------------------------------------------------------------------


def test_a_scan_that_fails_is_recorded_as_failed_and_creates_nothing(normandie, monkeypatch):
    arret_at_day(100)

    def boom(*args, **kwargs):
        raise RuntimeError("plus de connexion")

    monkeypatch.setattr(detection, "_route_counts", boom)

    with pytest.raises(RuntimeError):
        scan_arrets(day=D)

    run = DetectionRun.objects.get()
    assert run.status == DetectionRun.Status.FAILED
    assert run.message == "RuntimeError : plus de connexion"
    assert run.finished_at is not None
    assert run.created == 0
    assert not Signalement.objects.exists()


# --- the task ------------------------------------------------------------------------------------


def test_the_task_scans_the_region_given_by_id_for_the_user_given_by_id(
    normandie, bretagne, cpam_bretagne
):
    manager = UserFactory(manager=True, unit=UnitFactory(region=bretagne))
    in_bretagne(100, cpam_bretagne)
    theirs = arret_at_day(100)

    outcome = scan_arrets_task.delay(D.isoformat(), region_id=bretagne.pk, user_id=manager.pk).get()

    assert outcome["signalements"] == {"medical": 1, "social": 1}
    assert not Signalement.objects.filter(arret=theirs).exists()
    run = DetectionRun.objects.get()
    assert (run.region, run.launched_by, run.day) == (bretagne, manager, D)


def test_the_task_without_region_is_the_nightly_job(normandie, bretagne):
    arret_at_day(100)

    scan_arrets_task.delay(D.isoformat()).get()

    assert set(DetectionRun.objects.values_list("region__code", "launched_by")) == {
        ("NOR", None),
        ("BRE", None),
    }


def test_the_run_knows_its_duration(normandie):
    scan_arrets(day=D)

    run = DetectionRun.objects.get()
    assert run.duration == run.finished_at - run.started_at
    assert DetectionRun(day=D, region=normandie).duration is None
    assert str(run) == "Détection du 02/06/2025 – CARSAT Normandie"


def test_the_runs_summary_speaks_french_for_one_and_for_none(normandie):
    one = DetectionRun(day=D, region=normandie, status="termine", social=1, arrets_examines=1)
    failed = DetectionRun(day=D, region=normandie, status="echec", message="RuntimeError : x")

    assert one.summary == (
        "1 signalement créé (1 au service social, 0 au service médical), 0 attribué "
        "automatiquement, 0 à répartir, sur 1 arrêt examiné."
    )
    assert failed.summary.startswith("échec, aucun signalement créé\N{NO-BREAK SPACE}: ")
    assert DetectionRun(day=D, region=normandie).summary == "en cours…"
