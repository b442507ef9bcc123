"""The dependency ladder (pdp ← referrals ← cases ← …) is enforced by import-linter in
`make quality`; these tests prove the contract passes today and fails on a wrong import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "pdp",
    "referrals",
    "cases",
    "coordination",
    "collective",
    "outreach",
    "indicators",
    "privacy",
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter n'est pas installé (make install-dev)"
)


def _copy_project(tmp_path):
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(path):
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_the_apps_respect_the_ladder(tmp_path):
    result = _lint(_copy_project(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("referrals/routing.py", "from cases.models import Accompagnement  # noqa"),
        ("pdp/permissions.py", "import referrals.models  # noqa"),
        ("cases/services.py", "import coordination.models  # noqa"),
        ("outreach/campaigns.py", "import indicators.catalogue  # noqa"),
        ("indicators/counting.py", "import privacy.models  # noqa"),
    ],
)
def test_an_import_up_the_ladder_breaks_the_contract(tmp_path, module, line):
    project = _copy_project(tmp_path)
    target = project / module
    target.write_text(target.read_text() + f"\n{line}\n")
    result = _lint(project)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
