from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render

from pdp.accounts import user_password_change
from pdp.admin_base import is_administrator
from pdp.models import Role


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
