"""Campaign call lists (issue 12, item 5; services in `outreach.campaign_calls`).

The conseillers and the managers of a unit. Another region's campaign or target → 404; staff
of the region who do not call for it (an ASS, another unit for a unit's campaign) → 403; a
target the user no longer holds → back to the list with a message."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from outreach import campaign_calls as calls
from outreach.campaigns import campaigns_visible_to
from outreach.forms_campaign_calls import CallForm
from outreach.models import CanalCampagne, Cible, ResultatAppel
from outreach.views_staff import day_label, time_label
from pdp.audit import audit
from pdp.forms import apply_service
from pdp.models import AuditLog
from pdp.permissions import FORBIDDEN_MESSAGE

NBSP = "\u00a0"


def _when(moment):
    """« mardi 2 mars à 14 h »."""
    return f"{day_label(timezone.localdate(moment))} à {time_label(moment)}"


def _require_caller(user):
    if not calls.may_use_call_lists(user):
        raise PermissionDenied(FORBIDDEN_MESSAGE)


def _campagne(request, pk):
    campagne = get_object_or_404(campaigns_visible_to(request.user), pk=pk)
    calls.require_call(request.user, campagne)
    return campagne


def _cible(request, pk):
    cible = get_object_or_404(
        Cible.objects.filter(campagne__in=campaigns_visible_to(request.user)).select_related(
            "assure", "campagne"
        ),
        pk=pk,
    )
    calls.require_call(request.user, cible.campagne)
    return cible


def _decorate(cible, today):
    cible.age = calls.age_of(cible.assure, today)
    cible.tel = calls.tel_of(cible.assure)
    return cible


@login_required
def call_list(request):
    """The running campaigns the user calls for, with how many are left, and « Mes appels »:
    the people they hold, the script of each campaign, their calls of the last days."""
    user = request.user
    _require_caller(user)
    now = timezone.now()
    today = timezone.localdate(now)
    counts = calls.pool_counts(user=user, now=now)
    empty = {"disponibles": 0, "restants": 0, "reservees_par_moi": 0}
    campagnes = []
    for campagne in calls.callable_campaigns(user).select_related("unit").order_by("-pk"):
        campagne.counts = counts.get(campagne.pk, empty)
        campagnes.append(campagne)
    mine = [_decorate(c, today) for c in calls.my_reserved(user, now)]
    groups = {}
    for cible in mine:
        group = groups.setdefault(
            cible.campagne_id,
            {"campagne": cible.campagne, "script": calls.script_of(cible.campagne), "rows": []},
        )
        group["rows"].append(cible)
    recent = list(calls.recent_calls(user, now))
    shown = {c.pk: c for c in mine}
    shown.update({a.cible.pk: a.cible for a in recent if a.cible.pk not in shown})
    calls.audit_shown(user=user, cibles=list(shown.values()), page="appels de campagne")
    return render(
        request,
        "outreach/calls_list.html",
        {
            "campagnes": campagnes,
            "groups": list(groups.values()),
            "recent": recent,
            "batch": calls.BATCH,
            "now": now,
        },
    )


@login_required
@require_POST
def call_reserve(request, pk):
    campagne = _campagne(request, pk)
    try:
        reserved = calls.calls_reserve(acting_user=request.user, campagne=campagne)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("outreach:calls")
    if reserved:
        until = timezone.now() + datetime.timedelta(days=campagne.reservation_jours)
        n = len(reserved)
        messages.success(
            request,
            f"{n} personne{'s' if n > 1 else ''} réservée{'s' if n > 1 else ''} pour vous"
            f" jusqu'au {day_label(timezone.localdate(until))}{NBSP}: après, les autres"
            " conseillers pourront les appeler.",
        )
    else:
        messages.info(request, f"Personne à réserver pour le moment dans «{NBSP}{campagne}{NBSP}».")
    return redirect("outreach:calls")


def _done_text(result):
    cible, appel = result.cible, result.appel
    if appel.resultat == ResultatAppel.REFUS:
        return (
            f"Refus enregistré{NBSP}: {cible.assure} ne sera plus sollicité(e) par les campagnes"
            " pendant un an."
        )
    if appel.resultat == ResultatAppel.RAPPELER:
        return (
            f"Rappel prévu le {_when(appel.rappeler_le)}{NBSP}: {cible.assure} reste dans vos"
            " appels jusque-là."
        )
    if cible.repli_de == CanalCampagne.APPEL and cible.canal != CanalCampagne.APPEL:
        why = (
            "Faux numéro"
            if appel.resultat == ResultatAppel.FAUX_NUMERO
            else f"{cible.tentatives} appels sans réponse"
        )
        if cible.exclusion:
            return (
                f"{why}{NBSP}: aucune autre coordonnée utilisable, {cible.assure} est écarté(e)"
                " de la campagne."
            )
        return (
            f"{why}{NBSP}: {cible.assure} recevra l'invitation par"
            f" {cible.get_canal_display().lower()}."
        )
    return (
        f"Appel enregistré ({cible.tentatives}/{cible.campagne.tentatives_max})"
        f"{NBSP}: {cible.assure} reste dans vos appels."
    )


@login_required
@require_http_methods(["GET", "POST"])
def call_record(request, pk):
    """One held person: phone, script, previous calls, and the form of the call."""
    cible = _cible(request, pk)
    now = timezone.now()
    if not calls.is_reserved_by(cible, request.user, now) and request.method == "GET":
        messages.error(request, calls.NOT_RESERVED)
        return redirect("outreach:calls")
    form = CallForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = apply_service(
            form,
            calls.call_record,
            acting_user=request.user,
            cible=cible,
            **form.cleaned_data,
        )
        if result is not None:
            if result.signalement is not None:
                messages.success(
                    request,
                    f"Appel enregistré{NBSP}: choisissez avec {cible.assure} le créneau du"
                    " premier rendez-vous.",
                )
                return redirect(
                    reverse("outreach:book_for_signalement", args=[result.signalement.pk])
                    + "?retour=appels"
                )
            messages.success(request, _done_text(result))
            return redirect("outreach:calls")
    if request.method == "GET":
        audit(
            user=request.user,
            action=AuditLog.Action.VIEW,
            obj=cible,
            assure_id=cible.assure_id,
        )
    _decorate(cible, timezone.localdate(now))
    return render(
        request,
        "outreach/calls_record.html",
        {
            "cible": cible,
            "campagne": cible.campagne,
            "script": calls.script_of(cible.campagne),
            "appels": list(cible.appels.select_related("conseiller").order_by("-at", "-pk")),
            "form": form,
        },
    )


@login_required
@require_POST
def call_release(request, pk):
    cible = _cible(request, pk)
    if calls.calls_release(acting_user=request.user, cible=cible):
        messages.success(request, f"{cible.assure} est rendu(e) à la liste d'appels.")
    return redirect("outreach:calls")


urlpatterns = [
    path("campagnes/appels/", call_list, name="calls"),
    path("campagnes/<int:pk>/appels/reserver/", call_reserve, name="calls_reserve"),
    path("campagnes/appels/<int:pk>/", call_record, name="call_record"),
    path("campagnes/appels/<int:pk>/rendre/", call_release, name="call_release"),
]
