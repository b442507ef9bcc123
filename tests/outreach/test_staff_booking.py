"""A conseiller (or an ASS) books the person's first meeting on the phone, from the free slots of
the unit's ASS (issue 10, item 5): the service, the page, who may, refusals, the confirmation."""

import datetime
import html
import re

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import PlageOuverture
from outreach import booking, staff_booking
from pdp import access_codes
from pdp.messaging import outbox
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Canal, ContactAttempt, Signalement, Statut
from tests.factories import AssureFactory, SignalementFactory, UnitFactory, UserFactory
from tests.outreach.conftest import PARIS, TUESDAY_9

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"
CODE_IN_LINK = re.compile(r"/r/([0-9A-Z]{8})/")


@pytest.fixture
def setup(frozen, motifs, booking_ass):
    """Time frozen on Monday 1 March 2027 at 08:00, one ASS open on Tuesday mornings."""
    return booking_ass


def page_url(referral, **query):
    url = reverse("outreach:book_for_signalement", args=[referral.pk])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def slot(debut=TUESDAY_9, ass=None, mode="sur_place"):
    return {"debut": debut.isoformat(), "ass": ass.pk if ass else "", "mode": mode}


def text(response):
    return html.unescape(response.content.decode())


def flash(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def sent_code():
    (sms,) = outbox
    return CODE_IN_LINK.search(sms.body).group(1)


# --- Booking from the page ----------------------------------------------------------------


def test_a_conseiller_books_the_first_meeting_for_the_person_on_the_phone(
    setup,
    client,
    conseiller,
    referral,
    issue_booking_code,
    django_capture_on_commit_callbacks,
):
    ass = setup
    old_row, old_code = issue_booking_code(referral)
    client.force_login(conseiller)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(referral, mode="sur_place"), slot(ass=ass))

    assert response.status_code == 302
    assert response.url == reverse("referrals:signalement_detail", args=[referral.pk])
    referral.refresh_from_db()
    assert referral.statut == Statut.RENCONTRE_PROPOSEE
    assert (referral.rdv_debut, referral.rdv_ass, referral.rdv_mode, referral.rdv_par) == (
        TUESDAY_9,
        ass,
        "sur_place",
        conseiller,
    )
    assert referral.rdv_duree_minutes == 60
    assert referral.assigned_to == ass
    # The person is on the phone: reached, once, by telephone, by the conseiller.
    attempt = referral.contact_attempts.get()
    assert (attempt.canal, attempt.resultat, attempt.user) == (
        Canal.TELEPHONE,
        ContactAttempt.Resultat.JOINT,
        conseiller,
    )
    assert attempt.note == "Rendez-vous pris au téléphone avec la personne."
    # The confirmation SMS carries a « manage » code; the stored copy hides it.
    message = Message.objects.get(template="booking_confirmation_staff")
    assert message.body.startswith("Rendez-vous pris avec le service social")
    assert "••••••••" in message.body
    code = sent_code()
    assert code not in message.body
    manage = access_codes.access_code_lookup(code=code)
    assert (manage.purpose, manage.object_type, manage.object_id) == (
        AccessCode.Purpose.MANAGE,
        "referrals.signalement",
        str(referral.pk),
    )
    assert manage.created_by == conseiller  # the code issued on the phone names who did
    # The booking link sent earlier no longer books (it would replace this meeting).
    assert access_codes.access_code_lookup(code=old_code) is None
    old_row.refresh_from_db()
    assert old_row.revoked_at is not None
    assert AuditLog.objects.filter(
        object_type="pdp.accesscode", object_id=str(old_row.pk), user=conseiller
    ).exists()
    assert AuditLog.objects.filter(
        object_type="referrals.signalement",
        object_id=str(referral.pk),
        user=conseiller,
        changes__has_key="booking",
    ).exists()
    (notice,) = flash(response)
    assert f"le mardi 2 mars à 9{NBSP}h avec {ass}" in notice
    assert "Agence de Rouen, 12 rue des Carmes" in notice
    assert "Confirmation envoyée par SMS au 06 •• •• •• 78" in notice


def test_the_person_then_manages_the_meeting_with_the_code_sent(
    setup, client, conseiller, referral, django_capture_on_commit_callbacks
):
    next_week = TUESDAY_9 + datetime.timedelta(days=7)
    client.force_login(conseiller)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page_url(referral), slot(debut=next_week, ass=setup, mode="telephone"))
    row = access_codes.access_code_lookup(code=sent_code())
    meeting = booking.meeting_for(code_row=row)
    assert (meeting.debut, meeting.ass, meeting.mode) == (next_week, setup, "telephone")
    assert meeting.can_cancel() and meeting.can_move()
    later = next_week + datetime.timedelta(hours=1)
    assert booking.booking_move(code_row=row, debut=later).meeting.debut == later


def test_a_reached_person_gets_no_second_contact_attempt_and_a_new_booking_replaces_the_first(
    setup, client, referral, django_capture_on_commit_callbacks
):
    ass = setup
    referral.assigned_to = ass
    referral.save()
    client.force_login(ass)  # the ASS the referral is assigned to books for herself
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page_url(referral), slot(ass=ass))
    first = access_codes.access_code_lookup(code=sent_code())
    outbox.clear()
    later = TUESDAY_9 + datetime.timedelta(days=7)
    page = text(client.get(page_url(referral)))
    assert (
        f"Un premier rendez-vous est déjà proposé le mardi 2 mars à 9{NBSP}h avec {ass} "
        "(consultation sociale sur site)." in page
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(referral), slot(debut=later, ass=ass))
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.rdv_debut == later
    assert referral.contact_attempts.count() == 1
    # The first confirmation's code is superseded by the new one.
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert booking.meeting_for(
        code_row=access_codes.access_code_lookup(code=sent_code())
    ).debut == (later)


def test_without_mobile_nor_email_nothing_is_sent_and_the_conseiller_is_told(
    setup, client, conseiller, referral, person
):
    person.telephone = "02 35 11 22 33"  # a landline: no SMS
    person.email = ""
    person.save()
    client.force_login(conseiller)
    page = text(client.get(page_url(referral, mode="sur_place")))
    assert "aucune confirmation ne lui sera envoyée" in page
    response = client.post(page_url(referral), slot(ass=setup))
    assert response.status_code == 302
    assert not Message.objects.exists()
    assert not AccessCode.objects.filter(purpose=AccessCode.Purpose.MANAGE).exists()
    (notice,) = flash(response)
    assert (
        f"Aucune confirmation envoyée{NBSP}: la personne n'a ni mobile ni e-mail — "
        "donnez-lui la date au téléphone." in notice
    )


def test_a_person_who_prefers_email_gets_the_confirmation_by_email(
    setup, client, conseiller, referral, person, mailoutbox, django_capture_on_commit_callbacks
):
    person.canal_prefere = Canal.EMAIL
    person.email = "marie@exemple.fr"
    person.save()
    client.force_login(conseiller)
    assert "m•••@exemple.fr" in text(client.get(page_url(referral)))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(referral), slot(ass=setup))
    (mail,) = mailoutbox
    assert mail.subject.startswith("Rendez-vous pris le 02/03/2027")
    (notice,) = flash(response)
    assert "Confirmation envoyée par e-mail à m•••@exemple.fr" in notice


def test_an_sms_confirmation_at_night_says_when_it_will_go(
    setup, client, conseiller, referral, frozen
):
    frozen.move_to(datetime.datetime(2027, 3, 6, 21, 0, tzinfo=PARIS))  # a Saturday night
    client.force_login(conseiller)
    response = client.post(
        page_url(referral), slot(debut=TUESDAY_9 + datetime.timedelta(days=7), ass=setup)
    )
    assert response.status_code == 302
    (notice,) = flash(response)
    assert (
        f"La confirmation partira par SMS au 06 •• •• •• 78 le lundi 8 mars à 8{NBSP}h "
        "(pas de SMS la nuit, le dimanche ni les jours fériés)." in notice
    )
    # Early on a weekday: it goes at 08:00 the same day.
    frozen.move_to(datetime.datetime(2027, 3, 9, 6, 30, tzinfo=PARIS))
    client.force_login(setup)  # the referral is hers now
    response = client.post(
        page_url(referral), slot(debut=TUESDAY_9 + datetime.timedelta(days=14), ass=setup)
    )
    notice = flash(response)[-1]  # the first one was not shown (no page read)
    assert f"au 06 •• •• •• 78 aujourd'hui à 8{NBSP}h" in notice


# --- Refusals -------------------------------------------------------------------------------


def nothing_changed(referral):
    referral.refresh_from_db()
    assert referral.statut == Statut.A_CONTACTER
    assert referral.rdv_debut is None and referral.assigned_to is None
    assert not referral.contact_attempts.exists()
    mine = {"object_type": "referrals.signalement", "object_id": str(referral.pk)}
    assert not Message.objects.filter(**mine).exists()
    assert not AccessCode.objects.filter(purpose=AccessCode.Purpose.MANAGE, **mine).exists()


def test_a_slot_taken_meanwhile_shows_the_next_ones_and_changes_nothing(
    setup, client, conseiller, referral, issue_booking_code, unit
):
    ass = setup
    other = SignalementFactory(assure=AssureFactory(telephone="0611111111"), unit=unit)
    staff_booking.booking_book_for_person(
        signalement=other, acting_user=conseiller, ass=ass, debut=TUESDAY_9, mode="sur_place"
    )
    _row, code = issue_booking_code(referral)
    client.force_login(conseiller)
    response = client.post(page_url(referral, mode="sur_place"), slot(ass=ass))

    assert response.status_code == 409
    page = text(response)
    assert "Ce créneau vient d'être pris" in page
    assert "Créneaux libres suivants" in page
    assert (TUESDAY_9 + datetime.timedelta(hours=1)).isoformat() in page
    nothing_changed(referral)
    assert access_codes.access_code_lookup(code=code) is not None


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"debut": "mardi 9 h"}, "Ce créneau est illisible"),
        ({"debut": "2027-03-02T09:00:00"}, "Ce créneau est illisible"),  # no offset
        ({"debut": ""}, "Ce créneau est illisible"),
        ({"debut": "0001-01-01T00:00:00+01:00"}, "Ce créneau est illisible"),
        ({"debut": "9999-12-31T23:59:00-01:00"}, "Ce créneau est illisible"),
        ({"ass": "999999"}, "n'est pas une ASS en activité de l'unité"),
        ({"ass": "abc"}, "n'est pas une ASS en activité de l'unité"),
        ({"mode": "fax"}, "Choisissez une modalité"),
        ({"mode": "visio"}, "Choisissez une modalité proposée"),  # not in the ASS's ranges
        ({"debut": "2027-03-02T13:00:00+01:00"}, "Ce créneau vient d'être pris"),  # closed then
    ],
    ids=[
        "words",
        "naive",
        "empty",
        "year-1",
        "year-9999",
        "unknown-ass",
        "not-a-number",
        "mode",
        "not-offered",
        "closed",
    ],
)
def test_a_mangled_post_shows_the_page_again_with_a_french_message(
    setup, client, conseiller, referral, bad, message
):
    client.force_login(conseiller)
    response = client.post(page_url(referral, mode="sur_place"), {**slot(ass=setup), **bad})
    assert response.status_code in (200, 409)
    assert message in text(response)
    nothing_changed(referral)


def test_an_ass_of_another_unit_is_refused(setup, client, conseiller, referral):
    stranger = UserFactory(ass=True, unit=UnitFactory())
    client.force_login(conseiller)
    response = client.post(page_url(referral), slot(ass=stranger))
    assert response.status_code == 200
    assert "n'est pas une ASS en activité de l'unité" in text(response)
    with pytest.raises(ValidationError) as refused:
        staff_booking.booking_book_for_person(
            signalement=referral,
            acting_user=conseiller,
            ass=stranger,
            debut=TUESDAY_9,
            mode="sur_place",
        )
    assert "ass" in refused.value.error_dict
    nothing_changed(referral)


def test_who_does_not_see_the_referral_gets_404(setup, client, referral, outsider):
    client.force_login(outsider)
    assert client.get(page_url(referral)).status_code == 404
    assert client.post(page_url(referral), slot(ass=setup)).status_code == 404
    nothing_changed(referral)


def test_who_sees_the_referral_but_does_not_work_it_gets_403(
    setup, client, referral, conseiller, colleague
):
    referral.assigned_to = conseiller
    referral.save()
    client.force_login(colleague)  # an ASS of the unit: sees it, it is another's
    assert client.get(page_url(referral)).status_code == 403
    assert client.post(page_url(referral), slot(ass=setup)).status_code == 403
    with pytest.raises(PermissionDenied):
        staff_booking.booking_book_for_person(
            signalement=referral,
            acting_user=colleague,
            ass=setup,
            debut=TUESDAY_9,
            mode="sur_place",
        )
    referral.refresh_from_db()
    assert referral.rdv_debut is None


def test_a_closed_referral_gets_403_with_the_reason(setup, client, conseiller, referral):
    Signalement.objects.filter(pk=referral.pk).update(statut=Statut.HORS_CRITERES)
    client.force_login(conseiller)
    response = client.get(page_url(referral))
    assert response.status_code == 403
    assert "Ce signalement est clos" in text(response)


# --- The page -------------------------------------------------------------------------------


def test_the_page_asks_for_the_mode_then_lists_the_free_slots_by_day(
    setup, client, conseiller, referral
):
    client.force_login(conseiller)
    page = text(client.get(page_url(referral)))
    assert "Choisissez d'abord la modalité" in page
    assert "Consultation sociale sur site" in page and "Téléphone" in page
    assert "Web-entretien" not in page  # no range offers it

    page = text(client.get(page_url(referral, mode="telephone")))
    assert "Mardi 2 mars" in page
    for hour in ("9", "10", "11"):
        assert f"à {hour}{NBSP}h avec" in page  # the buttons' labels: « 9 h », « 10 h »…
    assert 'name="debut" value="2027-03-02T09:00:00+01:00"' in page
    assert 'name="mode" value="telephone"' in page
    # One ASS: her name is not repeated under each time.
    assert 'class="d-block small"' not in page


def test_several_ass_show_under_each_time_who_it_is_with_the_assigned_one_first(
    setup, client, conseiller, referral, unit
):
    other = UserFactory(ass=True, unit=unit, last_name="Aaron")  # first by name
    PlageOuverture.objects.create(
        ass=other,
        weekday=1,
        heure_debut=datetime.time(9, 0),
        heure_fin=datetime.time(10, 0),
        modes=["sur_place"],
        premier_jour=datetime.date(2027, 1, 1),
    )
    client.force_login(conseiller)
    page = text(client.get(page_url(referral, mode="sur_place")))
    assert f'name="ass" value="{other.pk}"' in page  # 9 h: the first by name
    assert f'<span class="d-block small">{other}</span>' in page
    assert f'<span class="d-block small">{setup}</span>' in page  # 10 h, 11 h

    referral.assigned_to = setup
    referral.save()
    client.force_login(setup)  # the referral is hers now: she works it
    page = text(client.get(page_url(referral, mode="sur_place")))
    assert f'name="ass" value="{other.pk}"' not in page  # the assigned ASS has 9 h
    assert "(signalement attribué)" in page

    page = text(client.get(page_url(referral, mode="sur_place", ass=other.pk)))
    assert f'name="ass" value="{setup.pk}"' not in page
    assert 'class="d-block small"' not in page


def test_the_slots_go_to_the_motifs_maximum_delay_a_week_of_days_at_a_time(
    setup, client, conseiller, referral
):
    client.force_login(conseiller)
    page = text(client.get(page_url(referral, mode="sur_place")))
    assert "Mardi 2 mars" in page and "Mardi 13 avril" in page  # 7 days with free slots
    assert "Mardi 20 avril" not in page
    assert "Créneaux suivants" in page and "Premiers créneaux" not in page
    page = text(client.get(page_url(referral, mode="sur_place", du="2027-04-14")))
    assert "Mardi 20 avril" in page and "Mardi 2 mars" not in page
    # 56 days from Monday 1 March 08:00: Tuesday 27 April is too far.
    assert "Mardi 27 avril" not in page
    assert "Premiers créneaux" in page and "Créneaux suivants" not in page


def test_the_page_reads_a_constant_number_of_queries(
    setup, client, conseiller, referral, unit, django_assert_max_num_queries
):
    client.force_login(conseiller)
    url = page_url(referral, mode="sur_place")
    client.get(url)  # warm the session and the motif
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for n in range(4):
        ass = UserFactory(ass=True, unit=unit)
        for weekday in range(5):
            PlageOuverture.objects.create(
                ass=ass,
                weekday=weekday,
                heure_debut=datetime.time(9 + n % 2, 0),
                heure_fin=datetime.time(17, 0),
                modes=["sur_place", "telephone"],
                premier_jour=datetime.date(2027, 1, 1),
            )
    with django_assert_max_num_queries(len(one)):
        page = text(client.get(url))
    assert page.count('name="debut"') > 30


def test_the_referral_page_offers_the_button_to_who_works_an_open_referral(
    setup, client, conseiller, colleague, referral
):
    detail = reverse("referrals:signalement_detail", args=[referral.pk])
    client.force_login(conseiller)
    page = text(client.get(detail))
    assert "Prendre rendez-vous pour la personne…" in page
    assert page_url(referral) in page
    referral.assigned_to = conseiller
    referral.save()
    client.force_login(colleague)
    assert page_url(referral) not in text(client.get(detail))
    Signalement.objects.filter(pk=referral.pk).update(statut=Statut.HORS_CRITERES)
    client.force_login(conseiller)
    assert page_url(referral) not in text(client.get(detail))


# --- Two bookings of one slot at once: the conseiller and a person online ------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_staff_booking_and_an_online_booking_of_one_slot_at_once_book_once(
    issue_booking_code, unit, booking_ass, conseiller
):
    from tests.outreach.test_booking import _race, book

    online = SignalementFactory(assure=AssureFactory(telephone="0612345600"), unit=unit)
    by_phone = SignalementFactory(assure=AssureFactory(telephone="0612345601"), unit=unit)
    row, _ = issue_booking_code(online)

    def staff():
        staff_booking.booking_book_for_person(
            signalement=Signalement.objects.get(pk=by_phone.pk),
            acting_user=conseiller,
            ass=booking_ass,
            debut=TUESDAY_9,
            mode="sur_place",
        )

    outcomes = _race(lambda: book(AccessCode.objects.get(pk=row.pk)), staff)
    assert sorted(map(str, outcomes)) == ["booked", "taken"]
    assert Signalement.objects.filter(rdv_ass=booking_ass, rdv_debut=TUESDAY_9).count() == 1
    assert AccessCode.objects.filter(purpose="manage").count() == 1
