"""CPAM extract upload and import history pages (domain §7).

Unit managers and conseillers upload the monthly extract; it is stored and imported by the
Celery worker (`referrals.importer.jobs`), the import's page showing a progress bar that
asks again every 2 seconds (htmx) until the import is over, then the result. A simulation
still runs inside the request (it writes nothing). An import is visible to the managers and
conseillers of the region of its CPAM, and to the person who ran it (a refused file, or a
pending upload without an expected caisse, may have no CPAM); administrators see every import.
"""

import csv

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET

from pdp.audit import audit
from pdp.exports import safe_cell
from pdp.models import AuditLog
from referrals.forms_import import ImportUploadForm
from referrals.importer import caisses_of, import_extract, import_summary
from referrals.importer.jobs import can_import, import_enqueue, import_progress
from referrals.models import CpamImport, CpamImportCaisse

PAGE_SIZE = 25
DRY_RUN_SHOWN = 100

# ?o= values of the history table: (label, ordering field).
SORTS = {
    "date": ("Date", "created_at"),
    "fichier": ("Fichier", "file_name"),
    "extrait": ("Extrait du", "extract_date"),
    "caisse": ("Caisses", "cpam__code"),
    "statut": ("Statut", "status"),
    "lues": ("Lues", "rows_read"),
    "rejetees": ("Rejetées", "rows_rejected"),
}
DEFAULT_SORT = "-date"


def imports_visible_to(user):
    imports = CpamImport.objects.all()
    if not can_import(user):
        return imports.none()
    if user.is_admin:
        return imports
    return imports.filter(Q(cpam__region_id=user.unit.region_id) | Q(user=user))


def import_list(request):
    if not can_import(request.user):
        raise PermissionDenied("Réservé aux responsables d'unité et aux conseillers.")
    simulation = None
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES, user=request.user)
        if form.is_valid() and form.cleaned_data["simulation"]:
            simulation = _simulate(request, form)
            kept = {name: form.cleaned_data[name] for name in ("date_extrait", "caisse")}
            form = ImportUploadForm(user=request.user, initial=kept)  # the file is chosen again
        elif form.is_valid():
            try:
                cpam_import = import_enqueue(
                    upload=form.cleaned_data["fichier"],
                    acting_user=request.user,
                    extract_date=form.cleaned_data["date_extrait"],
                    caisse=form.cleaned_data["caisse"],
                )
            except ValidationError as exc:
                form.add_error("fichier", exc)
            else:
                # The import's page says it waits, then shows the progress and the result.
                return redirect("referrals:import_detail", pk=cpam_import.pk)
    else:
        form = ImportUploadForm(user=request.user)

    sort = request.GET.get("o", DEFAULT_SORT)
    if sort.lstrip("-") not in SORTS:
        sort = DEFAULT_SORT
    field = SORTS[sort.lstrip("-")][1]
    ordering = [f"-{field}" if sort.startswith("-") else field, "-pk"]
    imports = (
        imports_visible_to(request.user)
        .select_related("cpam", "user")
        .prefetch_related(_caisses_prefetch())
        .order_by(*ordering)
    )
    page_obj = Paginator(imports, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page_obj": page_obj,
        "columns": _columns(sort),
        "simulation": simulation,
        "simulation_rejections": (
            simulation.pending_rejections[:DRY_RUN_SHOWN] if simulation else []
        ),
        "simulation_more": (
            max(len(simulation.pending_rejections) - DRY_RUN_SHOWN, 0) if simulation else 0
        ),
        "simulation_caisses": caisses_of(simulation) if simulation else [],
    }
    return render(request, "referrals/import_list.html", context)


def _simulate(request, form):
    """A dry run, in the request: it writes nothing and the page shows what it counted."""
    upload = form.cleaned_data["fichier"]
    caisse = form.cleaned_data["caisse"]
    upload.seek(0)
    return import_extract(
        upload,
        file_name=upload.name,
        caisse_code=caisse.code if caisse else None,
        dry_run=True,
        extract_date=form.cleaned_data["date_extrait"],
        user=request.user,
    )


def _columns(sort):
    """Header links: a click on the sorted column reverses it; dates and counts start with
    the largest, texts with A."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = []
    for key, (label, _field) in SORTS.items():
        if key == current:
            aria_sort = "descending" if descending else "ascending"
            next_sort = key if descending else f"-{key}"
        else:
            aria_sort = ""
            next_sort = f"-{key}" if key in ("date", "extrait", "lues", "rejetees") else key
        columns.append({"key": key, "label": label, "aria_sort": aria_sort, "next": next_sort})
    return columns


def _caisses_prefetch():
    return Prefetch(
        "caisses",
        queryset=CpamImportCaisse.objects.select_related("cpam").order_by(
            "-line_count", "cpam__code"
        ),
    )


def _get_import(user, pk):
    return get_object_or_404(imports_visible_to(user).select_related("cpam", "user"), pk=pk)


def import_detail(request, pk):
    cpam_import = _get_import(request.user, pk)
    rejections = cpam_import.rejections.order_by("line_number", "pk")
    page_obj = Paginator(rejections, PAGE_SIZE).get_page(request.GET.get("page"))
    if cpam_import.rows_rejected:
        # The rejected lines carry NIRs and names: their reading is logged.
        audit(user=request.user, action=AuditLog.Action.VIEW, obj=cpam_import)
    return render(
        request,
        "referrals/import_detail.html",
        {
            "imp": cpam_import,
            "page_obj": page_obj,
            "caisses": caisses_of(cpam_import),
            "summary": import_summary(cpam_import),
            **_progress_context(cpam_import),
        },
    )


def _progress_context(cpam_import):
    if cpam_import.status != CpamImport.Status.PENDING:
        return {"progress": None}
    read = import_progress(cpam_import)
    total = cpam_import.lines_total or 0
    percent = min(99, read * 100 // total) if total else 0
    return {"progress": {"read": read, "total": total, "percent": percent}}


@require_GET
def import_progress_fragment(request, pk):
    """The progress bar of a pending import (htmx asks every 2 seconds). Once the import is
    over, the fragment no longer polls and ``HX-Refresh`` reloads the page with the result."""
    cpam_import = _get_import(request.user, pk)
    response = render(
        request,
        "referrals/_import_progress.html",
        {"imp": cpam_import, **_progress_context(cpam_import)},
    )
    if cpam_import.status != CpamImport.Status.PENDING and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


class _Echo:
    def write(self, value):
        return value


def import_rejections_csv(request, pk):
    cpam_import = _get_import(request.user, pk)
    audit(
        user=request.user,
        action=AuditLog.Action.EXPORT,
        obj=cpam_import,
        changes={"lignes_rejetees": cpam_import.rows_rejected},
    )
    rows = cpam_import.rejections.order_by("line_number", "pk").values_list(
        "line_number", "reason", "raw_line"
    )
    writer = csv.writer(_Echo(), delimiter=";")

    def content():
        yield "\ufeff"  # BOM: spreadsheet tools then read the file as UTF-8
        yield writer.writerow(["ligne", "motif", "contenu"])
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow([safe_cell(value) for value in row])

    response = StreamingHttpResponse(content(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="lignes_rejetees_import_{cpam_import.pk}.csv"'
    )
    return response


urlpatterns = [
    path("imports/", import_list, name="import_list"),
    path("imports/<int:pk>/", import_detail, name="import_detail"),
    path("imports/<int:pk>/progression/", import_progress_fragment, name="import_progress"),
    path("imports/<int:pk>/rejets.csv", import_rejections_csv, name="import_rejections_csv"),
]
