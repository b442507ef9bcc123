from django.shortcuts import redirect, render

from pdp.admin_base import is_administrator
from pdp.models import Role


def home(request):
    """Each role's working page: no list of links repeating the menu (issue 8, item 22)."""
    user = request.user
    if user.is_unit_member:
        return redirect("cases:dashboard")
    if user.role == Role.MEDECIN:
        return redirect("referrals:medical_list")
    if is_administrator(user):
        return redirect("admin:index")
    return render(request, "pdp/home.html")
