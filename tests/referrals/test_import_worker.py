"""Uploads imported by the Celery worker (issue 15, item 3): stored under PRIVATE_MEDIA_ROOT,
one pending import per file content, an idempotent task, failures recorded, the progress
fragment polled by htmx."""

import datetime
import html
import os
import re
import threading

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test import TestCase
from django.urls import reverse

from pdp import session_idle
from pdp.models import AuditLog
from referrals.importer import jobs
from referrals.models import ArretTravail, CpamImport
from referrals.tasks import import_cpam_extract_task
from tests.factories import CpamFactory, RegionFactory, UnitFactory, UserFactory
from tests.referrals.test_import import build_extract, extract_row

NOW = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
LIST = reverse("referrals:import_list")


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def cpam(unit):
    return CpamFactory(code="761", region=unit.region)


def extract(n=3):
    return build_extract([extract_row(i) for i in range(1, n + 1)])


def enqueue(manager, data, name="extrait.csv", run=False):
    upload = SimpleUploadedFile(name, data, content_type="text/csv")
    with TestCase.captureOnCommitCallbacks(execute=run) as callbacks, transaction.atomic():
        cpam_import = jobs.import_enqueue(
            upload=upload, acting_user=manager, extract_date=NOW.date()
        )
    cpam_import.callbacks = callbacks
    return cpam_import


def stored_files(settings):
    root = settings.PRIVATE_MEDIA_ROOT
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def progress_url(cpam_import):
    return reverse("referrals:import_progress", args=[cpam_import.pk])


def detail_url(cpam_import):
    return reverse("referrals:import_detail", args=[cpam_import.pk])


# --- The upload ---------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_an_upload_is_stored_privately_and_waits_for_the_worker(db, manager, cpam, settings):
    cpam_import = enqueue(manager, extract(3))

    cpam_import.refresh_from_db()
    assert cpam_import.status == CpamImport.Status.PENDING
    assert cpam_import.lines_total == 3
    assert len(cpam_import.sha256) == 64
    path = jobs.private_path(cpam_import.stored_file)
    assert path.is_relative_to(settings.PRIVATE_MEDIA_ROOT)
    assert not path.is_relative_to(settings.MEDIA_ROOT)
    assert path.read_bytes() == extract(3)
    assert not ArretTravail.objects.exists()  # nothing imported before the worker runs
    assert len(cpam_import.callbacks) == 1  # the task is queued on commit
    assert AuditLog.objects.filter(
        object_type="referrals.cpamimport", object_id=str(cpam_import.pk), user=manager
    ).exists()


@time_machine.travel(NOW, tick=False)
def test_the_worker_imports_the_upload_and_deletes_its_file(db, manager, cpam, settings):
    cpam_import = enqueue(manager, extract(3), run=True)

    cpam_import.refresh_from_db()
    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert (cpam_import.rows_read, cpam_import.rows_created) == (3, 3)
    assert cpam_import.stored_file == ""
    assert stored_files(settings) == []
    assert ArretTravail.objects.filter(last_import=cpam_import).count() == 3
    assert AuditLog.objects.filter(
        object_type="referrals.cpamimport",
        object_id=str(cpam_import.pk),
        action=AuditLog.Action.UPDATE,
        changes__status=["pending", "processed"],
    ).exists()


@time_machine.travel(NOW, tick=False)
def test_a_second_upload_of_the_same_file_is_refused_while_the_first_waits(
    db, manager, cpam, settings
):
    first = enqueue(manager, extract(3), name="novembre.csv")

    with pytest.raises(ValidationError) as refused:
        enqueue(manager, extract(3), name="copie.csv")

    assert "Ce fichier est déjà en cours d'import (envoyé le 01/11/2026 à 10:00)" in str(
        refused.value
    )
    assert list(CpamImport.objects.values_list("pk", flat=True)) == [first.pk]
    assert len(stored_files(settings)) == 1  # the copy's file was removed
    other = enqueue(manager, extract(4), name="autre.csv")  # another content is accepted
    assert other.status == CpamImport.Status.PENDING


@time_machine.travel(NOW, tick=False)
def test_the_same_file_may_be_uploaded_again_once_imported(db, manager, cpam):
    enqueue(manager, extract(3), run=True)

    again = enqueue(manager, extract(3), run=True)

    again.refresh_from_db()
    assert again.status == CpamImport.Status.PROCESSED
    assert (again.rows_created, again.rows_unchanged) == (0, 3)


@time_machine.travel(NOW, tick=False)
def test_the_database_refuses_two_pending_imports_of_one_content(db, manager, cpam):
    first = enqueue(manager, extract(3))

    with pytest.raises(IntegrityError), transaction.atomic():
        CpamImport.objects.create(
            file_name="course.csv", status=CpamImport.Status.PENDING, sha256=first.sha256
        )


def test_a_pending_import_lost_for_hours_no_longer_blocks_its_file(db, manager, cpam, settings):
    with time_machine.travel(NOW, tick=False):
        lost = enqueue(manager, extract(3))
    with time_machine.travel(NOW + datetime.timedelta(hours=3), tick=False):
        again = enqueue(manager, extract(3))

    lost.refresh_from_db()
    assert lost.status == CpamImport.Status.FAILED
    assert "n'a pas été lancé" in lost.message
    assert again.status == CpamImport.Status.PENDING


@time_machine.travel(NOW, tick=False)
def test_the_upload_page_refuses_the_duplicate_with_a_french_message(client, manager, cpam):
    client.force_login(manager)
    payload = {"date_extrait": "2026-11-01"}
    with TestCase.captureOnCommitCallbacks(execute=False):
        first = client.post(
            LIST, {**payload, "fichier": SimpleUploadedFile("a.csv", extract(3), "text/csv")}
        )
    assert first.status_code == 302

    response = client.post(
        LIST, {**payload, "fichier": SimpleUploadedFile("b.csv", extract(3), "text/csv")}
    )

    assert response.status_code == 200
    assert "Ce fichier est déjà en cours d'import" in html.unescape(response.content.decode())
    assert CpamImport.objects.count() == 1


# --- The task -----------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_running_the_task_twice_imports_once(db, manager, cpam):
    cpam_import = enqueue(manager, extract(3))

    assert import_cpam_extract_task.delay(cpam_import.pk).get() == "processed"
    assert import_cpam_extract_task.delay(cpam_import.pk).get() is None

    assert ArretTravail.objects.count() == 3
    assert CpamImport.objects.get().rows_created == 3


@pytest.mark.django_db(transaction=True)
def test_a_second_worker_skips_the_import_another_one_holds(manager, cpam, monkeypatch):
    monkeypatch.setattr(import_cpam_extract_task, "delay", lambda pk: None)  # no worker yet
    cpam_import = enqueue(manager, extract(3))
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                CpamImport.objects.select_for_update().get(pk=cpam_import.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert jobs.import_run(import_id=cpam_import.pk) is None
    finally:
        release.set()
        thread.join()
    assert CpamImport.objects.get().status == CpamImport.Status.PENDING
    assert not ArretTravail.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_failure_marks_the_import_failed_in_french_and_removes_its_file(
    db, manager, cpam, settings, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("disque plein")

    monkeypatch.setattr(jobs, "import_extract", broken)
    cpam_import = enqueue(manager, extract(3), run=True)

    cpam_import.refresh_from_db()
    assert cpam_import.status == CpamImport.Status.FAILED
    assert cpam_import.message.startswith("L'import a échoué à cause d'une erreur technique")
    assert cpam_import.stored_file == ""
    assert stored_files(settings) == []
    assert not ArretTravail.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_refused_file_is_recorded_as_refused_by_the_worker(db, manager, cpam, settings):
    cpam_import = enqueue(manager, b"nom;prenom\r\nMARTIN;Paul\r\n", run=True)

    cpam_import.refresh_from_db()
    assert cpam_import.status == CpamImport.Status.REFUSED
    assert "Colonnes obligatoires absentes" in cpam_import.message
    assert stored_files(settings) == []


@time_machine.travel(NOW, tick=False)
def test_progress_is_noted_once_per_batch(db, manager, cpam, monkeypatch):
    monkeypatch.setattr("referrals.importer.pipeline.BATCH_SIZE", 2)
    noted = []
    monkeypatch.setattr(jobs, "_note_progress", lambda pk, read: noted.append(read))

    enqueue(manager, extract(5), run=True)

    assert noted[-1] == 5
    assert len(noted) == 3  # 2 + 2 + 1 lines: one note per batch, not per line
    assert noted == sorted(noted)


# --- The progress fragment ----------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_the_page_of_a_pending_import_polls_its_progress(client, manager, cpam):
    cpam_import = enqueue(manager, build_extract([extract_row(i) for i in range(1, 201)]))
    client.force_login(manager)
    jobs._note_progress(jobs.progress_key(cpam_import), 50)

    page = client.get(detail_url(cpam_import)).content.decode()
    fragment = client.get(progress_url(cpam_import), headers={"HX-Request": "true"})

    assert f'hx-get="{progress_url(cpam_import)}" hx-trigger="every 2s"' in page
    assert "50 lignes lues sur environ 200 (25\u00a0%)" in re.sub(r"\s+", " ", page).replace(
        "&nbsp;", "\u00a0"
    )
    assert 'value="25"' in page
    assert fragment.status_code == 200
    assert "HX-Refresh" not in fragment.headers
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    assert "X-PDP-Poll" in fragment.content.decode()
    assert "Import en cours" in fragment.content.decode()
    cache.delete(jobs.progress_key(cpam_import))


@time_machine.travel(NOW, tick=False)
def test_a_waiting_import_says_it_waits(client, manager, cpam):
    cpam_import = enqueue(manager, extract(3))
    client.force_login(manager)

    fragment = client.get(progress_url(cpam_import)).content.decode()

    assert "Import en attente" in fragment
    assert "attend d'être pris en charge" in fragment


@time_machine.travel(NOW, tick=False)
def test_the_fragment_stops_polling_and_reloads_the_page_once_done(client, manager, cpam):
    cpam_import = enqueue(manager, extract(3), run=True)
    client.force_login(manager)

    fragment = client.get(progress_url(cpam_import), headers={"HX-Request": "true"})
    page = client.get(detail_url(cpam_import)).content.decode()

    assert fragment.headers["HX-Refresh"] == "true"
    assert "hx-trigger" not in fragment.content.decode()
    assert "hx-trigger" not in page
    assert "Import terminé&nbsp;: 3 lignes lues, 3 arrêts créés" in page


@time_machine.travel(NOW, tick=False)
def test_a_failed_import_shows_its_message(client, manager, cpam, monkeypatch):
    monkeypatch.setattr(jobs, "import_extract", lambda *a, **k: 1 / 0)
    cpam_import = enqueue(manager, extract(3), run=True)
    client.force_login(manager)

    page = client.get(detail_url(cpam_import)).content.decode()

    assert "Échec de l'import." in page
    assert "erreur technique" in page
    assert "hx-trigger" not in page


def test_the_fragment_of_an_import_of_another_region_is_not_found(client, manager, cpam):
    with time_machine.travel(NOW, tick=False):
        cpam_import = enqueue(manager, extract(3))
    stranger = UserFactory(manager=True, unit=UnitFactory(region=RegionFactory(code="BRE")))
    client.force_login(stranger)

    assert client.get(progress_url(cpam_import)).status_code == 404


def test_polling_does_not_keep_the_session_alive(client, manager, cpam):
    with time_machine.travel(NOW, tick=False) as traveller:
        cpam_import = enqueue(manager, extract(3))
        client.force_login(manager)
        for _ in range(29):
            traveller.shift(datetime.timedelta(minutes=1))
            response = client.get(
                progress_url(cpam_import), headers={"HX-Request": "true", "X-PDP-Poll": "1"}
            )
            assert response.status_code == 200
        assert session_idle.seconds_left(client.session) <= 60
        traveller.shift(datetime.timedelta(minutes=2))
        response = client.get(detail_url(cpam_import))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# --- Through Redis and a real worker ------------------------------------------------------------


@pytest.mark.celery_worker
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL absent : pas de broker")
def test_an_upload_is_imported_by_a_real_worker_through_redis(transactional_db, manager, cpam):
    from celery.contrib.testing.worker import start_worker

    from pdp.celery import app

    assert not app.conf.task_always_eager
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        cpam_import = enqueue(manager, extract(3))  # committed: queued through Redis
        for _ in range(100):
            cpam_import.refresh_from_db()
            if cpam_import.status != CpamImport.Status.PENDING:
                break
            threading.Event().wait(0.2)
    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert ArretTravail.objects.filter(last_import=cpam_import).count() == 3


@time_machine.travel(NOW, tick=False)
def test_a_simulation_of_a_large_file_is_refused_by_the_form(client, manager, cpam, monkeypatch):
    monkeypatch.setattr("referrals.forms_import.MAX_SIMULATION_BYTES", 100)
    client.force_login(manager)

    response = client.post(
        LIST,
        {
            "date_extrait": "2026-11-01",
            "simulation": "on",
            "fichier": SimpleUploadedFile("gros.csv", extract(3), "text/csv"),
        },
    )

    assert response.status_code == 200
    assert "La simulation est limitée aux fichiers de 50 Mo" in response.content.decode()
    assert not CpamImport.objects.exists()
