"""The médecin conseil's list, forwarding to the service social and classing without follow-up."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from referrals.models import Origine, Service, Signalement, SignalementEvent, Statut
from tests.factories import (
    ArretFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    SignalementFactory,
    UnitTerritoryFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

S = Statut
LIST = reverse("referrals:medical_list")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(datetime.datetime(2026, 3, 10, 9, 0, tzinfo=datetime.UTC), tick=False):
        yield


@pytest.fixture
def medical(unit):
    arret = ArretFactory(date_debut=datetime.date(2026, 1, 10))
    return SignalementFactory(
        assure=arret.assure,
        arret=arret,
        service=Service.MEDICAL,
        unit=None,
        statut=S.NOUVEAU,
        date_echeance=None,
    )


def _forward_url(referral):
    return reverse("referrals:signalement_forward", args=[referral.pk])


def _classify_url(referral):
    return reverse("referrals:signalement_classify", args=[referral.pk])


def test_the_medical_list_requires_login(client):
    assert client.get(LIST).url == f"{reverse('login')}?next={LIST}"


@pytest.mark.parametrize("who", ["ass", "manager", "conseiller", "regional", "admin_user"])
def test_the_medical_list_is_for_the_medecin_conseil_only(client, who, request):
    client.force_login(request.getfixturevalue(who))
    assert client.get(LIST).status_code == 403


def test_the_medecin_sees_the_new_medical_referrals_of_the_region_first(
    client, medecin, medical, unit
):
    done = SignalementFactory(service=Service.MEDICAL, unit=None, statut=S.TRANSMIS)
    social = SignalementFactory(unit=unit)
    client.force_login(medecin)
    response = client.get(LIST)
    assert list(response.context["page_obj"]) == [medical]
    assert "Transmettre au service social" in response.content.decode()
    everything = list(client.get(LIST, {"vue": "tous"}).context["page_obj"])
    assert everything == [medical, done]
    assert social not in everything


def test_the_medecin_sees_the_medical_referrals_whose_region_is_theirs(client, medecin, unit):
    other_region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    cpam_elsewhere = CpamFactory(code="291", region=other_region)

    def medical(**kwargs):
        return SignalementFactory(
            service=Service.MEDICAL, unit=None, statut=S.NOUVEAU, date_echeance=None, **kwargs
        )

    without_cpam = medical(assure=AssureFactory(cpam=None), region=unit.region)
    cpam_of_another_region = medical(assure=AssureFactory(cpam=cpam_elsewhere), region=unit.region)
    # The person's CPAM is in the médecin's region, the referral (its arrêt's CPAM) is not.
    foreign = medical(region=other_region)
    client.force_login(medecin)

    shown = set(client.get(LIST).context["page_obj"])

    assert shown == {without_cpam, cpam_of_another_region}
    detail = reverse("referrals:signalement_detail", args=[without_cpam.pk])
    assert client.get(detail).status_code == 200
    assert client.get(_forward_url(foreign)).status_code == 404


def test_forwarding_is_hidden_from_others(client, medical, ass, manager):
    other_region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    far_medecin = UserFactory(medecin=True, region=other_region)
    url = _forward_url(medical)
    assert client.get(url).status_code == 302
    for user in (ass, manager, far_medecin):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"motif": "x"}).status_code == 404
    medical.refresh_from_db()
    assert medical.statut == S.NOUVEAU


def test_the_medecin_forwards_a_situation_to_the_service_social(client, medecin, medical, unit):
    UnitTerritoryFactory(unit=unit, prefix="76")
    client.force_login(medecin)
    page = client.get(_forward_url(medical)).content.decode()
    assert "aucun diagnostic" in page
    response = client.post(_forward_url(medical), {"motif": "Inquiétude sur le retour au poste"})
    assert response.status_code == 302
    assert response.url == LIST
    medical.refresh_from_db()
    assert medical.statut == S.TRANSMIS
    social = Signalement.objects.get(service=Service.SOCIAL)
    assert (social.origine, social.forwarded_from, social.unit) == (
        Origine.MEDECIN_CONSEIL,
        medical,
        unit,
    )
    assert SignalementEvent.objects.filter(signalement=medical, kind="forwarded").exists()
    assert social.region == medical.region


def test_forwarding_needs_a_reason(client, medecin, medical):
    client.force_login(medecin)
    response = client.post(_forward_url(medical), {"motif": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["motif"]
    assert not Signalement.objects.filter(service=Service.SOCIAL).exists()


def test_forwarding_an_already_followed_person_shows_why(client, medecin, medical, unit):
    SignalementFactory(assure=medical.assure, unit=unit, statut=S.A_CONTACTER)
    client.force_login(medecin)
    response = client.post(_forward_url(medical), {"motif": "x"})
    assert response.status_code == 200
    assert "déjà en cours" in response.content.decode()
    medical.refresh_from_db()
    assert medical.statut == S.NOUVEAU


def test_the_medecin_classes_a_referral_without_follow_up(client, medecin, medical, ass):
    url = _classify_url(medical)
    client.force_login(ass)
    assert client.post(url, {"reason": "x"}).status_code == 404
    client.force_login(medecin)
    response = client.post(url, {"reason": "Reprise du travail prévue"})
    assert response.status_code == 302
    medical.refresh_from_db()
    assert medical.statut == S.CLASSE
    event = SignalementEvent.objects.get(signalement=medical)
    assert (event.actor, event.new_value, event.reason) == (
        medecin,
        S.CLASSE,
        "Reprise du travail prévue",
    )


def test_the_medecin_reads_the_medical_referral_without_social_forms(client, medecin, medical):
    client.force_login(medecin)
    response = client.get(reverse("referrals:signalement_detail", args=[medical.pk]))
    assert response.status_code == 200
    assert response.context["can_forward"]
    assert response.context["contact_form"] is None
    assert medical.assure.nir_groupe in response.content.decode()
