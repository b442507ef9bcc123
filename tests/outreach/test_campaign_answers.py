"""A person answers a campaign online (issue 12): the link opened, a booking that creates the
referral of origin « campagne » and its first meeting, the refusal on the public page, dead
targets, and the referral as the staff see it."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from outreach import booking, campaign_answers, campaigns
from outreach.models import Campagne, Cible, Expiration
from pdp import access_codes
from pdp.models import AccessCode, AuditLog, UnitTerritory
from referrals.models import ArretTravail, Origine, Signalement, Statut
from tests.factories import AssureFactory, SignalementFactory, UnitFactory, UserFactory
from tests.outreach.conftest import NOW, TUESDAY_9

pytestmark = pytest.mark.django_db

DAY = NOW.date()
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')
REFUSE_LINK = "Je ne souhaite pas être recontacté(e) pour cet accompagnement"
HEALTH_WORDS = ("santé", "médic", "arrêt", "handicap", "diagnos", "soin", "patho")


@pytest.fixture
def territory(unit):
    return UnitTerritory.objects.create(unit=unit, prefix="76")


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


@pytest.fixture
def ready(frozen, motifs, booking_ass, territory):
    """Time frozen, the motifs, an ASS with Tuesday slots, the unit's territory."""
    return booking_ass


def running_campaign(manager, nom="Campagne de mars", statut=Campagne.Statut.EN_COURS):
    campagne = campaigns.campagne_create(acting_user=manager, nom=nom, date_reference=DAY)
    Campagne.objects.filter(pk=campagne.pk).update(statut=statut)
    campagne.refresh_from_db()
    return campagne


def arret_of(assure, days=100):
    return ArretTravail.objects.get_or_create(
        assure=assure,
        defaults={
            "type_arret": "MAL",
            "date_debut": DAY - datetime.timedelta(days=days - 1),
            "date_fin_prevue": DAY + datetime.timedelta(days=30),
            "cpam": assure.cpam,
        },
    )[0]


def invite(campagne, assure, canal="sms"):
    """A sent invitation as the sending builds it: a booking code bound to the target."""
    cible = Cible.objects.create(
        campagne=campagne,
        assure=assure,
        arret=arret_of(assure),
        canal=canal,
        created_at=timezone.now(),
        envoye_le=timezone.now(),
    )
    row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=assure.pk,
        expires_at=timezone.now() + datetime.timedelta(days=10),
        object_type=campaign_answers.CIBLE,
        object_id=cible.pk,
    )
    Cible.objects.filter(pk=cible.pk).update(code=row)
    cible.refresh_from_db()
    return cible, row, code


def identify(client, code, day=12, month=5, year=1985):
    client.get(f"/r/{code}/")
    return client.post(
        reverse("outreach:identify"), {"jour": day, "mois": month, "annee": year}, follow=True
    )


def book_online(client, code, debut=TUESDAY_9):
    identify(client, code)
    t = int(debut.timestamp())
    return client.post(reverse("outreach:booking"), {"mode": "sur_place", "t": t}, follow=True)


def is_dead(response):
    return response.redirect_chain and response.redirect_chain[-1][0] == reverse(
        "outreach:code_invalid"
    )


# --- Link opened -----------------------------------------------------------------------------


def test_opening_the_link_records_the_first_time_only(client, ready, manager, person, frozen):
    cible, _row, code = invite(running_campaign(manager), person)
    assert client.get(f"/r/{code}/").url == reverse("outreach:identify")
    cible.refresh_from_db()
    assert cible.ouvert_le == NOW
    frozen.move_to(NOW + datetime.timedelta(hours=3))
    client.get(f"/r/{code}/")
    cible.refresh_from_db()
    assert cible.ouvert_le == NOW


def test_typing_the_letter_code_records_the_opening(client, ready, manager, person):
    cible, _row, code = invite(running_campaign(manager), person, canal="courrier")
    typed = access_codes.display(code).lower()
    response = client.post(reverse("outreach:code_form"), {"code": typed})
    assert response.url == reverse("outreach:identify")
    cible.refresh_from_db()
    assert cible.ouvert_le == NOW


def test_a_webinar_invitation_code_records_the_opening(client, ready, manager, person):
    cible = Cible.objects.create(
        campagne=running_campaign(manager),
        assure=person,
        arret=arret_of(person),
        canal="webinaire",
        created_at=timezone.now(),
    )
    row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.WEBINAR,
        assure_id=person.pk,
        expires_at=timezone.now() + datetime.timedelta(days=10),
        object_type="collective.actioncollective",
        object_id=1,
    )
    Cible.objects.filter(pk=cible.pk).update(code=row)
    client.get(f"/r/{code}/")
    cible.refresh_from_db()
    assert cible.ouvert_le == NOW


def test_other_codes_open_no_target(client, ready, manager, person, referral, issue_booking_code):
    cible, _row, _code = invite(running_campaign(manager), person)
    _other_row, other_code = issue_booking_code(referral)
    client.get(f"/r/{other_code}/")
    cible.refresh_from_db()
    assert cible.ouvert_le is None


# --- Booking through a campaign code ------------------------------------------------------


def test_booking_creates_a_campaign_referral_its_first_meeting_and_expires_the_rest(
    client, ready, manager, person, unit, django_capture_on_commit_callbacks
):
    cible, row, code = invite(running_campaign(manager), person)
    other_cible, _other_row, other_code = invite(
        running_campaign(manager, nom="Campagne d'avril"), person, canal="email"
    )
    identified = identify(client, code)
    assert identified.redirect_chain[-1][0] == reverse("outreach:booking")
    slots = client.get(reverse("outreach:booking"), {"mode": "sur_place"})
    assert f"t={int(TUESDAY_9.timestamp())}" in slots.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("outreach:booking"),
            {"mode": "sur_place", "t": int(TUESDAY_9.timestamp())},
            follow=True,
        )
    assert done.redirect_chain[-1][0] == reverse("outreach:confirmation")

    (referral,) = Signalement.objects.filter(assure=person)
    assert referral.origine == Origine.CAMPAGNE
    assert referral.unit == unit
    assert referral.motif == "Réponse à la campagne «\u00a0Campagne de mars\u00a0»"
    assert referral.statut == Statut.RENCONTRE_PROPOSEE
    assert (referral.rdv_debut, referral.rdv_ass) == (TUESDAY_9, ready)
    assert referral.assigned_to == ready
    attempt = referral.contact_attempts.get()
    assert attempt.canal == "sms" and "Rendez-vous pris en ligne" in attempt.note
    cible.refresh_from_db()
    assert cible.signalement == referral and cible.rdv_pris_le == NOW
    row.refresh_from_db()
    assert row.used_at is not None
    other_cible.refresh_from_db()
    assert other_cible.expire_le == NOW and other_cible.expiration == Expiration.ANSWERED
    assert other_cible.rdv_pris_le is None
    # The other campaign's code no longer works.
    client.logout()
    assert is_dead(client.get(f"/r/{other_code}/", follow=True))
    assert AuditLog.objects.filter(
        object_type="outreach.cible", object_id=str(cible.pk), changes__has_key="rdv_pris_le"
    ).exists()


def test_a_region_wide_campaign_routes_the_answer_by_postal_code(
    client, ready, person, unit, region_user
):
    campagne = campaigns.campagne_create(
        acting_user=region_user, nom="Campagne régionale", date_reference=DAY
    )
    Campagne.objects.filter(pk=campagne.pk).update(statut=Campagne.Statut.VALIDEE)
    cible, _row, code = invite(campagne, person)
    book_online(client, code)
    referral = Signalement.objects.get(assure=person)
    assert referral.unit == unit and referral.origine == Origine.CAMPAGNE
    cible.refresh_from_db()
    assert cible.rdv_pris_le == NOW


@pytest.fixture
def region_user(unit):
    return UserFactory(regional=True, region=unit.region)


def test_a_region_wide_campaign_whose_person_routes_nowhere_opens_nothing(
    client, ready, region_user
):
    campagne = campaigns.campagne_create(
        acting_user=region_user, nom="Campagne régionale", date_reference=DAY
    )
    Campagne.objects.filter(pk=campagne.pk).update(statut=Campagne.Statut.EN_COURS)
    moved = AssureFactory(code_postal="14000", telephone="06 12 34 56 78")
    _cible, _row, code = invite(campagne, moved)
    identify(client, code)
    assert is_dead(client.get(reverse("outreach:booking"), follow=True))


@pytest.mark.django_db(transaction=True)
def test_a_slot_taken_meanwhile_leaves_no_referral(ready, manager, person, unit, monkeypatch):
    cible, row, _code = invite(running_campaign(manager), person)
    context = booking.booking_context(code_row=row)
    assert context.cible == cible and context.signalement is None
    # Another person's first meeting was proposed on that slot after the page was shown,
    # and the check before the lock saw it free.
    SignalementFactory(
        assure=AssureFactory(),
        unit=unit,
        statut=Statut.RENCONTRE_PROPOSEE,
        rdv_debut=TUESDAY_9,
        rdv_duree_minutes=60,
        rdv_mode="sur_place",
        rdv_ass=ready,
    )
    monkeypatch.setattr(booking, "_require_free", lambda **kwargs: None)
    with pytest.raises(booking.SlotTaken):
        booking.booking_book(
            code_row=row,
            assure=person,
            ass=ready,
            debut=TUESDAY_9,
            motif=context.motif,
            mode="sur_place",
        )
    assert not Signalement.objects.filter(assure=person).exists()
    cible.refresh_from_db()
    assert cible.signalement is None and cible.rdv_pris_le is None
    row.refresh_from_db()
    assert row.used_at is None


def test_a_refusal_recorded_after_the_page_was_shown_stops_the_booking(ready, manager, person):
    cible, row, _code = invite(running_campaign(manager), person)
    context = booking.booking_context(code_row=row)
    Cible.objects.filter(pk=cible.pk).update(refus_le=NOW)  # by phone, the code not yet revoked
    with pytest.raises(booking.ValidationError):
        booking.booking_book(
            code_row=row,
            assure=person,
            ass=ready,
            debut=TUESDAY_9,
            motif=context.motif,
            mode="sur_place",
        )
    assert not Signalement.objects.filter(assure=person).exists()
    row.refresh_from_db()
    assert row.used_at is None


def test_a_person_with_an_open_referral_books_on_it(client, ready, manager, person, unit):
    cible, _row, code = invite(running_campaign(manager), person)
    referral = SignalementFactory(assure=person, unit=unit)
    identify(client, code)
    assert (
        REFUSE_LINK
        not in client.get(reverse("outreach:booking"), {"mode": "sur_place"}).content.decode()
    )
    book_online(client, code)
    assert Signalement.objects.filter(assure=person).count() == 1
    referral.refresh_from_db()
    assert referral.origine != Origine.CAMPAGNE and referral.rdv_debut == TUESDAY_9
    cible.refresh_from_db()
    assert cible.signalement == referral and cible.rdv_pris_le == NOW


def test_booking_on_a_campaign_referral_with_its_own_link_marks_the_target(
    client, ready, manager, person, issue_booking_code
):
    """A conseiller created the referral on the phone, then sent the usual booking link."""
    cible, _row, _code = invite(running_campaign(manager), person)
    referral = campaign_answers.referral_for_target(cible=cible, acting_user=manager)
    _referral_row, code = issue_booking_code(referral)
    book_online(client, code)
    cible.refresh_from_db()
    assert cible.signalement == referral and cible.rdv_pris_le == NOW


def test_an_ordinary_referral_booking_marks_no_target(
    client, ready, manager, person, referral, issue_booking_code
):
    cible, _row, _code = invite(running_campaign(manager), person)
    _referral_row, code = issue_booking_code(referral)
    book_online(client, code)
    referral.refresh_from_db()
    assert referral.rdv_debut == TUESDAY_9
    cible.refresh_from_db()
    assert cible.rdv_pris_le is None and cible.expire_le is None


@pytest.mark.parametrize(
    "change",
    [
        {"expire_le": NOW, "expiration": Expiration.CLOSED},
        {"refus_le": NOW},
        {"rdv_pris_le": NOW},
        {"exclusion": Cible.Exclusion.CONTACT_RECENT},
    ],
    ids=["expired", "refused", "answered", "excluded"],
)
def test_a_dead_target_opens_the_invalid_code_page(client, ready, manager, person, change):
    cible, _row, code = invite(running_campaign(manager), person)
    Cible.objects.filter(pk=cible.pk).update(**change)  # the code itself still valid
    identify(client, code)
    response = client.get(reverse("outreach:booking"), follow=True)
    assert is_dead(response)
    assert is_dead(client.get(reverse("outreach:campaign_refuse"), follow=True))
    assert not Signalement.objects.filter(assure=person).exists()


@pytest.mark.parametrize("statut", [Campagne.Statut.CLOSE, Campagne.Statut.SIMULEE])
def test_a_campaign_not_validated_or_running_opens_nothing(client, ready, manager, person, statut):
    _cible, _row, code = invite(running_campaign(manager, statut=statut), person)
    identify(client, code)
    assert is_dead(client.get(reverse("outreach:booking"), follow=True))


# --- Refusal ----------------------------------------------------------------------------------


def test_the_person_declines_and_a_new_campaign_excludes_them(client, ready, manager, person, unit):
    campagne = running_campaign(manager)
    cible, row, code = invite(campagne, person)
    other, other_row, _other_code = invite(
        running_campaign(manager, nom="Campagne d'avril"), person
    )
    identify(client, code)
    slots = client.get(reverse("outreach:booking"), {"mode": "sur_place"}).content.decode()
    assert REFUSE_LINK in slots
    modes = client.get(reverse("outreach:booking")).content.decode()
    assert REFUSE_LINK in modes

    confirm = client.get(reverse("outreach:campaign_refuse"))
    assert confirm.status_code == 200
    assert "Je confirme" in confirm.content.decode()
    cible.refresh_from_db()
    assert cible.refus_le is None  # nothing before the POST

    done = client.post(reverse("outreach:campaign_refuse"))
    text = done.content.decode()
    assert done.status_code == 200
    assert "merci" in text and "02 35 00 00 00" in text
    for word in HEALTH_WORDS:
        assert word not in text.lower()
    cible.refresh_from_db()
    assert cible.refus_le == NOW
    assert (cible.expire_le, cible.expiration) == (NOW, Expiration.REFUS)
    other.refresh_from_db()
    assert other.expiration == Expiration.REFUS
    for code_row in (row, other_row):
        code_row.refresh_from_db()
        assert code_row.revoked_at is not None
    assert AuditLog.objects.filter(
        object_type="outreach.cible", object_id=str(cible.pk), changes__has_key="refus_le"
    ).exists()
    assert not Signalement.objects.filter(assure=person).exists()
    # Posted again (a reload): nothing more, the neutral page.
    assert is_dead(client.post(reverse("outreach:campaign_refuse"), follow=True))

    later = campaigns.campagne_create(
        acting_user=manager, nom="Campagne de mai", date_reference=DAY
    )
    later = campaigns.campagne_simulate(campagne=later, acting_user=manager, now=NOW)
    assert Cible.objects.get(campagne=later, assure=person).exclusion == Cible.Exclusion.OPPOSITION


def test_refusing_needs_the_birth_date_and_no_name_shows_before(client, ready, manager, person):
    cible, _row, code = invite(running_campaign(manager), person)
    entry = client.get(f"/r/{code}/", follow=True)
    text = entry.content.decode()
    assert entry.redirect_chain[-1][0] == reverse("outreach:identify")
    assert person.nom_naissance not in text and person.prenoms not in text
    assert code not in text
    assert is_dead(client.get(reverse("outreach:campaign_refuse"), follow=True))
    assert is_dead(client.post(reverse("outreach:campaign_refuse"), follow=True))
    wrong = client.post(reverse("outreach:identify"), {"jour": 1, "mois": 1, "annee": 1990})
    assert wrong.status_code == 200
    assert person.nom_naissance not in wrong.content.decode()
    assert is_dead(client.post(reverse("outreach:campaign_refuse"), follow=True))
    cible.refresh_from_db()
    assert cible.refus_le is None and cible.expire_le is None


def test_an_ordinary_booking_code_offers_no_refusal(client, ready, referral, issue_booking_code):
    _row, code = issue_booking_code(referral)
    identify(client, code)
    slots = client.get(reverse("outreach:booking"), {"mode": "sur_place"})
    assert REFUSE_LINK not in slots.content.decode()
    assert is_dead(client.post(reverse("outreach:campaign_refuse"), follow=True))


def test_a_refusal_after_a_meeting_was_booked_by_phone_is_refused(ready, manager, person):
    cible, _row, _code = invite(running_campaign(manager), person)
    Cible.objects.filter(pk=cible.pk).update(rdv_pris_le=NOW)
    with pytest.raises(campaign_answers.ValidationError):
        campaign_answers.target_refused(cible=cible)
    cible.refresh_from_db()
    assert cible.refus_le is None


# --- What the staff see -------------------------------------------------------------------


def test_the_referral_shows_its_campaign_origin_and_motif(client, ready, manager, person):
    cible, _row, code = invite(running_campaign(manager), person)
    book_online(client, code)
    referral = Signalement.objects.get(assure=person)
    client.force_login(ready)
    page = client.get(reverse("referrals:signalement_detail", args=[referral.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Réponse à une campagne" in text
    assert "Réponse à la campagne «\u00a0Campagne de mars\u00a0»" in text


def test_a_unit_without_active_ass_opens_nothing(client, frozen, motifs, manager, person, unit):
    UnitTerritory.objects.create(unit=unit, prefix="76")
    UserFactory(ass=True, unit=UnitFactory(), is_active=True)  # elsewhere
    UserFactory(ass=True, unit=unit, is_active=False)
    _cible, _row, code = invite(running_campaign(manager), person)
    identify(client, code)
    assert is_dead(client.get(reverse("outreach:booking"), follow=True))
