"""Passwords: 12 characters at least; the « Mot de passe » page changes the signed-in user's
password through an audited service."""

import pytest
from django.urls import reverse

from pdp.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "motdepasse-test"
LOGIN = reverse("login")


def change_password(client, new, old=PASSWORD):
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


def test_the_password_change_page_needs_a_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


def test_a_password_needs_12_characters(client, ass):
    client.force_login(ass)
    response = change_password(client, "Court-2026x")  # 11 characters
    assert response.status_code == 200
    assert "au minimum 12 caractères" in response.content.decode()
    ass.refresh_from_db()
    assert ass.check_password(PASSWORD)
    assert change_password(client, "Assez-long-26").status_code == 302  # 13 characters


def test_a_password_change_is_audited_without_the_password(client, ass):
    client.force_login(ass)
    response = change_password(client, "Un-nouveau-mot-2026")
    assert response.status_code == 302
    assert response.url == reverse("password_change_done")
    ass.refresh_from_db()
    assert ass.check_password("Un-nouveau-mot-2026")
    row = AuditLog.objects.get(object_type="pdp.user", object_id=str(ass.pk))
    assert row.user == ass
    assert row.action == AuditLog.Action.UPDATE
    assert row.changes == {"password": ["(masqué)", "(masqué)"]}
    assert "Un-nouveau-mot-2026" not in str(row.changes)
    assert ass.password not in str(row.changes)
    # Still signed in on this browser.
    assert client.get(reverse("cases:dashboard")).status_code == 200


def test_a_refused_password_change_writes_no_audit_row(client, ass):
    client.force_login(ass)
    response = change_password(client, "Un-nouveau-mot-2026", old="pas-le-bon-mot")
    assert response.status_code == 200
    assert not AuditLog.objects.filter(object_type="pdp.user").exists()


def test_other_users_sessions_end_when_the_password_changes(client, ass):
    other = type(client)()
    other.force_login(ass)
    assert other.get(reverse("cases:dashboard")).status_code == 200
    client.force_login(ass)
    change_password(client, "Un-nouveau-mot-2026")
    assert other.get(reverse("cases:dashboard")).status_code == 302
    assert client.get(reverse("cases:dashboard")).status_code == 200


def test_the_page_changes_the_signed_in_users_password_only(client, ass):
    # The page only ever changes the signed-in user's password.
    someone = UserFactory(unit=ass.unit)
    client.force_login(ass)
    change_password(client, "Un-nouveau-mot-2026")
    someone.refresh_from_db()
    assert someone.check_password(PASSWORD)
