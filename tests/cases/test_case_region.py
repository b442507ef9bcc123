"""Each accompagnement carries its unit's region (issue 15, item 7: the tenant key of a split by
region), whichever path creates it."""

import pytest

from cases import services
from cases.models import Accompagnement
from tests.factories import AccompagnementFactory, AssureFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_opening_a_case_records_the_unit_s_region():
    ass = UserFactory(ass=True, unit=UnitFactory())
    case = services.case_open(assure=AssureFactory(), referent=ass, acting_user=ass)
    case.refresh_from_db()
    assert case.region_id == ass.unit.region_id


def test_a_case_saved_without_its_region_takes_the_unit_s():
    case = AccompagnementFactory()
    assert Accompagnement.objects.get(pk=case.pk).region_id == case.unit.region_id


def test_the_region_given_is_kept():
    """The field is a copy, not a computed value: a region given explicitly is stored as is
    (the creation paths all give the unit's, checked above and by generate_volume's test)."""
    other = UnitFactory()
    case = AccompagnementFactory(region=other.region)
    assert Accompagnement.objects.get(pk=case.pk).region_id == other.region_id
