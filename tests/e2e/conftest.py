"""Browser tests: pytest-django + Playwright's sync API on Debian's Chromium.

Playwright cannot download its own browser here, so the tests drive the
system Chromium (Debian package ``chromium``) through ``executable_path``.
Without it every test in this folder is skipped, not failed.

Fixtures and helpers
--------------------
``browser``  (session) a headless Chromium.
``page``     (function) a fresh context, 1366x768, locale fr-FR. Console
             errors and uncaught page errors are collected in
             ``page.console_errors``; a test that produced any fails.
``login(page, live_server, username, password)``
``check_a11y(page, label)``  axe-core run, fails on "serious"/"critical".
``screenshot(page, name)``   full-page PNG in artifacts/screenshots/.

Every test collected from this folder is marked ``e2e`` (run ``-m e2e`` or
``-m "not e2e"``).

Database: use the ``live_server`` fixture to get the app. pytest-django's
``live_server`` makes the test request ``transactional_db`` by itself, so
data created in the test is committed and visible to the server thread (and
emptied by truncation afterwards); no ``django_db`` mark is needed. A test
that touches the database without ``live_server`` needs
``@pytest.mark.django_db(transaction=True)``.

Static files: the test settings (``pdp/settings_test.py``) use plain
``StaticFilesStorage``, so no ``collectstatic`` is needed.

Console errors: a 404 on ``/favicon.ico`` (requested by Chromium itself) is
ignored; every other console error or uncaught exception fails the test.

Environment
-----------
``CHROMIUM_PATH``  path to the Chromium binary (default: ``chromium`` on
                   PATH, then ``/usr/bin/chromium``).
``DJANGO_ALLOW_ASYNC_UNSAFE`` is set to "true" here: Playwright's sync API
runs an asyncio event loop in the test thread, and Django refuses ORM calls
from a thread with a running loop otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
AXE_JS = REPO_ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in containers/CI: the setuid sandbox is unavailable
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home: only registries are reachable
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--lang=fr-FR",  # French date inputs (jj/mm/aaaa) as users see them
]
VIEWPORT = {"width": 1366, "height": 768}
LOCALE = "fr-FR"
DEFAULT_TIMEOUT_MS = 20_000
BLOCKING_IMPACTS = ("serious", "critical")
# Chromium requests /favicon.ico by itself when a page declares no icon and
# logs the 404 as a console error; that is not an error of the page's code.
IGNORED_CONSOLE_URL_SUFFIXES = ("/favicon.ico",)


# --------------------------------------------------------------------- hooks


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: browser test (Playwright + system Chromium), tests/e2e/"
    )


def pytest_collection_modifyitems(config, items):
    # This hook sees the whole session's items: mark only those in this folder.
    for item in items:
        try:
            in_e2e = Path(str(item.path)).resolve().is_relative_to(E2E_DIR)
        except (AttributeError, OSError):
            in_e2e = False
        if in_e2e:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # Fail the test itself (not its teardown) when the browser logged errors.
    # If the test already failed, that failure propagates unchanged.
    result = yield
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    errors = getattr(page, "console_errors", None)
    if errors:
        page._console_errors_reported = len(errors)
        pytest.fail(_format_console_errors(errors), pytrace=False)
    return result


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        reason = "Chromium absent : installez le paquet Debian chromium"
        if os.environ.get("PDP_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    pg.console_errors = []
    pg._console_errors_reported = 0

    def on_console(msg):
        if msg.type == "error":
            loc = msg.location or {}
            where = loc.get("url") or ""
            if where.split("?", 1)[0].endswith(IGNORED_CONSOLE_URL_SUFFIXES):
                return
            if where and loc.get("lineNumber") is not None:
                where = f"{where}:{loc['lineNumber']}"
            pg.console_errors.append(
                f"console.error: {msg.text}" + (f" ({where})" if where else "")
            )

    def on_pageerror(exc):
        pg.console_errors.append(f"pageerror: {exc}")

    pg.on("console", on_console)
    pg.on("pageerror", on_pageerror)
    try:
        yield pg
    finally:
        late = pg.console_errors[pg._console_errors_reported :]
        context.close()
    # Errors that arrived after the test body (normally reported by
    # pytest_runtest_call above) still fail, here as a teardown error.
    assert not late, _format_console_errors(late)


# ------------------------------------------------------------------- helpers


def login(page, live_server, username, password):
    """Log in through the real login form and wait for the next page."""
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation(wait_until="load"):
        page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return page


def check_a11y(page, label):
    """Run axe-core on the current page; fail on serious/critical violations.

    ``label`` names the page in the failure message. Returns all violations
    (any impact) for callers that want to inspect minor ones.
    """
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core absent: {AXE_JS} (see static/vendor/VERSIONS.md)")
    has_axe = "() => typeof window.axe !== 'undefined'"
    if not page.evaluate(has_axe):
        errors = getattr(page, "console_errors", None)
        mark = len(errors) if errors is not None else 0
        with contextlib.suppress(Exception):
            page.add_script_tag(path=str(AXE_JS))
        if not page.evaluate(has_axe):
            # A Content-Security-Policy without 'unsafe-inline' blocks the
            # injected <script>; DevTools evaluation is not subject to CSP.
            page.evaluate(AXE_JS.read_text(encoding="utf-8"))
            if errors is not None:  # forget the CSP report our injection caused
                errors[mark:] = [e for e in errors[mark:] if "Content Security Policy" not in e]
    violations = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({
                    target: n.target.join(" "),
                    html: n.html,
                    summary: n.failureSummary || "",
                })),
            }));
        }"""
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"Accessibilité ({label}) : {len(blocking)} violation(s) axe bloquante(s)"]
        for v in blocking:
            lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for n in v["nodes"][:5]:
                lines.append(f"    * {n['target']}  {n['html'][:160]}")
                for s in n["summary"].splitlines():
                    if s.strip():
                        lines.append(f"        {s.strip()}")
            if len(v["nodes"]) > 5:
                lines.append(f"    * ... et {len(v['nodes']) - 5} autre(s) élément(s)")
        pytest.fail("\n".join(lines), pytrace=False)
    return violations


def screenshot(page, name):
    """Save a full-page PNG to artifacts/screenshots/<name>.png; return its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "screenshot"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _format_console_errors(errors):
    return "Erreurs dans la console du navigateur :\n" + "\n".join(f"  - {e}" for e in errors)
