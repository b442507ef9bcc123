"""A person answers a campaign SMS from a phone, without an account (issue 12): one books a
first meeting, another declines the invitation."""

import re

import pytest
from playwright.sync_api import expect

from outreach.models import Cible
from pdp.models import UnitTerritory
from referrals.models import Origine, Signalement
from tests.e2e.conftest import check_a11y, screenshot
from tests.factories import UserFactory

# The booking fixtures (a unit, an ASS open on Tuesday mornings, a person).
from tests.outreach.conftest import *  # noqa: F403
from tests.outreach.test_campaign_answers import invite, running_campaign

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def ready(frozen, motifs, booking_ass, unit):
    UnitTerritory.objects.create(unit=unit, prefix="76")
    return booking_ass


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


def _open(page, base, code):
    page.goto(f"{base}/r/{code}/")
    assert code not in page.url
    page.select_option("#id_jour", "12")
    page.select_option("#id_mois", "5")
    page.select_option("#id_annee", "1985")
    page.get_by_role("button", name="Continuer").click()
    page.get_by_role("link", name="Consultation sociale sur site").click()


def test_a_person_books_from_the_campaign_sms(browser, live_server, ready, manager, person):
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    try:
        cible, _row, code = invite(running_campaign(manager), person)
        _open(page, live_server.url, code)
        page.get_by_role("link", name=re.compile("09:00")).first.click()
        page.get_by_role("button", name="Confirmer le rendez-vous").click()
        expect(page.get_by_role("heading", name="Votre rendez-vous est confirmé")).to_be_visible()
        referral = Signalement.objects.get(assure=person)
        assert referral.origine == Origine.CAMPAGNE and referral.rdv_ass == ready
        assert Cible.objects.get(pk=cible.pk).rdv_pris_le is not None
    finally:
        context.close()


def test_a_person_declines_the_campaign_invitation(browser, live_server, ready, manager, person):
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    try:
        cible, _row, code = invite(running_campaign(manager), person)
        _open(page, live_server.url, code)
        check_a11y(page, "créneaux d'une campagne")
        screenshot(page, "campaign_slots_phone")
        page.get_by_role(
            "link", name="Je ne souhaite pas être recontacté(e) pour cet accompagnement"
        ).click()
        check_a11y(page, "confirmer le refus")
        screenshot(page, "campaign_refuse_phone")
        page.get_by_role("button", name=re.compile("Je confirme")).click()
        expect(page.get_by_role("heading", name=re.compile("C'est noté"))).to_be_visible()
        expect(page.get_by_text("02 35 00 00 00")).to_be_visible()
        check_a11y(page, "refus enregistré")
        screenshot(page, "campaign_refused_phone")
        assert Cible.objects.get(pk=cible.pk).refus_le is not None
        assert not Signalement.objects.filter(assure=person).exists()
    finally:
        context.close()
