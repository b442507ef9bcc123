"""The meeting pages of the cellule PDP: plan a meeting, and run it live on one page (status
steps, attendance, agenda with the fiches, synthèse, decisions and actions, addenda once the
minutes are validated).

Every view fetches the meeting through `get_reunion_for_user` (not visible → 404: coordinators
of other instances, anyone not invited); the changes are for the instance's coordinators
(`can_run_reunion`, else 403) and go through `coordination.services`. Invited members read the
same page without any form. A fiche shows only while its consent holds
(`Saisine.fiche_lisible`); every fiche shown writes a row of the access log
(`services.fiches_read`). The in-page forms post with htmx and get their partial back (the
attendance row, the agenda item); without JavaScript they are ordinary POST + redirect forms.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from coordination import services
from coordination.forms_reunion import (
    ActionForm,
    AddendumForm,
    DecisionForm,
    PointForm,
    PresenceForm,
    ReunionForm,
)
from coordination.models import (
    ActionInstance,
    Decision,
    MembreInstance,
    PointOrdreDuJour,
    Reunion,
    Saisine,
    TypeDecision,
)
from coordination.permissions import (
    can_run_reunion,
    get_instance_for_user,
    get_reunion_for_user,
    is_coordinator,
)
from pdp.forms import apply_service
from pdp.permissions import FORBIDDEN_MESSAGE

R = Reunion.Statut
HELD = (R.TENUE, R.CR_RELECTURE, R.CR_VALIDE)
HISTORY_SHOWN = 20
READ_PAGE = "réunion"
# The fiche as the committee reads it: the reference (with the initials) heads the card and the
# urgency is a badge; the other fields are listed in this order.
FICHE_LISTED = [name for name in Saisine.FICHE_FIELDS if name not in ("initiales", "urgence")]


# --- Fetching and small helpers ---------------------------------------------------------------


def _get_reunion(user, pk, *, run=False):
    """The meeting if visible (else 404); with `run`, only for its coordinators (else 403).
    The coordinator check is made once and kept on the instance for the services."""
    reunion = get_reunion_for_user(user, pk)
    reunion.instance.user_is_coordinator = is_coordinator(user, reunion.instance)
    if run and not can_run_reunion(user, reunion):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    return reunion


def _get_point(reunion, point_pk):
    point = get_object_or_404(
        PointOrdreDuJour.objects.select_related("saisine__consentement"),
        pk=point_pk,
        reunion=reunion,
    )
    point.reunion = reunion
    return point


def _detail_url(reunion, anchor=""):
    url = reverse("coordination:reunion_detail", args=[reunion.pk])
    return f"{url}#{anchor}" if anchor else url


def _unless_withdrawn(point, service):
    """`service`, refused first for a situation withdrawn at the person's request: the page
    shows no form for it, and the server says no as well."""

    def call(**kwargs):
        if not point.saisine.fiche_lisible:
            raise ValidationError(
                f"La situation n° {point.saisine_id} a été retirée à la demande de l'assuré\u00a0: "
                "elle ne peut plus être modifiée."
            )
        return service(**kwargs)

    return call


def _minutes_links(reunion):
    """The minutes PDF and the relevé de décisions exist once their views are mounted."""
    if reunion.statut not in HELD:
        return False
    try:
        reverse("coordination:reunion_minutes_pdf", args=[reunion.pk])
        reverse("coordination:reunion_releve", args=[reunion.pk])
    except NoReverseMatch:
        return False
    return True


# --- Building the page ------------------------------------------------------------------------


def _fiche(saisine):
    rows = []
    for name in FICHE_LISTED:
        field = Saisine._meta.get_field(name)
        if field.choices:
            value = getattr(saisine, f"get_{name}_display")() if getattr(saisine, name) else ""
        else:
            value = getattr(saisine, name)
        rows.append((field.verbose_name, value))
    return rows


def _points(reunion, only=None):
    """The agenda with everything the page shows, in a fixed number of queries: the items with
    their situation, decisions and actions, and for follow-ups the earlier examinations."""
    earlier = (
        PointOrdreDuJour.objects.filter(reunion__statut__in=HELD, reunion__debut__lt=reunion.debut)
        .exclude(reunion_id=reunion.pk)
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
        .order_by("reunion__debut", "pk")
    )
    qs = (
        PointOrdreDuJour.objects.filter(reunion=reunion)
        .select_related("saisine__consentement", "saisine__accompagnement")
        .prefetch_related(
            Prefetch("decisions", queryset=Decision.objects.select_related("type")),
            Prefetch(
                "actions",
                queryset=ActionInstance.objects.select_related(
                    "responsable__user", "responsable__contact"
                ),
            ),
            Prefetch("saisine__points", queryset=earlier, to_attr="earlier_points"),
        )
        .order_by("ordre", "pk")
    )
    if only is not None:
        qs = qs.filter(pk=only)
    points = list(qs)
    for point in points:
        point.reunion = reunion
        point.lisible = point.saisine.fiche_lisible
        point.fiche = _fiche(point.saisine) if point.lisible else []
    return points


def _pick_lists(reunion):
    """The decision types and the members an action may be given to (active on the date)."""
    day = timezone.localtime(reunion.debut).date()
    types = list(TypeDecision.objects.filter(actif=True))
    membres = list(
        MembreInstance.objects.active(day)
        .filter(instance_id=reunion.instance_id)
        .select_related("user", "contact")
    )
    return types, membres


def _attach_forms(point, types, membres, bound=None):
    """The item's three forms, unbound unless `bound` holds the one just refused."""
    bound = bound or {}
    point.point_form = bound.get("point_form") or PointForm(point=point)
    point.decision_form = bound.get("decision_form") or DecisionForm(point=point, types=types)
    point.action_form = bound.get("action_form") or ActionForm(point=point, membres=membres)


def _steps(reunion):
    """The next status steps the coordinator may take (slug, label, confirmation or "")."""
    return [
        (slug, STEPS[slug][0], STEPS[slug][3]) for slug in STEPS_BY_STATUS.get(reunion.statut, [])
    ]


def _presences(reunion):
    return list(reunion.presences.select_related("membre__user", "membre__contact"))


def _detail_response(
    request, reunion, *, bound_points=None, bound_presences=None, addendum_form=None
):
    """The meeting page. `bound_*` carry the forms a refused POST without JavaScript shows
    again with their errors: {point pk: {"decision_form": form}}, {presence pk: form}."""
    user = request.user
    coordinator = reunion.instance.user_is_coordinator
    can_edit = coordinator and reunion.is_editable
    bound_points = bound_points or {}
    bound_presences = bound_presences or {}

    presences = _presences(reunion)
    quorum_reached, quorum_explanation = services.quorum(reunion, presences)
    points = _points(reunion)
    if can_edit:
        types, membres = _pick_lists(reunion)
        for presence in presences:
            presence.reunion = reunion
            presence.form = bound_presences.get(presence.pk) or PresenceForm(presence=presence)
        for point in points:
            if point.lisible:
                _attach_forms(point, types, membres, bound_points.get(point.pk))
    services.fiches_read(
        user=user, saisines=[p.saisine for p in points if p.lisible], page=READ_PAGE
    )
    if addendum_form is None and coordinator and reunion.is_locked:
        addendum_form = AddendumForm()
    context = {
        "reunion": reunion,
        "instance": reunion.instance,
        "coordinator": coordinator,
        "can_edit": can_edit,
        "can_edit_slot": coordinator and reunion.statut in Reunion.NOT_HELD,
        "steps": _steps(reunion) if coordinator else [],
        "presences": presences,
        "quorum_reached": quorum_reached,
        "quorum_explanation": quorum_explanation,
        "points": points,
        "addenda": list(reunion.addenda.select_related("created_by")),
        "addendum_form": addendum_form,
        "events": (
            list(reunion.events.select_related("actor")[:HISTORY_SHOWN]) if coordinator else []
        ),
        "minutes_links": _minutes_links(reunion),
    }
    return render(request, "coordination/reunion_detail.html", context)


def _point_response(request, reunion, point_pk, *, bound=None, saved="", error=""):
    """htmx: the agenda item alone, as the page shows it."""
    point = _points(reunion, only=point_pk)[0]
    can_edit = reunion.instance.user_is_coordinator and reunion.is_editable
    if can_edit and point.lisible:
        types, membres = _pick_lists(reunion)
        _attach_forms(point, types, membres, bound)
    if point.lisible:
        services.fiches_read(user=request.user, saisines=[point.saisine], page=READ_PAGE)
    return render(
        request,
        "coordination/reunion_point.html",
        {
            "reunion": reunion,
            "point": point,
            "can_edit": can_edit,
            "saved": saved,
            "error": error,
        },
    )


def _errors(form):
    return " ".join(message for errors in form.errors.values() for message in errors)


def _point_done(request, reunion, point, form, *, success, form_name):
    """After a POST on an agenda item: the item partial for htmx; else a redirect to it, or the
    page with the refused form. A refusal where the item shows no form (minutes locked,
    situation withdrawn, meeting not open yet) is said as a message instead."""
    ok = not form.errors
    shows_form = reunion.is_editable and point.saisine.fiche_lisible
    if request.htmx:
        return _point_response(
            request,
            reunion,
            point.pk,
            bound=None if ok or not shows_form else {form_name: form},
            saved=success if ok else "",
            error="" if ok or shows_form else _errors(form),
        )
    if ok:
        messages.success(request, success)
        return redirect(_detail_url(reunion, f"point-{point.pk}"))
    if not shows_form:
        messages.error(request, _errors(form))
        return redirect(_detail_url(reunion, f"point-{point.pk}"))
    return _detail_response(request, reunion, bound_points={point.pk: {form_name: form}})


# --- Planning ---------------------------------------------------------------------------------


def reunion_create(request, pk):
    instance = get_instance_for_user(request.user, pk, is_coordinator)
    form = ReunionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reunion = apply_service(
            form,
            services.reunion_plan,
            instance=instance,
            acting_user=request.user,
            debut=form.debut(),
            lieu=form.cleaned_data["lieu"],
            lien_visio=form.cleaned_data["lien_visio"],
        )
        if reunion:
            count = reunion.points.count()
            messages.success(
                request,
                f"Réunion planifiée\u00a0: {count} situation{'s' if count > 1 else ''} "
                "à l'ordre du jour.",
            )
            return redirect(_detail_url(reunion))
    return render(
        request,
        "coordination/reunion_form.html",
        {
            "instance": instance,
            "reunion": None,
            "form": form,
            "title": "Planifier une réunion",
            "submit_label": "Planifier",
            "cancel_url": "",
        },
    )


def reunion_edit(request, pk):
    reunion = _get_reunion(request.user, pk, run=True)
    if reunion.statut not in Reunion.NOT_HELD:
        messages.error(request, "La réunion est tenue\u00a0: sa date et son lieu ne changent plus.")
        return redirect(_detail_url(reunion))
    form = ReunionForm(request.POST or None, initial=ReunionForm.initial_for(reunion))
    if request.method == "POST" and form.is_valid():
        updated = apply_service(
            form,
            services.reunion_update,
            reunion=reunion,
            acting_user=request.user,
            debut=form.debut(),
            lieu=form.cleaned_data["lieu"],
            lien_visio=form.cleaned_data["lien_visio"],
        )
        if updated:
            messages.success(request, "Réunion modifiée.")
            return redirect(_detail_url(reunion))
    return render(
        request,
        "coordination/reunion_form.html",
        {
            "instance": reunion.instance,
            "reunion": reunion,
            "form": form,
            "title": "Modifier la réunion",
            "submit_label": "Enregistrer",
            "cancel_url": _detail_url(reunion),
        },
    )


# --- The meeting page and its status steps ----------------------------------------------------


def reunion_detail(request, pk):
    reunion = _get_reunion(request.user, pk)
    return _detail_response(request, reunion)


def _refreshed(result):
    added, removed = result
    return f"Ordre du jour actualisé\u00a0: {added} ajoutée(s), {removed} retirée(s)."


# slug: (button label, service, success message or a function of the service's result,
#        confirmation asked before posting or "")
STEPS = {
    "actualiser-odj": (
        "Actualiser l'ordre du jour",
        services.agenda_refresh,
        _refreshed,
        "",
    ),
    "arreter-odj": (
        "Arrêter l'ordre du jour",
        services.reunion_freeze_agenda,
        "Ordre du jour arrêté.",
        "",
    ),
    "tenue": (
        "Marquer la réunion comme tenue",
        services.reunion_mark_held,
        "Réunion marquée comme tenue.",
        "",
    ),
    "relecture": (
        "Soumettre le compte rendu à la relecture",
        services.reunion_submit_minutes,
        "Compte rendu soumis à la relecture.",
        "",
    ),
    "valider": (
        "Valider le compte rendu",
        services.reunion_validate_minutes,
        "Compte rendu validé et verrouillé.",
        "Valider le compte rendu\u00a0? Il sera verrouillé\u00a0: les corrections ultérieures"
        " passeront par un addendum.",
    ),
}
STEPS_BY_STATUS = {
    R.PLANIFIEE: ["actualiser-odj", "arreter-odj"],
    R.ODJ_ARRETE: ["tenue"],
    R.TENUE: ["relecture"],
    R.CR_RELECTURE: ["valider"],
}


@require_POST
def reunion_step(request, pk, step):
    if step not in STEPS:
        raise Http404("Étape inconnue.")
    reunion = _get_reunion(request.user, pk, run=True)
    _label, service, success, _confirm = STEPS[step]
    try:
        result = service(reunion=reunion, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success(result) if callable(success) else success)
    return redirect(_detail_url(reunion))


# --- Attendance -------------------------------------------------------------------------------


@require_POST
def presence_update(request, pk, presence_pk):
    reunion = _get_reunion(request.user, pk, run=True)
    presence = get_object_or_404(
        reunion.presences.select_related("membre__user", "membre__contact"), pk=presence_pk
    )
    presence.reunion = reunion
    form = PresenceForm(request.POST, presence=presence)
    saved = form.is_valid() and apply_service(
        form,
        services.presence_set,
        presence=presence,
        acting_user=request.user,
        **form.cleaned_data,
    )
    # Where the row shows no form (the agenda not frozen yet, the minutes locked), a refusal is
    # said as a message.
    shows_form = reunion.is_editable
    if request.htmx:
        reached, explanation = services.quorum(reunion, _presences(reunion))
        presence.form = form if not saved else PresenceForm(presence=presence)
        return render(
            request,
            "coordination/reunion_presence_row.html",
            {
                "reunion": reunion,
                "presence": presence,
                "can_edit": shows_form,
                "saved": "Présence enregistrée." if saved else "",
                "error": "" if saved or shows_form else _errors(form),
                "oob_quorum": True,
                "quorum_reached": reached,
                "quorum_explanation": explanation,
            },
        )
    if saved:
        messages.success(request, f"Présence de {presence.membre.nom} enregistrée.")
        return redirect(_detail_url(reunion, f"presence-{presence.pk}"))
    if not shows_form:
        messages.error(request, _errors(form))
        return redirect(_detail_url(reunion, f"presence-{presence.pk}"))
    return _detail_response(request, reunion, bound_presences={presence.pk: form})


# --- Agenda items: synthèse, decisions, actions ---------------------------------------------


@require_POST
def point_update(request, pk, point_pk):
    reunion = _get_reunion(request.user, pk, run=True)
    point = _get_point(reunion, point_pk)
    form = PointForm(request.POST, point=point)
    if form.is_valid():
        apply_service(
            form,
            _unless_withdrawn(point, services.point_update),
            point=point,
            acting_user=request.user,
            **form.cleaned_data,
        )
    return _point_done(
        request, reunion, point, form, success="Synthèse enregistrée.", form_name="point_form"
    )


@require_POST
def decision_create(request, pk, point_pk):
    reunion = _get_reunion(request.user, pk, run=True)
    point = _get_point(reunion, point_pk)
    types, _membres = _pick_lists(reunion)
    form = DecisionForm(request.POST, point=point, types=types)
    decision = None
    if form.is_valid():
        decision = apply_service(
            form,
            _unless_withdrawn(point, services.decision_add),
            point=point,
            acting_user=request.user,
            **form.cleaned_data,
        )
    success = "Décision enregistrée."
    if decision is not None and decision.provisoire:
        success = (
            "Décision enregistrée comme provisoire (sans quorum)\u00a0: la situation reviendra."
        )
    return _point_done(request, reunion, point, form, success=success, form_name="decision_form")


@require_POST
def decision_delete(request, pk, point_pk, decision_pk):
    reunion = _get_reunion(request.user, pk, run=True)
    point = _get_point(reunion, point_pk)
    decision = get_object_or_404(
        Decision.objects.select_related("type"), pk=decision_pk, point=point
    )
    decision.point = point
    error = ""
    try:
        _unless_withdrawn(point, services.decision_remove)(
            decision=decision, acting_user=request.user
        )
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx:
        return _point_response(
            request, reunion, point.pk, saved="" if error else "Décision retirée.", error=error
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Décision «\u00a0{decision.type}\u00a0» retirée.")
    return redirect(_detail_url(reunion, f"point-{point.pk}"))


@require_POST
def action_create(request, pk, point_pk):
    reunion = _get_reunion(request.user, pk, run=True)
    point = _get_point(reunion, point_pk)
    _types, membres = _pick_lists(reunion)
    form = ActionForm(request.POST, point=point, membres=membres)
    if form.is_valid():
        apply_service(
            form,
            _unless_withdrawn(point, services.action_add),
            point=point,
            acting_user=request.user,
            **form.cleaned_data,
        )
    return _point_done(
        request, reunion, point, form, success="Action enregistrée.", form_name="action_form"
    )


# --- Addenda (validated minutes) --------------------------------------------------------------


@require_POST
def addendum_create(request, pk):
    reunion = _get_reunion(request.user, pk, run=True)
    form = AddendumForm(request.POST)
    if form.is_valid():
        addendum = apply_service(
            form,
            services.addendum_add,
            reunion=reunion,
            acting_user=request.user,
            texte=form.cleaned_data["texte"],
        )
        if addendum:
            messages.success(request, "Addendum ajouté au compte rendu.")
            return redirect(_detail_url(reunion, "addenda"))
    if not reunion.is_locked:  # the page shows no addendum form yet
        messages.error(request, _errors(form))
        return redirect(_detail_url(reunion))
    return _detail_response(request, reunion, addendum_form=form)


urlpatterns = [
    path("instances/<int:pk>/reunions/nouvelle/", reunion_create, name="reunion_create"),
    path("reunions/<int:pk>/", reunion_detail, name="reunion_detail"),
    path("reunions/<int:pk>/modifier/", reunion_edit, name="reunion_edit"),
    path("reunions/<int:pk>/etape/<slug:step>/", reunion_step, name="reunion_step"),
    path(
        "reunions/<int:pk>/presences/<int:presence_pk>/",
        presence_update,
        name="reunion_presence_update",
    ),
    path("reunions/<int:pk>/points/<int:point_pk>/", point_update, name="reunion_point_update"),
    path(
        "reunions/<int:pk>/points/<int:point_pk>/decisions/",
        decision_create,
        name="reunion_decision_create",
    ),
    path(
        "reunions/<int:pk>/points/<int:point_pk>/decisions/<int:decision_pk>/retirer/",
        decision_delete,
        name="reunion_decision_delete",
    ),
    path(
        "reunions/<int:pk>/points/<int:point_pk>/actions/",
        action_create,
        name="reunion_action_create",
    ),
    path("reunions/<int:pk>/addenda/", addendum_create, name="reunion_addendum_create"),
]
