"""The médecin conseil's list, forwarding to the service social and classing without follow-up."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from pdp.models import AuditLog
from referrals import services
from referrals.models import Origine, Service, Signalement, SignalementEvent, Statut
from tests.factories import (
    AccompagnementFactory,
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


# --- « Transmettre » only for a person not already followed by the service social ---------


def _followed(kind, medical, unit):
    if kind == "open_social_referral":
        return SignalementFactory(assure=medical.assure, unit=unit, statut=S.CONTACT_EN_COURS)
    return AccompagnementFactory(assure=medical.assure, referent=UserFactory(ass=True, unit=unit))


@pytest.mark.parametrize("kind", ["open_social_referral", "open_case"])
def test_the_list_shows_already_followed_instead_of_transmettre(
    client, medecin, medical, unit, kind, django_assert_max_num_queries
):
    _followed(kind, medical, unit)
    free = SignalementFactory(
        service=Service.MEDICAL, unit=None, statut=S.NOUVEAU, date_echeance=None
    )
    client.force_login(medecin)
    # The page, one INSERT of its read rows, the menu's cellule membership.
    with django_assert_max_num_queries(8):
        response = client.get(LIST)
    html = response.content.decode()
    rows = {
        row["signalement"]: row["signalement"].already_followed for row in response.context["rows"]
    }
    assert rows == {medical: True, free: False}
    assert html.count("Déjà suivi par le service social") == 1
    assert _forward_url(medical) not in html
    assert _forward_url(free) in html
    assert _classify_url(medical) in html  # it can still be classed


def test_a_closed_social_referral_or_case_does_not_count_as_followed(
    client, medecin, medical, unit
):
    SignalementFactory(assure=medical.assure, unit=unit, statut=S.SANS_REPONSE)
    AccompagnementFactory(
        assure=medical.assure,
        referent=UserFactory(ass=True, unit=unit),
        statut="cloture",
        date_cloture=datetime.date(2026, 1, 5),
    )
    client.force_login(medecin)
    html = client.get(LIST).content.decode()
    assert "Déjà suivi" not in html
    assert _forward_url(medical) in html


def test_the_medical_list_does_no_query_per_row(
    client, medecin, unit, django_assert_max_num_queries
):
    for _ in range(5):
        arret = ArretFactory()
        SignalementFactory(
            assure=arret.assure,
            arret=arret,
            service=Service.MEDICAL,
            unit=None,
            statut=S.NOUVEAU,
            date_echeance=None,
        )
    client.force_login(medecin)
    # The page, one INSERT of its read rows, the menu's cellule membership.
    with django_assert_max_num_queries(8):
        response = client.get(LIST, {"vue": "tous"})
    assert len(response.context["rows"]) == 5


@pytest.mark.parametrize("kind", ["open_social_referral", "open_case"])
def test_the_referral_page_shows_already_followed_instead_of_transmettre(
    client, medecin, medical, unit, kind
):
    _followed(kind, medical, unit)
    client.force_login(medecin)
    response = client.get(reverse("referrals:signalement_detail", args=[medical.pk]))
    html = response.content.decode()
    assert "Déjà suivi par le service social" in html
    assert _forward_url(medical) not in html
    assert _classify_url(medical) in html


@pytest.mark.parametrize("kind", ["open_social_referral", "open_case"])
def test_the_forward_page_of_an_already_followed_person_offers_no_form(
    client, medecin, medical, unit, kind
):
    _followed(kind, medical, unit)
    client.force_login(medecin)
    response = client.get(_forward_url(medical))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Déjà suivi par le service social" in html
    assert "<textarea" not in html
    response = client.post(_forward_url(medical), {"motif": "Retour au poste difficile"})
    assert response.status_code == 200
    medical.refresh_from_db()
    assert medical.statut == S.NOUVEAU
    assert Signalement.objects.filter(service=Service.SOCIAL).count() == (
        1 if kind == "open_social_referral" else 0
    )


def test_the_service_refuses_to_forward_for_a_person_with_an_open_case(medecin, medical, unit):
    _followed("open_case", medical, unit)
    with pytest.raises(ValidationError) as excinfo:
        services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    assert "déjà accompagnée par le service social" in " ".join(excinfo.value.messages)
    medical.refresh_from_db()
    assert medical.statut == S.NOUVEAU


def test_a_forwarded_referral_offers_neither_the_form_nor_the_buttons(client, medecin, medical):
    Signalement.objects.filter(pk=medical.pk).update(statut=S.TRANSMIS)
    client.force_login(medecin)
    response = client.get(_forward_url(medical))
    html = response.content.decode()
    assert "Signalement déjà traité" in html
    assert "<textarea" not in html
    detail = client.get(reverse("referrals:signalement_detail", args=[medical.pk]))
    assert _forward_url(medical) not in detail.content.decode()
    assert _classify_url(medical) not in detail.content.decode()


# --- Visite de pré-reprise and temps partiel thérapeutique recorded by the médecin ---------


def _record_url(referral):
    return reverse("referrals:signalement_medical_record", args=[referral.pk])


DECISIONS = {
    "visite_pre_reprise_demandee_le": "2026-03-02",
    "tpt_decision": "accorde",
    "tpt_decision_le": "2026-03-09",
}


def test_recording_decisions_requires_login(client, medical):
    url = _record_url(medical)
    assert client.get(url).url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("who", ["ass", "manager", "conseiller", "regional", "far_medecin"])
def test_only_the_medecin_conseil_of_the_region_records_decisions(client, medical, who, request):
    if who == "far_medecin":
        user = UserFactory(medecin=True, region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    else:
        user = request.getfixturevalue(who)
    client.force_login(user)
    assert client.get(_record_url(medical)).status_code == 404
    assert client.post(_record_url(medical), DECISIONS).status_code == 404
    medical.refresh_from_db()
    assert (medical.tpt_decision, medical.visite_pre_reprise_demandee_le) == ("", None)
    assert not SignalementEvent.objects.filter(signalement=medical).exists()


def test_a_social_referral_has_no_medical_decisions_page(client, medecin, ass, unit):
    social = SignalementFactory(unit=unit)
    client.force_login(medecin)  # does not see social referrals
    assert client.get(_record_url(social)).status_code == 404
    client.force_login(ass)  # sees it, but there is nothing medical to record on it
    assert client.get(_record_url(social)).status_code == 403
    assert client.post(_record_url(social), DECISIONS).status_code == 403
    social.refresh_from_db()
    assert social.tpt_decision == ""


def test_the_medecin_records_a_pre_reprise_request_and_a_tpt_decision(client, medecin, medical):
    client.force_login(medecin)
    detail = client.get(reverse("referrals:signalement_detail", args=[medical.pk]))
    assert _record_url(medical) in detail.content.decode()
    page = client.get(_record_url(medical))
    assert page.status_code == 200
    assert "aucun diagnostic" in page.content.decode()
    response = client.post(_record_url(medical), DECISIONS)
    assert response.status_code == 302
    assert response.url == reverse("referrals:signalement_detail", args=[medical.pk])
    medical.refresh_from_db()
    assert (
        medical.visite_pre_reprise_demandee_le,
        medical.tpt_decision,
        medical.tpt_decision_le,
    ) == (datetime.date(2026, 3, 2), "accorde", datetime.date(2026, 3, 9))
    event = SignalementEvent.objects.get(signalement=medical)
    assert (event.kind, event.actor, event.old_value, event.new_value) == (
        SignalementEvent.Kind.MEDICAL,
        medecin,
        "",
        "pré-reprise demandée le 02/03/2026\N{NO-BREAK SPACE}; TPT accordé le 09/03/2026",
    )
    log = AuditLog.objects.get(action=AuditLog.Action.UPDATE, object_id=str(medical.pk))
    assert log.user == medecin and log.assure_id == medical.assure_id
    assert log.changes["tpt_decision"] == ["", "accorde"]
    detail = client.get(reverse("referrals:signalement_detail", args=[medical.pk])).content
    assert "accordé par le médecin conseil le 09/03/2026" in detail.decode()
    # Posting the same values again changes nothing and writes nothing.
    client.post(_record_url(medical), DECISIONS)
    assert SignalementEvent.objects.filter(signalement=medical).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"tpt_decision": "accorde"}, "tpt_decision_le", "Indiquez la date de la décision."),
        ({"tpt_decision_le": "2026-03-09"}, "tpt_decision", "Indiquez la décision"),
        (
            {"tpt_decision": "refuse", "tpt_decision_le": "2026-03-11"},
            "tpt_decision_le",
            "ne peut pas être dans le futur",
        ),
        (
            {"visite_pre_reprise_demandee_le": "2026-01-09"},
            "visite_pre_reprise_demandee_le",
            "se demande pendant l'arrêt (commencé le 10/01/2026)",
        ),
        ({"tpt_decision": "peut-etre"}, "tpt_decision", "peut-etre"),
    ],
)
def test_inconsistent_decisions_are_refused_next_to_the_field(
    client, medecin, medical, data, field, message
):
    client.force_login(medecin)
    response = client.post(_record_url(medical), data)
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    medical.refresh_from_db()
    assert (medical.tpt_decision, medical.visite_pre_reprise_demandee_le) == ("", None)
    assert not SignalementEvent.objects.filter(signalement=medical).exists()


def test_the_service_keeps_decisions_on_medical_referrals_only(medecin, unit):
    social = SignalementFactory(unit=unit)
    with pytest.raises(ValidationError):
        services.signalement_record_medical(
            signalement=social,
            acting_user=medecin,
            tpt_decision="accorde",
            tpt_decision_le=datetime.date(2026, 3, 1),
        )
    social.refresh_from_db()
    assert social.tpt_decision == ""


def test_a_recorded_decision_can_be_corrected(medecin, medical):
    services.signalement_record_medical(
        signalement=medical,
        acting_user=medecin,
        tpt_decision="accorde",
        tpt_decision_le=datetime.date(2026, 3, 1),
    )
    services.signalement_record_medical(signalement=medical, acting_user=medecin)
    medical.refresh_from_db()
    assert (medical.tpt_decision, medical.tpt_decision_le) == ("", None)
    last = SignalementEvent.objects.filter(signalement=medical).latest("pk")
    assert (last.old_value, last.new_value) == ("TPT accordé le 01/03/2026", "effacé")


def test_the_ass_sees_the_decisions_on_the_social_referral_forwarded(
    client, medecin, medical, unit, ass
):
    UnitTerritoryFactory(unit=unit, prefix="76")
    social = services.signalement_forward(
        signalement=medical, acting_user=medecin, motif="Retour au poste à préparer"
    )
    services.signalement_record_medical(
        signalement=medical,
        acting_user=medecin,
        visite_pre_reprise_demandee_le=datetime.date(2026, 3, 2),
        tpt_decision="refuse",
        tpt_decision_le=datetime.date(2026, 3, 9),
    )
    client.force_login(ass)
    html = client.get(reverse("referrals:signalement_detail", args=[social.pk])).content.decode()
    assert "demandée par le médecin conseil le 02/03/2026" in html
    assert "refusé par le médecin conseil le 09/03/2026" in html
    assert _record_url(medical) not in html


def test_the_medical_list_writes_a_read_row_per_referral_listed(client, medecin):
    from pdp.models import AuditLog

    listed = SignalementFactory(service=Service.MEDICAL, unit=None, statut=S.NOUVEAU)
    client.force_login(medecin)
    assert client.get(LIST).status_code == 200
    log = AuditLog.objects.get(user=medecin, changes__page="liste du service médical")
    assert (log.object_id, log.assure_id) == (str(listed.pk), listed.assure_id)
