import datetime

import pytest
import time_machine

from pdp.models import Region
from referrals.markers import (
    KIND_LIAISON,
    KIND_MEDICAL,
    KIND_PREMIER_CONTACT,
    KIND_SOCIAL,
    KIND_VISITE_REPRISE,
    arret_markers,
    region_of,
)
from referrals.models import ArretTravail, TypeArret

START = datetime.date(2025, 1, 1)


def days(n):
    return datetime.timedelta(days=n)


def arret(type_arret=TypeArret.MALADIE, *, fin_prevue=None, fin_reelle=None):
    """An unsaved arrêt (the helpers are pure Python), expected to last a year by default."""
    fin_prevue = fin_prevue or START + days(365)
    return ArretTravail(
        type_arret=type_arret,
        date_debut=START,
        date_fin_prevue=fin_prevue,
        date_fin_reelle=fin_reelle,
    )


def on_day(n):
    """The date on which an arrêt started on START has lasted n days."""
    return START + days(n - 1)


def marker(markers, kind):
    [found] = [m for m in markers if m.kind == kind]
    return found


def test_duration_counts_the_start_day_as_day_one():
    assert arret().duree_au(START) == 1
    assert arret().duree_au(on_day(46)) == 46
    assert arret().duree_au(START - days(1)) == 0


def test_duration_stops_at_the_last_known_end():
    assert arret(fin_reelle=on_day(20)).duree_au(on_day(100)) == 20
    assert arret(fin_prevue=on_day(30)).duree_au(on_day(100)) == 30


def test_the_markers_come_in_day_order_with_their_dates():
    markers = arret_markers(arret(), today=on_day(1))

    assert [(m.day, m.kind) for m in markers] == [
        (31, KIND_LIAISON),
        (46, KIND_MEDICAL),
        (60, KIND_VISITE_REPRISE),
        (90, KIND_SOCIAL),
        (120, KIND_PREMIER_CONTACT),
    ]
    assert marker(markers, KIND_PREMIER_CONTACT).date == datetime.date(2025, 4, 30)
    assert marker(markers, KIND_SOCIAL).date == on_day(90)
    assert not any(m.reached for m in markers)
    assert all(m.label for m in markers)


@pytest.mark.parametrize(
    ("kind", "edge"),
    [
        (KIND_LIAISON, 31),  # beyond 30 days
        (KIND_MEDICAL, 46),  # more than 45 days
        (KIND_VISITE_REPRISE, 60),
        (KIND_SOCIAL, 90),  # at least 90 days
        (KIND_PREMIER_CONTACT, 120),  # end of the 4th month
    ],
)
def test_each_marker_is_reached_on_its_day_and_not_the_day_before(kind, edge):
    assert not marker(arret_markers(arret(), today=on_day(edge - 1)), kind).reached
    assert marker(arret_markers(arret(), today=on_day(edge)), kind).reached


def test_a_marker_after_the_end_of_the_arret_is_never_reached():
    ended = arret(fin_reelle=on_day(50))

    markers = arret_markers(ended, today=on_day(200))

    assert marker(markers, KIND_MEDICAL).reached
    assert not marker(markers, KIND_SOCIAL).reached


def test_the_region_thresholds_move_the_markers():
    region = Region(
        medical_threshold_days=30, social_threshold_days=60, first_contact_deadline_day=90
    )

    markers = arret_markers(arret(), today=on_day(60), region=region)

    assert marker(markers, KIND_MEDICAL).day == 31
    assert marker(markers, KIND_SOCIAL).day == 60
    assert marker(markers, KIND_SOCIAL).reached
    assert marker(markers, KIND_SOCIAL).label == "60 jours : signalement au service social"
    assert marker(markers, KIND_PREMIER_CONTACT).day == 90
    assert marker(markers, KIND_PREMIER_CONTACT).date == on_day(90)


def test_today_is_the_default_day():
    with time_machine.travel(datetime.datetime(2025, 2, 15, 12, tzinfo=datetime.UTC), tick=False):
        markers = arret_markers(arret())  # day 46

    assert marker(markers, KIND_MEDICAL).reached
    assert not marker(markers, KIND_VISITE_REPRISE).reached


@pytest.mark.parametrize(
    ("type_arret", "length", "required"),
    [
        (TypeArret.MALADIE, 59, False),
        (TypeArret.MALADIE, 60, True),
        (TypeArret.AT, 29, False),
        (TypeArret.AT, 30, True),
        (TypeArret.MP, 1, True),
        (TypeArret.MP, 12, True),
    ],
)
def test_a_visite_de_reprise_is_required_on_return_after_the_legal_length(
    type_arret, length, required
):
    returned = arret(type_arret, fin_reelle=on_day(length))

    reprise = marker(arret_markers(returned, today=on_day(length + 10)), KIND_VISITE_REPRISE)
    assert reprise.reached is required


def test_the_visite_de_reprise_marker_depends_on_the_type_of_arret():
    at = marker(arret_markers(arret(TypeArret.AT), today=START), KIND_VISITE_REPRISE)
    mp = marker(arret_markers(arret(TypeArret.MP), today=START), KIND_VISITE_REPRISE)

    assert (at.day, "accident du travail" in at.label) == (30, True)
    assert (mp.day, mp.reached, "quelle que soit la durée" in mp.label) == (1, True, True)


@pytest.mark.django_db
def test_the_region_is_the_one_of_the_arret_cpam_else_of_the_person():
    from tests.factories import ArretFactory, AssureFactory, CpamFactory, RegionFactory

    bretagne = RegionFactory(code="BRE", name="CARSAT Bretagne")
    own = ArretFactory(cpam=CpamFactory(code="291", region=bretagne))
    inherited = ArretFactory(cpam=None)
    orphan = ArretFactory(cpam=None, assure=AssureFactory(cpam=None))

    assert region_of(own) == bretagne
    assert region_of(inherited).code == "NOR"
    assert region_of(orphan) is None
