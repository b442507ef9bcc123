from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render

from pdp.accounts import user_password_change
from pdp.context_processors import nav_items_for


def home(request):
    return render(request, "pdp/home.html", {"sections": nav_items_for(request.user)})


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
