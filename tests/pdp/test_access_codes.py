"""Access codes for people without an account (issue 10, item 1): made with `secrets` from an
alphabet without look-alikes, stored only as a digest, one answer for every invalid code, a
birth-date check that locks, one-time use safe with two requests at once, a rate limit."""

import datetime
import threading

import pytest
import time_machine
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from pdp import access_codes, ratelimit
from pdp.access_codes import (
    access_code_check_birth_date,
    access_code_issue,
    access_code_lookup,
    access_code_revoke,
    access_code_use,
    access_codes_revoke_for,
    code_to_session,
    row_from_session,
)
from pdp.models import AccessCode, AuditLog
from tests.factories import AssureFactory

pytestmark = pytest.mark.django_db

Purpose = AccessCode.Purpose
BIRTH = datetime.date(1980, 5, 17)
NOW = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=datetime.UTC)


def issue(purpose=Purpose.BOOKING, days=14, **kwargs):
    kwargs.setdefault("assure_id", 4242)
    return access_code_issue(
        purpose=purpose, expires_at=timezone.now() + datetime.timedelta(days=days), **kwargs
    )


def check(row, birth_date):
    return access_code_check_birth_date(row=row, birth_date=birth_date, actual_birth_date=BIRTH)


# --- The codes -------------------------------------------------------------------------------


def test_generated_codes_are_8_characters_of_the_alphabet():
    codes = {access_codes.generate() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(code) == 8 and set(code) <= set(access_codes.ALPHABET) for code in codes)
    assert not set("ILOU") & set(access_codes.ALPHABET)
    # 2000 codes × 8 characters use the whole alphabet: nothing is left out by mistake.
    assert set("".join(codes)) == set(access_codes.ALPHABET)


def test_issuing_returns_the_clear_code_and_stores_only_its_digest(ass):
    row, code = issue(acting_user=ass, object_type="cases.entretien", object_id=7)
    assert access_codes.is_well_formed(code)
    stored = AccessCode.objects.filter(pk=row.pk).values().get()
    assert code not in repr(stored)
    assert code.lower() not in repr(stored).lower()
    assert len(stored["digest"]) == 64
    assert (stored["created_by_id"], stored["object_type"], stored["object_id"]) == (
        ass.pk,
        "cases.entretien",
        "7",
    )


def test_a_digest_collision_draws_another_code(monkeypatch):
    first, first_code = issue()
    draws = iter([first_code, "ABCDEFGH"])
    monkeypatch.setattr(access_codes, "generate", lambda: next(draws))
    second, code = issue()
    assert code == "ABCDEFGH"
    assert second.pk != first.pk
    assert access_code_lookup(code="ABCDEFGH") == second


def test_a_code_must_expire_in_the_future():
    with pytest.raises(ValueError):
        issue(days=-1)


def test_the_display_groups_the_code_by_four():
    assert access_codes.display("ABCDEFGH") == "ABCD-EFGH"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcd-efgh", "ABCDEFGH"),
        (" ABCD EFGH ", "ABCDEFGH"),
        ("ABCD\u00a0EFGH", "ABCDEFGH"),
        ("O0Il-l1OO", "00111100"),
        ("", ""),
        (None, ""),
    ],
)
def test_what_a_person_types_is_normalised(typed, expected):
    assert access_codes.normalize(typed) == expected


def test_a_typed_code_with_look_alikes_dashes_and_lower_case_is_found(monkeypatch):
    monkeypatch.setattr(access_codes, "generate", lambda: "1100ABCD")
    row, code = issue()
    assert access_code_lookup(code="il-oo abcd") == row
    assert access_code_lookup(code=access_codes.display(code)) == row


# --- One answer for every invalid code -------------------------------------------------------


def test_a_valid_code_is_found():
    row, code = issue()
    assert access_code_lookup(code=code) == row


def _unknown(row, code):
    row.delete()


def _forged(row, code):
    return None


def _expired(row, code):
    AccessCode.objects.filter(pk=row.pk).update(expires_at=timezone.now())


def _revoked(row, code):
    access_code_revoke(row=row, acting_user=None)


def _used(row, code):
    assert access_code_use(row=row)


def _locked(row, code):
    for _ in range(access_codes.MAX_FAILED_CHECKS):
        check(row, datetime.date(1990, 1, 1))


@pytest.mark.parametrize(
    "spoil",
    [_unknown, _expired, _revoked, _used, _locked],
    ids=["unknown", "expired", "revoked", "used", "locked"],
)
def test_an_invalid_code_is_not_found(spoil):
    row, code = issue(Purpose.BOOKING)
    spoil(row, code)
    assert access_code_lookup(code=code) is None


@pytest.mark.parametrize("forged", ["ABCDEFGH", "ABCDEFG", "ABCDEFGHJ", "ABCD?FGH", "", "U" * 8])
def test_a_forged_code_is_not_found(forged):
    issue()
    assert access_code_lookup(code=forged) is None


def test_an_expired_code_is_refused_from_its_expiry_on():
    with time_machine.travel(NOW, tick=False):
        row, code = issue(days=1)
    with time_machine.travel(NOW + datetime.timedelta(days=1, seconds=-1), tick=False):
        assert access_code_lookup(code=code) == row
    with time_machine.travel(NOW + datetime.timedelta(days=1), tick=False):
        assert access_code_lookup(code=code) is None


def test_a_manage_code_serves_again_and_again_until_it_expires():
    row, code = issue(Purpose.MANAGE)
    for _ in range(3):
        assert access_code_lookup(code=code) == row
    with pytest.raises(ValueError):
        access_code_use(row=row)
    assert access_code_lookup(code=code) == row


def test_a_booking_code_is_spent_once():
    row, code = issue(Purpose.BOOKING)
    assert access_code_use(row=row) is True
    assert access_code_use(row=row) is False
    assert access_code_lookup(code=code) is None


def test_a_code_revoked_meanwhile_cannot_be_spent():
    row, _code = issue(Purpose.BOOKING)
    access_code_revoke(row=AccessCode.objects.get(pk=row.pk), acting_user=None)
    assert access_code_use(row=row) is False
    assert AccessCode.objects.get(pk=row.pk).used_at is None


def test_revoking_twice_revokes_once(ass):
    row, _code = issue()
    assert access_code_revoke(row=row, acting_user=ass) is True
    assert access_code_revoke(row=row, acting_user=ass) is False
    assert AuditLog.objects.filter(object_type="pdp.accesscode", changes__has_key="revoked_at")


def test_the_codes_of_an_object_are_revoked_together(ass):
    first, first_code = issue(Purpose.MANAGE, object_type="cases.entretien", object_id=7)
    second, second_code = issue(Purpose.MANAGE, object_type="cases.entretien", object_id="7")
    other, other_code = issue(Purpose.MANAGE, object_type="cases.entretien", object_id=8)
    assert access_codes_revoke_for(object_type="cases.entretien", object_id=7) == 2
    assert access_code_lookup(code=first_code) is None
    assert access_code_lookup(code=second_code) is None
    assert access_code_lookup(code=other_code) == other
    rows = AuditLog.objects.filter(object_type="pdp.accesscode", changes__has_key="revoked_at")
    assert sorted(rows.values_list("object_id", flat=True)) == sorted(
        [str(first.pk), str(second.pk)]
    )
    assert access_codes_revoke_for(object_type="cases.entretien", object_id=7) == 0


def test_the_codes_of_an_object_are_revoked_for_one_purpose_only_when_asked():
    booking, booking_code = issue(object_type="referrals.signalement", object_id=5)
    manage, manage_code = issue(Purpose.MANAGE, object_type="referrals.signalement", object_id=5)
    assert (
        access_codes_revoke_for(
            object_type="referrals.signalement", object_id=5, purpose=Purpose.BOOKING
        )
        == 1
    )
    assert access_code_lookup(code=booking_code) is None
    assert access_code_lookup(code=manage_code) == manage
    assert (
        access_codes_revoke_for(
            object_type="referrals.signalement",
            object_id=5,
            purpose=[Purpose.BOOKING, Purpose.MANAGE],
        )
        == 1
    )
    assert access_code_lookup(code=manage_code) is None


# --- Birth date ------------------------------------------------------------------------------


def test_the_right_birth_date_is_confirmed():
    row, _code = issue()
    assert check(row, BIRTH) is True
    assert row.failed_checks == 0


def test_a_wrong_birth_date_counts_against_the_code():
    row, code = issue()
    assert check(row, datetime.date(1980, 5, 18)) is False
    assert check(row, None) is False
    assert AccessCode.objects.get(pk=row.pk).failed_checks == 2
    assert access_code_lookup(code=code) == row


def test_the_fifth_wrong_birth_date_locks_the_code_for_good():
    row, code = issue()
    for _ in range(4):
        assert check(row, datetime.date(2000, 1, 1)) is False
    assert row.locked_at is None
    assert check(row, datetime.date(2000, 1, 1)) is False
    row.refresh_from_db()
    assert row.locked_at is not None
    assert row.failed_checks == 5
    # Locked: even the right date no longer opens it, and it no longer resolves.
    assert check(row, BIRTH) is False
    assert access_code_lookup(code=code) is None
    locks = AuditLog.objects.filter(object_id=str(row.pk), changes__has_key="locked_at")
    assert locks.count() == 1
    assert check(row, datetime.date(2000, 1, 1)) is False
    assert AccessCode.objects.get(pk=row.pk).failed_checks == 5


def test_a_right_birth_date_clears_earlier_mistakes():
    row, _code = issue(Purpose.MANAGE)
    for _ in range(4):
        check(row, datetime.date(2000, 1, 1))
    assert check(row, BIRTH) is True
    assert AccessCode.objects.get(pk=row.pk).failed_checks == 0
    assert check(row, datetime.date(2000, 1, 1)) is False
    assert AccessCode.objects.get(pk=row.pk).locked_at is None


# --- Secret key rotation ---------------------------------------------------------------------


def test_codes_issued_before_a_key_rotation_work_while_the_old_key_is_a_fallback(settings):
    settings.SECRET_KEY = "old-key-" + "x" * 40
    row, code = issue()
    settings.SECRET_KEY = "new-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = []
    assert access_code_lookup(code=code) is None
    settings.SECRET_KEY_FALLBACKS = ["other-key-" + "z" * 40, "old-key-" + "x" * 40]
    assert access_code_lookup(code=code) == row
    new_row, new_code = issue()
    assert access_code_lookup(code=new_code) == new_row
    settings.SECRET_KEY_FALLBACKS = []
    assert access_code_lookup(code=new_code) == new_row


# --- Audit -----------------------------------------------------------------------------------


def test_the_code_and_its_digest_are_never_written_to_the_audit_log(ass):
    codes, digests = [], []
    for purpose in (Purpose.BOOKING, Purpose.MANAGE):
        row, code = issue(purpose, acting_user=ass, object_type="cases.entretien", object_id=3)
        codes.append(code)
        digests.append(row.digest)
        for _ in range(5):
            check(row, datetime.date(2001, 1, 1))
    booking, booking_code = issue(Purpose.BOOKING)
    codes.append(booking_code)
    digests.append(booking.digest)
    access_code_use(row=booking)
    access_code_revoke(row=booking, acting_user=ass)
    access_codes_revoke_for(object_type="cases.entretien", object_id=3)
    logged = list(AuditLog.objects.filter(object_type="pdp.accesscode").values())
    assert len(logged) >= 7
    text = repr(logged)
    for secret in [*codes, *map(access_codes.display, codes), *digests]:
        assert secret not in text


def test_issuing_is_audited_with_the_person_and_the_issuer(ass):
    assure = AssureFactory()
    row, _code = issue(assure_id=assure.pk, acting_user=ass)
    logged = AuditLog.objects.get(object_type="pdp.accesscode", action=AuditLog.Action.CREATE)
    assert (logged.user, logged.object_id, logged.assure_id) == (ass, str(row.pk), assure.pk)
    assert logged.changes["purpose"] == [None, "booking"]


def test_the_admin_shows_neither_the_code_nor_its_digest(client, admin_user):
    row, code = issue(Purpose.MANAGE, object_type="cases.entretien", object_id=3)
    client.force_login(admin_user)
    for url in (
        reverse("admin:pdp_accesscode_changelist"),
        reverse("admin:pdp_accesscode_change", args=[row.pk]),
    ):
        page = client.get(url).content.decode()
        assert "Gérer un rendez-vous" in page
        assert code not in page
        assert row.digest not in page


# --- Session hand-off ------------------------------------------------------------------------


def _request(session=None):
    request = RequestFactory().get("/r/")
    request.session = session or SessionStore()
    return request


def test_the_session_holds_the_row_for_ten_minutes_without_the_code():
    with time_machine.travel(NOW, tick=False):
        row, code = issue()
        request = _request()
        request.session["before"] = 1
        request.session.save()
        old_key = request.session.session_key
        code_to_session(request, row)
        request.session.save()
        assert request.session.session_key != old_key
        assert code not in repr(dict(request.session))
        assert row.digest not in repr(dict(request.session))
    later = _request(SessionStore(request.session.session_key))
    with time_machine.travel(NOW + datetime.timedelta(minutes=9, seconds=59), tick=False):
        assert row_from_session(later) == row
    with time_machine.travel(NOW + datetime.timedelta(minutes=10), tick=False):
        assert row_from_session(later) is None
        assert access_codes.SESSION_KEY not in later.session


def test_the_session_forgets_a_code_revoked_meanwhile():
    row, _code = issue()
    request = _request()
    code_to_session(request, row)
    access_code_revoke(row=row, acting_user=None)
    assert row_from_session(request) is None


def test_an_empty_session_holds_no_row():
    assert row_from_session(_request()) is None


# --- Rate limit ------------------------------------------------------------------------------


@pytest.fixture
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def _from(address):
    return RequestFactory().get("/r/", REMOTE_ADDR=address)


def test_the_rate_limit_refuses_the_hit_after_the_limit(empty_cache):
    assert [ratelimit.hit("k", 3, 60) for _ in range(5)] == [True, True, True, False, False]
    assert ratelimit.hit("other", 3, 60) is True


def test_access_code_look_ups_are_limited_per_client_address(settings, empty_cache):
    settings.ACCESS_CODE_RATE_LIMIT = 30
    assert all(ratelimit.access_code_lookup_allowed(_from("203.0.113.5")) for _ in range(30))
    assert ratelimit.access_code_lookup_allowed(_from("203.0.113.5")) is False
    assert ratelimit.access_code_lookup_allowed(_from("203.0.113.6")) is True


def test_the_rate_limit_counts_the_address_the_trusted_proxy_saw(settings, empty_cache):
    settings.ACCESS_CODE_RATE_LIMIT = 2
    settings.TRUSTED_PROXY_COUNT = 1

    def via_proxy(client, forged):
        return RequestFactory().get(
            "/r/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"{forged}, {client}"
        )

    # A client that forges the first entry of X-Forwarded-For is still counted by its address.
    assert ratelimit.access_code_lookup_allowed(via_proxy("203.0.113.5", "1.1.1.1"))
    assert ratelimit.access_code_lookup_allowed(via_proxy("203.0.113.5", "2.2.2.2"))
    assert not ratelimit.access_code_lookup_allowed(via_proxy("203.0.113.5", "3.3.3.3"))
    assert ratelimit.access_code_lookup_allowed(via_proxy("203.0.113.9", "3.3.3.3"))


def test_the_rate_limit_window_ends(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with time_machine.travel(NOW, tick=False):
        assert ratelimit.hit("window", 1, 60) is True
        assert ratelimit.hit("window", 1, 60) is False
    with time_machine.travel(NOW + datetime.timedelta(seconds=59), tick=False):
        assert ratelimit.hit("window", 1, 60) is False
    with time_machine.travel(NOW + datetime.timedelta(seconds=61), tick=False):
        assert ratelimit.hit("window", 1, 60) is True


def test_the_rate_limit_keeps_no_address_in_clear(empty_cache):
    ratelimit.access_code_lookup_allowed(_from("203.0.113.77"))
    assert cache.get(ratelimit._cache_key("access-code:203.0.113.77")) == 1
    assert cache.get("access-code:203.0.113.77") is None


def test_the_rate_limit_message_is_french():
    assert "Trop de tentatives" in ratelimit.RATE_LIMIT_MESSAGE


# --- Two requests at once (PostgreSQL, two connections) --------------------------------------


def _race(target, count=2):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=5)
            results.append(target())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_spending_one_code_at_once_make_one_winner():
    row, code = issue(Purpose.BOOKING)
    results = _race(lambda: access_code_use(row=AccessCode.objects.get(pk=row.pk)), count=4)
    assert sorted(results) == [False, False, False, True]
    assert access_code_lookup(code=code) is None
    assert AuditLog.objects.filter(object_id=str(row.pk), changes__has_key="used_at").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_wrong_birth_dates_at_once_lock_the_code_once():
    row, _code = issue()
    AccessCode.objects.filter(pk=row.pk).update(failed_checks=3)
    results = _race(lambda: check(AccessCode.objects.get(pk=row.pk), datetime.date(2000, 1, 1)), 3)
    assert results == [False, False, False]
    row.refresh_from_db()
    assert row.failed_checks == 5
    assert row.locked_at is not None
    assert AuditLog.objects.filter(object_id=str(row.pk), changes__has_key="locked_at").count() == 1
