from django.urls import NoReverseMatch, reverse

from pdp.models import Role

# (label, url name, roles allowed; None = every signed-in user). Only sections that exist
# (the url name resolves) are shown, so a feature appears in the menu when it lands.
NAV_ITEMS = [
    ("Mon activité", "cases:dashboard", {Role.ASS, Role.CONSEILLER, Role.MANAGER}),
    ("Signalements", "referrals:inbox", {Role.ASS, Role.CONSEILLER, Role.MANAGER}),
    ("Service médical", "referrals:medical_list", {Role.MEDECIN}),
    ("Rechercher", "cases:search", {Role.ASS, Role.CONSEILLER, Role.MANAGER, Role.MEDECIN}),
    ("Agenda", "cases:agenda", {Role.ASS, Role.CONSEILLER, Role.MANAGER}),
    ("Imports CPAM", "referrals:import_list", {Role.MANAGER, Role.CONSEILLER}),
    ("Administration", "admin:index", {Role.ADMIN}),
]


def nav_items_for(user):
    if not user.is_authenticated:
        return []
    items = []
    for label, url_name, roles in NAV_ITEMS:
        allowed = user.role in roles or (url_name == "admin:index" and user.is_superuser)
        if not allowed:
            continue
        try:
            items.append({"label": label, "url": reverse(url_name)})
        except NoReverseMatch:
            continue
    return items


def navigation(request):
    return {"nav_items": nav_items_for(request.user)}
