"""« Qui a consulté ce dossier » (issue 14, item 1) and the append-only access log."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.views_access import PAGE_NAME
from pdp.audit import audit, audit_many
from pdp.models import AuditLog, AuditLogImmutableError, Role
from tests.factories import AccompagnementFactory, SignalementFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass)


@pytest.fixture
def person(case):
    return case.assure


def url(person, **query):
    base = reverse("cases:assure_access_history", args=[person.pk])
    if query:
        base += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return base


def _read(user, person, action=AuditLog.Action.VIEW):
    return audit(user=user, action=action, obj=person, assure_id=person.pk)


def _fill(person, user, n):
    audit_many(
        user=user,
        action=AuditLog.Action.VIEW,
        model=type(person),
        entries=[(person.pk, person.pk, {}) for _ in range(n)],
    )


def test_the_referent_sees_who_read_the_file_with_names_and_roles(client, ass, conseiller, person):
    conseiller.first_name, conseiller.last_name = "Camille", "Lefebvre"
    conseiller.save()
    _read(conseiller, person)
    client.force_login(ass)
    response = client.get(url(person))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Qui a consulté ce dossier" in body
    assert "Camille Lefebvre" in body
    assert Role.CONSEILLER.label in body
    assert "Consultation" in body
    # The object type in French (the model's verbose name), not « referrals.assure ».
    assert "Assuré" in body
    assert "referrals.assure" not in body


def test_the_person_page_links_to_it_for_the_referent_only(client, ass, conseiller, person):
    link = url(person)
    client.force_login(ass)
    assert link in client.get(reverse("cases:assure_detail", args=[person.pk])).content.decode()
    client.force_login(conseiller)
    page = client.get(reverse("cases:assure_detail", args=[person.pk])).content.decode()
    assert link not in page


def test_the_unit_manager_sees_it(client, manager, person):
    client.force_login(manager)
    assert client.get(url(person)).status_code == 200


def test_the_manager_of_a_unit_with_only_a_referral_sees_it(client, unit, manager):
    referral = SignalementFactory(unit=unit)
    client.force_login(manager)
    assert client.get(url(referral.assure)).status_code == 200


@pytest.mark.parametrize("who", ["conseiller", "colleague"])
def test_other_staff_of_the_unit_are_refused(client, request, who, person):
    client.force_login(request.getfixturevalue(who))
    response = client.get(url(person))
    assert response.status_code == 403


def test_a_user_of_another_unit_gets_404(client, outsider, person):
    client.force_login(outsider)
    assert client.get(url(person)).status_code == 404


def test_an_administrator_sees_no_individual_record_here(client, admin_user, person):
    client.force_login(admin_user)
    assert client.get(url(person)).status_code == 404


def test_anonymous_is_sent_to_the_login_page(client, person):
    response = client.get(url(person))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_page_writes_its_own_read_row(client, ass, person):
    client.force_login(ass)
    client.get(url(person))
    (row,) = AuditLog.objects.filter(user=ass, assure_id=person.pk)
    assert row.action == AuditLog.Action.VIEW
    assert row.object_type == "referrals.assure"
    assert row.changes == {"page": PAGE_NAME}


def test_newest_first_and_paginated_by_50(client, ass, colleague, person):
    _fill(person, colleague, 60)
    client.force_login(ass)
    first = client.get(url(person))
    rows = list(first.context["page_obj"])
    assert len(rows) == 50
    assert first.context["page_obj"].paginator.count == 61  # with the read of this page
    assert rows[0].user == ass  # its own read, the newest
    assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)
    second = client.get(url(person, page=2))
    assert len(second.context["page_obj"]) == 12  # 60 + 2 reads of the page


def test_filter_by_action(client, ass, colleague, person):
    _read(colleague, person)
    _read(colleague, person, AuditLog.Action.UPDATE)
    _read(colleague, person, AuditLog.Action.EXPORT)
    client.force_login(ass)
    response = client.get(url(person, action="update"))
    assert [r.action for r in response.context["page_obj"]] == ["update"]
    assert 'value="update" selected' in response.content.decode()
    # An unknown action is ignored: everything is listed.
    response = client.get(url(person, action="bogus"))
    assert response.context["page_obj"].paginator.count == 5


def test_queries_do_not_grow_with_the_rows(client, ass, person):
    client.force_login(ass)
    other = UserFactory(ass=True, unit=ass.unit)
    _fill(person, other, 1)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url(person)).status_code == 200
    for _ in range(59):
        _fill(person, UserFactory(conseiller=True, unit=ass.unit), 1)
    with CaptureQueriesContext(connection) as sixty:
        assert client.get(url(person)).status_code == 200
    assert len(sixty.captured_queries) == len(one.captured_queries)


def test_rows_of_another_person_are_not_shown(client, ass, colleague, person):
    stranger = AccompagnementFactory(referent=colleague).assure
    _read(colleague, stranger)
    client.force_login(ass)
    response = client.get(url(person))
    assert all(r.assure_id == person.pk for r in response.context["page_obj"])


# --- The log is append-only ------------------------------------------------------------------


def test_an_existing_row_cannot_be_saved_again_nor_deleted(ass, person):
    row = _read(ass, person)
    row.action = AuditLog.Action.DELETE
    with pytest.raises(AuditLogImmutableError):
        row.save()
    with pytest.raises(AuditLogImmutableError):
        row.delete()
    row.refresh_from_db()
    assert row.action == AuditLog.Action.VIEW


def test_the_queryset_refuses_update_and_delete(ass, person):
    _read(ass, person)
    with pytest.raises(AuditLogImmutableError):
        AuditLog.objects.filter(user=ass).update(action="delete")
    with pytest.raises(AuditLogImmutableError):
        AuditLog.objects.all().delete()
    with pytest.raises(AuditLogImmutableError):
        AuditLog.objects.filter(user=ass).delete()
    assert AuditLog.objects.get().action == AuditLog.Action.VIEW


def test_the_purge_removes_only_the_old_rows(ass, person):
    # A row written 400 days ago (the log cannot be back-dated: the clock is).
    with time_machine.travel(timezone.now() - datetime.timedelta(days=400)):
        _read(ass, person)
    recent = _read(ass, person)
    assert AuditLog.objects.purge_older_than(365) == 1
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert AuditLog.objects.purge_older_than(365) == 0


def test_deleting_a_user_keeps_their_rows(ass, colleague, person):
    row = _read(colleague, person)
    colleague.delete()
    row.refresh_from_db()
    assert row.user_id is None
    assert AuditLog.objects.filter(pk=row.pk, assure_id=person.pk).exists()


def test_a_row_without_user_is_shown_as_such(client, ass, colleague, person):
    _read(colleague, person)
    colleague.delete()
    client.force_login(ass)
    assert "Compte supprimé" in client.get(url(person)).content.decode()
