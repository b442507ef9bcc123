"""The accounts of the cellule PDP's partner members (« Partenaire (membre d'instance) ») are made
in the admin (a coordinator then adds the account to an instance): the password rules, the
login lockout and the second factor hold for them as for the staff (issue 14)."""

import time

import pytest
from django.conf import settings
from django.urls import reverse
from django_otp.oath import TOTP

from pdp import models as pm
from pdp import two_factor
from tests.factories import InstanceFactory, MembreFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "motdepasse-test"


@pytest.fixture
def administrateur(db):
    return UserFactory(role=pm.Role.ADMIN, unit=None, is_staff=True)


@pytest.fixture
def partner(db):
    return UserFactory(partenaire=True, username="paul.lambert")


def add_partner_account(client, password):
    return client.post(
        reverse("admin:pdp_user_add"),
        {
            "username": "claire.martin",
            "usable_password": "true",
            "password1": password,
            "password2": password,
            "first_name": "Claire",
            "last_name": "Martin",
            "email": "claire.martin@capemploi.example",
            "role": pm.Role.PARTENAIRE,
            "unit": "",
            "region": "",
        },
    )


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Court-2026x", "au minimum 12 caractères"),
        ("claire.martin1", "trop semblable"),
        ("1qaz2wsx3edc", "trop courant"),
        ("202620262026", "entièrement numérique"),
    ],
)
def test_a_partner_account_is_refused_a_weak_password(client, administrateur, password, message):
    client.force_login(administrateur)
    response = add_partner_account(client, password)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not pm.User.objects.filter(username="claire.martin").exists()


def test_a_partner_account_with_a_good_password_is_made(client, administrateur):
    client.force_login(administrateur)
    response = add_partner_account(client, "Cap-emploi-Rouen-2026")
    assert response.status_code == 302, response.content.decode()
    user = pm.User.objects.get(username="claire.martin")
    assert user.role == pm.Role.PARTENAIRE
    assert user.check_password("Cap-emploi-Rouen-2026")


def test_the_admin_refuses_a_weak_new_password_for_a_partner(client, administrateur, partner):
    client.force_login(administrateur)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[partner.pk]),
        {"password1": "court", "password2": "court", "usable_password": "true"},
    )
    assert response.status_code == 200
    assert "au minimum 12 caractères" in response.content.decode()
    partner.refresh_from_db()
    assert partner.check_password(PASSWORD)


def test_a_partner_changing_their_password_follows_the_rules(client, partner):
    client.force_login(partner)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "paul.lambert",
            "new_password2": "paul.lambert",
        },
    )
    assert response.status_code == 200
    partner.refresh_from_db()
    assert partner.check_password(PASSWORD)


def test_a_partner_account_is_locked_after_repeated_failures(client, partner):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": partner.username, "password": "non"})
    response = client.post(reverse("login"), {"username": partner.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Connexion bloquée" in response.content.decode()


def test_a_partner_member_gives_the_second_factor_before_their_meetings(client, partner, settings):
    settings.OTP_REQUIRED = True
    MembreFactory(instance=InstanceFactory(), user=partner, contact=None)
    key = two_factor.new_key()
    two_factor.two_factor_enrol(user=partner, key=key, last_step=0, acting_user=partner)
    client.post(reverse("login"), {"username": partner.username, "password": PASSWORD})
    meetings = reverse("coordination:mes_reunions")
    response = client.get(meetings)
    assert response.status_code == 302
    assert response.url.startswith(reverse("two_factor_verify"))
    totp = TOTP(bytes.fromhex(key))
    totp.time = time.time()
    client.post(reverse("two_factor_verify"), {"otp_token": f"{totp.token():06d}"})
    assert client.get(meetings).status_code == 200
