"""A CPAM extract imported by the worker, in a browser (issue 15, item 3): the unit manager
uploads the monthly extract, the import's page shows the progress bar while no worker has
taken it (« en attente »), then a real Celery worker imports it through Redis, the page —
polling every 2 seconds with htmx — reloads by itself and shows the counts and the rejected
line."""

import datetime
import os

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from referrals.models import ArretTravail, CpamImport
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import CpamFactory, UserFactory
from tests.referrals.test_import import build_extract, extract_row

PASSWORD = "motdepasse-test"
LINES = 12_000  # three batches of the pipeline

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL absent : pas de broker"),
]


def _extract():
    today = timezone.localdate()
    dates = {
        "date_debut_arret": f"{today - datetime.timedelta(days=40):%d/%m/%Y}",
        "date_fin_prevue": f"{today + datetime.timedelta(days=60):%d/%m/%Y}",
    }
    rows = [extract_row(n, **dates) for n in range(1, LINES)]
    rows.append(extract_row(LINES, nir="123", **dates))  # one rejected line
    return build_extract(rows)


def test_a_manager_uploads_an_extract_and_watches_the_worker_import_it(
    page, live_server, settings, tmp_path
):
    from celery.contrib.testing.worker import start_worker

    from pdp.celery import app

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    manager = UserFactory(manager=True, first_name="Hélène", last_name="Responsable")
    CpamFactory(code="761", region=manager.unit.region)
    path = tmp_path / "extrait_novembre.csv"
    path.write_bytes(_extract())

    login(page, live_server, manager.username, PASSWORD)
    page.goto(live_server.url + reverse("referrals:import_list"))
    page.get_by_label("Fichier de l'extrait CPAM").set_input_files(str(path))
    page.get_by_role("button", name="Importer").click()

    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-status", "pending")
    expect(progress).to_contain_text("Import en attente")
    expect(page.locator("progress#import-progress-bar")).to_be_visible()
    cpam_import = CpamImport.objects.get()
    assert cpam_import.status == CpamImport.Status.PENDING
    assert cpam_import.lines_total == LINES
    screenshot(page, "import_worker_pending")
    check_a11y(page, "import en attente")

    assert not app.conf.task_always_eager
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # The worker takes the queued task; the polling fragment reloads the page once done.
        expect(page.get_by_text("Import terminé")).to_be_visible(timeout=60_000)

    expect(page.locator("#import-progress")).to_have_count(0)
    expect(page.get_by_text(f"{LINES} lignes lues, {LINES - 1} arrêts créés")).to_be_visible()
    expect(page.get_by_text("Le NIR doit comporter 15 caractères")).to_be_visible()
    screenshot(page, "import_worker_done")
    check_a11y(page, "import terminé")
    assert ArretTravail.objects.count() == LINES - 1
    cpam_import.refresh_from_db()
    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert not list((tmp_path / "private").rglob("*.csv"))  # the stored file is deleted
