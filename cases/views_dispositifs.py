"""Dispositifs mobilised in a case, with the rules of domain §5.

Every page fetches the case through ``get_accompagnement_for_user`` (not visible → 404,
rule fails → 403), then the dispositif among that case's own.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from cases import dispositifs as rules
from cases.dispositifs import (
    dispositif_notes,
    dispositif_problems,
    essai_usage,
    split_problems,
)
from cases.forms_dispositifs import DispositifForm, PeriodeForm, RenewForm, StatusForm
from cases.models import (
    CaseEvent,
    CaseStatus,
    DispositifMobilise,
    DispositifPeriode,
    DispositifStatut,
    DispositifType,
)
from cases.permissions import can_edit_case, can_read_case_content, get_accompagnement_for_user
from pdp.audit import audit
from pdp.models import AuditLog


def _get_dispositif(case, dpk):
    qs = DispositifMobilise.objects.select_related("type").prefetch_related("periodes")
    dispositif = get_object_or_404(qs, accompagnement=case, pk=dpk)
    dispositif.accompagnement = case  # already loaded with its assuré
    return dispositif


FUTURE_START = "debut_futur"


def _check_context(dispositif, statut, periodes=None):
    """Context of the warnings partial for ``dispositif`` as it would be saved.

    A dispositif already « accordé » whose start is still to come is not blocked: it starts
    on that day. The warnings show that date (``starts_on``) instead of the rule's message,
    which is meant for choosing the status of a new dispositif (« choisissez « accordé » »).
    """
    problems = dispositif_problems(dispositif, periodes=periodes)
    starts_on = None
    accorde = dispositif.pk and dispositif.statut == DispositifStatut.ACCORDE
    if accorde and any(p.code == FUTURE_START for p in problems):
        problems = [p for p in problems if p.code != FUTURE_START]
        starts_on = _start(dispositif, periodes)
    blocking, others = split_problems(problems, statut)
    return {
        "blocking": blocking,
        "others": others,
        "notes": dispositif_notes(dispositif),
        "check_statut": DispositifStatut(statut),
        "starts_on": starts_on,
    }


def _start(dispositif, periodes=None):
    """The first day of the dispositif: its first period's for an essai encadré."""
    if dispositif.type.code == rules.ESSAI:
        periodes = list(dispositif.periodes.all()) if periodes is None else periodes
        return min((p.date_debut for p in periodes), default=None)
    return dispositif.date_debut


def _creation_periodes(dispositif):
    """An essai encadré being created: its dates are its first period."""
    if dispositif.type.code == rules.ESSAI and dispositif.date_debut and dispositif.date_fin:
        return [DispositifPeriode(date_debut=dispositif.date_debut, date_fin=dispositif.date_fin)]
    return []


def _creation_statut(form):
    statut = form.cleaned_data.get("statut") if hasattr(form, "cleaned_data") else None
    return statut or DispositifStatut.ENVISAGE


def _usage(dispositif, periodes=None):
    periodes = list(dispositif.periodes.all()) if periodes is None else periodes
    used, allowed = essai_usage(periodes, dispositif.renouvellements)
    return {"used": used, "allowed": allowed, "maximum": rules.ESSAI_JOURS_MAX}


def _read(request, obj, case, page):
    """Every page of a dispositif, forms included, shows the person's file: a read row."""
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=obj,
        assure_id=case.assure_id,
        changes={"page": page},
    )


def dispositif_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    code = request.GET.get("type")
    if not code:
        types = DispositifType.objects.filter(active=True).order_by("phase", "label")
        _read(request, case, case, "choix d'un dispositif")
        return render(request, "cases/dispositif_choose.html", {"case": case, "types": types})
    dispositif_type = get_object_or_404(DispositifType, code=code, active=True)
    instance = DispositifMobilise(accompagnement=case, type=dispositif_type)
    data = request.POST if request.method == "POST" else None
    form = DispositifForm(data, instance=instance, dispositif_type=dispositif_type, creating=True)
    if data is not None and form.is_valid():
        try:
            dispositif = rules.dispositif_create(
                accompagnement=case,
                acting_user=request.user,
                type=dispositif_type,
                statut=form.cleaned_data["statut"],
                **form.service_fields(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{dispositif_type.label} : dispositif enregistré.")
            return redirect("cases:dispositif_detail", pk=case.pk, dpk=dispositif.pk)
    context = {
        "case": case,
        "form": form,
        "dispositif_type": dispositif_type,
        "dispositif": None,
        "check_url_query": f"type={dispositif_type.code}",
        **_check_context(form.instance, _creation_statut(form), _creation_periodes(form.instance)),
    }
    _read(request, case, case, f"nouveau dispositif ({dispositif_type.label})")
    return render(request, "cases/dispositif_form.html", context)


@require_POST
def dispositif_check(request, pk):
    """htmx: the warnings partial for the form being filled in (nothing is saved)."""
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    dpk = request.GET.get("dispositif", "")
    mode = request.GET.get("mode", "")
    if not dpk:
        dispositif_type = get_object_or_404(
            DispositifType, code=request.GET.get("type", ""), active=True
        )
        instance = DispositifMobilise(accompagnement=case, type=dispositif_type)
        form = DispositifForm(
            request.POST, instance=instance, dispositif_type=dispositif_type, creating=True
        )
        form.is_valid()
        context = _check_context(
            form.instance, _creation_statut(form), _creation_periodes(form.instance)
        )
        return render(request, "cases/dispositif_check.html", context)
    if not (dpk.isascii() and dpk.isdigit()):  # "²".isdigit() is True
        raise Http404
    dispositif = _get_dispositif(case, int(dpk))
    periodes = list(dispositif.periodes.all())
    if mode == "periode":
        form = PeriodeForm(request.POST)
        if form.is_valid():
            periodes.append(
                DispositifPeriode(
                    date_debut=form.cleaned_data["date_debut"],
                    date_fin=form.cleaned_data["date_fin"],
                    renouvellement=dispositif.renouvellements > 0,
                )
            )
    elif mode == "renouvellement":
        form = RenewForm(request.POST, dispositif=dispositif)
        form.is_valid()
        rules.apply_renewal(dispositif, date_fin=form.cleaned_data.get("date_fin"))
    else:
        form = DispositifForm(
            request.POST, instance=dispositif, dispositif_type=dispositif.type, creating=False
        )
        form.is_valid()
    context = _check_context(dispositif, dispositif.statut, periodes)
    return render(request, "cases/dispositif_check.html", context)


def dispositif_detail(request, pk, dpk):
    case = get_accompagnement_for_user(request.user, pk, can_read_case_content)
    dispositif = _get_dispositif(case, dpk)
    audit(user=request.user, action=AuditLog.Action.VIEW, obj=dispositif, assure_id=case.assure_id)
    # A closed case's dispositifs are kept as they are: no control the services would refuse.
    is_closed = case.statut == CaseStatus.CLOTURE
    can_edit = can_edit_case(request.user, case) and not is_closed
    events = (
        CaseEvent.objects.filter(
            accompagnement=case,
            kind=CaseEvent.Kind.DISPOSITIF,
            changes__dispositif=dispositif.pk,
        )
        .select_related("actor")
        .order_by("-at", "-pk")
    )
    # What would stop the next step: the start for a dispositif not started yet.
    statut = dispositif.statut
    target = statut if statut not in rules.TRANSITIONS else DispositifStatut.EN_COURS
    context = {
        "case": case,
        "dispositif": dispositif,
        "periodes": list(dispositif.periodes.all()),
        "events": events,
        "can_edit": can_edit,
        "is_closed": is_closed,
        "is_final": statut in rules.FINAL_STATUSES,
        "renewable": dispositif.type.code in rules.RENEWABLE
        and dispositif.renouvellements < rules.MAX_RENOUVELLEMENTS
        and statut not in rules.FINAL_STATUSES,
        "status_form": StatusForm(dispositif=dispositif) if rules.TRANSITIONS.get(statut) else None,
        "usage": _usage(dispositif) if dispositif.type.code == rules.ESSAI else None,
        **_check_context(dispositif, target),
    }
    return render(request, "cases/dispositif_detail.html", context)


def dispositif_edit(request, pk, dpk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    dispositif = _get_dispositif(case, dpk)
    data = request.POST if request.method == "POST" else None
    form = DispositifForm(
        data, instance=dispositif, dispositif_type=dispositif.type, creating=False
    )
    if data is not None and form.is_valid():
        try:
            rules.dispositif_update(
                dispositif=dispositif, acting_user=request.user, **form.service_fields()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Dispositif modifié.")
            return redirect("cases:dispositif_detail", pk=case.pk, dpk=dispositif.pk)
    _read(request, dispositif, case, "modification du dispositif")
    context = {
        "case": case,
        "form": form,
        "dispositif_type": dispositif.type,
        "dispositif": dispositif,
        "check_url_query": f"dispositif={dispositif.pk}",
        **_check_context(form.instance, dispositif.statut),
    }
    return render(request, "cases/dispositif_form.html", context)


def dispositif_status(request, pk, dpk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    dispositif = _get_dispositif(case, dpk)
    data = request.POST if request.method == "POST" else None
    form = StatusForm(data, dispositif=dispositif)
    if data is not None and form.is_valid():
        try:
            dispositif = rules.dispositif_change_status(
                dispositif=dispositif,
                acting_user=request.user,
                to_status=form.cleaned_data["to_status"],
                motif=form.cleaned_data["motif"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"{dispositif.type.label} : {dispositif.get_statut_display().lower()}."
            )
            return redirect("cases:dispositif_detail", pk=case.pk, dpk=dispositif.pk)
    context = {
        "case": case,
        "dispositif": dispositif,
        "form": form,
        **_check_context(dispositif, DispositifStatut.EN_COURS),
    }
    _read(request, dispositif, case, "statut du dispositif")
    return render(request, "cases/dispositif_status.html", context)


def dispositif_periode_add(request, pk, dpk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    dispositif = _get_dispositif(case, dpk)
    if dispositif.type.code != rules.ESSAI:
        raise Http404("Seul un essai encadré a des périodes.")
    data = request.POST if request.method == "POST" else None
    form = PeriodeForm(data)
    if data is not None and form.is_valid():
        try:
            rules.dispositif_add_periode(
                dispositif=dispositif,
                acting_user=request.user,
                date_debut=form.cleaned_data["date_debut"],
                date_fin=form.cleaned_data["date_fin"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Période ajoutée.")
            return redirect("cases:dispositif_detail", pk=case.pk, dpk=dispositif.pk)
    context = {
        "case": case,
        "dispositif": dispositif,
        "form": form,
        "periodes": list(dispositif.periodes.all()),
        "usage": _usage(dispositif),
        **_check_context(dispositif, dispositif.statut),
    }
    _read(request, dispositif, case, "ajout d'une période")
    return render(request, "cases/dispositif_periode_form.html", context)


@require_POST
def dispositif_periode_delete(request, pk, dpk, ppk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    dispositif = _get_dispositif(case, dpk)
    periode = get_object_or_404(DispositifPeriode, dispositif=dispositif, pk=ppk)
    periode.dispositif = dispositif
    try:
        rules.dispositif_remove_periode(periode=periode, acting_user=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, "Période supprimée.")
    return redirect("cases:dispositif_detail", pk=case.pk, dpk=dispositif.pk)


def dispositif_renew_view(request, pk, dpk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    dispositif = _get_dispositif(case, dpk)
    if dispositif.type.code not in rules.RENEWABLE:
        raise Http404("Ce dispositif ne se renouvelle pas.")
    data = request.POST if request.method == "POST" else None
    form = RenewForm(data, dispositif=dispositif)
    if data is not None and form.is_valid():
        try:
            rules.dispositif_renew(
                dispositif=dispositif,
                acting_user=request.user,
                date_fin=form.cleaned_data.get("date_fin"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{dispositif.type.label} renouvelé.")
            return redirect("cases:dispositif_detail", pk=case.pk, dpk=dispositif.pk)
    context = {
        "case": case,
        "dispositif": dispositif,
        "form": form,
        "already_renewed": dispositif.renouvellements >= rules.MAX_RENOUVELLEMENTS,
        "usage": _usage(dispositif) if dispositif.type.code == rules.ESSAI else None,
    }
    _read(request, dispositif, case, "renouvellement du dispositif")
    return render(request, "cases/dispositif_renew.html", context)


_D = "accompagnements/<int:pk>/dispositifs/"

urlpatterns = [
    path(f"{_D}nouveau/", dispositif_create, name="dispositif_create"),
    path(f"{_D}verifier/", dispositif_check, name="dispositif_check"),
    path(f"{_D}<int:dpk>/", dispositif_detail, name="dispositif_detail"),
    path(f"{_D}<int:dpk>/modifier/", dispositif_edit, name="dispositif_edit"),
    path(f"{_D}<int:dpk>/statut/", dispositif_status, name="dispositif_status"),
    path(f"{_D}<int:dpk>/periodes/ajouter/", dispositif_periode_add, name="dispositif_periode_add"),
    path(
        f"{_D}<int:dpk>/periodes/<int:ppk>/supprimer/",
        dispositif_periode_delete,
        name="dispositif_periode_delete",
    ),
    path(f"{_D}<int:dpk>/renouveler/", dispositif_renew_view, name="dispositif_renew"),
]
