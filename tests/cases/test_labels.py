"""Labels that say what they count (issue 8, item 16)."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from cases import dispositifs as rules
from cases import services
from cases.models import DispositifType
from referrals.models import Statut
from tests.factories import AccompagnementFactory, ArretFactory, AssureFactory, SignalementFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TODAY = datetime.date(2026, 3, 11)
DASHBOARD = reverse("cases:dashboard")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime.datetime(2026, 3, 11, 9, 0, tzinfo=PARIS), tick=False):
        yield


def _text(response):
    return " ".join(response.content.decode().split())


def test_the_referrals_of_the_ass_are_in_progress_not_all_to_contact(client, ass):
    SignalementFactory(unit=ass.unit, assigned_to=ass, statut=Statut.A_CONTACTER)
    SignalementFactory(unit=ass.unit, assigned_to=ass, statut=Statut.RENCONTRE_PROPOSEE)
    client.force_login(ass)
    page = _text(client.get(DASHBOARD))
    assert "Signalements en cours (2)" in page
    assert "Signalements à contacter" not in page


def test_suspended_cases_are_counted_as_such(client, ass, manager):
    AccompagnementFactory(referent=ass)
    suspended = AccompagnementFactory(referent=ass)
    services.case_suspend(accompagnement=suspended, acting_user=ass, reason="Hospitalisation")
    client.force_login(ass)
    page = _text(client.get(DASHBOARD))
    assert "Accompagnements ouverts ou suspendus (2)" in page
    assert 'badge text-bg-warning">Suspendu' in page
    assert "Accompagnements ouverts (" not in page
    client.force_login(manager)
    team = _text(client.get(DASHBOARD))
    assert "Accompagnements ouverts ou suspendus" in team
    assert "Signalements à contacter" not in team


def test_the_conseillers_list_is_their_call_list(client, conseiller):
    SignalementFactory(unit=conseiller.unit, assigned_to=conseiller)
    client.force_login(conseiller)
    page = _text(client.get(DASHBOARD))
    assert "Ma liste d'appels : signalements en cours (1)" in page


@pytest.fixture
def essai_accorde(ass):
    """An essai encadré « accordé » that starts next week, everything else in order."""
    assure = AssureFactory(situation_emploi="cdi")
    ArretFactory(assure=assure, date_debut=TODAY - datetime.timedelta(days=100))
    case = AccompagnementFactory(assure=assure, referent=ass)
    services.evaluation_create(accompagnement=case, acting_user=ass, niveau_risque="modere")
    agreed = TODAY - datetime.timedelta(days=2)
    return rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code=rules.ESSAI),
        statut="accorde",
        date_debut=TODAY + datetime.timedelta(days=6),
        date_fin=TODAY + datetime.timedelta(days=8),
        chez_employeur=True,
        accord_medecin_traitant=agreed,
        accord_medecin_conseil=agreed,
        accord_medecin_travail=agreed,
    )


@pytest.mark.parametrize("page", ["dispositif_detail", "dispositif_status", "dispositif_edit"])
def test_an_essai_accorde_starting_later_is_not_told_to_choose_accorde(
    client, ass, essai_accorde, page
):
    dispositif = essai_accorde
    client.force_login(ass)
    response = client.get(
        reverse(f"cases:{page}", args=[dispositif.accompagnement_id, dispositif.pk])
    )
    text = _text(response)
    assert rules.START_IN_FUTURE not in response.content.decode()
    assert "choisissez « accordé »" not in text
    assert "Démarrage prévu le 17/03/2026" in text
    assert "Bloque le démarrage" not in text
    assert response.context["blocking"] == []


def test_an_essai_accorde_still_shows_what_blocks_its_start(client, ass, essai_accorde):
    dispositif = essai_accorde
    dispositif.accompagnement.evaluations.all().delete()
    client.force_login(ass)
    response = client.get(
        reverse("cases:dispositif_detail", args=[dispositif.accompagnement_id, dispositif.pk])
    )
    assert [p.code for p in response.context["blocking"]] == ["evaluation_manquante"]
    assert "Bloque le démarrage" in _text(response)


def test_a_new_dispositif_starting_later_is_still_told_to_choose_accorde(client, ass):
    """Before the status is chosen, the rule's advice is the right one."""
    assure = AssureFactory(situation_emploi="cdi")
    ArretFactory(assure=assure, date_debut=TODAY - datetime.timedelta(days=100))
    case = AccompagnementFactory(assure=assure, referent=ass)
    client.force_login(ass)
    response = client.post(
        reverse("cases:dispositif_check", args=[case.pk]) + "?type=pmsmp",
        {
            "statut": "en_cours",
            "date_debut": TODAY + datetime.timedelta(days=3),
            "date_fin": TODAY + datetime.timedelta(days=20),
        },
    )
    assert rules.START_IN_FUTURE in [p.message for p in response.context["blocking"]]
