"""Production settings for scale (issue 15, item 6; README « Production »): the database
settings of each process role and of PgBouncer's transaction mode, no session-level state in
the code, the Celery queues and their workers in the Procfile, gunicorn's configuration."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
from django.db import connection

from pdp.celery import app
from privacy import retention

ROOT = Path(__file__).resolve().parents[2]
QUEUES = {"interactif", "envois", "imports", "stats"}


def _python(code, **env):
    """Runs `code` after django.setup() in a clean environment (production settings)."""
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "pdp.settings",
        "ENV_FILE": os.devnull,
        "DEBUG": "1",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def _database_settings(**env):
    code = "from django.conf import settings; import json\n"
    code += "print(json.dumps(settings.DATABASES, default=str))"
    result = _python(code, DATABASE_URL="postgres://pdp@127.0.0.1:5432/pdp", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- Database settings by role ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "statement", "lock"),
    [("web", "10s", "5s"), ("worker", "600s", "150s"), ("command", "0s", "150s")],
)
def test_each_process_role_has_its_timeouts_as_startup_options(role, statement, lock):
    default = _database_settings(PDP_PROCESS_ROLE=role)["default"]
    options = default["OPTIONS"]["options"].split()
    assert f"statement_timeout={statement}" in options
    assert f"lock_timeout={lock}" in options
    assert "jit=off" in options
    assert default["OPTIONS"]["connect_timeout"] == 5
    assert default["CONN_MAX_AGE"] == 60 and default["CONN_HEALTH_CHECKS"] is True
    assert default["DISABLE_SERVER_SIDE_CURSORS"] is False
    assert "reporting" not in _database_settings()  # without REPORTING_DATABASE_URL


def test_a_process_without_role_is_a_command_and_the_timeouts_can_be_overridden():
    options = _database_settings(DB_STATEMENT_TIMEOUT="42", DB_LOCK_TIMEOUT="7")["default"]
    assert "-c statement_timeout=42s -c lock_timeout=7s" in options["OPTIONS"]["options"]


def test_an_unknown_role_stops_the_start():
    result = _python("", PDP_PROCESS_ROLE="webb")
    assert result.returncode != 0
    assert "PDP_PROCESS_ROLE" in result.stderr


def test_behind_pgbouncer_no_server_side_cursor_no_startup_option_no_persistent_connection():
    databases = _database_settings(
        PGBOUNCER="1",
        PDP_PROCESS_ROLE="web",
        REPORTING_DATABASE_URL="postgres://pdp@replica:6432/pdp",
    )
    for alias in ("default", "reporting"):
        db = databases[alias]
        assert db["DISABLE_SERVER_SIDE_CURSORS"] is True
        assert "options" not in db["OPTIONS"]  # PgBouncer refuses them: set on the role
        assert db["CONN_MAX_AGE"] == 0
    assert databases["reporting"]["HOST"] == "replica"


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL timeouts")
def test_the_web_timeouts_reach_the_server_and_stop_a_long_statement():
    code = """
from django.db import connection, OperationalError
from django.db.utils import OperationalError
with connection.cursor() as cursor:
    cursor.execute("SHOW lock_timeout")
    print(cursor.fetchone()[0])
    try:
        cursor.execute("SELECT pg_sleep(3)")
        print("no timeout")
    except OperationalError as error:
        print(type(error.__cause__).__name__)
"""
    result = _python(code, PDP_PROCESS_ROLE="web", DB_STATEMENT_TIMEOUT="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5s", "QueryCanceled"]


# --- No session-level state (PgBouncer in transaction mode) -------------------------------------


def _source_files():
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", "tests", "node_modules"} or "migrations" in parts:
            continue
        yield path


def test_the_code_keeps_no_state_in_the_database_session():
    """Behind PgBouncer in transaction mode each transaction may run on another server
    connection: a session-level advisory lock, a plain SET, a set_config(…, false) or a
    temporary table kept after the transaction would be lost or leak to another client."""
    forbidden = [
        re.compile(r"pg_(try_)?advisory_lock(_shared)?\("),
        re.compile(r"execute\(\s*f?[\"']SET (?!LOCAL |CONSTRAINTS )", re.IGNORECASE),
        re.compile(r"set_config\([^)]*,\s*false\)", re.IGNORECASE),
        re.compile(r"CREATE TEMP(ORARY)? TABLE(?![\s\S]{0,200}?ON COMMIT DROP)"),
    ]
    found = []
    for path in _source_files():
        text = path.read_text(encoding="utf-8")
        for pattern in forbidden:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
    assert not found, "\n".join(found)


def test_the_guard_above_catches_what_it_looks_for():
    sample = 'execute("SELECT pg_try_advisory_lock(%s)", [k])\nexecute("SET jit = off")'
    assert re.search(r"pg_(try_)?advisory_lock(_shared)?\(", sample)
    assert re.search(r"execute\(\s*f?[\"']SET (?!LOCAL |CONSTRAINTS )", sample)
    assert not re.search(
        r"execute\(\s*f?[\"']SET (?!LOCAL |CONSTRAINTS )", 'execute("SET LOCAL jit = off")'
    )


def _other_connection():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg2.connect(**params)


def _lock_is_free(other):
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [retention.LOCK_KEY])
        free = cursor.fetchone()[0]
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [retention.LOCK_KEY])
    return free


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL advisory locks")
def test_the_retention_lock_is_held_by_an_open_transaction_and_released_at_the_end(db):
    other = _other_connection()
    try:
        with retention._run_lock() as acquired:
            assert acquired
            assert not _lock_is_free(other)
            with retention._run_lock() as second:
                assert not second  # a second run at the same time
            with connection.cursor() as cursor:  # the run's own connection holds nothing
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                    "pg_backend_pid()"
                )
                assert cursor.fetchone()[0] == 0
        assert _lock_is_free(other)
        # The run itself ends with the lock free, even when it fails.
        with pytest.raises(RuntimeError), retention._run_lock():
            raise RuntimeError("boom")
        assert _lock_is_free(other)
    finally:
        other.close()


# --- Celery queues and the Procfile -------------------------------------------------------------


def procfile(name):
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return {
        key: value.strip()
        for key, value in (line.split(":", 1) for line in lines if line and line[0] != "#")
    }


def _consumed(command):
    match = re.search(r"celery -A pdp worker .*-Q (\S+)", command)
    return set(match.group(1).split(",")) if match else set()


def test_every_task_is_routed_to_a_declared_queue():
    app.loader.import_default_modules()
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == QUEUES
    assert app.conf.task_default_queue in declared
    routes = app.conf.task_routes
    tasks = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert len(tasks) >= 20
    unrouted = [name for name in tasks if name not in routes]
    assert not unrouted, f"Tâches sans file (settings CELERY_TASK_ROUTES) : {unrouted}"
    assert {routes[name]["queue"] for name in tasks} == QUEUES
    stale = set(routes) - set(tasks)
    assert not stale, f"Routes de tâches inconnues : {sorted(stale)}"


def test_a_task_is_sent_to_its_queue():
    route = app.amqp.router.route({}, "privacy.tasks.retention_nightly")
    assert route["queue"].name == "stats"
    assert app.amqp.router.route({}, "pdp.messaging.tasks.deliver_message")["queue"].name == (
        "envois"
    )


def test_production_runs_one_worker_per_queue_with_caps_and_one_beat():
    processes = procfile("Procfile")
    assert processes["web"] == "gunicorn pdp.wsgi -c gunicorn.conf.py"
    workers = {name: command for name, command in processes.items() if _consumed(command)}
    consumed = [queue for command in workers.values() for queue in _consumed(command)]
    assert sorted(consumed) == sorted(QUEUES)  # each queue by exactly one process
    for name, command in workers.items():
        assert command.startswith("PDP_PROCESS_ROLE=worker "), name
        assert re.search(r"--concurrency=\d+", command), name
        assert f"-n {name}@%h" in command, name
    assert "--concurrency=1" in workers["imports"] and "--concurrency=1" in workers["stats"]
    beats = [command for command in processes.values() if " beat" in command]
    assert len(beats) == 1


def test_development_runs_one_worker_for_every_queue():
    processes = procfile("Procfile.dev")
    workers = [command for command in processes.values() if _consumed(command)]
    assert len(workers) == 1 and _consumed(workers[0]) == QUEUES
    assert processes["web"].startswith("PDP_PROCESS_ROLE=web ")


# --- gunicorn -----------------------------------------------------------------------------------


def _gunicorn_config(**env):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "-c", "gunicorn.conf.py", "pdp.wsgi"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ENV_FILE": os.devnull, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {
        key.strip(): value.strip()
        for key, value in (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    }


def test_gunicorn_reads_its_settings_from_the_environment():
    config = _gunicorn_config()
    assert config["workers"] == str(os.cpu_count() * 2 + 1)
    assert config["timeout"] == "120" and config["graceful_timeout"] == "30"
    assert config["max_requests"] == "1000" and config["max_requests_jitter"] == "100"
    assert config["logger_class"] == "pdp.gunicorn_logging.RedactingLogger"
    assert config["accesslog"] == "-"
    config = _gunicorn_config(WEB_CONCURRENCY="7", HOST="0.0.0.0", PORT="9001", WEB_THREADS="4")
    assert config["workers"] == "7" and config["threads"] == "4"
    assert config["bind"] == "['0.0.0.0:9001']"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port, path):
    """GET without following redirects."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        client.request("GET", path)
        response = client.getresponse()
        return response.status, response.read()
    finally:
        client.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a real database for the server")
def test_gunicorn_serves_the_health_check_as_web_and_leaves_it_out_of_the_access_log(tmp_path):
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "ENV_FILE": os.devnull,
        "DJANGO_SETTINGS_MODULE": "pdp.settings",
        "SECRET_KEY": "tests-only-not-a-secret",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "pdp.wsgi", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(100):
            try:
                status, body = _get(port, "/sante/")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(log.read_text())
        # Plain HTTP with SECURE_SSL_REDIRECT on (DEBUG off): the probe is not redirected.
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
        assert _get(port, "/accounts/login/")[0] == 301  # to HTTPS
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert any('"GET /accounts/login/ HTTP/1.1" 301' in line for line in lines), lines
    assert not any("/sante/" in line for line in lines), lines


def test_gunicorn_makes_its_process_a_web_one():
    code = "import os, runpy; runpy.run_path('gunicorn.conf.py')\n"
    code += "print(os.environ['PDP_PROCESS_ROLE'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "web", result.stderr
