import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from cases.models import Accompagnement
from cases.permissions import can_edit_case, can_read_case_content, get_accompagnement_for_user
from referrals.models import Assure, Signalement
from referrals.permissions import get_assure_for_user, get_signalement_for_user
from tests.factories import (
    AccompagnementFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass)


@pytest.fixture
def referral(unit, ass):
    return SignalementFactory(unit=unit, assigned_to=ass)


def test_the_referent_sees_their_case_and_its_person(case, ass):
    assert list(Accompagnement.objects.visible_to(ass)) == [case]
    assert list(Assure.objects.visible_to(ass)) == [case.assure]


def test_a_unit_colleague_sees_the_case_header_but_not_its_content(case, colleague):
    fetched = get_accompagnement_for_user(colleague, case.pk)
    assert fetched == case
    assert not can_read_case_content(colleague, fetched)
    with pytest.raises(PermissionDenied):
        get_accompagnement_for_user(colleague, case.pk, can_read_case_content)
    with pytest.raises(PermissionDenied):
        get_accompagnement_for_user(colleague, case.pk, can_edit_case)


def test_the_unit_manager_may_edit_any_case_of_the_unit(case, manager):
    assert get_accompagnement_for_user(manager, case.pk, can_edit_case) == case


def test_a_conseiller_sees_the_case_but_not_its_content(case, conseiller):
    assert get_accompagnement_for_user(conseiller, case.pk) == case
    with pytest.raises(PermissionDenied):
        get_accompagnement_for_user(conseiller, case.pk, can_read_case_content)


def test_another_unit_gets_404_for_case_person_and_referral(case, referral, outsider):
    with pytest.raises(Http404):
        get_accompagnement_for_user(outsider, case.pk)
    with pytest.raises(Http404):
        get_assure_for_user(outsider, case.assure_id)
    with pytest.raises(Http404):
        get_signalement_for_user(outsider, referral.pk)


def test_anonymous_sees_nothing(case, referral):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert not Accompagnement.objects.visible_to(anonymous).exists()
    assert not Assure.objects.visible_to(anonymous).exists()
    assert not Signalement.objects.visible_to(anonymous).exists()


def test_regional_staff_see_no_individual_record(case, referral, regional):
    assert not Accompagnement.objects.visible_to(regional).exists()
    assert not Assure.objects.visible_to(regional).exists()
    assert not Signalement.objects.visible_to(regional).exists()


def test_the_medecin_conseil_sees_medical_referrals_of_the_region_only(unit, medecin, case):
    medical = SignalementFactory(service="medical", unit=None, statut="nouveau")
    social = SignalementFactory(unit=unit)
    assert list(Signalement.objects.visible_to(medecin)) == [medical]
    assert social not in Signalement.objects.visible_to(medecin)
    assert not Accompagnement.objects.visible_to(medecin).exists()
    assert list(Assure.objects.visible_to(medecin)) == [medical.assure]


def test_the_unrouted_queue_is_seen_by_managers_of_the_region_only(manager, ass):
    queued = SignalementFactory(unit=None)
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    other_region_manager = UserFactory(manager=True, unit=elsewhere)
    assert queued in Signalement.objects.visible_to(manager)
    assert queued not in Signalement.objects.visible_to(ass)
    assert queued not in Signalement.objects.visible_to(other_region_manager)


@pytest.mark.parametrize("superuser", [False, True], ids=["role admin", "superuser"])
def test_administrators_see_no_individual_record_in_the_application(case, referral, superuser):
    admin = UserFactory(admin=True, is_superuser=superuser)
    assert not Accompagnement.objects.visible_to(admin).exists()
    assert not Signalement.objects.visible_to(admin).exists()
    assert not Assure.objects.visible_to(admin).exists()
    with pytest.raises(Http404):
        get_accompagnement_for_user(admin, case.pk)
