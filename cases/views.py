"""Accompagnement page and its in-page actions."""

from django.shortcuts import render
from django.urls import path

from pdp.permissions import get_accompagnement_for_user


def accompagnement_detail(request, pk):
    case = get_accompagnement_for_user(request.user, pk)
    return render(request, "cases/accompagnement_detail.html", {"case": case})


urlpatterns = [
    path("accompagnements/<int:pk>/", accompagnement_detail, name="accompagnement_detail"),
]
