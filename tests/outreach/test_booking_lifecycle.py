"""What happens around a booking: the cancellation notice with a fresh booking code, one first
meeting per referral, the manage link surviving the opening of the case, the contact attempt's
channel."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from cases.models import Entretien
from cases.services import case_open_from_signalement
from outreach import booking
from outreach.links import Channel, booking_link_send
from pdp import access_codes
from pdp.messaging import MASK, outbox
from pdp.models import AccessCode, Message
from referrals.models import Statut
from tests.factories import UserFactory
from tests.outreach.conftest import TUESDAY_9
from tests.outreach.test_booking import book

pytestmark = pytest.mark.django_db


def _code_in(text):
    return re.search(r"/r/([0-9A-Z]{8})/", text).group(1)


def test_a_cancellation_tells_the_person_and_gives_a_fresh_booking_code(
    issue_booking_code, referral, django_capture_on_commit_callbacks
):
    row, _ = issue_booking_code(referral)
    result = book(row)
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = booking.booking_cancel(code_row=result.manage_row, reason="")

    (sms,) = outbox
    assert "est annulé" in sms.body  # « é » is in the GSM-7 alphabet
    rebook = access_codes.access_code_lookup(code=_code_in(sms.body))
    assert rebook == cancelled.rebook_row
    assert (rebook.purpose, rebook.object_type, rebook.object_id) == (
        AccessCode.Purpose.BOOKING,
        "referrals.signalement",
        str(referral.pk),
    )
    stored = Message.objects.get(template="booking_cancelled")
    assert MASK in stored.body and _code_in(sms.body) not in stored.body
    # The fresh code books again (the referral is back to « contact en cours »).
    book(rebook)
    referral.refresh_from_db()
    assert referral.statut == Statut.RENCONTRE_PROPOSEE


def test_the_cancellation_email_cancels_the_calendar_event(
    issue_booking_code, referral, person, django_capture_on_commit_callbacks
):
    person.telephone, person.email = "", "marie@exemple.fr"
    person.save()
    row, _ = issue_booking_code(referral)
    with django_capture_on_commit_callbacks(execute=True):
        result = book(row)
        booking.booking_cancel(code_row=result.manage_row)
    confirmation, notice = mail.outbox
    assert "annulé" in notice.subject
    (ics_name, ics_text, _mime) = notice.attachments[0]
    assert ics_name == "rendez-vous.ics"
    text = ics_text.decode() if isinstance(ics_text, bytes) else ics_text
    assert "STATUS:CANCELLED" in text and "SEQUENCE:1" in text
    assert f"UID:rdv-{referral.pk}@pdp" in text


def test_the_cancelled_page_books_again_without_asking_the_birth_date(
    client, issue_booking_code, referral
):
    row, _ = issue_booking_code(referral)
    result = book(row)
    client.get(f"/r/{result.manage_code}/")
    client.post(reverse("outreach:identify"), {"jour": 12, "mois": 5, "annee": 1985})
    response = client.post(reverse("outreach:cancel"), {"reason": ""})
    assert response.status_code == 200
    assert "Prendre un autre rendez-vous" in response.content.decode()
    modes = client.get(reverse("outreach:booking"))
    assert modes.status_code == 200
    assert "Consultation sociale sur site" in modes.content.decode()


def test_booking_a_referral_revokes_its_other_booking_links(issue_booking_code, referral):
    first, _ = issue_booking_code(referral)
    second, _ = issue_booking_code(referral)
    book(first)
    second.refresh_from_db()
    assert second.revoked_at is not None


def test_sending_a_new_link_revokes_the_older_unused_ones(
    issue_booking_code, referral, booking_ass
):
    conseiller = UserFactory(unit=referral.unit)
    old = booking_link_send(
        assure=referral.assure, context=referral, channel=Channel.SMS, acting_user=conseiller
    ).access_code
    new = booking_link_send(
        assure=referral.assure, context=referral, channel=Channel.SMS, acting_user=conseiller
    ).access_code
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.revoked_at is not None and new.revoked_at is None


def test_the_contact_attempt_names_the_channel_the_link_came_by(
    issue_booking_code, referral, person
):
    person.email = "marie@exemple.fr"
    person.save()
    conseiller = UserFactory(unit=referral.unit)
    booking_link_send(
        assure=person, context=referral, channel=Channel.EMAIL, acting_user=conseiller
    )
    row = AccessCode.objects.get(purpose=AccessCode.Purpose.BOOKING, revoked_at__isnull=True)
    book(row)
    attempt = referral.contact_attempts.get()
    assert attempt.canal == "email"
    assert "lien reçu par e-mail" in attempt.note


def test_the_manage_link_follows_the_meeting_into_the_case(
    issue_booking_code, referral, booking_ass, frozen
):
    row, _ = issue_booking_code(referral)
    result = book(row)
    referral.refresh_from_db()
    case = case_open_from_signalement(
        signalement=referral, acting_user=booking_ass, referent=booking_ass
    )
    entretien = Entretien.objects.get(accompagnement=case)
    result.manage_row.refresh_from_db()  # as every public page reads it, from the database
    meeting = booking.meeting_for(code_row=result.manage_row)
    assert (meeting.kind, meeting.pk, meeting.debut) == (booking.ENTRETIEN, entretien.pk, TUESDAY_9)
    cancelled = booking.booking_cancel(code_row=result.manage_row)
    entretien.refresh_from_db()
    assert entretien.statut == Entretien.Statut.ANNULE
    result.manage_row.refresh_from_db()
    assert result.manage_row.revoked_at is not None
    # The fresh code is bound to the case now, with the référent's follow-up motif.
    context = booking.booking_context(code_row=cancelled.rebook_row)
    assert context.accompagnement == case
    assert context.motif.label == booking.MOTIF_FOLLOW_UP


def test_a_night_booking_is_confirmed_by_email_rather_than_an_sms_at_8(
    issue_booking_code, referral, person, frozen, django_capture_on_commit_callbacks
):
    person.email = "marie@exemple.fr"
    person.save()
    frozen.move_to(TUESDAY_9.replace(day=1, hour=6))  # Monday 06:00: no SMS before 08:00
    row, _ = issue_booking_code(referral)
    with django_capture_on_commit_callbacks(execute=True):
        result = book(row)
    assert result.message.channel == Message.Channel.EMAIL
    result.message.refresh_from_db()
    assert result.message.status == Message.Status.SENT
    assert outbox == [] and len(mail.outbox) == 1


def test_without_an_email_the_confirmation_page_says_when_the_sms_will_go(
    client, issue_booking_code, referral, frozen
):
    frozen.move_to(TUESDAY_9.replace(day=1, hour=6))
    row, code = issue_booking_code(referral)
    client.get(f"/r/{code}/")
    client.post(reverse("outreach:identify"), {"jour": 12, "mois": 5, "annee": 1985})
    t = int(TUESDAY_9.timestamp())
    client.post(reverse("outreach:booking"), {"mode": "sur_place", "t": t})
    page = client.get(reverse("outreach:confirmation")).content.decode()
    assert "Vous recevrez un SMS de confirmation le lundi 1 mars à partir de 8&nbsp;h" in page
    assert Message.objects.get(template="booking_confirmation").status == Message.Status.DEFERRED
