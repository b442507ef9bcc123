"""Sending a booking link from the staff side (issue 10, item 5): SMS, e-mail, letter PDF;
who may; what is written and what never is (the code)."""

import datetime
import io
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases.models import CaseEvent
from outreach import links
from pdp import messaging
from pdp.access_codes import access_code_lookup, code_url, display
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import SignalementEvent
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    SignalementFactory,
    UserFactory,
)

PARIS = ZoneInfo("Europe/Paris")
# A Tuesday morning: SMS go out at once.
DAYTIME = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)
CODE_IN_TEXT = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-?[0-9A-HJKMNP-TV-Z]{4}\b")


@pytest.fixture(autouse=True)
def daytime():
    with time_machine.travel(DAYTIME, tick=True):
        yield


@pytest.fixture(autouse=True)
def sms_outbox():
    messaging.outbox.clear()
    yield messaging.outbox
    messaging.outbox.clear()


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://rdv.example.fr"
    return settings


@pytest.fixture
def person(db):
    return AssureFactory(
        nom_naissance="Martin",
        prenoms="Claire",
        telephone="06 12 34 56 78",
        email="claire.martin@example.org",
        adresse="12 rue des Carmes",
        code_postal="76000",
        commune="Rouen",
    )


@pytest.fixture
def referral(unit, person):
    unit.telephone = "02 35 12 34 56"
    unit.save()
    return SignalementFactory(assure=person, unit=unit)


@pytest.fixture
def case(ass, person):
    ass.unit.telephone = "02 35 12 34 56"
    ass.unit.save()
    return AccompagnementFactory(assure=person, referent=ass)


def send(context, channel, user, capture):
    with capture(execute=True):
        return links.booking_link_send(
            assure=context.assure, context=context, channel=channel, acting_user=user
        )


def pdf_lines(content):
    """Each piece of text of the PDF with its position from the page's top-left, in mm."""
    from pypdf import PdfReader

    assert content.startswith(b"%PDF")
    page = PdfReader(io.BytesIO(content)).pages[0]
    height = float(page.mediabox.height)
    pieces = []

    def visit(text, cm, tm, _font, _size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            pieces.append((text.strip(), x * 25.4 / 72, (height - y) * 25.4 / 72))

    page.extract_text(visitor_text=visit)
    return pieces


def pdf_text(content):
    return " ".join(text for text, _x, _y in pdf_lines(content))


def no_code_in(*texts):
    return all(CODE_IN_TEXT.search(str(t)) is None for t in texts)


# --- The service, per channel -------------------------------------------------------------


def test_an_sms_carries_the_code_and_the_link_and_is_stored_masked(
    ass, referral, sms_outbox, site, django_capture_on_commit_callbacks
):
    sent = send(referral, "sms", ass, django_capture_on_commit_callbacks)

    assert len(sms_outbox) == 1
    body = sms_outbox[0].body
    code = re.search(r"/r/([0-9A-Z]{8})/", body).group(1)
    assert f"code {display(code)} : https://rdv.example.fr/r/{code}/" in body
    assert body.startswith("Service social de l'Assurance Maladie : prenez rendez-vous en ligne")
    assert "ou appelez le 02 35 12 34 56." in body
    assert sms_outbox[0].to == "+33612345678"
    message = Message.objects.get()
    assert message.segments <= 2
    assert code not in message.body and display(code) not in message.body
    assert messaging.MASK in message.body
    assert sent.recipient == "06 •• •• •• 78"
    row = access_code_lookup(code=code)
    assert row == sent.access_code
    assert row.purpose == AccessCode.Purpose.BOOKING
    assert row.assure_id == referral.assure_id
    assert (row.object_type, row.object_id) == ("referrals.signalement", str(referral.pk))


def test_the_sms_text_is_gsm_and_two_segments_at_most_with_a_long_site_address(settings):
    from pdp.messaging import gsm

    settings.SITE_URL = "https://prise-de-rendez-vous.service-social.carsat-normandie.fr"
    text = links.sms_text("ABCDEFGH", "02 35 12 34 56")
    assert gsm.is_gsm(text)
    assert gsm.segments(text) <= 2
    # « Assurance Maladie » is the institution's name; nothing else about health.
    lowered = text.lower().replace("assurance maladie", "")
    for word in ("sante", "santé", "arret", "arrêt", "maladie", "medical", "médical"):
        assert word not in lowered


def test_the_code_expires_after_the_configured_days(
    ass, referral, settings, django_capture_on_commit_callbacks
):
    settings.BOOKING_LINK_DAYS = 10
    sent = send(referral, "sms", ass, django_capture_on_commit_callbacks)
    lifetime = sent.access_code.expires_at - sent.access_code.created_at
    assert datetime.timedelta(days=10) - lifetime < datetime.timedelta(minutes=1)


def test_an_email_carries_the_code_and_the_link(
    ass, case, site, django_capture_on_commit_callbacks
):
    sent = send(case, "email", ass, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["claire.martin@example.org"]
    assert email.subject == "Prenez rendez-vous avec le service social de l'Assurance Maladie"
    code = re.search(r"/r/([0-9A-Z]{8})/", email.body).group(1)
    assert display(code) in email.body
    assert "https://rdv.example.fr/r/" in email.body
    assert "02 35 12 34 56" in email.body
    message = Message.objects.get()
    assert code not in message.body and display(code) not in message.body
    assert sent.recipient == "c•••@example.org"
    assert sent.access_code.object_type == "cases.accompagnement"


def test_a_letter_is_a_pdf_with_the_code_the_address_to_type_it_and_the_phone(
    ass, referral, site, django_capture_on_commit_callbacks
):
    sent = send(referral, "courrier", ass, django_capture_on_commit_callbacks)

    text = pdf_text(sent.pdf)
    code_match = CODE_IN_TEXT.search(text)
    assert code_match is not None
    assert access_code_lookup(code=code_match.group(0)) == sent.access_code
    assert "https://rdv.example.fr/r/" in text
    assert "02 35 12 34 56" in text
    assert "Prenez rendez-vous avec le service social de l'Assurance Maladie" in text
    lowered = text.lower().replace("assurance maladie", "")
    for word in ("arrêt", "santé", "diagnostic", "médical", "maladie"):
        assert word not in lowered
    assert referral.assure.nir not in text.replace(" ", "")
    assert Message.objects.count() == 0  # a letter is printed, not sent


def test_the_letter_window_holds_only_the_name_and_the_address(
    ass, referral, django_capture_on_commit_callbacks
):
    sent = send(referral, "courrier", ass, django_capture_on_commit_callbacks)

    # The DL window: 100 × 45 mm, 20 mm from the left, 45 mm from the top.
    window = [t for t, x, y in pdf_lines(sent.pdf) if 20 <= x <= 120 and 45 <= y <= 90]
    assert window == ["Claire MARTIN", "12 rue des Carmes", "76000 Rouen"]


def test_the_letter_has_a_qr_code_of_the_full_link(ass, referral, site):
    svg_uri = links.qr_data_uri(code_url("ABCDEFGH"))
    assert svg_uri.startswith("data:image/svg+xml;base64,")
    context = links.letter_context(assure=referral.assure, unit=referral.unit, code="ABCDEFGH")
    assert context["qr"] == svg_uri
    assert context["code"] == "ABCD-EFGH"


@pytest.mark.parametrize(
    ("channel", "blank", "message"),
    [
        ("sms", {"telephone": ""}, "pas de numéro de mobile"),
        ("sms", {"telephone": "02 35 00 00 00"}, "pas de numéro de mobile"),
        ("email", {"email": ""}, "pas d'adresse e-mail"),
        ("courrier", {"adresse": ""}, "adresse postale de la personne est incomplète"),
    ],
)
def test_a_channel_the_person_cannot_receive_is_refused_in_french(
    ass, referral, channel, blank, message, django_capture_on_commit_callbacks
):
    for field, value in blank.items():
        setattr(referral.assure, field, value)
    referral.assure.save()

    with pytest.raises(ValidationError) as error:
        send(referral, channel, ass, django_capture_on_commit_callbacks)

    assert message in error.value.messages[0]
    assert AccessCode.objects.count() == 0
    assert Message.objects.count() == 0


def test_the_timeline_and_the_audit_log_name_the_channel_and_never_the_code(
    ass, referral, case, django_capture_on_commit_callbacks
):
    sent_sms = send(referral, "sms", ass, django_capture_on_commit_callbacks)
    send(case, "email", ass, django_capture_on_commit_callbacks)
    send(case, "courrier", ass, django_capture_on_commit_callbacks)

    event = SignalementEvent.objects.get(signalement=referral)
    assert event.reason == "Lien de prise de rendez-vous envoyé par SMS"
    assert event.actor == ass
    summaries = sorted(CaseEvent.objects.filter(accompagnement=case).values_list("summary"))
    assert summaries == [
        ("Lien de prise de rendez-vous envoyé par e-mail",),
        ("Lien de prise de rendez-vous imprimé (courrier)",),
    ]
    audit = AuditLog.objects.get(object_type="referrals.signalement", object_id=str(referral.pk))
    assert audit.changes["booking_link"] == [None, "sms"]
    assert audit.changes["access_code"] == [None, sent_sms.access_code.pk]
    texts = [
        *SignalementEvent.objects.values_list("new_value", "reason"),
        *CaseEvent.objects.values_list("summary", "detail", "changes"),
        *AuditLog.objects.values_list("changes", flat=True),
    ]
    assert no_code_in(*texts)
    assert AccessCode.objects.count() == 3


# --- The page -------------------------------------------------------------------------------


def referral_url(referral):
    return reverse("outreach:send_link_signalement", args=[referral.pk])


def case_url(case):
    return reverse("outreach:send_link_case", args=[case.pk])


def test_anonymous_goes_to_the_login_page(client, referral, case):
    for url in (referral_url(referral), case_url(case)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["outsider", "medecin", "regional", "partner"])
def test_who_does_not_see_the_referral_or_the_case_gets_404(
    client, request, referral, case, persona
):
    user = (
        UserFactory(partenaire=True) if persona == "partner" else request.getfixturevalue(persona)
    )
    client.force_login(user)
    assert client.get(referral_url(referral)).status_code == 404
    assert client.post(referral_url(referral), {"channel": "sms"}).status_code == 404
    assert client.get(case_url(case)).status_code == 404
    assert AccessCode.objects.count() == 0


def test_a_colleague_who_sees_the_case_header_only_gets_403(client, colleague, case):
    client.force_login(colleague)
    assert client.get(case_url(case)).status_code == 403
    assert client.post(case_url(case), {"channel": "sms"}).status_code == 403
    assert AccessCode.objects.count() == 0


def test_an_ass_to_whom_the_referral_is_not_assigned_gets_403(client, referral, unit, ass):
    referral.assigned_to = UserFactory(ass=True, unit=unit)
    referral.save()
    client.force_login(ass)
    assert client.post(referral_url(referral), {"channel": "sms"}).status_code == 403


def test_the_form_shows_the_masked_recipients(client, ass, referral):
    client.force_login(ass)
    response = client.get(referral_url(referral))
    assert response.status_code == 200
    page = response.content.decode()
    assert "SMS au 06 •• •• •• 78" in page
    assert "E-mail à c•••@example.org" in page
    assert "•••, 76000 Rouen" in page
    assert "12 rue des Carmes" not in page and "34 56 78" not in page


def test_a_conseiller_sends_an_sms_from_a_referral_of_the_unit(
    client, conseiller, referral, sms_outbox, django_capture_on_commit_callbacks
):
    client.force_login(conseiller)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(referral_url(referral), {"channel": "sms"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse(
        "referrals:signalement_detail", args=[referral.pk]
    )
    assert "Lien envoyé par SMS au 06 •• •• •• 78." in response.content.decode()
    assert len(sms_outbox) == 1
    event = SignalementEvent.objects.get(signalement=referral)
    assert event.actor == conseiller


def test_a_conseiller_of_the_unit_sends_from_a_case(
    client, conseiller, case, django_capture_on_commit_callbacks
):
    client.force_login(conseiller)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(case_url(case), {"channel": "email"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert CaseEvent.objects.get(accompagnement=case).actor == conseiller


def test_the_referent_prints_the_letter(client, ass, case):
    client.force_login(ass)
    response = client.post(case_url(case), {"channel": "courrier"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment;" in response["Content-Disposition"]
    assert "Claire MARTIN" in pdf_text(response.content)


def test_a_refused_channel_shows_the_french_error_on_the_form(client, ass, referral):
    referral.assure.telephone = ""
    referral.assure.save()
    client.force_login(ass)
    response = client.post(referral_url(referral), {"channel": "sms"})
    assert response.status_code == 200
    assert "pas de numéro de mobile" in response.content.decode()
    assert AccessCode.objects.count() == 0


def test_the_referral_and_case_pages_offer_the_button_to_who_may(
    client, ass, conseiller, referral, case, colleague
):
    client.force_login(conseiller)
    page = client.get(reverse("referrals:signalement_detail", args=[referral.pk])).content
    assert referral_url(referral).encode() in page
    page = client.get(reverse("cases:accompagnement_detail", args=[case.pk])).content
    assert case_url(case).encode() in page
    client.force_login(colleague)
    page = client.get(reverse("cases:accompagnement_detail", args=[case.pk])).content
    assert case_url(case).encode() not in page


# --- Demo -----------------------------------------------------------------------------------


def test_the_demo_opens_the_rouen_ass_weekdays_and_runs_twice_harmlessly(unit):
    from cases.models import PlageOuverture
    from outreach.demo import seed_outreach

    users = {
        "ass.rouen": UserFactory(ass=True, unit=unit),
        "ass2.rouen": UserFactory(ass=True, unit=unit),
    }
    assert seed_outreach(users) == 20
    assert seed_outreach(users) == 0
    plages = PlageOuverture.objects.filter(ass=users["ass.rouen"])
    assert sorted({p.weekday for p in plages}) == [0, 1, 2, 3, 4]
    assert {(p.heure_debut.hour, p.heure_fin.hour) for p in plages} == {(9, 12), (14, 17)}
    assert all(p.dernier_jour - p.premier_jour == datetime.timedelta(weeks=8) for p in plages)


def test_an_sms_asked_for_on_a_saturday_night_is_announced_for_monday_morning(
    client, ass, referral, sms_outbox, django_capture_on_commit_callbacks
):
    client.force_login(ass)
    saturday_night = datetime.datetime(2026, 3, 7, 21, 0, tzinfo=PARIS)
    with (
        time_machine.travel(saturday_night, tick=False),
        django_capture_on_commit_callbacks(execute=False),
    ):
        response = client.post(referral_url(referral), {"channel": "sms"}, follow=True)

    assert (
        "Lien programmé : le SMS partira au 06 •• •• •• 78 le lundi 9 mars à 08:00"
        in response.content.decode()
    )
    assert Message.objects.get().status == Message.Status.DEFERRED


def test_the_referral_and_case_pages_show_the_last_messages_and_their_status(
    client, ass, referral, case, django_capture_on_commit_callbacks
):
    send(referral, links.Channel.SMS, ass, django_capture_on_commit_callbacks)
    failed = send(case, links.Channel.EMAIL, ass, django_capture_on_commit_callbacks).message
    Message.objects.filter(pk=failed.pk).update(
        status=Message.Status.FAILED, error="Adresse refusée par le serveur"
    )
    referral.assigned_to = ass
    referral.save()
    client.force_login(ass)
    for url in (
        reverse("referrals:signalement_detail", args=[referral.pk]),
        reverse("cases:accompagnement_detail", args=[case.pk]),
    ):
        page = client.get(url).content.decode()
        assert "Derniers messages à la personne" in page
        assert page.count("Lien de prise de rendez-vous") >= 2
        assert "envoyé" in page and "échec" in page and "Adresse refusée par le serveur" in page
