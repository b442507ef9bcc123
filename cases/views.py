"""Accompagnement page and its in-page actions: notes, évaluation, plan d'aide, orientations,
consents, closure, reopening, suspension, change of référent.

Every view fetches the case through `get_accompagnement_for_user` (not visible → 404, visible
but the rule fails → 403), validates a form and calls a service of cases/services.py.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cases import services
from cases.extensions import case_panels
from cases.forms import (
    ActionForm,
    CaseShareForm,
    ClotureForm,
    ConsentementForm,
    ConsentementRevokeForm,
    EvaluationForm,
    NoteForm,
    ObjectifForm,
    OpenCaseForm,
    OrientationForm,
    OrientationUpdateForm,
    ReasonForm,
    ReferentForm,
)
from cases.models import (
    Accompagnement,
    Action,
    CaseEvent,
    CaseStatus,
    Consentement,
    Entretien,
    Objectif,
    Orientation,
)
from cases.permissions import (
    can_change_referent,
    can_edit_case,
    can_manage_case,
    can_read_case_content,
    can_schedule_for_case,
    get_accompagnement_for_user,
)
from pdp.audit import audit
from pdp.forms import apply_service
from pdp.models import AuditLog
from referrals.markers import KIND_LIAISON, KIND_VISITE_REPRISE, arret_markers, region_of
from referrals.models import ArretTravail
from referrals.permissions import can_open_case, get_signalement_for_user
from referrals.services import can_lead_to_case

TIMELINE_PAGE_SIZE = 50
LIST_PAGE_SIZE = 25


def _sort(request, allowed, default):
    """`?o=field` or `?o=-field` among `allowed`; returns (ordering, current value)."""
    value = request.GET.get("o", default)
    if value.lstrip("-") not in allowed:
        value = default
    return value


def _case_url(case, anchor=""):
    url = reverse("cases:accompagnement_detail", args=[case.pk])
    return f"{url}#{anchor}" if anchor else url


def _read(request, obj, case, page=None):
    """Every page that shows a person's file writes a read row (domain §11); `page` says which
    page when the object alone does not (the plan d'aide of a case, a form showing a record)."""
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=obj,
        assure_id=case.assure_id,
        changes={"page": page} if page else None,
    )


def _form_page(
    request,
    case,
    form,
    *,
    title,
    submit_label,
    intro="",
    danger=False,
    cancel=None,
    shown=None,
    page=None,
):
    """A form on a case: opening it shows the person's file, so it is logged as a read of
    `shown` (the record the form shows, else the case), with the form's title as its page."""
    _read(request, shown or case, case, page=page or title)
    return render(
        request,
        "cases/accompagnement_form.html",
        {
            "case": case,
            "form": form,
            "title": title,
            "intro": intro,
            "submit_label": submit_label,
            "danger": danger,
            "cancel_url": cancel or _case_url(case),
        },
    )


# --- The accompagnement page ----------------------------------------------------------------

NOTES_SHOWN = 20
# The 2 August 2021 law's markers of an arrêt, shown in the case header (the others — CPAM
# thresholds — are on the person's page).
LAW_MARKERS = (KIND_LIAISON, KIND_VISITE_REPRISE)


def _case_arret(case, today):
    """The arrêt of the case's referral, else the person's latest, with its day count today,
    and the 2021-law markers (`referrals.markers`)."""
    qs = ArretTravail.objects.select_related("cpam__region")
    signalement = case.signalement
    if signalement is not None and signalement.arret_id:
        arret = qs.filter(pk=signalement.arret_id).first()
    else:
        arret = qs.filter(assure_id=case.assure_id).order_by("-date_debut", "-pk").first()
    if arret is None:
        return None
    arret.assure = case.assure
    arret.jours = arret.duree_au(today)
    arret.ongoing = arret.is_ongoing(today)
    arret.law_markers = [
        m
        for m in arret_markers(arret, today=today, region=region_of(arret))
        if m.kind in LAW_MARKERS
    ]
    return arret


def accompagnement_detail(request, pk):
    case = get_accompagnement_for_user(request.user, pk)
    user = request.user
    can_edit = can_edit_case(user, case)
    can_read_content = can_read_case_content(user, case)
    entretiens = list(case.entretiens.select_related("ass").order_by("-debut"))
    now = timezone.now()
    upcoming = [e for e in entretiens if e.statut == Entretien.Statut.PLANIFIE and e.debut >= now]
    context = {
        "case": case,
        "can_edit": can_edit,
        "can_manage": can_manage_case(user, case),
        "can_read_content": can_read_content,
        "next_entretien": upcoming[-1] if upcoming else None,
        "can_schedule": can_schedule_for_case(user, case),
        "can_change_referent": can_change_referent(user, case),
        "entretiens": entretiens,
        "documents": [],
        "dispositifs": [],
        "signalement": case.signalement,
        "arret": _case_arret(case, timezone.localdate()),
    }
    if can_read_content:
        ordering = _sort(request, {"at"}, "-at")
        kind = request.GET.get("kind", "")
        tiebreak = "-pk" if ordering.startswith("-") else "pk"
        events = case.events.select_related("actor").order_by(ordering, tiebreak)
        if kind in CaseEvent.Kind.values:
            events = events.filter(kind=kind)
        else:
            kind = ""
        evaluations = list(case.evaluations.select_related("created_by").order_by("-version")[:1])
        notes = list(
            case.events.filter(kind=CaseEvent.Kind.NOTE)
            .select_related("actor")
            .order_by("-at", "-pk")[: NOTES_SHOWN + 1]
        )
        context.update(
            notes=notes[:NOTES_SHOWN],
            more_notes=len(notes) > NOTES_SHOWN,
            shares=list(
                case.shares.active().select_related("user__unit", "created_by").order_by("date_fin")
            ),
            timeline=Paginator(events, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page")),
            timeline_order=ordering,
            timeline_kind=kind,
            event_kinds=CaseEvent.Kind.choices,
            evaluation=evaluations[0] if evaluations else None,
            objectifs=_objectifs(case),
            orientations=list(case.orientations.select_related("partner")),
            consentements=list(case.assure.consentements.select_related("recorded_by")),
            clotures=list(case.clotures.select_related("closed_by")),
            documents=list(case.documents.select_related("uploaded_by")),
            dispositifs=list(case.dispositifs.select_related("type").prefetch_related("periodes")),
        )
    context["case_panels"] = case_panels(request, case)
    _read(request, case, case)
    return render(request, "cases/accompagnement_detail.html", context)


# --- Opening from a referral ------------------------------------------------------------------


def signalement_open_case(request, pk):
    """The accompagnement a referral led to, or the form that opens it (référent, mission)."""
    user = request.user
    signalement = get_signalement_for_user(user, pk)
    case = Accompagnement.objects.filter(signalement=signalement).first()
    if case is not None:
        return redirect(_case_url(case))
    if not can_open_case(user, signalement):
        raise PermissionDenied(
            "Seuls l'ASS chargée du signalement et le responsable ouvrent un accompagnement."
        )
    if not can_lead_to_case(signalement):
        messages.info(
            request,
            "Un accompagnement s'ouvre une fois la personne jointe (statut « Contact en cours » "
            "ou « Rencontre proposée »).",
        )
        return redirect("referrals:signalement_detail", pk=signalement.pk)
    form = OpenCaseForm(request.POST or None, signalement=signalement)
    if request.method == "POST" and form.is_valid():
        case = apply_service(
            form,
            services.case_open_from_signalement,
            signalement=signalement,
            acting_user=user,
            referent=form.cleaned_data["referent"],
            mission=form.cleaned_data["mission"],
        )
        if case:
            messages.success(request, "Accompagnement ouvert.")
            return redirect(_case_url(case))
    context = {"signalement": signalement, "assure": signalement.assure, "form": form}
    audit(
        user=user,
        action=AuditLog.Action.VIEW,
        obj=signalement,
        assure_id=signalement.assure_id,
        changes={"page": "ouverture d'un accompagnement"},
    )
    return render(request, "cases/signalement_open_case.html", context)


# --- Shares ------------------------------------------------------------------------------------


def case_share_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_manage_case)
    form = CaseShareForm(request.POST or None, case=case)
    if request.method == "POST" and form.is_valid():
        share = apply_service(
            form,
            services.case_share,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if share:
            messages.success(
                request,
                f"Accompagnement partagé avec {share.user} jusqu'au {share.date_fin:%d/%m/%Y}.",
            )
            return redirect(_case_url(case, "partages"))
    return _form_page(
        request,
        case,
        form,
        title="Partager l'accompagnement",
        intro=(
            "La personne choisie pourra lire et compléter le dossier (évaluation, notes, plan "
            "d'aide, documents) jusqu'à la date de fin. Le partage figure au journal de "
            "l'accompagnement et vous pouvez le retirer à tout moment."
        ),
        submit_label="Partager",
    )


@require_POST
def case_share_revoke(request, pk, share_pk):
    case = get_accompagnement_for_user(request.user, pk, can_manage_case)
    share = get_object_or_404(case.shares.select_related("user"), pk=share_pk)
    try:
        services.case_share_revoke(share=share, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Partage avec {share.user} retiré.")
    return redirect(_case_url(case, "partages"))


# --- Notes -----------------------------------------------------------------------------------


def note_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        event = apply_service(
            form,
            services.case_note_add,
            accompagnement=case,
            acting_user=request.user,
            text=form.cleaned_data["text"],
        )
        if event:
            messages.success(request, "Note ajoutée.")
            return redirect(_case_url(case, "notes"))
    return _form_page(request, case, form, title="Ajouter une note", submit_label="Enregistrer")


# --- Évaluation globale --------------------------------------------------------------------


def evaluation_list(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_read_case_content)
    ordering = _sort(request, {"version", "created_at"}, "-version")
    evaluations = case.evaluations.select_related("created_by").order_by(ordering)
    page = Paginator(evaluations, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    _read(request, case, case, page="évaluations")
    return render(
        request,
        "cases/evaluation_list.html",
        {
            "case": case,
            "page_obj": page,
            "ordering": ordering,
            "can_edit": can_edit_case(request.user, case),
        },
    )


def evaluation_detail(request, pk, version):
    case = get_accompagnement_for_user(request.user, pk, can_read_case_content)
    evaluation = get_object_or_404(case.evaluations.select_related("created_by"), version=version)
    latest = case.evaluations.order_by("-version").values_list("version", flat=True).first()
    _read(request, evaluation, case)
    return render(
        request,
        "cases/evaluation_detail.html",
        {
            "case": case,
            "evaluation": evaluation,
            "latest_version": latest,
            "areas": [
                (evaluation._meta.get_field(name).verbose_name, getattr(evaluation, name))
                for name in services.EVALUATION_AREAS
            ],
            "can_edit": can_edit_case(request.user, case),
        },
    )


def evaluation_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    previous = case.evaluations.order_by("-version").first()
    initial = model_to_dict(previous, fields=EvaluationForm.Meta.fields) if previous else None
    form = EvaluationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        evaluation = apply_service(
            form,
            services.evaluation_create,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if evaluation:
            messages.success(
                request, f"Évaluation globale enregistrée (version {evaluation.version})."
            )
            return redirect("cases:evaluation_detail", pk=case.pk, version=evaluation.version)
    # The form is pre-filled with the previous évaluation, when there is one.
    _read(request, previous or case, case, page="nouvelle évaluation")
    return render(
        request,
        "cases/evaluation_create.html",
        {"case": case, "form": form, "previous": previous},
    )


# --- Plan d'aide -----------------------------------------------------------------------------

OBJECTIF_SORTS = {"echeance", "domaine", "statut", "created_at"}


def _objectifs(case, ordering="echeance"):
    field = ordering.lstrip("-")
    if field == "echeance":  # objectives without a due date last, whatever the database
        order = (
            F(field).desc(nulls_last=True)
            if ordering.startswith("-")
            else F(field).asc(nulls_last=True)
        )
    else:
        order = ordering
    return list(case.objectifs.order_by(order, "pk").prefetch_related("actions"))


def plan_detail(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_read_case_content)
    ordering = _sort(request, OBJECTIF_SORTS, "echeance")
    _read(request, case, case, page="plan d'aide")
    return render(
        request,
        "cases/plan_detail.html",
        {
            "case": case,
            "objectifs": _objectifs(case, ordering),
            "ordering": ordering,
            "can_edit": can_edit_case(request.user, case),
        },
    )


def plan_print(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_read_case_content)
    objectifs = [o for o in _objectifs(case) if o.statut != "abandonne"]
    _read(request, case, case)
    return render(request, "cases/plan_print.html", {"case": case, "objectifs": objectifs})


def objectif_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    form = ObjectifForm(request.POST or None, with_status=False)
    if request.method == "POST" and form.is_valid():
        objectif = apply_service(
            form,
            services.objectif_create,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if objectif:
            messages.success(request, "Objectif ajouté au plan d'aide.")
            return redirect("cases:plan_detail", pk=case.pk)
    return _form_page(
        request,
        case,
        form,
        title="Ajouter un objectif",
        submit_label="Ajouter",
        cancel=reverse("cases:plan_detail", args=[case.pk]),
    )


def objectif_update(request, pk, objectif_pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    objectif = get_object_or_404(Objectif, pk=objectif_pk, accompagnement=case)
    form = ObjectifForm(
        request.POST or None, initial=model_to_dict(objectif, fields=ObjectifForm.Meta.fields)
    )
    if request.method == "POST" and form.is_valid():
        objectif.accompagnement = case
        updated = apply_service(
            form,
            services.objectif_update,
            objectif=objectif,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if updated:
            messages.success(request, "Objectif modifié.")
            return redirect("cases:plan_detail", pk=case.pk)
    return _form_page(
        request,
        case,
        form,
        shown=objectif,
        page="modification de l'objectif",
        title=f"Modifier l'objectif « {objectif.libelle} »",
        submit_label="Enregistrer",
        cancel=reverse("cases:plan_detail", args=[case.pk]),
    )


def action_create(request, pk, objectif_pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    objectif = get_object_or_404(Objectif, pk=objectif_pk, accompagnement=case)
    objectif.accompagnement = case
    form = ActionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        action = apply_service(
            form,
            services.action_create,
            objectif=objectif,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if action:
            messages.success(request, "Action ajoutée.")
            return redirect(
                reverse("cases:plan_detail", args=[case.pk]) + f"#objectif-{objectif.pk}"
            )
    return _form_page(
        request,
        case,
        form,
        title=f"Ajouter une action à l'objectif « {objectif.libelle} »",
        submit_label="Ajouter",
        cancel=reverse("cases:plan_detail", args=[case.pk]),
    )


@require_POST
def action_toggle(request, pk, action_pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    action = get_object_or_404(
        Action.objects.select_related("objectif"), pk=action_pk, objectif__accompagnement=case
    )
    action.objectif.accompagnement = case
    error = None
    try:
        services.action_toggle(action=action, acting_user=request.user)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx:
        return render(
            request,
            "cases/plan_action_row.html",
            {"case": case, "action": action, "can_edit": True, "error": error},
        )
    if error:
        messages.error(request, error)
    return redirect(reverse("cases:plan_detail", args=[case.pk]) + f"#action-{action.pk}")


# --- Orientations ----------------------------------------------------------------------------


def orientation_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    form = OrientationForm(request.POST or None, region_id=case.unit.region_id)
    if request.method == "POST" and form.is_valid():
        orientation = apply_service(
            form,
            services.orientation_create,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if orientation:
            messages.success(request, "Orientation enregistrée.")
            return redirect(_case_url(case, "orientations"))
    return _form_page(
        request,
        case,
        form,
        title="Orienter vers un partenaire",
        intro="L'orientation n'est envoyée au partenaire qu'avec l'accord de l'assuré.",
        submit_label="Enregistrer l'orientation",
    )


def orientation_update(request, pk, orientation_pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    orientation = get_object_or_404(Orientation, pk=orientation_pk, accompagnement=case)
    orientation.accompagnement = case
    form = OrientationUpdateForm(
        request.POST or None,
        initial=model_to_dict(orientation, fields=OrientationUpdateForm.Meta.fields),
    )
    if request.method == "POST" and form.is_valid():
        updated = apply_service(
            form,
            services.orientation_update,
            orientation=orientation,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if updated:
            messages.success(request, "Orientation mise à jour.")
            return redirect(_case_url(case, "orientations"))
    return _form_page(
        request,
        case,
        form,
        shown=orientation,
        page="suivi de l'orientation",
        title=f"Suivi de l'orientation vers {orientation.get_partner_kind_display()}",
        intro=f"Motif : {orientation.motif}",
        submit_label="Enregistrer",
    )


# --- Consentements ---------------------------------------------------------------------------


def _safe_next(request):
    """`?next=` when it is a URL of this site (another page sends the user here and expects
    them back, e.g. the cellule's submission form), else None."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def consentement_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    portee = request.GET.get("portee")
    form = ConsentementForm(
        request.POST or None,
        initial={"portee": portee} if portee in Consentement.Portee.values else None,
    )
    back = _safe_next(request)
    if request.method == "POST" and form.is_valid():
        consentement = apply_service(
            form,
            services.consentement_record,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if consentement:
            messages.success(request, "Consentement enregistré.")
            return redirect(back or _case_url(case, "consentements"))
    return _form_page(
        request,
        case,
        form,
        title="Recueillir un consentement",
        intro="L'assuré peut révoquer son consentement à tout moment.",
        submit_label="Enregistrer",
        cancel=back,
    )


def consentement_revoke(request, pk, consentement_pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    consentement = get_object_or_404(Consentement, pk=consentement_pk, assure_id=case.assure_id)
    form = ConsentementRevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        revoked = apply_service(
            form,
            services.consentement_revoke,
            consentement=consentement,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if revoked:
            messages.success(request, "Consentement révoqué.")
            return redirect(_case_url(case, "consentements"))
    return _form_page(
        request,
        case,
        form,
        shown=consentement,
        title=f"Révoquer le consentement « {consentement.get_portee_display()} »",
        intro=f"Recueilli le {consentement.date_recueil:%d/%m/%Y}.",
        submit_label="Révoquer",
        danger=True,
    )


# --- Status ----------------------------------------------------------------------------------


def cloture_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_manage_case)
    if case.statut == CaseStatus.CLOTURE:
        messages.info(request, "L'accompagnement est déjà clôturé.")
        return redirect(_case_url(case))
    # What is still open, shown before the user commits (and again after a refusal).
    open_work = services.case_open_work(case)
    form = ClotureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        cloture = apply_service(
            form,
            services.case_close,
            accompagnement=case,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if cloture:
            message = "Accompagnement clôturé."
            n = len(open_work.entretiens)
            if n:
                message += (
                    " L'entretien à venir a été annulé."
                    if n == 1
                    else f" Les {n} entretiens à venir ont été annulés."
                )
            messages.success(request, message)
            return redirect(_case_url(case))
    context = {"case": case, "form": form, "open_work": open_work}
    _read(request, case, case, page="clôture")
    return render(request, "cases/cloture_create.html", context)


def _status_view(request, pk, *, service, form_kwargs, title, submit_label, intro, success):
    case = get_accompagnement_for_user(request.user, pk, can_manage_case)
    form = ReasonForm(request.POST or None, **form_kwargs)
    if request.method == "POST" and form.is_valid():
        done = apply_service(
            form,
            service,
            accompagnement=case,
            acting_user=request.user,
            reason=form.cleaned_data["reason"],
        )
        if done:
            messages.success(request, success)
            return redirect(_case_url(case))
    return _form_page(request, case, form, title=title, intro=intro, submit_label=submit_label)


def case_reopen(request, pk):
    return _status_view(
        request,
        pk,
        service=services.case_reopen,
        form_kwargs={"required": True},
        title="Rouvrir l'accompagnement",
        intro="Les clôtures précédentes restent dans l'historique.",
        submit_label="Rouvrir",
        success="Accompagnement rouvert.",
    )


def case_suspend(request, pk):
    return _status_view(
        request,
        pk,
        service=services.case_suspend,
        form_kwargs={"required": False},
        title="Suspendre l'accompagnement",
        intro="Par exemple pendant une hospitalisation ou à la demande de l'assuré.",
        submit_label="Suspendre",
        success="Accompagnement suspendu.",
    )


def case_resume(request, pk):
    return _status_view(
        request,
        pk,
        service=services.case_resume,
        form_kwargs={"required": False},
        title="Reprendre l'accompagnement",
        intro="",
        submit_label="Reprendre",
        success="Accompagnement repris.",
    )


def case_referent(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_change_referent)
    form = ReferentForm(request.POST or None, case=case)
    if request.method == "POST" and form.is_valid():
        done = apply_service(
            form,
            services.case_change_referent,
            accompagnement=case,
            acting_user=request.user,
            referent=form.cleaned_data["referent"],
        )
        if done:
            messages.success(request, f"Nouveau référent du parcours : {case.referent}.")
            return redirect(_case_url(case))
    return _form_page(
        request,
        case,
        form,
        title="Changer le référent du parcours",
        intro=f"Référent actuel : {case.referent}.",
        submit_label="Changer de référent",
    )


P = "accompagnements/<int:pk>/"

urlpatterns = [
    path(
        "signalements/<int:pk>/accompagnement/",
        signalement_open_case,
        name="signalement_open_case",
    ),
    path(P, accompagnement_detail, name="accompagnement_detail"),
    path(P + "notes/ajouter/", note_create, name="note_create"),
    path(P + "evaluations/", evaluation_list, name="evaluation_list"),
    path(P + "evaluations/nouvelle/", evaluation_create, name="evaluation_create"),
    path(P + "evaluations/<int:version>/", evaluation_detail, name="evaluation_detail"),
    path(P + "plan/", plan_detail, name="plan_detail"),
    path(P + "plan/imprimer/", plan_print, name="plan_print"),
    path(P + "plan/objectifs/ajouter/", objectif_create, name="objectif_create"),
    path(P + "plan/objectifs/<int:objectif_pk>/modifier/", objectif_update, name="objectif_update"),
    path(
        P + "plan/objectifs/<int:objectif_pk>/actions/ajouter/",
        action_create,
        name="action_create",
    ),
    path(P + "plan/actions/<int:action_pk>/basculer/", action_toggle, name="action_toggle"),
    path(P + "orientations/ajouter/", orientation_create, name="orientation_create"),
    path(P + "orientations/<int:orientation_pk>/", orientation_update, name="orientation_update"),
    path(P + "consentements/ajouter/", consentement_create, name="consentement_create"),
    path(
        P + "consentements/<int:consentement_pk>/revoquer/",
        consentement_revoke,
        name="consentement_revoke",
    ),
    path(P + "cloturer/", cloture_create, name="cloture_create"),
    path(P + "rouvrir/", case_reopen, name="case_reopen"),
    path(P + "suspendre/", case_suspend, name="case_suspend"),
    path(P + "reprendre/", case_resume, name="case_resume"),
    path(P + "referent/", case_referent, name="case_referent"),
    path(P + "partages/ajouter/", case_share_create, name="case_share_create"),
    path(P + "partages/<int:share_pk>/retirer/", case_share_revoke, name="case_share_revoke"),
]
