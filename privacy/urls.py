"""Pages of data protection (mounted under /protection-donnees/)."""

from django.urls import path

from privacy import views_retention

app_name = "privacy"

urlpatterns: list = [
    # retention
    path("conservation/", views_retention.retention_overview, name="retention"),
]
