"""The load balancer's health check `/sante/` (pdp.health; README « Production »)."""

import json

import pytest
from django.db import OperationalError
from django.urls import reverse

from pdp import health
from pdp.gunicorn_logging import HEALTH_PATH
from pdp.models import AuditLog

pytestmark = pytest.mark.django_db


def test_it_answers_ok_without_login_session_or_cookie(client, settings):
    settings.OTP_REQUIRED = True  # no second factor asked either
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    expected = {"status": "ok", "database": "ok"}
    if settings.REDIS_URL:
        expected["redis"] = "ok"
    assert json.loads(response.content) == expected
    assert not response.cookies  # no session, no CSRF cookie
    assert "no-store" in response["Cache-Control"]
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert not AuditLog.objects.exists()


def test_it_is_the_path_gunicorn_leaves_out_of_its_access_log():
    assert reverse("health") == HEALTH_PATH


def test_a_database_failure_is_a_503_naming_it(client, monkeypatch):
    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "_database", down)
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "error" and body["database"] == "error"
    assert "refused" not in response.content.decode()  # the details stay in the log


def test_an_unreachable_redis_is_a_503_naming_it_quickly(client, settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(health, "_redis", None)
    response = client.get(reverse("health"))
    monkeypatch.setattr(health, "_redis", None)
    assert response.status_code == 503
    assert json.loads(response.content) == {
        "status": "error",
        "database": "ok",
        "redis": "error",
    }


def test_only_get(client):
    assert client.post(reverse("health")).status_code == 405
