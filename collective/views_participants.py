"""Staff pages of an action's participants and attendance (issue 11, item 2).

Every page: the action visible to the user's region (else 404), then the rule (else 403):
the participants' names and every change are for who runs the action
(`collective.permissions.can_see_participants`, `can_run_action`): its animateurs and the
unit's manager. Participants never see each other: there is no public list.

- `participants_page`: the participants section as a page of its own (the action page includes
  the same section, `collective/_participants_section.html`).
- `participant_add`: pick a person among the open accompagnements of the action's unit (search
  by name; the ASS's own cases first), tick the person's agreement, add: a seat or the
  waitlist, and the message says which.
- `participant_cancel` (with a reason), `participant_confirm` (a seat offered from the waitlist,
  confirmed on the person's behalf).
- `attendance_grid`: one row per counted participant, one column per session that has begun,
  saved in one POST (`collective.attendance.attendance_record` per session, in one
  transaction).
- `attendance_import`: the CSV of the visio tool for one session, with its line-by-line report.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from cases.models import Accompagnement
from collective import attendance
from collective import participants as p
from collective.models import ActionStatus, Participant, Presence, PresenceStatus, StatusClass
from collective.permissions import can_run_action, can_see_participants, get_action_for_user
from pdp.audit import audit, audit_listed
from pdp.forms import FrenchChoicesMixin, apply_service
from pdp.models import AuditLog
from referrals.models import build_search_name

ADD_RESULTS = 30
ACCORD_LABEL = "La personne a donné son accord pour participer"


def action_url(action):
    """The action's page (the actions' views), else this app's participants page."""
    try:
        return reverse("collective:action_detail", args=[action.pk])
    except NoReverseMatch:
        return reverse("collective:participants", args=[action.pk])


def _participant(action, pk):
    return get_object_or_404(
        Participant.objects.select_related("assure", "statut", "action"), pk=pk, action=action
    )


def _seat_message(participant):
    name = participant.assure
    if participant.statut.code == p.LISTE_ATTENTE:
        return (
            f"L'action est complète\u00a0: {name} est inscrit·e sur la liste d'attente "
            f"(position {p.waitlist_position(participant)}). Une place libérée lui sera proposée."
        )
    return f"{name} est inscrit·e\u00a0: une place lui est réservée."


# --- The participants page -------------------------------------------------------------------


def audit_section(user, section, page):
    """The names the participants section shows: one read row per person (`audit_listed`)."""
    if section.get("visible"):
        audit_listed(
            user=user,
            objects=[row for _t, _c, rows in section["groups"] for row in rows],
            assure_id_of=lambda row: row.assure_id,
            page=page,
        )


def participants_page(request, pk):
    action = get_action_for_user(request.user, pk, can_see_participants)
    section = p.section_context(request.user, action)
    audit_section(request.user, section, "collective_participants")
    return render(
        request,
        "collective/participants_page.html",
        {"action": action, "participants_section": section, "action_url": action_url(action)},
    )


# --- Adding a person from a case -------------------------------------------------------------


class AddForm(FrenchChoicesMixin, forms.Form):
    accompagnement = forms.ModelChoiceField(
        queryset=Accompagnement.objects.none(),
        label="Personne",
        error_messages={
            "required": "Choisissez une personne dans la liste.",
            "invalid_choice": "Choisissez une personne dans la liste.",
        },
    )
    accord = forms.BooleanField(label=ACCORD_LABEL, required=False)

    def __init__(self, *args, cases, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accompagnement"].queryset = cases


def _unit_cases(user, action):
    """The open accompagnements of the action's unit the user sees (for a regional action,
    those of the user's unit), the user's own first."""
    unit_id = action.unit_id or user.unit_id
    if unit_id is None:
        return Accompagnement.objects.none()
    taken = Participant.objects.filter(
        action_id=action.pk, assure_id=OuterRef("assure_id")
    ).exclude(statut__classe=StatusClass.NEGATIVE)
    return (
        Accompagnement.objects.visible_to(user)
        .open()
        .filter(unit_id=unit_id)
        .select_related("assure", "referent")
        .annotate(
            mine=Case(
                When(referent_id=user.pk, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            deja=Exists(taken),
        )
        .order_by("mine", "assure__nom_naissance", "assure__prenoms", "pk")
    )


def participant_add(request, pk):
    user = request.user
    action = get_action_for_user(user, pk, can_run_action)
    cases = _unit_cases(user, action)
    q = (request.POST.get("q") if request.method == "POST" else request.GET.get("q")) or ""
    q = q.strip()[:100]
    shown = cases
    for word in build_search_name(q).split():
        shown = shown.filter(assure__search_name__contains=word)
    posted = request.method == "POST"
    form = AddForm(request.POST if posted else None, cases=cases)
    closed = action.statut in p.CLOSED
    if posted and closed:
        form.is_valid()
        form.add_error(None, "Cette action est terminée ou annulée\u00a0: plus d'inscription.")
    elif posted and form.is_valid():
        participant = apply_service(
            form,
            p.participant_add_from_case,
            action=action,
            accompagnement=form.cleaned_data["accompagnement"],
            accord=form.cleaned_data["accord"],
            acting_user=user,
        )
        if participant is not None:
            messages.success(request, _seat_message(participant))
            return redirect("collective:participant_add", pk=action.pk)
    rows = list(shown[: ADD_RESULTS + 1])
    selected = str(form["accompagnement"].value() or "")
    audit_listed(
        user=user,
        objects=rows[:ADD_RESULTS],
        assure_id_of=lambda case: case.assure_id,
        page="collective_participant_add",
    )
    return render(
        request,
        "collective/participant_add.html",
        {
            "action": action,
            "action_url": action_url(action),
            "form": form,
            "q": q,
            "rows": rows[:ADD_RESULTS],
            "more": len(rows) > ADD_RESULTS,
            "selected": selected,
            "closed": closed,
            "accord_label": ACCORD_LABEL,
            "no_unit": action.unit_id is None and user.unit_id is None,
        },
    )


# --- Cancelling, confirming ------------------------------------------------------------------


class CancelForm(FrenchChoicesMixin, forms.Form):
    motif = forms.CharField(
        label="Motif de l'annulation",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Indiquez le motif de l'annulation."},
        help_text="Par exemple\u00a0: «\u00a0ne souhaite plus participer\u00a0», "
        "«\u00a0reprise du travail\u00a0».",
    )


def participant_cancel(request, pk, participant_pk):
    user = request.user
    action = get_action_for_user(user, pk, can_run_action)
    participant = _participant(action, participant_pk)
    if participant.statut.classe == StatusClass.NEGATIVE:
        messages.info(request, f"L'inscription de {participant.assure} est déjà annulée.")
        return redirect(action_url(action))
    posted = request.method == "POST"
    form = CancelForm(request.POST if posted else None)
    if posted and form.is_valid():
        pending = set(
            Participant.objects.filter(action=action, statut__code=p.A_CONFIRMER).values_list(
                "pk", flat=True
            )
        )
        done = apply_service(
            form,
            p.participant_cancel,
            participant=participant,
            acting_user=user,
            reason=form.cleaned_data["motif"],
        )
        if done is not None:
            text = f"Inscription de {participant.assure} annulée."
            promoted = list(
                Participant.objects.filter(action=action, statut__code=p.A_CONFIRMER)
                .exclude(pk__in=pending)
                .select_related("assure")
            )
            for other in promoted:
                text += (
                    f" La place libérée est proposée à {other.assure}, à confirmer avant le "
                    f"{attendance.french_day(other.confirmer_avant)} à "
                    f"{attendance.french_time(other.confirmer_avant)}."
                )
            messages.success(request, text)
            return redirect(action_url(action))
    audit(
        user=user,
        action=AuditLog.Action.VIEW,
        obj=participant,
        assure_id=participant.assure_id,
        changes={"page": "annulation d'une inscription"},
    )
    return render(
        request,
        "collective/participant_cancel.html",
        {
            "action": action,
            "action_url": action_url(action),
            "participant": participant,
            "form": form,
        },
    )


@require_POST
def participant_confirm(request, pk, participant_pk):
    user = request.user
    action = get_action_for_user(user, pk, can_run_action)
    participant = _participant(action, participant_pk)
    try:
        p.participant_confirm(participant=participant, acting_user=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Place de {participant.assure} confirmée.")
    return redirect(action_url(action))


# --- Attendance ------------------------------------------------------------------------------


def _cell_name(participant_id, seance_id):
    return f"p{participant_id}_s{seance_id}"


def attendance_grid(request, pk):
    user = request.user
    action = get_action_for_user(user, pk, can_run_action)
    now = timezone.now()
    seances = list(action.seances.filter(debut__lte=now).order_by("debut", "pk"))
    upcoming = action.seances.filter(debut__gt=now).count()
    people = list(attendance.counted_participants(action))
    recorded = {
        (row.participant_id, row.seance_id): row.statut
        for row in Presence.objects.filter(seance__in=seances, participant__in=people).only(
            "participant_id", "seance_id", "statut"
        )
    }
    posted = request.method == "POST"
    error = None
    if posted:
        # A cell missing from the POST (a page loaded before someone was added) is left as is.
        values = {
            seance.pk: {
                person.pk: request.POST[_cell_name(person.pk, seance.pk)]
                for person in people
                if _cell_name(person.pk, seance.pk) in request.POST
            }
            for seance in seances
        }
        try:
            if action.statut == ActionStatus.ANNULEE:
                raise ValidationError(
                    "L'action est annulée\u00a0: les présences ne se saisissent plus."
                )
            if not seances:
                raise ValidationError("Aucune séance n'a encore eu lieu.")
            with transaction.atomic():
                changed = sum(
                    attendance.attendance_record(
                        seance=seance, statuses=values[seance.pk], acting_user=user
                    )
                    for seance in seances
                )
        except ValidationError as exc:
            error = " ".join(exc.messages)
            recorded.update(
                {
                    (person_id, seance_id): value
                    for seance_id, column in values.items()
                    for person_id, value in column.items()
                }
            )
        else:
            if changed:
                messages.success(request, f"Présences enregistrées ({changed} modification(s)).")
            else:
                messages.info(request, "Aucune présence modifiée.")
            return redirect("collective:attendance", pk=action.pk)
    columns = [
        {
            "seance": seance,
            "label": attendance.seance_label(seance),
            "importable": bool(seance.lien_visio or action.lien_visio)
            or action.type.inscription_par_code,
        }
        for seance in seances
    ]
    rows = [
        {
            "participant": person,
            "cells": [
                {
                    "name": _cell_name(person.pk, seance.pk),
                    "value": recorded.get((person.pk, seance.pk), ""),
                    "label": f"{person.assure}, séance du {attendance.seance_label(seance)}",
                }
                for seance in seances
            ],
        }
        for person in people
    ]
    audit_listed(
        user=user, objects=people, assure_id_of=lambda r: r.assure_id, page="collective_presences"
    )
    return render(
        request,
        "collective/attendance_grid.html",
        {
            "action": action,
            "action_url": action_url(action),
            "columns": columns,
            "rows": rows,
            "upcoming": upcoming,
            "choices": [("", "Non renseigné"), *PresenceStatus.choices],
            "error": error,
            "cancelled": action.statut == ActionStatus.ANNULEE,
        },
    )


class ImportForm(FrenchChoicesMixin, forms.Form):
    fichier = forms.FileField(
        label="Export des présences (CSV)",
        help_text="Fichier CSV exporté par l'outil de visioconférence, avec une ligne d'en-tête "
        "et une colonne «\u00a0e-mail\u00a0» ou «\u00a0code\u00a0» "
        "(séparateur point-virgule ou virgule, "
        "encodage UTF-8 ou Windows-1252).",
        error_messages={
            "required": "Choisissez le fichier exporté par l'outil de visioconférence.",
            "empty": "Le fichier est vide.",
        },
    )


def attendance_import(request, pk, seance_pk):
    user = request.user
    action = get_action_for_user(user, pk, can_run_action)
    seance = get_object_or_404(action.seances, pk=seance_pk)
    seance.action = action
    posted = request.method == "POST"
    form = ImportForm(request.POST, request.FILES) if posted else ImportForm()
    report = None
    if not attendance.is_past(seance):
        refused = "La séance n'a pas encore eu lieu\u00a0: importez les présences après."
    elif action.statut == ActionStatus.ANNULEE:
        refused = "L'action est annulée\u00a0: les présences ne se saisissent plus."
    else:
        refused = None
    if posted and refused:
        form.is_valid()
        form.add_error(None, refused)
    elif posted and form.is_valid():
        upload = form.cleaned_data["fichier"]
        if upload.size > attendance.MAX_IMPORT_BYTES:
            form.add_error(
                "fichier",
                "Le fichier dépasse 2 Mo\u00a0: est-ce bien l'export des présences\u00a0?",
            )
        else:
            report = apply_service(
                form,
                attendance.attendance_import,
                seance=seance,
                data=upload.read(),
                acting_user=user,
            )
            if report is not None:
                audit(
                    user=user,
                    action=AuditLog.Action.UPDATE,
                    obj=seance,
                    changes={
                        "import_presences": {
                            "lignes": len(report.lines),
                            "pointees": report.count(attendance.Outcome.PRESENT),
                        }
                    },
                )
    return render(
        request,
        "collective/attendance_import.html",
        {
            "action": action,
            "action_url": action_url(action),
            "seance": seance,
            "seance_label": attendance.seance_label(seance),
            "form": form,
            "report": report,
            "refused": refused,
            "email_headers": attendance.EMAIL_HEADERS,
            "code_headers": attendance.CODE_HEADERS,
        },
    )


urlpatterns = [
    path("<int:pk>/participants/", participants_page, name="participants"),
    path("<int:pk>/participants/ajouter/", participant_add, name="participant_add"),
    path(
        "<int:pk>/participants/<int:participant_pk>/annuler/",
        participant_cancel,
        name="participant_cancel",
    ),
    path(
        "<int:pk>/participants/<int:participant_pk>/confirmer/",
        participant_confirm,
        name="participant_confirm",
    ),
    path("<int:pk>/presences/", attendance_grid, name="attendance"),
    path(
        "<int:pk>/seances/<int:seance_pk>/import-presences/",
        attendance_import,
        name="attendance_import",
    ),
]
