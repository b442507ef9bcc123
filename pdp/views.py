from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from pdp import session_idle
from pdp.accounts import user_password_change
from pdp.admin_base import is_administrator
from pdp.models import Role
from pdp.two_factor import otp_not_required


def home(request):
    """Each role's working page: no list of links repeating the menu."""
    user = request.user
    if user.is_unit_member:
        return redirect("cases:dashboard")
    if user.role == Role.MEDECIN:
        return redirect("referrals:medical_list")
    if is_administrator(user):
        return redirect("admin:index")
    if not user.is_admin and user.role == Role.COORDINATEUR:
        return redirect("coordination:home")
    if not user.is_admin and user.role == Role.PARTENAIRE:
        return redirect("coordination:mes_reunions")
    if not user.is_admin and user.role == Role.REGIONAL and user.region_id:
        # Regional managers validate collective actions (issue 11); their indicators come later.
        return redirect("collective:validation_queue")
    return render(request, "pdp/home.html")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's page (old password, validators), the change through the audited service."""

    def form_valid(self, form):
        user_password_change(
            user=form.user,
            new_password=form.cleaned_data["new_password1"],
            acting_user=self.request.user,
        )
        # Keep this session signed in; the user's other sessions end with the old hash.
        update_session_auth_hash(self.request, form.user)
        return redirect(self.get_success_url())


@otp_not_required
@require_POST
def session_keepalive(request):
    """« Rester connecté »: this request (signed-in, CSRF-checked) notes activity, the session
    ends SESSION_IDLE_MINUTES later. Anonymous or already idle too long: the login middleware
    redirects to the login page."""
    session_idle.touch(request.session)
    return HttpResponse(status=204)


@login_not_required
@otp_not_required
@require_GET
def session_expired(request):
    """Where session-timeout.js sends the browser when the idle time is up: the login page with
    « Votre session a expiré… ». If another tab kept the session alive, back to the page."""
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    if request.user.is_authenticated:
        return redirect(target or "home")
    logout(request)
    messages.info(
        request,
        f"Votre session a expiré après {settings.SESSION_IDLE_MINUTES} minutes d'inactivité.",
    )
    login_url = reverse("login")
    if target:
        login_url += "?" + urlencode({"next": target})
    return redirect(login_url)
