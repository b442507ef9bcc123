"""Pages of data protection (mounted under /protection-donnees/)."""

from django.urls import path

from privacy import views_archive, views_retention

app_name = "privacy"

urlpatterns: list = []

# right of access
urlpatterns += [
    path("droit-acces/<int:pk>/", views_archive.archive_list, name="archive_list"),
    path("droit-acces/<int:pk>/generer/", views_archive.archive_generate, name="archive_generate"),
    path("archives/<uuid:archive_id>/", views_archive.archive_row, name="archive_row"),
    path(
        "archives/<uuid:archive_id>/pdf/",
        views_archive.archive_download,
        {"kind": "pdf"},
        name="archive_pdf",
    ),
    path(
        "archives/<uuid:archive_id>/json/",
        views_archive.archive_download,
        {"kind": "json"},
        name="archive_json",
    ),
]

# retention
urlpatterns += [
    path("conservation/", views_retention.retention_overview, name="retention"),
]
