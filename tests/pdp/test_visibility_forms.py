"""The two SQL forms of « who may see this person » give the same people, for every role.

`Assure.objects.visible_to(user)` (one correlated EXISTS per source, the detail pages) and
`visible_to(user, as_set=True)` (`id IN (source)`, the search) are built from the same sources
(`referrals.models.visible_assure_ids`). Checked on the authorization matrix's users, over its
person plus people each visible through one source only: the manager's « à répartir » queue, a
medical referral, a case without referral, a share, an expired and a revoked share, nobody.
"""

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import CaseShare
from pdp.models import Region, Unit
from referrals.models import Assure, Service
from tests.factories import AccompagnementFactory, AssureFactory, SignalementFactory
from tests.pdp.authorization_dataset import build

pytestmark = pytest.mark.django_db


def _people(users):
    """More people, each made visible by one source; returns them by name."""
    today = timezone.localdate()
    region_1 = Region.objects.get(code="NOR")
    unit_a = Unit.objects.get(name="Unité A")
    unit_a2 = Unit.objects.get(name="Unité A2")
    people = {name: AssureFactory() for name in ("queue", "medical", "case", "shared", "nobody")}
    people["expired"] = AssureFactory()
    people["revoked"] = AssureFactory()
    SignalementFactory(assure=people["queue"], unit=None, region=region_1)
    SignalementFactory(
        assure=people["medical"], unit=None, service=Service.MEDICAL, region=region_1
    )
    AccompagnementFactory(assure=people["case"], referent=users["ass_other"], unit=unit_a)
    shared = AccompagnementFactory(
        assure=people["shared"], referent=users["ass_region"], unit=unit_a2
    )
    expired = AccompagnementFactory(
        assure=people["expired"], referent=users["ass_region"], unit=unit_a2
    )
    revoked = AccompagnementFactory(
        assure=people["revoked"], referent=users["ass_region"], unit=unit_a2
    )
    for case, start, end, revoked_at in (
        (shared, today, today + datetime.timedelta(days=5), None),
        (expired, today - datetime.timedelta(days=9), today - datetime.timedelta(days=1), None),
        (revoked, today, today + datetime.timedelta(days=5), timezone.now()),
    ):
        CaseShare.objects.create(
            accompagnement=case,
            user=users["ass_out"],
            reason="absence",
            date_debut=start,
            date_fin=end,
            created_by=users["ass_region"],
            revoked_at=revoked_at,
            revoked_by=users["ass_region"] if revoked_at else None,
        )
    return people


def test_exists_and_set_forms_see_the_same_people_for_every_role():
    data, users = build()
    people = _people(users)
    seen = {}
    for name, user in users.items():
        user = user or AnonymousUser()
        correlated = set(Assure.objects.visible_to(user).values_list("pk", flat=True))
        as_set = set(Assure.objects.visible_to(user, as_set=True).values_list("pk", flat=True))
        assert correlated == as_set, name
        seen[name] = correlated

    # The comparison is not between two empty sets: the sources each make someone visible.
    pk = {name: person.pk for name, person in people.items()}
    person = data["assure"].pk
    assert seen["ass_referent"] == {person, pk["case"]}
    assert seen["manager"] == {person, pk["case"], pk["queue"]}
    assert seen["manager_region"] == {pk["queue"], pk["shared"], pk["expired"], pk["revoked"]}
    assert seen["medecin"] == {person, pk["medical"]}
    assert seen["ass_shared"] == {person}
    assert seen["ass_out"] == {pk["shared"]}
    assert seen["medecin_out"] == seen["regional"] == seen["anonymous"] == set()
    assert pk["nobody"] not in set().union(*seen.values())


def test_set_form_is_one_query_with_a_union_of_the_sources():
    _, users = build()
    with CaptureQueriesContext(connection) as captured:
        list(Assure.objects.visible_to(users["manager"], as_set=True).filter(nom_naissance="x"))
    assert len(captured) == 1
    sql = captured[0]["sql"]
    assert "EXISTS" not in sql.upper()
    # referrals, the unit's cases, the shared cases: three members, no OR across two indexes;
    # UNION, not UNION ALL: its result is known to be distinct, so PostgreSQL estimates the
    # set's size from the sources' (README « Search at national volume »)
    assert sql.upper().count(" UNION ") == 2, sql
    assert "UNION ALL" not in sql.upper(), sql
