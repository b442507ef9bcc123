"""Campaign sending: launch, SMS / e-mail / webinar invitations sent once (a retry, two workers),
a constant number of statements, « pas de SMS », reminders exactly once and their edges, expiry
when a case opens or the campaign closes, the pages (who may: 404 / 403)."""

import datetime
import re
import threading

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.services import case_open
from collective.models import ActionStatus, ActionType
from outreach import campaign_answers, campaign_sending, campaigns, webinars
from outreach.models import Campagne, CampagneEvent, Cible, RegleCanal
from pdp import access_codes
from pdp.messaging import MASK, outbox
from pdp.models import AccessCode, AuditLog, Message, UnitTerritory
from referrals.models import ArretTravail
from tests import reference_data
from tests.factories import (
    ActionCollectiveFactory,
    AssureFactory,
    RegionFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)
from tests.outreach.conftest import NOW, PARIS

DAY = NOW.date()
DAYS = datetime.timedelta(days=1)
CODE_RE = re.compile(r"/r/([0-9A-Z]{8})/")
HEALTH_WORDS = ("santé", "médic", "maladie chronique", "diagnos", "soin", "arrêt de travail")


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def unit(region):
    unit = UnitFactory(region=region, telephone="02 35 00 00 00", name="Unité de Rouen")
    UnitTerritory.objects.create(unit=unit, prefix="76")
    return unit


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


@pytest.fixture
def rules(region):
    """Webinar for the 20–29, then SMS when a mobile is known, else e-mail."""
    return [
        RegleCanal.objects.create(
            region=region, ordre=10, libelle="Jeunes", age_min=20, age_max=29, canal="webinaire"
        ),
        RegleCanal.objects.create(
            region=region, ordre=20, libelle="Mobile", contact_connu="mobile", canal="sms"
        ),
        RegleCanal.objects.create(
            region=region, ordre=30, libelle="E-mail", contact_connu="email", canal="email"
        ),
    ]


@pytest.fixture(autouse=True)
def _empty_outboxes():
    outbox.clear()
    yield
    outbox.clear()


def person(cp="76000", telephone="06 12 34 56 78", email="", age=45, **fields):
    assure = AssureFactory(
        code_postal=cp,
        telephone=telephone,
        email=email,
        date_naissance=DAY.replace(year=DAY.year - age) - DAYS,
        **fields,
    )
    ArretTravail.objects.create(
        assure=assure,
        type_arret="MAL",
        date_debut=DAY - datetime.timedelta(days=99),
        date_fin_prevue=DAY + datetime.timedelta(days=60),
        cpam=assure.cpam,
    )
    return assure


def validated(manager, **fields):
    c = campaigns.campagne_create(
        acting_user=manager, nom="Campagne de mars", date_reference=DAY, **fields
    )
    campaigns.campagne_simulate(campagne=c, acting_user=manager, now=NOW)
    return campaigns.campagne_validate(campagne=c, acting_user=manager, now=NOW)


def launch(manager, campagne):
    with TestCase.captureOnCommitCallbacks(execute=True):
        campaign_sending.campagne_launch(campagne=campagne, acting_user=manager, now=NOW)
    campagne.refresh_from_db()
    return campagne


def launched(manager, **fields):
    return launch(manager, validated(manager, **fields))


def target(campagne, assure):
    return Cible.objects.select_related("code", "message").get(campagne=campagne, assure=assure)


def sms_to(number):
    return [sms for sms in outbox if sms.to == number]


def code_in(text):
    return CODE_RE.search(text).group(1)


@pytest.fixture
def webinar(unit):
    reference_data.reload()
    action = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"),
        titre="Reprendre son poste",
        animateur=UserFactory(ass=True, unit=unit),
        statut=ActionStatus.PUBLIEE,
        capacite=20,
    )
    SeanceFactory(action=action, debut=NOW + 9 * DAYS, duree_minutes=60, lieu="")
    return action


# --- Launch and sending ------------------------------------------------------------------------


def test_launch_sends_one_sms_or_email_each_with_its_booking_code(frozen, manager, rules):
    by_sms = person()
    by_email = person(telephone="02 35 11 22 33", email="jeanne@example.org")
    c = launched(manager)
    assert c.statut == Campagne.Statut.EN_COURS and c.lancee_le == NOW

    sms = target(c, by_sms)
    assert sms.envoye_le == NOW and sms.message.channel == Message.Channel.SMS
    [sent] = sms_to("+33612345678")
    code = code_in(sent.body)
    assert access_codes.access_code_lookup(code=code) == sms.code
    assert sms.code.purpose == AccessCode.Purpose.BOOKING
    assert sms.code.object_type == campaign_answers.CIBLE and sms.code.object_id == str(sms.pk)
    # Valid until the end of the 10th day; the clear code is not stored.
    assert sms.code.expires_at == datetime.datetime(2027, 3, 12, 0, 0, tzinfo=PARIS)
    assert "11/03/2027" in sent.body and "02 35 00 00 00" in sent.body
    assert code not in sms.message.body and MASK in sms.message.body
    assert sms.message.status == Message.Status.SENT

    email = target(c, by_email)
    [letter] = mail.outbox
    assert letter.to == ["jeanne@example.org"]
    assert access_codes.access_code_lookup(code=code_in(letter.body)) == email.code
    assert code_in(letter.body) not in email.message.body
    for text in (sent.body.lower(), letter.body.lower(), letter.subject.lower()):
        assert not any(word in text for word in HEALTH_WORDS)

    event = CampagneEvent.objects.get(campagne=c, kind=CampagneEvent.Kind.SENT)
    assert event.actor == manager  # the task sends in the name of who launched
    assert event.data == {"sms": 1, "email": 1, "webinaire": 0, "differes": 0, "sans_contact": 0}
    audited = AuditLog.objects.filter(
        object_type="outreach.cible", changes__has_key="message", user=manager
    )
    assert set(audited.values_list("assure_id", flat=True)) == {by_sms.pk, by_email.pk}


def test_a_retry_sends_nothing_twice_and_a_second_target_is_impossible(frozen, manager, rules):
    people = [person() for _ in range(3)]
    c = launched(manager)
    assert len(outbox) == 3
    with TestCase.captureOnCommitCallbacks(execute=True):
        again = campaign_sending.invitations_send(campagne_id=c.pk, now=NOW)
        periodic = campaign_sending.pending_send(now=NOW)
    assert again.total == 0 and periodic == {}
    assert len(outbox) == 3 and Message.objects.count() == 3
    first = target(c, people[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        Cible.objects.create(
            campagne=c, assure=people[0], arret_id=first.arret_id, canal="sms", created_at=NOW
        )


def test_only_a_running_campaign_sends(frozen, manager, rules):
    person()
    c = validated(manager)
    assert campaign_sending.invitations_send(campagne_id=c.pk, now=NOW).total == 0
    assert not outbox


def test_statements_do_not_depend_on_the_number_of_targets(frozen, manager, rules):
    def statements(n):
        for _ in range(n):
            person()
        c = validated(manager)
        Campagne.objects.filter(pk=c.pk).update(statut=Campagne.Statut.EN_COURS)
        with CaptureQueriesContext(connection) as queries:
            sent = campaign_sending.invitations_send(campagne_id=c.pk, now=NOW)
        assert sent.sms == n
        Campagne.objects.filter(pk=c.pk).update(statut=Campagne.Statut.CLOSE)
        return len(queries)

    assert statements(3) == statements(30)


def test_a_contact_unusable_since_the_simulation_excludes_the_person(frozen, manager, rules):
    changed = person()
    kept = person(telephone="07 11 22 33 44")
    c = validated(manager)
    type(changed).objects.filter(pk=changed.pk).update(pas_de_sms=True)
    c = launch(manager, c)
    assert target(c, changed).exclusion == Cible.Exclusion.SANS_CONTACT
    assert target(c, changed).envoye_le is None
    assert [s.to for s in outbox] == ["+33711223344"]
    assert target(c, kept).message is not None


def test_pas_de_sms_makes_the_rules_take_the_email(frozen, manager, rules):
    assure = person(email="paul@example.org", pas_de_sms=True)
    c = validated(manager)
    assert target(c, assure).canal == "email"


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_invitation_once(frozen, manager, rules):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the whole database: two writers at once is a PostgreSQL case")
    for _ in range(12):
        person()
    c = validated(manager)
    Campagne.objects.filter(pk=c.pk).update(statut=Campagne.Statut.EN_COURS)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(campaign_sending.invitations_send(campagne_id=c.pk, now=NOW).total)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(results) == 12
    assert Message.objects.count() == 12
    assert Cible.objects.filter(campagne=c, message__isnull=False).count() == 12


# --- Webinar invitations -----------------------------------------------------------------------


def test_validation_asks_for_the_webinar(frozen, manager, rules):
    person(age=25)
    c = campaigns.campagne_create(acting_user=manager, nom="Mars", date_reference=DAY)
    campaigns.campagne_simulate(campagne=c, acting_user=manager, now=NOW)
    with pytest.raises(ValidationError, match="choisissez le webinaire"):
        campaigns.campagne_validate(campagne=c, acting_user=manager, now=NOW)


def test_webinar_invitation_carries_a_registration_code(frozen, manager, rules, webinar):
    young = person(age=25)
    c = launched(manager, webinaire=webinar)
    t = target(c, young)
    assert t.canal == "webinaire" and t.code.purpose == AccessCode.Purpose.WEBINAR
    [sent] = outbox
    row = access_codes.access_code_lookup(code=code_in(sent.body))
    assert row == t.code and webinars.action_of(row) == webinar
    assert campaign_answers.target_of_code(row) == t
    registered = webinars.webinar_register(code_row=row, now=NOW)
    assert registered.participant.assure_id == young.pk


def test_a_webinar_of_another_region_is_refused(manager, rules):
    reference_data.reload()
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    other = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"),
        animateur=UserFactory(ass=True, unit=elsewhere),
    )
    with pytest.raises(ValidationError):
        campaigns.campagne_create(
            acting_user=manager, nom="Mars", date_reference=DAY, webinaire=other
        )


def test_launch_refused_when_the_webinar_no_longer_takes_invitations(
    frozen, manager, rules, webinar
):
    person(age=25)
    c = validated(manager, webinaire=webinar)
    type(webinar).objects.filter(pk=webinar.pk).update(statut=ActionStatus.ANNULEE)
    with pytest.raises(ValidationError, match="Reprendre son poste"):
        campaign_sending.campagne_launch(campagne=c, acting_user=manager, now=NOW)
    c.refresh_from_db()
    assert c.statut == Campagne.Statut.VALIDEE and not outbox


# --- Reminders ---------------------------------------------------------------------------------


def remind(frozen, when):
    frozen.move_to(when)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return campaign_sending.reminders_send(now=when)


def test_one_reminder_after_three_days_with_a_new_code_expiring_with_the_first(
    frozen, manager, rules
):
    assure = person()
    c = launched(manager)
    assert remind(frozen, NOW + 2 * DAYS) == {}  # too early
    assert remind(frozen, NOW + 3 * DAYS) == {c.pk: 1}
    assert remind(frozen, NOW + 4 * DAYS) == {}  # never twice
    first, reminder = sms_to("+33612345678")
    assert reminder.body.startswith("Rappel")
    t = target(c, assure)
    row = access_codes.access_code_lookup(code=code_in(reminder.body))
    assert row != t.code and row.expires_at == t.code.expires_at
    assert campaign_answers.answerable_target(code_row=row) == t
    assert t.relance_le == NOW + 3 * DAYS and t.relance_message.template == (
        "outreach.campaign_reminder"
    )
    assert CampagneEvent.objects.filter(campagne=c, kind="reminders").count() == 1


@pytest.mark.parametrize(("days", "reminded"), [(4, False), (5, True)])
def test_no_reminder_with_less_than_two_days_of_validity(frozen, manager, rules, days, reminded):
    # Sent Monday 08:00; valid until midnight after day + `days`; reminded Thursday 08:00.
    person()
    c = launched(manager, validite_sms_jours=days)
    assert (remind(frozen, NOW + 3 * DAYS) == {c.pk: 1}) is reminded


def test_no_reminder_to_who_answered_refused_or_said_pas_de_relance(frozen, manager, rules):
    quiet = person()
    answered = person(telephone="06 00 00 00 01")
    refused = person(telephone="06 00 00 00 02")
    reminded = person(telephone="06 00 00 00 03")
    c = launched(manager)
    type(quiet).objects.filter(pk=quiet.pk).update(pas_de_relance=True)
    Cible.objects.filter(campagne=c, assure=answered).update(rdv_pris_le=NOW + DAYS)
    campaign_answers.target_refused(cible=target(c, refused), acting_user=None, now=NOW)
    outbox.clear()
    assert remind(frozen, NOW + 3 * DAYS) == {c.pk: 1}
    assert [s.to for s in outbox] == ["+33600000003"]
    assert target(c, reminded).relance_le is not None
    assert target(c, quiet).relance_le is None


# --- Expiry ------------------------------------------------------------------------------------


def test_invitations_expire_when_the_persons_case_opens(frozen, manager, rules, unit):
    assure = person()
    c = launched(manager)
    remind(frozen, NOW + 3 * DAYS)
    ass = UserFactory(ass=True, unit=unit)
    case_open(assure=assure, referent=ass, acting_user=ass)
    t = target(c, assure)
    assert t.expire_le is not None and t.expiration == "accompagnement"
    # The first code and the reminder's are both revoked.
    codes = AccessCode.objects.filter(object_type="outreach.cible", object_id=str(t.pk))
    assert codes.count() == 2 and not codes.filter(revoked_at__isnull=True).exists()
    assert remind(frozen, NOW + 4 * DAYS) == {}


def test_closing_expires_every_open_invitation(frozen, manager, rules):
    assure = person()
    c = launched(manager)
    campaign_sending.campagne_close(campagne=c, acting_user=manager, now=NOW + DAYS)
    c.refresh_from_db()
    t = target(c, assure)
    assert c.statut == Campagne.Statut.CLOSE and t.expiration == "close"
    assert t.code.revoked_at is not None
    with pytest.raises(ValidationError):
        campaign_sending.campagne_close(campagne=c, acting_user=manager)


def test_the_daily_job_closes_a_campaign_once_its_codes_have_expired(frozen, manager, rules):
    person()
    c = launched(manager)  # SMS 10 days, letters 21 days: the longest validity is 21 days
    assert campaign_sending.campaigns_close_due(now=NOW + 15 * DAYS) == []
    assert campaign_sending.campaigns_close_due(now=NOW + 23 * DAYS) == [c.pk]
    c.refresh_from_db()
    assert c.statut == Campagne.Statut.CLOSE
    assert CampagneEvent.objects.get(campagne=c, kind="closed").data["automatique"] is True


# --- Who may -----------------------------------------------------------------------------------


def test_only_the_campaigns_manager_launches(frozen, manager, rules, unit):
    person()
    c = validated(manager)
    with pytest.raises(PermissionDenied):
        campaign_sending.campagne_launch(
            campagne=c, acting_user=UserFactory(conseiller=True, unit=unit), now=NOW
        )
    with pytest.raises(ValidationError):
        campaign_sending.campagne_launch(campagne=launch(manager, c), acting_user=manager)


def test_pages_launch_send_close_and_who_may(
    client, frozen, manager, rules, unit, django_capture_on_commit_callbacks
):
    person()
    c = validated(manager)
    url = reverse("outreach:campaign_launch", args=[c.pk])
    for name in ("campaign_launch", "campaign_send_pending", "campaign_close"):
        anonymous = client.post(reverse(f"outreach:{name}", args=[c.pk]))
        assert anonymous.status_code == 302 and reverse("login") in anonymous.url
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    client.force_login(UserFactory(manager=True, unit=elsewhere))
    assert client.post(url).status_code == 404
    client.force_login(UserFactory(conseiller=True, unit=unit))
    assert client.post(url).status_code == 403
    client.force_login(manager)
    page = client.get(reverse("outreach:campaign_detail", args=[c.pk]))
    assert "Lancer la campagne" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    response = client.get(response.url)
    assert "Campagne lancée" in response.content.decode()
    assert "1&nbsp;SMS envoyé" in response.content.decode()
    assert len(outbox) == 1
    response = client.post(reverse("outreach:campaign_send_pending", args=[c.pk]), follow=True)
    assert "Aucune invitation en attente" in response.content.decode()
    response = client.post(reverse("outreach:campaign_close", args=[c.pk]), follow=True)
    assert "Campagne close" in response.content.decode()
    assert client.get(url).status_code == 405


def test_a_unit_manager_reads_a_region_wide_campaign(client, region, unit, rules):
    regional = UserFactory(regional=True, region=region)
    c = campaigns.campagne_create(acting_user=regional, nom="Région", date_reference=DAY)
    client.force_login(UserFactory(manager=True, unit=unit))
    page = client.get(reverse("outreach:campaign_detail", args=[c.pk]))
    assert page.status_code == 200 and "Simuler" not in page.content.decode()
    assert client.post(reverse("outreach:campaign_simulate", args=[c.pk])).status_code == 403
    client.force_login(UserFactory(conseiller=True, unit=unit))
    assert client.get(reverse("outreach:campaign_detail", args=[c.pk])).status_code == 403
