"""The platform in a real browser: the Django admin's scripts run under the
Content-Security-Policy (a blocked script or style is a console error, which fails the test),
a brute-forced login ends on the French lockout page, and the error pages are accessible."""

from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import UnitFactory, UnitTerritoryFactory, UserFactory

PASSWORD = "motdepasse-test"


def _forget_expected_status(page, status):
    """Chromium logs a page answered with an error status as a console error: forget the ones
    these tests ask for, any other console error still fails them."""
    mark = f"the server responded with a status of {status} "
    page.console_errors[:] = [e for e in page.console_errors if mark not in e]


def test_the_admin_works_under_the_content_security_policy(page, live_server):
    unit = UnitFactory(name="Unité de Rouen")
    UnitTerritoryFactory(unit=unit, prefix="76")
    UserFactory(admin=True, username="exploitation")

    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "exploitation")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(live_server.url + reverse("admin:pdp_unit_change", args=[unit.pk]))
    rows = page.locator(".inline-related.dynamic-territories, tr.dynamic-territories")
    before = rows.count()
    # « Ajouter un objet … supplémentaire » is built and handled by the admin's inlines.js.
    page.locator(".add-row a").first.click()
    expect(rows).to_have_count(before + 1)
    screenshot(page, "platform_01_admin_unit")


def test_a_brute_forced_login_ends_on_the_french_lockout_page(page, live_server):
    UserFactory(ass=True, username="agnes")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(page, live_server, "agnes", "pas-le-bon-mot")
    login(page, live_server, "agnes", PASSWORD)
    _forget_expected_status(page, 429)
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion bloquée")
    expect(page.get_by_role("alert")).to_contain_text("Trop de tentatives de connexion")
    check_a11y(page, "connexion bloquée")
    screenshot(page, "platform_02_locked_out")
    with page.expect_navigation():
        page.get_by_role("link", name="Retour à la page de connexion").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")


def test_an_unknown_page_is_a_french_page_with_a_way_home(page, live_server):
    UserFactory(ass=True, username="agnes")
    login(page, live_server, "agnes", PASSWORD)
    page.goto(live_server.url + "/pas-de-page-ici/")
    _forget_expected_status(page, 404)
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    check_a11y(page, "page introuvable")
    with page.expect_navigation():
        page.get_by_role("link", name="Retour à l'accueil").click()
    # Home is the role's working page: « Mon activité » for an ASS.
    assert page.url == live_server.url + reverse("cases:dashboard")
