"""Webinars for the people (issue 11, item 3): invitation by code, public registration (seat,
waitlist, cancel, confirm a freed seat), reminders the day before and one hour before, and
after the session a referral of origin « webinaire » with a booking link."""

import datetime
import re
from html import unescape

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from cases.models import CaseEvent
from collective import participants as p
from collective.models import ActionEvent, ActionStatus, ActionType, Participant, Theme
from outreach import webinars
from outreach.models import RappelSeance
from pdp.access_codes import access_code_lookup, code_url
from pdp.celery import app
from pdp.messaging import MASK, gsm, outbox
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Origine, Signalement, SignalementEvent, Statut
from tests import reference_data
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    AssureFactory,
    RegionFactory,
    SeanceFactory,
    SignalementFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
)
from tests.outreach.conftest import PARIS

pytestmark = pytest.mark.django_db

# The conftest freezes Monday 1 March 2027, 08:00; the webinar is on Thursday at 14:00.
SESSION = datetime.datetime(2027, 3, 4, 14, 0, tzinfo=PARIS)
VISIO = "https://visio.example.org/webinaire-mars"
HEALTH_WORDS = ("santé", "médic", "maladie chronique", "cancer", "handicap", "diagnos", "soin")
CODE_RE = re.compile(r"/r/([0-9A-Z]{8})/")


load_collective_reference_data = reference_data.reload


def code_of(text):
    return CODE_RE.search(text).group(1)


@pytest.fixture
def webinar(frozen, motifs, booking_ass):
    action = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"),
        theme=Theme.objects.get(label="Cancer et travail"),
        titre="Cancer et travail : reprendre son poste",
        description="Une heure d'échanges sur la reprise du travail, avec vos questions.",
        animateur=booking_ass,
        statut=ActionStatus.PUBLIEE,
        capacite=1,
        lien_visio=VISIO,
    )
    SeanceFactory(action=action, debut=SESSION, duree_minutes=90, lieu="")
    return action


def invite(action, *people, by=None):
    outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        return webinars.webinar_invite(
            action=action, assure_ids=[a.pk for a in people], acting_user=by or action.animateur
        )


def identify(client, code):
    client.get(f"/r/{code}/")
    return client.post(
        reverse("outreach:identify"), {"jour": 12, "mois": 5, "annee": 1985}, follow=True
    )


def other_person(unit, **fields):
    fields.setdefault("telephone", "06 98 76 54 32")
    assure = AssureFactory(**fields)
    SignalementFactory(assure=assure, unit=unit)
    return assure


# --- Inviting ------------------------------------------------------------------------------


def test_the_invitation_sms_names_no_health_and_is_recorded(
    webinar, person, referral, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = invite(webinar, person)
    assert (result.sms, result.email, result.unreachable) == (1, 0, [])
    (sms,) = outbox
    code = code_of(sms.body)
    assert sms.body == gsm.normalise(
        "Le service social de l'Assurance Maladie vous invite à un webinaire le jeudi 4 mars "
        f"à 14 h : inscrivez-vous : {code_url(code)}"
    )
    lowered = sms.body.lower()
    assert not any(word in lowered for word in HEALTH_WORDS)
    assert "reprendre son poste" not in sms.body
    stored = Message.objects.get()
    assert MASK in stored.body and code not in stored.body
    assert (stored.object_type, stored.object_id) == (webinars.ACTION_LABEL, str(webinar.pk))
    row = access_code_lookup(code=code)
    assert row.purpose == AccessCode.Purpose.WEBINAR
    assert (row.object_type, row.object_id) == (webinars.ACTION_LABEL, str(webinar.pk))
    assert row.expires_at == SESSION and row.created_by == webinar.animateur
    event = ActionEvent.objects.get(kind="invitation")
    assert event.changes["sms"] == 1 and person.nom_naissance not in event.summary
    assert AuditLog.objects.filter(
        object_type="collective.actioncollective", assure_id=person.pk
    ).exists()
    note = SignalementEvent.objects.get(signalement=referral, kind=SignalementEvent.Kind.CONTACT)
    assert "invitation envoyée par SMS" in note.reason and "Cancer" not in note.reason


def test_an_invitation_by_email_and_on_the_case_timeline(webinar, booking_ass):
    assure = AssureFactory(telephone="", email="marie@example.org")
    case = AccompagnementFactory(assure=assure, referent=booking_ass)
    mail.outbox.clear()
    result = invite(webinar, assure)
    assert result.email == 1
    event = CaseEvent.objects.get(accompagnement=case, kind=CaseEvent.Kind.COLLECTIVE)
    assert "invitation envoyée par e-mail" in event.summary
    message = Message.objects.get(channel=Message.Channel.EMAIL)
    assert "webinaire" in message.subject and "Cancer" not in message.body + message.subject


def test_the_invitation_expires_when_the_registration_window_closes_first(
    webinar, person, referral
):
    webinar.inscription_fin = datetime.date(2027, 3, 2)
    webinar.save()
    invite(webinar, person)
    row = AccessCode.objects.get(purpose=AccessCode.Purpose.WEBINAR)
    assert row.expires_at == datetime.datetime(2027, 3, 3, 0, 0, tzinfo=PARIS)


def test_a_second_invitation_revokes_the_first(webinar, person, referral):
    invite(webinar, person)
    invite(webinar, person)
    rows = AccessCode.objects.filter(purpose=AccessCode.Purpose.WEBINAR).order_by("pk")
    assert [r.revoked_at is not None for r in rows] == [True, False]


def test_no_invitation_before_publication_nor_to_someone_outside_the_unit(
    webinar, person, referral
):
    outsider = AssureFactory(telephone="06 11 11 11 11")
    SignalementFactory(assure=outsider)  # another unit
    with pytest.raises(ValidationError, match="n'est plus suivie"):
        invite(webinar, person, outsider)
    assert not outbox and not AccessCode.objects.exists()
    webinar.statut = ActionStatus.PROJET
    webinar.save()
    with pytest.raises(ValidationError, match="publiée"):
        invite(webinar, person)
    isic = ActionCollectiveFactory(animateur=webinar.animateur, statut=ActionStatus.PUBLIEE)
    with pytest.raises(ValidationError, match="invitation"):
        invite(isic, person)


def test_people_registered_or_without_contact_are_not_invited(webinar, person, referral, unit):
    silent = other_person(unit, telephone="")
    p.participant_register(action=webinar, assure=person, source="code")
    result = invite(webinar, person, silent)
    assert result.sent == 0 and result.already_in == [str(person)]
    assert result.unreachable == [str(silent)]
    assert not outbox


# --- The staff page ------------------------------------------------------------------------


def test_the_invitation_page_404_403_and_200(client, webinar, unit):
    url = reverse("outreach:webinar_invite", args=[webinar.pk])
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    client.force_login(UserFactory(ass=True, unit=elsewhere))
    assert client.get(url).status_code == 404
    client.force_login(UserFactory(ass=True, unit=unit))  # same unit, does not run it
    assert client.get(url).status_code == 403
    assert client.post(url, {"assure": ["1"]}).status_code == 403
    client.force_login(webinar.animateur)
    assert client.get(url).status_code == 200


def test_the_invitation_page_lists_the_unit_and_sends(
    client, webinar, person, referral, unit, django_assert_max_num_queries
):
    client.force_login(webinar.animateur)
    url = reverse("outreach:webinar_invite", args=[webinar.pk])
    response = client.get(url)
    assert str(person) in response.content.decode()
    assert "06 •• •• •• 78" in response.content.decode()
    for _ in range(4):
        other_person(unit)
    AccompagnementFactory(referent=webinar.animateur, assure__telephone="06 22 22 22 22")
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.content.decode().count('name="assure"') == 6
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(url, {"assure": [str(person.pk)]}, follow=True)
    assert "1 invitation envoyée (1 par SMS)" in response.content.decode()
    assert "invitation envoyée le" in response.content.decode()
    assert len(outbox) == 1


@pytest.mark.parametrize("posted", [{}, {"assure": ["x"]}, {"assure": ["999999"]}])
def test_bad_input_on_the_invitation_page_changes_nothing(client, webinar, referral, posted):
    client.force_login(webinar.animateur)
    response = client.post(reverse("outreach:webinar_invite", args=[webinar.pk]), posted)
    assert response.status_code == 400
    assert "alert-danger" in response.content.decode()
    assert not AccessCode.objects.exists() and not outbox


def test_the_action_links_include_shows_the_invitations_to_who_runs_a_published_webinar(
    webinar,
):
    from django.template.loader import render_to_string

    html = render_to_string(
        "outreach/webinar_action_links.html", {"action": webinar, "can_run": True}
    )
    assert reverse("outreach:webinar_invite", args=[webinar.pk]) in html
    assert "href" not in render_to_string(
        "outreach/webinar_action_links.html", {"action": webinar, "can_run": False}
    )


# --- Registration by code ------------------------------------------------------------------


def _invited_code(webinar, assure):
    invite(webinar, assure)
    return code_of(outbox[-1].body)


def test_register_by_code_gets_a_seat_and_a_confirmation(
    client, webinar, person, referral, django_capture_on_commit_callbacks
):
    code = _invited_code(webinar, person)
    client.get(f"/r/{code}/")
    before = client.get(reverse("outreach:identify")).content.decode()
    assert "Invitation du service social" in before and person.nom_naissance not in before
    page = identify(client, code)
    assert page.redirect_chain[-1][0] == reverse("outreach:webinar")
    text = unescape(page.content.decode())
    assert "Webinaire du service social" in text and "Jeudi 4 mars 2027 à 14\u00a0h" in text
    assert "Une heure d'échanges" in text
    assert "Cancer" not in text and person.nom_naissance not in text
    assert "Je m'inscris" in text
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("outreach:webinar_register"), follow=True)
    text = response.content.decode()
    assert "Vous êtes inscrit·e" in text
    assert "Le lien de connexion vous sera envoyé la veille et une heure avant." in text
    participant = Participant.objects.get(action=webinar, assure=person)
    assert participant.statut.code == p.INSCRIT and participant.source == "code"
    (sms,) = outbox
    assert gsm.normalise("est confirmée") in sms.body and "la veille et une heure avant" in sms.body
    assert not any(word in sms.body.lower() for word in HEALTH_WORDS)
    # Registering twice (a resent form) changes nothing and sends nothing more.
    client.post(reverse("outreach:webinar_register"))
    assert len(outbox) == 1 and Participant.objects.count() == 1
    # The code is not spent: the same link opens the registration later, to cancel it.
    assert access_code_lookup(code=code) is not None


def test_the_second_person_is_waitlisted_then_promoted_by_a_cancellation_and_confirms(
    client, webinar, person, referral, unit, django_capture_on_commit_callbacks
):
    second = other_person(unit)
    first_code = _invited_code(webinar, person)
    second_code = _invited_code(webinar, second)
    identify(client, first_code)
    client.post(reverse("outreach:webinar_register"))
    other = client.__class__()
    identify(other, second_code)
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = other.post(reverse("outreach:webinar_register"), follow=True)
    assert "Vous êtes sur la liste d'attente" in unescape(response.content.decode())
    assert "liste d'attente" in outbox[-1].body
    assert Participant.objects.get(assure=second).statut.code == p.LISTE_ATTENTE

    # The first cancels with the same link: the seat goes to the second, who is told.
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("outreach:webinar_cancel"), follow=True)
    assert "Votre inscription est annulée." in response.content.decode()
    assert Participant.objects.get(assure=person).statut.code == p.ANNULE
    promoted = Participant.objects.get(assure=second)
    assert promoted.statut.code == p.A_CONFIRMER
    (sms,) = outbox
    assert sms.to == "+33698765432" and gsm.normalise("Une place s'est libérée") in sms.body
    assert not any(word in sms.body.lower() for word in HEALTH_WORDS)
    row = access_code_lookup(code=code_of(sms.body))
    assert row.purpose == AccessCode.Purpose.WEBINAR and row.expires_at == min(
        promoted.confirmer_avant, SESSION
    )

    fresh = client.__class__()
    page = identify(fresh, code_of(sms.body)).content.decode()
    assert "Une place s'est libérée pour vous" in unescape(page)
    response = fresh.post(reverse("outreach:webinar_confirm"), follow=True)
    assert "Votre place est confirmée." in response.content.decode()
    assert Participant.objects.get(assure=second).statut.code == p.INSCRIT


def test_a_full_webinar_without_waitlist_says_so(client, webinar, person, referral, unit):
    webinar.liste_attente = False
    webinar.save()
    p.participant_register(action=webinar, assure=other_person(unit), source="code")
    page = identify(client, _invited_code(webinar, person)).content.decode()
    assert "Toutes les places sont prises" in page and "webinar_register" not in page
    response = client.post(reverse("outreach:webinar_register"))
    assert response.status_code == 400
    assert not Participant.objects.filter(assure=person).exists()


def test_registration_not_open_yet_is_said(client, webinar, person, referral):
    webinar.inscription_debut = datetime.date(2027, 3, 2)
    webinar.save()
    page = identify(client, _invited_code(webinar, person)).content.decode()
    assert "Les inscriptions ouvriront le mardi 2 mars 2027." in page
    assert client.post(reverse("outreach:webinar_register")).status_code == 400


def test_the_webinar_pages_need_the_birth_date(client, webinar, person, referral):
    code = _invited_code(webinar, person)
    client.get(f"/r/{code}/")
    for name in ("webinar", "webinar_register", "webinar_cancel", "webinar_request"):
        method = client.get if name == "webinar" else client.post
        response = method(reverse(f"outreach:{name}"))
        assert response.status_code == 302
        assert response["Location"] == reverse("outreach:code_invalid")
    assert not Participant.objects.exists()


def test_the_public_page_takes_a_constant_number_of_queries(
    client, webinar, person, referral, django_assert_max_num_queries
):
    identify(client, _invited_code(webinar, person))
    with django_assert_max_num_queries(8):
        assert client.get(reverse("outreach:webinar")).status_code == 200


# --- Reminders -----------------------------------------------------------------------------


@pytest.fixture
def registered(webinar, person, referral):
    p.participant_register(action=webinar, assure=person, source="code")
    outbox.clear()
    return Participant.objects.get(assure=person)


def run(frozen, moment, capture):
    frozen.move_to(moment)
    with capture(execute=True):
        return webinars.webinar_messages_send()


def test_the_day_before_and_one_hour_before_each_once_with_the_visio_link(
    frozen, registered, django_capture_on_commit_callbacks
):
    assert (
        run(frozen, SESSION - datetime.timedelta(hours=25), django_capture_on_commit_callbacks)[
            "sent"
        ]
        == 0
    )
    j1 = SESSION - datetime.timedelta(hours=24)
    assert run(frozen, j1, django_capture_on_commit_callbacks)["sent"] == 1
    assert run(frozen, j1, django_capture_on_commit_callbacks)["sent"] == 0  # twice: once
    assert (
        run(frozen, j1 + datetime.timedelta(hours=5), django_capture_on_commit_callbacks)["sent"]
        == 0
    )
    (day_before,) = outbox
    assert day_before.body == gsm.normalise(
        "Rappel : webinaire du service social de l'Assurance Maladie le jeudi 4 mars à 14 h. "
        f"Lien de connexion : {VISIO}"
    )
    h1 = SESSION - datetime.timedelta(minutes=58)
    assert run(frozen, h1, django_capture_on_commit_callbacks)["sent"] == 1
    assert (
        run(frozen, h1 + datetime.timedelta(minutes=5), django_capture_on_commit_callbacks)["sent"]
        == 0
    )
    hour_before = outbox[-1]
    assert (
        gsm.normalise("commence aujourd'hui à 14 h") in hour_before.body
        and VISIO in hour_before.body
    )
    assert len(outbox) == 2
    kinds = sorted(RappelSeance.objects.values_list("kind", flat=True))
    assert kinds == ["h-1", "j-1"]
    for sms in outbox:
        assert not any(word in sms.body.lower() for word in HEALTH_WORDS)


def test_the_session_link_wins_over_the_action_link(
    frozen, webinar, registered, django_capture_on_commit_callbacks
):
    webinar.seances.update(lien_visio="https://visio.example.org/seance")
    run(frozen, SESSION - datetime.timedelta(minutes=30), django_capture_on_commit_callbacks)
    assert outbox[-1].body.endswith("https://visio.example.org/seance")


def test_no_reminder_for_the_waitlist_or_a_cancelled_registration(
    frozen, webinar, registered, unit, django_capture_on_commit_callbacks
):
    waiting = p.participant_register(action=webinar, assure=other_person(unit), source="code")
    assert waiting.statut.code == p.LISTE_ATTENTE
    p.participant_cancel(participant=registered)  # the waitlisted one gets the seat…
    p.participant_cancel(participant=Participant.objects.get(pk=waiting.pk))  # …and cancels
    outbox.clear()
    assert (
        run(frozen, SESSION - datetime.timedelta(hours=20), django_capture_on_commit_callbacks)[
            "created"
        ]
        == 0
    )
    assert not outbox


def test_a_row_written_then_cancelled_is_not_sent(
    frozen, registered, django_capture_on_commit_callbacks
):
    frozen.move_to(SESSION - datetime.timedelta(hours=20))
    RappelSeance.objects.create(
        participant=registered,
        seance=registered.action.seances.get(),
        kind="j-1",
        debut=SESSION,
        channel="sms",
    )
    p.participant_cancel(participant=registered)
    outbox.clear()
    assert run(frozen, timezone.now(), django_capture_on_commit_callbacks)["sent"] == 0
    assert not outbox


def test_no_sms_reminder_is_written_on_a_sunday_it_goes_on_monday_morning(
    frozen, webinar, registered, django_capture_on_commit_callbacks
):
    monday = datetime.datetime(2027, 3, 8, 14, 0, tzinfo=PARIS)
    webinar.seances.update(debut=monday)
    sunday = monday - datetime.timedelta(hours=24)
    assert run(frozen, sunday, django_capture_on_commit_callbacks)["created"] == 0
    assert (
        run(
            frozen,
            datetime.datetime(2027, 3, 8, 8, 0, tzinfo=PARIS),
            django_capture_on_commit_callbacks,
        )["sent"]
        == 1
    )
    assert gsm.normalise("lundi 8 mars à 14 h") in outbox[-1].body


def test_the_beat_schedule_runs_the_webinar_messages_every_five_minutes():
    entry = app.conf.beat_schedule["send-webinar-messages"]
    assert entry["task"] == "outreach.tasks.send_webinar_messages"
    assert entry["schedule"].minute == set(range(0, 60, 5))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_reminder_once(frozen, motifs, booking_ass):
    from tests.outreach.test_reminders import _race

    load_collective_reference_data()
    action = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"),
        animateur=booking_ass,
        statut=ActionStatus.PUBLIEE,
        capacite=None,
        lien_visio=VISIO,
    )
    SeanceFactory(action=action, debut=SESSION)
    for n in range(4):
        assure = AssureFactory(telephone=f"06 12 34 56 7{n}")
        p.participant_register(action=action, assure=assure, source="code")
    outbox.clear()
    frozen.move_to(SESSION - datetime.timedelta(hours=20))
    results = _race(webinars.webinar_messages_send, count=2)
    assert sum(result["sent"] for result in results) == 4
    assert RappelSeance.objects.count() == 4 and len(outbox) == 4


# --- After the webinar ---------------------------------------------------------------------

AFTER = SESSION + datetime.timedelta(hours=2)


def _merci_code(frozen, capture):
    outbox.clear()
    run(frozen, AFTER, capture)
    (merci,) = [sms for sms in outbox if "Merci" in sms.body]
    return merci


def test_after_the_session_a_merci_then_a_referral_of_origin_webinaire_and_the_slots(
    client, frozen, webinar, booking_ass, unit, django_capture_on_commit_callbacks
):
    UnitTerritoryFactory(unit=unit, prefix="76")
    assure = AssureFactory(telephone="06 55 44 33 22", code_postal="76100")  # no referral
    p.participant_register(action=webinar, assure=assure, source="code")
    merci = _merci_code(frozen, django_capture_on_commit_callbacks)
    assert merci.body.startswith(
        gsm.normalise(
            "Merci de votre participation au webinaire du service social de l'Assurance Maladie "
            "du jeudi 4 mars. Pour demander un rendez-vous individuel avec le service social : "
        )
    )
    assert not any(word in merci.body.lower() for word in HEALTH_WORDS)
    assert (
        run(frozen, AFTER + datetime.timedelta(minutes=5), django_capture_on_commit_callbacks)[
            "sent"
        ]
        == 0
    )
    page = identify(client, code_of(merci.body)).content.decode()
    assert "Je souhaite un rendez-vous individuel avec le service social" in page
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("outreach:webinar_request"))
    assert "Votre demande est transmise" in response.content.decode()
    referral = Signalement.objects.get(assure=assure)
    assert (referral.origine, referral.unit, referral.statut) == (
        Origine.WEBINAIRE,
        unit,
        Statut.NOUVEAU,
    )
    assert "webinaire du jeudi 4 mars 2027" in referral.motif and "Cancer" not in referral.motif
    assert ActionEvent.objects.filter(kind="demande_rdv").exists()
    # The booking link went by SMS, and the page opens the slots at once.
    assert "prenez rendez-vous en ligne" in outbox[-1].body
    booking = client.get(reverse("outreach:booking"))
    assert booking.status_code == 200
    assert "Consultation sociale sur site" in booking.content.decode()
    # The « merci » code is spent: asking twice makes nothing more.
    assert access_code_lookup(code=code_of(merci.body)) is None


def test_a_person_already_followed_gets_no_duplicate_the_request_is_noted(
    client, frozen, registered, referral, django_capture_on_commit_callbacks
):
    merci = _merci_code(frozen, django_capture_on_commit_callbacks)
    identify(client, code_of(merci.body))
    response = client.post(reverse("outreach:webinar_request"))
    assert "Votre demande est transmise" in response.content.decode()
    assert Signalement.objects.filter(assure=referral.assure).count() == 1
    assert SignalementEvent.objects.filter(
        signalement=referral, reason__contains="demande de rendez-vous individuel"
    ).exists()
    assert "Choisir mon rendez-vous" in response.content.decode()  # the referral opens slots


def test_a_person_with_an_open_case_gets_a_timeline_note(
    frozen, webinar, booking_ass, django_capture_on_commit_callbacks
):
    case = AccompagnementFactory(referent=booking_ass, assure__telephone="06 44 44 44 44")
    p.participant_register(action=webinar, assure=case.assure, source="code")
    merci = _merci_code(frozen, django_capture_on_commit_callbacks)
    row = access_code_lookup(code=code_of(merci.body))
    result = webinars.webinar_request_meeting(code_row=row)
    assert result.context == case and not result.created
    assert not Signalement.objects.filter(assure=case.assure).exists()
    assert CaseEvent.objects.filter(
        accompagnement=case, summary__contains="demande de rendez-vous individuel"
    ).exists()


def test_the_referral_routes_by_postal_code_else_to_the_inviting_unit(
    frozen, webinar, booking_ass, unit, django_capture_on_commit_callbacks
):
    havre = UnitFactory()
    UnitTerritoryFactory(unit=havre, prefix="766")
    routed = AssureFactory(telephone="06 10 10 10 10", code_postal="76600")
    unrouted = AssureFactory(telephone="06 20 20 20 20", code_postal="14000")
    webinar.capacite = None
    webinar.save()
    for assure in (routed, unrouted):
        p.participant_register(action=webinar, assure=assure, source="code")
    outbox.clear()
    run(frozen, AFTER, django_capture_on_commit_callbacks)
    for sms in list(outbox):
        webinars.webinar_request_meeting(code_row=access_code_lookup(code=code_of(sms.body)))
    assert Signalement.objects.get(assure=routed).unit == havre
    assert Signalement.objects.get(assure=unrouted).unit == unit  # the webinar's unit


def test_asking_before_the_end_is_refused(frozen, registered):
    row, _code = webinars.access_codes.access_code_issue(
        purpose=AccessCode.Purpose.WEBINAR,
        assure_id=registered.assure_id,
        expires_at=SESSION,
        object_type=webinars.ACTION_LABEL,
        object_id=registered.action_id,
    )
    with pytest.raises(ValidationError):
        webinars.webinar_request_meeting(code_row=row)
    assert not Signalement.objects.filter(origine=Origine.WEBINAIRE).exists()


def test_a_cancelled_webinar_tells_its_participants_without_its_theme(
    webinar, person, django_capture_on_commit_callbacks
):
    from collective import services

    p.participant_register(action=webinar, assure=person, source="code")
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.action_cancel(
            action=webinar, acting_user=webinar.animateur, reason="Intervenant indisponible"
        )
    (sms,) = outbox
    assert "n'aura pas lieu" in sms.body and "4 mars" in sms.body
    assert "Cancer" not in sms.body and "Intervenant" not in sms.body
    assert not any(word in sms.body.lower() for word in HEALTH_WORDS)
    assert Message.objects.get(template="outreach.action_cancelled").assure_id == person.pk
