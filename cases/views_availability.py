"""The availability page of an ASS: weekly opening ranges, absences, next free slots.

`/agenda/disponibilites/` is the user's own page; `?ass=<pk>` opens an ASS's page for her unit's
manager. An ASS of another unit is not found (404); a colleague, a conseiller or a manager of
nobody gets 403 (`cases.permissions.can_manage_availability`).
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from cases import availability
from cases.forms_availability import AbsenceForm, PlageForm
from cases.models import Absence, Motif, PlageOuverture
from cases.permissions import can_manage_availability
from pdp.forms import apply_service
from pdp.models import Role, User
from pdp.permissions import FORBIDDEN_MESSAGE, in_unit


def _check_rule(user, ass):
    if not can_manage_availability(user, ass):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    return ass


def _get_ass_for_user(user, raw_pk):
    """The ASS whose availability `user` opens: herself, or `raw_pk` among her unit's staff."""
    if not in_unit(user):
        raise PermissionDenied("Les disponibilités sont réservées aux équipes des unités.")
    if not raw_pk:
        return _check_rule(user, user)
    try:
        pk = int(raw_pk)
    except ValueError as exc:
        raise Http404("Membre de l'unité inconnu.") from exc
    ass = get_object_or_404(User, pk=pk, unit_id=user.unit_id, is_active=True)
    return _check_rule(user, ass)


def _get_plage_for_user(user, pk):
    if not in_unit(user):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    qs = PlageOuverture.objects.select_related("ass")
    plage = get_object_or_404(qs, pk=pk, ass__unit_id=user.unit_id)
    _check_rule(user, plage.ass)
    return plage


def _get_absence_for_user(user, pk):
    if not in_unit(user):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    qs = Absence.objects.select_related("ass")
    absence = get_object_or_404(qs, pk=pk, ass__unit_id=user.unit_id)
    _check_rule(user, absence.ass)
    return absence


def _page_url(user, ass):
    url = reverse("cases:availability")
    return url if ass.pk == user.pk else f"{url}?ass={ass.pk}"


def availability_page(request):
    user = request.user
    if user.role == Role.MANAGER and in_unit(user) and not request.GET.get("ass"):
        team = User.objects.filter(unit_id=user.unit_id, role=Role.ASS, is_active=True).order_by(
            "last_name", "first_name", "pk"
        )
        return render(request, "cases/availability_team.html", {"team": team})
    ass = _get_ass_for_user(user, request.GET.get("ass"))
    plages = list(PlageOuverture.objects.filter(ass=ass).order_by("weekday", "heure_debut"))
    absences = list(Absence.objects.filter(ass=ass, fin__gt=timezone.now()).order_by("debut")[:50])
    now = timezone.now()
    previews = [
        {"motif": motif, "slots": availability.next_free_slots(ass=ass, motif=motif, now=now)}
        for motif in Motif.objects.filter(active=True).order_by("label")
    ]
    context = {
        "ass": ass,
        "plages": plages,
        "absences": absences,
        "previews": previews,
        "ass_param": "" if ass.pk == user.pk else ass.pk,
    }
    return render(request, "cases/availability_page.html", context)


def availability_plage_create(request):
    ass = _get_ass_for_user(request.user, request.GET.get("ass"))
    form = PlageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = apply_service(
            form, availability.plage_create, acting_user=request.user, ass=ass, **form.cleaned_data
        )
        if created is not None:
            messages.success(request, f"Plage « {created} » ajoutée.")
            return redirect(_page_url(request.user, ass))
    context = {"form": form, "ass": ass, "plage": None, "back": _page_url(request.user, ass)}
    return render(request, "cases/availability_plage_form.html", context)


def availability_plage_edit(request, pk):
    plage = _get_plage_for_user(request.user, pk)
    form = PlageForm(request.POST or None, instance=plage)
    if request.method == "POST" and form.is_valid():
        updated = apply_service(
            form,
            availability.plage_update,
            plage=plage,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if updated is not None:
            messages.success(request, f"Plage « {updated} » modifiée.")
            return redirect(_page_url(request.user, plage.ass))
    back = _page_url(request.user, plage.ass)
    context = {"form": form, "ass": plage.ass, "plage": plage, "back": back}
    return render(request, "cases/availability_plage_form.html", context)


@require_POST
def availability_plage_delete(request, pk):
    plage = _get_plage_for_user(request.user, pk)
    label = str(plage)
    availability.plage_delete(plage=plage, acting_user=request.user)
    messages.success(request, f"Plage « {label} » supprimée.")
    return redirect(_page_url(request.user, plage.ass))


def availability_absence_create(request):
    ass = _get_ass_for_user(request.user, request.GET.get("ass"))
    form = AbsenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = apply_service(
            form,
            availability.absence_create,
            acting_user=request.user,
            ass=ass,
            **form.cleaned_data,
        )
        if created is not None:
            messages.success(request, "Absence enregistrée.")
            return redirect(_page_url(request.user, ass))
    context = {"form": form, "ass": ass, "back": _page_url(request.user, ass)}
    return render(request, "cases/availability_absence_form.html", context)


@require_POST
def availability_absence_delete(request, pk):
    absence = _get_absence_for_user(request.user, pk)
    availability.absence_delete(absence=absence, acting_user=request.user)
    messages.success(request, "Absence supprimée.")
    return redirect(_page_url(request.user, absence.ass))


urlpatterns = [
    path("agenda/disponibilites/", availability_page, name="availability"),
    path(
        "agenda/disponibilites/plages/nouvelle/",
        availability_plage_create,
        name="availability_plage_create",
    ),
    path(
        "agenda/disponibilites/plages/<int:pk>/",
        availability_plage_edit,
        name="availability_plage_edit",
    ),
    path(
        "agenda/disponibilites/plages/<int:pk>/supprimer/",
        availability_plage_delete,
        name="availability_plage_delete",
    ),
    path(
        "agenda/disponibilites/absences/nouvelle/",
        availability_absence_create,
        name="availability_absence_create",
    ),
    path(
        "agenda/disponibilites/absences/<int:pk>/supprimer/",
        availability_absence_delete,
        name="availability_absence_delete",
    ),
]
