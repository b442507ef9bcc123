"""Brute-force protection (django-axes): an account, and an address, are locked after repeated
failed logins, on the site's and the admin's login pages, with a French page."""

import datetime

import pytest
import time_machine
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from pdp.middleware import client_ip

pytestmark = pytest.mark.django_db

PASSWORD = "motdepasse-test"
LOGIN = reverse("login")


def attempt(client, username, password, url=LOGIN, ip="192.0.2.10"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client, username, times, **kwargs):
    for _ in range(times):
        response = attempt(client, username, "pas-le-bon-mot", **kwargs)
    return response


def is_locked_out(response):
    page = response.content.decode()
    return response.status_code == 429 and "Connexion bloquée" in page


# --- Brute force ---------------------------------------------------------------------------


def test_the_limit_is_between_5_and_10_failures_for_30_minutes():
    assert 5 <= settings.AXES_FAILURE_LIMIT <= 10
    assert datetime.timedelta(minutes=30) == settings.AXES_COOLOFF_TIME
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_a_few_wrong_passwords_then_the_right_one_logs_in(client, ass):
    response = fail(client, ass.username, settings.AXES_FAILURE_LIMIT - 1)
    assert response.status_code == 200  # the form again, with Django's French error
    assert "Saisissez un identifiant et un mot de passe valides" in response.content.decode()
    response = attempt(client, ass.username, PASSWORD)
    assert response.status_code == 302
    assert response.wsgi_request.user == ass


def test_after_repeated_failures_even_the_right_password_is_refused_in_french(client, ass):
    locked = fail(client, ass.username, settings.AXES_FAILURE_LIMIT)
    assert is_locked_out(locked)
    response = attempt(client, ass.username, PASSWORD)
    assert is_locked_out(response)
    page = response.content.decode()
    assert "Trop de tentatives de connexion ont échoué" in page
    assert "pendant 30\u00a0minutes" in page
    assert "PDP · Service social" in page  # in the site's layout
    assert reverse("login") in page  # a way back
    assert not response.wsgi_request.user.is_authenticated
    assert client.get(reverse("home")).status_code == 302


def test_the_account_is_locked_from_any_address(client, ass):
    fail(client, ass.username, settings.AXES_FAILURE_LIMIT, ip="192.0.2.10")
    assert is_locked_out(attempt(client, ass.username, PASSWORD, ip="198.51.100.7"))


def test_the_address_is_locked_for_every_account(client, ass, colleague):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"inconnu{n}", "pas-le-bon-mot")  # password spraying
    assert is_locked_out(attempt(client, colleague.username, PASSWORD))
    # Another address, another account: not concerned.
    response = attempt(client, colleague.username, PASSWORD, ip="198.51.100.7")
    assert response.status_code == 302


def test_a_success_does_not_reset_the_count_of_the_address(client, ass, colleague):
    # Otherwise a colleague's own login would let them go on guessing someone else's password.
    fail(client, ass.username, settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, colleague.username, PASSWORD).status_code == 302
    client.logout()
    assert is_locked_out(fail(client, ass.username, 1))


def test_the_lock_ends_after_the_cool_off(client, ass):
    fail(client, ass.username, settings.AXES_FAILURE_LIMIT)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=31)):
        response = attempt(client, ass.username, PASSWORD)
    assert response.status_code == 302


def test_the_admin_login_is_locked_too(client, admin_user):
    url = reverse("admin:login")
    fail(client, admin_user.username, settings.AXES_FAILURE_LIMIT, url=url)
    response = attempt(client, admin_user.username, PASSWORD, url=url)
    assert is_locked_out(response)
    assert client.get(reverse("admin:index")).status_code == 302


def test_behind_a_proxy_the_address_written_by_the_proxy_counts(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5"
    )
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.5"  # never the forgeable 6.6.6.6
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "6.6.6.6"
    settings.TRUSTED_PROXY_COUNT = 3  # misconfigured: fall back on the connection
    assert client_ip(request) == "10.0.0.2"
