"""Submitting a situation to an instance, reading it, and the unit's list of submissions.

- `saisine_create`: the référent or the unit's manager (`can_manage_case`) writes the question
  and the fiche, pre-filled from the case; without an active consent of scope « Présentation à
  la cellule PDP » the page says so first and links to the consent form.
- `saisine_detail`: the case's content readers (référent, manager, a share) see the whole
  history, whatever happened to the consent; the instance's coordinators see the fiche only
  while `Saisine.fiche_lisible`, afterwards the reference and the dates. Other members of the
  instance read fiches on the meeting page, not here (404: the list of who reads what stays
  short).
- `saisine_list_unit`: the manager's list of the unit's submissions; an ASS sees those of the
  cases she is référent of.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.urls import path, reverse

from cases.models import CaseStatus, Consentement
from cases.permissions import can_manage_case, can_read_case_content, get_accompagnement_for_user
from coordination import services
from coordination.forms_saisine import FICHE_HELP, LONG_FIELDS, SaisineForm
from coordination.models import ActionInstance, Decision, PointOrdreDuJour, Reunion, Saisine
from coordination.permissions import get_saisine_for_user, is_coordinator
from pdp.audit import audit, audit_listed
from pdp.context_processors import is_cellule_member
from pdp.forms import apply_service
from pdp.models import AuditLog, Role
from pdp.permissions import in_unit

LIST_PAGE_SIZE = 25
# The list's filter: every status, or the ones still followed by the instance.
EN_COURS = "en_cours"


def _points(saisine, *, order="reunion__debut"):
    """The meetings a situation went through, with their decisions and actions (3 queries)."""
    return list(
        PointOrdreDuJour.objects.filter(saisine=saisine)
        .select_related("reunion")
        .prefetch_related(
            Prefetch("decisions", queryset=Decision.objects.select_related("type")),
            Prefetch(
                "actions",
                queryset=ActionInstance.objects.select_related(
                    "responsable__user", "responsable__contact"
                ),
            ),
        )
        .order_by(order, "pk")
    )


# --- Submitting ------------------------------------------------------------------------------


def saisine_create(request, case_pk):
    user = request.user
    case = get_accompagnement_for_user(user, case_pk, can_manage_case)
    consent = services.active_cellule_consent(case.assure)
    posted = request.method == "POST"
    form = SaisineForm(
        request.POST if posted else None,
        case=case,
        initial=None if posted else services.fiche_initiale(case),
    )
    if posted and form.is_valid():
        fiche = dict(form.cleaned_data)
        saisine = apply_service(
            form,
            services.saisine_submit,
            accompagnement=case,
            acting_user=user,
            instance=fiche.pop("instance"),
            question=fiche.pop("question"),
            **fiche,
        )
        if saisine:
            messages.success(
                request,
                f"Situation présentée à «\u00a0{saisine.instance}\u00a0» "
                f"(situation {saisine.reference}).",
            )
            return redirect("coordination:saisine_detail", pk=saisine.pk)
    consent_url = reverse("cases:consentement_create", args=[case.pk])
    consent_url += "?" + urlencode(
        {"portee": Consentement.Portee.CELLULE_PDP, "next": request.path}
    )
    closed = case.statut == CaseStatus.CLOTURE
    audit(
        user=user,
        action=AuditLog.Action.VIEW,
        obj=case,
        assure_id=case.assure_id,
        changes={"page": "saisine_create"},
    )
    return render(
        request,
        "coordination/saisine_create.html",
        {
            "case": case,
            "form": form,
            "consent": consent,
            "consent_url": consent_url,
            "closed": closed,
            # The fiche is pre-filled from the case: shown only when it can be sent (a failed
            # submission keeps what was typed).
            "show_form": form.is_bound or (consent and not closed and form.has_instances),
            "fiche_help": FICHE_HELP,
            "fiche_fields": [form[name] for name in Saisine.FICHE_FIELDS],
            "long_fields": LONG_FIELDS,
        },
    )


# --- Reading ---------------------------------------------------------------------------------


def _may_open(user, saisine):
    return can_read_case_content(user, saisine.accompagnement) or is_coordinator(
        user, saisine.instance
    )


def saisine_detail(request, pk):
    user = request.user
    saisine = get_saisine_for_user(user, pk, _may_open)
    case = saisine.accompagnement
    case_reader = can_read_case_content(user, case)
    # The consent gate, re-checked at every read: coordinators read the fiche, the question
    # and what the instance said only while the consent holds; the référent always.
    show_fiche = case_reader or saisine.fiche_lisible
    points = (
        _points(saisine)
        if show_fiche
        else list(saisine.points.select_related("reunion").order_by("reunion__debut", "pk"))
    )
    audit(
        user=user,
        action=AuditLog.Action.VIEW,
        obj=saisine,
        assure_id=case.assure_id,
        changes={"page": "saisine_detail", "fiche": show_fiche},
    )
    return render(
        request,
        "coordination/saisine_detail.html",
        {
            "saisine": saisine,
            "case": case,
            "case_reader": case_reader,
            # Who passed `_may_open` without reading the case is a coordinator of the instance.
            "coordinator": not case_reader,
            "show_fiche": show_fiche,
            "points": points,
            # The labels of the submission form, so that the fiche reads as it was written.
            "fiche_rows": [
                (SaisineForm.base_fields[name].label, _display(saisine, name))
                for name in Saisine.FICHE_FIELDS
                if name != "initiales"
            ],
        },
    )


def _display(saisine, name):
    getter = getattr(saisine, f"get_{name}_display", None)
    value = getter() if getter else getattr(saisine, name)
    return value or "—"


# --- The unit's list -------------------------------------------------------------------------

STATUS_FILTERS = [
    ("", "Toutes"),
    (EN_COURS, "En cours (en attente ou suivies)"),
    *Saisine.Statut.choices,
]


def _may_list(user):
    return in_unit(user) and user.role in (Role.ASS, Role.MANAGER)


def saisine_list_unit(request):
    user = request.user
    if not _may_list(user):
        raise PermissionDenied(
            "La liste des situations présentées est réservée aux ASS et aux responsables d'unité."
        )
    qs = Saisine.objects.filter(accompagnement__unit_id=user.unit_id)
    if user.role == Role.ASS:
        qs = qs.filter(accompagnement__referent=user)
    statut = request.GET.get("statut", "")
    if statut == EN_COURS:
        qs = qs.filter(statut__in=Saisine.OPEN)
    elif statut in Saisine.Statut.values:
        qs = qs.filter(statut=statut)
    else:
        statut = ""
    points = PointOrdreDuJour.objects.select_related("reunion").prefetch_related(
        Prefetch("decisions", queryset=Decision.objects.select_related("type"))
    )
    qs = (
        qs.select_related(
            "instance", "consentement", "accompagnement__assure", "accompagnement__referent"
        )
        .prefetch_related(Prefetch("points", queryset=points.order_by("-reunion__debut", "-pk")))
        .order_by("-submitted_at", "-pk")
    )
    page = Paginator(qs, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    saisines = list(page.object_list)
    for saisine in saisines:
        held = [p for p in saisine.points.all() if p.reunion.statut not in Reunion.NOT_HELD]
        upcoming = [p for p in saisine.points.all() if p.reunion.statut in Reunion.NOT_HELD]
        saisine.last_point = held[0] if held else None
        saisine.next_point = upcoming[-1] if upcoming else None
    audit_listed(
        user=user,
        objects=saisines,
        assure_id_of=lambda s: s.accompagnement.assure_id,
        page="saisine_list_unit",
    )
    return render(
        request,
        "coordination/saisine_list_unit.html",
        {
            "page_obj": page,
            "saisines": saisines,
            "statut": statut,
            "status_filters": STATUS_FILTERS,
            "is_manager": user.role == Role.MANAGER,
            "is_member": is_cellule_member(user),
        },
    )


urlpatterns = [
    path("accompagnements/<int:case_pk>/presenter/", saisine_create, name="saisine_create"),
    path("situations/unite/", saisine_list_unit, name="saisine_list_unit"),
    path("situations/<int:pk>/", saisine_detail, name="saisine_detail"),
]
