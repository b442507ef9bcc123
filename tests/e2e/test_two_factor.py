"""Two-factor login in a browser (issue 14, item 7): a user enrols in two-factor login, logs out
and logs in with a code. The code is computed here from the secret the page shows, as an
authenticator app would."""

import base64
import re
import time

from django_otp.oath import TOTP
from playwright.sync_api import expect

from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import UserFactory

PASSWORD = "motdepasse-test"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def secret_bytes(grouped):
    """The key typed in an app: base32 in groups of four (no padding, 20 bytes)."""
    text = "".join(grouped.split())
    assert set(text) <= set(BASE32)
    return base64.b32decode(text)


def code(key, offset=0):
    totp = TOTP(key, step=30, digits=6)
    totp.time = time.time() + offset * 30
    return f"{totp.token():06d}"


def test_a_user_enrols_logs_out_and_logs_in_with_a_code(page, live_server, settings):
    settings.OTP_REQUIRED = True
    user = UserFactory(ass=True, username="camille")

    login(page, live_server, user.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/deux-facteurs/activer/"))
    expect(page.get_by_role("heading", name="Activer la double authentification")).to_be_visible()
    qr = page.get_by_role("img", name="QR code à scanner avec l'application d'authentification")
    expect(qr).to_be_visible()
    # The SVG of its own view loaded (CSP 'self').
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    check_a11y(page, "activation de la double authentification")
    screenshot(page, "two_factor_enrol")

    key = secret_bytes(page.locator("#two-factor-secret").inner_text())
    page.get_by_label("Code").fill("000000" if code(key) != "000000" else "111111")
    page.get_by_role("button", name="Activer").click()
    expect(page.locator(".invalid-feedback")).to_contain_text("Code incorrect")
    page.get_by_label("Code").fill(code(key))
    page.get_by_role("button", name="Activer").click()

    expect(page.get_by_role("heading", name="Codes de secours")).to_be_visible()
    codes = page.get_by_role("list", name="Codes de secours").get_by_role("listitem")
    expect(codes).to_have_count(10)
    check_a11y(page, "codes de secours")
    screenshot(page, "two_factor_recovery_codes")
    page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
    expect(page).to_have_url(re.compile(r"/activite/$"))  # the ASS's home page

    page.get_by_role("button", name=str(user)).click()
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    login(page, live_server, user.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/deux-facteurs/verifier/"))
    expect(page.get_by_role("heading", name="Code de connexion")).to_be_visible()
    check_a11y(page, "code de connexion")
    screenshot(page, "two_factor_verify")
    # The code of the enrolment cannot serve twice: the app's next one (30 s on) is accepted.
    page.get_by_label("Code").fill(code(key, offset=1))
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(re.compile(r"/activite/$"))
    screenshot(page, "two_factor_home_after_code")

    page.goto(live_server.url + "/accounts/deux-facteurs/")
    expect(page.get_by_text("Activée")).to_be_visible()
    expect(page.get_by_text("Codes de secours restants")).to_contain_text("10")
    screenshot(page, "two_factor_status")
