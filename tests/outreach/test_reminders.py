"""Reminders 48 hours before a meeting (issue 10, item 7): sent once, by the preferred channel,
never to people who opted out, never for cancelled or moved times, honouring quiet hours."""

import datetime
import re
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Entretien, PlageOuverture
from cases.services import case_open_from_signalement
from outreach import reminders
from outreach.models import Rappel
from outreach.reminders import assure_reminders_set, reminders_send
from outreach.tasks import send_reminders
from pdp import messaging
from pdp.access_codes import access_code_lookup, code_url
from pdp.celery import app
from pdp.messaging import MASK, send_sms
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Canal, Signalement, Statut
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    EntretienFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

PARIS = ZoneInfo("Europe/Paris")
# A Tuesday afternoon (SMS allowed), and a Saturday night (SMS wait for Monday 08:00).
NOW = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=PARIS)  # Tuesday 15:00
SATURDAY_NIGHT = datetime.datetime(2026, 3, 7, 21, 0, tzinfo=PARIS)
MONDAY_MORNING = datetime.datetime(2026, 3, 9, 8, 0, tzinfo=PARIS)
HEALTH_WORDS = ("santé", "médic", "arrêt", "maladie", "handicap", "diagnos", "soin", "patho")
CODE_RE = re.compile(r"/r/([0-9A-Z]{8})/")


@pytest.fixture(autouse=True)
def sms_outbox():
    messaging.outbox.clear()
    yield messaging.outbox
    messaging.outbox.clear()


@pytest.fixture
def at():
    travellers = []

    def travel(moment):
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)

    yield travel
    for traveller in reversed(travellers):
        traveller.stop()


def meeting(start, *, statut=Entretien.Statut.PLANIFIE, mode=Entretien.Mode.SUR_PLACE, **person):
    person.setdefault("telephone", "06 12 34 56 78")
    assure = AssureFactory(**person)
    return EntretienFactory(
        accompagnement=AccompagnementFactory(assure=assure), debut=start, statut=statut, mode=mode
    )


def run(now, capture):
    with capture(execute=True):
        return reminders_send(now=now)


pytestmark = pytest.mark.django_db


# --- Which meetings get one ----------------------------------------------------------------


def test_a_meeting_in_47_hours_gets_one_sms_with_a_manage_link(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=47))
    result = run(NOW, django_capture_on_commit_callbacks)

    assert result == {"looked_at": 1, "created": 1, "skipped": 0, "sent": 1}
    rappel = Rappel.objects.get()
    assert (rappel.entretien, rappel.debut, rappel.kind) == (entretien, entretien.debut, "j-2")
    assert rappel.channel == "sms" and rappel.sent_at == NOW and rappel.skipped_reason == ""
    assert rappel.message.template == reminders.TEMPLATE
    assert rappel.message.object_id == str(entretien.pk)
    assert len(sms_outbox) == 1
    body = sms_outbox[0].body
    assert body.startswith(
        "Rappel : rendez-vous avec le service social de l'Assurance Maladie le "
        "jeudi 12 mars à 14 h 00 (sur place). Pour annuler ou déplacer : "
    )
    code = CODE_RE.search(body).group(1)
    row = access_code_lookup(code=code)
    assert row.purpose == AccessCode.Purpose.MANAGE
    assert (row.object_type, row.object_id) == ("cases.entretien", str(entretien.pk))
    assert row.assure_id == entretien.accompagnement.assure_id
    assert row.expires_at == entretien.debut
    assert body.endswith(code_url(code))


@pytest.mark.parametrize(
    "hours, statut",
    [(49, "planifie"), (-1, "planifie"), (24, "annule"), (24, "realise"), (24, "absent")],
)
def test_no_reminder_outside_the_window_or_for_a_meeting_not_planned(
    at, sms_outbox, django_capture_on_commit_callbacks, hours, statut
):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=hours), statut=statut)
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 0
    assert not Rappel.objects.exists()
    assert sms_outbox == []


def test_a_person_who_opted_out_gets_none(at, sms_outbox, django_capture_on_commit_callbacks):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=30), rappels=False)
    assert run(NOW, django_capture_on_commit_callbacks)["looked_at"] == 0
    assert not Rappel.objects.exists() and sms_outbox == []


def test_a_person_without_a_mobile_or_an_address_gets_a_skipped_row(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=30), telephone="02 35 00 00 00")  # a landline
    result = run(NOW, django_capture_on_commit_callbacks)
    assert result["skipped"] == 1 and result["sent"] == 0
    assert Rappel.objects.get().skipped_reason == Rappel.Skipped.NO_CHANNEL
    assert sms_outbox == [] and not Message.objects.exists()
    assert run(NOW, django_capture_on_commit_callbacks)["created"] == 0  # final


def test_a_meeting_confirmed_less_than_48_hours_before_gets_no_second_message(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=20))
    send_sms(to="0612345678", body="Confirmation", template="outreach/confirmation", obj=entretien)
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 0
    assert Rappel.objects.get().skipped_reason == Rappel.Skipped.RECENT_MESSAGE


def test_a_confirmation_sent_days_before_does_not_stop_the_reminder(
    at, django_capture_on_commit_callbacks
):
    at(NOW - datetime.timedelta(days=5))
    entretien = meeting(NOW + datetime.timedelta(hours=40))
    send_sms(to="0612345678", body="Confirmation", template="outreach/confirmation", obj=entretien)
    at(NOW)
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 1


# --- Channel and text ----------------------------------------------------------------------


def test_a_person_who_prefers_email_gets_an_email(
    at, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    meeting(
        NOW + datetime.timedelta(hours=30),
        mode=Entretien.Mode.TELEPHONE,
        canal_prefere=Canal.EMAIL,
        email="helene.martin@exemple.fr",
    )
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 1
    assert sms_outbox == []
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["helene.martin@exemple.fr"]
    assert mail.subject == "Rappel de votre rendez-vous du mercredi 11 mars à 21 h 00"
    assert "(par téléphone)" in mail.body
    assert CODE_RE.search(mail.body)
    assert Rappel.objects.get().channel == "email"


def test_the_other_channel_is_used_when_the_preferred_one_is_unusable(
    at, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=30), canal_prefere=Canal.EMAIL, email="")
    meeting(NOW + datetime.timedelta(hours=31), telephone="0235000000", email="paul@exemple.fr")
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 2
    assert len(sms_outbox) == 1 and len(mailoutbox) == 1


def test_an_on_site_meeting_names_the_place_of_the_opening_range(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=47))  # Thursday 14:00
    PlageOuverture.objects.create(
        ass=entretien.ass,
        weekday=3,
        heure_debut=datetime.time(9),
        heure_fin=datetime.time(17),
        lieu="Agence de Rouen, 50 avenue de Bretagne",
        modes=["sur_place"],
        premier_jour=datetime.date(2026, 1, 1),
    )
    run(NOW, django_capture_on_commit_callbacks)
    assert "(sur place, Agence de Rouen, 50 avenue de Bretagne)." in sms_outbox[0].body


def test_the_stored_message_has_the_code_masked_and_no_health_word(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=47))
    run(NOW, django_capture_on_commit_callbacks)
    code = CODE_RE.search(sms_outbox[0].body).group(1)
    stored = Message.objects.get()
    assert code not in stored.body and MASK in stored.body
    assert stored.status == Message.Status.SENT
    text = sms_outbox[0].body.lower().replace("assurance maladie", "")
    for word in HEALTH_WORDS:
        assert word not in text


# --- Never twice ---------------------------------------------------------------------------


def test_run_twice_sends_once(at, sms_outbox, django_capture_on_commit_callbacks):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=47))
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 1
    at(NOW + datetime.timedelta(minutes=15))
    second = run(NOW + datetime.timedelta(minutes=15), django_capture_on_commit_callbacks)
    assert second == {"looked_at": 0, "created": 0, "skipped": 0, "sent": 0}
    assert Rappel.objects.count() == 1 and len(sms_outbox) == 1


def test_a_row_written_but_not_claimed_is_sent_by_the_next_run(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=47))
    Rappel.objects.create(entretien=entretien, debut=entretien.debut, channel="sms")
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 1
    assert Rappel.objects.count() == 1 and len(sms_outbox) == 1


def test_a_moved_meeting_gets_a_reminder_for_its_new_time_only(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=47))
    run(NOW, django_capture_on_commit_callbacks)
    new_time = NOW + datetime.timedelta(hours=70)
    Entretien.objects.filter(pk=entretien.pk).update(debut=new_time)

    later = NOW + datetime.timedelta(hours=23)
    at(later)
    assert run(later, django_capture_on_commit_callbacks)["sent"] == 1
    assert sorted(Rappel.objects.values_list("debut", flat=True)) == [
        NOW + datetime.timedelta(hours=47),
        new_time,
    ]
    assert len(sms_outbox) == 2
    assert "vendredi 13 mars à 13 h 00" in sms_outbox[1].body


def test_a_meeting_moved_before_its_reminder_gets_none_for_the_old_time(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=47))
    # Written, then moved before it was claimed (e.g. by a run that stopped at quiet hours).
    Rappel.objects.create(entretien=entretien, debut=entretien.debut, channel="sms")
    Entretien.objects.filter(pk=entretien.pk).update(debut=NOW + datetime.timedelta(hours=60))
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 0
    assert Rappel.objects.get().sent_at is None and sms_outbox == []


def test_a_meeting_cancelled_after_its_row_was_written_is_not_reminded(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    entretien = meeting(NOW + datetime.timedelta(hours=47), statut=Entretien.Statut.ANNULE)
    Rappel.objects.create(entretien=entretien, debut=entretien.debut, channel="sms")
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 0
    assert sms_outbox == []


def _race(target, count=2):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def work():
        try:
            barrier.wait(timeout=5)
            results.append(target())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_one_message(at, sms_outbox):
    at(NOW)
    meetings = [meeting(NOW + datetime.timedelta(hours=h)) for h in (10, 20, 30, 40)]
    results = _race(lambda: reminders_send(now=NOW), count=2)
    assert sum(result["sent"] for result in results) == len(meetings)
    assert Rappel.objects.count() == len(meetings)
    assert Message.objects.count() == len(meetings)
    assert len(sms_outbox) == len(meetings)
    assert AccessCode.objects.count() == len(meetings)


# --- Quiet hours ---------------------------------------------------------------------------


def test_no_sms_reminder_is_written_at_night_it_goes_at_eight(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(SATURDAY_NIGHT)
    meeting(SATURDAY_NIGHT + datetime.timedelta(hours=40))  # Monday 13:00
    result = run(SATURDAY_NIGHT, django_capture_on_commit_callbacks)
    assert result["looked_at"] == 1 and result["created"] == 0
    assert not Rappel.objects.exists() and sms_outbox == []

    at(MONDAY_MORNING)
    assert run(MONDAY_MORNING, django_capture_on_commit_callbacks)["sent"] == 1
    assert Message.objects.get().status == Message.Status.SENT
    assert len(sms_outbox) == 1


def test_an_email_reminder_does_not_wait_for_the_morning(
    at, mailoutbox, django_capture_on_commit_callbacks
):
    at(SATURDAY_NIGHT)
    meeting(
        SATURDAY_NIGHT + datetime.timedelta(hours=40),
        canal_prefere=Canal.EMAIL,
        email="paul@exemple.fr",
    )
    assert run(SATURDAY_NIGHT, django_capture_on_commit_callbacks)["sent"] == 1
    assert len(mailoutbox) == 1


def test_an_sms_reminder_written_before_the_night_is_deferred_by_messaging(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(SATURDAY_NIGHT)
    entretien = meeting(SATURDAY_NIGHT + datetime.timedelta(hours=40))
    Rappel.objects.create(entretien=entretien, debut=entretien.debut, channel="sms")
    reminders_send(now=SATURDAY_NIGHT)  # commit callbacks not run: the Message row as written
    message = Message.objects.get()
    assert message.status == Message.Status.DEFERRED
    assert message.send_after == MONDAY_MORNING


# --- The task and its schedule -------------------------------------------------------------


def test_the_task_sends_the_due_reminders(at, sms_outbox, django_capture_on_commit_callbacks):
    at(NOW)
    meeting(NOW + datetime.timedelta(hours=47))
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders.delay().get()["sent"] == 1
    assert len(sms_outbox) == 1


def test_the_beat_schedule_runs_the_task_every_quarter_of_an_hour():
    entry = app.conf.beat_schedule["send-reminders"]
    assert entry["task"] == "outreach.tasks.send_reminders"
    assert entry["schedule"].minute == {0, 15, 30, 45}
    app.loader.import_default_modules()
    assert "outreach.tasks.send_reminders" in app.tasks


# --- Opting out ----------------------------------------------------------------------------


def test_reminders_are_on_by_default_and_the_service_turns_them_off_with_an_audit_row():
    assure = AssureFactory()
    assert assure.rappels is True
    assert assure_reminders_set(assure=assure, enabled=False) is True
    assure.refresh_from_db()
    assert assure.rappels is False
    log = AuditLog.objects.get(object_type="referrals.assure", action=AuditLog.Action.UPDATE)
    assert log.changes == {"rappels": [True, False]} and log.user is None
    assert log.assure_id == assure.pk
    assert assure_reminders_set(assure=assure, enabled=False) is False  # nothing to change
    assert AuditLog.objects.filter(action=AuditLog.Action.UPDATE).count() == 1


def test_staff_turn_reminders_off_on_the_person_page(client, ass):
    assure = AssureFactory(telephone="0612345678")
    AccompagnementFactory(assure=assure, referent=ass)
    client.force_login(ass)
    url = reverse("cases:assure_edit", args=[assure.pk])
    page = client.get(url).content.decode()
    assert "Recevoir les rappels de rendez-vous" in page
    data = {
        "adresse": "",
        "code_postal": assure.code_postal,
        "commune": assure.commune,
        "telephone": assure.telephone,
        "email": "",
        "canal_prefere": "",
        "situation_emploi": "",
        "employeur_nom": "",
        "employeur_siret": "",
        "poste": "",
        "spst": "",
    }  # "rappels" unchecked: absent from the POST
    response = client.post(url, data)
    assert response.status_code == 302
    assure.refresh_from_db()
    assert assure.rappels is False
    log = AuditLog.objects.filter(
        object_type="referrals.assure", action=AuditLog.Action.UPDATE
    ).get()
    assert log.changes == {"rappels": [True, False]} and log.user == ass


# --- The first meeting proposed on a referral (booked online without a case) ---------------


def referral_meeting(start, *, statut=Statut.RENCONTRE_PROPOSEE, mode="sur_place", **person):
    person.setdefault("telephone", "06 12 34 56 78")
    unit = UnitFactory()
    ass = UserFactory(ass=True, unit=unit)
    return SignalementFactory(
        assure=AssureFactory(**person),
        unit=unit,
        statut=statut,
        assigned_to=ass,
        rdv_debut=start,
        rdv_duree_minutes=60,
        rdv_mode=mode,
        rdv_ass=ass,
    )


def test_a_referral_meeting_in_47_hours_gets_one_reminder_with_a_manage_link_to_it(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral = referral_meeting(NOW + datetime.timedelta(hours=47))
    PlageOuverture.objects.create(
        ass=referral.rdv_ass,
        weekday=3,
        heure_debut=datetime.time(9),
        heure_fin=datetime.time(17),
        lieu="Agence de Rouen, 12 rue des Carmes",
        modes=["sur_place"],
        premier_jour=datetime.date(2026, 1, 1),
    )
    result = run(NOW, django_capture_on_commit_callbacks)

    assert result == {"looked_at": 1, "created": 1, "skipped": 0, "sent": 1}
    rappel = Rappel.objects.get()
    assert (rappel.signalement, rappel.entretien, rappel.debut) == (
        referral,
        None,
        referral.rdv_debut,
    )
    assert rappel.sent_at == NOW and rappel.channel == "sms"
    assert (rappel.message.object_type, rappel.message.object_id) == (
        "referrals.signalement",
        str(referral.pk),
    )
    assert len(sms_outbox) == 1
    body = sms_outbox[0].body
    assert body.startswith(
        "Rappel : rendez-vous avec le service social de l'Assurance Maladie le jeudi 12 mars "
        "à 14 h 00 (sur place, Agence de Rouen, 12 rue des Carmes). Pour annuler ou déplacer : "
    )
    row = access_code_lookup(code=CODE_RE.search(body).group(1))
    assert row.purpose == AccessCode.Purpose.MANAGE
    assert (row.object_type, row.object_id) == ("referrals.signalement", str(referral.pk))
    assert (row.assure_id, row.expires_at) == (referral.assure_id, referral.rdv_debut)

    at(NOW + datetime.timedelta(minutes=15))
    again = run(NOW + datetime.timedelta(minutes=15), django_capture_on_commit_callbacks)
    assert again == {"looked_at": 0, "created": 0, "skipped": 0, "sent": 0}
    assert Rappel.objects.count() == 1 and len(sms_outbox) == 1


def test_a_referral_meeting_by_phone_says_so_by_email_when_preferred(
    at, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral_meeting(
        NOW + datetime.timedelta(hours=30),
        mode="telephone",
        canal_prefere=Canal.EMAIL,
        email="helene.martin@exemple.fr",
    )
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 1
    assert sms_outbox == [] and len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Rappel de votre rendez-vous du mercredi 11 mars à 21 h 00"
    assert "(par téléphone)" in mailoutbox[0].body


@pytest.mark.parametrize("hours", [49, -1])
def test_no_reminder_for_a_referral_meeting_outside_the_window(
    at, sms_outbox, django_capture_on_commit_callbacks, hours
):
    at(NOW)
    referral_meeting(NOW + datetime.timedelta(hours=hours))
    assert run(NOW, django_capture_on_commit_callbacks)["looked_at"] == 0
    assert not Rappel.objects.exists() and sms_outbox == []


def test_no_reminder_for_a_referral_of_a_person_who_opted_out(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral_meeting(NOW + datetime.timedelta(hours=30), rappels=False)
    assert run(NOW, django_capture_on_commit_callbacks)["looked_at"] == 0
    assert sms_outbox == []


def test_a_moved_referral_meeting_gets_a_reminder_for_its_new_time_only(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral = referral_meeting(NOW + datetime.timedelta(hours=47))
    run(NOW, django_capture_on_commit_callbacks)
    new_time = NOW + datetime.timedelta(hours=70)
    Signalement.objects.filter(pk=referral.pk).update(rdv_debut=new_time)

    later = NOW + datetime.timedelta(hours=23)
    at(later)
    assert run(later, django_capture_on_commit_callbacks)["sent"] == 1
    assert sorted(Rappel.objects.values_list("debut", flat=True)) == [
        NOW + datetime.timedelta(hours=47),
        new_time,
    ]
    assert len(sms_outbox) == 2
    assert "vendredi 13 mars à 13 h 00" in sms_outbox[1].body


def test_a_referral_meeting_moved_before_its_reminder_gets_none_for_the_old_time(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral = referral_meeting(NOW + datetime.timedelta(hours=47))
    Rappel.objects.create(signalement=referral, debut=referral.rdv_debut, channel="sms")
    Signalement.objects.filter(pk=referral.pk).update(rdv_debut=NOW + datetime.timedelta(hours=60))
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 0
    assert Rappel.objects.get().sent_at is None and sms_outbox == []


@pytest.mark.parametrize("cleared", [True, False])
def test_a_cancelled_referral_meeting_gets_none(
    at, sms_outbox, django_capture_on_commit_callbacks, cleared
):
    """Cancelled online (rdv cleared, back to « à contacter ») or the referral moved on to
    another status with its rdv fields kept: no reminder, not even a row written before."""
    at(NOW)
    referral = referral_meeting(NOW + datetime.timedelta(hours=47))
    Rappel.objects.create(signalement=referral, debut=referral.rdv_debut, channel="sms")
    referral_meeting(NOW + datetime.timedelta(hours=30), statut=Statut.A_CONTACTER)
    changes = {"statut": Statut.A_CONTACTER}
    if cleared:
        changes.update(rdv_debut=None, rdv_duree_minutes=None, rdv_mode="", rdv_ass=None)
    Signalement.objects.filter(pk=referral.pk).update(**changes)
    result = run(NOW, django_capture_on_commit_callbacks)
    assert result == {"looked_at": 0, "created": 0, "skipped": 0, "sent": 0}
    assert Rappel.objects.get().sent_at is None and sms_outbox == []


def test_a_referral_meeting_confirmed_less_than_48_hours_before_gets_no_second_message(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral = referral_meeting(NOW + datetime.timedelta(hours=20))
    send_sms(to="0612345678", body="Confirmation", template="outreach/confirmation", obj=referral)
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 0
    assert Rappel.objects.get().skipped_reason == Rappel.Skipped.RECENT_MESSAGE
    assert Message.objects.count() == 1  # the confirmation only


def test_a_referral_meeting_booked_online_25_hours_ahead_gets_only_its_confirmation(
    issue_booking_code, referral, booking_ass, django_capture_on_commit_callbacks
):
    """The real booking flow (tests/outreach/conftest.py: Monday 08:00, booked for Tuesday
    09:00): the confirmation carries the link, the reminder is skipped."""
    from tests.outreach.test_booking import book

    row, _code = issue_booking_code(referral)
    with django_capture_on_commit_callbacks(execute=True):
        book(row)
    referral.refresh_from_db()
    assert referral.statut == Statut.RENCONTRE_PROPOSEE and not hasattr(referral, "entretien")
    confirmations = len(messaging.outbox)
    assert confirmations == 1
    confirmation = Message.objects.get()
    assert (confirmation.object_type, confirmation.object_id) == (
        "referrals.signalement",
        str(referral.pk),
    )

    result = run(timezone.now(), django_capture_on_commit_callbacks)
    assert result == {"looked_at": 1, "created": 1, "skipped": 1, "sent": 0}
    rappel = Rappel.objects.get()
    assert (rappel.signalement, rappel.skipped_reason) == (referral, "recent_message")
    assert len(messaging.outbox) == confirmations


def test_a_case_opened_from_a_reminded_referral_does_not_remind_its_first_meeting_again(
    at, sms_outbox, django_capture_on_commit_callbacks
):
    at(NOW)
    referral = referral_meeting(NOW + datetime.timedelta(hours=47))
    assert run(NOW, django_capture_on_commit_callbacks)["sent"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        case = case_open_from_signalement(
            signalement=referral, acting_user=referral.rdv_ass, referent=referral.rdv_ass
        )
    entretien = case.entretiens.get()
    assert entretien.debut == referral.rdv_debut

    later = NOW + datetime.timedelta(hours=1)
    at(later)
    result = run(later, django_capture_on_commit_callbacks)
    assert result == {"looked_at": 1, "created": 1, "skipped": 1, "sent": 0}
    assert Rappel.objects.get(entretien=entretien).skipped_reason == "recent_message"
    assert len(sms_outbox) == 1


def test_the_selection_takes_the_same_queries_for_one_meeting_or_many(
    at, django_capture_on_commit_callbacks
):
    def queries(count):
        Rappel.objects.all().delete()
        for hours in range(count):
            meeting(NOW + datetime.timedelta(hours=10 + hours), telephone="02 35 00 00 00")
            referral_meeting(NOW + datetime.timedelta(hours=20 + hours), telephone="0235000000")
        with CaptureQueriesContext(connection) as captured:
            result = reminders_send(now=NOW)
        assert result["skipped"] == result["created"] >= 2 * count
        return len(captured)

    at(NOW)
    assert queries(1) == queries(3)


def test_a_reminder_row_is_for_exactly_one_meeting():
    referral = referral_meeting(NOW)
    entretien = meeting(NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rappel.objects.create(debut=NOW, channel="sms")
    with pytest.raises(IntegrityError), transaction.atomic():
        Rappel.objects.create(entretien=entretien, signalement=referral, debut=NOW)
    Rappel.objects.create(signalement=referral, debut=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rappel.objects.create(signalement=referral, debut=NOW)
    assert str(Rappel.objects.get()) == f"48 heures avant — {referral}"
