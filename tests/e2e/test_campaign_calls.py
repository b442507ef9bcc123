"""A conseiller works a campaign's call list in a browser (issue 12, item 5): opens it from the
menu, reserves a batch, reads the script, records « pas de réponse » for one person and
« joint — rendez-vous pris » for another, books that person's first meeting with an ASS, and
finds the call done on the list."""

import datetime
import re

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Motif, PlageOuverture
from outreach import campaigns
from outreach.models import AppelCible, Campagne, Cible, RegleCanal
from referrals.models import ArretTravail, Origine, Statut
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import AssureFactory, RegionFactory, UnitFactory, UserFactory

PASSWORD = "motdepasse-test"


def _person(nom, prenoms, today):
    assure = AssureFactory(
        nom_naissance=nom,
        prenoms=prenoms,
        telephone="06 12 34 56 78",
        code_postal="76000",
        date_naissance=datetime.date(1980, 6, 15),
    )
    ArretTravail.objects.create(
        assure=assure,
        type_arret="MAL",
        date_debut=today - datetime.timedelta(days=120),
        date_fin_prevue=today + datetime.timedelta(days=60),
        cpam=assure.cpam,
    )
    return assure


def test_a_conseiller_works_the_call_list_and_books_a_meeting(page, live_server):
    # Truncated by the transactional tests: the motif of first meetings comes back.
    Motif.objects.get_or_create(label="Premier rendez-vous", defaults={"duree_minutes": 60})
    today = timezone.localdate()
    region = RegionFactory()
    unit = UnitFactory(region=region, name="Unité de Rouen", telephone="02 35 00 00 00")
    unit.territories.create(prefix="76")
    manager = UserFactory(manager=True, unit=unit, username="responsable")
    conseiller = UserFactory(
        conseiller=True, unit=unit, username="conseiller", first_name="Thomas", last_name="Petit"
    )
    ass = UserFactory(ass=True, unit=unit, first_name="Agnès", last_name="Dupont")
    for weekday in range(5):
        PlageOuverture.objects.create(
            ass=ass,
            weekday=weekday,
            heure_debut=datetime.time(9, 0),
            heure_fin=datetime.time(17, 0),
            lieu="Agence de Rouen, 12 rue des Carmes",
            modes=["telephone"],
            premier_jour=today,
        )
    RegleCanal.objects.create(region=region, ordre=10, libelle="Tous", canal="appel")
    lemoine = _person("Lemoine", "Sophie", today)
    martin = _person("Martin", "Paul", today)
    campagne = campaigns.campagne_create(
        acting_user=manager, nom="Campagne d'appels de mars", date_reference=today
    )
    campaigns.campagne_simulate(campagne=campagne, acting_user=manager)
    campaigns.campagne_validate(campagne=campagne, acting_user=manager)
    Campagne.objects.filter(pk=campagne.pk).update(
        statut=Campagne.Statut.EN_COURS, lancee_le=timezone.now()
    )

    # The conseiller opens the call list from the menu and reserves a batch.
    login(page, live_server, conseiller.username, PASSWORD)
    with page.expect_navigation():
        page.locator("header .navbar").get_by_role("link", name="Appels de campagne").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Appels de campagne")
    row = page.get_by_role("row", name=re.compile("Campagne d'appels de mars"))
    expect(row).to_contain_text("2")
    check_a11y(page, "liste d'appels avant réservation")
    screenshot(page, "campaign_calls_before_reserving")
    with page.expect_navigation():
        row.get_by_role("button", name="Réserver 10 personnes").click()
    expect(page.locator(".alert-success")).to_contain_text("2 personnes réservées pour vous")
    expect(page.get_by_text("Script d'appel").first).to_be_visible()
    expect(page.get_by_text("service social de l'Assurance Maladie").first).to_be_visible()
    lemoine_row = page.get_by_role("row", name=re.compile("LEMOINE", re.IGNORECASE))
    expect(lemoine_row.get_by_role("link", name="06 12 34 56 78")).to_have_attribute(
        "href", "tel:0612345678"
    )
    expect(lemoine_row).to_contain_text("0/3")
    check_a11y(page, "mes appels réservés")
    screenshot(page, "campaign_calls_reserved")

    # No answer from Sophie Lemoine.
    with page.expect_navigation():
        lemoine_row.get_by_role("link", name="Noter l'appel").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lemoine")
    check_a11y(page, "noter un appel")
    page.get_by_label("Pas de réponse").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer l'appel").click()
    expect(page.locator(".alert-success")).to_contain_text("Appel enregistré (1/3)")

    # A call back without a date is refused, in French, and nothing is recorded.
    martin_row = page.get_by_role("row", name=re.compile("MARTIN", re.IGNORECASE))
    with page.expect_navigation():
        martin_row.get_by_role("link", name="Noter l'appel").click()
    page.get_by_label("Joint — rappeler le…").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer l'appel").click()
    expect(page.locator(".invalid-feedback")).to_contain_text("Indiquez quand rappeler")
    screenshot(page, "campaign_calls_record_error")

    # Paul Martin accepts a meeting: the conseiller books it with the ASS.
    page.get_by_label("Joint — rendez-vous pris").check()
    page.get_by_label("Note").fill("Préfère être appelé le matin.")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer l'appel").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Prendre rendez-vous pour")
    expect(page.locator(".alert-success")).to_contain_text("créneau du premier rendez-vous")
    check_a11y(page, "prise de rendez-vous après l'appel")
    screenshot(page, "campaign_calls_booking")
    with page.expect_navigation():
        page.locator(".slot-button").first.click()
    expect(page.locator(".alert-success")).to_contain_text("Rendez-vous pris pour")
    expect(page.locator(".alert-success")).to_contain_text(str(ass))

    # Back on the call list: Paul Martin's call is done, Sophie Lemoine is still to call.
    with page.expect_navigation():
        page.locator("header .navbar").get_by_role("link", name="Appels de campagne").click()
    mine = page.locator("section", has=page.get_by_role("heading", name="Mes appels"))
    expect(mine.get_by_role("row", name=re.compile("LEMOINE", re.IGNORECASE))).to_contain_text(
        "Pas de réponse"
    )
    expect(mine.get_by_role("row", name=re.compile("MARTIN", re.IGNORECASE))).to_have_count(0)
    recent = page.locator("section", has=page.get_by_role("heading", name=re.compile("derniers")))
    expect(recent.get_by_role("row", name=re.compile("MARTIN", re.IGNORECASE))).to_contain_text(
        "Rendez-vous pris"
    )
    check_a11y(page, "liste d'appels après le rendez-vous")
    screenshot(page, "campaign_calls_done")

    # The manager follows the call list on the campaign page.
    page.locator("#user-menu").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()
    login(page, live_server, manager.username, PASSWORD)
    page.goto(live_server.url + reverse("outreach:campaign_detail", args=[campagne.pk]))
    progress = page.locator("section", has=page.get_by_role("heading", name="Liste d'appels"))
    expect(progress.get_by_role("row", name="Rendez-vous pris")).to_contain_text("1")
    expect(progress.get_by_role("row", name="Appelées au moins une fois")).to_contain_text("2")
    check_a11y(page, "page de la campagne, liste d'appels")
    screenshot(page, "campaign_calls_manager_progress")

    done = Cible.objects.select_related("signalement").get(campagne=campagne, assure=martin)
    assert done.rdv_pris_le is not None and done.reserve_par is None
    assert done.signalement.origine == Origine.CAMPAGNE
    assert done.signalement.statut == Statut.RENCONTRE_PROPOSEE
    assert done.signalement.rdv_ass == ass
    waiting = Cible.objects.get(campagne=campagne, assure=lemoine)
    assert (waiting.tentatives, waiting.reserve_par) == (1, conseiller)
    assert AppelCible.objects.filter(conseiller=conseiller).count() == 2
