"""The conseiller's first contact in a browser: the manager gives them a referral, they find it
on their call list, reach the person and hand over to an ASS with a first meeting, which the
ASS then sees on « Mon activité »."""

import datetime
import re

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from pdp.workdays import closed_day_label
from referrals.models import Signalement, Statut
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    ArretFactory,
    AssureFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

PASSWORD = "motdepasse-test"


def _logout(page):
    page.locator("#user-menu").click()  # the user menu of the navbar
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()


def test_a_conseiller_calls_then_hands_over_to_an_ass(page, live_server):
    unit = UnitFactory(name="Unité de Rouen")
    manager = UserFactory(manager=True, unit=unit, username="responsable")
    conseiller = UserFactory(
        conseiller=True, unit=unit, username="conseiller", first_name="Thomas", last_name="Petit"
    )
    ass = UserFactory(ass=True, unit=unit, username="ass", first_name="Agnès", last_name="Dupont")
    today = timezone.localdate()
    person = AssureFactory(nom_naissance="Lemoine", prenoms="Sophie", telephone="06 12 34 56 78")
    referral = SignalementFactory(
        assure=person,
        arret=ArretFactory(assure=person, date_debut=today - datetime.timedelta(days=129)),
        unit=unit,
        statut=Statut.A_CONTACTER,
        date_echeance=today - datetime.timedelta(days=10),
    )
    detail = live_server.url + reverse("referrals:signalement_detail", args=[referral.pk])

    # The manager gives the referral to the conseiller for the first contact.
    login(page, live_server, manager.username, PASSWORD)
    page.goto(detail)
    page.get_by_label("Attribué à").select_option(label=f"{conseiller} (conseiller)")
    with page.expect_navigation():
        page.get_by_role("button", name="Attribuer").click()
    expect(page.locator(".alert-success")).to_contain_text(str(conseiller))
    _logout(page)

    # The conseiller finds it on their call list, overdue, with a number to call.
    login(page, live_server, conseiller.username, PASSWORD)
    page.goto(live_server.url + reverse("cases:dashboard"))
    row = page.get_by_role("row", name=re.compile("Lemoine"))
    expect(row).to_contain_text("en retard")
    expect(row.get_by_role("link", name="06 12 34 56 78")).to_have_attribute(
        "href", "tel:0612345678"
    )
    expect(row).to_contain_text("130")
    screenshot(page, "conseiller_call_list")
    check_a11y(page, "liste d'appels (conseiller)")

    # The person is reached...
    with page.expect_navigation():
        row.get_by_role("link", name=re.compile("Lemoine")).click()
    contact = page.locator("form", has=page.get_by_role("button", name="Enregistrer le contact"))
    contact.get_by_label("Résultat").select_option(label="Personne jointe")
    with page.expect_navigation():
        contact.get_by_role("button", name="Enregistrer le contact").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Contact en cours")
    expect(page.get_by_role("link", name="Ouvrir un accompagnement…")).to_have_count(0)

    # ... and the conseiller books the first meeting with the ASS, handing over.
    # Three days on, moved past a Sunday or a public holiday (the form would ask to confirm).
    meeting_day = today + datetime.timedelta(days=3)
    while closed_day_label(meeting_day):
        meeting_day += datetime.timedelta(days=1)
    handover = page.locator("form", has=page.get_by_role("button", name="Passer le relais"))
    handover.get_by_label("ASS").select_option(label=str(ass))
    handover.get_by_label("Date du rendez-vous").fill(meeting_day.isoformat())
    handover.get_by_label("Heure").fill("10:30")
    handover.get_by_label("Modalité").select_option(label="Téléphone")
    check_a11y(page, "détail du signalement (conseiller)")
    with page.expect_navigation():
        handover.get_by_role("button", name="Passer le relais").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Relais passé à {ass}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rencontre proposée")
    expect(page.get_by_text("Consultation seule")).to_be_visible()
    screenshot(page, "conseiller_after_hand_over")
    _logout(page)

    # The ASS sees the proposed meeting on « Mon activité ».
    login(page, live_server, ass.username, PASSWORD)
    page.goto(live_server.url + reverse("cases:dashboard"))
    row = page.get_by_role("row", name=re.compile("Lemoine"))
    expect(row).to_contain_text(
        f"Premier rendez-vous proposé le {meeting_day:%d/%m/%Y} à 10:30 par {conseiller}"
    )
    check_a11y(page, "Mon activité (ASS) avec un rendez-vous proposé")

    referral = Signalement.objects.get(pk=referral.pk)
    assert (referral.assigned_to, referral.rdv_par, referral.statut) == (
        ass,
        conseiller,
        Statut.RENCONTRE_PROPOSEE,
    )
