"""Satisfaction surveys and the return-to-work follow-up: what is sent when, the reminder,
the end-of-action questionnaire, the public page, and the unlinkability of answers."""

import datetime
import re
import zoneinfo

import pytest
import time_machine
from django.db import models
from django.utils import timezone

from cases.models import CaseStatus, Cloture, Outcome
from collective.models import (
    ActionCollective,
    ActionType,
    Participant,
    ParticipantSource,
    ParticipantStatus,
    Presence,
    PresenceStatus,
)
from collective.signals import action_finished
from outreach import surveys
from outreach.models import SurveyAnswer, SurveyInvitation, SurveyKind
from pdp.messaging import outbox
from pdp.models import AccessCode, AuditLog
from referrals.models import Assure
from tests import reference_data
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2027, 3, 1, 10, 15, tzinfo=PARIS)  # a Monday morning
TODAY = NOW.date()
CODE_IN_URL = re.compile(r"/r/([0-9A-Z]{8})/")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def questionnaires(db):
    """Loaded by a data migration, but emptied by the truncation of transactional tests."""
    seed_questionnaires()


seed_questionnaires = reference_data.reload


@pytest.fixture
def unit(db):
    return UnitFactory()


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """`surveys_send` with the messages delivered (they go once the transaction commits)."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return surveys.surveys_send()

    return run


@pytest.fixture(autouse=True)
def _empty_outbox():
    outbox.clear()
    yield
    outbox.clear()


def closed(unit, outcome=Outcome.MAINTIEN_MEME_POSTE, day=None, **person):
    """A case of `unit` closed on `day` with `outcome`, and its Cloture."""
    day = day or TODAY - datetime.timedelta(days=7)
    person.setdefault("telephone", "06 12 34 56 78")
    ass = UserFactory(ass=True, unit=unit)
    case = AccompagnementFactory(
        assure=AssureFactory(**person),
        referent=ass,
        unit=unit,
        statut=CaseStatus.CLOTURE,
        date_ouverture=day - datetime.timedelta(days=90),
        date_cloture=day,
    )
    return Cloture.objects.create(
        accompagnement=case, outcome=outcome, date_cloture=day, closed_by=ass
    )


def kinds_of(cloture):
    return set(SurveyInvitation.objects.filter(cloture=cloture).values_list("kind", flat=True))


def last_code():
    return CODE_IN_URL.search(outbox[-1].body).group(1)


# --- Scheduling ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_barometer_goes_seven_days_after_a_closure_by_sms(frozen, unit, send):
    due = closed(unit, day=TODAY - datetime.timedelta(days=7))
    early = closed(unit, day=TODAY - datetime.timedelta(days=6))
    result = send()
    assert result["sent"] == 1
    assert kinds_of(due) == {SurveyKind.BAROMETRE}
    assert kinds_of(early) == set()
    (sms,) = outbox
    assert "Votre avis sur le service social de l'Assurance Maladie" in sms.body
    invitation = SurveyInvitation.objects.get(cloture=due)
    assert invitation.sent_at == NOW and invitation.channel == "sms"
    code = invitation.access_code
    assert code.purpose == AccessCode.Purpose.SURVEY
    assert code.expires_at == NOW.astimezone(datetime.UTC) + datetime.timedelta(days=30)
    assert code.object_id == str(invitation.pk)


@pytest.mark.django_db
def test_the_delay_is_a_setting(frozen, unit, settings, send):
    settings.SURVEY_DELAY_DAYS = 3
    due = closed(unit, day=TODAY - datetime.timedelta(days=3))
    send()
    assert kinds_of(due) == {SurveyKind.BAROMETRE}


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", [Outcome.DECES, Outcome.PERDU_DE_VUE, Outcome.REFUS])
def test_no_barometer_after_a_death_a_lost_contact_or_a_refusal(frozen, unit, outcome, send):
    cloture = closed(unit, outcome=outcome)
    send()
    assert kinds_of(cloture) == set()
    assert outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.INVALIDITE, {SurveyKind.SUIVI_6M}),
        (Outcome.PERDU_DE_VUE, {SurveyKind.SUIVI_6M}),
        (Outcome.REFUS, {SurveyKind.SUIVI_6M}),
        (Outcome.DECES, set()),
    ],
)
def test_the_follow_up_goes_six_months_after_every_outcome_but_a_death(
    frozen, unit, outcome, expected, send
):
    cloture = closed(unit, outcome=outcome, day=surveys.months_before(TODAY, 6))
    send()
    assert kinds_of(cloture) == expected


@pytest.mark.django_db
def test_the_follow_up_at_twelve_months_keeps_the_outcome_category(frozen, unit, send):
    cloture = closed(
        unit, outcome=Outcome.EMPLOI_RECONVERSION, day=surveys.months_before(TODAY, 12)
    )
    send()
    invitation = SurveyInvitation.objects.get(cloture=cloture)
    assert invitation.kind == SurveyKind.SUIVI_12M
    assert invitation.categorie == "emploi"
    assert "12 mois" in outbox[0].body


@pytest.mark.django_db
def test_a_run_twice_or_a_second_worker_sends_once(frozen, unit, send):
    closed(unit)
    send()
    second = send()
    assert second == {"created": 0, "sent": 0, "reminded": 0}
    assert SurveyInvitation.objects.count() == 1
    assert len(outbox) == 1


@pytest.mark.django_db
def test_old_closures_reopened_cases_and_deceased_people_are_not_surveyed(frozen, unit, send):
    closed(unit, day=TODAY - datetime.timedelta(days=7 + surveys.CATCH_UP_DAYS))
    reopened = closed(unit)
    reopened.accompagnement.statut = CaseStatus.OUVERT
    reopened.accompagnement.date_cloture = None
    reopened.accompagnement.save()
    deceased = closed(unit)
    other_case = AccompagnementFactory(
        assure=deceased.accompagnement.assure,
        unit=unit,
        referent=deceased.closed_by,
        mission="sps",
        statut=CaseStatus.CLOTURE,
        date_cloture=TODAY - datetime.timedelta(days=2),
    )
    Cloture.objects.create(
        accompagnement=other_case,
        outcome=Outcome.DECES,
        date_cloture=other_case.date_cloture,
        closed_by=deceased.closed_by,
    )
    send()
    assert SurveyInvitation.objects.count() == 0


@pytest.mark.django_db
def test_a_person_without_a_mobile_or_an_address_gets_nothing(frozen, unit, send):
    cloture = closed(unit, telephone="02 35 00 00 00", email="")
    send()
    invitation = SurveyInvitation.objects.get(cloture=cloture)
    assert invitation.sent_at is None and invitation.skipped_reason == "no_channel"
    assert outbox == []


@pytest.mark.django_db
def test_an_email_when_the_person_prefers_it(frozen, unit, mailoutbox, send):
    closed(unit, email="camille@example.org", canal_prefere="email")
    send()
    (mail,) = mailoutbox
    assert mail.subject == "Votre avis sur le service social de l'Assurance Maladie"
    assert "anonymes" in mail.body and CODE_IN_URL.search(mail.body)


@pytest.mark.django_db
def test_one_reminder_after_seven_days_with_a_new_code(frozen, unit, send):
    cloture = closed(unit)
    send()
    first = SurveyInvitation.objects.get(cloture=cloture).access_code
    frozen.shift(datetime.timedelta(days=6))
    assert send()["reminded"] == 0
    frozen.shift(datetime.timedelta(days=1))
    assert send()["reminded"] == 1
    assert len(outbox) == 2 and outbox[1].body.startswith("Rappel.")
    invitation = SurveyInvitation.objects.get(cloture=cloture)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert invitation.access_code_id != first.pk
    assert invitation.access_code.expires_at == first.expires_at
    frozen.shift(datetime.timedelta(days=7))
    assert send()["reminded"] == 0
    assert len(outbox) == 2


@pytest.mark.django_db
def test_no_reminder_once_answered(frozen, unit, client, send):
    closed(unit)
    send()
    _answer(client, last_code())
    frozen.shift(datetime.timedelta(days=8))
    assert send()["reminded"] == 0
    assert len(outbox) == 1


# --- End of a collective action --------------------------------------------------------------


@pytest.mark.django_db
def test_the_participants_who_attended_get_the_end_of_action_questionnaire(
    frozen, unit, django_capture_on_commit_callbacks
):
    ass = UserFactory(ass=True, unit=unit)
    action = ActionCollective.objects.create(
        type=ActionType.objects.get(code="isic"),
        titre="Groupe Cancer et travail",
        region=unit.region,
        unit=unit,
        animateur=ass,
        created_by=ass,
    )
    seance = SeanceFactory(action=action, debut=NOW - datetime.timedelta(days=3))
    inscrit = ParticipantStatus.objects.get(code="inscrit")
    people = []
    for presence in (PresenceStatus.PRESENT, PresenceStatus.ABSENT, None):
        person = AssureFactory(telephone="06 98 76 54 32")
        participant = Participant.objects.create(
            action=action, assure=person, statut=inscrit, source=ParticipantSource.CODE
        )
        if presence:
            Presence.objects.create(seance=seance, participant=participant, statut=presence)
        people.append(participant)
    with django_capture_on_commit_callbacks(execute=True):
        action_finished.send(sender=ActionCollective, action=action, acting_user=ass)
    (invitation,) = SurveyInvitation.objects.all()
    assert invitation.participant == people[0] and invitation.kind == SurveyKind.FIN_ACTION
    assert invitation.action_type.code == "isic" and invitation.unit == unit
    (sms,) = outbox  # sent on commit (task send_pending_surveys)
    assert "atelier du service social de l'Assurance Maladie" in sms.body
    assert "Cancer" not in sms.body and "Groupe" not in sms.body
    action_finished.send(sender=ActionCollective, action=action, acting_user=ass)
    assert SurveyInvitation.objects.count() == 1


@pytest.mark.django_db
def test_a_webinar_type_without_questionnaire_sends_nothing(frozen, unit):
    ass = UserFactory(ass=True, unit=unit)
    action = ActionCollective.objects.create(
        type=ActionType.objects.get(code="webinaire"),
        titre="Webinaire",
        region=unit.region,
        animateur=ass,
        created_by=ass,
    )
    person = AssureFactory(telephone="06 98 76 54 32")
    Participant.objects.create(
        action=action,
        assure=person,
        statut=ParticipantStatus.objects.get(code="present"),
        source=ParticipantSource.CODE,
    )
    action_finished.send(sender=ActionCollective, action=action, acting_user=ass)
    assert not SurveyInvitation.objects.exists()


# --- The public page -------------------------------------------------------------------------

BAROMETER = {"satisfaction": "plutot_satisfait", "nouvel_appel": "oui", "delai": "tres_satisfait"}


def _answer(client, code, data=BAROMETER):
    response = client.get(f"/r/{code}/")
    assert response.status_code == 302 and response["Location"] == "/enquete/"
    return client.post("/enquete/", data)


@pytest.mark.django_db
def test_answering_spends_the_code_and_keeps_nothing_of_the_person(frozen, unit, client, send):
    cloture = closed(unit)
    send()
    code = last_code()
    page = client.get(f"/r/{code}/", follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Feriez-vous de nouveau appel au service social" in text
    person = cloture.accompagnement.assure
    assert person.nom_naissance not in text and "naissance" not in text
    audit_before = AuditLog.objects.count()
    frozen.shift(datetime.timedelta(minutes=47))  # an hour to answer
    response = client.post("/enquete/", {**BAROMETER, "commentaire": "Merci"})
    assert response.status_code == 302 and response["Location"] == "/enquete/merci/"
    assert "Merci pour vos réponses" in client.get("/enquete/merci/").content.decode()
    (answer,) = SurveyAnswer.objects.all()
    assert answer.month == datetime.date(2027, 3, 1)
    assert answer.unit == unit and answer.region == unit.region
    assert answer.answers == {**BAROMETER, "commentaire": "Merci"}
    assert answer.categorie == "" and answer.action_type is None
    row = SurveyInvitation.objects.get(cloture=cloture).access_code
    assert timezone.localtime(row.used_at) == datetime.datetime(2027, 3, 1, tzinfo=PARIS)
    assert AuditLog.objects.count() == audit_before  # no audit row for the answer
    # The code is spent: the link now opens the invalid-code page, and nothing is added.
    again = client.get(f"/r/{code}/")
    assert again["Location"] == "/rdv/lien-invalide/"
    assert client.post("/enquete/", BAROMETER)["Location"] == "/rdv/lien-invalide/"
    assert SurveyAnswer.objects.count() == 1


@pytest.mark.django_db
def test_a_follow_up_answer_keeps_the_outcome_category(frozen, unit, client, send):
    closed(unit, outcome=Outcome.MAINTIEN_TPT, day=surveys.months_before(TODAY, 6))
    send()
    response = _answer(client, last_code(), {"situation": "autre_employeur"})
    assert response.status_code == 302
    answer = SurveyAnswer.objects.get()
    assert answer.categorie == "maintien" and answer.questionnaire.kind == SurveyKind.SUIVI_6M


@pytest.mark.django_db
def test_a_missing_answer_is_said_in_french_and_spends_nothing(frozen, unit, client, send):
    closed(unit)
    send()
    code = last_code()
    response = _answer(client, code, {"satisfaction": "plutot_satisfait", "delai": "pirate"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Choisissez une réponse." in text and "Choisissez une réponse de la liste." in text
    assert not SurveyAnswer.objects.exists()
    assert AccessCode.objects.get(purpose="survey").used_at is None
    assert client.post("/enquete/", BAROMETER).status_code == 302


@pytest.mark.django_db
def test_a_bad_or_expired_code_opens_nothing(frozen, unit, client, send):
    assert client.get("/r/ABCDEFGH/")["Location"] == "/rdv/lien-invalide/"
    assert client.get("/enquete/")["Location"] == "/rdv/lien-invalide/"
    assert client.get("/enquete/merci/")["Location"] == "/rdv/lien-invalide/"
    closed(unit)
    send()
    code = last_code()
    frozen.shift(datetime.timedelta(days=31))
    assert client.get(f"/r/{code}/")["Location"] == "/rdv/lien-invalide/"


@pytest.mark.django_db
def test_a_booking_code_does_not_open_the_survey(frozen, unit, client):
    from pdp import access_codes

    person = AssureFactory()
    access_codes.access_code_issue(
        purpose=AccessCode.Purpose.SURVEY,
        assure_id=person.pk,
        expires_at=NOW + datetime.timedelta(days=1),
    )  # a survey code bound to nothing
    row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=person.pk,
        expires_at=NOW + datetime.timedelta(days=1),
    )
    assert client.get(f"/r/{code}/")["Location"] == "/rdv/identification/"
    assert client.get("/enquete/")["Location"] == "/rdv/lien-invalide/"


# --- Unlinkability ---------------------------------------------------------------------------


def test_an_answer_has_no_key_or_identifier_leading_to_a_person():
    from cases.models import Accompagnement

    forbidden = {Assure, Accompagnement, Cloture, Participant, AccessCode, SurveyInvitation}
    allowed = {
        "id",
        "questionnaire",
        "region",
        "unit",
        "month",
        "action_type",
        "categorie",
        "answers",
    }
    fields = SurveyAnswer._meta.get_fields()
    assert {f.name for f in fields} == allowed, "a new field must be checked for linkability"
    for field in fields:
        assert not isinstance(field, models.DateTimeField), field.name
        if field.is_relation:
            assert field.related_model not in forbidden, field.name
            # Nor anything that reaches a person in one more step.
            for remote in field.related_model._meta.get_fields():
                if remote.is_relation and remote.concrete and not remote.auto_created:
                    assert remote.related_model not in forbidden, (field.name, remote.name)
        elif isinstance(field, models.IntegerField | models.CharField):
            assert not field.name.endswith("_id"), field.name
    primary_key = SurveyAnswer._meta.pk
    assert isinstance(primary_key, models.UUIDField)
    assert primary_key.default.__name__ == "uuid4"  # random, not a sequence


def test_an_answer_month_is_the_first_of_a_month():
    assert SurveyAnswer._meta.get_field("month").get_internal_type() == "DateField"
    names = {c.name for c in SurveyAnswer._meta.constraints}
    assert "survey_answer_month_first" in names


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_invite_and_send_once(frozen, unit):
    import threading

    from django.db import connection

    from pdp.models import Message

    for _ in range(4):
        closed(unit)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def work():
        try:
            barrier.wait(timeout=5)
            results.append(surveys.surveys_send())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sum(result["sent"] for result in results) == 4
    assert SurveyInvitation.objects.count() == 4
    assert Message.objects.count() == 4
    assert AccessCode.objects.filter(purpose="survey").count() == 4
