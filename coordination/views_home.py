"""The cellule PDP's home pages: the coordinator's home (per instance: next meetings,
situations waiting for a meeting, overdue actions), the instance page with its members,
« mes actions » (the actions given to a member, and their report) and « mes réunions » (the
meetings a member is invited to).

What these pages show of a person is the pseudonymous reference of a situation (number and
initials, `Saisine.reference`), never a name; each list that shows one writes its read rows
(`services.fiches_read`). Every view fetches through a scoped helper or QuerySet (not visible →
404, visible but not allowed → 403) and changes state only through `coordination.services`.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, Subquery, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from coordination import services
from coordination.forms_home import ActionReportForm, MembreAddForm, MembreEndForm
from coordination.models import (
    ActionInstance,
    Instance,
    MembreInstance,
    PointOrdreDuJour,
    Presence,
    Reunion,
    Saisine,
    Urgence,
)
from coordination.permissions import (
    get_action_for_user,
    get_instance_for_user,
    is_coordinator,
    is_partner,
)
from pdp.forms import apply_service
from pdp.models import Role

ACTIONS_PAGE_SIZE = 50
PAST_MEETINGS_PAGE_SIZE = 20
ACTION_VIEWS = ("miennes", "instances")

CELLULE_ONLY = "Ces pages sont réservées aux coordinateur·rice·s et aux membres des instances PDP."


def _url(name, *args):
    """The URL of a page of the cellule that another feature provides, or None while it does
    not exist (each feature lands on its own)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _coordinates_any(user):
    return user.role == Role.COORDINATEUR or user.instances_coordonnees.exists()


def _was_member(user):
    return MembreInstance.objects.filter(user=user).exists()


def _require_cellule_user(user):
    """Coordinators, partner accounts and whoever is or was a member of an instance; the
    administrator sees no individual record."""
    if user.is_admin:
        raise PermissionDenied(CELLULE_ONLY)
    coordinator = _coordinates_any(user)
    if not (coordinator or is_partner(user) or _was_member(user)):
        raise PermissionDenied(CELLULE_ONLY)
    return coordinator


def _reference(saisine):
    """The situation as members may read it: with its initials while the consent holds."""
    if saisine.fiche_lisible:
        return saisine.reference
    return f"n° {saisine.pk} (situation retirée à la demande de l'assuré)"


# --- The coordinator's home ------------------------------------------------------------------

URGENCY_ORDER = Case(
    When(urgence=Urgence.URGENTE, then=Value(0)),
    When(urgence=Urgence.PRIORITAIRE, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def home(request):
    """Per instance the user coordinates: the meetings whose minutes are not validated yet,
    the situations waiting for a meeting and the overdue actions. A constant number of queries
    whatever the number of instances. Members and partner accounts go to « mes réunions »."""
    user = request.user
    if user.is_admin:
        raise PermissionDenied(CELLULE_ONLY)
    if user.role != Role.COORDINATEUR:
        if is_partner(user) or _was_member(user):
            return redirect("coordination:mes_reunions")
        raise PermissionDenied(CELLULE_ONLY)
    today = timezone.localdate()
    active_member = Q(membres__date_debut__lte=today) & (
        Q(membres__date_fin__isnull=True) | Q(membres__date_fin__gte=today)
    )
    instances = list(
        Instance.objects.coordinated_by(user)
        .annotate(n_membres=Count("membres", filter=active_member, distinct=True))
        .prefetch_related("units")
        .order_by("-actif", "nom")
    )
    by_pk = {}
    for instance in instances:
        instance.reunions_en_cours, instance.en_attente, instance.en_retard = [], [], []
        instance.plan_url = _url("coordination:reunion_create", instance.pk)
        by_pk[instance.pk] = instance

    reunions = (
        Reunion.objects.filter(instance_id__in=by_pk)
        .exclude(statut=Reunion.Statut.CR_VALIDE)
        .annotate(n_points=Count("points"))
        .order_by("debut", "pk")
    )
    for reunion in reunions:
        reunion.url = _url("coordination:reunion_detail", reunion.pk)
        by_pk[reunion.instance_id].reunions_en_cours.append(reunion)

    next_meeting = PointOrdreDuJour.objects.filter(
        saisine=OuterRef("pk"), reunion__statut__in=Reunion.NOT_HELD
    ).order_by("reunion__debut")
    waiting = list(
        Saisine.objects.filter(instance_id__in=by_pk, statut=Saisine.Statut.SOUMISE)
        .consent_active()
        .select_related("accompagnement__unit", "consentement")
        .annotate(prochaine_reunion=Subquery(next_meeting.values("reunion__debut")[:1]))
        .order_by(URGENCY_ORDER, "submitted_at", "pk")
    )
    for saisine in waiting:
        by_pk[saisine.instance_id].en_attente.append(saisine)

    overdue = list(
        ActionInstance.objects.overdue(today)
        .filter(point__reunion__instance_id__in=by_pk)
        .select_related(
            "responsable__user",
            "responsable__contact",
            "point__reunion",
            "point__saisine__consentement",
            "point__saisine__accompagnement",
        )
        .order_by("echeance", "pk")
    )
    for action in overdue:
        action.jours_retard = (today - action.echeance).days
        action.reference = _reference(action.point.saisine)
        by_pk[action.point.reunion.instance_id].en_retard.append(action)

    shown = {s.pk: s for s in waiting}
    shown.update({a.point.saisine_id: a.point.saisine for a in overdue})
    services.fiches_read(user=user, saisines=shown.values(), page="accueil de la cellule")
    return render(
        request,
        "coordination/home_coordinateur.html",
        {"instances": instances, "today": today},
    )


# --- The instance and its members ------------------------------------------------------------


def _instance_page(request, instance, *, add_form=None, status=200):
    user = request.user
    today = timezone.localdate()
    coordinator = is_coordinator(user, instance)
    membres = list(
        instance.membres.select_related("user__unit", "user__region", "contact__partner").order_by(
            "organisation", "date_debut", "pk"
        )
    )
    current = [m for m in membres if m.date_fin is None or m.date_fin >= today]
    past = sorted(
        (m for m in membres if m.date_fin is not None and m.date_fin < today),
        key=lambda m: (m.date_fin, m.pk),
        reverse=True,
    )
    for membre in membres:
        membre.a_venir = membre.date_debut > today
    context = {
        "instance": instance,
        "units": list(instance.units.all()),
        "coordinateurs": list(instance.coordinateurs.order_by("last_name", "first_name")),
        "current": current,
        "past": past,
        "can_manage": coordinator,
        "today": today,
        "plan_url": _url("coordination:reunion_create", instance.pk) if coordinator else None,
        "reunions": list(
            Reunion.objects.visible_to(user)
            .filter(instance=instance)
            .annotate(nb_points=Count("points"))
            .order_by("-debut")[:24]
        ),
    }
    if coordinator:
        context["add_form"] = add_form or MembreAddForm(instance=instance)
    return render(request, "coordination/instance_detail.html", context, status=status)


def instance_detail(request, pk):
    """The instance, its territory, its quorum rule and its members; coordinators add and end
    memberships, members read."""
    instance = get_instance_for_user(request.user, pk)
    return _instance_page(request, instance)


@require_POST
def membre_create(request, pk):
    instance = get_instance_for_user(request.user, pk, is_coordinator)
    form = MembreAddForm(request.POST, instance=instance)
    if form.is_valid():
        membre = apply_service(
            form,
            services.membre_add,
            instance=instance,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if membre is not None:
            messages.success(
                request,
                f"{membre.nom} est membre de l'instance depuis le {membre.date_debut:%d/%m/%Y}.",
            )
            return redirect(
                reverse("coordination:instance_detail", args=[instance.pk]) + "#membres"
            )
    return _instance_page(request, instance, add_form=form)


@require_POST
def membre_end(request, pk, membre_pk):
    instance = get_instance_for_user(request.user, pk, is_coordinator)
    membre = get_object_or_404(instance.membres.select_related("user", "contact"), pk=membre_pk)
    membre.instance = instance
    form = MembreEndForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    else:
        try:
            services.membre_end(
                membre=membre, acting_user=request.user, date_fin=form.cleaned_data["date_fin"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"Fin d'adhésion de {membre.nom} le {membre.date_fin:%d/%m/%Y}."
            )
    return redirect(reverse("coordination:instance_detail", args=[instance.pk]) + "#membres")


# --- Mes actions -----------------------------------------------------------------------------

OPEN_FIRST = Case(
    When(statut=ActionInstance.Statut.OUVERTE, then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)


def _action_row(action, *, may_report, today, reunion_visible):
    """What a row of « mes actions » shows, and its report form (`may_report`: the rule
    `services.can_update_action`, which the report view checks again)."""
    saisine = action.point.saisine
    action.reference = _reference(saisine)
    action.retiree = saisine.statut == Saisine.Statut.RETIREE
    action.jours_retard = (today - action.echeance).days if action.en_retard else 0
    action.can_report = may_report and not action.retiree
    action.reunion_url = (
        _url("coordination:reunion_detail", action.point.reunion_id) if reunion_visible else None
    )
    action.form = None
    if action.can_report:
        action.form = ActionReportForm(
            prefix=f"a{action.pk}",
            initial={"statut": action.statut, "compte_rendu": action.compte_rendu},
        )
    return action


def _actions_url(vue, statut=""):
    query = f"?vue={vue}" if vue != "miennes" else ""
    if statut:
        query += ("&" if query else "?") + f"statut={statut}"
    return reverse("coordination:mes_actions") + query


def mes_actions(request):
    """The actions given to the user (open first, overdue flagged) with a form to report on
    each; for a coordinator, also every action of their instances (`?vue=instances`)."""
    user = request.user
    coordinator = _require_cellule_user(user)
    today = timezone.localdate()
    vue = request.GET.get("vue", "miennes")
    if vue not in ACTION_VIEWS or (vue == "instances" and not coordinator):
        vue = "miennes"
    statut = request.GET.get("statut", "")
    if statut not in ActionInstance.Statut.values:
        statut = ""
    if vue == "instances":
        actions = ActionInstance.objects.filter(point__reunion__instance__coordinateurs=user)
    else:
        actions = ActionInstance.objects.filter(responsable__user=user)
    if statut:
        actions = actions.filter(statut=statut)
    actions = actions.select_related(
        "responsable__user",
        "responsable__contact",
        "point__reunion__instance",
        "point__saisine__consentement",
        "point__saisine__accompagnement",
    ).order_by(OPEN_FIRST, "echeance", "pk")
    page = Paginator(actions, ACTIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    visible = set(
        Reunion.objects.visible_to(user)
        .filter(pk__in={a.point.reunion_id for a in rows})
        .values_list("pk", flat=True)
    )
    for action in rows:
        # Without a query: the member it was given to; in the instances view (the user's
        # instances only), a coordinator.
        may_report = vue == "instances" or action.responsable.user_id == user.pk
        _action_row(
            action,
            may_report=may_report,
            today=today,
            reunion_visible=action.point.reunion_id in visible,
        )
    saisines = {a.point.saisine_id: a.point.saisine for a in rows}
    services.fiches_read(user=user, saisines=saisines.values(), page="mes actions")
    return render(
        request,
        "coordination/actions_list.html",
        {
            "page_obj": page,
            "rows": rows,
            "vue": vue,
            "statut": statut,
            "coordinator": coordinator,
            "statut_tabs": [
                (value, label, _actions_url(vue, value))
                for value, label in [("", "Toutes"), *ActionInstance.Statut.choices]
            ],
            "vue_urls": {v: _actions_url(v, statut) for v in ACTION_VIEWS},
        },
    )


@require_POST
def action_report(request, pk):
    """The member it was given to (or a coordinator) reports: statut and suite donnée. With
    htmx the row comes back alone; without, the page reloads."""
    user = request.user
    action = get_action_for_user(user, pk, services.can_update_action)
    vue = request.POST.get("vue", "miennes")
    if vue not in ACTION_VIEWS:
        vue = "miennes"
    form = ActionReportForm(request.POST, prefix=f"a{action.pk}")
    error = None
    if form.is_valid():
        try:
            services.action_set_status(action=action, acting_user=user, **form.cleaned_data)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    if request.htmx:
        action.refresh_from_db(fields=["statut", "compte_rendu", "closed_at"])
        visible = Reunion.objects.visible_to(user).filter(pk=action.point.reunion_id).exists()
        row = _action_row(
            action, may_report=True, today=timezone.localdate(), reunion_visible=visible
        )
        if error and row.form is not None:
            row.form = form  # what was typed stays in the row
        return render(
            request,
            "coordination/actions_row.html",
            {"action": row, "vue": vue, "error": error, "saved": error is None},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, f"Action «\u00a0{action.libelle}\u00a0»\u00a0: {action.get_statut_display()}."
        )
    return redirect(_actions_url(vue) + f"#action-{action.pk}")


# --- Mes réunions ----------------------------------------------------------------------------


def mes_reunions(request):
    """The meetings the user is invited to as a current member: not held yet first, then the
    past ones with the state of their minutes; and the instances they belong to."""
    user = request.user
    coordinator = _require_cellule_user(user)
    today = timezone.localdate()
    memberships = MembreInstance.objects.active(today).filter(user=user)
    invited = Presence.objects.filter(reunion=OuterRef("pk"), membre__in=memberships)
    mine = Presence.objects.filter(reunion=OuterRef("pk"), membre__user=user)
    reunions = (
        Reunion.objects.filter(Exists(invited))
        .select_related("instance")
        .annotate(n_points=Count("points"), ma_presence=Subquery(mine.values("statut")[:1]))
    )
    upcoming = list(reunions.filter(statut__in=Reunion.NOT_HELD).order_by("debut", "pk"))
    past = Paginator(
        reunions.exclude(statut__in=Reunion.NOT_HELD).order_by("-debut", "-pk"),
        PAST_MEETINGS_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    presence_labels = dict(Presence.Statut.choices)
    for reunion in [*upcoming, *past.object_list]:
        reunion.url = _url("coordination:reunion_detail", reunion.pk)
        reunion.presence_label = presence_labels.get(reunion.ma_presence, "")
    return render(
        request,
        "coordination/home_reunions.html",
        {
            "upcoming": upcoming,
            "past": past,
            "instances": [
                m.instance
                for m in memberships.select_related("instance").order_by("instance__nom", "pk")
            ],
            "coordinator": coordinator,
        },
    )


urlpatterns = [
    path("", home, name="home"),
    path("instances/<int:pk>/", instance_detail, name="instance_detail"),
    path("instances/<int:pk>/membres/ajouter/", membre_create, name="membre_create"),
    path("instances/<int:pk>/membres/<int:membre_pk>/fin/", membre_end, name="membre_end"),
    path("mes-actions/", mes_actions, name="mes_actions"),
    path("actions/<int:pk>/suite/", action_report, name="action_report"),
    path("mes-reunions/", mes_reunions, name="mes_reunions"),
]
