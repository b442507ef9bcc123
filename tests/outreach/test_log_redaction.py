"""No access code in a server log line: the development server's request log, Django's request
warnings and gunicorn's access log (the real gunicorn, in a subprocess)."""

import io
import logging
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from pdp.logging import MASK, redact_codes

CODE = "K7QM2XPV"
ROOT = Path(__file__).resolve().parents[2]


def test_a_code_in_a_path_is_masked():
    assert redact_codes(f'"GET /r/{CODE}/ HTTP/1.1" 302 0') == f'"GET /r/{MASK}/ HTTP/1.1" 302 0'
    assert redact_codes("GET /r/ HTTP/1.1") == "GET /r/ HTTP/1.1"  # the page to type a code
    assert redact_codes(f"/r/{CODE}") == f"/r/{MASK}"


@pytest.mark.parametrize("logger_name", ["django.server", "django.request"])
def test_the_configured_loggers_mask_codes(logger_name):
    """The settings filter these loggers: every handler a record reaches sees it masked."""
    logger = logging.getLogger(logger_name)
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    logger.addHandler(capture)
    try:
        logger.warning('"%s" %s %s', f"GET /r/{CODE}/ HTTP/1.1", "302", "0")
    finally:
        logger.removeHandler(capture)
    written = stream.getvalue()
    assert "/r/" in written
    assert CODE not in written


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_log_holds_no_code(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn runs in another process: it needs the PostgreSQL test database")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists() and not shutil.which("gunicorn"):
        pytest.skip("gunicorn n'est pas installé")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    port = _free_port()
    log = tmp_path / "access.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": url,
        "DEBUG": "1",
        "SECRET_KEY": "test-" * 12,
        "ENV_FILE": str(tmp_path / "none.env"),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [
            str(gunicorn),
            "pdp.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(log),
            "--logger-class",
            "pdp.gunicorn_logging.RedactingLogger",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(f"http://127.0.0.1:{port}/r/{CODE}/", timeout=10)
        except urllib.error.HTTPError as answer:
            assert answer.code == 302  # to the page without the code
        for _ in range(50):
            if log.exists() and "/r/" in log.read_text():
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
    written = log.read_text()
    assert f"/r/{MASK}/" in written
    assert CODE not in written
