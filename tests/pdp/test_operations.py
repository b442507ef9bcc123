"""How the project is run: the README's commands work from a fresh clone, production uses
gunicorn."""

import datetime
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from referrals.models import CpamImport
from tests.factories import CpamFactory, RegionFactory

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "extrait_cpam_exemple.csv"


def procfile(name):
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def test_production_serves_with_gunicorn_and_development_with_runserver():
    production = procfile("Procfile")
    # One worker per group of queues: tests/pdp/test_production.py.
    assert set(production) == {"web", "interactif", "envois", "imports", "stats", "beat"}
    assert production["web"].split()[:2] == ["gunicorn", "pdp.wsgi"]
    assert "runserver" not in (ROOT / "Procfile").read_text(encoding="utf-8")
    assert "runserver" in procfile("Procfile.dev")["web"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "honcho -f Procfile.dev start" in makefile
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "gunicorn==" in requirements


@pytest.mark.skipif(shutil.which("make") is None, reason="make absent")
def test_make_writes_a_development_env_once_and_commands_then_need_no_variable(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    make = ["make", "--no-print-directory", f"PYTHON={sys.executable}", ".env"]
    subprocess.run(make, cwd=tmp_path, env=env, check=True, capture_output=True)
    dotenv = tmp_path / ".env"
    values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines() if "=" in line)
    assert values["DEBUG"] == "1"
    assert len(values["SECRET_KEY"]) >= 50
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600  # holds a secret
    first = dotenv.read_text()
    subprocess.run(make, cwd=tmp_path, env=env, check=True, capture_output=True)
    assert dotenv.read_text() == first  # never overwritten

    # With only that file, a management command runs (no SECRET_KEY or DEBUG exported).
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "pdp.settings", "ENV_FILE": str(dotenv)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_env_file_is_never_committed():
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.django_db
def test_the_readme_sample_extract_is_in_the_repository_and_imports(monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "manage.py import_cpam_extract docs/extrait_cpam_exemple.csv" in readme
    assert SAMPLE.is_file()
    region = RegionFactory()
    for code in ("761", "762", "141", "271"):
        CpamFactory(code=code, region=region)
    monkeypatch.chdir(ROOT)  # the README's relative path
    out = io.StringIO()
    with time_machine.travel(datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)):
        call_command("import_cpam_extract", "docs/extrait_cpam_exemple.csv", stdout=out)
    assert "2 lignes rejetées" in out.getvalue()
    assert CpamImport.objects.get().status == CpamImport.Status.PROCESSED


def test_the_readme_gives_the_production_steps_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Production") :]
    section = section[: section.index("\n## ", 1)]
    steps = ["DEBUG=0", "migrate", "collectstatic", "check --deploy", "gunicorn pdp.wsgi"]
    positions = [section.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "`PORT`" in readme
