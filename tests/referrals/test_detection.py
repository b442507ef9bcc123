import datetime
import json
import logging
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from referrals.detection import scan_arrets
from referrals.models import Service, Signalement, SignalementEvent, Statut
from referrals.tasks import scan_arrets_task
from tests.factories import (
    AccompagnementFactory,
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
pytestmark = pytest.mark.django_db


def days(n):
    return datetime.timedelta(days=n)


def arret_at_day(n, *, day=D, **kwargs):
    """An arrêt ongoing on `day` that has lasted exactly `n` days on it."""
    kwargs.setdefault("date_fin_prevue", day + days(30))
    return ArretFactory(date_debut=day - days(n - 1), **kwargs)


def referrals(arret, service):
    return list(Signalement.objects.filter(arret=arret, service=service))


# --- the thresholds, at their edges -------------------------------------------------------------


def test_it_does_not_signal_an_arret_of_45_days_to_the_service_medical():
    arret = arret_at_day(45)

    result = scan_arrets(day=D)

    assert referrals(arret, Service.MEDICAL) == []
    assert result.medical == 0


def test_it_signals_an_arret_of_46_days_to_the_service_medical():
    arret = arret_at_day(46)

    result = scan_arrets(day=D)

    [referral] = referrals(arret, Service.MEDICAL)
    assert referral.assure == arret.assure
    assert referral.origine == "seuil_cpam"
    assert referral.statut == Statut.NOUVEAU
    assert referral.date_signalement == D
    assert referral.unit is None
    assert referral.date_echeance is None
    assert "plus de 45 jours" in referral.motif
    assert result.medical == 1
    assert result.social == 0
    assert referrals(arret, Service.SOCIAL) == []


def test_it_does_not_signal_an_arret_of_89_days_to_the_service_social():
    arret = arret_at_day(89)

    scan_arrets(day=D)

    assert referrals(arret, Service.SOCIAL) == []
    assert len(referrals(arret, Service.MEDICAL)) == 1


def test_it_signals_an_arret_of_90_days_to_the_service_social_with_the_day_120_due_date():
    arret = arret_at_day(90)

    result = scan_arrets(day=D)

    [referral] = referrals(arret, Service.SOCIAL)
    assert referral.statut == Statut.A_CONTACTER
    assert referral.origine == "seuil_cpam"
    assert referral.date_signalement == D
    assert referral.date_echeance == arret.date_debut + days(119)
    assert "au moins 90 jours" in referral.motif
    assert result.social == 1
    assert result.medical == 1


def test_an_arret_whose_actual_end_is_before_the_day_raises_nothing():
    arret = arret_at_day(200, date_fin_reelle=D - days(1))

    result = scan_arrets(day=D)

    assert not Signalement.objects.filter(arret=arret).exists()
    assert result.arrets_examines == 0


def test_an_arret_whose_expected_end_has_passed_raises_nothing():
    arret = arret_at_day(200, date_fin_prevue=D - days(1))

    scan_arrets(day=D)

    assert not Signalement.objects.filter(arret=arret).exists()


def test_an_actual_end_on_or_after_the_day_wins_over_a_passed_expected_end():
    arret = arret_at_day(100, date_fin_prevue=D - days(5), date_fin_reelle=D)

    scan_arrets(day=D)

    assert Signalement.objects.filter(arret=arret).count() == 2


def test_an_arret_starting_after_the_day_raises_nothing():
    ArretFactory(date_debut=D + days(1), date_fin_prevue=D + days(200))

    result = scan_arrets(day=D)

    assert result.medical == result.social == 0


# --- never twice -------------------------------------------------------------------------------


def test_an_arret_already_referred_to_both_services_raises_nothing_more():
    arret = arret_at_day(100)
    scan_arrets(day=D)

    result = scan_arrets(day=D + days(1))

    assert result.medical == result.social == 0
    assert Signalement.objects.filter(arret=arret).count() == 2
    assert SignalementEvent.objects.filter(kind="created").count() == 2


def test_a_closed_referral_of_the_arret_still_counts_as_already_referred():
    arret = arret_at_day(100)
    SignalementFactory(
        assure=arret.assure, arret=arret, service=Service.SOCIAL, statut=Statut.REFUS
    )

    result = scan_arrets(day=D)

    assert result.social == 0
    assert result.medical == 1


def test_an_open_social_referral_of_the_person_prevents_a_new_social_one():
    arret = arret_at_day(100)
    SignalementFactory(assure=arret.assure, arret=None, origine="medecin_traitant")

    result = scan_arrets(day=D)

    assert referrals(arret, Service.SOCIAL) == []
    assert len(referrals(arret, Service.MEDICAL)) == 1
    assert result.social == 0


def test_a_closed_social_referral_of_the_person_for_no_arret_does_not_prevent_one():
    arret = arret_at_day(100)
    SignalementFactory(assure=arret.assure, arret=None, statut=Statut.SANS_REPONSE)

    scan_arrets(day=D)

    assert len(referrals(arret, Service.SOCIAL)) == 1


def test_an_open_case_of_the_person_prevents_a_new_social_referral():
    arret = arret_at_day(100)
    AccompagnementFactory(assure=arret.assure, statut="suspendu")

    result = scan_arrets(day=D)

    assert referrals(arret, Service.SOCIAL) == []
    assert result.social == 0
    assert result.medical == 1


def test_a_closed_case_of_the_person_allows_a_new_social_referral():
    arret = arret_at_day(100)
    AccompagnementFactory(assure=arret.assure, statut="cloture", date_cloture=D - days(400))

    scan_arrets(day=D)

    assert len(referrals(arret, Service.SOCIAL)) == 1


def test_it_catches_up_an_arret_far_past_the_thresholds_that_was_never_referred():
    arret = arret_at_day(200)

    result = scan_arrets(day=D)

    [social] = referrals(arret, Service.SOCIAL)
    assert social.date_signalement == D
    assert social.date_echeance == arret.date_debut + days(119)  # already overdue: shown late
    assert len(referrals(arret, Service.MEDICAL)) == 1
    assert (result.medical, result.social) == (1, 1)


def test_two_ongoing_arrets_of_one_person_bring_one_social_referral_on_the_oldest():
    older = arret_at_day(150)
    newer = arret_at_day(95, assure=older.assure)

    result = scan_arrets(day=D)

    assert result.social == 1
    assert len(referrals(older, Service.SOCIAL)) == 1
    assert referrals(newer, Service.SOCIAL) == []
    assert result.medical == 2  # one per arrêt for the service médical


def test_an_overlapping_arret_brings_no_new_social_referral_once_the_oldest_was_referred():
    older = arret_at_day(150)
    newer = arret_at_day(95, assure=older.assure)
    SignalementFactory(
        assure=older.assure, arret=older, service=Service.SOCIAL, statut=Statut.REFUS
    )

    result = scan_arrets(day=D)

    assert result.social == 0
    assert referrals(newer, Service.SOCIAL) == []


def test_a_region_with_its_own_thresholds_is_respected():
    region = RegionFactory(
        code="BRE",
        name="CARSAT Bretagne",
        medical_threshold_days=30,
        social_threshold_days=60,
        first_contact_deadline_day=90,
    )
    cpam = CpamFactory(code="291", region=region)
    at_30 = arret_at_day(30, assure=AssureFactory(cpam=cpam))
    at_31 = arret_at_day(31, assure=AssureFactory(cpam=cpam))
    at_59 = arret_at_day(59, assure=AssureFactory(cpam=cpam))
    at_60 = arret_at_day(60, assure=AssureFactory(cpam=cpam))
    default_region_45 = arret_at_day(45)
    default_region_60 = arret_at_day(60)
    default_region_89 = arret_at_day(89)

    scan_arrets(day=D)

    assert referrals(at_30, Service.MEDICAL) == []
    assert len(referrals(at_31, Service.MEDICAL)) == 1
    assert referrals(at_59, Service.SOCIAL) == []
    [social] = referrals(at_60, Service.SOCIAL)
    assert social.date_echeance == at_60.date_debut + days(89)
    assert referrals(default_region_45, Service.MEDICAL) == []
    assert referrals(default_region_60, Service.SOCIAL) == []
    assert referrals(default_region_89, Service.SOCIAL) == []
    assert SignalementEvent.objects.get(signalement=social).reason == (
        "Détection automatique (seuil de 60 jours)"
    )


def test_the_cpam_of_the_arret_wins_over_the_cpam_of_the_person():
    region = RegionFactory(code="BRE", name="CARSAT Bretagne", social_threshold_days=60)
    arret = arret_at_day(60, cpam=CpamFactory(code="291", region=region))  # person: CPAM 761

    scan_arrets(day=D)

    assert len(referrals(arret, Service.SOCIAL)) == 1


def test_each_referral_stores_the_region_of_the_arrets_cpam():
    region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    arret = arret_at_day(100, cpam=CpamFactory(code="291", region=region))  # person: CPAM 761

    scan_arrets(day=D)

    assert {s.service: s.region for s in Signalement.objects.filter(arret=arret)} == {
        Service.MEDICAL: region,
        Service.SOCIAL: region,
    }


def test_without_a_cpam_on_the_arret_the_referral_stores_the_region_of_the_persons_cpam():
    region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    person = AssureFactory(cpam=CpamFactory(code="291", region=region))
    arret = arret_at_day(100, assure=person, cpam=None)

    scan_arrets(day=D)

    assert {s.region for s in Signalement.objects.filter(arret=arret)} == {region}


def test_without_a_cpam_on_the_arret_the_cpam_of_the_person_applies():
    arret = arret_at_day(90, cpam=None)

    scan_arrets(day=D)

    assert len(referrals(arret, Service.SOCIAL)) == 1
    assert len(referrals(arret, Service.MEDICAL)) == 1


def test_an_arret_without_any_cpam_is_skipped_and_counted():
    arret = arret_at_day(120, assure=AssureFactory(cpam=None), cpam=None)

    result = scan_arrets(day=D)

    assert not Signalement.objects.filter(arret=arret).exists()
    assert result.sans_cpam == 1
    assert result.arrets_examines == 1


def test_it_counts_the_arrets_looked_at():
    arret_at_day(10)  # too young to be looked at
    arret_at_day(46)
    arret_at_day(100)
    arret_at_day(300, date_fin_reelle=D - days(2))

    result = scan_arrets(day=D)

    assert result.arrets_examines == 2


# --- routing and assignment --------------------------------------------------------------------


def test_a_social_referral_goes_to_the_unit_covering_the_postal_code(unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret = arret_at_day(90, assure=AssureFactory(code_postal="76600"))

    result = scan_arrets(day=D)

    [social] = referrals(arret, Service.SOCIAL)
    assert social.unit == unit
    assert social.assigned_to is None
    assert result.routes == {unit.code: 1}


def test_a_postal_code_territory_wins_over_its_departement(unit, other_unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    UnitTerritoryFactory(unit=other_unit, prefix="76600")
    in_code = arret_at_day(90, assure=AssureFactory(code_postal="76600"))
    in_dept = arret_at_day(90, assure=AssureFactory(code_postal="76620"))

    result = scan_arrets(day=D)

    assert referrals(in_code, Service.SOCIAL)[0].unit == other_unit
    assert referrals(in_dept, Service.SOCIAL)[0].unit == unit
    assert result.routes == {unit.code: 1, other_unit.code: 1}


@pytest.mark.parametrize(
    ("postal_code", "expected"), [("20000", "2A"), ("20167", "2A"), ("20200", "2B")]
)
def test_corsican_postal_codes_go_to_the_2a_or_2b_unit(postal_code, expected):
    south, north = UnitFactory(), UnitFactory()
    UnitTerritoryFactory(unit=south, prefix="2A")
    UnitTerritoryFactory(unit=north, prefix="2B")
    arret = arret_at_day(90, assure=AssureFactory(code_postal=postal_code))

    scan_arrets(day=D)

    assert referrals(arret, Service.SOCIAL)[0].unit == {"2A": south, "2B": north}[expected]


def test_without_a_territory_the_referral_waits_in_the_regional_queue(unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret = arret_at_day(90, assure=AssureFactory(code_postal="27000"))

    result = scan_arrets(day=D)

    assert referrals(arret, Service.SOCIAL)[0].unit is None
    assert result.routes == {"a_repartir": 1}


def test_medical_referrals_get_no_unit(unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret = arret_at_day(90)

    scan_arrets(day=D)

    assert referrals(arret, Service.MEDICAL)[0].unit is None


def test_auto_assign_gives_each_new_referral_to_the_least_loaded_ass(unit, ass, colleague):
    unit.auto_assign = True
    unit.save()
    UnitTerritoryFactory(unit=unit, prefix="76")
    SignalementFactory(unit=unit, assigned_to=ass)  # ass: 2 open, colleague: 0
    AccompagnementFactory(referent=ass)
    AccompagnementFactory(referent=colleague, statut="cloture", date_cloture=D)  # not counted
    UserFactory(conseiller=True, unit=unit)  # not an ASS
    UserFactory(ass=True, unit=unit, is_active=False)
    new = [arret_at_day(90 + i) for i in range(4)]

    result = scan_arrets(day=D)

    got = [referrals(a, Service.SOCIAL)[0].assigned_to for a in new]
    # colleague takes the first two (0 → 2), then they alternate from equal loads (pk order).
    assert sorted(u.pk for u in got) == sorted([colleague.pk, colleague.pk, ass.pk, colleague.pk])
    assert result.attribues_auto == 4
    assigned = SignalementEvent.objects.filter(kind="assigned", actor=None)
    assert assigned.count() == 4
    assert {e.new_value for e in assigned} == {f"{unit} / {ass}", f"{unit} / {colleague}"}


def test_auto_assign_gives_the_referrals_in_turn_by_load_then_id_in_each_unit(unit, other_unit):
    for u, prefix in ((unit, "76"), (other_unit, "27")):
        u.auto_assign = True
        u.save()
        UnitTerritoryFactory(unit=u, prefix=prefix)
    first, second, third = (UserFactory(ass=True, unit=unit) for _ in range(3))
    SignalementFactory.create_batch(2, unit=unit, assigned_to=first)  # loads 2, 0, 0
    alone = UserFactory(ass=True, unit=other_unit)
    AccompagnementFactory(referent=alone)
    here = [arret_at_day(90 + i) for i in range(6)]
    there = [arret_at_day(100 + i, assure=AssureFactory(code_postal="27000")) for i in range(2)]

    result = scan_arrets(day=D)

    got = [referrals(a, Service.SOCIAL)[0].assigned_to for a in here + there]
    # In arrêt order, each to the lowest (load, id) of its unit, counting those given before.
    assert got == [second, third, second, third, first, second, alone, alone]
    assert result.attribues_auto == 8
    social = referrals(here[4], Service.SOCIAL)[0]
    events = SignalementEvent.objects.filter(signalement=social).order_by("pk")
    assert [(e.kind, e.actor, e.old_value, e.new_value) for e in events] == [
        ("created", None, "", Statut.A_CONTACTER),
        ("assigned", None, f"{unit} / non attribué", f"{unit} / {first}"),
    ]
    assert events[1].reason == "Attribution automatique à l'ASS la moins chargée."


def test_without_auto_assign_new_referrals_stay_unassigned(unit, ass):
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret = arret_at_day(90)

    result = scan_arrets(day=D)

    assert referrals(arret, Service.SOCIAL)[0].assigned_to is None
    assert result.attribues_auto == 0


# --- events, logs, command, task -------------------------------------------------------------


def test_every_new_referral_gets_a_system_creation_event():
    arret = arret_at_day(100)

    scan_arrets(day=D)

    events = SignalementEvent.objects.filter(signalement__arret=arret).order_by(
        "signalement__service"
    )
    assert [(e.signalement.service, e.kind, e.actor, e.new_value, e.reason) for e in events] == [
        ("medical", "created", None, "nouveau", "Détection automatique (seuil de 45 jours)"),
        ("social", "created", None, "a_contacter", "Détection automatique (seuil de 90 jours)"),
    ]


def test_it_logs_how_many_rows_were_looked_at_and_written(caplog):
    arret_at_day(100)

    with caplog.at_level(logging.INFO, logger="referrals.detection"):
        scan_arrets(day=D)

    assert "1 arrêts examinés" in caplog.text
    assert "1 signalements médicaux, 1 sociaux écrits" in caplog.text


def test_the_command_prints_a_french_summary(unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret_at_day(100)
    arret_at_day(60)
    arret_at_day(95, assure=AssureFactory(code_postal="27000"))
    out = StringIO()

    call_command("scan_arrets", "--date", D.isoformat(), stdout=out)

    text = out.getvalue()
    assert "Détection des arrêts longs au 02/06/2025" in text
    assert "Arrêts examinés : 3" in text
    assert "Signalements au service médical : 3" in text
    assert "Signalements au service social : 2" in text
    assert f"unité {unit.code} : 1" in text
    assert "à répartir (file régionale) : 1" in text


def test_the_command_prints_json(unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    arret_at_day(100)
    out = StringIO()

    call_command("scan_arrets", "--date", D.isoformat(), "--format", "json", stdout=out)

    assert json.loads(out.getvalue()) == {
        "date": "2025-06-02",
        "arrets_examines": 1,
        "sans_cpam": 0,
        "signalements": {"medical": 1, "social": 1},
        "routes": {unit.code: 1},
        "attribues_auto": 0,
    }


def test_the_command_defaults_to_today():
    arret_at_day(46)

    with time_machine.travel(datetime.datetime(2025, 6, 2, 8, tzinfo=datetime.UTC), tick=False):
        out = StringIO()
        call_command("scan_arrets", stdout=out)

    assert "au 02/06/2025" in out.getvalue()
    assert Signalement.objects.get().date_signalement == D


def test_the_command_refuses_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("scan_arrets", "--date", "02/06/2025")


def test_the_daily_task_runs_the_scan_and_returns_its_counts():
    arret_at_day(100)

    with time_machine.travel(datetime.datetime(2025, 6, 2, 5, 30, tzinfo=datetime.UTC), tick=False):
        outcome = scan_arrets_task.delay().get()

    assert outcome["date"] == "2025-06-02"
    assert outcome["signalements"] == {"medical": 1, "social": 1}
    assert Signalement.objects.count() == 2


def test_the_task_takes_a_day_as_an_iso_string():
    arret_at_day(46, day=D - days(10))

    outcome = scan_arrets_task.delay(D.isoformat()).get()

    assert outcome["signalements"]["medical"] == 1


# --- set-based ---------------------------------------------------------------------------------


def _queries_of_a_scan(n, day):
    for i in range(n):
        arret_at_day(90 + i, day=day)
    with CaptureQueriesContext(connection) as ctx:
        result = scan_arrets(day=day)
    assert result.social == n
    return len(ctx.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_number_of_arrets(unit, ass, colleague):
    unit.auto_assign = True
    unit.save()
    UnitTerritoryFactory(unit=unit, prefix="76")

    few = _queries_of_a_scan(5, D)
    Signalement.objects.all().delete()
    many = _queries_of_a_scan(50, D + days(1000))

    assert few == many
    # 18 for the scan (3 of them create, analyse and drop its temporary table of the arrêts
    # looked at), then the regions, the runs' INSERT and UPDATE.
    assert many <= 21
