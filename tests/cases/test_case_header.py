"""The case page's header shows the arrêt; the notes are a section of their own (issue 8,
item 22)."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from cases import services
from referrals.models import TypeArret
from tests.factories import AccompagnementFactory, ArretFactory, SignalementFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TODAY = datetime.date(2026, 3, 11)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime.datetime(2026, 3, 11, 9, 0, tzinfo=PARIS), tick=False):
        yield


def days(n):
    return TODAY + datetime.timedelta(days=n)


def _page(client, user, case):
    client.force_login(user)
    return " ".join(
        client.get(reverse("cases:accompagnement_detail", args=[case.pk])).content.decode().split()
    )


def test_the_header_shows_the_referrals_arret_with_its_day_count_and_the_law_markers(client, ass):
    case = AccompagnementFactory(referent=ass)
    arret = ArretFactory(
        assure=case.assure, date_debut=days(-99), date_fin_prevue=days(60)
    )  # day 100 today
    ArretFactory(assure=case.assure, date_debut=days(-400), date_fin_prevue=days(-300))
    case.signalement = SignalementFactory(assure=case.assure, unit=case.unit, arret=arret)
    case.save(update_fields=["signalement"])
    page = _page(client, ass, case)
    assert (
        "Arrêt de travail (maladie) depuis le 02/12/2025, <strong>jour 100</strong> "
        "aujourd'hui, fin prévue le 10/05/2026"
    ) in page
    assert "Jour 31 (01/01/2026) · Au-delà de 30 jours : rendez-vous de liaison" in page
    assert "Jour 60 (30/01/2026) · 60 jours : visite de reprise obligatoire au retour" in page
    assert page.count("Atteint :") == 2
    assert (
        "signalement au service social" not in page
    )  # the CPAM thresholds stay on the person's page


def test_without_a_referral_the_header_shows_the_persons_latest_arret(client, ass):
    case = AccompagnementFactory(referent=ass)
    ArretFactory(assure=case.assure, date_debut=days(-400), date_fin_prevue=days(-300))
    ArretFactory(
        assure=case.assure,
        type_arret=TypeArret.MP,
        date_debut=days(-20),
        date_fin_prevue=days(40),
    )
    page = _page(client, ass, case)
    assert "Arrêt de travail (maladie professionnelle) depuis le 19/02/2026" in page
    assert "jour 21</strong>" in page
    assert "À venir :" in page  # day 31 not reached yet


def test_an_ended_arret_says_so(client, ass):
    case = AccompagnementFactory(referent=ass)
    ArretFactory(
        assure=case.assure,
        date_debut=days(-50),
        date_fin_prevue=days(10),
        date_fin_reelle=days(-5),
    )
    page = _page(client, ass, case)
    assert "du 20/01/2026 au 06/03/2026 (reprise), 46 jours" in page


def test_a_person_without_an_arret(client, ass):
    page = _page(client, ass, AccompagnementFactory(referent=ass))
    assert "Aucun arrêt de travail connu" in page


def test_a_colleague_sees_the_arret_in_the_header_as_on_the_persons_page(client, ass, colleague):
    case = AccompagnementFactory(referent=ass)
    ArretFactory(assure=case.assure, date_debut=days(-9))
    assert "jour 10</strong>" in _page(client, colleague, case)


def test_the_notes_are_a_section_of_their_own_with_their_button(client, ass):
    case = AccompagnementFactory(referent=ass)
    text = (
        "Appel de l'employeur : il propose un poste adapté au retour, sans port de charges."
        "\nÀ rappeler lundi."
    )
    services.case_note_add(accompagnement=case, acting_user=ass, text=text)
    services.case_suspend(accompagnement=case, acting_user=ass, reason="")
    page = _page(client, ass, case)
    start = page.index('<section id="notes"')
    notes = page[start : page.index("</section>", start)]
    assert reverse("cases:note_create", args=[case.pk]) in notes
    assert "sans port de charges.<br>À rappeler lundi." in notes
    assert "suspendu" not in notes.lower()
    # The journal keeps the chronology with the note's summary, not its text twice.
    journal = page[page.index('<section id="journal"') :]
    assert "Note : Appel de l&#x27;employeur" in journal
    assert "À rappeler lundi." not in journal


def test_the_notes_section_shows_the_latest_and_links_to_all(client, ass):
    from cases.views import NOTES_SHOWN

    case = AccompagnementFactory(referent=ass)
    for i in range(NOTES_SHOWN + 1):
        services.case_note_add(accompagnement=case, acting_user=ass, text=f"Note numéro {i:02d}")
    page = _page(client, ass, case)
    start = page.index('<section id="notes"')
    notes = page[start : page.index("</section>", start)]
    assert f"Note numéro {NOTES_SHOWN:02d}" in notes
    assert "Note numéro 00" not in notes
    assert "?kind=note#journal" in notes


def test_adding_a_note_returns_to_the_notes(client, ass):
    case = AccompagnementFactory(referent=ass)
    client.force_login(ass)
    response = client.post(reverse("cases:note_create", args=[case.pk]), {"text": "Bilan"})
    assert response.url.endswith("#notes")
    assert case.events.get(kind="note").detail == "Bilan"
