"""Two-factor login (issue 14, item 4): with OTP_REQUIRED, a signed-in user gives a code of their
authenticator app (or a recovery code) before any page; at their first login they enrol. Wrong
codes lock the account like wrong passwords (django-axes)."""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdp import two_factor
from pdp.models import AuditLog
from tests.factories import UserFactory
from tests.test_typography import page_text, problems

pytestmark = pytest.mark.django_db

PASSWORD = "motdepasse-test"
VERIFY = reverse("two_factor_verify")
ENROL = reverse("two_factor_enrol")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _otp_on(settings):
    settings.OTP_REQUIRED = True


def code_for(key, offset=0):
    """The app's code now (or `offset` steps later) for a hex secret."""
    totp = TOTP(bytes.fromhex(key), step=30, digits=6)
    totp.time = time.time() + offset * 30
    return f"{totp.token():06d}"


def password_login(client, user, next_url=None):
    url = reverse("login") + (f"?next={next_url}" if next_url else "")
    data = {"username": user.username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    response = client.post(url, data, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def enrolled(user):
    """A confirmed app and ten recovery codes, through the service; returns (key, codes)."""
    key = two_factor.new_key()
    _device, codes = two_factor.two_factor_enrol(user=user, key=key, last_step=0, acting_user=user)
    return key, codes


def verify(client, token):
    return client.post(VERIFY, {"otp_token": token}, REMOTE_ADDR="192.0.2.10")


def pending_key(client):
    return client.session[two_factor.PENDING_KEY_SESSION_KEY]


# --- Settings ------------------------------------------------------------------------------


def test_production_requires_the_second_factor_by_default():
    # The production settings, with no OTP_REQUIRED in the environment nor in a .env file.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(DJANGO_SETTINGS_MODULE="pdp.settings", ENV_FILE=os.devnull, SECRET_KEY="x" * 60)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import "
         "settings; print(settings.OTP_REQUIRED)"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_middleware_comes_after_the_authentication_and_login_ones():
    middleware = settings.MIDDLEWARE
    auth = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    otp = middleware.index("django_otp.middleware.OTPMiddleware")
    login = middleware.index("django.contrib.auth.middleware.LoginRequiredMiddleware")
    assert auth < otp < middleware.index("pdp.two_factor.TwoFactorMiddleware")
    assert login < middleware.index("pdp.two_factor.TwoFactorMiddleware")


def test_with_the_setting_off_nothing_is_asked(client, ass, settings):
    settings.OTP_REQUIRED = False
    enrolled(ass)
    password_login(client, ass)
    assert client.get(reverse("cases:dashboard")).status_code == 200


# --- Enrolment -----------------------------------------------------------------------------


def test_a_user_without_a_device_is_sent_to_the_enrolment_keeping_next(client, ass):
    target = reverse("cases:dashboard")
    response = password_login(client, ass, next_url=target)
    assert response.url == target
    response = client.get(target)
    assert response.status_code == 302
    assert urlsplit(response.url).path == ENROL
    assert parse_qs(urlsplit(response.url).query)["next"] == [target]


def test_the_enrolment_page_shows_the_qr_code_and_the_secret_in_groups(client, ass):
    password_login(client, ass)
    response = client.get(ENROL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Activer la double authentification" in page
    assert reverse("two_factor_qr") in page
    secret = two_factor.key_grouped(pending_key(client))
    assert secret in page
    assert all(len(group) == 4 for group in secret.split())
    assert not TOTPDevice.objects.filter(user=ass).exists()  # nothing saved yet
    qr = client.get(reverse("two_factor_qr"))
    assert qr.status_code == 200
    assert qr["Content-Type"] == "image/svg+xml"
    assert "no-store" in qr["Cache-Control"]
    assert b"<svg" in qr.content


def test_the_enrolment_confirms_only_with_a_valid_code(client, ass):
    password_login(client, ass)
    client.get(ENROL)
    key = pending_key(client)
    wrong = f"{(int(code_for(key)) + 1) % 1_000_000:06d}"
    response = client.post(ENROL, {"otp_token": wrong})
    assert response.status_code == 200
    assert "Code incorrect" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=ass).exists()
    assert client.get(reverse("cases:dashboard")).status_code == 302

    target = reverse("cases:dashboard")
    response = client.post(ENROL, {"otp_token": code_for(key), "next": target})
    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("two_factor_codes")
    device = TOTPDevice.objects.get(user=ass)
    assert device.confirmed and device.key == key
    assert StaticToken.objects.filter(device__user=ass).count() == 10
    row = AuditLog.objects.get(object_type="pdp.user", object_id=str(ass.pk))
    assert row.user == ass
    assert row.changes["two_factor"] == ["non activée", "activée"]
    assert key not in str(row.changes)

    # The codes are shown once, then the page leads on to `next`.
    page = client.get(response.url).content.decode()
    codes = list(StaticToken.objects.filter(device__user=ass).values_list("token", flat=True))
    assert all(code in page for code in codes)
    assert f'href="{target}"' in page
    assert client.get(reverse("two_factor_codes")).status_code == 302  # not twice
    # This session is verified.
    assert client.get(target).status_code == 200


def test_a_user_with_a_device_cannot_enrol_a_new_one_before_the_code(client, ass):
    # Otherwise the password alone would be enough to replace the app.
    key, _codes = enrolled(ass)
    password_login(client, ass)
    response = client.get(ENROL)
    assert response.status_code == 302
    assert urlsplit(response.url).path == VERIFY
    assert client.get(reverse("two_factor_qr")).status_code == 404
    assert TOTPDevice.objects.get(user=ass).key == key


def test_the_qr_code_is_not_for_anonymous_users(client):
    response = client.get(reverse("two_factor_qr"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_without_an_enrolment_under_way_there_is_no_qr_code(client, ass):
    password_login(client, ass)
    assert client.get(reverse("two_factor_qr")).status_code == 404


# --- Verification --------------------------------------------------------------------------


def test_an_unverified_user_is_sent_to_the_verification_from_a_staff_page(client, ass):
    enrolled(ass)
    password_login(client, ass)
    for url in (reverse("cases:dashboard"), reverse("password_change"), reverse("two_factor")):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.url).path == VERIFY
        assert parse_qs(urlsplit(response.url).query)["next"] == [url]


def test_the_admin_needs_the_second_factor_too(client, admin_user):
    enrolled(admin_user)
    password_login(client, admin_user)
    response = client.get(reverse("admin:pdp_user_changelist"))
    assert response.status_code == 302
    assert urlsplit(response.url).path == VERIFY


def test_the_right_code_opens_the_session_and_goes_to_next(client, ass):
    key, _codes = enrolled(ass)
    target = reverse("cases:dashboard")
    password_login(client, ass)
    page = client.get(f"{VERIFY}?next={target}").content.decode()
    assert "Code de connexion" in page
    response = client.post(VERIFY, {"otp_token": code_for(key), "next": target})
    assert response.status_code == 302
    assert response.url == target
    assert client.get(target).status_code == 200
    # The same code cannot be used again (another session).
    other = type(client)()
    password_login(other, ass)
    assert verify(other, code_for(key)).status_code == 200


def test_next_is_not_followed_off_site(client, ass):
    key, _codes = enrolled(ass)
    password_login(client, ass)
    response = client.post(VERIFY, {"otp_token": code_for(key), "next": "https://evil.example/"})
    assert response.url == reverse("home")


def test_a_recovery_code_works_once(client, ass):
    _key, codes = enrolled(ass)
    password_login(client, ass)
    response = verify(client, codes[0].upper())
    assert response.status_code == 302
    assert client.get(reverse("cases:dashboard")).status_code == 200
    assert StaticToken.objects.filter(device__user=ass).count() == 9
    client.logout()
    password_login(client, ass)
    response = verify(client, codes[0])
    assert response.status_code == 200
    assert "Code incorrect" in response.content.decode()
    assert client.get(reverse("cases:dashboard")).status_code == 302


def test_the_public_pages_of_the_assures_are_not_affected(client, ass):
    enrolled(ass)
    assert client.get(reverse("outreach:code_form")).status_code == 200  # anonymous
    password_login(client, ass)
    assert client.get(reverse("outreach:code_form")).status_code == 200  # not verified
    assert client.get(reverse("session_expired")).status_code == 302  # to the page, signed in


def test_the_keepalive_and_the_logout_work_before_the_code(client, ass):
    enrolled(ass)
    password_login(client, ass)
    assert client.post(reverse("session_keepalive")).status_code == 204
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("login")
    assert "_auth_user_id" not in client.session


def test_an_htmx_request_is_redirected_without_next(client, ass):
    enrolled(ass)
    password_login(client, ass)
    response = client.get(reverse("cases:dashboard"), HTTP_HX_REQUEST="true")
    assert response.status_code == 302
    assert response.url == VERIFY


# --- Lockout -------------------------------------------------------------------------------


def is_locked_out(response):
    return response.status_code == 429 and "Connexion bloquée" in response.content.decode()


def test_wrong_codes_lock_the_account_like_wrong_passwords(client, ass):
    key, _codes = enrolled(ass)
    password_login(client, ass)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = verify(client, "000000" if code_for(key) != "000000" else "111111")
        assert response.status_code == 200
        assert "Code incorrect" in response.content.decode()
    response = verify(client, "000000" if code_for(key) != "000000" else "111111")
    assert is_locked_out(response)
    assert "pendant 30\u00a0minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session  # signed out
    # The password is refused now, even the right one, from another address too.
    response = client.post(
        reverse("login"),
        {"username": ass.username, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.7",
    )
    assert is_locked_out(response)


def test_a_session_opened_before_the_lock_cannot_give_the_right_code(client, ass):
    key, _codes = enrolled(ass)
    early = type(client)()
    password_login(early, ass)
    password_login(client, ass)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        verify(client, "abcdef")
    assert is_locked_out(verify(early, code_for(key)))
    assert early.get(reverse("cases:dashboard")).status_code == 302


def test_the_code_is_not_written_with_the_failure(client, ass):
    from axes.models import AccessAttempt

    enrolled(ass)
    password_login(client, ass)
    verify(client, "123456")
    attempt = AccessAttempt.objects.get(username=ass.username)
    assert "123456" not in attempt.post_data


# --- Status page, recovery codes, administrator's reset --------------------------------------


def test_the_status_page_and_new_recovery_codes(client, ass):
    key, codes = enrolled(ass)
    password_login(client, ass)
    verify(client, code_for(key, offset=1))
    page = client.get(reverse("two_factor")).content.decode()
    assert "Activée" in page
    assert "Codes de secours restants&nbsp;: <strong>10</strong>" in page
    response = client.post(reverse("two_factor_recovery_codes"))
    assert urlsplit(response.url).path == reverse("two_factor_codes")
    new = set(StaticToken.objects.filter(device__user=ass).values_list("token", flat=True))
    assert len(new) == 10 and not new & set(codes)
    page = client.get(response.url).content.decode()
    assert all(code in page for code in new)
    row = AuditLog.objects.filter(object_type="pdp.user", object_id=str(ass.pk)).latest("pk")
    assert row.changes == {"recovery_codes": [10, 10]}


def test_the_status_page_without_a_device(client, ass, settings):
    settings.OTP_REQUIRED = False
    client.force_login(ass)
    page = client.get(reverse("two_factor")).content.decode()
    assert "Non activée" in page
    assert "n'est pas exigée sur ce serveur" in page
    response = client.post(reverse("two_factor_recovery_codes"))
    assert response.url == reverse("two_factor")
    assert not StaticToken.objects.exists()


def test_the_status_pages_need_a_login(client):
    for url in (reverse("two_factor"), ENROL, VERIFY, reverse("two_factor_codes")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_an_administrator_resets_a_lost_phone(client, admin_user, ass):
    key, _codes = enrolled(admin_user)
    enrolled(ass)
    password_login(client, admin_user)
    verify(client, code_for(key, offset=1))
    response = client.post(
        reverse("admin:pdp_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [ass.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=ass).exists()
    assert not StaticToken.objects.filter(device__user=ass).exists()
    row = AuditLog.objects.filter(object_type="pdp.user", object_id=str(ass.pk)).latest("pk")
    assert row.user == admin_user
    assert row.changes == {"two_factor": ["activée", "réinitialisée"]}
    # The next login of the user goes to the enrolment.
    other = type(client)()
    password_login(other, ass)
    assert urlsplit(other.get(reverse("cases:dashboard")).url).path == ENROL


def test_only_an_administrator_resets_someone_elses_second_factor(client, ass, manager):
    key, _codes = enrolled(manager)
    enrolled(ass)
    password_login(client, manager)
    verify(client, code_for(key, offset=1))
    response = client.post(
        reverse("admin:pdp_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [ass.pk]},
    )
    assert response.status_code == 302  # the admin's login page
    assert "/admin/login/" in response.url
    assert TOTPDevice.objects.filter(user=ass).exists()


def test_an_administrator_does_not_reset_a_superuser(client):
    administrator = UserFactory(admin=True, is_superuser=False)
    root = UserFactory(admin=True)
    enrolled(root)
    key, _codes = enrolled(administrator)
    password_login(client, administrator)
    verify(client, code_for(key, offset=1))
    client.post(
        reverse("admin:pdp_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [root.pk]},
    )
    assert TOTPDevice.objects.filter(user=root).exists()


# --- The pages themselves ----------------------------------------------------------------------


def test_before_the_code_the_menu_shows_no_section(client, ass):
    enrolled(ass)
    password_login(client, ass)
    page = client.get(VERIFY).content.decode()
    assert "Mon activité" not in page
    assert "Se déconnecter" in page


def test_the_pages_are_in_good_french(client, ass):
    key, _codes = enrolled(ass)
    password_login(client, ass)
    pages = {VERIFY: client.get(VERIFY)}
    bad = verify(client, "000000" if code_for(key) != "000000" else "111111")
    pages["code incorrect"] = bad
    verify(client, code_for(key, offset=1))
    pages[ENROL] = client.get(ENROL)  # a new phone, from a verified session
    pages["nouvelle application"] = client.post(ENROL, {"otp_token": "12"})
    pages[reverse("two_factor")] = client.get(reverse("two_factor"))
    response = client.post(reverse("two_factor_recovery_codes"))
    pages[reverse("two_factor_codes")] = client.get(response.url)
    report = []
    for name, response in pages.items():
        assert response.status_code == 200, name
        report += [f"{name} {p}" for p in problems(page_text(response.content.decode()))]
    assert not report, "\n".join(report)
