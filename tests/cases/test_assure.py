import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from cases.models import Consentement
from cases.people import assure_update
from pdp.identifiers import nir_format
from pdp.models import AuditLog
from referrals.models import Service, Statut, TypeArret
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    PartnerFactory,
    SignalementFactory,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
SIRET = "73282932000074"


@pytest.fixture
def person(unit, ass):
    assure = AssureFactory(
        nom_naissance="Martin",
        prenoms="Hélène",
        telephone="0601020304",
        employeur_nom="Transports Normands",
        employeur_siret=SIRET,
        poste="Chauffeuse poids lourds",
        rqth=True,
    )
    AccompagnementFactory(assure=assure, referent=ass)
    return assure


def detail(pk):
    return reverse("cases:assure_detail", args=[pk])


def edit(pk):
    return reverse("cases:assure_edit", args=[pk])


def test_both_pages_send_anonymous_visitors_to_the_login_page(client, person):
    for url in (detail(person.pk), edit(person.pk)):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("login") in response.url


@pytest.mark.parametrize("persona", ["outsider", "regional"])
def test_people_who_do_not_follow_the_person_get_404(client, persona, request, person):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(detail(person.pk)).status_code == 404
    assert client.get(edit(person.pk)).status_code == 404


def test_the_page_shows_identity_employment_and_logs_the_read(client, ass, person):
    client.force_login(ass)
    response = client.get(detail(person.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert nir_format(person.nir) in html
    assert "732 829 320 00074" in html
    assert "Chauffeuse poids lourds" in html
    assert "0601020304" in html
    log = AuditLog.objects.get(action="view", object_type="referrals.assure")
    assert (log.user, log.object_id, log.assure_id) == (ass, str(person.pk), person.pk)


def test_the_sick_leave_timeline_shows_the_markers_of_the_arret(client, ass, person):
    with time_machine.travel(datetime.datetime(2026, 6, 1, 10, tzinfo=PARIS), tick=False):
        ArretFactory(
            assure=person,
            type_arret=TypeArret.AT,
            date_debut=datetime.date(2026, 2, 1),
            date_fin_prevue=datetime.date(2026, 9, 30),
        )
        client.force_login(ass)
        response = client.get(detail(person.pk))
    html = response.content.decode()
    arret = response.context["arrets"][0]
    assert arret.duree == 121
    kinds = {m.kind: m for m in arret.markers}
    assert kinds["premier_contact"].reached
    assert kinds["premier_contact"].date == datetime.date(2026, 5, 31)
    assert "jour 121" in html
    assert "31/05/2026" in html
    assert "premier contact du service social" in html
    assert "visite de reprise" in html


def test_referrals_cases_and_consents_are_listed(client, ass, person):
    referral = SignalementFactory(assure=person, unit=ass.unit, statut=Statut.ACCOMPAGNEMENT_OUVERT)
    Consentement.objects.create(assure=person, portee="cellule_pdp", recorded_by=ass)
    client.force_login(ass)
    response = client.get(detail(person.pk))
    html = response.content.decode()
    assert response.context["referrals"] == [referral]
    assert len(response.context["cases"]) == 1
    assert reverse("referrals:signalement_detail", args=[referral.pk]) in html
    assert "Présentation à la cellule PDP" in html


def test_consents_are_shown_only_to_readers_of_a_case_content(
    client, person, ass, colleague, conseiller, share_case
):
    """The person's case is followed by `ass`; colleagues see the person, not the consents."""
    Consentement.objects.create(assure=person, portee="cellule_pdp", recorded_by=ass)
    case = person.accompagnements.get()
    for user in (colleague, conseiller):
        client.force_login(user)
        response = client.get(detail(person.pk))
        assert response.status_code == 200
        assert response.context["consents"] is None
        assert "Présentation à la cellule PDP" not in response.content.decode()
    share_case(case, colleague)
    client.force_login(colleague)
    assert "Présentation à la cellule PDP" in client.get(detail(person.pk)).content.decode()


def test_the_medecin_conseil_sees_the_person_but_not_the_social_file(client, medecin, person, ass):
    SignalementFactory(assure=person, unit=None, service=Service.MEDICAL, statut=Statut.NOUVEAU)
    SignalementFactory(assure=person, unit=ass.unit)
    Consentement.objects.create(assure=person, portee="cellule_pdp", recorded_by=ass)
    client.force_login(medecin)
    response = client.get(detail(person.pk))
    assert response.status_code == 200
    assert [s.service for s in response.context["referrals"]] == [Service.MEDICAL]
    assert response.context["cases"] == []
    assert response.context["consents"] is None
    assert response.context["can_edit"] is False
    assert "cellule PDP" not in response.content.decode()


def test_the_medecin_conseil_may_not_edit_the_person(client, medecin, person):
    SignalementFactory(assure=person, unit=None, service=Service.MEDICAL, statut=Statut.NOUVEAU)
    client.force_login(medecin)
    assert client.get(edit(person.pk)).status_code == 403
    assert client.post(edit(person.pk), {"telephone": "0700000000"}).status_code == 403


def form_data(person, **changes):
    data = {
        "adresse": person.adresse,
        "code_postal": person.code_postal,
        "commune": person.commune,
        "telephone": person.telephone,
        "email": person.email,
        "canal_prefere": person.canal_prefere,
        "situation_emploi": person.situation_emploi,
        "employeur_nom": person.employeur_nom,
        "employeur_siret": person.employeur_siret,
        "poste": person.poste,
        "rqth": "on" if person.rqth else "",
        "rappels": "on" if person.rappels else "",
        "pas_de_sms": "on" if person.pas_de_sms else "",
        "pas_de_relance": "on" if person.pas_de_relance else "",
        "spst": person.spst_id or "",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("persona", ["ass", "conseiller", "manager", "colleague"])
def test_unit_staff_update_contact_and_employer_and_it_is_audited(client, persona, request, person):
    user = request.getfixturevalue(persona)
    spst = PartnerFactory(kind="spst", name="SPST Rouen")
    client.force_login(user)
    assert client.get(edit(person.pk)).status_code == 200
    response = client.post(
        edit(person.pk),
        form_data(
            person,
            telephone="0709080706",
            employeur_siret="443 061 841 00047",
            spst=spst.pk,
            situation_emploi="cdi",
        ),
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.telephone == "0709080706"
    assert person.employeur_siret == "44306184100047"
    assert person.spst == spst
    log = AuditLog.objects.get(action="update", object_type="referrals.assure")
    assert log.user == user
    assert log.changes["telephone"] == ["0601020304", "0709080706"]
    assert log.changes["employeur_siret"] == [SIRET, "44306184100047"]
    assert log.changes["spst"] == [None, spst.pk]
    assert set(log.changes) == {"telephone", "employeur_siret", "spst", "situation_emploi"}


def test_an_invalid_siret_is_refused_and_nothing_changes(client, ass, person):
    client.force_login(ass)
    response = client.post(
        edit(person.pk),
        form_data(person, telephone="0709080706", employeur_siret="732 829 320 00075"),
    )
    assert response.status_code == 200
    assert "SIRET invalide" in response.content.decode()
    person.refresh_from_db()
    assert person.telephone == "0601020304"
    assert not AuditLog.objects.filter(action="update").exists()


def test_the_edit_form_shows_the_siret_grouped(client, ass, person):
    client.force_login(ass)
    assert "732 829 320 00074" in client.get(edit(person.pk)).content.decode()


def test_assure_update_writes_nothing_when_nothing_changes(ass, person):
    assert assure_update(assure=person, acting_user=ass, data={"telephone": "0601020304"}) == {}
    assert not AuditLog.objects.exists()


def test_assure_update_refuses_identity_fields(ass, person):
    with pytest.raises(ValueError):
        assure_update(assure=person, acting_user=ass, data={"nir": "x"})


def test_pas_de_sms_and_pas_de_relance_are_saved_shown_and_audited(client, ass, person):
    client.force_login(ass)
    response = client.post(edit(person.pk), form_data(person, pas_de_sms="on", pas_de_relance="on"))
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.pas_de_sms and person.pas_de_relance
    changes = AuditLog.objects.get(action="update", object_id=str(person.pk)).changes
    assert changes["pas_de_sms"] == [False, True] and changes["pas_de_relance"] == [False, True]
    assert "Pas de SMS, pas de relance" in client.get(detail(person.pk)).content.decode()
