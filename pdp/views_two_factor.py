"""The pages of the two-factor login (pdp.two_factor): verification after the password,
enrolment with a QR code, the recovery codes shown once, and the user's own status page."""

import io

import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from pdp import two_factor
from pdp.two_factor import otp_not_required


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


def _next(request):
    """The page to go on to: a safe `next`, else the user's home page."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _with_next(url, next_url):
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _pending_key(request, *, create=False):
    key = request.session.get(two_factor.PENDING_KEY_SESSION_KEY)
    if key is None and create:
        key = two_factor.new_key()
        request.session[two_factor.PENDING_KEY_SESSION_KEY] = key
    return key


def _must_verify_first(user):
    """Only a verified session may set up another app: else the password alone would do."""
    return not two_factor.verified(user) and two_factor.totp_device(user) is not None


@otp_not_required
def two_factor_verify(request):
    """The second step of the login: a code of the app, or a recovery code (used up). A wrong
    code is a failed login for axes; a locked account is signed out on the lockout page."""
    user = request.user
    next_url = _next(request)
    if two_factor.verified(user):
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    if two_factor.totp_device(user) is None:
        return redirect(_with_next(reverse("two_factor_enrol"), next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        credentials = {"username": user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            request.axes_locked_out = True  # AxesMiddleware answers with the lockout page
            return HttpResponse(status=429)
        if form.is_valid():
            device = two_factor.two_factor_check(user=user, token=form.cleaned_data["otp_token"])
            if device is not None:
                request.session.cycle_key()
                otp_login(request, device)
                if isinstance(device, StaticDevice):
                    left = two_factor.recovery_codes_left(user)
                    messages.warning(
                        request,
                        f"Code de secours utilisé\u00a0: il vous en reste {left}. "
                        "Régénérez-les depuis «\u00a0Double authentification\u00a0».",
                    )
                return redirect(next_url or settings.LOGIN_REDIRECT_URL)
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            if getattr(request, "axes_locked_out", False):
                logout(request)
                return HttpResponse(status=429)
            form.add_error(
                "otp_token",
                "Code incorrect ou expiré. Saisissez le code affiché par votre application, "
                "ou l'un de vos codes de secours.",
            )
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": next_url})


@otp_not_required
def two_factor_enrol(request):
    """Set up an authenticator app: the QR code and the secret of a key kept in the session,
    confirmed by a first code; then the recovery codes are shown once."""
    user = request.user
    next_url = _next(request)
    if _must_verify_first(user):
        return redirect(_with_next(reverse("two_factor_verify"), next_url))
    key = _pending_key(request, create=True)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        step = two_factor.matching_step(key, form.cleaned_data["otp_token"])
        if step is None:
            form.add_error(
                "otp_token",
                "Code incorrect\u00a0: saisissez les 6\u00a0chiffres affichés par "
                "l'application (vérifiez que l'heure du téléphone est juste).",
            )
        else:
            device, codes = two_factor.two_factor_enrol(
                user=user, key=key, last_step=step, acting_user=user
            )
            del request.session[two_factor.PENDING_KEY_SESSION_KEY]
            request.session.cycle_key()
            otp_login(request, device)
            request.session[two_factor.NEW_CODES_SESSION_KEY] = codes
            return redirect(_with_next(reverse("two_factor_codes"), next_url))
    return render(
        request,
        "registration/two_factor_enrol.html",
        {
            "form": form,
            "next": next_url,
            "secret": two_factor.key_grouped(key),
            "replacing": two_factor.totp_device(user) is not None,
        },
    )


@otp_not_required
@require_GET
def two_factor_qr(request):
    """The QR code of the enrolment under way, as SVG from this site (CSP 'self'), never kept
    by a cache. No enrolment under way → 404."""
    user = request.user
    key = _pending_key(request)
    if key is None or _must_verify_first(user):
        raise Http404("Aucune configuration en cours.")
    qr = segno.make(two_factor.config_url(user, key), error="m")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=5, border=2, title="QR code de configuration")
    response = HttpResponse(svg.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store, private"
    return response


@require_GET
def two_factor_codes(request):
    """The new recovery codes, shown once (taken out of the session)."""
    codes = request.session.pop(two_factor.NEW_CODES_SESSION_KEY, None)
    if not codes:
        return redirect("two_factor")
    return render(
        request,
        "registration/two_factor_codes.html",
        {"codes": codes, "next": _next(request) or resolve_url(settings.LOGIN_REDIRECT_URL)},
    )


@require_GET
def two_factor_status(request):
    """The signed-in user's second factor: their app, the recovery codes left."""
    user = request.user
    device = two_factor.totp_device(user)
    return render(
        request,
        "registration/two_factor_status.html",
        {
            "device": device,
            "codes_left": two_factor.recovery_codes_left(user) if device else 0,
            "otp_required": settings.OTP_REQUIRED,
        },
    )


@require_POST
def two_factor_recovery_codes(request):
    """Replace the recovery codes (the former ones stop working) and show the new ones."""
    user = request.user
    if two_factor.totp_device(user) is None:
        messages.error(request, "Activez d'abord la double authentification.")
        return redirect("two_factor")
    codes = two_factor.two_factor_recovery_codes_regenerate(user=user, acting_user=user)
    request.session[two_factor.NEW_CODES_SESSION_KEY] = codes
    return redirect(_with_next(reverse("two_factor_codes"), reverse("two_factor")))
