"""The demo's collective actions (collective.demo.seed_collective), idempotent."""

import pytest
from django.utils import timezone

from collective.demo import INFO_TITLE, ISIC_TITLE, WEBINAR_TITLE, seed_collective
from collective.models import ActionCollective, ActionStatus
from tests.factories import UnitFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(db):
    rouen, caen = UnitFactory(name="Unité de Rouen"), UnitFactory(name="Unité de Caen")
    return {
        "ass.rouen": UserFactory(ass=True, unit=rouen),
        "ass2.rouen": UserFactory(ass=True, unit=rouen),
        "ass.caen": UserFactory(ass=True, unit=caen),
        "responsable.caen": UserFactory(manager=True, unit=caen),
        "regional": UserFactory(regional=True, region=rouen.region),
    }


def test_the_demo_has_an_isic_in_projet_a_published_webinar_and_a_finished_meeting(users):
    assert seed_collective(users) == 3
    assert seed_collective(users) == 0  # a second run finds them
    now = timezone.now()
    isic = ActionCollective.objects.get(titre=ISIC_TITLE)
    assert (isic.statut, isic.animateur, isic.theme.label) == (
        ActionStatus.PROJET,
        users["ass.rouen"],
        "Cancer et travail",
    )
    assert isic.seances.filter(debut__gt=now).count() == 3
    webinar = ActionCollective.objects.get(titre=WEBINAR_TITLE)
    assert (webinar.statut, webinar.unit, webinar.seances.count()) == (
        ActionStatus.PUBLIEE,
        None,
        1,
    )
    assert webinar.lien_visio
    info = ActionCollective.objects.get(titre=INFO_TITLE)
    assert info.statut == ActionStatus.TERMINEE
    assert not info.seances.filter(debut__gt=now).exists()
    assert info.validations.get().statut == "approuvee"
