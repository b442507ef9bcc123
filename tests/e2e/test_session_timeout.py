"""The inactivity warning (issue 14, item 4) in a browser, with a session of a few seconds:
the dialog appears with « Rester connecté » focused, the button keeps the session, and when
the time is up the browser lands on the login page saying why."""

from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import UserFactory

PASSWORD = "motdepasse-test"


def test_the_warning_the_keepalive_and_the_expiry(page, live_server, settings):
    settings.SESSION_IDLE_MINUTES = 0.15  # 9 seconds; the warning (5 minutes) starts at once
    user = UserFactory(ass=True, username="camille")
    login(page, live_server, user.username, PASSWORD)
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Votre session va expirer dans 5 minutes faute d'activité.")
    button = dialog.get_by_role("button", name="Rester connecté")
    expect(button).to_be_focused()
    with page.expect_response(lambda r: r.url.endswith("/session/prolonger/")) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 204
    page.wait_for_url("**/accounts/login/**", timeout=15_000)
    expect(page.get_by_role("alert")).to_contain_text("Votre session a expiré après")
    assert page.locator("#session-timeout").count() == 0
