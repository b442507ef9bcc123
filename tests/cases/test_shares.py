"""Explicit shares of a case's content (domain §11): reason, end date, audited, revocable."""

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from cases import services
from cases.models import Accompagnement, CaseEvent, CaseShare
from cases.permissions import can_read_case_content, get_accompagnement_for_user
from pdp.models import AuditLog
from referrals.models import Assure
from tests.factories import AccompagnementFactory, UserFactory

TODAY = datetime.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime.datetime(2026, 3, 10, 10, 0), tick=False):
        yield


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass)


def _share(case, user, *, by=None, days=30, reason="absence"):
    return services.case_share(
        accompagnement=case,
        acting_user=by or case.referent,
        user=user,
        reason=reason,
        date_fin=TODAY + datetime.timedelta(days=days),
        comment="Congés",
    )


def _reads(user, case):
    return can_read_case_content(user, get_accompagnement_for_user(user, case.pk))


def test_the_referent_shares_with_a_colleague_who_then_reads_the_content(case, colleague):
    assert not _reads(colleague, case)
    share = _share(case, colleague)
    assert (share.user, share.reason, share.date_fin) == (
        colleague,
        "absence",
        TODAY + datetime.timedelta(days=30),
    )
    assert _reads(colleague, case)
    event = CaseEvent.objects.get(accompagnement=case, kind=CaseEvent.Kind.SHARE)
    assert str(colleague) in event.summary and "09/04/2026" in event.summary
    assert event.actor == case.referent
    assert AuditLog.objects.filter(
        user=case.referent, object_id=str(case.pk), changes__event="share"
    ).exists()


def test_a_share_ends_by_itself_after_its_end_date(case, colleague):
    _share(case, colleague, days=2)
    with time_machine.travel(datetime.datetime(2026, 3, 12, 20, 0), tick=False):
        assert _reads(colleague, case)
    with time_machine.travel(datetime.datetime(2026, 3, 13, 8, 0), tick=False):
        assert not _reads(colleague, case)


def test_the_manager_revokes_a_share_and_it_is_recorded(case, colleague, manager):
    share = _share(case, colleague)
    services.case_share_revoke(share=share, acting_user=manager)
    share.refresh_from_db()
    assert share.revoked_by == manager and share.revoked_at is not None
    assert not _reads(colleague, case)
    assert CaseEvent.objects.filter(kind="share", summary__contains="retiré").count() == 1
    with pytest.raises(ValidationError, match="déjà retiré"):
        services.case_share_revoke(share=share, acting_user=manager)
    # A new share may be given once the previous one is revoked.
    assert _share(case, colleague).pk != share.pk


def test_an_ass_of_another_unit_sees_the_shared_case_and_its_person_only(case, outsider):
    other_case = AccompagnementFactory(referent=case.referent)
    with pytest.raises(Exception):  # noqa: B017 — Http404 before the share
        get_accompagnement_for_user(outsider, case.pk)
    _share(case, outsider, reason="changement_unite")
    assert list(Accompagnement.objects.visible_to(outsider)) == [case]
    assert list(Assure.objects.visible_to(outsider)) == [case.assure]
    assert _reads(outsider, case)
    assert other_case not in Accompagnement.objects.visible_to(outsider)


@pytest.mark.parametrize("giver", ["colleague", "conseiller", "outsider"])
def test_only_the_referent_and_the_manager_share(request, case, giver):
    beneficiary = UserFactory(ass=True, unit=case.unit)
    with pytest.raises(PermissionDenied):
        _share(case, beneficiary, by=request.getfixturevalue(giver))
    assert not CaseShare.objects.exists()


def test_a_beneficiary_does_not_share_onwards(case, colleague):
    _share(case, colleague)
    third = UserFactory(ass=True, unit=case.unit)
    with pytest.raises(PermissionDenied):
        _share(case, third, by=colleague)


@pytest.mark.parametrize(
    ("days", "message"),
    [(-1, "passée"), (367, "au plus un an")],
)
def test_the_end_date_is_today_or_later_and_within_a_year(case, colleague, days, message):
    with pytest.raises(ValidationError, match=message):
        _share(case, colleague, days=days)
    assert not CaseShare.objects.exists()


def test_a_share_names_an_active_ass_other_than_the_referent(case, conseiller, ass):
    inactive = UserFactory(ass=True, unit=case.unit, is_active=False)
    for user in (conseiller, ass, inactive):
        with pytest.raises(ValidationError):
            _share(case, user)
    assert not CaseShare.objects.exists()


def test_the_same_person_is_not_given_two_shares_at_once(case, colleague):
    _share(case, colleague)
    with pytest.raises(ValidationError, match="déjà partagé"):
        _share(case, colleague, days=60)
    assert CaseShare.objects.count() == 1


def test_a_closed_case_is_not_shared(case, colleague):
    services.case_close(
        accompagnement=case, acting_user=case.referent, outcome="autre", date_cloture=TODAY
    )
    with pytest.raises(ValidationError, match="clôturé"):
        _share(case, colleague)


# --- Pages ------------------------------------------------------------------------------------


def _url(name, *args):
    return reverse(f"cases:{name}", args=args)


def test_the_share_page_follows_the_rules(client, case, colleague, outsider, conseiller):
    target = _url("case_share_create", case.pk)
    assert client.get(target).status_code == 302
    client.force_login(outsider)
    assert client.get(target).status_code == 404
    for user in (colleague, conseiller):
        client.force_login(user)
        assert client.get(target).status_code == 403
        assert client.post(target, {"user": user.pk}).status_code == 403
    assert not CaseShare.objects.exists()


def test_the_referent_shares_from_the_case_page(client, case, colleague, outsider):
    client.force_login(case.referent)
    page = client.get(_url("accompagnement_detail", case.pk)).content.decode()
    assert _url("case_share_create", case.pk) in page
    form = client.get(_url("case_share_create", case.pk)).context["form"]
    choices = {pk.value for pk, _ in form.fields["user"].choices if pk}
    assert {colleague.pk, outsider.pk} <= choices  # any unit of the region
    assert case.referent.pk not in choices
    response = client.post(
        _url("case_share_create", case.pk),
        {"user": colleague.pk, "reason": "co_accompagnement", "date_fin": "2026-04-30"},
    )
    assert response.status_code == 302
    share = CaseShare.objects.get()
    assert (share.user, share.reason, share.date_fin) == (
        colleague,
        "co_accompagnement",
        datetime.date(2026, 4, 30),
    )
    page = client.get(_url("accompagnement_detail", case.pk)).content.decode()
    assert "Partages en cours" in page and "30/04/2026" in page
    assert _url("case_share_revoke", case.pk, share.pk) in page


def test_a_past_end_date_is_refused_next_to_the_field(client, case, colleague):
    client.force_login(case.referent)
    response = client.post(
        _url("case_share_create", case.pk),
        {"user": colleague.pk, "reason": "absence", "date_fin": "2026-03-01"},
    )
    assert response.status_code == 200
    assert "ne peut pas être passée" in response.content.decode()
    assert not CaseShare.objects.exists()


def test_revoking_needs_the_referent_or_the_manager(client, case, colleague, manager):
    share = _share(case, colleague)
    target = _url("case_share_revoke", case.pk, share.pk)
    client.force_login(colleague)
    assert client.post(target).status_code == 403
    client.force_login(manager)
    assert client.get(target).status_code == 405
    response = client.post(target)
    assert response.status_code == 302
    share.refresh_from_db()
    assert share.revoked_by == manager


def test_a_share_of_another_case_cannot_be_revoked_through_this_one(client, case, colleague):
    other = AccompagnementFactory(referent=case.referent)
    share = _share(other, colleague)
    client.force_login(case.referent)
    assert client.post(_url("case_share_revoke", case.pk, share.pk)).status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
