import datetime

import pytest

from referrals.detection import scan_arrets
from referrals.models import Service, Signalement, SignalementEvent
from referrals.routing import lightest_worker, route_unit, signalement_assign
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    SignalementFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
D = datetime.date(2025, 6, 2)


@pytest.fixture
def territories():
    """76 → Rouen, 76600 → Le Havre, 2A / 2B → Corse, 974 → La Réunion."""
    units = {name: UnitFactory(name=name) for name in ("Rouen", "Le Havre", "Ajaccio", "Bastia")}
    units["Réunion"] = UnitFactory(name="Réunion")
    for prefix, name in [
        ("76", "Rouen"),
        ("76600", "Le Havre"),
        ("2A", "Ajaccio"),
        ("2B", "Bastia"),
        ("974", "Réunion"),
    ]:
        UnitTerritoryFactory(unit=units[name], prefix=prefix)
    return units


CASES = [
    ("76000", "Rouen"),
    ("76600", "Le Havre"),  # the postal code wins over its département
    ("76610", "Rouen"),
    ("20000", "Ajaccio"),
    ("20167", "Ajaccio"),
    ("20200", "Bastia"),
    ("20600", "Bastia"),
    ("97400", "Réunion"),
    ("27000", None),
    ("", None),
]


@pytest.mark.parametrize(("postal_code", "expected"), CASES)
def test_route_unit_takes_the_longest_matching_territory(territories, postal_code, expected):
    unit = route_unit(postal_code)

    assert (unit.name if unit else None) == expected


def test_the_scan_routes_exactly_like_route_unit(territories):
    arrets = {
        cp: ArretFactory(
            assure=AssureFactory(code_postal=cp),
            date_debut=D - datetime.timedelta(days=99),
            date_fin_prevue=D + datetime.timedelta(days=10),
        )
        for cp, _ in CASES
    }

    scan_arrets(day=D)

    for cp, arret in arrets.items():
        referral = Signalement.objects.get(arret=arret, service=Service.SOCIAL)
        assert referral.unit == route_unit(cp), cp


def test_lightest_worker_counts_open_referrals_and_open_cases(unit, ass, colleague):
    SignalementFactory(unit=unit, assigned_to=ass)
    AccompagnementFactory(referent=colleague)
    AccompagnementFactory(referent=colleague)
    SignalementFactory(unit=unit, assigned_to=ass, statut="refus")  # closed: not counted

    assert lightest_worker(unit) == ass


def test_lightest_worker_ignores_other_roles_and_inactive_people(unit):
    UserFactory(conseiller=True, unit=unit)
    UserFactory(ass=True, unit=unit, is_active=False)

    assert lightest_worker(unit) is None


def test_signalement_assign_records_who_moved_the_referral(unit, ass, manager):
    referral = SignalementFactory(unit=None)

    signalement_assign(signalement=referral, acting_user=manager, assigned_to=ass, reason="Test")

    referral.refresh_from_db()
    assert (referral.unit, referral.assigned_to) == (unit, ass)
    event = SignalementEvent.objects.get(signalement=referral)
    assert (event.actor, event.kind, event.reason) == (manager, "assigned", "Test")
    assert event.old_value == "À répartir / non attribué"
    assert event.new_value == f"{unit} / {ass}"


def test_signalement_assign_refuses_a_worker_of_another_unit(other_unit, ass):
    referral = SignalementFactory(unit=other_unit)

    with pytest.raises(ValueError):
        signalement_assign(signalement=referral, acting_user=ass, unit=other_unit, assigned_to=ass)


# --- The manager's switch for automatic assignment -------------------------------------------


def test_a_manager_switches_automatic_assignment_on_and_off(client, manager):
    from django.urls import reverse

    from pdp.models import AuditLog

    client.force_login(manager)
    response = client.post(reverse("referrals:unit_auto_assign"), {"auto_assign": "1"})
    assert response.status_code == 302
    manager.unit.refresh_from_db()
    assert manager.unit.auto_assign is True
    entry = AuditLog.objects.get(object_type="pdp.unit")
    assert entry.user == manager
    assert entry.changes == {"auto_assign": [False, True]}
    assert "activée" in client.get(reverse("referrals:inbox")).content.decode()

    client.post(reverse("referrals:unit_auto_assign"), {"auto_assign": "0"})
    manager.unit.refresh_from_db()
    assert manager.unit.auto_assign is False


def test_only_a_manager_may_switch_automatic_assignment(client, ass, regional):
    from django.urls import reverse

    for user in (ass, regional):
        client.force_login(user)
        assert (
            client.post(reverse("referrals:unit_auto_assign"), {"auto_assign": "1"}).status_code
            == 403
        )
    ass.unit.refresh_from_db()
    assert ass.unit.auto_assign is False


def test_switching_automatic_assignment_needs_a_login(client, unit):
    from django.urls import reverse

    response = client.post(reverse("referrals:unit_auto_assign"), {"auto_assign": "1"})
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


# --- The region stored on manual and forwarded referrals -------------------------------------


def _manual_referral(user, assure, **kwargs):
    from referrals.services import signalement_create_manual

    signalement, _ = signalement_create_manual(
        acting_user=user, origine="spst", nir=assure.nir, motif="Signalé par le SPST", **kwargs
    )
    return signalement


@pytest.fixture
def bretagne():
    from tests.factories import RegionFactory

    return RegionFactory(code="BRE", name="CARSAT Bretagne")


def test_a_manual_referral_takes_the_region_of_the_arrets_cpam_first(ass, bretagne):
    from tests.factories import CpamFactory

    arret = ArretFactory(cpam=CpamFactory(code="291", region=bretagne))  # person: CPAM 761

    assert _manual_referral(ass, arret.assure, arret=arret).region == bretagne


def test_a_manual_referral_takes_the_region_of_the_persons_cpam(ass, bretagne):
    from tests.factories import CpamFactory

    person = AssureFactory(cpam=CpamFactory(code="291", region=bretagne))

    referral = _manual_referral(ass, person)

    assert (referral.region, referral.unit) == (bretagne, ass.unit)  # unit: the creator's


def test_without_cpam_a_manual_referral_takes_the_region_of_the_unit_of_its_postal_code(
    ass, bretagne
):
    brest = UnitFactory(region=bretagne)
    UnitTerritoryFactory(unit=brest, prefix="29")
    person = AssureFactory(cpam=None, code_postal="29200")

    referral = _manual_referral(ass, person)

    assert (referral.region, referral.unit) == (bretagne, brest)


def test_without_cpam_nor_territory_a_manual_referral_takes_the_creators_region(ass, bretagne):
    person = AssureFactory(cpam=None, code_postal="75011")

    referral = _manual_referral(ass, person)

    assert (referral.region, referral.unit) == (ass.unit.region, ass.unit)


def test_a_referral_that_no_region_can_claim_is_refused(admin_user):
    from django.core.exceptions import ValidationError

    person = AssureFactory(cpam=None, code_postal="75011")

    with pytest.raises(ValidationError, match="Impossible de rattacher ce signalement"):
        _manual_referral(admin_user, person)
    assert not Signalement.objects.filter(assure=person).exists()


def test_a_forwarded_referral_keeps_the_region_of_the_medical_one(medecin, bretagne):
    from referrals.services import signalement_forward

    # The medical referral's region differs from the person's CPAM's (its arrêt's CPAM was).
    medical = SignalementFactory(
        service=Service.MEDICAL, unit=None, statut="nouveau", date_echeance=None, region=bretagne
    )

    social = signalement_forward(signalement=medical, acting_user=medecin, motif="À risque")

    social.refresh_from_db()
    assert (social.region, social.unit) == (bretagne, None)  # Bretagne's « à répartir » queue
