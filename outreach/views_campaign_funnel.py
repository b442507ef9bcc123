"""Campaign funnel pages (issue 12; services in `outreach.campaign_funnel`): the CSV export
of the funnel. Who: as the campaign page (`views_campaigns._campagne`); the export is
audited."""

import csv
import io

from django.http import HttpResponse
from django.urls import path
from django.utils.text import slugify

from outreach import campaign_funnel
from outreach.views_campaigns import _campagne
from pdp.audit import audit
from pdp.models import AuditLog


def campaign_funnel_csv(request, pk):
    campagne = _campagne(request, pk)
    rows = campaign_funnel.funnel(campagne)
    audit(
        user=request.user,
        action=AuditLog.Action.EXPORT,
        obj=campagne,
        changes={"export": "entonnoir", "cibles": rows[-1].cibles},
    )
    out = io.StringIO()
    out.write("\ufeff")  # BOM: spreadsheet tools then read the file as UTF-8
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Canal", *(label for _, label in campaign_funnel.STAGES)])
    for row in rows:
        writer.writerow([row.label, *("" if s.count is None else s.count for s in row.stages)])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    name = slugify(campagne.nom)[:60] or "campagne"
    response["Content-Disposition"] = f'attachment; filename="entonnoir_{campagne.pk}_{name}.csv"'
    return response


urlpatterns = [
    path("campagnes/<int:pk>/entonnoir.csv", campaign_funnel_csv, name="campaign_funnel_csv"),
]
