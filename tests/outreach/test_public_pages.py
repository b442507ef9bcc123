"""The public pages: code entry, the one invalid-code page, birth date, book, manage."""

import datetime
import re

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from pdp import access_codes
from pdp.messaging import outbox
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Statut
from tests.factories import UnitFactory
from tests.outreach.conftest import TUESDAY_9

pytestmark = pytest.mark.django_db

CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def identify(client, code, day=12, month=5, year=1985):
    response = client.get(f"/r/{code}/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("outreach:identify")
    return client.post(
        reverse("outreach:identify"), {"jour": day, "mois": month, "annee": year}, follow=True
    )


@pytest.fixture
def invalid_codes(issue_booking_code, referral, frozen):
    """One code of each invalid kind, with the moment to look it up."""
    codes = {"unknown": "ABCDEFGH", "forged": "ab$%^&*(", "short": "ABC"}
    expired, code = issue_booking_code(referral, days=1)
    codes["expired"] = code
    revoked, code = issue_booking_code(referral)
    access_codes.access_code_revoke(row=revoked, acting_user=None)
    codes["revoked"] = code
    used, code = issue_booking_code(referral)
    access_codes.access_code_use(row=used)
    codes["used"] = code
    locked, code = issue_booking_code(referral)
    for _ in range(access_codes.MAX_FAILED_CHECKS):
        access_codes.access_code_check_birth_date(
            row=locked, birth_date=None, actual_birth_date=datetime.date(1985, 5, 12)
        )
    codes["locked"] = code
    frozen.move_to(timezone.now() + datetime.timedelta(days=2))
    return codes


def test_every_invalid_code_gets_the_same_page(client, invalid_codes, unit):
    UnitFactory(telephone="")  # a unit without a number is not listed
    bodies = set()
    for kind, code in invalid_codes.items():
        response = client.get(f"/r/{code}/", follow=True)
        assert response.redirect_chain == [(reverse("outreach:code_invalid"), 302)], kind
        assert response.status_code == 200
        assert response["Referrer-Policy"] == "same-origin"
        bodies.add(CSRF.sub(b"", response.content))
        posted = client.post(reverse("outreach:code_form"), {"code": code}, follow=True)
        assert posted.redirect_chain == [(reverse("outreach:code_invalid"), 302)], kind
    assert len(bodies) == 1
    assert "02 35 00 00 00" in bodies.pop().decode()


def test_a_valid_code_leaves_the_url_and_nothing_personal_shows_before_the_birth_date(
    client, issue_booking_code, referral, person
):
    _row, code = issue_booking_code(referral)
    response = client.get(f"/r/{code}/", follow=True)
    assert [url for url, _ in response.redirect_chain] == [reverse("outreach:identify")]
    assert response["Referrer-Policy"] == "same-origin"
    text = response.content.decode()
    assert (
        "service social de l&#x27;Assurance Maladie" in text
        or "service social de l'Assurance Maladie" in text
    )
    assert person.nom_naissance not in text and person.prenoms not in text
    assert code not in text
    # Pages needing identification send back to the invalid page.
    assert client.get(reverse("outreach:booking")).url == reverse("outreach:code_invalid")


def test_the_code_typed_from_a_letter_may_have_a_dash_and_lower_case(
    client, issue_booking_code, referral
):
    _row, code = issue_booking_code(referral)
    typed = access_codes.display(code).lower()
    response = client.post(reverse("outreach:code_form"), {"code": typed})
    assert response.url == reverse("outreach:identify")


@override_settings(ACCESS_CODE_RATE_LIMIT=3)
def test_lookups_are_rate_limited_per_address(client, frozen):
    cache.clear()
    for _ in range(3):
        assert client.get("/r/ABCDEFGH/").status_code == 302
    response = client.get("/r/ABCDEFGH/")
    assert response.status_code == 429
    assert "Trop de tentatives" in response.content.decode()


def test_five_wrong_birth_dates_lock_the_code(client, issue_booking_code, referral):
    row, code = issue_booking_code(referral)
    client.get(f"/r/{code}/")
    for _ in range(access_codes.MAX_FAILED_CHECKS - 1):
        response = client.post(reverse("outreach:identify"), {"jour": 1, "mois": 1, "annee": 1990})
        assert response.status_code == 200
        assert "ne correspond pas" in response.content.decode()
    response = client.post(reverse("outreach:identify"), {"jour": 1, "mois": 1, "annee": 1990})
    assert response.url == reverse("outreach:code_invalid")
    row.refresh_from_db()
    assert row.locked_at is not None
    # Even the right date no longer opens it.
    response = client.get(f"/r/{code}/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("outreach:code_invalid")


def test_book_then_cancel_with_the_manage_code(
    client, issue_booking_code, referral, django_capture_on_commit_callbacks
):
    row, code = issue_booking_code(referral)
    response = identify(client, code)
    assert response.redirect_chain[-1][0] == reverse("outreach:booking")
    assert "Consultation sociale sur site" in response.content.decode()  # the mode choice
    slots = client.get(reverse("outreach:booking"), {"mode": "sur_place"})
    t = int(TUESDAY_9.timestamp())
    assert f"t={t}" in slots.content.decode()
    confirm = client.get(reverse("outreach:booking"), {"mode": "sur_place", "t": t})
    assert "Agence de Rouen" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("outreach:booking"), {"mode": "sur_place", "t": t}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("outreach:confirmation")
    assert "est confirmé" in done.content.decode()
    referral.refresh_from_db()
    assert referral.statut == Statut.RENCONTRE_PROPOSEE and referral.rdv_debut == TUESDAY_9
    ics = client.get(reverse("outreach:ics"))
    assert ics["Content-Type"].startswith("text/calendar")
    assert f"UID:rdv-{referral.pk}@pdp" in ics.content.decode()

    (sms,) = outbox
    manage_code = re.search(r"/r/([0-9A-Z]{8})/", sms.body).group(1)
    for secret in (code, manage_code):
        assert not any(secret in str(c) for c in AuditLog.objects.values_list("changes", flat=True))
        assert not any(secret in b for b in Message.objects.values_list("body", flat=True))

    manage = identify(client, manage_code)
    assert manage.redirect_chain[-1][0] == reverse("outreach:manage")
    assert "Annuler le rendez-vous" in manage.content.decode()
    cancelled = client.post(reverse("outreach:cancel"), {"reason": "Empêchement"})
    assert "est annulé" in cancelled.content.decode()
    referral.refresh_from_db()
    assert referral.rdv_debut is None
    assert AccessCode.objects.get(purpose="manage").revoked_at is not None


def test_a_slot_taken_meanwhile_shows_the_next_ones(client, issue_booking_code, referral, unit):
    from tests.factories import AssureFactory, SignalementFactory

    other = SignalementFactory(assure=AssureFactory(telephone="0611111111"), unit=unit)
    _row, code = issue_booking_code(referral)
    identify(client, code)
    other_row, _ = issue_booking_code(other)
    from tests.outreach.test_booking import book

    book(other_row)
    response = client.post(
        reverse("outreach:booking"), {"mode": "sur_place", "t": int(TUESDAY_9.timestamp())}
    )
    assert response.status_code == 409
    assert "vient d&#x27;être pris" in response.content.decode()


# --- Reminders: the person turns them off or back on, on the manage page --------------------

HEALTH_WORDS = ("santé", "médic", "arrêt", "handicap", "diagnos", "soin", "patho")


def _reminder_logs(person):
    return AuditLog.objects.filter(
        object_type="referrals.assure", object_id=str(person.pk), changes__has_key="rappels"
    )


@pytest.fixture
def manage_code(issue_booking_code, referral):
    from tests.outreach.test_booking import book

    row, _code = issue_booking_code(referral)
    return book(row).manage_code


def test_the_person_turns_the_reminders_off_then_on_again(client, manage_code, person):
    page = identify(client, manage_code)
    assert page.redirect_chain[-1][0] == reverse("outreach:manage")
    text = page.content.decode()
    # Tuesday 9:00 seen on Monday 8:00: the reminder's time has passed, nothing is promised.
    assert "moins de 48&nbsp;heures&nbsp;: vous ne recevrez pas d'autre rappel" in text
    assert "Ne plus recevoir de rappels" in text

    off = client.post(reverse("outreach:reminders_toggle"), {"rappels": "0"}, follow=True)
    assert off.redirect_chain == [(reverse("outreach:manage"), 302)]
    text = off.content.decode()
    assert "vous ne recevrez plus de rappel" in text
    assert "Recevoir à nouveau les rappels" in text
    assert "Ne plus recevoir de rappels" not in text
    for word in HEALTH_WORDS:
        assert word not in text.lower()
    person.refresh_from_db()
    assert person.rappels is False
    (log,) = _reminder_logs(person)
    assert log.user is None and log.action == AuditLog.Action.UPDATE
    assert log.assure_id == person.pk and log.changes == {"rappels": [True, False]}

    # Sent twice (a double click): the posted state is kept, not flipped back, nor audited again.
    client.post(reverse("outreach:reminders_toggle"), {"rappels": "0"})
    person.refresh_from_db()
    assert person.rappels is False and _reminder_logs(person).count() == 1

    on = client.post(reverse("outreach:reminders_toggle"), {"rappels": "1"}, follow=True)
    assert on.redirect_chain == [(reverse("outreach:manage"), 302)]
    text = on.content.decode()
    assert "vous recevrez à nouveau un rappel 48\u00a0heures" in text
    assert "Ne plus recevoir de rappels" in text
    person.refresh_from_db()
    assert person.rappels is True
    assert _reminder_logs(person).latest("pk").changes == {"rappels": [False, True]}
    # The message is shown once.
    assert "à nouveau un rappel" not in client.get(reverse("outreach:manage")).content.decode()


def test_the_manage_page_promises_a_reminder_only_when_one_can_come(
    client, issue_booking_code, referral, person
):
    from tests.outreach.test_booking import book

    row, _code = issue_booking_code(referral)
    later = book(row, debut=TUESDAY_9 + datetime.timedelta(days=7)).manage_code
    text = identify(client, later).content.decode()
    assert "Vous recevrez un rappel par SMS 48&nbsp;heures avant le rendez-vous." in text

    person.telephone = "02 35 11 22 33"  # a landline: no SMS, and no e-mail address
    person.save()
    text = client.get(reverse("outreach:manage")).content.decode()
    assert "aucun rappel ne pourra vous être envoyé" in text
    assert "Ne plus recevoir de rappels" not in text


def test_an_unknown_value_changes_nothing(client, manage_code, person):
    identify(client, manage_code)
    response = client.post(reverse("outreach:reminders_toggle"), {"rappels": "peut-être"})
    assert response.status_code == 400
    person.refresh_from_db()
    assert person.rappels is True and not _reminder_logs(person).exists()


def test_the_reminders_cannot_be_changed_without_the_birth_date(client, manage_code, person):
    url = reverse("outreach:reminders_toggle")
    # No code at all in the session.
    assert client.post(url, {"rappels": "0"}).url == reverse("outreach:code_invalid")
    # The code entered, but not the birth date.
    client.get(f"/r/{manage_code}/")
    assert client.post(url, {"rappels": "0"}).url == reverse("outreach:code_invalid")
    # A GET is no way round.
    identify(client, manage_code)
    assert client.get(url).status_code == 405
    person.refresh_from_db()
    assert person.rappels is True and not _reminder_logs(person).exists()


def test_a_booking_code_cannot_change_the_reminders(client, issue_booking_code, referral, person):
    _row, code = issue_booking_code(referral)
    assert identify(client, code).redirect_chain[-1][0] == reverse("outreach:booking")
    response = client.post(reverse("outreach:reminders_toggle"), {"rappels": "0"})
    # The same refusal as cancelling or moving with it.
    assert response.url == reverse("outreach:code_invalid")
    assert client.post(reverse("outreach:cancel"), {"reason": ""}).url == response.url
    person.refresh_from_db()
    assert person.rappels is True and not _reminder_logs(person).exists()


def test_the_reminders_form_needs_its_csrf_token(manage_code, person):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)

    def token(response):
        return re.search(rb'name="csrfmiddlewaretoken" value="([^"]*)"', response.content)[1]

    page = client.get(f"/r/{manage_code}/", follow=True)
    manage = client.post(
        reverse("outreach:identify"),
        {"jour": 12, "mois": 5, "annee": 1985, "csrfmiddlewaretoken": token(page).decode()},
        follow=True,
    )
    assert manage.redirect_chain[-1][0] == reverse("outreach:manage")
    url = reverse("outreach:reminders_toggle")
    assert client.post(url, {"rappels": "0"}).status_code == 403
    person.refresh_from_db()
    assert person.rappels is True and not _reminder_logs(person).exists()
    response = client.post(url, {"rappels": "0", "csrfmiddlewaretoken": token(manage).decode()})
    assert response.url == reverse("outreach:manage")
    person.refresh_from_db()
    assert person.rappels is False
