"""Two-factor login (issue 14, item 4): after the password, a code of an authenticator app.

django-otp keeps the devices (`TOTPDevice`: the app's shared secret; `StaticDevice`: the
single-use recovery codes) and, in the session, the device that verified it
(`OTPMiddleware`, `request.user.is_verified()`). The rules are here:

- With `OTP_REQUIRED` every signed-in account gives its second factor: every role can see
  personal data (the unit roles, the médecin conseil, the regional managers and the
  coordinators cases or submitted situations, the partner members the situations of their
  cellule, the administrator the users and the access log). `TwoFactorMiddleware` sends a user
  whose session is not verified to the verification page (a confirmed device) or to the
  enrolment page (none yet), `next` kept; exempt are the public pages of the assurés
  (`login_not_required`, the admin's login aside) and the pages marked `otp_not_required`
  (verification, enrolment, logout, session keep-alive and expiry).
- The enrolment keeps a new secret in the session, not in the database, until the user has
  typed a first valid code; the device is then saved confirmed with ten recovery codes, shown
  once.
- A wrong code is a failed login for django-axes (`user_login_failed`): the account and the
  address lock with the passwords' limit and cool-off, and the lockout page is the same.
- Every change goes through a service below, with an audit row on the user (never a secret).
"""

import secrets
import time
from base64 import b32encode
from binascii import unhexlify

from django.conf import settings
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdp.audit import audit
from pdp.models import AuditLog

RECOVERY_CODE_COUNT = 10
DEVICE_NAME = "Application d'authentification"
RECOVERY_DEVICE_NAME = "Codes de secours"
# The secret of an enrolment under way, and the recovery codes to show once.
PENDING_KEY_SESSION_KEY = "_two_factor_pending_key"
NEW_CODES_SESSION_KEY = "_two_factor_new_codes"
# TOTP as every authenticator app reads it from the QR code: 6 digits, 30 s, SHA-1.
STEP = 30
DIGITS = 6
TOLERANCE = 1  # one step either side: the phone's clock may be a few seconds off


def otp_not_required(view):
    """Mark a view that a signed-in user reaches before giving their second factor."""
    view.otp_required = False
    return view


def required(user):
    return settings.OTP_REQUIRED and user.is_authenticated


def verified(user):
    """Whether this request's session gave its second factor (OTPMiddleware's mark; a request
    that did not go through the middleware, e.g. RequestFactory, has none)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def totp_device(user):
    """The user's confirmed TOTP device, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# --- The enrolment's secret ------------------------------------------------------------------


def new_key():
    """A fresh secret (20 random bytes, as hex like django-otp stores it)."""
    return secrets.token_hex(20)


def key_base32(key):
    return b32encode(unhexlify(key)).decode()


def key_grouped(key):
    """The secret as people type it in an app: base32 in groups of four."""
    text = key_base32(key)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def config_url(user, key):
    """The otpauth:// address the QR code holds (django-otp's, for a device not saved yet)."""
    return TOTPDevice(user=user, key=key, step=STEP, digits=DIGITS).config_url


def matching_step(key, token):
    """The time step of `token` for `key` if it is a valid code now, else None."""
    token = "".join(str(token).split())
    if not (token.isdigit() and len(token) == DIGITS):
        return None
    totp = TOTP(unhexlify(key), step=STEP, digits=DIGITS)
    totp.time = time.time()
    if not totp.verify(int(token), tolerance=TOLERANCE):
        return None
    return totp.t()  # the matched step (drift included)


def _new_recovery_codes(user):
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


# --- Services ------------------------------------------------------------------------------


@transaction.atomic
def two_factor_enrol(*, user, key, last_step, acting_user):
    """Save `user`'s authenticator app (secret `key`, confirmed by the code of `last_step`,
    which cannot be used again), replacing any former one, and ten new recovery codes.
    Returns (device, codes)."""
    had_device = devices_for_user(user, confirmed=None)
    had_device = next(had_device, None) is not None
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(
        user=user,
        name=DEVICE_NAME,
        key=key,
        step=STEP,
        digits=DIGITS,
        tolerance=TOLERANCE,
        last_t=last_step,
        confirmed=True,
    )
    codes = _new_recovery_codes(user)
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=user,
        changes={
            "two_factor": ["remplacée" if had_device else "non activée", "activée"],
            "recovery_codes": [None, RECOVERY_CODE_COUNT],
        },
    )
    return device, codes


@transaction.atomic
def two_factor_recovery_codes_regenerate(*, user, acting_user):
    """Replace `user`'s recovery codes with ten new ones (the former ones stop working)."""
    before = recovery_codes_left(user)
    codes = _new_recovery_codes(user)
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=user,
        changes={"recovery_codes": [before, RECOVERY_CODE_COUNT]},
    )
    return codes


@transaction.atomic
def two_factor_reset(*, user, acting_user):
    """An administrator removes `user`'s second factor (a lost phone): their app and recovery
    codes stop working, their sessions must enrol again. Returns whether there was one."""
    had = (
        TOTPDevice.objects.filter(user=user).exists()
        or StaticDevice.objects.filter(user=user).exists()
    )
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=user,
        changes={"two_factor": ["activée" if had else "non activée", "réinitialisée"]},
    )
    return had


def two_factor_check(*, user, token):
    """The device of `user` that accepts `token` (a code of the app, or a recovery code, which
    is then used up), or None. django-otp locks the device's row while it checks."""
    token = "".join(str(token).split()).lower()
    if not token:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, for_verify=True):
            if device.verify_token(token):
                return device
    return None


# --- The middleware --------------------------------------------------------------------------


class TwoFactorMiddleware:
    """Below LoginRequiredMiddleware: with OTP_REQUIRED, a signed-in user whose session has not
    given its second factor reaches only the exempt views; any other page redirects to the
    verification page, or to the enrolment page when the user has no device yet, with `next`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not required(user) or verified(user):
            return None
        if not getattr(view_func, "otp_required", True):
            return None
        admin_site = getattr(view_func, "admin_site", None)
        if not getattr(view_func, "login_required", True) and admin_site is None:
            return None  # a public page of the assurés
        target = "two_factor_verify" if totp_device(user) else "two_factor_enrol"
        url = reverse(target)
        if request.method == "GET" and not request.htmx:
            url += "?" + urlencode({"next": request.get_full_path()})
        return redirect(url)
