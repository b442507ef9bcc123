"""The demo seeded at other times of day and of the week: its meetings still fit the moment.

Seeded on Wednesday 2 December 2026 at 11:20, the demo once left two of that morning's
meetings « planifié » (held, but their recording came after the moment the story stops).
The whole test module `test_seed_demo` runs at any moment with DEMO_NOW (see its fixture).
"""

import datetime
import io
import random
import types
import zoneinfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from cases import demo
from cases.models import Accompagnement, CaseStatus, Entretien
from referrals.models import Signalement

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
ES = Entretien.Statut

WEDNESDAY, FRIDAY, SUNDAY = (datetime.date(2026, 12, d) for d in (2, 4, 6))
GRID = {
    f"{day:%A}-{hour:02d}h{minute:02d}": datetime.datetime.combine(
        day, datetime.time(hour, minute), tzinfo=PARIS
    )
    for day in (WEDNESDAY, FRIDAY, SUNDAY)
    for hour, minute in [(7, 0), (10, 20), (11, 20), (17, 50), (23, 30)]
}
# The whole seed takes some 25 seconds: two moments here, the grid by hand (README).
MOMENTS = {name: GRID[name] for name in ("Wednesday-11h20", "Friday-17h50")}


@pytest.mark.parametrize("moment", GRID.values(), ids=GRID.keys())
def test_the_demo_agenda_books_past_meetings_recorded_by_now_and_the_others_to_come(moment):
    now = moment.astimezone(datetime.UTC)
    agenda, rng, ass = demo._Agenda(now), random.Random(1), types.SimpleNamespace(pk=1)
    today = moment.date()
    past = [
        agenda.book(ass, today - datetime.timedelta(days=days), rng, 90, past=True)
        for days in (3, 2, 1, 0)
        for _ in range(len(demo.MEETING_TIMES))
    ]
    held = [start for start in past if start is not None]
    assert held
    # Recorded up to 25 minutes after its end, then the plan d'aide 25 minutes later, all
    # before the story stops 5 minutes before now.
    late = now - datetime.timedelta(minutes=55)
    assert [s for s in held if s + datetime.timedelta(minutes=90) > late] == []
    upcoming = [agenda.book(ass, today, rng, 60, past=False) for _ in range(12)]
    assert min(upcoming) > now + datetime.timedelta(minutes=30)


@pytest.mark.django_db
@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_the_demo_s_meetings_are_held_before_and_planned_after_the_moment_it_is_seeded(moment):
    with time_machine.travel(moment, tick=True):
        call_command("seed_demo", stdout=io.StringIO())
        now = timezone.now()

    meetings = list(Entretien.objects.select_related("accompagnement"))
    planned = [m for m in meetings if m.statut == ES.PLANIFIE]
    assert planned
    assert [m for m in planned if m.debut <= now] == []
    assert [m for m in planned if m.accompagnement.statut == CaseStatus.CLOTURE] == []
    held = [m for m in meetings if m.statut in (ES.REALISE, ES.ABSENT)]
    assert [m for m in held if m.debut + datetime.timedelta(minutes=m.duree_minutes) > now] == []
    # Most open cases have their next meeting (the others wait for one to be set).
    open_cases = Accompagnement.objects.filter(statut=CaseStatus.OUVERT).count()
    assert len({m.accompagnement_id for m in planned}) >= open_cases / 2
    # A first meeting still proposed on a referral is to come: a past one opened the case.
    proposed = Signalement.objects.open().filter(rdv_debut__isnull=False)
    assert [s for s in proposed if s.rdv_debut <= now] == []
    assert proposed.filter(rdv_par__username="conseiller.rouen").count() == 1
