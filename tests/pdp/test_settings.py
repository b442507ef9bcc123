import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    # A clean environment: nothing from the test process (test settings, async flags…).
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    # ENV_FILE: not the developer's `.env` written by `make run` (DEBUG=1, a SECRET_KEY).
    clean.update(DJANGO_SETTINGS_MODULE="pdp.settings", ENV_FILE=os.devnull, **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_a_production_configuration_passes_check_deploy_without_warnings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(60)
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_the_secret_key_is_mandatory_when_debug_is_off():
    result = _manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_pages_are_french_whatever_language_the_browser_asks_for(client, ass):
    client.force_login(ass)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9", follow=True)
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "fr"
