"""Campaign letters pages (issue 12; services in `outreach.campaign_letters`).

The campaign's managers only (`campaigns.can_manage`): another region's campaign → 404, the
other staff → 403. Asking for a batch is a POST; the PDF and the CSV of a ready batch are
downloaded through these views only (the files live outside any served directory), and each
download is audited."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from outreach import campaign_letters, campaigns
from outreach.models import LotCourrier
from outreach.views_campaigns import _campagne
from pdp.audit import audit, audit_listed
from pdp.models import AuditLog

FILES = {
    "pdf": ("pdf", "application/pdf"),
    "csv": ("csv", "text/csv; charset=utf-8"),
}


def _section(campagne):
    return reverse("outreach:campaign_detail", args=[campagne.pk]) + "#courriers"


@login_required
@require_POST
def letters_prepare(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    try:
        lot = campaign_letters.lot_create(campagne=campagne, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Lot n°\u00a0{lot.numero} en préparation\u00a0: actualisez la page dans un instant.",
        )
    return redirect(_section(campagne))


@login_required
@require_GET
def letters_download(request, pk, numero, kind):
    campagne = _campagne(request, pk, campaigns.can_manage)
    lot = get_object_or_404(
        LotCourrier, campagne=campagne, numero=numero, statut=LotCourrier.Statut.PRET
    )
    field, content_type = FILES[kind]
    try:
        path = campaign_letters.private_path(getattr(lot, field))
        handle = path.open("rb")
    except (ValueError, OSError) as exc:
        raise Http404("Fichier introuvable.") from exc
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=lot,
        changes={"download": [None, kind], "nombre": [None, lot.nombre]},
    )
    # The file holds each person's name and address: one read row per letter, one INSERT.
    audit_listed(
        user=request.user,
        objects=lot.cibles.only("pk", "assure_id"),
        assure_id_of=lambda cible: cible.assure_id,
        page=f"courriers du lot {lot.numero} ({kind})",
    )
    name = f"courriers-{slugify(campagne.nom) or 'campagne'}-lot-{lot.numero}.{kind}"
    return FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)


urlpatterns = [
    path(
        "campagnes/<int:pk>/courriers/preparer/",
        letters_prepare,
        name="campaign_letters_prepare",
    ),
    path(
        "campagnes/<int:pk>/courriers/<int:numero>/pdf/",
        letters_download,
        {"kind": "pdf"},
        name="campaign_letters_pdf",
    ),
    path(
        "campagnes/<int:pk>/courriers/<int:numero>/csv/",
        letters_download,
        {"kind": "csv"},
        name="campaign_letters_csv",
    ),
]
