"""The demo data: six months of the service's life, consistent with the rules of the app."""

import collections
import contextlib
import datetime
import io
import os
import re

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cases.dispositifs import dispositif_problems
from cases.models import (
    Accompagnement,
    Action,
    CaseEvent,
    CaseStatus,
    Cloture,
    Consentement,
    DispositifMobilise,
    DispositifStatut,
    Entretien,
    EvaluationGlobale,
    Mission,
    Objectif,
    ObjectifStatut,
    Orientation,
    Outcome,
    PlageOuverture,
)
from coordination import models as co
from pdp.models import Role, User
from referrals.models import (
    ArretTravail,
    Assure,
    ContactAttempt,
    DetectionRun,
    Origine,
    Signalement,
    SignalementEvent,
    Statut,
)

ES = Entretien.Statut

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_cellule_per_territory_with_a_past_and_an_upcoming_meeting(demo):
    today = timezone.localdate()
    instances = list(co.Instance.objects.all())
    assert len(instances) == 2
    covered = {u.code for i in instances for u in i.units.all()}
    assert covered == {"ROUEN", "LEHAVRE", "CAEN"}
    for instance in instances:
        organisations = set(instance.membres.values_list("organisation", flat=True))
        assert {"service_social", "service_medical"} <= organisations
        assert instance.membres.filter(contact__isnull=False).exists()
    assert co.MembreInstance.objects.filter(user__role=Role.PARTENAIRE).exists()
    past = co.Reunion.objects.get(statut=co.Reunion.Statut.CR_VALIDE)
    assert past.debut.date() < today
    actions = co.ActionInstance.objects.filter(point__reunion=past)
    assert actions.filter(statut="faite").exists()
    assert len([a for a in actions if a.en_retard]) == 1
    upcoming = co.Reunion.objects.get(instance=past.instance, statut="planifiee")
    new = co.Saisine.objects.filter(instance=past.instance, submitted_at__gt=past.debut)
    assert new.count() == 3
    withdrawn = new.get(statut=co.Saisine.Statut.RETIREE)
    assert not withdrawn.fiche_lisible
    on_agenda = set(upcoming.points.values_list("saisine_id", flat=True))
    assert withdrawn.pk not in on_agenda
    # The two other new ones, and the follow-ups of the past meeting's open actions.
    assert {s.pk for s in new if s != withdrawn} < on_agenda
    assert len(on_agenda) == 4


def _seeded_at():
    """DEMO_NOW=2026-12-06T23:30+01:00 runs this module as if it were then (the clock ticks
    on from there): the demo must hold at any time of day, see test_seed_demo_clock."""
    moment = os.environ.get("DEMO_NOW")
    if not moment:
        return contextlib.nullcontext()
    return time_machine.travel(datetime.datetime.fromisoformat(moment), tick=True)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo, generated once for this module's tests and rolled back after them."""
    with _seeded_at(), django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def _counts():
    return {
        "users": User.objects.count(),
        "assures": Assure.objects.count(),
        "arrets": ArretTravail.objects.count(),
        "signalements": Signalement.objects.count(),
        "signalement_events": SignalementEvent.objects.count(),
        "contact_attempts": ContactAttempt.objects.count(),
        "accompagnements": Accompagnement.objects.count(),
        "case_events": CaseEvent.objects.count(),
        "entretiens": Entretien.objects.count(),
        "clotures": Cloture.objects.count(),
        "detection_runs": DetectionRun.objects.count(),
        "instances": co.Instance.objects.count(),
        "membres": co.MembreInstance.objects.count(),
        "reunions": co.Reunion.objects.count(),
        "saisines": co.Saisine.objects.count(),
        "actions": co.ActionInstance.objects.count(),
        "plages": PlageOuverture.objects.count(),
    }


def _months(days):
    return {(day.year, day.month) for day in days}


def test_seed_demo_is_idempotent_and_covers_every_status(demo, client):
    first = _counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == first

    # The 300 people of the extracts, the two of the past webinar and the 60 of the campaign
    # population (outreach.demo).
    assert first["assures"] == 362
    assert {u.role for u in User.objects.all()} == set(Role.values)
    durations = [a.duree_au() for a in ArretTravail.objects.all()]
    assert min(durations) <= 15 and max(durations) >= 180
    social = set(Signalement.objects.filter(service="social").values_list("statut", flat=True))
    medical_statuses = {Statut.TRANSMIS, Statut.CLASSE}
    assert social == set(Statut.values) - medical_statuses
    medical = set(Signalement.objects.filter(service="medical").values_list("statut", flat=True))
    assert medical == {Statut.NOUVEAU, *medical_statuses}
    assert set(Accompagnement.objects.values_list("statut", flat=True)) == set(CaseStatus.values)
    assert set(Accompagnement.objects.values_list("mission", flat=True)) == set(Mission.values)
    assert Signalement.objects.filter(unit__isnull=True, service="social").open().exists()

    # The demo password works, through the login page (the axes backend needs the request).
    response = client.post(reverse("login"), {"username": "ass.rouen", "password": "demo-pdp-2026"})
    assert response.status_code == 302
    assert response.wsgi_request.user.username == "ass.rouen"


def test_referrals_are_spread_over_six_months_and_come_from_their_arrets(demo):
    today = timezone.localdate()
    social = Signalement.objects.filter(service="social").select_related("arret", "region")
    days = [s.date_signalement for s in social]
    assert min(days) >= today - datetime.timedelta(days=183) and max(days) <= today
    assert len(_months(days)) >= 5
    assert {s.origine for s in social} >= {
        Origine.SEUIL_CPAM,
        Origine.MEDECIN_CONSEIL,
        Origine.SPST,
    }

    detected = Signalement.objects.filter(origine=Origine.SEUIL_CPAM).select_related(
        "arret", "region"
    )
    for referral in detected:  # raised the day the arrêt crossed the threshold
        arret, region = referral.arret, referral.region
        threshold = (
            region.social_threshold_days
            if referral.service == "social"
            else region.medical_threshold_days + 1
        )
        assert arret.is_ongoing(referral.date_signalement)
        assert arret.duree_au(referral.date_signalement) == threshold
    assert DetectionRun.objects.filter(day=today, status="termine").exists()

    now = timezone.now()
    events = collections.defaultdict(list)
    for event in SignalementEvent.objects.order_by("pk"):
        events[event.signalement_id].append(event.at)
    for referral in Signalement.objects.all():
        moments = events[referral.pk]
        assert timezone.localdate(moments[0]) == referral.date_signalement
        assert moments == sorted(moments) and moments[-1] <= now

    attempts = ContactAttempt.objects.select_related("signalement")
    assert attempts.count() > 100
    for attempt in attempts:  # office hours on working days, after the referral
        local = timezone.localtime(attempt.at)
        assert local.weekday() < 5 and 9 <= local.hour < 17
        assert local.date() >= attempt.signalement.date_signalement


def test_every_case_has_a_timeline_in_order_and_closed_ones_each_outcome(demo):
    now = timezone.now()
    events = collections.defaultdict(list)
    for event in CaseEvent.objects.order_by("pk"):
        events[event.accompagnement_id].append(event)
    closures = {c.accompagnement_id: c for c in Cloture.objects.all()}
    cases = list(Accompagnement.objects.select_related("signalement"))
    assert len(cases) > 80
    for case in cases:
        timeline = events[case.pk]
        moments = [e.at for e in timeline]
        assert timeline[0].kind == CaseEvent.Kind.OPENED
        assert timezone.localdate(moments[0]) == case.date_ouverture
        assert moments == sorted(moments) and moments[-1] <= now
        assert case.date_ouverture > case.signalement.date_signalement
        if case.statut == CaseStatus.CLOTURE:
            assert timeline[-1].kind == CaseEvent.Kind.CLOSED
            assert closures[case.pk].date_cloture == case.date_cloture
            assert timezone.localdate(moments[-1]) == case.date_cloture
    closed = [c for c in cases if c.statut == CaseStatus.CLOTURE]
    assert {closures[c.pk].outcome for c in closed} == set(Outcome.values)
    assert len(_months(c.date_cloture for c in closed)) >= 3
    assert len(_months(c.date_ouverture for c in cases)) >= 5


def test_meetings_are_held_missed_cancelled_and_upcoming_without_overlap(demo):
    now = timezone.now()
    meetings = list(Entretien.objects.select_related("accompagnement"))
    assert {m.statut for m in meetings} == set(ES.values)
    for meeting in meetings:
        if meeting.statut in (ES.REALISE, ES.ABSENT):
            assert meeting.debut < now
        if meeting.statut == ES.PLANIFIE:
            assert meeting.debut > now
            assert meeting.accompagnement.statut != CaseStatus.CLOTURE
    assert len(meetings) / Accompagnement.objects.count() >= 3  # ~3.5 per case (domain §10)

    busy = collections.defaultdict(list)
    for meeting in meetings:
        if meeting.statut == ES.PLANIFIE:
            fin = meeting.debut + datetime.timedelta(minutes=meeting.duree_minutes)
            busy[meeting.ass_id].append((meeting.debut, fin))
    for referral in Signalement.objects.open().filter(rdv_debut__isnull=False):
        busy[referral.rdv_ass_id].append((referral.rdv_debut, referral.rdv_fin))
    for slots in busy.values():
        slots.sort()
        for (_, end), (start, _) in zip(slots, slots[1:], strict=False):
            assert end <= start


def test_cases_have_an_evaluation_a_plan_orientations_consents_and_dispositifs(demo):
    cases = Accompagnement.objects.count()
    evaluated = EvaluationGlobale.objects.values("accompagnement").distinct().count()
    assert evaluated >= 0.8 * cases
    assert len(set(Objectif.objects.values_list("domaine", flat=True))) >= 6
    assert set(Objectif.objects.values_list("statut", flat=True)) == set(ObjectifStatut.values)
    assert {True, False} == set(Action.objects.values_list("faite", flat=True))
    assert len(set(Orientation.objects.values_list("partner_kind", flat=True))) >= 4
    assert len(set(Orientation.objects.values_list("statut", flat=True))) >= 3
    assert Consentement.objects.count() >= cases / 2

    dispositifs = list(DispositifMobilise.objects.select_related("type", "accompagnement"))
    assert len({d.type.code for d in dispositifs}) >= 6
    assert {d.statut for d in dispositifs} == set(DispositifStatut.values)
    for dispositif in dispositifs:  # each respects the rules of its status (domain §5)
        assert not [p for p in dispositif_problems(dispositif) if p.blocks(dispositif.statut)]
        if dispositif.accompagnement.statut == CaseStatus.CLOTURE:
            assert dispositif.statut != DispositifStatut.EN_COURS


def test_the_demo_conseiller_has_a_call_list_and_handed_one_referral_over(demo, client):
    conseiller = User.objects.get(username="conseiller.rouen")
    calls = Signalement.objects.open().filter(assigned_to=conseiller)
    assert calls.filter(date_echeance__lt=timezone.localdate()).exists()  # some overdue
    assert calls.filter(date_echeance__gte=timezone.localdate()).exists()  # and others
    handed = Signalement.objects.open().get(rdv_par=conseiller)
    assert handed.assigned_to.username == "ass.rouen"
    assert handed.statut == Statut.RENCONTRE_PROPOSEE
    assert handed.rdv_debut > timezone.now()
    # Earlier hand-overs led to cases opened by the ASS at the first meeting.
    earlier = Signalement.objects.filter(rdv_par=conseiller, statut="accompagnement_ouvert")
    assert earlier.exists()

    client.force_login(User.objects.get(username="conseiller.rouen"))
    rows = client.get(reverse("cases:dashboard")).context["referrals"]["rows"]
    assert {s.pk for s in rows} == set(calls.values_list("pk", flat=True))
    client.force_login(User.objects.get(username="ass.rouen"))
    rows = client.get(reverse("cases:dashboard")).context["referrals"]["rows"]
    assert handed in rows


def test_the_dashboards_show_the_unit_s_activity(demo, client):
    client.force_login(User.objects.get(username="ass.rouen"))
    context = client.get(reverse("cases:dashboard")).context
    assert context["cases"]["rows"] and context["objectives"]["rows"]
    assert any(case.next_meeting for case in context["cases"]["rows"])
    assert any(case.last_contact for case in context["cases"]["rows"])

    client.force_login(User.objects.get(username="responsable.rouen"))
    context = client.get(reverse("cases:dashboard")).context
    workers = {w.username: w for w in context["workers"]}
    assert workers["ass.rouen"].n_cases and workers["ass2.rouen"].n_cases
    assert workers["conseiller.rouen"].n_referrals and workers["conseiller.rouen"].n_overdue
    deadlines = client.get(reverse("cases:dashboard"), {"onglet": "echeances"}).context
    assert deadlines["dispositifs"]["rows"]  # dispositifs ending within two weeks


def test_the_demo_holds_a_running_isic_and_a_past_webinar_with_its_link(demo):
    from collective.models import ActionCollective
    from outreach.demo import PAST_WEBINAR_TITLE, seed_past_webinar
    from pdp import access_codes

    running = ActionCollective.objects.get(titre__contains="Souffrance au travail")
    assert running.statut == "en_cours" and running.participants.count() == 5
    assert not running.seances.filter(debut__gt=timezone.now()).exists()
    past = ActionCollective.objects.get(titre=PAST_WEBINAR_TITLE)
    assert past.statut == "terminee" and past.participants.count() == 2
    # Seeded again from scratch, it hands out the « merci » link of its first participant.
    with transaction.atomic():
        past.delete()
        users = {u.username: u for u in User.objects.all()}
        link, birth = seed_past_webinar(users)
        code = re.search(r"/r/([0-9A-Z]{8})/", link).group(1)
        row = access_codes.access_code_lookup(code=code)
        assert row.purpose == "webinar" and row.object_type == "collective.actioncollective"
        assert birth == datetime.date(1981, 6, 14)
        transaction.set_rollback(True)
