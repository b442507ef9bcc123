"""Right of access (RGPD art. 15, issue 14 item 7) in a browser: the unit's manager opens a
person's page, follows « Droit d'accès (RGPD) », generates the archive, watches its row turn
ready (htmx polling while a real Celery worker builds it through Redis), then downloads the
JSON and the PDF and finds the person's data in them, and nothing of another person who
attended the same collective action."""

import io
import json
import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

import privacy.tasks_archive  # noqa: F401  (registers the task with the worker)
from collective.models import Participant, ParticipantStatus
from pdp.audit import audit
from pdp.models import AuditLog
from tests import reference_data
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    ArretFactory,
    AssureFactory,
    EntretienFactory,
    UserFactory,
)

PASSWORD = "motdepasse-test"

try:
    import weasyprint  # noqa: F401

    WEASYPRINT = True
except (ImportError, OSError):
    WEASYPRINT = False

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(
        not WEASYPRINT and not os.environ.get("PDP_REQUIRE_PDF"),
        reason="WeasyPrint ou ses bibliothèques Pango ne sont pas installés ici",
    ),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL absent : pas de broker"),
]


@pytest.fixture
def worker(live_server, settings, tmp_path):
    """A real Celery worker (solo pool, in a thread) on the test's Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from pdp.celery import app

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    assert not app.conf.task_always_eager
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def test_a_manager_generates_and_downloads_a_right_of_access_archive(page, live_server, worker):
    reference_data.reload()  # an earlier transactional test may have emptied them
    manager = UserFactory(manager=True, first_name="Hélène", last_name="Responsable")
    ass = UserFactory(ass=True, unit=manager.unit, first_name="Agnès", last_name="Dupont")
    person = AssureFactory(nom_naissance="Lefèvre", prenoms="Maryse")
    case = AccompagnementFactory(assure=person, referent=ass)
    ArretFactory(assure=person)
    EntretienFactory(accompagnement=case, note="Point sur l'aménagement du poste")
    action = ActionCollectiveFactory(animateur=ass, titre="Atelier retour à l'emploi")
    other = AssureFactory(nom_naissance="Quidamovitch", prenoms="Eulalie")
    inscrit = ParticipantStatus.objects.get(code="inscrit")
    for who in (person, other):
        Participant.objects.create(action=action, assure=who, statut=inscrit, source="code")
    audit(user=ass, action=AuditLog.Action.VIEW, obj=person, assure_id=person.pk)

    login(page, live_server, manager.username, PASSWORD)
    page.goto(live_server.url + reverse("cases:assure_detail", args=[person.pk]))
    page.get_by_role("link", name="Droit d'accès (RGPD)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Droit d'accès (RGPD, article\u00a015)"
    )
    expect(page.get_by_text("Aucune archive n'a encore été demandée")).to_be_visible()
    page.get_by_role("button", name="Générer l'archive").click()

    row = page.locator("tbody tr").first
    expect(row).to_have_attribute("data-status", "ready", timeout=30_000)
    expect(row).to_contain_text("Hélène Responsable")
    expect(row).to_contain_text("Prête")
    expect(page.get_by_role("button", name="Générer l'archive")).to_be_visible()
    screenshot(page, "access_archive_ready")
    check_a11y(page, "droit d'accès")

    with page.expect_download() as download:
        row.get_by_role("link", name="JSON").click()
    assert download.value.suggested_filename.endswith(".json")
    document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert document["schema_version"] == 1 and document["assure_id"] == person.pk
    sections = {s["key"]: s for s in document["sections"]}
    assert sections["identite"]["rows"][0]["nom_naissance"] == "Lefèvre"
    assert sections["entretiens"]["rows"][0]["note"] == "Point sur l'aménagement du poste"
    assert sections["actions_collectives"]["rows"][0]["action__titre"] == (
        "Atelier retour à l'emploi"
    )
    who = {(r["user"], r["user__unit__name"]) for r in sections["journal_acces"]["rows"]}
    assert ("Agnès Dupont", manager.unit.name) in who

    with page.expect_download() as download:
        row.get_by_role("link", name="PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "Maryse Lefèvre" in text and "Atelier retour à l'emploi" in text
    for content in (text, json.dumps(document, ensure_ascii=False)):
        assert "Quidamovitch" not in content and other.nir not in content

    exports = AuditLog.objects.filter(action="export", assure_id=person.pk, user=manager)
    assert sorted(e.changes["format"][1] for e in exports) == ["json", "pdf"]
