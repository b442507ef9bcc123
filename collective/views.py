"""Staff pages of collective actions: the region's list, create and edit, the action's page
(sessions, validations and their history, the status steps, the participants section, the
history), the validation queues (a unit's manager, the region's « Encadrement régional ») and
the regional calendar.

Every view fetches through `collective.permissions.get_action_for_user` (not visible → 404:
another region, a role that sees no action; visible but not allowed → 403) and changes state
only through `collective.services`. The pages of the lists use a constant number of queries.
"""

import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Value,
    When,
)
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from collective import participants, services
from collective.forms import (
    REGIONAL_CHOICE,
    ActionForm,
    CancelForm,
    CommentForm,
    ListFilterForm,
    SeanceForm,
)
from collective.models import (
    ActionCollective,
    ActionStatus,
    Seance,
    Validation,
    ValidationLevel,
    ValidationStatus,
)
from collective.permissions import (
    can_create_action,
    can_run_action,
    can_see_participants,
    can_validate_region,
    can_validate_unit,
    get_action_for_user,
)
from collective.views_participants import audit_section
from pdp.forms import apply_service
from pdp.models import Role
from pdp.permissions import FORBIDDEN_MESSAGE, is_manager

S = ActionStatus
PAGE_SIZE = 50
HISTORY_SHOWN = 30
CALENDAR_STATUSES = (S.PUBLIEE, S.EN_COURS, S.TERMINEE)
STAFF_ROLES = (Role.ASS, Role.CONSEILLER, Role.MANAGER, Role.REGIONAL)
NOT_STAFF = "Les actions collectives sont pour les équipes du service social de la région."
NOT_VALIDATOR = "Les validations sont pour les responsables d'unité et l'encadrement régional."
CANCEL = "annuler"


# --- Helpers ----------------------------------------------------------------------------------


def _require_staff(user):
    """The region's staff (the roles `ActionCollective.objects.visible_to` lets see)."""
    if user.is_admin or user.role not in STAFF_ROLES:
        raise PermissionDenied(NOT_STAFF)
    if user.role == Role.REGIONAL and user.region_id is None:
        raise PermissionDenied(NOT_STAFF)


def _region_id(user):
    return user.unit.region_id if user.unit_id else user.region_id


def _detail_url(action, anchor=""):
    url = reverse("collective:action_detail", args=[action.pk])
    return f"{url}#{anchor}" if anchor else url


def _get_action(user, pk, rule=None):
    action = get_action_for_user(user, pk, rule)
    return action


def _decision_form_ids(validation, decision):
    """The approve and refuse forms of a validation post the same field name (`v<pk>-…`)
    under ids of their own."""
    return {"prefix": f"v{validation.pk}", "auto_id": f"id_{decision}_%s"}


def _errors(form):
    return " ".join(message for errors in form.errors.values() for message in errors)


def _validation_scope(user):
    """The pending validations `user` answers (a QuerySet), or None when they answer none."""
    if is_manager(user):
        return Validation.objects.filter(niveau=ValidationLevel.UNITE, action__unit_id=user.unit_id)
    if user.role == Role.REGIONAL and user.region_id:
        return Validation.objects.filter(
            niveau=ValidationLevel.REGION, action__region_id=user.region_id
        )
    return None


def _tabs(user, current):
    """The collective pages' own tabs: the list, the queue (for validators, with its count),
    the calendar."""
    scope = _validation_scope(user)
    pending = None
    if scope is not None:
        pending = (
            scope.filter(statut=ValidationStatus.DEMANDEE)
            .exclude(action__statut__in=services.CLOSED)
            .count()
        )
    return {"current": current, "pending": pending, "validator": scope is not None}


# --- The list ---------------------------------------------------------------------------------


def action_list(request):
    user = request.user
    _require_staff(user)
    region_id = _region_id(user)
    form = ListFilterForm(request.GET or None, region_id=region_id)
    now = timezone.now()
    co_leads = ActionCollective.co_animateurs.through.objects.filter(
        actioncollective_id=OuterRef("pk"), user_id=user.pk
    )
    qs = (
        ActionCollective.objects.visible_to(user)
        .select_related("type", "theme", "unit", "animateur")
        .annotate(
            n_seances=Count("seances", distinct=True),
            prochaine=Min("seances__debut", filter=Q(seances__debut__gte=now)),
            mine=Case(
                When(Q(animateur_id=user.pk) | Q(Exists(co_leads)), then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .order_by("mine", "-created_at", "-pk")
    )
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["type"]:
            qs = qs.filter(type=data["type"])
        if data["statut"]:
            qs = qs.filter(statut=data["statut"])
        if data["unit"] == REGIONAL_CHOICE:
            qs = qs.filter(unit__isnull=True)
        elif data["unit"]:
            qs = qs.filter(unit_id=data["unit"])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "collective/action_list.html",
        {
            "form": form,
            "page": page,
            "actions": page.object_list,
            "query": query.urlencode(),
            "can_create": can_create_action(user),
            "tabs": _tabs(user, "list"),
        },
    )


# --- Create and edit --------------------------------------------------------------------------


def _form_lists(user, action=None):
    region_id = action.region_id if action is not None else _region_id(user)
    unit_id = action.unit_id if action is not None else user.unit_id
    animateur = action.animateur_id if action is not None else user.pk
    units = None
    if not services.has_unit_role(user):
        units = services.unit_choices(user)
        if action is not None and action.unit not in units:
            units = [action.unit, *units]
    return {
        "units": units,
        "co_animateurs": services.co_animateur_choices(region_id, unit_id, exclude=animateur),
        "partenaires": services.partner_choices(region_id),
    }


def action_create(request):
    user = request.user
    _require_staff(user)
    if not can_create_action(user):
        raise PermissionDenied("Votre rôle ne crée pas d'action collective.")
    form = ActionForm(request.POST or None, **_form_lists(user))
    if request.method == "POST" and form.is_valid():
        action = apply_service(
            form, services.action_create, acting_user=user, **form.service_kwargs()
        )
        if action:
            messages.success(
                request, "Action créée. Ajoutez ses séances, puis demandez sa validation."
            )
            return redirect(_detail_url(action))
    return render(
        request,
        "collective/action_form.html",
        {"form": form, "action": None, "title": "Nouvelle action collective"},
    )


def action_edit(request, pk):
    action = _get_action(request.user, pk, can_run_action)
    action = ActionCollective.objects.prefetch_related("validations").get(pk=action.pk)
    if action.statut in services.CLOSED:
        messages.error(request, "L'action est terminée ou annulée\u00a0: elle ne change plus.")
        return redirect(_detail_url(action))
    allowed = services.editable_fields(action)
    locked = [name for name in services.CONTENT_FIELDS if name not in allowed]
    form = ActionForm(
        request.POST or None,
        action=action,
        locked=locked,
        **_form_lists(request.user, action),
    )
    if request.method == "POST" and form.is_valid():
        updated = apply_service(
            form,
            services.action_update,
            action=action,
            acting_user=request.user,
            **form.service_kwargs(),
        )
        if updated:
            messages.success(request, "Action enregistrée.")
            return redirect(_detail_url(action))
    return render(
        request,
        "collective/action_form.html",
        {"form": form, "action": action, "title": "Modifier l'action", "locked": locked},
    )


# --- The action's page ------------------------------------------------------------------------


def _load(user, pk, rule=None):
    """The action with what its page shows, in a fixed number of queries."""
    action = _get_action(user, pk, rule)
    action = (
        ActionCollective.objects.select_related("type", "theme", "unit", "region", "animateur")
        .prefetch_related(
            Prefetch(
                "validations",
                queryset=Validation.objects.select_related("demandee_par", "decidee_par"),
            ),
            "seances",
            "co_animateurs__unit",
            "partenaires__partner",
        )
        .get(pk=action.pk)
    )
    action.user_is_co_animateur = any(u.pk == user.pk for u in action.co_animateurs.all())
    return action


def _detail_response(request, action, *, bound=None, status=200):
    """The action's page. `bound` holds a refused form to show again with its errors:
    {"step": slug, "form": form} or {"validation": pk, "form": form}."""
    user = request.user
    bound = bound or {}
    now = timezone.now()
    runs = can_run_action(user, action)
    seances = list(action.seances.all())
    count = len(seances)
    for seance in seances:
        seance.fin = seance.debut + datetime.timedelta(minutes=seance.duree_minutes)
        seance.future = seance.debut > now
    latest = services.latest_validations(action)
    levels = []
    for level in services.required_levels(action.type):
        validation = latest.get(level)
        levels.append(
            {
                "niveau": level,
                "label": services.LEVEL_LABELS[level],
                "validation": validation,
                "problem": services.request_problem(action, level, count) if runs else "",
            }
        )
        problem = levels[-1]["problem"]
        levels[-1]["problem_inline"] = problem[:1].lower() + problem[1:]
    pending = []
    for validation in latest.values():
        if validation.statut != ValidationStatus.DEMANDEE:
            continue
        validation.action = action
        if services.can_decide(user, validation):
            form = CommentForm(
                **_decision_form_ids(validation, "approuver"), label="Commentaire (facultatif)"
            )
            refuse = CommentForm(
                **_decision_form_ids(validation, "refuser"), required=True, label="Motif du refus"
            )
            if bound.get("validation") == validation.pk:
                refuse = bound["form"]
            pending.append(
                {
                    "validation": validation,
                    "label": services.LEVEL_LABELS[validation.niveau],
                    "approve": form,
                    "refuse": refuse,
                }
            )
    steps = []
    if runs:
        for slug in services.next_steps(action):
            problems = []
            if slug in ("publier", "demarrer"):
                problems = services.publish_problems(action, count)
            elif slug == "terminer":
                problem = services.finish_problem(action)
                problems = [problem] if problem else []
            form = CommentForm(prefix=slug, label="Commentaire (facultatif)")
            if bound.get("step") == slug:
                form = bound["form"]
            steps.append(
                {
                    "slug": slug,
                    "label": services.STEP_LABELS[slug],
                    "problems": problems,
                    "form": form,
                }
            )
    requestable = [level for level in levels if runs and not level["problem"]]
    settled = (ValidationStatus.APPROUVEE, ValidationStatus.DEMANDEE)
    blocked = [
        level
        for level in levels
        if runs
        and level["problem"]
        and action.statut not in services.CLOSED
        and not (level["validation"] and level["validation"].statut in settled)
    ]
    waiting = ", ".join(
        level["label"]
        for level in levels
        if level["validation"] and level["validation"].statut == ValidationStatus.DEMANDEE
    )
    cancel_form = None
    if runs and action.statut not in services.CLOSED:
        cancel_form = bound["form"] if bound.get("step") == CANCEL else CancelForm()
    validator = can_validate_unit(user, action) or can_validate_region(user, action)
    shows_history = runs or validator
    context = {
        "action": action,
        "runs": runs,
        "editable": runs and action.statut not in services.CLOSED,
        "seances": seances,
        "levels": levels,
        "validations": sorted(
            action.validations.all(), key=lambda v: (v.demandee_le, v.pk), reverse=True
        ),
        "pending": pending,
        "requestable": requestable,
        "blocked": [] if waiting else blocked,
        "waiting": waiting if action.statut not in services.CLOSED else "",
        "steps": steps,
        "cancel_form": cancel_form,
        "co_animateurs": list(action.co_animateurs.all()),
        "partenaires": list(action.partenaires.all()),
        "events": (
            list(action.events.select_related("actor")[:HISTORY_SHOWN]) if shows_history else []
        ),
        "shows_history": shows_history,
        "show_participants": can_see_participants(user, action),
        "tabs": _tabs(user, "list"),
    }
    if context["show_participants"]:
        section = participants.section_context(user, action)
        audit_section(user, section, "collective_action")
        context["participants_section"] = section
    return render(request, "collective/action_detail.html", context, status=status)


def action_detail(request, pk):
    action = _load(request.user, pk)
    return _detail_response(request, action)


# slug: (service, success message)
STEPS = {
    "publier": (services.action_publish, "Action publiée."),
    "demarrer": (services.action_start, "Action commencée."),
    "terminer": (services.action_finish, "Action terminée."),
}


@require_POST
def action_step(request, pk, step):
    if step not in STEPS and step != CANCEL:
        raise Http404("Étape inconnue.")
    action = _load(request.user, pk, can_run_action)
    if action.statut in services.CLOSED:
        messages.error(request, "L'action est terminée ou annulée\u00a0: elle ne change plus.")
        return redirect(_detail_url(action))
    if step == CANCEL:
        form = CancelForm(request.POST)
        if form.is_valid():
            done = apply_service(
                form,
                services.action_cancel,
                action=action,
                acting_user=request.user,
                reason=form.cleaned_data["reason"],
            )
            if done:
                messages.success(request, "Action annulée.")
                return redirect(_detail_url(action))
        action = _load(request.user, pk, can_run_action)
        return _detail_response(request, action, bound={"step": CANCEL, "form": form}, status=400)
    service, success = STEPS[step]
    form = CommentForm(request.POST, prefix=step)
    if form.is_valid():
        try:
            service(
                action=action,
                acting_user=request.user,
                commentaire=form.cleaned_data["commentaire"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, success)
            return redirect(_detail_url(action))
    else:
        messages.error(request, _errors(form))
    return redirect(_detail_url(action, "etapes"))


# --- Sessions ---------------------------------------------------------------------------------


def _seance_page(request, action, form, seance=None):
    return render(
        request,
        "collective/seance_form.html",
        {
            "action": action,
            "seance": seance,
            "form": form,
            "title": "Modifier la séance" if seance else "Ajouter une séance",
        },
    )


def _require_open(request, action):
    if action.statut in services.CLOSED:
        messages.error(
            request, "L'action est terminée ou annulée\u00a0: ses séances ne changent plus."
        )
        return redirect(_detail_url(action, "seances"))
    return None


def seance_create(request, pk):
    action = _get_action(request.user, pk, can_run_action)
    closed = _require_open(request, action)
    if closed:
        return closed
    form = SeanceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        seance = apply_service(
            form,
            services.seance_add,
            action=action,
            acting_user=request.user,
            **form.service_kwargs(),
        )
        if seance:
            messages.success(request, "Séance ajoutée.")
            return redirect(_detail_url(action, "seances"))
    return _seance_page(request, action, form)


def _get_seance(action, seance_pk):
    seance = get_object_or_404(Seance, pk=seance_pk, action=action)
    seance.action = action
    return seance


def seance_edit(request, pk, seance_pk):
    action = _get_action(request.user, pk, can_run_action)
    closed = _require_open(request, action)
    if closed:
        return closed
    seance = _get_seance(action, seance_pk)
    if seance.debut <= timezone.now():
        messages.error(request, "Cette séance a commencé ou est passée\u00a0: elle ne change plus.")
        return redirect(_detail_url(action, "seances"))
    form = SeanceForm(request.POST or None, initial=SeanceForm.initial_for(seance))
    if request.method == "POST" and form.is_valid():
        saved = apply_service(
            form,
            services.seance_update,
            seance=seance,
            acting_user=request.user,
            **form.service_kwargs(),
        )
        if saved:
            messages.success(request, "Séance modifiée.")
            return redirect(_detail_url(action, "seances"))
    return _seance_page(request, action, form, seance)


@require_POST
def seance_delete(request, pk, seance_pk):
    action = _get_action(request.user, pk, can_run_action)
    seance = _get_seance(action, seance_pk)
    try:
        services.seance_delete(seance=seance, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Séance supprimée.")
    return redirect(_detail_url(action, "seances"))


# --- Validations ------------------------------------------------------------------------------


@require_POST
def validation_request(request, pk, niveau):
    if niveau not in ValidationLevel.values:
        raise Http404("Niveau inconnu.")
    action = _get_action(request.user, pk, can_run_action)
    try:
        services.validation_request(action=action, acting_user=request.user, niveau=niveau)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Validation {services.LEVEL_LABELS[niveau]} demandée.")
    return redirect(_detail_url(action, "validations"))


def _get_validation(user, validation_pk):
    """The validation of an action visible to `user` (else 404), that `user` may decide
    (else 403)."""
    validation = get_object_or_404(
        Validation.objects.select_related("action__type"), pk=validation_pk
    )
    action = _get_action(user, validation.action_id)
    validation.action = action
    if not services.can_decide(user, validation):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    return validation


@require_POST
def validation_decide(request, validation_pk, decision):
    if decision not in ("approuver", "refuser"):
        raise Http404("Décision inconnue.")
    user = request.user
    validation = _get_validation(user, validation_pk)
    from_queue = request.POST.get("retour") == "file"
    if (
        validation.statut != ValidationStatus.DEMANDEE
        or validation.action.statut in services.CLOSED
    ):
        messages.error(request, "Cette demande de validation a déjà reçu une réponse.")
        if from_queue:
            return redirect("collective:validation_queue")
        return redirect(_detail_url(validation.action, "validations"))
    refuse = decision == "refuser"
    form = CommentForm(
        request.POST,
        **_decision_form_ids(validation, decision),
        required=refuse,
        label="Motif du refus" if refuse else "Commentaire (facultatif)",
    )
    if form.is_valid():
        service = services.validation_refuse if refuse else services.validation_approve
        done = apply_service(
            form,
            service,
            validation=validation,
            acting_user=user,
            commentaire=form.cleaned_data["commentaire"],
        )
        if done:
            label = services.LEVEL_LABELS[validation.niveau]
            messages.success(
                request,
                f"Validation {label} {'refusée' if refuse else 'accordée'}\u00a0: "
                f"«\u00a0{validation.action.titre}\u00a0».",
            )
            if from_queue:
                return redirect("collective:validation_queue")
            return redirect(_detail_url(validation.action, "validations"))
    if from_queue:
        return _queue_response(request, bound={validation.pk: form}, status=400)
    action = _load(user, validation.action_id)
    return _detail_response(
        request, action, bound={"validation": validation.pk, "form": form}, status=400
    )


def _queue_response(request, *, bound=None, status=200):
    user = request.user
    scope = _validation_scope(user)
    if scope is None:
        raise PermissionDenied(NOT_VALIDATOR)
    bound = bound or {}
    pending = list(
        scope.filter(statut=ValidationStatus.DEMANDEE)
        .exclude(action__statut__in=services.CLOSED)
        .select_related(
            "action__type", "action__theme", "action__unit", "action__animateur", "demandee_par"
        )
        .annotate(
            n_seances=Count("action__seances", distinct=True),
            premiere=Min("action__seances__debut"),
        )
        .order_by("demandee_le", "pk")
    )
    for validation in pending:
        validation.approve_form = CommentForm(
            **_decision_form_ids(validation, "approuver"), label="Commentaire (facultatif)"
        )
        validation.refuse_form = bound.get(validation.pk) or CommentForm(
            **_decision_form_ids(validation, "refuser"), required=True, label="Motif du refus"
        )
    decided = list(
        scope.exclude(statut=ValidationStatus.DEMANDEE)
        .select_related("action__type", "action__unit", "decidee_par")
        .order_by("-decidee_le", "-pk")[:20]
    )
    regional = user.role == Role.REGIONAL
    return render(
        request,
        "collective/validation_queue.html",
        {
            "pending": pending,
            "decided": decided,
            "regional": regional,
            "level_label": "régionales" if regional else "de l'unité",
            "tabs": _tabs(user, "queue"),
        },
        status=status,
    )


def validation_queue(request):
    return _queue_response(request)


# --- The regional calendar --------------------------------------------------------------------


def _month(value):
    """(first day of the month asked, error message or "")."""
    today = timezone.localdate()
    current = today.replace(day=1)
    if not value:
        return current, ""
    try:
        year, month = (int(part) for part in value.split("-"))
        first = datetime.date(year, month, 1)
    except (ValueError, TypeError):
        return current, "Mois illisible (attendu\u00a0: AAAA-MM)\u00a0: voici le mois en cours."
    if abs(first.year - today.year) > 5:
        return current, "Choisissez un mois des cinq années autour d'aujourd'hui."
    return first, ""


def _next_month(first):
    return (first + datetime.timedelta(days=32)).replace(day=1)


def calendar(request):
    user = request.user
    _require_staff(user)
    first, error = _month(request.GET.get("mois", "").strip())
    if error:
        messages.warning(request, error)
    following = _next_month(first)
    previous = (first - datetime.timedelta(days=1)).replace(day=1)
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(following, datetime.time.min, tzinfo=tz)
    seances = list(
        Seance.objects.filter(
            action__in=ActionCollective.objects.visible_to(user).filter(
                statut__in=CALENDAR_STATUSES
            ),
            debut__gte=start,
            debut__lt=end,
        )
        .select_related("action__type", "action__theme", "action__unit")
        .order_by("debut", "pk")
    )
    weeks = {}
    for seance in seances:
        local = timezone.localtime(seance.debut)
        seance.fin = local + datetime.timedelta(minutes=seance.duree_minutes)
        monday = local.date() - datetime.timedelta(days=local.weekday())
        weeks.setdefault(monday, []).append(seance)
    return render(
        request,
        "collective/calendar.html",
        {
            "month": first,
            "previous": f"{previous:%Y-%m}",
            "following": f"{following:%Y-%m}",
            "weeks": [
                {"monday": monday, "sunday": monday + datetime.timedelta(days=6), "seances": rows}
                for monday, rows in weeks.items()
            ],
            "count": len(seances),
            "tabs": _tabs(user, "calendar"),
        },
    )


urlpatterns = [
    path("", action_list, name="action_list"),
    path("nouvelle/", action_create, name="action_create"),
    path("calendrier/", calendar, name="calendar"),
    path("validations/", validation_queue, name="validation_queue"),
    path(
        "validations/<int:validation_pk>/<slug:decision>/",
        validation_decide,
        name="validation_decide",
    ),
    path("<int:pk>/", action_detail, name="action_detail"),
    path("<int:pk>/modifier/", action_edit, name="action_edit"),
    path("<int:pk>/etape/<slug:step>/", action_step, name="action_step"),
    path(
        "<int:pk>/validation/<slug:niveau>/demander/",
        validation_request,
        name="validation_request",
    ),
    path("<int:pk>/seances/nouvelle/", seance_create, name="seance_create"),
    path("<int:pk>/seances/<int:seance_pk>/modifier/", seance_edit, name="seance_edit"),
    path("<int:pk>/seances/<int:seance_pk>/supprimer/", seance_delete, name="seance_delete"),
]
