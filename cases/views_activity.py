"""Dashboard, search, assuré page, agenda, entretiens, documents."""

import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Window
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone

from cases import agenda as agenda_services
from cases.agenda import entretien_record, entretien_schedule, entretien_update
from cases.documents import (
    DELETE_CLOSED_MESSAGE,
    document_delete,
    document_upload,
    download_name,
)
from cases.forms_activity import (
    ASSURE_FORM_FIELDS,
    AssureForm,
    DocumentUploadForm,
    EntretienForm,
    EntretienRecordForm,
    SearchForm,
)
from cases.models import (
    OPEN_CASE_STATUSES,
    Accompagnement,
    CaseShare,
    CaseStatus,
    Consentement,
    DispositifMobilise,
    DispositifStatut,
    Document,
    Entretien,
    Objectif,
    ObjectifStatut,
    RetentionNotice,
)
from cases.people import assure_update as assure_update_service
from cases.permissions import (
    can_edit_assure,
    can_edit_case,
    can_read_case_content,
    can_request_access_archive,
    can_schedule_for_case,
    can_see_access_history,
    get_accompagnement_for_user,
)
from cases.search import DEFAULT_SORT, SORTS, SearchRefused, search_assures
from pdp.audit import audit, audit_listed
from pdp.identifiers import IdentifierError, siret_format
from pdp.models import AuditLog, Role, User
from pdp.pagination import WindowPaginator
from pdp.permissions import can_see_nir
from referrals.markers import arret_markers, region_of
from referrals.models import ContactAttempt, Service, Signalement
from referrals.permissions import get_assure_for_user

PAGE_SIZE = 25
SECTION_SIZE = 20  # rows per page of a dashboard section (`_section`)
SECTION_LIMIT = 100  # rows of the retention notices (`_retention_notices`)
DISPOSITIF_HORIZON_DAYS = 14


def _add_errors(form, exc, field_map=None):
    """Show a service's ValidationError next to the right fields (or on top of the form)."""
    field_map = field_map or {}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = field_map.get(field, field)
            form.add_error(target if target in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _limited(qs, limit=SECTION_LIMIT):
    rows = list(qs[: limit + 1])
    return {"rows": rows[:limit], "more": len(rows) > limit}


def _section(request, key, qs):
    """One page of SECTION_SIZE rows of a dashboard section, the page read from `?p_<key>=`
    (each section pages on its own; the others keep theirs), with its total and the links
    to the pages around it, which go back to the section's heading (`#h-<key>`). One query:
    the rows with their total (WindowPaginator)."""
    param = f"p_{key}"
    page = WindowPaginator(qs, SECTION_SIZE).get_page(request.GET.get(param))

    def url(number):
        query = request.GET.copy()
        query[param] = number
        return f"?{query.urlencode()}#h-{key}"

    return {
        "rows": list(page),
        "total": page.paginator.count,
        "page": page,
        "previous_url": url(page.previous_page_number()) if page.has_previous() else "",
        "next_url": url(page.next_page_number()) if page.has_next() else "",
    }


def _assure_id_of(row):
    """The person of a row a list shows: a referral or a case (`assure_id`), or an objective,
    a dispositif or a meeting (their case's, selected with them)."""
    if hasattr(row, "assure_id"):
        return row.assure_id
    return row.accompagnement.assure_id


# The sections of the dashboards that list persons (see `_limited`).
LISTED_SECTIONS = ("referrals", "unassigned", "cases", "objectives", "dispositifs", "meetings")


def _log_listed(request, context, page):
    """One read row per person the dashboard lists, in one statement (`audit_listed`)."""
    rows = [row for key in LISTED_SECTIONS if key in context for row in context[key]["rows"]]
    audit_listed(user=request.user, objects=rows, assure_id_of=_assure_id_of, page=page)


# --- Dashboard ---------------------------------------------------------------------------


def _week_end(today):
    return today + datetime.timedelta(days=6 - today.weekday())


def _open_referrals():
    return (
        Signalement.objects.filter(service=Service.SOCIAL)
        .open()
        .select_related("assure", "assigned_to", "rdv_ass", "rdv_par")
        .order_by(F("date_echeance").asc(nulls_last=True), "date_signalement", "pk")
    )


def _call_list(request, user, today):
    """A conseiller's open referrals, overdue first then by due date, with what a phone call
    needs: the person, their number, the arrêt's day count and the attempts so far."""
    attempts = ContactAttempt.objects.filter(signalement=OuterRef("pk"))
    last = attempts.order_by("-at", "-pk")
    rows = _section(
        request,
        "referrals",
        _open_referrals()
        .filter(assigned_to=user, unit_id=user.unit_id)
        .select_related("arret")
        .annotate(
            n_attempts=_count(ContactAttempt.objects.all(), "signalement"),
            last_attempt_at=Subquery(last.values("at")[:1]),
            last_attempt_resultat=Subquery(last.values("resultat")[:1]),
        ),
    )
    for referral in rows["rows"]:
        referral.jours = referral.arret.duree_au(today) if referral.arret_id else None
        referral.tel = "".join(c for c in referral.assure.telephone if c.isdigit() or c == "+")
        referral.last_attempt_label = (
            ContactAttempt.Resultat(referral.last_attempt_resultat).label
            if referral.last_attempt_resultat
            else ""
        )
    return rows


def _open_cases(now):
    next_meeting = (
        Entretien.objects.filter(
            accompagnement=OuterRef("pk"), statut=Entretien.Statut.PLANIFIE, debut__gte=now
        )
        .order_by("debut")
        .values("debut")[:1]
    )
    last_contact = (
        Entretien.objects.filter(accompagnement=OuterRef("pk"), statut=Entretien.Statut.REALISE)
        .order_by("-debut")
        .values("debut")[:1]
    )
    return (
        Accompagnement.objects.open()
        .select_related("assure", "referent")
        .annotate(next_meeting=Subquery(next_meeting), last_contact=Subquery(last_contact))
        .order_by(F("last_contact").asc(nulls_first=True), "date_ouverture", "pk")
    )


def _objectives_due(today):
    return (
        Objectif.objects.filter(
            statut=ObjectifStatut.EN_COURS,
            echeance__lte=_week_end(today),
            accompagnement__statut__in=OPEN_CASE_STATUSES,  # a join, as _dispositifs_ending
        )
        .select_related("accompagnement__assure", "accompagnement__referent")
        .order_by("echeance", "pk")
    )


def _dispositifs_ending(today):
    return (
        DispositifMobilise.objects.filter(
            statut__in=[DispositifStatut.EN_COURS, DispositifStatut.ACCORDE],
            date_fin__gte=today,
            date_fin__lte=today + datetime.timedelta(days=DISPOSITIF_HORIZON_DAYS),
            # a join on the case's status, not `accompagnement__in=…open()`: with the unit's
            # filter the planner then reads the unit's open cases from their index and joins
            # the dispositifs ending nationally (7 ms), instead of looking up each of those
            # dispositifs' cases twice (19 ms at national volume)
            accompagnement__statut__in=OPEN_CASE_STATUSES,
        )
        .select_related("type", "accompagnement__assure", "accompagnement__referent")
        .order_by("date_fin", "pk")
    )


def _meetings_today(today):
    start, end = agenda_services.day_bounds(today)
    return (
        Entretien.objects.filter(debut__gte=start, debut__lt=end)
        .select_related("accompagnement__assure", "ass")
        .order_by("debut", "pk")
    )


def _count(qs, field):
    """Correlated count of `qs` rows whose `field` is the outer user: one query for all."""
    sub = (
        qs.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(sub, output_field=IntegerField()), 0)


def _by_worker(qs, field):
    """{worker id: number of rows} of `qs`, in one grouped query."""
    # COUNT(*), not COUNT(id): the count is then read from an index holding `field` alone.
    return dict(qs.order_by().values_list(field).annotate(n=Count("*")))


def _worker_summary(unit, today, now):
    """The unit's workers with what they have on hand in the unit: each count is one grouped
    query over the unit's open rows (six in all, whatever the number of workers). Correlated
    subqueries per worker read every case a worker ever had, closed ones included: 0.33 s for
    a unit of 62 workers at the national volume (`manage.py bench_pages`)."""
    referrals = Signalement.objects.filter(service=Service.SOCIAL, unit=unit).open()
    start, end = agenda_services.day_bounds(today)
    counts = {
        "n_referrals": _by_worker(referrals, "assigned_to"),
        "n_overdue": _by_worker(referrals.filter(date_echeance__lt=today), "assigned_to"),
        "n_cases": _by_worker(Accompagnement.objects.open().filter(unit=unit), "referent"),
        "n_objectives": _by_worker(
            Objectif.objects.filter(
                statut=ObjectifStatut.EN_COURS,
                echeance__lte=_week_end(today),
                accompagnement__unit=unit,
                accompagnement__statut__in=[CaseStatus.OUVERT, CaseStatus.SUSPENDU],
            ),
            "accompagnement__referent",
        ),
        "n_dispositifs": _by_worker(
            _dispositifs_ending(today).filter(accompagnement__unit=unit),
            "accompagnement__referent",
        ),
        "n_meetings": _by_worker(
            Entretien.objects.filter(debut__gte=start, debut__lt=end, ass__unit=unit), "ass"
        ),
    }
    workers = list(
        User.objects.filter(
            unit=unit, is_active=True, role__in=[Role.ASS, Role.CONSEILLER]
        ).order_by("role", "last_name", "first_name", "pk")
    )
    for worker in workers:
        for name, by_worker in counts.items():
            setattr(worker, name, by_worker.get(worker.pk, 0))
    return workers


def _retention_notices(user):
    """The people the retention job (privacy.retention) will anonymise soon, or would but for
    a case not closed: for the référent (of a case, or the worker of a referral) and for the
    unit manager (a case or a referral of the unit). One query, the total by a window."""
    if user.role == Role.MANAGER:
        cases = Q(unit_id=user.unit_id)
        referrals = Q(unit_id=user.unit_id)
    else:
        cases = Q(referent=user)
        referrals = Q(assigned_to=user)
    notices = (
        RetentionNotice.objects.filter(
            Exists(Accompagnement.objects.filter(cases, assure=OuterRef("assure")))
            | Exists(Signalement.objects.filter(referrals, assure=OuterRef("assure")))
        )
        .select_related("assure")
        .annotate(total=Window(Count("pk")))
        .order_by("due_on", "pk")
    )
    section = _limited(notices)
    section["total"] = section["rows"][0].total if section["rows"] else 0
    days = settings.RETENTION_INACTIVITY_DAYS
    years = days // 365
    section["inactivity_label"] = (
        f"{years} an{'s' if years > 1 else ''}" if years and days % 365 == 0 else f"{days} jours"
    )
    return section


# The manager's « Mon activité » is one tab at a time (`?onglet=`), each with its own queries;
# `?ass=` narrows every tab to one member of the unit.
MANAGER_TABS = {
    "equipe": "Équipe",
    "signalements": "Signalements",
    "accompagnements": "Accompagnements",
    "echeances": "Échéances",
    "entretiens": "Entretiens du jour",
}
DEFAULT_TAB = "equipe"


def _unit_worker(request):
    """The member of the manager's unit named by `?ass=`, or None; unknown → 404."""
    if not request.GET.get("ass"):
        return None
    try:
        return User.objects.get(
            pk=int(request.GET["ass"]), unit_id=request.user.unit_id, is_active=True
        )
    except (ValueError, User.DoesNotExist) as exc:
        raise Http404("Membre de l'unité inconnu.") from exc


def _manager_dashboard(request, context, today, now):
    user = request.user
    unit = user.unit
    worker = _unit_worker(request)
    tab = request.GET.get("onglet", DEFAULT_TAB)
    if tab not in MANAGER_TABS:
        tab = DEFAULT_TAB

    def of_worker(qs, field):
        return qs.filter(**{field: worker}) if worker is not None else qs

    context |= {
        "worker": worker,
        "tab": tab,
        "tabs": MANAGER_TABS.items(),
        "retention": _retention_notices(user),
    }
    if tab == "equipe":
        context["workers"] = _worker_summary(unit, today, now)
    elif tab == "signalements":
        referrals = _open_referrals().filter(unit=unit, assigned_to__isnull=False)
        context |= {
            "referrals": _section(request, "referrals", of_worker(referrals, "assigned_to")),
            "unassigned": _section(
                request,
                "unassigned",
                _open_referrals().filter(unit=unit, assigned_to__isnull=True),
            ),
            "regional_queue_count": Signalement.objects.filter(
                unit__isnull=True, service=Service.SOCIAL, region_id=unit.region_id
            )
            .open()
            .count(),
        }
    elif tab == "accompagnements":
        cases = _open_cases(now).filter(unit=unit)
        context["cases"] = _section(request, "cases", of_worker(cases, "referent"))
    elif tab == "echeances":
        objectives = _objectives_due(today).filter(accompagnement__unit=unit)
        dispositifs = _dispositifs_ending(today).filter(accompagnement__unit=unit)
        context |= {
            "objectives": _section(
                request, "objectives", of_worker(objectives, "accompagnement__referent")
            ),
            "dispositifs": _section(
                request, "dispositifs", of_worker(dispositifs, "accompagnement__referent")
            ),
        }
    else:
        meetings = _meetings_today(today).filter(ass__unit=unit)
        context["meetings"] = _section(request, "meetings", of_worker(meetings, "ass"))
    _log_listed(request, context, f"activité de l'unité ({MANAGER_TABS[tab].lower()})")
    return render(request, "cases/dashboard_manager.html", context)


def dashboard(request):
    user = request.user
    if not user.is_unit_member:
        raise PermissionDenied("Le tableau de bord est réservé aux équipes des unités.")
    today, now = timezone.localdate(), timezone.now()
    context = {
        "today": today,
        "week_end": _week_end(today),
        "is_manager": user.role == Role.MANAGER,
    }
    if user.role == Role.CONSEILLER:
        context["referrals"] = _call_list(request, user, today)
        context["meetings"] = _section(
            request, "meetings", _meetings_today(today).filter(ass__unit_id=user.unit_id)
        )
        _log_listed(request, context, "liste d'appels")
        return render(request, "cases/dashboard_conseiller.html", context)
    if user.role == Role.MANAGER:
        return _manager_dashboard(request, context, today, now)
    context |= {
        "referrals": _section(
            request,
            "referrals",
            _open_referrals().filter(assigned_to=user, unit_id=user.unit_id),
        ),
        "cases": _section(request, "cases", _open_cases(now).filter(referent=user)),
        "objectives": _section(
            request, "objectives", _objectives_due(today).filter(accompagnement__referent=user)
        ),
        "dispositifs": _section(
            request,
            "dispositifs",
            _dispositifs_ending(today).filter(accompagnement__referent=user),
        ),
        "meetings": _section(request, "meetings", _meetings_today(today).filter(ass=user)),
        "retention": _retention_notices(user),
    }
    _log_listed(request, context, "mon activité")
    return render(request, "cases/dashboard.html", context)


# --- Search ------------------------------------------------------------------------------


def _may_search(user):
    return user.is_unit_member or user.role == Role.MEDECIN


SEARCH_SESSION_KEY = "cases_search_q"


def search(request):
    """The query never travels in a URL, where a NIR would land in server logs and browser
    history: the form posts it, the session keeps it, and the results are a plain GET (sort,
    pages, back button) that reads it from the session. A `q` in a URL is dropped unsearched."""
    user = request.user
    if not _may_search(user):
        raise PermissionDenied("La recherche de personnes ne vous est pas ouverte.")
    order = request.POST.get("o") or request.GET.get("o", DEFAULT_SORT)
    if order not in SORTS:
        order = DEFAULT_SORT
    results_url = reverse("cases:search") + ("" if order == DEFAULT_SORT else f"?o={order}")
    page = None
    q = ""
    if request.method == "POST":
        form = SearchForm(request.POST)
        if form.is_valid():
            request.session[SEARCH_SESSION_KEY] = form.cleaned_data["q"].strip()
            return redirect(results_url)
    elif "q" in request.GET:
        return redirect(results_url)
    else:
        q = request.session.get(SEARCH_SESSION_KEY, "")
        form = SearchForm({"q": q} if q else None)
    if q and form.is_valid():
        try:
            results = search_assures(user, q, order)
        except SearchRefused as exc:
            form.add_error("q", str(exc))
        else:
            page = WindowPaginator(results, PAGE_SIZE).get_page(request.GET.get("page"))
            audit_listed(user=user, objects=page, assure_id_of=lambda a: a.pk, page="recherche")
    return render(
        request,
        "cases/search.html",
        {
            "form": form,
            "q": q,
            "page": page,
            "order": order,
            "show_nir": can_see_nir(user),
        },
    )


# --- The person's page -------------------------------------------------------------------


def _siret_display(siret):
    if not siret:
        return ""
    try:
        return siret_format(siret)
    except IdentifierError:
        return siret


def assure_detail(request, pk):
    user = request.user
    assure = get_assure_for_user(user, pk)
    today = timezone.localdate()
    arrets = list(assure.arrets.select_related("cpam__region").order_by("-date_debut"))
    for arret in arrets:
        arret.assure = assure
        arret.duree = arret.duree_au(today)
        arret.ongoing = arret.is_ongoing(today)
        arret.markers = arret_markers(arret, today=today, region=region_of(arret))
    referrals = (
        Signalement.objects.visible_to(user)
        .filter(assure=assure)
        .select_related("unit", "assigned_to", "arret")
        .order_by("-date_signalement", "-pk")
    )
    cases = list(
        Accompagnement.objects.visible_to(user)
        .with_share_flag(user)
        .filter(assure=assure)
        .select_related("referent", "unit")
        .order_by("-date_ouverture", "-pk")
    )
    # Consents are case content: for those who read the content of one of the person's cases.
    consents = (
        Consentement.objects.filter(assure=assure).select_related("recorded_by")
        if any(can_read_case_content(user, case) for case in cases)
        else None
    )
    audit(user=user, action=AuditLog.Action.VIEW, obj=assure, assure_id=assure.pk)
    return render(
        request,
        "cases/assure_detail.html",
        {
            "assure": assure,
            "show_nir": can_see_nir(user),
            "siret": _siret_display(assure.employeur_siret),
            "spst": assure.spst,
            "arrets": arrets,
            "referrals": list(referrals),
            "cases": cases,
            "consents": None if consents is None else list(consents),
            "can_edit": can_edit_assure(user, assure),
            "can_see_history": can_see_access_history(user, assure),
            "can_request_archive": can_request_access_archive(user, assure),
            "today": today,
        },
    )


def assure_edit(request, pk):
    user = request.user
    assure = get_assure_for_user(user, pk, can_edit_assure)
    form = AssureForm(request.POST or None, instance=assure, region_id=user.effective_region_id())
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in ASSURE_FORM_FIELDS}
        try:
            changes = assure_update_service(assure=assure, acting_user=user, data=data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if changes:
                messages.success(request, "Coordonnées enregistrées.")
            else:
                messages.info(request, "Aucune modification.")
            return redirect("cases:assure_detail", pk=assure.pk)
    if request.method == "GET":
        form.initial["employeur_siret"] = _siret_display(assure.employeur_siret)
    audit(
        user=user,
        action=AuditLog.Action.VIEW,
        obj=assure,
        assure_id=assure.pk,
        changes={"page": "modification des coordonnées"},
    )
    return render(request, "cases/assure_edit.html", {"assure": assure, "form": form})


# --- Entretiens --------------------------------------------------------------------------

ENTRETIEN_FIELD_MAP = {"debut": "date"}


def _read_case(request, case, page):
    """A form opened on a case shows the person's file: a read row (domain §11)."""
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=case,
        assure_id=case.assure_id,
        changes={"page": page},
    )


def _get_entretien_for_user(user, pk):
    qs = Entretien.objects.select_related(
        "accompagnement__assure", "accompagnement__referent", "accompagnement__unit", "ass"
    ).filter(accompagnement__in=Accompagnement.objects.visible_to(user))
    return get_object_or_404(qs, pk=pk)


def entretien_create(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_schedule_for_case)
    form = EntretienForm(request.POST or None, case=case)
    if request.method == "POST" and form.is_valid():
        try:
            entretien_schedule(
                accompagnement=case,
                acting_user=request.user,
                debut=form.debut,
                mode=form.cleaned_data["mode"],
                duree_minutes=form.cleaned_data["duree_minutes"],
                ass=form.cleaned_data["ass"],
            )
        except ValidationError as exc:
            _add_errors(form, exc, ENTRETIEN_FIELD_MAP)
        else:
            messages.success(request, "Entretien planifié.")
            return redirect("cases:accompagnement_detail", pk=case.pk)
    _read_case(request, case, "planification d'un entretien")
    return render(request, "cases/entretien_create.html", {"case": case, "form": form})


def entretien_edit(request, pk):
    user = request.user
    entretien = _get_entretien_for_user(user, pk)
    case = entretien.accompagnement
    if not can_schedule_for_case(user, case):
        raise PermissionDenied("Vous n'avez pas les droits pour cette action.")
    can_record = can_edit_case(user, case)
    can_move = entretien.statut == Entretien.Statut.PLANIFIE and case.statut != CaseStatus.CLOTURE
    action = request.POST.get("action") if request.method == "POST" else None
    move_form = EntretienForm(
        request.POST if action == "deplacer" else None,
        case=case,
        initial=EntretienForm.initial_for(entretien),
    )
    record_form = EntretienRecordForm(
        request.POST if action == "compte_rendu" else None,
        initial={"statut": entretien.statut, "note": entretien.note},
    )
    if action == "deplacer":
        if not can_move:
            raise PermissionDenied("Seul un entretien planifié peut être déplacé.")
        if move_form.is_valid():
            try:
                entretien_update(
                    entretien=entretien,
                    acting_user=user,
                    debut=move_form.debut,
                    mode=move_form.cleaned_data["mode"],
                    duree_minutes=move_form.cleaned_data["duree_minutes"],
                    ass=move_form.cleaned_data["ass"],
                )
            except ValidationError as exc:
                _add_errors(move_form, exc, ENTRETIEN_FIELD_MAP)
            else:
                messages.success(request, "Entretien déplacé.")
                return redirect("cases:accompagnement_detail", pk=case.pk)
    elif action == "compte_rendu":
        if not can_record:
            raise PermissionDenied("Seul·e le ou la référent·e ou le ou la responsable renseigne.")
        if record_form.is_valid():
            try:
                entretien_record(
                    entretien=entretien,
                    acting_user=user,
                    statut=record_form.cleaned_data["statut"],
                    note=record_form.cleaned_data["note"],
                )
            except ValidationError as exc:
                _add_errors(record_form, exc)
            else:
                messages.success(request, "Entretien mis à jour.")
                return redirect("cases:accompagnement_detail", pk=case.pk)
    elif request.method == "POST":
        raise PermissionDenied("Action inconnue.")
    audit(user=user, action=AuditLog.Action.VIEW, obj=entretien, assure_id=case.assure_id)
    return render(
        request,
        "cases/entretien_edit.html",
        {
            "entretien": entretien,
            "case": case,
            "move_form": move_form if can_move else None,
            "record_form": record_form if can_record else None,
            "can_read_content": can_read_case_content(user, case),
        },
    )


# --- Agenda ------------------------------------------------------------------------------


def _agenda_user(user):
    if not user.is_unit_member:
        raise PermissionDenied("L'agenda est réservé aux équipes des unités.")


def agenda(request):
    user = request.user
    _agenda_user(user)
    today = timezone.localdate()
    monday = agenda_services.parse_week(request.GET.get("semaine"), today)
    worker = user
    may_pick = user.role in (Role.MANAGER, Role.CONSEILLER)
    workers = []
    if may_pick:
        workers = list(
            User.objects.filter(
                unit_id=user.unit_id, is_active=True, role__in=[Role.ASS, Role.MANAGER]
            ).order_by("last_name", "first_name", "pk")
        )
    if request.GET.get("ass"):
        try:
            wanted = int(request.GET["ass"])
        except ValueError as exc:
            raise Http404("Membre de l'unité inconnu.") from exc
        if wanted != user.pk:
            if not may_pick:
                raise PermissionDenied("Vous ne pouvez consulter que votre agenda.")
            worker = next((w for w in workers if w.pk == wanted), None)
            if worker is None:
                raise Http404("Membre de l'unité inconnu.")
    meetings = list(agenda_services.week_meetings(worker, monday))
    # The cases shared with the user, read once: the rules then need no query per meeting.
    shared = set(
        CaseShare.objects.active()
        .filter(user_id=user.pk)
        .values_list("accompagnement_id", flat=True)
    )
    for meeting in meetings:
        meeting.accompagnement.shared_with_me = meeting.accompagnement_id in shared
        meeting.editable = can_schedule_for_case(user, meeting.accompagnement)
    # First meetings a conseiller proposed to the worker on referrals not yet opened as cases.
    week_start, week_end = agenda_services.day_bounds(monday, 7)
    proposals = list(
        Signalement.objects.visible_to(user)
        .open()
        .filter(rdv_ass=worker, rdv_debut__gte=week_start, rdv_debut__lt=week_end)
        .select_related("assure", "rdv_par")
        .order_by("rdv_debut", "pk")
    )
    for meeting in meetings:
        meeting.is_proposal, meeting.at = False, meeting.debut
    for proposal in proposals:
        proposal.is_proposal, proposal.at = True, proposal.rdv_debut
    days, listed = [], []
    for offset in range(7):
        day = monday + datetime.timedelta(days=offset)
        items = [m for m in meetings if timezone.localtime(m.debut).date() == day]
        proposed = [p for p in proposals if timezone.localtime(p.rdv_debut).date() == day]
        entries = sorted(items + proposed, key=lambda e: (e.at, e.is_proposal, e.pk))
        listed += entries
        if offset < 6 or entries:  # Sunday only when something is planned on it
            days.append(
                {
                    "date": day,
                    "meetings": items,
                    "proposals": proposed,
                    "entries": entries,
                    "today": day == today,
                }
            )
    audit_listed(user=user, objects=listed, assure_id_of=_assure_id_of, page="agenda")
    return render(
        request,
        "cases/agenda.html",
        {
            "worker": worker,
            "workers": workers,
            "may_pick": may_pick,
            "days": days,
            "monday": monday,
            "week_label": agenda_services.week_param(monday),
            "prev_week": agenda_services.week_param(monday - datetime.timedelta(days=7)),
            "next_week": agenda_services.week_param(monday + datetime.timedelta(days=7)),
            "this_week": agenda_services.week_param(
                today - datetime.timedelta(days=today.weekday())
            ),
            "ass_param": worker.pk if worker.pk != user.pk else "",
        },
    )


@login_not_required
def agenda_ics(request, token):
    owner = agenda_services.user_for_ics_token(token)
    if owner is None:
        raise Http404("Calendrier inconnu.")
    # The feed is the owner's (a calendar application reads it on their behalf): its reading
    # is logged under their name, one row per meeting it holds (initials and times).
    meetings = list(agenda_services.ics_meetings(owner, timezone.now()))
    audit_listed(
        user=owner, objects=meetings, assure_id_of=_assure_id_of, page="flux ICS de l'agenda"
    )
    body = agenda_services.ics_calendar(
        owner, host=request.get_host().split(":")[0], meetings=meetings
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="pdp-agenda.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def agenda_ics_manage(request):
    user = request.user
    _agenda_user(user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "generer":
            agenda_services.ics_token_renew(user=user, acting_user=user)
            messages.success(
                request, "Nouvelle adresse d'abonnement créée ; l'ancienne ne fonctionne plus."
            )
        elif action == "revoquer":
            agenda_services.ics_token_revoke(user=user, acting_user=user)
            messages.success(request, "Abonnement révoqué : l'adresse ne fonctionne plus.")
        else:
            raise PermissionDenied("Action inconnue.")
        return redirect("cases:agenda_ics_manage")
    feed_url = None
    if user.ics_token:
        feed_url = request.build_absolute_uri(reverse("cases:agenda_ics", args=[user.ics_token]))
    return render(request, "cases/agenda_ics_manage.html", {"feed_url": feed_url})


# --- Documents ---------------------------------------------------------------------------


def _get_document_for_user(user, pk, rule):
    qs = Document.objects.select_related("accompagnement", "uploaded_by").filter(
        accompagnement__in=Accompagnement.objects.visible_to(user)
    )
    document = get_object_or_404(qs, pk=pk)
    if not rule(user, document.accompagnement):
        raise PermissionDenied("Vous n'avez pas les droits pour cette action.")
    return document


def document_upload_view(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_edit_case)
    form = DocumentUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            document_upload(
                accompagnement=case,
                acting_user=request.user,
                uploaded_file=form.cleaned_data["fichier"],
                nom=form.cleaned_data["nom"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Document ajouté.")
            return redirect("cases:accompagnement_detail", pk=case.pk)
    _read_case(request, case, "ajout d'un document")
    return render(request, "cases/document_upload.html", {"case": case, "form": form})


def document_download(request, pk):
    document = _get_document_for_user(request.user, pk, can_read_case_content)
    try:
        handle = document.fichier.open("rb")
    except FileNotFoundError as exc:
        raise Http404("Fichier introuvable.") from exc
    audit(
        user=request.user,
        action=AuditLog.Action.EXPORT,
        obj=document,
        assure_id=document.accompagnement.assure_id,
        changes={"nom": document.nom},
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=download_name(document),
        content_type=document.content_type,
    )
    response["Cache-Control"] = "private, no-store"
    return response


def document_delete_view(request, pk):
    document = _get_document_for_user(request.user, pk, can_edit_case)
    case = document.accompagnement
    error = DELETE_CLOSED_MESSAGE if case.statut == CaseStatus.CLOTURE else None
    if request.method == "POST":
        try:
            document_delete(document=document, acting_user=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, "Document supprimé.")
            return redirect("cases:accompagnement_detail", pk=case.pk)
    context = {"document": document, "case": case, "error": error}
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=document,
        assure_id=case.assure_id,
        changes={"page": "suppression du document"},
    )
    return render(request, "cases/document_delete.html", context)


urlpatterns = [
    path("activite/", dashboard, name="dashboard"),
    path("recherche/", search, name="search"),
    path("assures/<int:pk>/", assure_detail, name="assure_detail"),
    path("assures/<int:pk>/modifier/", assure_edit, name="assure_edit"),
    path(
        "accompagnements/<int:pk>/entretiens/nouveau/",
        entretien_create,
        name="entretien_create",
    ),
    path("entretiens/<int:pk>/", entretien_edit, name="entretien_edit"),
    path("agenda/", agenda, name="agenda"),
    path("agenda/abonnement/", agenda_ics_manage, name="agenda_ics_manage"),
    path("agenda/<str:token>.ics", agenda_ics, name="agenda_ics"),
    path(
        "accompagnements/<int:pk>/documents/nouveau/",
        document_upload_view,
        name="document_upload",
    ),
    path("documents/<int:pk>/", document_download, name="document_download"),
    path("documents/<int:pk>/supprimer/", document_delete_view, name="document_delete"),
]
