import datetime
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.agenda import (
    entretien_record,
    entretien_schedule,
    entretien_update,
    ics_calendar,
    ics_escape,
    ics_fold,
    parse_week,
)
from cases.models import CaseEvent, Entretien
from pdp.models import AuditLog
from tests.factories import AccompagnementFactory, AssureFactory, EntretienFactory, UserFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 3, 11, 9, 0, tzinfo=PARIS)  # Wednesday of ISO week 2026-W11
TODAY = NOW.date()


def at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


def days(n):
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def case(ass):
    return AccompagnementFactory(
        referent=ass, assure=AssureFactory(nom_naissance="Durand", prenoms="Élise")
    )


def create_url(case):
    return reverse("cases:entretien_create", args=[case.pk])


def edit_url(entretien):
    return reverse("cases:entretien_edit", args=[entretien.pk])


def schedule_data(day=None, time="14:30", **extra):
    return {
        "date": (day or days(2)).isoformat(),
        "heure": time,
        "duree_minutes": 60,
        "mode": "telephone",
        **extra,
    }


# --- Scheduling pages --------------------------------------------------------------------


def test_scheduling_sends_anonymous_visitors_to_the_login_page(client, case):
    response = client.get(create_url(case))
    assert response.status_code == 302
    assert reverse("login") in response.url


def test_another_unit_gets_404_when_scheduling(client, outsider, case):
    client.force_login(outsider)
    assert client.get(create_url(case)).status_code == 404


@pytest.mark.parametrize("persona", ["colleague", "regional"])
def test_a_colleague_may_not_schedule_in_a_case_they_do_not_hold(client, persona, request, case):
    client.force_login(request.getfixturevalue(persona))
    status = client.post(create_url(case), schedule_data(ass=case.referent_id)).status_code
    assert status == (403 if persona == "colleague" else 404)
    assert not Entretien.objects.exists()


def test_a_conseiller_books_a_meeting_for_the_referent(client, conseiller, case, ass):
    client.force_login(conseiller)
    assert client.get(create_url(case)).status_code == 200
    response = client.post(create_url(case), schedule_data(ass=ass.pk))
    assert response.status_code == 302
    entretien = Entretien.objects.get()
    assert entretien.ass == ass
    assert entretien.debut == at(days(2), 14, 30)
    assert entretien.statut == "planifie"
    assert entretien.mode == "telephone"
    event = CaseEvent.objects.get(accompagnement=case, kind="entretien")
    assert event.actor == conseiller
    assert "13/03/2026 à 14:30" in event.summary


def test_a_meeting_in_the_past_is_refused(client, ass, case):
    client.force_login(ass)
    response = client.post(create_url(case), schedule_data(day=TODAY, time="08:00", ass=ass.pk))
    assert response.status_code == 200
    assert "doit être dans le futur" in response.content.decode()
    assert not Entretien.objects.exists()
    assert not CaseEvent.objects.exists()


def test_an_overlapping_meeting_of_the_same_ass_is_refused(client, ass, case):
    EntretienFactory(accompagnement=AccompagnementFactory(referent=ass), debut=at(days(2), 14))
    client.force_login(ass)
    response = client.post(create_url(case), schedule_data(time="14:30", ass=ass.pk))
    assert "a déjà un entretien le 13/03/2026 à 14:00" in response.content.decode()
    assert Entretien.objects.count() == 1
    # Right after it is fine.
    response = client.post(create_url(case), schedule_data(time="15:00", ass=ass.pk))
    assert response.status_code == 302


def test_a_worker_of_another_unit_cannot_be_chosen(client, ass, outsider, case):
    with pytest.raises(ValidationError):
        entretien_schedule(
            accompagnement=case, acting_user=ass, debut=at(days(1), 10), mode="visio", ass=outsider
        )


def test_a_closed_case_takes_no_new_meeting(ass):
    closed = AccompagnementFactory(referent=ass, statut="cloture", date_cloture=days(-1))
    with pytest.raises(ValidationError, match="clôturé"):
        entretien_schedule(
            accompagnement=closed, acting_user=ass, debut=at(days(1), 10), mode="visio"
        )


# --- Recording and moving ------------------------------------------------------------------


@pytest.fixture
def past_meeting(case):
    return EntretienFactory(accompagnement=case, debut=at(days(-1), 10))


def test_the_referent_records_a_held_meeting_with_a_note(client, ass, past_meeting):
    client.force_login(ass)
    assert client.get(edit_url(past_meeting)).status_code == 200
    response = client.post(
        edit_url(past_meeting),
        {"action": "compte_rendu", "statut": "realise", "note": "Point sur la reprise."},
    )
    assert response.status_code == 302
    past_meeting.refresh_from_db()
    assert (past_meeting.statut, past_meeting.note) == ("realise", "Point sur la reprise.")
    event = CaseEvent.objects.get(kind="entretien")
    assert event.actor == ass
    assert event.changes["statut"] == ["planifie", "realise"]
    assert event.detail == "Point sur la reprise."


def test_another_unit_gets_404_on_a_meeting(client, outsider, past_meeting):
    client.force_login(outsider)
    assert client.get(edit_url(past_meeting)).status_code == 404


def test_a_colleague_gets_403_on_a_meeting(client, colleague, past_meeting):
    client.force_login(colleague)
    assert client.get(edit_url(past_meeting)).status_code == 403


def test_a_conseiller_may_move_but_not_record_a_meeting(client, conseiller, case, ass):
    future = EntretienFactory(accompagnement=case, debut=at(days(3), 10))
    client.force_login(conseiller)
    response = client.get(edit_url(future))
    assert response.status_code == 200
    assert response.context["record_form"] is None
    denied = client.post(edit_url(future), {"action": "compte_rendu", "statut": "annule"})
    assert denied.status_code == 403
    moved = client.post(
        edit_url(future), {"action": "deplacer", **schedule_data(day=days(5), ass=ass.pk)}
    )
    assert moved.status_code == 302
    future.refresh_from_db()
    assert future.debut == at(days(5), 14, 30)
    assert future.statut == "planifie"
    event = CaseEvent.objects.get(kind="entretien")
    assert event.changes["debut"] == ["14/03/2026 à 10:00", "16/03/2026 à 14:30"]


def test_a_future_meeting_can_only_be_cancelled(ass, case):
    future = EntretienFactory(accompagnement=case, debut=at(days(3), 10))
    with pytest.raises(ValidationError, match="pas encore eu lieu"):
        entretien_record(entretien=future, acting_user=ass, statut="realise", note="x")
    entretien_record(entretien=future, acting_user=ass, statut="annule")
    future.refresh_from_db()
    assert future.statut == "annule"


def test_a_cancelled_meeting_takes_no_note_and_is_final(ass, past_meeting):
    with pytest.raises(ValidationError, match="ne porte pas de note"):
        entretien_record(entretien=past_meeting, acting_user=ass, statut="annule", note="Motif")
    entretien_record(entretien=past_meeting, acting_user=ass, statut="annule")
    with pytest.raises(ValidationError, match="annulé"):
        entretien_record(entretien=past_meeting, acting_user=ass, statut="realise", note="x")
    with pytest.raises(ValidationError, match="planifié peut être déplacé"):
        entretien_update(
            entretien=past_meeting,
            acting_user=ass,
            debut=at(days(2), 10),
            mode="visio",
            duree_minutes=30,
        )
    assert CaseEvent.objects.filter(kind="entretien").count() == 1


def test_a_note_on_a_cancelled_meeting_shows_next_to_the_field(client, ass, past_meeting):
    client.force_login(ass)
    response = client.post(
        edit_url(past_meeting), {"action": "compte_rendu", "statut": "annule", "note": "x"}
    )
    assert response.status_code == 200
    assert "ne porte pas de note" in response.content.decode()
    past_meeting.refresh_from_db()
    assert past_meeting.statut == "planifie"


def test_a_held_meeting_can_be_corrected_to_absent(ass, past_meeting):
    entretien_record(entretien=past_meeting, acting_user=ass, statut="realise", note="Vu")
    entretien_record(entretien=past_meeting, acting_user=ass, statut="absent", note="Absente")
    past_meeting.refresh_from_db()
    assert past_meeting.statut == "absent"
    with pytest.raises(ValidationError):
        entretien_record(entretien=past_meeting, acting_user=ass, statut="annule")


# --- The week agenda -----------------------------------------------------------------------

AGENDA = reverse("cases:agenda")


def test_the_agenda_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(AGENDA)
    assert response.status_code == 302
    assert reverse("login") in response.url


@pytest.mark.parametrize("persona", ["regional", "medecin"])
def test_the_agenda_is_for_unit_staff(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(AGENDA).status_code == 403


def test_the_agenda_shows_the_week_monday_to_saturday(client, ass, case, colleague):
    monday_meeting = EntretienFactory(accompagnement=case, debut=at(days(-2), 9, 15))
    saturday_meeting = EntretienFactory(accompagnement=case, debut=at(days(3), 10))
    EntretienFactory(accompagnement=case, debut=at(days(5), 10))  # next Monday
    EntretienFactory(accompagnement=AccompagnementFactory(referent=colleague), debut=at(TODAY, 9))
    client.force_login(ass)
    response = client.get(AGENDA, {"semaine": "2026-W11"})
    assert response.status_code == 200
    day_list = response.context["days"]
    assert [d["date"].weekday() for d in day_list] == [0, 1, 2, 3, 4, 5]
    assert day_list[0]["meetings"] == [monday_meeting]
    assert day_list[5]["meetings"] == [saturday_meeting]
    assert sum(len(d["meetings"]) for d in day_list) == 2
    html = response.content.decode()
    assert "09:15" in html
    assert "Durand Élise" in html
    assert "?semaine=2026-W10" in html
    assert "?semaine=2026-W12" in html


def test_the_agenda_defaults_to_the_current_week(client, ass):
    client.force_login(ass)
    response = client.get(AGENDA, {"semaine": "n'importe quoi"})
    assert response.context["monday"] == datetime.date(2026, 3, 9)


def test_a_manager_picks_a_worker_of_the_unit(client, manager, ass, case, outsider):
    meeting = EntretienFactory(accompagnement=case, debut=at(TODAY, 16))
    client.force_login(manager)
    response = client.get(AGENDA, {"ass": ass.pk})
    assert response.context["worker"] == ass
    assert meeting in response.context["days"][2]["meetings"]
    assert client.get(AGENDA, {"ass": outsider.pk}).status_code == 404


def test_an_ass_cannot_open_a_colleagues_agenda(client, ass, colleague):
    client.force_login(ass)
    assert client.get(AGENDA, {"ass": colleague.pk}).status_code == 403


def test_parse_week_reads_iso_weeks():
    assert parse_week("2026-W01") == datetime.date(2025, 12, 29)
    assert parse_week("2026-w53") == datetime.date(2026, 12, 28)  # 2026 has 53 ISO weeks
    assert parse_week("2025-W53", today=TODAY) == datetime.date(2026, 3, 9)  # 2025 has 52


# --- ICS feed --------------------------------------------------------------------------------


def ics_url(token):
    return reverse("cases:agenda_ics", args=[token])


@pytest.fixture
def subscribed(ass):
    ass.new_ics_token()
    ass.save()
    return ass


def unfold(body):
    return body.replace("\r\n ", "")


def test_the_feed_is_public_and_is_a_valid_calendar(client, subscribed, case):
    EntretienFactory(accompagnement=case, debut=at(days(1), 10), mode="visio")
    response = client.get(ics_url(subscribed.ics_token))  # no login
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode("utf-8")
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert body.endswith("END:VCALENDAR\r\n")
    assert "\n" not in body.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    text = unfold(body)
    assert text.count("BEGIN:VEVENT") == text.count("END:VEVENT") == 1
    assert "DTSTART:20260312T090000Z" in text  # 10:00 in Paris (UTC+1)
    assert "DTEND:20260312T100000Z" in text
    assert "SUMMARY:Entretien web-entretien – É. D." in text


def test_the_feed_reveals_no_name_nir_or_note(client, subscribed, case):
    EntretienFactory(
        accompagnement=case, debut=at(days(-2), 10), statut="realise", note="Contraintes"
    )
    body = unfold(client.get(ics_url(subscribed.ics_token)).content.decode())
    assert "Durand" not in body and "Élise" not in body
    assert case.assure.nir not in body
    assert "Contraintes" not in body


def test_the_feed_covers_30_days_back_to_180_days_ahead(client, subscribed, case):
    inside = [days(-29), days(179)]
    outside = [days(-31), days(181)]
    for day in inside + outside:
        EntretienFactory(accompagnement=case, debut=at(day, 10), statut="realise")
    body = client.get(ics_url(subscribed.ics_token)).content.decode()
    assert body.count("BEGIN:VEVENT") == 2


def test_another_workers_meetings_are_not_in_the_feed(client, subscribed, colleague):
    other = EntretienFactory(accompagnement=AccompagnementFactory(referent=colleague))
    body = client.get(ics_url(subscribed.ics_token)).content.decode()
    assert f"entretien-{other.pk}@" not in body
    assert "BEGIN:VEVENT" not in body


def test_a_cancelled_meeting_is_published_as_cancelled(subscribed, case):
    EntretienFactory(accompagnement=case, debut=at(days(1), 10), statut="annule")
    assert "STATUS:CANCELLED" in ics_calendar(subscribed)


def test_an_unknown_or_revoked_token_gives_404(client, subscribed, ass):
    token = subscribed.ics_token
    assert client.get(ics_url("inconnu")).status_code == 404
    client.force_login(ass)
    client.post(reverse("cases:agenda_ics_manage"), {"action": "revoquer"})
    client.logout()
    subscribed.refresh_from_db()
    assert subscribed.ics_token == ""
    assert client.get(ics_url(token)).status_code == 404


def test_an_inactive_users_feed_gives_404(client, subscribed):
    subscribed.is_active = False
    subscribed.save()
    assert client.get(ics_url(subscribed.ics_token)).status_code == 404


def test_long_lines_are_folded_at_75_octets_without_cutting_a_character():
    line = "SUMMARY:" + "é" * 80
    folded = ics_fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join([parts[0]] + [p[1:] for p in parts[1:]]) == line


def test_text_values_are_escaped():
    assert ics_escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


# --- Managing the feed -------------------------------------------------------------------

MANAGE = reverse("cases:agenda_ics_manage")


def test_managing_the_feed_sends_anonymous_visitors_to_the_login_page(client):
    assert client.get(MANAGE).status_code == 302


def test_regional_staff_have_no_feed(client, regional):
    client.force_login(regional)
    assert client.get(MANAGE).status_code == 403
    assert client.post(MANAGE, {"action": "generer"}).status_code == 403


def test_a_worker_creates_then_regenerates_the_feed_address(client, ass):
    client.force_login(ass)
    assert "Aucun abonnement actif" in client.get(MANAGE).content.decode()
    client.post(MANAGE, {"action": "generer"})
    ass.refresh_from_db()
    first = ass.ics_token
    assert len(first) >= 40
    html = client.get(MANAGE).content.decode()
    assert f"http://testserver/agenda/{first}.ics" in html
    client.post(MANAGE, {"action": "generer"})
    ass.refresh_from_db()
    assert ass.ics_token not in ("", first)
    assert client.get(ics_url(first)).status_code == 404
    assert client.get(ics_url(ass.ics_token)).status_code == 200
    assert AuditLog.objects.filter(object_type="pdp.user", object_id=str(ass.pk)).count() == 2


def test_feed_tokens_differ_between_users(ass, colleague):
    assert ass.new_ics_token() != UserFactory(unit=ass.unit).new_ics_token()


# --- The section of the accompagnement page ------------------------------------------------


def entretiens_section(case, user, **flags):
    from django.template.loader import render_to_string

    context = {
        "case": case,
        "entretiens": list(case.entretiens.select_related("ass").order_by("-debut")),
        "can_edit": flags.get("can_edit", False),
        "can_read_content": flags.get("can_read_content", False),
        "can_schedule": flags.get("can_schedule", False),
        "user": user,
    }
    return render_to_string("cases/_entretiens.html", context)


def test_the_section_shows_notes_only_to_content_readers(case, ass, conseiller):
    held = EntretienFactory(
        accompagnement=case, debut=at(days(-1), 10), statut="realise", note="Reprise envisagée"
    )
    for_referent = entretiens_section(
        case, ass, can_edit=True, can_read_content=True, can_schedule=True
    )
    assert "Reprise envisagée" in for_referent
    assert edit_url(held) in for_referent
    assert create_url(case) in for_referent
    for_conseiller = entretiens_section(case, conseiller, can_schedule=True)
    assert "Reprise envisagée" not in for_conseiller
    assert "Réalisé" in for_conseiller
    assert edit_url(held) not in for_conseiller  # nothing left to move
    assert create_url(case) in for_conseiller


# --- Hostile input: a clear refusal, never an HTTP 500 -------------------------------------


@pytest.mark.parametrize("week", ["9999-W52", "0001-W01", "2026-W99", "abc", "2026-Wx"])
def test_an_out_of_range_or_bad_week_shows_the_current_week(client, ass, week):
    client.force_login(ass)
    response = client.get(AGENDA, {"semaine": week})
    assert response.status_code == 200
    assert response.context["monday"] == datetime.date(2026, 3, 9)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2030-01-01"])
def test_a_meeting_years_away_is_refused_next_to_the_date(client, ass, case, day):
    client.force_login(ass)
    response = client.post(create_url(case), schedule_data(day=datetime.date.fromisoformat(day)))
    assert response.status_code == 200
    html = response.content.decode()
    assert "dans deux ans au plus" in html or "Vérifiez l&#x27;année" in html
    assert not Entretien.objects.exists()


def test_a_nul_byte_anywhere_in_a_request_is_a_400(client, ass, case):
    assert client.get("/agenda/a%00b.ics").status_code == 400  # anonymous too
    client.force_login(ass)
    assert client.get(AGENDA, {"semaine": "2026\x00-W11"}).status_code == 400
    assert client.post(create_url(case), schedule_data(mode="tele\x00phone")).status_code == 400
    assert not Entretien.objects.exists()


# --- The database guarantee: no overlapping planned meetings for one ASS ---------------------


def _raw_meeting(case, ass, start, minutes=60, statut="planifie"):
    return Entretien.objects.create(
        accompagnement=case,
        ass=ass,
        debut=start,
        duree_minutes=minutes,
        mode="telephone",
        statut=statut,
    )


@pytest.mark.postgres
def test_the_database_refuses_overlapping_planned_meetings_of_one_ass(ass, colleague, case):
    from django.db import IntegrityError, transaction

    _raw_meeting(case, ass, at(days(2), 10))
    _raw_meeting(case, ass, at(days(2), 11))  # back to back: allowed
    _raw_meeting(case, colleague, at(days(2), 10, 30))  # another ASS: allowed
    _raw_meeting(case, ass, at(days(2), 10, 15), statut="annule")  # not planned: allowed
    with pytest.raises(IntegrityError, match="entretien_no_overlap_per_ass"), transaction.atomic():
        _raw_meeting(case, ass, at(days(2), 10, 59), minutes=5)
    assert Entretien.objects.filter(ass=ass, statut="planifie").count() == 2


@pytest.mark.postgres
def test_a_booking_that_races_past_the_check_gets_a_clear_refusal(ass, case, monkeypatch):
    from cases import agenda

    monkeypatch.setattr(agenda, "_check_slot", lambda **kwargs: None)  # as if both ran at once
    entretien_schedule(accompagnement=case, acting_user=ass, debut=at(days(3), 14), mode="visio")
    with pytest.raises(ValidationError) as exc:
        entretien_schedule(
            accompagnement=case, acting_user=ass, debut=at(days(3), 14, 30), mode="visio"
        )
    assert "vient de recevoir un autre entretien" in exc.value.message_dict["debut"][0]
    assert Entretien.objects.filter(accompagnement=case).count() == 1


@pytest.mark.parametrize(
    ("day", "reason"),
    [(datetime.date(2026, 3, 15), "un dimanche"), (datetime.date(2026, 5, 1), "Fête du Travail")],
)
def test_a_meeting_on_a_sunday_or_a_public_holiday_needs_a_confirmation(
    client, ass, case, day, reason
):
    client.force_login(ass)
    response = client.post(create_url(case), schedule_data(day=day, ass=ass.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert reason in html and "Maintenir ce rendez-vous" in html
    assert not Entretien.objects.exists()
    response = client.post(
        create_url(case), schedule_data(day=day, ass=ass.pk, confirmer_jour="on")
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Entretien.objects.get().debut.date() == day


def test_the_agenda_query_count_does_not_grow_with_meetings_on_shared_cases(
    client, colleague, share_case
):
    """A covering ASS's week: whether each meeting is editable comes without a query per row."""

    def week_with(n):
        first = Entretien.objects.count()
        for i in range(first, first + n):
            case = AccompagnementFactory()
            share_case(case, colleague)
            EntretienFactory(accompagnement=case, ass=colleague, debut=at(days(1), 8 + i))
        client.force_login(colleague)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(AGENDA)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    assert week_with(1) == week_with(4)
