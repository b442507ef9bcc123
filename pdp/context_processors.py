from django.conf import settings
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from pdp import session_idle, two_factor
from pdp.models import Role

# Shown to the roles of other sections when the user is a current member of a cellule PDP.
MEMBERS = "membres d'instance"

# (label, url name, roles allowed; None = every signed-in user; MEMBERS = every role but the
# administrator, when the user is a current member of an instance). Only sections that exist
# (the url name resolves) are shown, so a feature appears in the menu when it lands.
NAV_ITEMS = [
    ("Mon activité", "cases:dashboard", {Role.ASS, Role.CONSEILLER, Role.MANAGER}),
    ("Signalements", "referrals:inbox", {Role.ASS, Role.CONSEILLER, Role.MANAGER}),
    ("Service médical", "referrals:medical_list", {Role.MEDECIN}),
    ("Rechercher", "cases:search", {Role.ASS, Role.CONSEILLER, Role.MANAGER, Role.MEDECIN}),
    ("Agenda", "cases:agenda", {Role.ASS, Role.CONSEILLER, Role.MANAGER}),
    # The call lists of the running campaigns (issue 12); managers reach theirs from the
    # campaign page.
    ("Appels de campagne", "outreach:calls", {Role.CONSEILLER}),
    ("Imports CPAM", "referrals:import_list", {Role.MANAGER, Role.CONSEILLER}),
    ("Cellule PDP", "coordination:home", {Role.COORDINATEUR}),
    ("Mes réunions", "coordination:mes_reunions", {Role.PARTENAIRE}),
    ("Mes actions", "coordination:mes_actions", {Role.COORDINATEUR, Role.PARTENAIRE}),
    # One short label: the unit roles' menu holds on one line at 1366 px (issue 8, item 22).
    # ASS and managers land on their situations presented (that page links their meetings).
    ("Cellule PDP", "coordination:saisine_list_unit", {Role.ASS, Role.MANAGER}),
    ("Cellule PDP", "coordination:mes_reunions", MEMBERS),
    # The region's collective actions; with the surveys, the regional manager's sections
    # (their home is the validation queue).
    (
        "Actions collectives",
        "collective:action_list",
        {Role.ASS, Role.CONSEILLER, Role.MANAGER, Role.REGIONAL},
    ),
    ("Enquêtes", "outreach:survey_results", {Role.MANAGER, Role.REGIONAL}),
    # Not for the managers yet: their menu would no longer hold on one line at 1366 px.
    ("Campagnes", "outreach:campaign_list", {Role.REGIONAL}),
    # Managers reach them from their unit's activity page (their menu is full); coordinators
    # see the cellule indicators of their instances.
    ("Indicateurs", "indicators:index", {Role.REGIONAL, Role.ADMIN, Role.COORDINATEUR}),
    ("Administration", "admin:index", {Role.ADMIN}),
    # The retention job's runs and rules (privacy, issue 14).
    ("Conservation", "privacy:retention", {Role.ADMIN}),
]

# Roles with their own entries of the cellule: the MEMBERS entry is not theirs.
CELLULE_ROLES = {Role.COORDINATEUR, Role.PARTENAIRE, Role.ASS, Role.MANAGER}


def is_cellule_member(user):
    """Whether the user is a current member of an instance of the cellule PDP: one EXISTS
    query, cached on the user object of the request. Through the reverse relation of
    `coordination.MembreInstance.user`, as `pdp` imports no app above it."""
    cached = getattr(user, "_is_cellule_member", None)
    if cached is None:
        today = timezone.localdate()
        cached = (
            user.membres_instance.filter(date_debut__lte=today)
            .filter(Q(date_fin__isnull=True) | Q(date_fin__gte=today))
            .exists()
        )
        user._is_cellule_member = cached
    return cached


def _allowed(user, url_name, roles):
    if url_name == "admin:index" and user.is_superuser:
        return True
    if url_name.startswith(("coordination:", "collective:")) and user.is_admin:
        return False  # the administrator sees no individual record
    if roles == MEMBERS:
        return user.role not in CELLULE_ROLES and is_cellule_member(user)
    return user.role in roles


def nav_items_for(user):
    if not user.is_authenticated:
        return []
    items = []
    for label, url_name, roles in NAV_ITEMS:
        if not _allowed(user, url_name, roles):
            continue
        try:
            items.append({"label": label, "url": reverse(url_name)})
        except NoReverseMatch:
            continue
    return items


def navigation(request):
    user = request.user
    if two_factor.required(user) and not two_factor.verified(user):
        return {"nav_items": []}  # before the second factor, no section is open anyway
    return {"nav_items": nav_items_for(user)}


def session_timeout(request):
    """The values static/js/session-timeout.js reads from base.html (signed-in users only)."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None:
        return {}  # a page rendered outside a request cycle (RequestFactory) has no session
    return {
        "session_timeout": {
            "idle_seconds": session_idle.seconds_left(session),
            "session_seconds": session_idle.idle_seconds(),
            "touch_seconds": settings.SESSION_TOUCH_SECONDS,
            "warning_seconds": min(
                settings.SESSION_WARNING_MINUTES * 60, session_idle.idle_seconds()
            ),
            "idle_minutes": settings.SESSION_IDLE_MINUTES,
            "warning_minutes": settings.SESSION_WARNING_MINUTES,
        }
    }
