"""Adding people from the unit's cases (agreement required), the seat or the waitlist, two
registrations racing for the last seat, cancelling, confirming a promoted seat, expiry by the
periodic task, the case timeline, the participants section, and 404/403 on every page."""

import datetime
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cases.models import CaseEvent, CaseStatus
from collective import participants as p
from collective.models import ActionCollective, ActionEvent, Participant, ParticipantSource
from collective.tasks import expire_participants
from pdp.celery import app
from pdp.models import AuditLog
from tests import reference_data
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    AssureFactory,
    RegionFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def action(ass):
    return ActionCollectiveFactory(animateur=ass, capacite=2)


def case_of(ass, **kwargs):
    return AccompagnementFactory(referent=ass, **kwargs)


def add(action, case, user=None, accord=True):
    return p.participant_add_from_case(
        action=action, accompagnement=case, accord=accord, acting_user=user or action.animateur
    )


def add_url(action):
    return reverse("collective:participant_add", args=[action.pk])


# --- The service -----------------------------------------------------------------------------


def test_adding_from_a_case_records_the_agreement_and_takes_a_seat(action, ass):
    case = case_of(ass)
    participant = add(action, case)
    assert participant.statut.code == p.INSCRIT
    assert participant.source == ParticipantSource.ASS
    assert participant.accompagnement == case
    assert participant.accord_par == ass and participant.accord_le is not None
    action.refresh_from_db()
    assert action.places_prises == 1


def test_the_agreement_is_required(action, ass):
    with pytest.raises(ValidationError) as refused:
        add(action, case_of(ass), accord=False)
    assert "accord" in refused.value.message_dict
    assert not Participant.objects.exists()
    action.refresh_from_db()
    assert action.places_prises == 0


def test_refused_cases_closed_other_unit_and_twice(action, ass, outsider):
    closed = case_of(ass, statut=CaseStatus.CLOTURE, date_cloture=timezone.localdate())
    with pytest.raises(ValidationError, match="clôturé"):
        add(action, closed)
    with pytest.raises(ValidationError, match="unité"):
        add(action, AccompagnementFactory(referent=outsider))
    case = case_of(ass)
    add(action, case)
    with pytest.raises(ValidationError, match="participe déjà"):
        add(action, case)
    assert Participant.objects.count() == 1


def test_only_who_runs_the_action_adds(action, ass, colleague):
    with pytest.raises(PermissionDenied):
        add(action, case_of(ass), user=colleague)


def test_full_goes_to_the_waitlist_and_a_cancel_promotes_then_expiry(action, ass):
    first, second, third = (add(action, case_of(ass)) for _ in range(3))
    assert third.statut.code == p.LISTE_ATTENTE
    assert p.waitlist_position(third) == 1
    p.participant_cancel(participant=first, acting_user=ass, reason="Reprise du travail")
    third.refresh_from_db()
    assert third.statut.code == p.A_CONFIRMER
    # The periodic task: nothing before the deadline, then the seat expires.
    assert expire_participants.apply().get() == 0
    Participant.objects.filter(pk=third.pk).update(
        confirmer_avant=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert expire_participants.apply().get() == 1
    third.refresh_from_db()
    assert third.statut.code == p.EXPIRE
    action.refresh_from_db()
    assert action.places_prises == 1  # second only: nobody left on the waitlist


def test_the_expiry_task_is_in_the_beat_schedule():
    entries = [e["task"] for e in app.conf.beat_schedule.values()]
    assert "collective.tasks.expire_participants" in entries
    entry = next(
        e
        for e in app.conf.beat_schedule.values()
        if e["task"] == "collective.tasks.expire_participants"
    )
    assert len(entry["schedule"].minute) == 4  # every quarter of an hour


def test_each_step_is_on_the_case_timeline(action, ass):
    cases = [case_of(ass) for _ in range(3)]
    first, _second, third = (add(action, case) for case in cases)
    p.participant_cancel(participant=first, acting_user=ass, reason="Ne souhaite plus venir")
    p.participant_confirm(participant=third, acting_user=ass)
    summaries = lambda case: list(  # noqa: E731
        CaseEvent.objects.filter(accompagnement=case, kind=CaseEvent.Kind.COLLECTIVE)
        .order_by("at", "pk")
        .values_list("summary", flat=True)
    )
    assert [s.split("\u00a0: ", 1)[1] for s in summaries(cases[0])] == [
        "inscription",
        "inscription annulée\u00a0: Ne souhaite plus venir",
    ]
    third_steps = [s.split("\u00a0: ", 1)[1] for s in summaries(cases[2])]
    assert third_steps[0] == "inscription sur liste d'attente"
    assert third_steps[1].startswith("place libérée proposée")
    assert third_steps[2] == "place confirmée"
    assert action.titre in summaries(cases[2])[0]


def test_the_case_page_shows_the_collective_events(client, action, ass):
    case = case_of(ass)
    add(action, case)
    client.force_login(ass)
    response = client.get(reverse("cases:accompagnement_detail", args=[case.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Action collective" in text
    assert f"«\u00a0{action.titre}\u00a0»\u00a0: inscription" in text


# --- Two registrations racing for the last seat ----------------------------------------------


load_reference_data = reference_data.reload


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_registrations_racing_for_the_last_seat_get_one_seat_and_one_waitlist():
    load_reference_data()
    ass = UserFactory(ass=True)
    action = ActionCollectiveFactory(animateur=ass, capacite=2)
    add(action, case_of(ass))  # one seat left
    cases = [case_of(ass), case_of(ass)]
    barrier = threading.Barrier(2)
    outcomes = []

    def run(case):
        try:
            barrier.wait(timeout=5)
            outcomes.append(add(ActionCollective.objects.get(pk=action.pk), case).statut.code)
        except BaseException as exc:  # reported by the main thread
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(case,)) for case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(map(str, outcomes)) == [p.INSCRIT, p.LISTE_ATTENTE]
    action.refresh_from_db()
    assert action.places_prises == 2
    assert Participant.objects.filter(action=action, statut__compte=True).count() == 2


# --- The add page ----------------------------------------------------------------------------


def test_the_add_page_lists_the_units_open_cases_own_first_and_searches(
    client, action, ass, colleague
):
    mine = case_of(ass, assure=AssureFactory(nom_naissance="Zola", prenoms="Émile"))
    theirs = AccompagnementFactory(
        referent=colleague, assure=AssureFactory(nom_naissance="Aubert", prenoms="Anne")
    )
    AccompagnementFactory(
        referent=colleague,
        assure=AssureFactory(nom_naissance="Closed", prenoms="Case"),
        statut=CaseStatus.CLOTURE,
        date_cloture=timezone.localdate(),
    )
    client.force_login(ass)
    text = client.get(add_url(action)).content.decode()
    assert text.index("Zola") < text.index("Aubert")  # her own cases first
    assert "Closed" not in text
    searched = client.get(add_url(action), {"q": "aubért"}).content.decode()
    assert "Aubert" in searched and "Zola" not in searched
    assert mine and theirs


def test_adding_on_the_page_says_seat_or_waitlist(client, ass):
    action = ActionCollectiveFactory(animateur=ass, capacite=1)
    first, second = case_of(ass), case_of(ass)
    client.force_login(ass)
    response = client.post(add_url(action), {"accompagnement": first.pk, "accord": "on"})
    assert response.status_code == 302
    followed = client.get(response.url).content.decode()
    assert "une place lui est réservée" in followed
    response = client.post(
        add_url(action), {"accompagnement": second.pk, "accord": "on"}, follow=True
    )
    text = response.content.decode()
    assert "liste d'attente" in text and "position 1" in text
    assert list(Participant.objects.order_by("pk").values_list("statut__code", flat=True)) == [
        p.INSCRIT,
        p.LISTE_ATTENTE,
    ]


def test_adding_without_agreement_or_with_a_bad_choice_changes_nothing(client, action, ass):
    case = case_of(ass)
    client.force_login(ass)
    response = client.post(add_url(action), {"accompagnement": case.pk})
    assert response.status_code == 200
    assert "sans son accord" in response.content.decode()
    for bad in ("abc", "999999", ""):
        response = client.post(add_url(action), {"accompagnement": bad, "accord": "on"})
        assert response.status_code == 200
        assert "Choisissez une personne dans la liste." in response.content.decode()
    outsider_case = AccompagnementFactory()  # another unit: not in the choices
    response = client.post(add_url(action), {"accompagnement": outsider_case.pk, "accord": "on"})
    assert response.status_code == 200
    assert not Participant.objects.exists()


def test_the_add_page_has_a_constant_number_of_queries(
    client, action, ass, django_assert_max_num_queries
):
    client.force_login(ass)
    case_of(ass)
    client.get(add_url(action))
    for _ in range(6):
        add(action, case_of(ass))
    with django_assert_max_num_queries(12):
        assert client.get(add_url(action)).status_code == 200


# --- Cancel and confirm pages ----------------------------------------------------------------


def test_cancel_needs_a_reason_and_tells_who_gets_the_seat(client, ass):
    action = ActionCollectiveFactory(animateur=ass, capacite=1)
    first = add(action, case_of(ass))
    waiting = add(action, case_of(ass))
    url = reverse("collective:participant_cancel", args=[action.pk, first.pk])
    client.force_login(ass)
    assert client.get(url).status_code == 200
    response = client.post(url, {"motif": "  "})
    assert response.status_code == 200
    assert "Indiquez le motif" in response.content.decode()
    first.refresh_from_db()
    assert first.statut.code == p.INSCRIT
    response = client.post(url, {"motif": "Reprise du travail"}, follow=True)
    text = response.content.decode()
    assert "annulée" in text and f"proposée à {waiting.assure}" in text
    waiting.refresh_from_db()
    assert waiting.statut.code == p.A_CONFIRMER
    confirm = reverse("collective:participant_confirm", args=[action.pk, waiting.pk])
    assert client.get(confirm).status_code == 405
    response = client.post(confirm, follow=True)
    assert "Place de" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.statut.code == p.INSCRIT
    # Confirming again or too late: a French message, no 500.
    response = client.post(
        reverse("collective:participant_confirm", args=[action.pk, first.pk]), follow=True
    )
    assert response.status_code == 200
    assert "plus réservée" in response.content.decode()


# --- The participants section ----------------------------------------------------------------


def test_the_section_shows_counts_groups_and_case_links(rf, ass):
    action = ActionCollectiveFactory(animateur=ass, capacite=1)
    first = add(action, case_of(ass))
    waiting = add(action, case_of(ass))
    by_code = p.participant_register(
        action=action, assure=AssureFactory(), source=ParticipantSource.CODE
    )
    request = rf.get("/")
    request.user = ass
    section = p.section_context(ass, action)
    html = render_to_string(
        "collective/_participants_section.html", {"participants_section": section}, request
    )
    assert "1&nbsp;/&nbsp;1" in html and "complet" in html
    assert "Liste d'attente&nbsp;:</strong> 2" in html
    assert str(first.assure) in html and str(waiting.assure) in html and str(by_code.assure) in html
    assert reverse("cases:accompagnement_detail", args=[first.accompagnement_id]) in html
    assert reverse("collective:participant_cancel", args=[action.pk, waiting.pk]) in html
    assert section["attente"] == 2 and section["places_prises"] == 1


def test_the_section_is_empty_for_who_does_not_run_the_action(action, ass, colleague):
    add(action, case_of(ass))
    assert p.section_context(colleague, action) == {"visible": False}
    html = render_to_string(
        "collective/_participants_section.html",
        {"participants_section": p.section_context(colleague, action)},
    )
    assert "Participant" not in html


def test_the_section_has_a_constant_number_of_queries(action, ass, django_assert_max_num_queries):
    action.capacite = 50
    action.save()
    for _ in range(8):
        add(action, case_of(ass))
    for _ in range(4):
        p.participant_register(action=action, assure=AssureFactory(), source="code")
    with django_assert_max_num_queries(2):
        section = p.section_context(ass, action)
        [row.case for _t, _c, rows in section["groups"] for row in rows]


def test_the_participants_page_constant_queries(client, action, ass, django_assert_max_num_queries):
    action.capacite = 50
    action.save()
    client.force_login(ass)
    for _ in range(8):
        add(action, case_of(ass))
    with django_assert_max_num_queries(10):
        response = client.get(reverse("collective:participants", args=[action.pk]))
    assert response.status_code == 200
    assert AuditLog.objects.filter(changes__page="collective_participants").count() == 8


# --- 404 / 403 on every page -----------------------------------------------------------------


def _pages(action, participant, seance):
    return [
        ("get", reverse("collective:participants", args=[action.pk])),
        ("get", reverse("collective:participant_add", args=[action.pk])),
        ("post", reverse("collective:participant_add", args=[action.pk])),
        ("get", reverse("collective:participant_cancel", args=[action.pk, participant.pk])),
        ("post", reverse("collective:participant_cancel", args=[action.pk, participant.pk])),
        ("post", reverse("collective:participant_confirm", args=[action.pk, participant.pk])),
        ("get", reverse("collective:attendance", args=[action.pk])),
        ("post", reverse("collective:attendance", args=[action.pk])),
        ("get", reverse("collective:attendance_import", args=[action.pk, seance.pk])),
        ("post", reverse("collective:attendance_import", args=[action.pk, seance.pk])),
    ]


def test_every_page_404_outside_the_region_403_without_the_right_200_for_runners(
    client, ass, colleague, manager, conseiller, regional
):
    action = ActionCollectiveFactory(animateur=ass)
    participant = add(action, case_of(ass))
    seance = SeanceFactory(action=action, debut=timezone.now() - datetime.timedelta(days=1))
    other_region = UserFactory(ass=True, unit=UnitFactory(region=RegionFactory(code="BRE")))
    co_animateur = UserFactory(ass=True, unit=ass.unit)
    action.co_animateurs.add(co_animateur)
    pages = _pages(action, participant, seance)
    for user, expected in [
        (other_region, 404),
        (colleague, 403),
        (conseiller, 403),
        (regional, 403),  # a unit's action: run by its unit
    ]:
        client.force_login(user)
        for method, url in pages:
            response = getattr(client, method)(url)
            assert response.status_code == expected, (user, method, url)
    for user in (ass, manager, co_animateur):
        client.force_login(user)
        for method, url in pages:
            if method == "get":
                assert client.get(url).status_code == 200, (user, url)
    # A participant of another action: 404 even for the animateur.
    other = add(ActionCollectiveFactory(animateur=ass), case_of(ass))
    client.force_login(ass)
    url = reverse("collective:participant_cancel", args=[action.pk, other.pk])
    assert client.get(url).status_code == 404
    client.logout()
    response = client.get(pages[0][1])
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert ActionEvent.objects.filter(action=action).count() >= 1


def test_the_action_page_records_who_read_the_participants_names(client, action, ass, colleague):
    first, second = add(action, case_of(ass)), add(action, case_of(ass))
    client.force_login(ass)
    page = client.get(reverse("collective:action_detail", args=[action.pk]))
    assert str(first.assure) in page.content.decode()
    reads = AuditLog.objects.filter(user=ass, action=AuditLog.Action.VIEW)
    assert set(reads.values_list("assure_id", flat=True)) >= {first.assure_id, second.assure_id}
    # A colleague of the region sees the action but not the names: nothing to record.
    client.force_login(colleague)
    page = client.get(reverse("collective:action_detail", args=[action.pk]))
    assert page.status_code == 200 and str(first.assure) not in page.content.decode()
    assert not AuditLog.objects.filter(user=colleague, assure_id=first.assure_id).exists()
