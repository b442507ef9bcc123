"""The menu holds on one line at 1366 × 768, the user menu inside the screen, for the role with
the longest menu and a long name (issue 8, item 22); the user's name opens a menu with the
password and the logout."""

import datetime

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

PASSWORD = "motdepasse-test"


def _one_line(page):
    """The navbar's height and whether its links, the brand and the user menu share a line."""
    return page.evaluate(
        """() => {
            const nav = document.querySelector("header .navbar");
            const items = [...nav.querySelectorAll(".navbar-brand, .nav-link, #user-menu")];
            const tops = items.map(e => Math.round(e.getBoundingClientRect().top));
            const bottoms = items.map(e => Math.round(e.getBoundingClientRect().bottom));
            return {
                height: nav.getBoundingClientRect().height,
                spread: Math.max(...tops) - Math.min(...tops),
                overlap: Math.min(...bottoms) > Math.max(...tops),
                count: items.length,
                right: Math.max(...items.map(e => e.getBoundingClientRect().right)),
                width: window.innerWidth,
            };
        }"""
    )


@pytest.mark.parametrize("role", ["manager", "conseiller", "ass"])
def test_the_menu_does_not_wrap_at_1366_pixels(page, live_server, role):
    unit = UnitFactory(name="Unité de Saint-Étienne-du-Rouvray")
    user = UserFactory(
        **{role: True},
        unit=unit,
        username="long",
        first_name="Marie-Christine",
        last_name="de La Tour-Maubourg",
    )
    login(page, live_server, user.username, PASSWORD)
    assert page.viewport_size == {"width": 1366, "height": 768}
    line = _one_line(page)
    assert line["count"] >= 5
    assert line["spread"] <= 12 and line["overlap"], line
    assert line["height"] <= 64, line  # one line of Bootstrap's navbar: 56 px
    assert line["right"] <= line["width"], line  # the user menu is not pushed off the screen
    screenshot(page, f"navbar_1366_{role}")


def test_the_user_menu_gives_the_role_the_password_and_the_logout(page, live_server):
    user = UserFactory(ass=True, username="camille", first_name="Camille", last_name="Durand")
    login(page, live_server, user.username, PASSWORD)
    menu = page.locator("#user-menu")
    expect(menu).to_contain_text("Camille Durand")
    expect(page.get_by_role("link", name="Changer le mot de passe")).to_be_hidden()
    menu.click()
    expect(page.get_by_text("Assistant(e) de service social")).to_be_visible()
    expect(page.get_by_role("link", name="Changer le mot de passe")).to_be_visible()
    check_a11y(page, "menu de l'utilisateur ouvert")
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_have_count(0)


def test_the_managers_home_is_the_units_activity_in_tabs(page, live_server):
    unit = UnitFactory(name="Unité de Rouen")
    manager = UserFactory(
        manager=True, unit=unit, username="sophie", first_name="Sophie", last_name="Martin"
    )
    workers = [
        UserFactory(ass=True, unit=unit, first_name=f"Prénom{i}", last_name=f"Nom{i}")
        for i in range(4)
    ]
    today = datetime.date.today()
    for i in range(40):
        worker = workers[i % 4]
        case = AccompagnementFactory(referent=worker)
        ArretFactory(assure=case.assure, date_debut=today - datetime.timedelta(days=90 + i))
        SignalementFactory(unit=unit, assigned_to=worker if i % 3 else None)
    login(page, live_server, manager.username, PASSWORD)  # the home page redirects
    expect(page.get_by_role("heading", level=1)).to_have_text("Activité de l'unité")
    tabs = page.get_by_role("navigation", name="Rubriques de l'activité de l'unité")
    expect(tabs.get_by_role("link")).to_have_count(5)
    expect(tabs.locator("[aria-current=page]")).to_have_text("Équipe")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 1400, height  # one tab, not a 4,000-pixel page
    screenshot(page, "home_manager_1366")
    check_a11y(page, "activité de l'unité, onglet Équipe")
    with page.expect_navigation():
        tabs.get_by_role("link", name="Accompagnements").click()
    expect(tabs.locator("[aria-current=page]")).to_have_text("Accompagnements")
    screenshot(page, "dashboard_manager_accompagnements_1366")
