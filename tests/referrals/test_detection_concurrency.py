"""Two scans at once, and a scan during an import: real PostgreSQL connections in threads."""

import datetime
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import Count

from referrals.detection import SCAN_LOCK_KEY, scan_arrets
from referrals.models import ArretTravail, DetectionRun, Service, Signalement, SignalementEvent
from tests.factories import (
    ArretFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
)

D = datetime.date(2025, 6, 2)
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def days(n):
    return datetime.timedelta(days=n)


def arret_at_day(n, **kwargs):
    kwargs.setdefault("date_fin_prevue", D + days(30))
    return ArretFactory(date_debut=D - days(n - 1), **kwargs)


def in_thread(target, errors):
    def run():
        try:
            target()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


def assert_never_twice():
    twice = (
        Signalement.objects.exclude(arret=None)
        .values("arret", "service")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(twice) == []
    open_social = (
        Signalement.objects.open()
        .filter(service=Service.SOCIAL)
        .values("assure")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(open_social) == []


def test_two_scans_at_the_same_time_raise_each_referral_once(unit):
    unit.auto_assign = True
    unit.save()
    UserFactory(ass=True, unit=unit)
    UserFactory(ass=True, unit=unit)
    UnitTerritoryFactory(unit=unit, prefix="76")
    for n in range(46, 200, 7):  # 22 arrêts: all medical, 15 of them social too (95 to 193)
        arret_at_day(n)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def scan():
        barrier.wait(timeout=10)
        results.append(scan_arrets(day=D))

    threads = [in_thread(scan, errors), in_thread(scan, errors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 2
    assert sum(r.medical for r in results) == 22
    assert sum(r.social for r in results) == 15
    assert sum(r.attribues_auto for r in results) == 15
    assert sorted((r.medical, r.social) for r in results) == [(0, 0), (22, 15)]
    assert Signalement.objects.filter(service=Service.MEDICAL).count() == 22
    assert (
        Signalement.objects.filter(service=Service.SOCIAL, assigned_to__isnull=False).count() == 15
    )
    assert SignalementEvent.objects.filter(kind="created").count() == 37
    assert SignalementEvent.objects.filter(kind="assigned").count() == 15
    assert_never_twice()


def test_a_scan_during_an_import_and_a_manual_referral_creates_no_duplicate():
    person = arret_at_day(100)  # a candidate who gets a manual referral while the scan runs
    prolonged = arret_at_day(150, date_fin_prevue=D - days(3))  # not ongoing until the upsert
    newcomer = AssureFactory()
    written, committed_at = threading.Event(), []
    results, errors = [], []

    def import_extract():
        with transaction.atomic():
            ArretTravail.objects.bulk_create(
                [
                    ArretTravail(
                        assure=prolonged.assure,
                        type_arret="MAL",
                        date_debut=prolonged.date_debut,
                        date_fin_prevue=D + days(60),
                        cpam=prolonged.cpam,
                    ),
                    ArretTravail(
                        assure=newcomer,
                        type_arret="MAL",
                        date_debut=D - days(119),
                        date_fin_prevue=D + days(60),
                        cpam=newcomer.cpam,
                    ),
                ],
                update_conflicts=True,
                unique_fields=["assure", "date_debut"],
                update_fields=["date_fin_prevue", "updated_at"],
            )
            SignalementFactory(
                assure=person.assure, arret=None, unit=None, origine="medecin_traitant"
            )
            written.set()
            time.sleep(1)  # the scan runs now and must wait for this transaction
            committed_at.append(time.monotonic())

    def scan():
        assert written.wait(timeout=10)
        results.append(scan_arrets(day=D))
        results.append(time.monotonic())

    threads = [in_thread(import_extract, errors), in_thread(scan, errors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    result, scan_ended_at = results
    assert scan_ended_at >= committed_at[0]  # blocked on the unique index, then skipped
    # The scan saw neither the prolongation nor the new arrêt (not committed yet) and its
    # social referral for `person` was absorbed by the open manual one.
    assert (result.medical, result.social) == (1, 0)
    assert Signalement.objects.filter(assure=person.assure, service=Service.SOCIAL).count() == 1
    assert_never_twice()

    # The next run catches up with what the import brought.
    again = scan_arrets(day=D)

    assert (again.medical, again.social) == (2, 2)
    assert Signalement.objects.filter(arret__assure=newcomer).count() == 2
    assert Signalement.objects.filter(arret=prolonged).count() == 2
    assert_never_twice()


def test_a_managers_scan_during_the_nightly_one_raises_each_referral_once(unit):
    bretagne = RegionFactory(code="BRE", name="CARSAT Bretagne")
    cpam_bretagne = CpamFactory(code="291", region=bretagne)
    manager = UserFactory(manager=True, unit=UnitFactory(region=bretagne))
    for n in range(95, 200, 15):  # 7 arrêts in each region, all past both thresholds
        arret_at_day(n)
        arret_at_day(n, assure=AssureFactory(cpam=cpam_bretagne), cpam=cpam_bretagne)
    barrier = threading.Barrier(2)
    errors = []

    def nightly():
        barrier.wait(timeout=10)
        scan_arrets(day=D)

    def managers():
        barrier.wait(timeout=10)
        scan_arrets(day=D, region=bretagne, acting_user=manager)

    threads = [in_thread(nightly, errors), in_thread(managers, errors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Signalement.objects.count() == 28
    assert_never_twice()
    runs = DetectionRun.objects.all()
    assert sorted((r.region.code, r.launched_by_id or 0) for r in runs) == [
        ("BRE", 0),
        ("BRE", manager.pk),
        ("NOR", 0),
    ]
    assert {r.status for r in runs} == {DetectionRun.Status.DONE}
    bretagne_runs = runs.filter(region=bretagne)
    assert sum(r.medical for r in bretagne_runs) == sum(r.social for r in bretagne_runs) == 7
    assert runs.get(region__code="NOR").created == 14


def test_a_scan_waiting_for_another_is_shown_in_progress_meanwhile():
    RegionFactory()
    arret_at_day(100)
    locked, release = threading.Event(), threading.Event()
    errors = []

    def other_scan():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SCAN_LOCK_KEY])
            locked.set()
            release.wait(timeout=10)

    def scan():
        assert locked.wait(timeout=10)
        scan_arrets(day=D)

    threads = [in_thread(other_scan, errors), in_thread(scan, errors)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while not DetectionRun.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        run = DetectionRun.objects.get()
        assert run.status == DetectionRun.Status.RUNNING
        assert not Signalement.objects.exists()
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    run.refresh_from_db()
    assert (run.status, run.created) == (DetectionRun.Status.DONE, 2)
