"""The booking services: book, move, cancel with access codes; no double booking."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from cases.models import CaseEvent, Entretien
from outreach import booking
from pdp import access_codes
from pdp.messaging import outbox
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Signalement, Statut
from tests.factories import AccompagnementFactory, AssureFactory, SignalementFactory
from tests.outreach.conftest import BIRTH_DATE, TUESDAY_9

pytestmark = pytest.mark.django_db


def book(code_row, debut=TUESDAY_9, mode="sur_place"):
    context = booking.booking_context(code_row=code_row)
    ass = booking.slot_owner(context=context, mode=mode, debut=debut)
    assert ass is not None
    return booking.booking_book(
        code_row=code_row,
        assure=context.assure,
        ass=ass,
        debut=debut,
        motif=context.motif,
        mode=mode,
    )


def test_a_referral_booking_code_offers_the_units_ass_and_the_first_meeting_motif(
    issue_booking_code, referral, booking_ass
):
    row, _code = issue_booking_code(referral)
    context = booking.booking_context(code_row=row)
    assert context.signalement == referral
    assert context.ass_ids == [booking_ass.pk]
    assert context.motif.label == "Premier rendez-vous"
    assert booking.booking_modes(context) == ["sur_place", "telephone"]
    slots = booking.booking_slots(
        ass_ids=context.ass_ids,
        motif=context.motif,
        mode="sur_place",
        start=timezone.now(),
        end=timezone.now() + datetime.timedelta(days=2),
    )
    assert [s[0] for s in slots] == [TUESDAY_9 + datetime.timedelta(hours=h) for h in range(3)]


def test_booking_without_a_case_proposes_the_first_meeting_on_the_referral(
    issue_booking_code, referral, booking_ass, django_capture_on_commit_callbacks
):
    row, code = issue_booking_code(referral)
    with django_capture_on_commit_callbacks(execute=True):
        result = book(row)

    referral.refresh_from_db()
    assert referral.statut == Statut.RENCONTRE_PROPOSEE
    assert (referral.rdv_debut, referral.rdv_ass, referral.rdv_mode) == (
        TUESDAY_9,
        booking_ass,
        "sur_place",
    )
    assert referral.assigned_to == booking_ass
    assert referral.contact_attempts.get().resultat == "joint"
    row.refresh_from_db()
    assert row.used_at is not None
    manage = result.manage_row
    assert (manage.purpose, manage.object_type, manage.object_id) == (
        AccessCode.Purpose.MANAGE,
        "referrals.signalement",
        str(referral.pk),
    )
    assert manage.expires_at == TUESDAY_9
    assert access_codes.access_code_lookup(code=result.manage_code) == manage
    # The confirmation SMS carries the manage link; the stored copy hides the code.
    message = Message.objects.get(template="booking_confirmation")
    assert result.manage_code not in message.body
    assert "••••••••" in message.body
    assert any(f"/r/{result.manage_code}/" in sms.body for sms in outbox)
    # The booking code is spent, and the referral whose first meeting is booked opens no
    # booking any more (the person moves it with the manage code): a second one is refused.
    assert booking.booking_context(code_row=row) is None
    with pytest.raises(ValidationError):
        booking.booking_book(
            code_row=row,
            assure=referral.assure,
            ass=booking_ass,
            debut=TUESDAY_9 + datetime.timedelta(hours=1),
            motif=booking.motif_named(booking.MOTIF_FIRST),
            mode="sur_place",
        )


def test_booking_with_an_open_case_plans_an_entretien_with_the_referent(
    issue_booking_code, person, booking_ass, motifs
):
    case = AccompagnementFactory(assure=person, referent=booking_ass)
    row, _ = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=person.pk,
        expires_at=timezone.now() + datetime.timedelta(days=30),
        object_type="cases.accompagnement",
        object_id=case.pk,
    )
    context = booking.booking_context(code_row=row)
    assert context.motif.label == "Rendez-vous de suivi"
    result = book(row, mode="telephone")

    entretien = Entretien.objects.get(accompagnement=case)
    assert (entretien.debut, entretien.ass, entretien.statut, entretien.duree_minutes) == (
        TUESDAY_9,
        booking_ass,
        Entretien.Statut.PLANIFIE,
        45,
    )
    assert result.manage_row.object_type == "cases.entretien"
    assert result.manage_row.object_id == str(entretien.pk)
    assert case.events.filter(kind=CaseEvent.Kind.ENTRETIEN).exists()
    assert AuditLog.objects.filter(
        object_type="cases.entretien", object_id=str(entretien.pk), changes__has_key="booking"
    ).exists()


def test_an_email_confirmation_carries_an_ics_with_a_stable_uid(
    issue_booking_code, person, referral, mailoutbox, django_capture_on_commit_callbacks
):
    person.telephone = ""
    person.email = "marie@exemple.fr"
    person.save()
    row, _ = issue_booking_code(referral)
    with django_capture_on_commit_callbacks(execute=True):
        result = book(row)
    (mail,) = mailoutbox
    assert result.manage_code in mail.body
    assert result.manage_code not in Message.objects.get(template="booking_confirmation").body
    name, content, mimetype = mail.attachments[0]
    assert mimetype.startswith("text/calendar")
    text = content if isinstance(content, str) else content.decode()
    assert f"UID:rdv-{referral.pk}@pdp" in text
    assert "SEQUENCE:0" in text


def test_a_taken_slot_is_refused_with_the_next_free_slots(
    issue_booking_code, referral, booking_ass, unit
):
    other = SignalementFactory(assure=AssureFactory(telephone="0611111111"), unit=unit)
    first, _ = issue_booking_code(referral)
    second, _ = issue_booking_code(other)
    book(first)
    context = booking.booking_context(code_row=second)
    with pytest.raises(booking.SlotTaken) as refused:
        booking.booking_book(
            code_row=second,
            assure=context.assure,
            ass=booking_ass,
            debut=TUESDAY_9,
            motif=context.motif,
            mode="sur_place",
        )
    assert refused.value.messages == [booking.SLOT_TAKEN]
    assert [s[0] for s in refused.value.next_slots][:2] == [
        TUESDAY_9 + datetime.timedelta(hours=1),
        TUESDAY_9 + datetime.timedelta(hours=2),
    ]
    second.refresh_from_db()
    assert second.used_at is None  # the refused booking did not spend the code


def test_cancel_frees_the_slot_and_is_on_the_referral_timeline(issue_booking_code, referral):
    row, _ = issue_booking_code(referral)
    result = book(row)
    booking.booking_cancel(code_row=result.manage_row, reason="Je travaille ce jour-là")

    referral.refresh_from_db()
    assert referral.rdv_debut is None
    assert referral.statut == Statut.CONTACT_EN_COURS
    event = referral.events.get(old_value=Statut.RENCONTRE_PROPOSEE)
    assert "annulé en ligne" in event.reason and "Je travaille" in event.reason
    result.manage_row.refresh_from_db()
    assert result.manage_row.revoked_at is not None
    # The slot is free again: a new booking code books it.
    again, _ = issue_booking_code(referral)
    book(again)
    referral.refresh_from_db()
    assert referral.rdv_debut == TUESDAY_9


def test_cancel_of_an_entretien_marks_it_cancelled_on_the_case(
    issue_booking_code, person, booking_ass
):
    case = AccompagnementFactory(assure=person, referent=booking_ass)
    row, _ = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=person.pk,
        expires_at=timezone.now() + datetime.timedelta(days=30),
    )
    result = book(row)
    booking.booking_cancel(code_row=result.manage_row, reason="Empêchement")
    entretien = Entretien.objects.get(accompagnement=case)
    assert entretien.statut == Entretien.Statut.ANNULE
    assert case.events.filter(detail="Empêchement").exists()


def test_cancel_is_refused_less_than_4_hours_before(issue_booking_code, referral, frozen):
    row, _ = issue_booking_code(referral)
    result = book(row)
    frozen.move_to(TUESDAY_9 - datetime.timedelta(hours=4))
    meeting = booking.meeting_for(code_row=result.manage_row)
    assert meeting.can_cancel() and not meeting.can_move()
    frozen.move_to(TUESDAY_9 - datetime.timedelta(hours=4, seconds=-1))
    with pytest.raises(ValidationError) as refused:
        booking.booking_cancel(code_row=result.manage_row)
    assert refused.value.messages == [booking.TOO_LATE_CANCEL]


def test_move_is_refused_less_than_48_hours_before(issue_booking_code, referral, frozen):
    row, _ = issue_booking_code(referral)
    result = book(row, debut=TUESDAY_9 + datetime.timedelta(days=7))
    frozen.move_to(TUESDAY_9 + datetime.timedelta(days=5, seconds=1))
    with pytest.raises(ValidationError) as refused:
        booking.booking_move(
            code_row=result.manage_row, debut=TUESDAY_9 + datetime.timedelta(days=7, hours=1)
        )
    assert refused.value.messages == [booking.TOO_LATE_MOVE]


def test_a_moved_entretien_keeps_its_ics_uid_with_a_higher_sequence(
    issue_booking_code, person, booking_ass
):
    AccompagnementFactory(assure=person, referent=booking_ass)
    person.canal_prefere = "email"
    person.email = "marie@exemple.fr"
    person.save()
    row, _ = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=person.pk,
        expires_at=timezone.now() + datetime.timedelta(days=30),
    )
    result = book(row, debut=TUESDAY_9 + datetime.timedelta(days=7))
    first_ics = booking.ics.meeting_ics(result.meeting).decode()
    later = TUESDAY_9 + datetime.timedelta(days=7, minutes=90)  # a 45-minute slot: 10:30
    moved = booking.booking_move(code_row=result.manage_row, debut=later)

    assert moved.meeting.pk == result.meeting.pk
    assert Entretien.objects.get(pk=moved.meeting.pk).debut == later
    moved_ics = booking.ics.meeting_ics(moved.meeting).decode()
    uid = f"UID:entretien-{result.meeting.pk}@pdp"
    assert uid in first_ics and uid in moved_ics
    assert "SEQUENCE:0" in first_ics and "SEQUENCE:1" in moved_ics
    result.manage_row.refresh_from_db()
    assert result.manage_row.revoked_at is not None
    assert access_codes.access_code_lookup(code=moved.manage_code) == moved.manage_row


def test_no_code_in_the_audit_log_nor_in_messages(issue_booking_code, referral):
    row, code = issue_booking_code(referral)
    next_week = TUESDAY_9 + datetime.timedelta(days=7)
    result = book(row, debut=next_week)
    booking.booking_move(code_row=result.manage_row, debut=next_week + datetime.timedelta(hours=2))
    for secret in (code, result.manage_code):
        for text in AuditLog.objects.values_list("changes", flat=True):
            assert secret not in str(text)
        for body in Message.objects.values_list("body", flat=True):
            assert secret not in body


def test_the_birth_date_is_the_persons(person):
    assert person.date_naissance == BIRTH_DATE


# --- Two bookings of one slot at once (PostgreSQL, two connections) -----------------------


def _race(make_booking_a, make_booking_b):
    barrier = threading.Barrier(2)
    outcomes = []

    def run(make):
        try:
            barrier.wait(timeout=5)
            make()
            outcomes.append("booked")
        except booking.SlotTaken:
            outcomes.append("taken")
        except BaseException as exc:  # reported by the main thread
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(m,)) for m in (make_booking_a, make_booking_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_case", [False, True], ids=["referral", "case"])
def test_two_concurrent_bookings_of_one_slot_only_one_succeeds(
    issue_booking_code, unit, booking_ass, with_case
):
    rows = []
    for n in range(2):
        person = AssureFactory(telephone=f"061234560{n}")
        if with_case:
            AccompagnementFactory(assure=person, referent=booking_ass)
            rows.append(
                access_codes.access_code_issue(
                    purpose=AccessCode.Purpose.BOOKING,
                    assure_id=person.pk,
                    expires_at=timezone.now() + datetime.timedelta(days=30),
                )[0]
            )
        else:
            rows.append(issue_booking_code(SignalementFactory(assure=person, unit=unit))[0])
    outcomes = _race(lambda: book(rows[0]), lambda: book(rows[1]))

    assert sorted(map(str, outcomes)) == ["booked", "taken"]
    booked = (
        Entretien.objects.filter(ass=booking_ass, debut=TUESDAY_9)
        .exclude(statut=Entretien.Statut.ANNULE)
        .count()
        + Signalement.objects.filter(rdv_ass=booking_ass, rdv_debut=TUESDAY_9).count()
    )
    assert booked == 1
    assert AccessCode.objects.filter(purpose="booking", used_at__isnull=False).count() == 1
    assert AccessCode.objects.filter(purpose="manage").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uses_of_one_booking_code_book_once(issue_booking_code, referral):
    row, _ = issue_booking_code(referral)
    later = TUESDAY_9 + datetime.timedelta(hours=1)

    def book_fresh(debut):
        def run():
            fresh = AccessCode.objects.get(pk=row.pk)
            try:
                book(fresh, debut=debut)
            except ValidationError as exc:
                if isinstance(exc, booking.SlotTaken):
                    raise
                raise booking.SlotTaken() from exc

        return run

    outcomes = _race(book_fresh(TUESDAY_9), book_fresh(later))
    assert sorted(map(str, outcomes)) == ["booked", "taken"]
    assert AccessCode.objects.filter(purpose="manage").count() == 1


def test_a_forged_time_between_two_slots_is_refused(issue_booking_code, referral, booking_ass):
    row, _ = issue_booking_code(referral)
    context = booking.booking_context(code_row=row)
    with pytest.raises(booking.SlotTaken):
        booking.booking_book(
            code_row=row,
            assure=context.assure,
            ass=booking_ass,
            debut=TUESDAY_9 + datetime.timedelta(minutes=5),
            motif=context.motif,
            mode="sur_place",
        )
    row.refresh_from_db()
    assert row.used_at is None
