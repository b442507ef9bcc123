"""Campaign call lists: reservation, release after N days, two conseillers at once, each call
result, fallback to another channel, the meeting booked for an ASS, who may (404 / 403), pages
with a constant number of queries, reads audited."""

import datetime
import threading
import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from outreach import campaign_calls as calls
from outreach import campaigns
from outreach.models import AppelCible, Campagne, Cible, RegleCanal
from outreach.staff_booking import booking_book_for_person
from pdp.models import AuditLog, Region, UnitTerritory
from referrals.models import ArretTravail, Origine, Statut
from tests.factories import AssureFactory, RegionFactory, UnitFactory, UserFactory
from tests.outreach.conftest import NOW, TUESDAY_9

DAY = NOW.date()
MOBILE = "06 12 34 56 78"
LANDLINE = "02 35 11 22 33"
HOUR = datetime.timedelta(hours=1)
DAYS = datetime.timedelta(days=1)


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def unit(region):
    unit = UnitFactory(region=region, telephone="02 35 00 00 00", name="Unité de Rouen")
    UnitTerritory.objects.create(unit=unit, prefix="76")
    return unit


@pytest.fixture
def other_unit(region):
    unit = UnitFactory(region=region, name="Unité d'Évreux")
    UnitTerritory.objects.create(unit=unit, prefix="27")
    return unit


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


@pytest.fixture
def conseiller(unit):
    return UserFactory(conseiller=True, unit=unit, first_name="Thomas", last_name="Petit")


@pytest.fixture
def colleague(unit):
    return UserFactory(conseiller=True, unit=unit)


@pytest.fixture
def call_rule(region):
    """Every person is called."""
    return RegleCanal.objects.create(region=region, ordre=10, libelle="Tous", canal="appel")


def person(cp="76000", telephone=MOBILE, days=100, **fields):
    assure = AssureFactory(code_postal=cp, telephone=telephone, **fields)
    ArretTravail.objects.create(
        assure=assure,
        type_arret="MAL",
        date_debut=DAY - datetime.timedelta(days=days - 1),
        date_fin_prevue=DAY + datetime.timedelta(days=60),
        cpam=assure.cpam,
    )
    return assure


def running(creator, **fields):
    """A campaign of `creator`'s unit (or region), simulated, validated, then en cours."""
    c = campaigns.campagne_create(
        acting_user=creator, nom="Campagne de mars", date_reference=DAY, **fields
    )
    campaigns.campagne_simulate(campagne=c, acting_user=creator, now=NOW)
    campaigns.campagne_validate(campagne=c, acting_user=creator, now=NOW)
    Campagne.objects.filter(pk=c.pk).update(statut=Campagne.Statut.EN_COURS)
    c.refresh_from_db()
    return c


def target(campagne, assure):
    return Cible.objects.get(campagne=campagne, assure=assure)


def reserve(user, campagne, n=10, now=NOW):
    return calls.calls_reserve(acting_user=user, campagne=campagne, n=n, now=now)


def record(user, cible, resultat, now=NOW, **kwargs):
    return calls.call_record(acting_user=user, cible=cible, resultat=resultat, now=now, **kwargs)


# --- Reserving ---------------------------------------------------------------------------------


def test_reserve_takes_a_batch_for_reservation_days_and_audits_it(
    frozen, manager, conseiller, call_rule
):
    people = [person() for _ in range(12)]
    c = running(manager)
    assert Cible.objects.filter(campagne=c, canal="appel", exclusion="").count() == 12
    first = reserve(conseiller, c)
    assert len(first) == 10
    held = Cible.objects.filter(reserve_par=conseiller)
    assert set(held.values_list("pk", flat=True)) == set(first)
    assert {t.reserve_jusqu_au for t in held} == {NOW + 2 * DAYS}  # reservation_jours = 2
    rows = AuditLog.objects.filter(object_type="outreach.cible", user=conseiller)
    assert rows.count() == 10
    assert set(rows.values_list("assure_id", flat=True)) == {t.assure_id for t in held}
    assert sorted(reserve(conseiller, c)) == sorted(
        target(c, p).pk for p in people if target(c, p).pk not in first
    )
    assert reserve(conseiller, c) == []


def test_reserving_is_one_statement_whatever_the_population(frozen, manager, conseiller, call_rule):
    def statements(n_people):
        Cible.objects.all().delete()
        Campagne.objects.all().delete()
        for _ in range(n_people):
            person()
        c = running(manager)
        with CaptureQueriesContext(connection) as ctx:
            reserve(conseiller, c, n=50)
        writes = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().startswith("WITH")]
        assert len(writes) == 1
        assert ("SKIP LOCKED" in writes[0]) == (connection.vendor == "postgresql")
        return len(ctx.captured_queries)

    assert statements(2) == statements(20)


def test_a_passed_reservation_is_taken_by_someone_else(
    frozen, manager, conseiller, colleague, call_rule
):
    person()
    c = running(manager)
    [pk] = reserve(conseiller, c)
    assert reserve(colleague, c, now=NOW + 2 * DAYS - HOUR) == []
    assert reserve(colleague, c, now=NOW + 2 * DAYS) == [pk]  # reserve_jusqu_au <= now
    assert Cible.objects.get(pk=pk).reserve_par == colleague
    assert list(calls.my_reserved(conseiller, NOW + 2 * DAYS)) == []


def test_release_gives_one_back(frozen, manager, conseiller, colleague, call_rule):
    person()
    c = running(manager)
    [pk] = reserve(conseiller, c)
    cible = Cible.objects.get(pk=pk)
    assert calls.calls_release(acting_user=colleague, cible=cible) is False
    assert calls.calls_release(acting_user=conseiller, cible=cible) is True
    assert reserve(colleague, c) == [pk]


def test_only_open_call_targets_under_the_attempts_are_reserved(
    frozen, manager, conseiller, call_rule
):
    ok = person()
    no_phone = person(telephone="")  # excluded « pas de coordonnée »
    refused, met, expired, tried = person(), person(), person(), person()
    c = running(manager)
    assert target(c, no_phone).exclusion == "sans_contact"
    Cible.objects.filter(campagne=c, assure=refused).update(refus_le=NOW)
    Cible.objects.filter(campagne=c, assure=met).update(rdv_pris_le=NOW)
    Cible.objects.filter(campagne=c, assure=expired).update(expire_le=NOW)
    Cible.objects.filter(campagne=c, assure=tried).update(tentatives=3)
    assert reserve(conseiller, c) == [target(c, ok).pk]


def test_a_person_to_call_back_comes_first_when_due_not_before(
    frozen, manager, conseiller, colleague, call_rule
):
    a, b, later = person(), person(), person()
    c = running(manager)
    Cible.objects.filter(campagne=c, assure=b).update(rappeler_le=NOW - HOUR)
    Cible.objects.filter(campagne=c, assure=later).update(rappeler_le=NOW + DAYS)
    assert reserve(conseiller, c, n=1) == [target(c, b).pk]
    assert reserve(colleague, c) == [target(c, a).pk]
    assert reserve(colleague, c, now=NOW + DAYS) == [target(c, later).pk]


def test_a_campaign_not_running_reserves_nothing(frozen, manager, conseiller, call_rule):
    person()
    c = running(manager)
    Campagne.objects.filter(pk=c.pk).update(statut=Campagne.Statut.VALIDEE)
    c.refresh_from_db()
    with pytest.raises(ValidationError):
        reserve(conseiller, c)
    assert not Cible.objects.filter(reserve_par__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_two_conseillers_reserving_at_once_never_get_the_same_person(region, unit, motifs):
    manager = UserFactory(manager=True, unit=unit)
    first, second = (UserFactory(conseiller=True, unit=unit) for _ in range(2))
    RegleCanal.objects.create(region=region, ordre=10, libelle="Tous", canal="appel")
    for _ in range(6):
        person()
    c = running(manager)
    got_first, held, done = [], threading.Event(), threading.Event()

    def hold_reservation():  # its own connection, its transaction left open
        try:
            with transaction.atomic():
                got_first.extend(reserve(first, c, n=3))
                held.set()
                done.wait(15)
        finally:
            connection.close()

    worker = threading.Thread(target=hold_reservation)
    worker.start()
    assert held.wait(15)
    started = time.monotonic()
    got_second = reserve(second, c, n=3)  # the three rows locked are skipped, not waited for
    waited = time.monotonic() - started
    done.set()
    worker.join(15)
    assert waited < 5
    assert len(got_first) == 3 and len(got_second) == 3
    assert not set(got_first) & set(got_second)
    assert Cible.objects.filter(reserve_par=first).count() == 3
    assert Cible.objects.filter(reserve_par=second).count() == 3


def test_a_region_wide_campaign_gives_each_unit_its_people(
    frozen, region, unit, other_unit, conseiller, call_rule
):
    regional = UserFactory(regional=True, region=region)
    rouen, evreux = person(cp="76000"), person(cp="27000")
    c = running(regional)
    assert c.unit_id is None
    theirs = UserFactory(conseiller=True, unit=other_unit)
    assert reserve(conseiller, c) == [target(c, rouen).pk]
    assert reserve(theirs, c) == [target(c, evreux).pk]
    counts = calls.pool_counts(user=conseiller, now=NOW)
    assert counts[c.pk] == {"disponibles": 0, "restants": 1, "reservees_par_moi": 1}


def test_who_may_call(frozen, region, unit, other_unit, manager, conseiller, call_rule):
    person()
    c = running(manager)
    ass = UserFactory(ass=True, unit=unit)
    elsewhere = UserFactory(conseiller=True, unit=other_unit)
    for user in (ass, elsewhere, UserFactory(regional=True, region=region)):
        assert not calls.can_call(user, c)
        with pytest.raises(PermissionDenied):
            reserve(user, c)
    assert calls.can_call(manager, c) and calls.can_call(conseiller, c)
    assert len(reserve(manager, c)) == 1


# --- Calls -------------------------------------------------------------------------------------


@pytest.fixture
def held(frozen, manager, conseiller, call_rule):
    """Make people, run a campaign, and reserve them all for the conseiller."""

    def make(*specs):
        people = [person(**spec) for spec in specs]
        c = running(manager)
        reserve(conseiller, c)
        return [target(c, p) for p in people]

    return make


def test_no_answer_counts_then_falls_back_to_sms_at_the_last_attempt(held, conseiller):
    [cible] = held({"email": "a@example.org"})
    for attempt in (1, 2):
        result = record(conseiller, cible, "pas_de_reponse", now=NOW + attempt * HOUR)
        assert result.repli == ""
        assert (result.cible.tentatives, result.cible.canal) == (attempt, "appel")
        assert result.cible.reserve_par == conseiller
    result = record(conseiller, cible, "message", now=NOW + 3 * HOUR)
    cible.refresh_from_db()
    assert (cible.canal, cible.repli_de, cible.exclusion) == ("sms", "appel", "")
    assert cible.reserve_par is None and cible.reserve_jusqu_au is None
    assert cible.tentatives == 3 and cible.dernier_resultat == "message"
    assert AppelCible.objects.filter(cible=cible, conseiller=conseiller).count() == 3
    assert (
        AuditLog.objects.filter(
            object_type="outreach.cible", object_id=str(cible.pk), action="update", user=conseiller
        ).count()
        == 1 + 3
    )  # the reservation, then each call


@pytest.mark.parametrize(
    ("spec", "canal", "exclusion"),
    [
        ({"pas_de_sms": True, "email": "a@example.org"}, "email", ""),
        ({"pas_de_sms": True, "adresse": "1 rue du Gros-Horloge"}, "courrier", ""),
        ({"telephone": LANDLINE, "adresse": ""}, "aucun", "sans_contact"),
    ],
)
def test_the_fallback_channel(held, conseiller, manager, spec, canal, exclusion):
    [cible] = held(spec)
    Campagne.objects.filter(pk=cible.campagne_id).update(tentatives_max=1)
    record(conseiller, cible, "pas_de_reponse")
    cible.refresh_from_db()
    assert (cible.canal, cible.repli_de, cible.exclusion) == (canal, "appel", exclusion)


def test_a_wrong_number_falls_back_at_once_and_not_to_that_number(held, conseiller):
    mobile_only, with_mail = held({}, {"email": "b@example.org"})
    result = record(conseiller, mobile_only, "faux_numero")
    assert result.cible.tentatives == 1
    assert (result.cible.canal, result.cible.exclusion) == ("aucun", "sans_contact")
    result = record(conseiller, with_mail, "faux_numero")
    assert (result.cible.canal, result.cible.repli_de) == ("email", "appel")


def test_call_back_needs_a_date_to_come_and_keeps_the_reservation(held, conseiller, colleague):
    [cible] = held({})
    for when in (None, NOW - HOUR):
        with pytest.raises(ValidationError):
            record(conseiller, cible, "rappeler", rappeler_le=when)
    assert not AppelCible.objects.exists()
    cible.refresh_from_db()
    assert cible.tentatives == 0
    callback = NOW + 3 * DAYS
    record(conseiller, cible, "rappeler", rappeler_le=callback, note="Préfère le matin")
    cible.refresh_from_db()
    assert (cible.rappeler_le, cible.reserve_jusqu_au) == (callback, callback + DAYS)
    assert AppelCible.objects.get().note == "Préfère le matin"
    # Reserved by the conseiller past the usual two days, and called back even at the max.
    Cible.objects.filter(pk=cible.pk).update(tentatives=3)
    assert reserve(colleague, cible.campagne, now=callback) == []
    assert [c.pk for c in calls.my_reserved(conseiller, callback)] == [cible.pk]
    assert reserve(colleague, cible.campagne, now=callback + DAYS) == [cible.pk]


def test_a_refusal_expires_the_invitations_and_drops_the_reservation(held, conseiller):
    [cible] = held({})
    record(conseiller, cible, "refus")
    cible.refresh_from_db()
    assert cible.refus_le == NOW and cible.expire_le == NOW and cible.expiration == "refus"
    assert cible.reserve_par is None
    assert AppelCible.objects.get(cible=cible).resultat == "refus"


def test_a_meeting_gives_a_campaign_referral_then_a_booking_marks_the_target(
    held, conseiller, unit, booking_ass, motifs
):
    [cible] = held({})
    result = record(conseiller, cible, "rdv")
    referral = result.signalement
    assert referral.origine == Origine.CAMPAGNE and referral.unit == unit
    assert referral.statut == Statut.NOUVEAU
    cible.refresh_from_db()
    assert cible.signalement == referral and cible.rdv_pris_le is None
    assert cible.reserve_par == conseiller  # « prendre le rendez-vous » stays on the list
    booking_book_for_person(
        signalement=referral,
        acting_user=conseiller,
        ass=booking_ass,
        debut=TUESDAY_9,
        mode="sur_place",
    )
    cible.refresh_from_db()
    referral.refresh_from_db()
    assert cible.rdv_pris_le == NOW and cible.reserve_par is None
    assert referral.statut == Statut.RENCONTRE_PROPOSEE and referral.rdv_ass == booking_ass
    assert list(calls.my_reserved(conseiller)) == []


def test_a_new_referral_assigned_automatically_goes_to_the_caller(
    held, conseiller, unit, booking_ass
):
    unit.auto_assign = True
    unit.save()
    [cible] = held({})
    referral = record(conseiller, cible, "rdv").signalement
    assert referral.assigned_to == conseiller


def test_a_person_not_held_is_not_recorded(held, conseiller, colleague):
    [cible] = held({})
    with pytest.raises(ValidationError):
        record(colleague, cible, "pas_de_reponse")
    with pytest.raises(ValidationError):
        record(conseiller, cible, "pas_de_reponse", now=NOW + 2 * DAYS)  # reservation passed
    with pytest.raises(ValidationError):
        record(conseiller, cible, "n_importe_quoi")
    assert not AppelCible.objects.exists()


# --- Pages -------------------------------------------------------------------------------------


def test_pages_need_a_login_404_elsewhere_403_for_others(
    client, frozen, region, unit, other_unit, manager, conseiller, call_rule
):
    person()
    c = running(manager)
    [pk] = reserve(conseiller, c)
    list_url = reverse("outreach:calls")
    reserve_url = reverse("outreach:calls_reserve", args=[c.pk])
    call_url = reverse("outreach:call_record", args=[pk])
    release_url = reverse("outreach:call_release", args=[pk])
    assert client.get(list_url).status_code == 302  # to the login page
    stranger = UserFactory(
        conseiller=True, unit=UnitFactory(region=Region.objects.create(code="BRE", name="Bretagne"))
    )
    client.force_login(stranger)
    assert client.post(reserve_url).status_code == 404
    assert client.get(call_url).status_code == 404
    assert client.post(release_url).status_code == 404
    for user in (UserFactory(ass=True, unit=unit), UserFactory(conseiller=True, unit=other_unit)):
        client.force_login(user)
        assert client.post(reserve_url).status_code == 403
        assert client.get(call_url).status_code == 403
        assert client.post(call_url, {"resultat": "refus"}).status_code == 403
        assert client.post(release_url).status_code == 403
    client.force_login(UserFactory(ass=True, unit=unit))
    assert client.get(list_url).status_code == 403
    assert Cible.objects.get(pk=pk).reserve_par == conseiller
    assert not AppelCible.objects.exists()


def test_the_list_page_has_constant_queries_and_audits_each_person_shown(
    client, frozen, manager, conseiller, call_rule, django_assert_max_num_queries
):
    client.force_login(conseiller)
    url = reverse("outreach:calls")

    last = [0]  # the log is append-only: count the rows written after the last hold()

    def hold(n):
        Campagne.objects.all().delete()
        for _ in range(n):
            person()
        reserve(conseiller, running(manager), n=n)
        last[0] = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    hold(2)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    assert AuditLog.objects.filter(pk__gt=last[0], action="view", user=conseiller).count() == 2
    hold(12)
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        response = client.get(url)
    assert AuditLog.objects.filter(pk__gt=last[0], action="view", user=conseiller).count() == 12
    text = response.content.decode()
    assert text.count('href="tel:0612345678"') == 12
    assert "Script d'appel" in text and "0/3" in text


def test_reserve_then_record_through_the_pages(
    client, frozen, manager, conseiller, call_rule, booking_ass, motifs
):
    people = [person() for _ in range(3)]
    c = running(manager)
    client.force_login(conseiller)
    page = client.get(reverse("outreach:calls")).content.decode()
    assert "Réserver 10 personnes" in page
    response = client.post(reverse("outreach:calls_reserve", args=[c.pk]), follow=True)
    assert "3 personnes réservées pour vous" in response.content.decode()
    first, second, third = (target(c, p) for p in people)
    url = reverse("outreach:call_record", args=[first.pk])
    page = client.get(url)
    assert page.status_code == 200 and "Script d'appel" in page.content.decode()
    # Opening a person's call page is a read of their file (test_audit_every_page).
    assert AuditLog.objects.filter(
        user=conseiller,
        action=AuditLog.Action.VIEW,
        object_type="outreach.cible",
        object_id=str(first.pk),
        assure_id=first.assure_id,
    ).exists()

    # Bad input: French message, 200, nothing changed.
    for data in (
        {"resultat": "rappeler", "rappeler_le": ""},
        {"resultat": "rappeler", "rappeler_le": "2027-02-27T10:00"},
        {"resultat": "rappeler", "rappeler_le": "pas une date"},
        {"resultat": "", "note": "x"},
        {"resultat": "pas_de_reponse", "note": "x" * 301},
        {"resultat": "inconnu"},
    ):
        response = client.post(url, data)
        assert response.status_code == 200, data
        assert "is-invalid" in response.content.decode(), data
    assert not AppelCible.objects.exists()

    response = client.post(url, {"resultat": "pas_de_reponse", "note": ""}, follow=True)
    assert "Appel enregistré (1/3)" in response.content.decode()
    response = client.post(
        reverse("outreach:call_record", args=[second.pk]),
        {"resultat": "rappeler", "rappeler_le": "2027-03-03T14:30"},
        follow=True,
    )
    assert "Rappel prévu le mercredi 3 mars à 14\u00a0h\u00a030" in response.content.decode()
    response = client.post(reverse("outreach:call_record", args=[third.pk]), {"resultat": "rdv"})
    third.refresh_from_db()
    assert response.status_code == 302
    book_url = reverse("outreach:book_for_signalement", args=[third.signalement_id])
    assert response["Location"] == book_url + "?retour=appels"
    page = client.get(reverse("outreach:calls")).content.decode()
    assert "Prendre le rendez-vous" in page
    assert "Mes derniers appels" in page and "Rendez-vous à fixer" in page
    assert "Retour aux appels de campagne" in client.get(response["Location"]).content.decode()
    response = client.post(
        book_url + "?retour=appels",
        {"ass": booking_ass.pk, "debut": TUESDAY_9.isoformat(), "mode": "sur_place"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("outreach:calls")
    third.refresh_from_db()
    assert third.rdv_pris_le is not None
    page = client.get(reverse("outreach:calls")).content.decode()
    assert "Rendez-vous pris" in page and "Prendre le rendez-vous" not in page

    # A person given back leaves « Mes appels »; its page then sends back to the list.
    client.post(reverse("outreach:call_release", args=[first.pk]))
    response = client.get(url, follow=True)
    assert "plus dans vos appels réservés" in response.content.decode()


def test_the_campaign_page_shows_the_call_list_progress_in_one_query(
    client, frozen, manager, conseiller, call_rule, django_assert_num_queries
):
    people = [person(email=f"p{i}@example.org") for i in range(4)]
    c = running(manager)
    reserve(conseiller, c)
    a, b, d, _ = (target(c, p) for p in people)
    record(conseiller, a, "refus")
    record(conseiller, b, "faux_numero")
    record(conseiller, d, "rappeler", rappeler_le=NOW + DAYS)
    with django_assert_num_queries(1):
        figures = calls.progress(c, NOW)
    assert figures == {
        "ciblees": 4,
        "a_appeler": 0,
        "reservees": 2,
        "appelees": 3,
        "jointes": 2,
        "rendez_vous": 0,
        "refus": 1,
        "replis": 1,
    }
    client.force_login(manager)
    text = client.get(reverse("outreach:campaign_detail", args=[c.pk])).content.decode()
    assert "Liste d'appels" in text and "Passées à un autre canal" in text
    assert reverse("outreach:calls") in text


def test_the_menu_has_the_call_list_for_conseillers_only(client, conseiller, unit):
    client.force_login(conseiller)
    assert reverse("outreach:calls") in client.get(reverse("cases:dashboard")).content.decode()
    client.force_login(UserFactory(ass=True, unit=unit))
    assert reverse("outreach:calls") not in client.get(reverse("cases:dashboard")).content.decode()
