"""Campaign pages (issue 12, first step; services in `outreach.campaigns`).

A unit's campaign: its manager; a region-wide one: the regional manager (who also reads the
unit campaigns of the region). Another region's campaign → 404; the other staff of the region
→ 403. The rules page: the managers and regional managers of the region."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from collective.models import ActionCollective, ActionStatus
from outreach import (
    campaign_calls,
    campaign_funnel,
    campaign_letters,
    campaign_sending,
    campaigns,
)
from outreach.forms_campaigns import CampagneForm, RegleForm
from outreach.models import RegleCanal
from pdp.forms import apply_service
from pdp.models import Role
from pdp.permissions import FORBIDDEN_MESSAGE
from referrals.models import CpamImport


def _can_view(user, campagne):
    """The managers of the campaign, the regional managers of its region, and the unit managers
    of the region for a region-wide campaign (their conseillers call for it)."""
    if campaigns.can_manage(user, campagne) or user.role == Role.REGIONAL:
        return True
    return campagne.unit_id is None and user.role == Role.MANAGER


def _campagne(request, pk, rule=_can_view):
    campagne = get_object_or_404(
        campaigns.campaigns_visible_to(request.user).select_related(
            "unit", "created_by", "validee_par", "cpam_import", "webinaire"
        ),
        pk=pk,
    )
    if not rule(request.user, campagne):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    return campagne


def _webinaires(user, current_id=None):
    """The region's published actions taking registrations by code with a session to come
    (and the campaign's current choice, to keep it)."""
    open_ones = Q(
        statut=ActionStatus.PUBLIEE,
        type__inscription_par_code=True,
        seances__debut__gt=timezone.now(),
    )
    return (
        ActionCollective.objects.filter(region_id=campaigns.region_id_of(user))
        .filter(open_ones | Q(pk=current_id))
        .distinct()
        .order_by("titre")
    )


def _require_creator(user):
    if not campaigns.can_create(user):
        raise PermissionDenied(FORBIDDEN_MESSAGE)


def _imports(user):
    region_id = campaigns.region_id_of(user)
    return (
        CpamImport.objects.filter(
            caisses__cpam__region_id=region_id, status=CpamImport.Status.PROCESSED
        )
        .distinct()
        .order_by("-created_at")
    )


def _service_error(request, exc):
    messages.error(request, " ".join(exc.messages))


@login_required
def campaign_list(request):
    _require_creator(request.user)
    qs = campaigns.campaigns_visible_to(request.user).select_related("unit")
    if request.user.role != Role.REGIONAL:
        qs = qs.filter(Q(unit_id=request.user.unit_id) | Q(unit__isnull=True))
    return render(
        request,
        "outreach/campaign_list.html",
        {"campagnes": list(qs[:200]), "regionale": request.user.role == Role.REGIONAL},
    )


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    _require_creator(request.user)
    form = CampagneForm(
        request.POST or None,
        imports=_imports(request.user),
        webinaires=_webinaires(request.user),
        initial={"date_reference": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        campagne = apply_service(
            form, campaigns.campagne_create, acting_user=request.user, **form.cleaned_data
        )
        if campagne is not None:
            messages.success(request, "Campagne créée. Simulez-la pour voir ses cibles.")
            return redirect("outreach:campaign_detail", campagne.pk)
    return render(request, "outreach/campaign_form.html", {"form": form, "campagne": None})


@login_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    if not campagne.editable:
        messages.error(request, "Une campagne validée ne se modifie plus.")
        return redirect("outreach:campaign_detail", campagne.pk)
    form = CampagneForm(
        request.POST or None,
        instance=campagne,
        imports=_imports(request.user),
        webinaires=_webinaires(request.user, campagne.webinaire_id),
    )
    if request.method == "POST" and form.is_valid():
        done = apply_service(
            form,
            campaigns.campagne_update,
            campagne=campagne,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if done is not None:
            messages.success(request, "Campagne enregistrée.")
            return redirect("outreach:campaign_detail", campagne.pk)
    return render(request, "outreach/campaign_form.html", {"form": form, "campagne": campagne})


@login_required
def campaign_detail(request, pk):
    campagne = _campagne(request, pk)
    canaux, exclusions = campaigns.simulation_rows(campagne)
    events = list(campagne.events.select_related("actor").order_by("-at", "-pk")[:20])
    context = {
        "campagne": campagne,
        "can_manage": campaigns.can_manage(request.user, campagne),
        "canaux": canaux,
        "exclusions": exclusions,
        "capacite": (campagne.simulation or {}).get("capacite"),
        "total": (campagne.simulation or {}).get("total", 0),
        "events": events,
    }
    # Each part of a running campaign adds its section (templates/outreach/_campaign_*.html).
    now = timezone.now()
    for section in (campaign_sending, campaign_letters, campaign_calls, campaign_funnel):
        context.update(section.detail_context(campagne=campagne, user=request.user, now=now))
    return render(request, "outreach/campaign_detail.html", context)


@login_required
@require_POST
def campaign_simulate(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    try:
        campaigns.campagne_simulate(campagne=campagne, acting_user=request.user)
    except ValidationError as exc:
        _service_error(request, exc)
    else:
        messages.success(request, "Simulation terminée.")
    return redirect("outreach:campaign_detail", campagne.pk)


@login_required
@require_POST
def campaign_validate(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    try:
        campaigns.campagne_validate(campagne=campagne, acting_user=request.user)
    except ValidationError as exc:
        _service_error(request, exc)
    else:
        messages.success(request, "Campagne validée. Les chiffres de la simulation sont figés.")
    return redirect("outreach:campaign_detail", campagne.pk)


# --- Rules -------------------------------------------------------------------------------------


def _own_rule(request, pk):
    _require_creator(request.user)
    return get_object_or_404(
        RegleCanal.objects.filter(region_id=campaigns.region_id_of(request.user)), pk=pk
    )


@login_required
def campaign_rules(request):
    _require_creator(request.user)
    region_id = campaigns.region_id_of(request.user)
    rules = campaigns.rules_in_force(region_id, active_only=False)
    own = bool(rules) and rules[0].region_id == region_id
    rows = [{"regle": r, "conditions": campaigns.describe_conditions(r)} for r in rules]
    return render(request, "outreach/campaign_rules.html", {"rows": rows, "own": own})


@login_required
@require_POST
def campaign_rules_copy(request):
    _require_creator(request.user)
    campaigns.rules_copy_defaults(acting_user=request.user)
    messages.success(request, "Les règles par défaut sont copiées pour votre région.")
    return redirect("outreach:campaign_rules")


@login_required
@require_http_methods(["GET", "POST"])
def campaign_rule_form(request, pk=None):
    _require_creator(request.user)
    regle = _own_rule(request, pk) if pk is not None else None
    form = RegleForm(request.POST or None, instance=regle)
    if request.method == "POST" and form.is_valid():
        if regle is None:
            done = apply_service(
                form, campaigns.regle_create, acting_user=request.user, **form.cleaned_data
            )
        else:
            done = apply_service(
                form,
                campaigns.regle_update,
                regle=regle,
                acting_user=request.user,
                **form.cleaned_data,
            )
        if done is not None:
            messages.success(request, "Règle enregistrée.")
            return redirect("outreach:campaign_rules")
    return render(request, "outreach/campaign_rule_form.html", {"form": form, "regle": regle})


@login_required
@require_POST
def campaign_rule_move(request, pk):
    regle = _own_rule(request, pk)
    campaigns.regle_move(
        regle=regle, acting_user=request.user, up=request.POST.get("sens") != "bas"
    )
    return redirect("outreach:campaign_rules")


@login_required
@require_POST
def campaign_rule_toggle(request, pk):
    regle = _own_rule(request, pk)
    campaigns.regle_set_active(regle=regle, acting_user=request.user, active=not regle.active)
    messages.success(request, "Règle réactivée." if not regle.active else "Règle désactivée.")
    return redirect("outreach:campaign_rules")


urlpatterns = [
    path("campagnes/", campaign_list, name="campaign_list"),
    path("campagnes/nouvelle/", campaign_create, name="campaign_create"),
    path("campagnes/<int:pk>/", campaign_detail, name="campaign_detail"),
    path("campagnes/<int:pk>/modifier/", campaign_edit, name="campaign_edit"),
    path("campagnes/<int:pk>/simuler/", campaign_simulate, name="campaign_simulate"),
    path("campagnes/<int:pk>/valider/", campaign_validate, name="campaign_validate"),
    path("campagnes/regles/", campaign_rules, name="campaign_rules"),
    path("campagnes/regles/personnaliser/", campaign_rules_copy, name="campaign_rules_copy"),
    path("campagnes/regles/nouvelle/", campaign_rule_form, name="campaign_rule_create"),
    path("campagnes/regles/<int:pk>/", campaign_rule_form, name="campaign_rule_edit"),
    path("campagnes/regles/<int:pk>/deplacer/", campaign_rule_move, name="campaign_rule_move"),
    path("campagnes/regles/<int:pk>/activer/", campaign_rule_toggle, name="campaign_rule_toggle"),
]
