"""Right-of-access pages (RGPD art. 15; services in `privacy.archive`).

For the manager of the unit of one of the person's cases or referrals
(`cases.permissions.can_request_access_archive`): someone who does not see the person → 404,
the other staff who see them (the ASS référent, the unit's conseillers) → 403. Each download
checks again, refuses an expired archive with a French page (410), is sent as an attachment,
never cached, and is logged as an export of the person's file."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cases.permissions import can_request_access_archive
from pdp.audit import audit
from pdp.models import AuditLog
from privacy import archive as service
from privacy.models import AccessArchive
from referrals.permissions import get_assure_for_user

PAGE_NAME = "droit d'accès"
FILES = {
    "pdf": "application/pdf",
    "json": "application/json; charset=utf-8",
}


def _assure(request, pk):
    return get_assure_for_user(request.user, pk, can_request_access_archive)


def _archive(request, archive_id):
    """The archive, if its person is one the user may answer for (else 404 / 403)."""
    archive = get_object_or_404(AccessArchive.objects.select_related("requested_by"), pk=archive_id)
    archive.assure = _assure(request, archive.assure_id)
    return archive


def _rows(archives, now):
    for archive in archives:
        archive.expired = service.is_expired(archive, now)
    return archives


@require_GET
def archive_list(request, pk):
    assure = _assure(request, pk)
    archives = _rows(
        list(AccessArchive.objects.filter(assure=assure).select_related("requested_by")),
        timezone.now(),
    )
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=assure,
        assure_id=assure.pk,
        changes={"page": PAGE_NAME},
    )
    return render(
        request,
        "privacy/archive_list.html",
        {
            "assure": assure,
            "archives": archives,
            "pending": any(a.status == AccessArchive.Status.PENDING for a in archives),
        },
    )


@require_POST
def archive_generate(request, pk):
    assure = _assure(request, pk)
    try:
        service.archive_request(assure=assure, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            "Archive demandée\u00a0: elle sera prête dans un instant, sur cette page.",
        )
    return redirect("privacy:archive_list", pk=assure.pk)


@require_GET
def archive_row(request, archive_id):
    """The row of one archive, which a pending row polls (htmx) until it is ready. Shows the
    archive's status only, none of the file's content: not logged as a read of the file.
    Once the archive is no longer pending, htmx reloads the whole page (« HX-Refresh »), which
    offers « Générer l'archive » again."""
    archive = _archive(request, archive_id)
    _rows([archive], timezone.now())
    response = render(request, "privacy/archive_row.html", {"archive": archive})
    if archive.status != AccessArchive.Status.PENDING:
        response["HX-Refresh"] = "true"
    return response


@require_GET
def archive_download(request, archive_id, kind):
    archive = _archive(request, archive_id)
    if service.is_expired(archive):
        response = render(request, "privacy/archive_expired.html", {"archive": archive}, status=410)
        return response
    try:
        handle = service.archive_file(archive, kind).open("rb")
    except (ValueError, OSError) as exc:
        raise Http404("Fichier introuvable.") from exc
    audit(
        user=request.user,
        action=AuditLog.Action.EXPORT,
        obj=archive,
        assure_id=archive.assure_id,
        changes={"format": [None, kind]},
    )
    day = timezone.localdate(archive.ready_at)
    name = f"droit-acces-{archive.assure_id}-{day:%Y-%m-%d}.{kind}"
    response = FileResponse(handle, as_attachment=True, filename=name, content_type=FILES[kind])
    response["Cache-Control"] = "no-store, private"
    return response
