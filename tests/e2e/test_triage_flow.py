"""From the CPAM extract to an accompagnement, the way the unit works it in a browser.

A manager uploads the monthly extract, runs the detection, finds the new referral in the inbox
and assigns it to an ASS; the ASS logs in, records a failed call then a successful one (a
meeting proposed) and opens the accompagnement; the case page shows.
"""

import datetime
import re

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Accompagnement
from referrals.models import ContactAttempt, Signalement, Statut
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    CpamFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
    make_nir,
)

PASSWORD = "motdepasse-test"
HEADER = (
    "nir;nom;prenom;date_naissance;sexe;adresse;code_postal;commune;telephone;email;"
    "employeur_siret;employeur_nom;type_arret;date_debut_arret;date_fin_prevue;"
    "date_fin_reelle;montant_ij;code_caisse"
)


def _extract(tmp_path, nir, start, expected_end):
    row = (
        f"{nir};Lemoine;Sophie;12/05/1985;1;3 rue du Gros-Horloge;76000;Rouen;0612345678;;"
        f";Boulangerie Lemoine;MAL;{start:%d/%m/%Y};{expected_end:%d/%m/%Y};;42,50;761"
    )
    path = tmp_path / "extrait_761.csv"
    path.write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    return path


def _logout(page):
    page.locator("#user-menu").click()  # the user menu of the navbar
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()


def test_a_referral_goes_from_the_cpam_extract_to_an_accompagnement(page, live_server, tmp_path):
    unit = UnitFactory(name="Unité de Rouen")
    UnitTerritoryFactory(unit=unit, prefix="76")
    CpamFactory(region=unit.region, code="761")
    manager = UserFactory(manager=True, unit=unit, username="responsable", first_name="Rémi")
    ass = UserFactory(ass=True, unit=unit, username="ass", first_name="Agnès", last_name="Dupont")
    UserFactory(ass=True, unit=unit, username="collegue", first_name="Bruno", last_name="Martin")
    today = timezone.localdate()
    nir = make_nir(321)
    csv_path = _extract(
        tmp_path, nir, today - datetime.timedelta(days=99), today + datetime.timedelta(days=60)
    )

    # The manager uploads the extract.
    login(page, live_server, manager.username, PASSWORD)
    page.goto(live_server.url + reverse("referrals:import_list"))
    page.get_by_label("Fichier de l'extrait CPAM").set_input_files(str(csv_path))
    with page.expect_navigation():
        page.get_by_role("button", name="Importer").click()
    expect(page.locator(".alert-success")).to_contain_text("1 arrêts créés")

    # ... runs the detection from the inbox...
    page.goto(live_server.url + reverse("referrals:inbox"))
    with page.expect_navigation():
        page.get_by_role("button", name="Lancer la détection").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Détection lancée pour {unit.region}")
    expect(page.locator("#derniere-detection")).to_contain_text(
        f"(par {manager}) — 2 signalements créés (1 au service social"
    )

    # ... sees the referral (day 100 of the arrêt, due on day 120, not assigned)...
    row = page.get_by_role("row", name=re.compile("Lemoine"))
    expect(row).to_contain_text("100 j")
    expect(row).to_contain_text("Non attribué")
    expect(row).to_contain_text("À contacter")
    screenshot(page, "triage_inbox_manager")
    check_a11y(page, "boîte des signalements (responsable)")

    # ... and assigns it to an ASS, with a reason.
    with page.expect_navigation():
        row.get_by_role("link", name=re.compile("Lemoine")).click()
    page.get_by_label("Attribué à").select_option(label=f"{ass} (ASS)")
    page.get_by_label("Motif de l'attribution").fill("Secteur de Rouen centre")
    with page.expect_navigation():
        page.get_by_role("button", name="Attribuer").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Signalement attribué : {unit}")
    expect(page.get_by_role("table").last).to_contain_text("Secteur de Rouen centre")
    _logout(page)

    # The ASS finds it in her inbox.
    login(page, live_server, ass.username, PASSWORD)
    page.goto(live_server.url + reverse("referrals:inbox"))
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("Lemoine")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lemoine")

    # A failed call...
    contact = page.locator("form", has=page.get_by_role("button", name="Enregistrer le contact"))
    contact.get_by_label("Canal").select_option(label="Téléphone")
    contact.get_by_label("Résultat").select_option(label="Pas de réponse")
    contact.get_by_label("Note").fill("Messagerie, rappel demain")
    with page.expect_navigation():
        contact.get_by_role("button", name="Enregistrer le contact").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Contact en cours")

    # ... then a successful one, with a meeting proposed.
    contact = page.locator("form", has=page.get_by_role("button", name="Enregistrer le contact"))
    contact.get_by_label("Canal").select_option(label="Téléphone")
    contact.get_by_label("Résultat").select_option(label="Personne jointe")
    contact.get_by_label("Une rencontre a été proposée à la personne").check()
    with page.expect_navigation():
        contact.get_by_role("button", name="Enregistrer le contact").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rencontre proposée")
    expect(page.locator("#h-contacts + *")).to_contain_text("Personne jointe")
    screenshot(page, "triage_signalement_ass")
    check_a11y(page, "détail du signalement (ASS)")

    # She opens the accompagnement, herself as référent (the default).
    with page.expect_navigation():
        page.get_by_role("link", name="Ouvrir un accompagnement…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ouvrir un accompagnement")
    expect(page.get_by_label("Référent du parcours (ASS)")).to_have_value(str(ass.pk))
    check_a11y(page, "ouverture d'un accompagnement")
    with page.expect_navigation():
        page.get_by_role("button", name="Ouvrir l'accompagnement").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Accompagnement")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lemoine")

    case = Accompagnement.objects.get(assure__nir=nir)
    assert page.url.endswith(f"/accompagnements/{case.pk}/")
    signalement = Signalement.objects.get(assure__nir=nir, service="social")
    assert signalement.statut == Statut.ACCOMPAGNEMENT_OUVERT
    assert case.signalement == signalement
    assert case.referent == ass
    assert list(
        ContactAttempt.objects.filter(signalement=signalement)
        .order_by("at", "pk")
        .values_list("resultat", flat=True)
    ) == ["pas_de_reponse", "joint"]
