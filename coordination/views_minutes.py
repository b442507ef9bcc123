"""The minutes of a held meeting: the compte rendu as a PDF (WeasyPrint) and the relevé de
décisions, as a printable page and as a PDF.

Who: the instance's coordinators and the members invited to the meeting while they are members
(`Reunion.objects.visible_to`; anyone else → 404), once the meeting is held (before → 403).
What: attendance, quorum and, per item, the fiche, the synthesis, the decisions and the
actions — never the person's identity, and for a situation whose consent was revoked only
« Situation n° X retirée à la demande de l'assuré ». Every read is in the access log: one row
per situation in the file and one for the meeting.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import capfirst, slugify

from coordination import services
from coordination.models import ActionInstance, Decision, Presence, Reunion, Saisine
from coordination.permissions import get_reunion_for_user
from pdp.audit import audit
from pdp.models import AuditLog
from pdp.pdf import PdfUnavailable, render_pdf

logger = logging.getLogger(__name__)

NOT_YET = "Le compte rendu n'est pas encore disponible : la réunion n'a pas encore été tenue."

# The attendance groups of the minutes, in this order.
PRESENCE_GROUPS = [
    (Presence.Statut.PRESENT, "Présents"),
    (Presence.Statut.REPRESENTE, "Représentés"),
    (Presence.Statut.EXCUSE, "Excusés"),
    (Presence.Statut.ABSENT, "Absents"),
    (Presence.Statut.INVITE, "Présence non renseignée"),
]

# The fiche as printed: the question and the urgency come first, apart.
FICHE_ROWS = [name for name in Saisine.FICHE_FIELDS if name != "urgence"]


def _reunion_held(user, pk):
    reunion = get_reunion_for_user(user, pk)
    if reunion.statut in Reunion.NOT_HELD:
        raise PermissionDenied(NOT_YET)
    return reunion


def _fiche(saisine):
    """(label, value) of every field of the fiche, choices as their French label."""
    rows = []
    for name in FICHE_ROWS:
        field = Saisine._meta.get_field(name)
        if field.choices:
            value = getattr(saisine, f"get_{name}_display")()
        else:
            value = getattr(saisine, name)
        rows.append((capfirst(field.verbose_name), value))
    return rows


def _minutes(reunion):
    """Everything the minutes show, in a fixed number of queries whatever the agenda's size.
    A situation whose consent was revoked keeps its number and nothing else."""
    presences = list(reunion.presences.select_related("membre__user", "membre__contact"))
    groups = []
    for statut, label in PRESENCE_GROUPS:
        members = [p for p in presences if p.statut == statut]
        if members or statut != Presence.Statut.INVITE:
            groups.append({"statut": statut, "label": label, "presences": members})
    reached, explanation = services.quorum(reunion, presences)
    points = list(
        reunion.points.select_related("saisine__consentement", "saisine__accompagnement")
        .prefetch_related(
            Prefetch("decisions", queryset=Decision.objects.select_related("type")),
            Prefetch(
                "actions",
                queryset=ActionInstance.objects.select_related(
                    "responsable__user", "responsable__contact"
                ),
            ),
        )
        .order_by("ordre", "pk")
    )
    for point in points:
        point.lisible = point.saisine.fiche_lisible
        point.fiche = _fiche(point.saisine) if point.lisible else []
    addenda = list(reunion.addenda.select_related("created_by")) if reunion.is_locked else []
    return {
        "reunion": reunion,
        "instance": reunion.instance,
        "presence_groups": groups,
        "quorum_reached": reached,
        "quorum_explanation": explanation,
        "points": points,
        "addenda": addenda,
        "edited_at": timezone.now(),
    }


def _log_read(user, reunion, points, *, fiches_page, page):
    """One access-log row per situation in the file, and one for the meeting."""
    services.fiches_read(user=user, saisines=[p.saisine for p in points], page=fiches_page)
    audit(user=user, action=AuditLog.Action.VIEW, obj=reunion, changes={"page": page})


def _filename(prefix, reunion):
    day = timezone.localtime(reunion.debut).date()
    return f"{prefix}-{slugify(reunion.instance.nom)}-{day:%Y-%m-%d}.pdf"


def _pdf_response(request, reunion, *, template, filename_prefix, fiches_page, page):
    context = _minutes(reunion)
    try:
        pdf = render_pdf(template, context)
    except PdfUnavailable as exc:
        logger.warning("PDF indisponible : %s", exc)
        return render(
            request,
            "coordination/minutes_unavailable.html",
            {"reunion": reunion, "reason": str(exc)},
            status=503,
        )
    _log_read(request.user, reunion, context["points"], fiches_page=fiches_page, page=page)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=_filename(filename_prefix, reunion)
    )
    return response


def reunion_minutes_pdf(request, pk):
    reunion = _reunion_held(request.user, pk)
    return _pdf_response(
        request,
        reunion,
        template="coordination/minutes_pdf.html",
        filename_prefix="compte-rendu",
        fiches_page="compte rendu",
        page="compte rendu PDF",
    )


def reunion_releve_pdf(request, pk):
    reunion = _reunion_held(request.user, pk)
    return _pdf_response(
        request,
        reunion,
        template="coordination/minutes_releve_pdf.html",
        filename_prefix="releve-decisions",
        fiches_page="relevé de décisions",
        page="relevé de décisions PDF",
    )


def reunion_releve(request, pk):
    reunion = _reunion_held(request.user, pk)
    context = _minutes(reunion)
    page = "relevé de décisions"
    _log_read(request.user, reunion, context["points"], fiches_page=page, page=page)
    return render(request, "coordination/minutes_releve.html", context)


urlpatterns = [
    path("reunions/<int:pk>/compte-rendu.pdf", reunion_minutes_pdf, name="reunion_minutes_pdf"),
    path("reunions/<int:pk>/releve/", reunion_releve, name="reunion_releve"),
    path("reunions/<int:pk>/releve.pdf", reunion_releve_pdf, name="reunion_releve_pdf"),
]
