"""A person books, cancels and books again from a phone, without an account (issue 10)."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pdp.messaging import outbox
from referrals.models import Signalement
from tests.e2e.conftest import CHROMIUM_ARGS, check_a11y, screenshot  # noqa: F401

# The booking fixtures (a unit, an ASS open on Tuesday mornings, a person, a referral).
from tests.outreach.conftest import *  # noqa: F403

PHONE = {"width": 390, "height": 844}


def _book(page, base, code, next_week=False):
    page.goto(f"{base}/r/{code}/")
    assert code not in page.url
    page.select_option("#id_jour", "12")
    page.select_option("#id_mois", "5")
    page.select_option("#id_annee", "1985")
    page.get_by_role("button", name="Continuer").click()
    page.get_by_role("link", name="Consultation sociale sur site").click()
    check_a11y(page, "créneaux")
    if next_week:
        page.get_by_role("link", name="Semaine suivante").click()
    page.get_by_role("link", name=re.compile("09:00")).first.click()
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", name="Votre rendez-vous est confirmé")).to_be_visible()
    check_a11y(page, "confirmation")


def _manage_code(sms):
    return re.search(r"/r/([0-9A-Z]{8})/", sms.body).group(1)


def _birth_date(page):
    page.select_option("#id_jour", "12")
    page.select_option("#id_mois", "5")
    page.select_option("#id_annee", "1985")
    page.get_by_role("button", name="Continuer").click()


def test_book_move_cancel_and_book_again_on_a_phone(
    browser, live_server, issue_booking_code, referral, django_capture_on_commit_callbacks
):
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    try:
        _row, code = issue_booking_code(referral)
        # Next week's Tuesday: far enough ahead to be moved online (48 hours).
        _book(page, live_server.url, code, next_week=True)
        referral.refresh_from_db()
        assert timezone.localtime(referral.rdv_debut).hour == 9
        (confirmation,) = outbox

        # Move it to 10:00 with the link of the confirmation SMS.
        page.goto(f"{live_server.url}/r/{_manage_code(confirmation)}/")
        _birth_date(page)
        check_a11y(page, "gérer")
        page.get_by_role("link", name="Déplacer le rendez-vous").click()
        page.get_by_role("link", name="Semaine suivante").click()
        page.get_by_role("link", name=re.compile("10:00")).first.click()
        expect(page.get_by_text("sera déplacé au")).to_be_visible()
        page.get_by_role("button", name="Confirmer le rendez-vous").click()
        expect(page.get_by_role("heading", name="Votre rendez-vous est déplacé")).to_be_visible()
        check_a11y(page, "déplacé")
        assert timezone.localtime(Signalement.objects.get(pk=referral.pk).rdv_debut).hour == 10
        moved = outbox[-1]
        assert "déplacé" in moved.body and _manage_code(moved) != _manage_code(confirmation)

        # The first link is dead; the new one cancels.
        page.goto(f"{live_server.url}/r/{_manage_code(confirmation)}/")
        expect(page.get_by_role("heading", level=1)).not_to_have_text(re.compile("rendez-vous"))
        page.goto(f"{live_server.url}/r/{_manage_code(moved)}/")
        _birth_date(page)
        page.fill("#id_reason", "Empêchement")
        page.get_by_role("button", name="Annuler le rendez-vous").click()
        expect(page.get_by_role("heading", name="Votre rendez-vous est annulé")).to_be_visible()
        check_a11y(page, "annulé")
        screenshot(page, "booking_cancelled_phone")
        assert Signalement.objects.get(pk=referral.pk).rdv_debut is None
        assert "annulé" in outbox[-1].body

        # And book again at once from the cancelled page.
        page.get_by_role("link", name="Prendre un autre rendez-vous").click()
        page.get_by_role("link", name="Consultation sociale sur site").click()
        page.get_by_role("link", name=re.compile("09:00")).first.click()
        page.get_by_role("button", name="Confirmer le rendez-vous").click()
        expect(page.get_by_role("heading", name="Votre rendez-vous est confirmé")).to_be_visible()
        assert Signalement.objects.get(pk=referral.pk).rdv_debut is not None
    finally:
        context.close()


def _identify(page, base, code):
    page.goto(f"{base}/r/{code}/")
    page.select_option("#id_jour", "12")
    page.select_option("#id_mois", "5")
    page.select_option("#id_annee", "1985")
    page.get_by_role("button", name="Continuer").click()


@pytest.mark.parametrize("width", [360, 1366])
def test_the_public_pages_pass_axe_on_a_phone_and_a_desktop(
    browser, live_server, issue_booking_code, referral, width
):
    """Every page an assuré sees, from the code to the confirmation, at 360 and 1366 px."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/r/")
        check_a11y(page, f"saisir le code ({width} px)")
        page.goto(f"{live_server.url}/r/ZZZZZZZZ/")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check_a11y(page, f"code non valable ({width} px)")
        _row, code = issue_booking_code(referral)
        page.goto(f"{live_server.url}/r/{code}/")
        check_a11y(page, f"date de naissance ({width} px)")
        _identify(page, live_server.url, code)
        check_a11y(page, f"type de rendez-vous ({width} px)")
        page.get_by_role("link", name="Consultation sociale sur site").click()
        check_a11y(page, f"créneaux ({width} px)")
        page.get_by_role("link", name=re.compile("09:00")).first.click()
        check_a11y(page, f"confirmer ({width} px)")
        page.get_by_role("button", name="Confirmer le rendez-vous").click()
        expect(page.get_by_role("heading", name="Votre rendez-vous est confirmé")).to_be_visible()
        check_a11y(page, f"confirmation ({width} px)")
        screenshot(page, f"booking_confirmation_{width}")
    finally:
        context.close()
