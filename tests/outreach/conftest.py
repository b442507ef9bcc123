"""A unit with one ASS open on Tuesday mornings, a person with an open referral and a booking
code for it; time frozen on a Monday morning."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from cases.models import Motif, PlageOuverture
from pdp import access_codes
from pdp.models import AccessCode
from tests.factories import AssureFactory, SignalementFactory, UnitFactory, UserFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2027, 3, 1, 8, 0, tzinfo=PARIS)  # a Monday
TUESDAY_9 = datetime.datetime(2027, 3, 2, 9, 0, tzinfo=PARIS)
BIRTH_DATE = datetime.date(1985, 5, 12)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def motifs(db):
    # Loaded by a data migration, but emptied by the truncation of transactional tests.
    first, _ = Motif.objects.get_or_create(
        label="Premier rendez-vous", defaults={"duree_minutes": 60}
    )
    follow_up, _ = Motif.objects.get_or_create(
        label="Rendez-vous de suivi", defaults={"duree_minutes": 45}
    )
    return first, follow_up


@pytest.fixture
def unit(db):
    return UnitFactory(telephone="02 35 00 00 00")


@pytest.fixture
def booking_ass(unit):
    ass = UserFactory(ass=True, unit=unit)
    PlageOuverture.objects.create(
        ass=ass,
        weekday=1,
        heure_debut=datetime.time(9, 0),
        heure_fin=datetime.time(12, 0),
        lieu="Agence de Rouen, 12 rue des Carmes",
        modes=["sur_place", "telephone"],
        premier_jour=datetime.date(2027, 1, 1),
    )
    return ass


@pytest.fixture
def person(db):
    return AssureFactory(date_naissance=BIRTH_DATE, telephone="06 12 34 56 78")


@pytest.fixture
def referral(person, unit):
    return SignalementFactory(assure=person, unit=unit)


@pytest.fixture
def issue_booking_code(frozen, motifs, booking_ass):
    def issue(referral, days=30):
        return access_codes.access_code_issue(
            purpose=AccessCode.Purpose.BOOKING,
            assure_id=referral.assure_id,
            expires_at=timezone.now() + datetime.timedelta(days=days),
            object_type="referrals.signalement",
            object_id=referral.pk,
        )

    return issue


@pytest.fixture(autouse=True)
def fresh_limits_and_outbox():
    """The rate-limit counters live in the cache, shared by the tests; so does the SMS outbox."""
    from django.core.cache import cache

    from pdp.messaging import outbox

    cache.clear()
    outbox.clear()
    yield
    outbox.clear()
