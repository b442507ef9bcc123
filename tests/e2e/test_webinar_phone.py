"""A person invited to a webinar registers from a phone, and after the session asks for an
individual meeting and lands on the booking slots (issue 11, item 3)."""

import datetime
import re

import pytest
from django.test import TestCase
from playwright.sync_api import expect

from collective.models import ActionStatus, ActionType, Participant
from outreach import webinars
from pdp.messaging import outbox
from referrals.models import Origine, Signalement, Statut
from tests.e2e.conftest import check_a11y, screenshot

# The booking fixtures (a unit, an ASS open on Tuesday mornings, a person, a referral).
from tests.outreach.conftest import *  # noqa: F403
from tests.outreach.conftest import PARIS
from tests.outreach.test_webinars import load_collective_reference_data

SESSION = datetime.datetime(2027, 3, 4, 14, 0, tzinfo=PARIS)  # the Thursday after NOW
CODE_RE = re.compile(r"/r/([0-9A-Z]{8})/")


def _birth_date(page):
    page.select_option("#id_jour", "12")
    page.select_option("#id_mois", "5")
    page.select_option("#id_annee", "1985")
    page.get_by_role("button", name="Continuer").click()


@pytest.mark.parametrize("width", [360, 1366])
def test_register_then_ask_for_an_individual_meeting_and_land_on_the_slots(
    browser, live_server, frozen, motifs, booking_ass, person, referral, width
):
    from tests.factories import ActionCollectiveFactory, SeanceFactory

    load_collective_reference_data()
    action = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"),
        titre="Cancer et travail",
        description="Une heure pour poser vos questions sur la reprise du travail.",
        animateur=booking_ass,
        statut=ActionStatus.PUBLIEE,
        capacite=30,
        lien_visio="https://visio.example.org/webinaire",
    )
    SeanceFactory(action=action, debut=SESSION, duree_minutes=90, lieu="")
    outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        webinars.webinar_invite(action=action, assure_ids=[person.pk], acting_user=booking_ass)
    (invitation,) = outbox
    code = CODE_RE.search(invitation.body).group(1)

    context = browser.new_context(viewport={"width": width, "height": 800}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/r/{code}/")
        assert code not in page.url
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Invitation du service social de l'Assurance Maladie"
        )
        check_a11y(page, f"date de naissance ({width} px)")
        _birth_date(page)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Webinaire du service social de l'Assurance Maladie"
        )
        expect(page.get_by_text("Jeudi 4 mars 2027 à 14\u00a0h")).to_be_visible()
        assert "Cancer" not in page.content()
        check_a11y(page, f"webinaire ({width} px)")
        screenshot(page, f"webinar_invitation_{width}")
        page.get_by_role("button", name="Je m'inscris").click()
        expect(page.get_by_role("heading", name="Vous êtes inscrit·e")).to_be_visible()
        expect(
            page.get_by_text("Le lien de connexion vous sera envoyé la veille et une heure avant.")
        ).to_be_visible()
        check_a11y(page, f"inscrit ({width} px)")
        screenshot(page, f"webinar_registered_{width}")
        assert Participant.objects.get(assure=person).statut.code == "inscrit"

        # The referral was closed meanwhile; time travel past the session: the « merci ».
        Signalement.objects.filter(pk=referral.pk).update(statut=Statut.SANS_REPONSE)
        frozen.move_to(SESSION + datetime.timedelta(hours=2))
        outbox.clear()
        with TestCase.captureOnCommitCallbacks(execute=True):
            webinars.webinar_messages_send()
        (merci,) = outbox
        page.goto(f"{live_server.url}/r/{CODE_RE.search(merci.body).group(1)}/")
        _birth_date(page)
        ask = page.get_by_role(
            "button", name="Je souhaite un rendez-vous individuel avec le service social"
        )
        check_a11y(page, f"après le webinaire ({width} px)")
        screenshot(page, f"webinar_after_{width}")
        ask.click()
        expect(page.get_by_role("heading", name="Votre demande est transmise")).to_be_visible()
        check_a11y(page, f"demande transmise ({width} px)")
        screenshot(page, f"webinar_requested_{width}")
        new = Signalement.objects.get(assure=person, origine=Origine.WEBINAIRE)
        assert new.unit == booking_ass.unit and new.statut == Statut.NOUVEAU

        page.get_by_role("link", name="Choisir mon rendez-vous").click()
        page.get_by_role("link", name="Consultation sociale sur site").click()
        expect(page.get_by_role("heading", name="Choisissez un créneau")).to_be_visible()
        page.get_by_role("link", name="Semaine suivante").click()  # it is Thursday afternoon
        expect(page.get_by_role("link", name=re.compile("09:00")).first).to_be_visible()
        check_a11y(page, f"créneaux ({width} px)")
        screenshot(page, f"webinar_slots_{width}")
    finally:
        context.close()
