"""Sessions end after 30 minutes without a request (issue 14, item 4); the signed-in pages warn
5 minutes before (static/js/session-timeout.js) and « Rester connecté » pushes the expiry."""

import datetime

import pytest
import time_machine
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from pdp import session_idle
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
PAGE = reverse("password_change")  # a page every signed-in user can open
KEEPALIVE = reverse("session_keepalive")
EXPIRED = reverse("session_expired")
LOGIN = reverse("login")


def seconds_left(client):
    return session_idle.seconds_left(client.session)


def minutes(n):
    return datetime.timedelta(minutes=n)


@pytest.fixture
def signed_in(client):
    client.force_login(UserFactory())
    return client


def test_the_settings():
    assert settings.SESSION_IDLE_MINUTES == 30
    assert settings.SESSION_WARNING_MINUTES == 5
    # The stored session lives longer, for the assurés' anonymous sessions of the public pages.
    assert settings.SESSION_COOKIE_AGE >= 60 * 60
    assert settings.SESSION_TOUCH_SECONDS <= 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True


def test_a_request_after_31_idle_minutes_goes_to_the_login_page(client):
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(UserFactory())
        assert client.get(PAGE).status_code == 200
        traveller.shift(minutes(31))
        response = client.get(PAGE)
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


def test_activity_every_20_minutes_keeps_the_session(client):
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(UserFactory())
        traveller.shift(minutes(20))
        assert client.get(PAGE).status_code == 200
        traveller.shift(minutes(20))  # 40 minutes after the login, 20 after the last request
        assert client.get(PAGE).status_code == 200


def test_the_keepalive_pushes_the_expiry(client):
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(UserFactory())
        traveller.shift(minutes(26))
        response = client.post(KEEPALIVE)
        assert response.status_code == 204
        assert seconds_left(client) == 30 * 60
        traveller.shift(minutes(26))
        assert client.get(PAGE).status_code == 200


def test_the_keepalive_needs_a_login_and_a_post(signed_in):
    response = Client().post(KEEPALIVE)
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)
    assert signed_in.get(KEEPALIVE).status_code == 405


def test_the_keepalive_checks_the_csrf_token():
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory())
    assert strict.post(KEEPALIVE).status_code == 403


def test_the_expired_page_signs_out_and_says_why(client):
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(UserFactory())
        traveller.shift(minutes(31))
        response = client.get(EXPIRED, {"next": PAGE})
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next=%2Faccounts%2Fpassword%2F"
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == ["Votre session a expiré après 30 minutes d'inactivité."]
    page = client.get(response.url)
    assert "Votre session a expiré après 30 minutes d&#x27;inactivité." in page.content.decode()


def test_the_expired_page_refuses_a_foreign_next(client):
    response = client.get(EXPIRED, {"next": "https://example.org/"})
    assert response.url == LOGIN


def test_the_expired_page_leaves_a_live_session_alone(signed_in):
    response = signed_in.get(EXPIRED, {"next": PAGE})
    assert response.url == PAGE
    assert signed_in.get(PAGE).status_code == 200


def test_the_expiry_is_pushed_at_most_once_a_minute(client):
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(UserFactory())
        traveller.shift(datetime.timedelta(seconds=40))
        client.get(PAGE)
        assert seconds_left(client) == 30 * 60 - 40
        traveller.shift(datetime.timedelta(seconds=40))
        client.get(PAGE)
        assert seconds_left(client) == 30 * 60


def test_the_page_gives_the_script_the_time_left(client):
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(UserFactory())
        traveller.shift(datetime.timedelta(seconds=40))  # no push yet: 40 s are gone
        page = client.get(PAGE).content.decode()
    assert 'data-idle-seconds="1760"' in page


def test_signed_in_pages_carry_the_script_and_its_values(client):
    with time_machine.travel(START, tick=False):
        client.force_login(UserFactory())
        page = client.get(PAGE).content.decode()
    assert "js/session-timeout.js" in page
    assert 'role="alertdialog"' in page
    assert 'data-idle-seconds="1800"' in page
    assert 'data-warning-seconds="300"' in page
    assert 'data-session-seconds="1800"' in page
    assert 'data-touch-seconds="60"' in page
    assert f'data-keepalive-url="{KEEPALIVE}"' in page
    assert f'data-expired-url="{EXPIRED}"' in page
    assert "Votre session va expirer dans 5 minutes faute d'activité." in " ".join(page.split())
    assert "Rester connecté" in page


def test_anonymous_pages_do_not(client):
    page = client.get(LOGIN).content.decode()
    assert "session-timeout" not in page
    assert "data-idle-seconds" not in page
