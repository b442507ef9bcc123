"""Triage pages: inboxes, referral detail, contact attempts, transitions."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, OuterRef, Q, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from pdp.audit import audit, audit_listed
from pdp.models import AuditLog, Role
from pdp.pagination import WindowPaginator
from pdp.permissions import can_see_nir
from pdp.typography import de, unit_with_article
from referrals import hooks, services
from referrals.filters import InboxFilter
from referrals.forms import (
    AssignForm,
    ClassifyForm,
    ContactAttemptForm,
    ForwardForm,
    HandOverForm,
    ManualSignalementForm,
    MedicalDecisionsForm,
    StatusForm,
)
from referrals.markers import arret_markers, region_of
from referrals.models import (
    OPEN_STATUSES,
    ArretTravail,
    Assure,
    ContactAttempt,
    DetectionRun,
    Service,
    Signalement,
    SignalementEvent,
    Statut,
)
from referrals.permissions import (
    can_assign_signalement,
    can_forward_signalement,
    can_hand_over_signalement,
    can_open_case,
    can_record_medical_decisions,
    can_work_signalement,
    get_signalement_for_user,
)

PAGE_SIZE = 25

# Inbox tabs: (key, label). The first one is the default.
WORKER_TABS = [
    ("a_traiter", "À traiter"),
    ("mes", "Mes signalements"),
    ("non_attribues", "Non attribués"),
    ("unite", "Toute l'unité"),
]
MANAGER_TABS = [
    ("unite", "Unité"),
    ("non_attribues", "Non attribués"),
    ("a_repartir", "À répartir (région)"),
]

# ?o= values of the inbox: column → ordering.
INBOX_ORDERINGS = {
    "echeance": ["-overdue", "date_echeance", "pk"],
    "-echeance": ["overdue", "-date_echeance", "-pk"],
    "date": ["date_signalement", "pk"],
    "-date": ["-date_signalement", "-pk"],
    "nom": ["assure__nom_naissance", "assure__prenoms", "pk"],
    "-nom": ["-assure__nom_naissance", "-assure__prenoms", "-pk"],
    "statut": ["statut", "date_echeance", "pk"],
    "-statut": ["-statut", "date_echeance", "pk"],
}

# Inbox columns: (label, ?o= key or None when the column does not sort).
INBOX_COLUMNS = [
    ("Personne", "nom"),
    ("Arrêt (jours)", None),
    ("Échéance 1er contact", "echeance"),
    ("Origine", None),
    ("Statut", "statut"),
    ("Attribué à", None),
    ("Reçu le", "date"),
]

STATUS_LABELS = dict(Statut.choices)


def _columns(order_key):
    columns = []
    for label, key in INBOX_COLUMNS:
        column = {"label": label, "key": key, "next": None, "aria_sort": None}
        if key:
            column["next"] = f"-{key}" if order_key == key else key
            if order_key == key:
                column["aria_sort"] = "ascending"
            elif order_key == f"-{key}":
                column["aria_sort"] = "descending"
        columns.append(column)
    return columns


def _arret_markers(arret, today):
    return arret_markers(arret, today=today, region=region_of(arret))


def _require_unit_member(user):
    if not user.is_unit_member:
        raise PermissionDenied("Cette page est réservée aux équipes des unités.")


# --- Inbox -----------------------------------------------------------------------------------


def inbox(request):
    user = request.user
    _require_unit_member(user)
    today = timezone.localdate()
    is_manager = user.role == Role.MANAGER
    tabs = MANAGER_TABS if is_manager else WORKER_TABS
    tab_keys = [key for key, _ in tabs]
    vue = request.GET.get("vue")
    if vue not in tab_keys:
        vue = tab_keys[0]

    qs = Signalement.objects.visible_to(user).filter(service=Service.SOCIAL)
    # The regional queue has no unit; every other tab is the user's unit.
    qs = qs.filter(unit__isnull=True) if vue == "a_repartir" else qs.filter(unit_id=user.unit_id)
    if vue == "a_traiter":
        qs = qs.filter(Q(assigned_to=user) | Q(assigned_to__isnull=True))
    elif vue == "mes":
        qs = qs.filter(assigned_to=user)
    elif vue == "non_attribues":
        qs = qs.filter(assigned_to__isnull=True)

    filterset = InboxFilter(request.GET, queryset=qs, user=user)
    order_key = request.GET.get("o")
    if order_key not in INBOX_ORDERINGS:
        order_key = "echeance"
    qs = (
        filterset.qs.select_related("assure", "arret", "assigned_to", "unit")
        .annotate(
            overdue=Case(
                When(statut__in=OPEN_STATUSES, date_echeance__lt=today, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by(*INBOX_ORDERINGS[order_key])
    )
    page = WindowPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "signalement": s,
            "jours": s.arret.duree_au(today) if s.arret_id else None,
            "arret_termine": bool(s.arret_id) and s.arret.date_fin < today,
            "overdue": bool(s.overdue),
        }
        for s in page
    ]
    audit_listed(
        user=user, objects=page, assure_id_of=lambda s: s.assure_id, page="liste des signalements"
    )
    context = {
        "filter": filterset,
        "page_obj": page,
        "rows": rows,
        "tabs": tabs,
        "vue": vue,
        "columns": _columns(order_key),
        "is_manager": is_manager,
        "auto_assign": user.unit.auto_assign,
        "last_run": DetectionRun.objects.filter(region_id=user.unit.region_id)
        .select_related("launched_by")
        .first(),
        "today": today,
    }
    return render(request, "referrals/signalement_list.html", context)


@require_POST
def detection_run(request):
    """A manager launches the threshold detection of their region now, in the background; the
    inbox shows its run once done."""
    from referrals.detection import detection_launch

    user = request.user
    if user.role != Role.MANAGER or not user.is_unit_member:
        raise PermissionDenied("Réservé aux responsables d'unité.")
    region = user.unit.region
    detection_launch(region=region, acting_user=user)
    messages.success(
        request,
        f"Détection lancée pour {region}\N{NO-BREAK SPACE}: son résultat s'affiche au-dessus "
        "de la liste dès qu'elle est terminée.",
    )
    return redirect("referrals:inbox")


@require_POST
def unit_auto_assign(request):
    """A manager switches the automatic assignment of the unit's new referrals."""
    from referrals.routing import unit_set_auto_assign

    user = request.user
    if user.role != Role.MANAGER or not user.is_unit_member:
        raise PermissionDenied("Réservé aux responsables d'unité.")
    enabled = request.POST.get("auto_assign") == "1"
    unit_set_auto_assign(unit=user.unit, acting_user=user, enabled=enabled)
    messages.success(
        request,
        "Attribution automatique activée : chaque nouveau signalement ira à l'ASS la moins "
        "chargée de l'unité."
        if enabled
        else "Attribution automatique désactivée : les signalements sont attribués à la main.",
    )
    return redirect("referrals:inbox")


# --- Referral detail and its actions --------------------------------------------------------


def _event_rows(signalement):
    rows = []
    for event in signalement.events.select_related("actor"):
        if event.kind in (SignalementEvent.Kind.STATUS, SignalementEvent.Kind.FORWARDED):
            old = STATUS_LABELS.get(event.old_value, event.old_value)
            new = STATUS_LABELS.get(event.new_value, event.new_value)
        else:
            old, new = event.old_value, STATUS_LABELS.get(event.new_value, event.new_value)
        rows.append({"event": event, "old": old, "new": new})
    return rows


def _render_detail(request, signalement, *, forms=None, status=200):
    user = request.user
    today = timezone.localdate()
    forms = forms or {}
    attempts = list(signalement.contact_attempts.select_related("user"))
    reached = any(a.resultat == ContactAttempt.Resultat.JOINT for a in attempts)
    can_work = can_work_signalement(user, signalement) and signalement.is_open
    can_assign = can_assign_signalement(user, signalement) and signalement.is_open
    can_open = can_open_case(user, signalement) and services.can_lead_to_case(signalement)
    can_hand_over = can_hand_over_signalement(user, signalement) and services.can_hand_over(
        signalement, reached=reached
    )
    # « Transmettre » and « Classer » while the medical referral is « nouveau »; a person
    # already followed by the service social shows that instead of « Transmettre ».
    can_forward = can_forward_signalement(user, signalement) and signalement.statut == (
        Statut.NOUVEAU
    )
    already_followed = (
        services.already_followed_message(signalement.assure, user) if can_forward else None
    )
    context = {
        "signalement": signalement,
        "assure": signalement.assure,
        "show_nir": can_see_nir(user),
        "markers": _arret_markers(signalement.arret, today) if signalement.arret_id else [],
        "jours": signalement.arret.duree_au(today) if signalement.arret_id else None,
        "attempts": attempts,
        "events": _event_rows(signalement),
        "forwarded_from": signalement.forwarded_from,
        "can_work": can_work,
        "can_assign": can_assign,
        "can_open": can_open,
        "can_forward": can_forward,
        "already_followed": already_followed,
        "can_record_medical": can_record_medical_decisions(user, signalement),
        "referral_actions": hooks.referral_actions(request, signalement),
        "today": today,
        "contact_form": None,
        "status_form": None,
        "assign_form": None,
        "handover_form": None,
    }
    if can_work:
        context["contact_form"] = forms.get("contact") or ContactAttemptForm()
        status_form = forms.get("status") or StatusForm(signalement=signalement)
        context["status_form"] = status_form if status_form.fields["to_status"].choices else None
    if can_hand_over or "handover" in forms:  # a refused hand-over shows why
        context["handover_form"] = forms.get("handover") or HandOverForm(signalement=signalement)
    if can_assign:
        context["assign_form"] = forms.get("assign") or AssignForm(
            user=user, signalement=signalement
        )
    return render(request, "referrals/signalement_detail.html", context, status=status)


def _read(request, signalement, page=None):
    """Every page that shows a referral writes a read row (domain §11); `page` names the form
    that shows it when it is not the referral's own page."""
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=signalement,
        assure_id=signalement.assure_id,
        changes={"page": page} if page else None,
    )


def signalement_detail(request, pk):
    signalement = get_signalement_for_user(request.user, pk)
    _read(request, signalement)
    return _render_detail(request, signalement)


@require_POST
def signalement_contact_add(request, pk):
    signalement = get_signalement_for_user(request.user, pk, can_work_signalement)
    form = ContactAttemptForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.contact_attempt_add(
                signalement=signalement,
                acting_user=request.user,
                canal=data["canal"],
                resultat=data["resultat"],
                at=data["at"],
                note=data["note"],
                propose_meeting=data["propose_meeting"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Tentative de contact enregistrée.")
            return redirect("referrals:signalement_detail", pk=signalement.pk)
    return _render_detail(request, signalement, forms={"contact": form})


@require_POST
def signalement_status(request, pk):
    signalement = get_signalement_for_user(request.user, pk, can_work_signalement)
    form = StatusForm(request.POST, signalement=signalement)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.signalement_transition(
                signalement=signalement,
                to_status=data["to_status"],
                acting_user=request.user,
                reason=data["reason"],
                from_status=data["from_status"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Statut changé : « {signalement.get_statut_display()} ».")
            return redirect("referrals:signalement_detail", pk=signalement.pk)
    return _render_detail(request, signalement, forms={"status": form})


@require_POST
def signalement_assign(request, pk):
    user = request.user
    signalement = get_signalement_for_user(user, pk, can_assign_signalement)
    form = AssignForm(request.POST, user=user, signalement=signalement)
    if form.is_valid():
        data = form.cleaned_data
        try:
            signalement = services.signalement_assign(
                signalement=signalement,
                acting_user=user,
                unit=data["unit"],
                assigned_to=data["assigned_to"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            who = signalement.assigned_to or "non attribué"
            messages.success(request, f"Signalement attribué : {signalement.unit} / {who}.")
            if not Signalement.objects.visible_to(user).filter(pk=signalement.pk).exists():
                return redirect("referrals:inbox")
            return redirect("referrals:signalement_detail", pk=signalement.pk)
    return _render_detail(request, signalement, forms={"assign": form})


@require_POST
def signalement_hand_over(request, pk):
    """A conseiller who reached the person books the first meeting with an ASS and hands the
    referral over to her."""
    user = request.user
    signalement = get_signalement_for_user(user, pk, can_hand_over_signalement)
    form = HandOverForm(request.POST, signalement=signalement)
    if form.is_valid():
        data = form.cleaned_data
        try:
            signalement = services.signalement_hand_over(
                signalement=signalement,
                acting_user=user,
                ass=data["ass"],
                debut=form.debut,
                mode=data["mode"],
                duree_minutes=data["duree_minutes"],
            )
        except ValidationError as exc:
            _add_errors(form, exc, {"debut": "date"})
        else:
            messages.success(
                request,
                f"Relais passé à {signalement.assigned_to} : premier rendez-vous proposé le "
                f"{timezone.localtime(signalement.rdv_debut):%d/%m/%Y à %H:%M}.",
            )
            return redirect("referrals:signalement_detail", pk=signalement.pk)
    return _render_detail(request, signalement, forms={"handover": form})


def _add_errors(form, exc, field_map):
    """A service's ValidationError next to the right fields, or on top of the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        target = field_map.get(field, field)
        form.add_error(target if target in form.fields else None, errors)


# --- Manual referral ---------------------------------------------------------------------------


def signalement_create(request):
    user = request.user
    _require_unit_member(user)
    form = ManualSignalementForm(request.POST or None, region_id=user.unit.region_id)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            signalement, created = services.signalement_create_manual(acting_user=user, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            visible = Signalement.objects.visible_to(user).filter(pk=signalement.pk).exists()
            if created:
                messages.success(request, "Signalement créé ; la personne a été enregistrée.")
            else:
                # The name only to whoever sees the referral now (not another unit's person).
                who = f" ({signalement.assure})" if visible else ""
                messages.info(
                    request,
                    f"Personne déjà connue{who} : sa fiche existante a été reprise, les champs "
                    "d'identité saisis ont été ignorés.",
                )
            if visible:
                return redirect("referrals:signalement_detail", pk=signalement.pk)
            if created:  # a new person: where their own postal code sent it
                where = (
                    unit_with_article(signalement.unit)
                    if signalement.unit_id
                    else "la file régionale « à répartir »"
                )
                messages.success(request, f"Le signalement a été orienté vers {where}.")
            else:  # someone another team knows: nothing of where they are followed
                messages.success(
                    request,
                    "Le signalement a été transmis à l'équipe dont dépend la personne ; il "
                    "n'apparaît pas dans vos listes.",
                )
            return redirect("referrals:inbox")
    return render(request, "referrals/signalement_create.html", {"form": form})


# --- Service médical ---------------------------------------------------------------------------


def _require_medecin(user):
    if user.role != Role.MEDECIN:
        raise PermissionDenied("Cette page est réservée au médecin conseil.")


def medical_list(request):
    user = request.user
    _require_medecin(user)
    today = timezone.localdate()
    show_all = request.GET.get("vue") == "tous"
    qs = Signalement.objects.visible_to(user).filter(service=Service.MEDICAL)
    if not show_all:
        qs = qs.filter(statut=Statut.NOUVEAU)
    qs = (
        qs.select_related("assure", "arret")
        .annotate(
            already_followed=services.followed_by_service_social(OuterRef("assure_id")),
            pending=Case(
                When(statut=Statut.NOUVEAU, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .order_by("pending", "-date_signalement", "pk")
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"signalement": s, "jours": s.arret.duree_au(today) if s.arret_id else None} for s in page
    ]
    audit_listed(
        user=request.user,
        objects=page,
        assure_id_of=lambda s: s.assure_id,
        page="liste du service médical",
    )
    context = {"page_obj": page, "rows": rows, "show_all": show_all}
    return render(request, "referrals/medical_list.html", context)


def signalement_forward(request, pk):
    signalement = get_signalement_for_user(request.user, pk, can_forward_signalement)
    refusal = services.forward_refusal(signalement, request.user)
    form = ForwardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            social = services.signalement_forward(
                signalement=signalement,
                acting_user=request.user,
                motif=form.cleaned_data["motif"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            where = social.unit or "la file régionale « à répartir »"
            messages.success(
                request, f"Signalement transmis au service social ({where}) pour {social.assure}."
            )
            return redirect("referrals:medical_list")
    _read(request, signalement, page="transmission au service social")
    context = {"signalement": signalement, "form": form, "refusal": refusal}
    return render(request, "referrals/signalement_forward.html", context)


def signalement_classify(request, pk):
    signalement = get_signalement_for_user(request.user, pk, can_forward_signalement)
    form = ClassifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.signalement_transition(
                signalement=signalement,
                to_status=Statut.CLASSE,
                acting_user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Signalement {de(signalement.assure)} classé sans suite.")
            return redirect("referrals:medical_list")
    _read(request, signalement, page="classement sans suite")
    context = {"signalement": signalement, "form": form}
    return render(request, "referrals/signalement_classify.html", context)


def signalement_medical_record(request, pk):
    """The médecin conseil notes a visite de pré-reprise request or a temps partiel
    thérapeutique decision on a service médical referral of their region."""
    signalement = get_signalement_for_user(request.user, pk, can_record_medical_decisions)
    form = MedicalDecisionsForm(request.POST or None, signalement=signalement)
    if request.method == "POST" and form.is_valid():
        try:
            services.signalement_record_medical(
                signalement=signalement, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc, {})
        else:
            messages.success(request, f"Décisions enregistrées pour {signalement.assure}.")
            return redirect("referrals:signalement_detail", pk=signalement.pk)
    _read(request, signalement, page="décisions du service médical")
    context = {"signalement": signalement, "form": form}
    return render(request, "referrals/signalement_medical_record.html", context)


# --- Arrêt ---------------------------------------------------------------------------------------


def arret_detail(request, pk):
    user = request.user
    today = timezone.localdate()
    arret = get_object_or_404(
        ArretTravail.objects.select_related("assure", "cpam").filter(
            assure__in=Assure.objects.visible_to(user)
        ),
        pk=pk,
    )
    audit(user=user, action=AuditLog.Action.VIEW, obj=arret, assure_id=arret.assure_id)
    context = {
        "arret": arret,
        "assure": arret.assure,
        "show_nir": can_see_nir(user),
        "jours": arret.duree_au(today),
        "markers": _arret_markers(arret, today),
        "signalements": arret.signalements.visible_to(user).select_related("unit", "assigned_to"),
        "today": today,
    }
    return render(request, "referrals/arret_detail.html", context)


urlpatterns = [
    path("signalements/", inbox, name="inbox"),
    path("signalements/nouveau/", signalement_create, name="signalement_create"),
    path("signalements/detection/", detection_run, name="detection_run"),
    path("signalements/attribution-auto/", unit_auto_assign, name="unit_auto_assign"),
    path("signalements/<int:pk>/", signalement_detail, name="signalement_detail"),
    path("signalements/<int:pk>/contact/", signalement_contact_add, name="signalement_contact_add"),
    path("signalements/<int:pk>/statut/", signalement_status, name="signalement_status"),
    path("signalements/<int:pk>/attribution/", signalement_assign, name="signalement_assign"),
    path("signalements/<int:pk>/relais/", signalement_hand_over, name="signalement_hand_over"),
    path("service-medical/", medical_list, name="medical_list"),
    path("service-medical/<int:pk>/transmettre/", signalement_forward, name="signalement_forward"),
    path("service-medical/<int:pk>/classer/", signalement_classify, name="signalement_classify"),
    path(
        "service-medical/<int:pk>/decisions/",
        signalement_medical_record,
        name="signalement_medical_record",
    ),
    path("arrets/<int:pk>/", arret_detail, name="arret_detail"),
]
