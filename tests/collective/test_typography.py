"""The collective pages in good French (the checker of tests/test_typography.py), for the ASS
who runs an action, her manager and the regional manager."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from collective import services
from collective.models import ActionType, Theme
from tests.factories import SeanceFactory, UserFactory
from tests.test_typography import check_pages

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(ass, manager, regional, colleague):
    action = services.action_create(
        acting_user=ass,
        type=ActionType.objects.get(code="isic"),
        theme=Theme.objects.get(label="Cancer et travail"),
        titre="Groupe du printemps",
        description="Un groupe pour échanger.",
        co_animateurs=[colleague],
        capacite=8,
    )
    start = timezone.now() + datetime.timedelta(days=10)
    seances = [
        SeanceFactory(action=action, debut=start + datetime.timedelta(days=7 * i)) for i in range(3)
    ]
    validation = services.validation_request(action=action, acting_user=ass, niveau="unite")
    services.validation_approve(validation=validation, acting_user=manager, commentaire="Bien")
    webinar = services.action_create(
        acting_user=regional,
        type=ActionType.objects.get(code="webinaire"),
        titre="Webinaire",
        lien_visio="https://visio.example.org/w",
    )
    SeanceFactory(action=webinar, debut=start, lieu="")
    services.action_publish(action=webinar, acting_user=regional)
    return {"action": action, "seance": seances[0], "webinar": webinar, "month": start}


def _pages(w):
    action = w["action"]
    return [
        reverse("collective:action_list"),
        reverse("collective:action_detail", args=[action.pk]),
        reverse("collective:action_detail", args=[w["webinar"].pk]),
        reverse("collective:calendar") + f"?mois={w['month']:%Y-%m}",
    ]


def test_the_ass_pages_are_in_good_french(client, world, ass):
    action = world["action"]
    urls = [
        *_pages(world),
        reverse("collective:action_create"),
        reverse("collective:action_edit", args=[action.pk]),
        reverse("collective:seance_create", args=[action.pk]),
        reverse("collective:seance_edit", args=[action.pk, world["seance"].pk]),
    ]
    check_pages(client, ass, urls)


def test_the_manager_and_regional_pages_are_in_good_french(client, world, manager, regional):
    check_pages(client, manager, [*_pages(world), reverse("collective:validation_queue")])
    check_pages(
        client, regional, [reverse("home"), *_pages(world), reverse("collective:validation_queue")]
    )
    check_pages(client, UserFactory(conseiller=True, unit=manager.unit), _pages(world))
