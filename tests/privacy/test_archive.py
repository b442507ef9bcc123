"""Right of access (RGPD art. 15, privacy.archive): what the archive holds, who may ask for it,
the task, the downloads and their expiry."""

import datetime
import io
import json
import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import (
    Action,
    DispositifMobilise,
    DispositifPeriode,
    DispositifType,
    Document,
    EvaluationGlobale,
    Objectif,
    Orientation,
)
from collective.models import Participant, ParticipantStatus
from collective.models import Presence as PresenceSeance
from coordination.models import ActionInstance, Decision, PointOrdreDuJour, TypeDecision
from outreach.models import AppelCible, Campagne, Cible
from pdp.audit import audit
from pdp.models import AuditLog, Message
from privacy import archive as service
from privacy.models import AccessArchive
from privacy.tasks_archive import build_access_archive, purge_expired_access_archives
from referrals.models import ContactAttempt
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    ArretFactory,
    AssureFactory,
    ConsentementFactory,
    EntretienFactory,
    MembreFactory,
    ReunionFactory,
    SaisineFactory,
    SeanceFactory,
    SignalementFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

try:
    import weasyprint  # noqa: F401

    WEASYPRINT = True
except (ImportError, OSError):
    WEASYPRINT = False

# As tests/coordination/test_minutes.py: CI (PDP_REQUIRE_PDF=1) fails instead of skipping.
needs_weasyprint = pytest.mark.skipif(
    not WEASYPRINT and not os.environ.get("PDP_REQUIRE_PDF"),
    reason="WeasyPrint ou ses bibliothèques Pango ne sont pas installés ici",
)

OTHER_NAME = "Zéphyrin-Quidam"
OTHER_FIRST = "Ambroisine"


@pytest.fixture(autouse=True)
def _private_root(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def person(ass, unit):
    return AssureFactory(nom_naissance="Archivée", prenoms="Léontine", email="leo@example.org")


@pytest.fixture
def case(person, ass):
    return AccompagnementFactory(assure=person, referent=ass)


def _records(person, case, n, *, shared):
    """`n` records of each kind for `person` (their case `case`), in the shared cellule meeting,
    collective action and campaign of `shared`."""
    ass = case.referent
    unit = case.unit
    consent = person.consentements.first() or ConsentementFactory(assure=person, recorded_by=ass)
    start = person.arrets.count()
    for i in range(n):
        day = timezone.localdate() - datetime.timedelta(days=400 + start + i)
        ArretFactory(assure=person, date_debut=day)
        signalement = SignalementFactory(
            assure=person, unit=unit, statut="accompagnement_ouvert", motif=f"Motif {i}"
        )
        ContactAttempt.objects.create(
            signalement=signalement,
            canal="telephone",
            resultat="joint",
            note=f"Appel {i}",
            user=ass,
        )
        EntretienFactory(accompagnement=case, note=f"Entretien {i}")
        EvaluationGlobale.objects.create(
            accompagnement=case, version=start + i + 1, freins=f"Frein {i}", created_by=ass
        )
        objectif = Objectif.objects.create(
            accompagnement=case, domaine="emploi", libelle=f"But {i}"
        )
        Action.objects.create(objectif=objectif, libelle=f"Démarche {i}")
        dispositif = DispositifMobilise.objects.create(
            accompagnement=case, type=DispositifType.objects.first(), statut="envisage"
        )
        DispositifPeriode.objects.create(
            dispositif=dispositif,
            date_debut=datetime.date(2026, 1, 1),
            date_fin=datetime.date(2026, 2, 1),
        )
        Orientation.objects.create(accompagnement=case, partner_kind="mdph", motif=f"Vers {i}")
        Document.objects.create(
            accompagnement=case,
            fichier="documents/x.pdf",
            nom=f"bulletin-{i}.pdf",
            content_type="application/pdf",
            taille=1000,
            uploaded_by=ass,
        )
        saisine = SaisineFactory(
            accompagnement=case,
            instance=shared["reunion"].instance,
            consentement=consent,
            statut="terminee",  # one open situation per case and instance
        )
        point = PointOrdreDuJour.objects.create(
            reunion=shared["reunion"], saisine=saisine, origine="nouvelle", synthese=f"Synthèse {i}"
        )
        Decision.objects.create(
            point=point, type=TypeDecision.objects.first(), texte=f"Décidé {i}", created_by=ass
        )
        ActionInstance.objects.create(
            point=point,
            libelle=f"Étude {i}",
            responsable=shared["membre"],
            echeance=timezone.localdate(),
            created_by=ass,
        )
        Message.objects.create(
            channel="sms",
            template="rappel",
            recipient="0612345678",
            assure_id=person.pk,
            body=f"Rappel de votre rendez-vous {i}",
        )
        audit(user=ass, action=AuditLog.Action.VIEW, obj=person, assure_id=person.pk)
    if start:  # once per person: the shared action and campaign
        return
    participant = Participant.objects.create(
        action=shared["action"],
        assure=person,
        statut=ParticipantStatus.objects.get(code="inscrit"),
        source="code",
    )
    PresenceSeance.objects.create(
        seance=shared["seance"], participant=participant, statut="present"
    )
    cible = Cible.objects.create(
        campagne=shared["campagne"],
        assure=person,
        arret=person.arrets.first(),
        canal="appel",
        created_at=timezone.now(),
    )
    AppelCible.objects.create(cible=cible, at=timezone.now(), conseiller=ass, resultat="message")


@pytest.fixture
def shared(unit, ass, manager):
    """A cellule meeting, a collective action and a campaign shared with another person."""
    action = ActionCollectiveFactory(animateur=ass)
    reunion = ReunionFactory()
    data = {
        "reunion": reunion,
        "membre": MembreFactory(instance=reunion.instance),
        "action": action,
        "seance": SeanceFactory(action=action),
        "campagne": Campagne.objects.create(
            region=unit.region,
            unit=unit,
            nom="Campagne de mars",
            date_reference=datetime.date(2026, 3, 1),
            created_by=manager,
        ),
    }
    other = AssureFactory(nom_naissance=OTHER_NAME, prenoms=OTHER_FIRST, email="autre@example.org")
    other_case = AccompagnementFactory(assure=other, referent=ass)
    _records(other, other_case, 1, shared=data)
    data["other"] = other
    return data


@pytest.fixture
def full_file(person, case, shared):
    _records(person, case, 2, shared=shared)
    return person


def _section(data, key):
    return next(s for s in data["sections"] if s["key"] == key)


@pytest.fixture
def ready_archive(django_capture_on_commit_callbacks):
    """ready_archive(person, manager): requested, and built by the task run on commit."""

    def make(person, manager):
        with django_capture_on_commit_callbacks(execute=True):
            archive = service.archive_request(assure=person, acting_user=manager)
        return AccessArchive.objects.get(pk=archive.pk)

    return make


# --- The builder -------------------------------------------------------------------------------


def test_every_section_holds_the_persons_records(full_file, shared):
    data = service.collect(full_file.pk)
    counts = {s["key"]: len(s["rows"]) for s in data["sections"]}
    assert counts["identite"] == 1
    for key in (
        "arrets",
        "signalements",
        "tentatives_contact",
        "entretiens",
        "evaluations",
        "plan_objectifs",
        "plan_actions",
        "dispositifs",
        "dispositifs_periodes",
        "orientations",
        "documents",
        "cellule_saisines",
        "cellule_points",
        "cellule_decisions",
        "cellule_actions",
        "messages",
    ):
        assert counts[key] == 2, key
    for key in ("consentements", "actions_collectives", "actions_collectives_presences"):
        assert counts[key] >= 1, key
    assert counts["campagnes"] == counts["campagnes_appels"] == 1
    assert counts["journal_acces"] == 2
    identite = _section(data, "identite")["rows"][0]
    assert identite["nom_naissance"] == "Archivée" and identite["nir"] == full_file.nir
    assert _section(data, "cellule_points")["rows"][0]["synthese"] == "Synthèse 0"
    # Choices by their label, staff by their name, labels from the verbose names.
    contact = _section(data, "tentatives_contact")
    assert contact["rows"][0]["resultat"] == "Personne jointe"
    assert contact["rows"][0]["user"] == str(full_file.accompagnements.get().referent)
    assert {"key": "canal", "label": "Canal"} in contact["columns"]
    journal = _section(data, "journal_acces")["rows"][0]
    assert journal["user__role"] == "Assistant(e) de service social"
    assert journal["object_type"] == "assuré"


@needs_weasyprint
def test_the_files_hold_no_other_persons_data(full_file, shared):
    other = shared["other"]
    data = service.collect(full_file.pk)
    text = service.archive_json(data).decode()
    from pypdf import PdfReader

    pdf = service.archive_pdf(data, assure=full_file, archive=AccessArchive(assure=full_file))
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Archivée" in text and "Léontine" in pdf_text and "Synthèse 0" in pdf_text
    for content in (text, pdf_text):
        for secret in (OTHER_NAME, OTHER_FIRST, other.nir, "autre@example.org"):
            assert secret not in content
    # The other person's rows of the shared meeting, action and campaign are not read.
    assert len(_section(data, "cellule_points")["rows"]) == 2
    assert len(_section(data, "actions_collectives")["rows"]) == 1
    assert len(_section(data, "actions_collectives_presences")["rows"]) == 1
    assert len(_section(data, "campagnes")["rows"]) == 1


def test_the_json_has_a_stable_documented_structure(full_file):
    document = json.loads(service.archive_json(service.collect(full_file.pk)))
    assert document["schema_version"] == 1
    assert document["assure_id"] == full_file.pk
    datetime.datetime.fromisoformat(document["generated_at"])
    arrets = next(s for s in document["sections"] if s["key"] == "arrets")
    assert arrets["label"] == "Arrêts de travail"
    assert {"key": "date_debut", "label": "Début"} in arrets["columns"]
    datetime.date.fromisoformat(arrets["rows"][0]["date_debut"])


def test_the_number_of_queries_does_not_depend_on_the_volume(person, case, shared):
    _records(person, case, 1, shared=shared)
    with CaptureQueriesContext(connection) as one:
        service.collect(person.pk)
    _records(person, case, 4, shared=shared)
    with CaptureQueriesContext(connection) as many:
        service.collect(person.pk)
    assert len(one) == len(many) == len(service.SECTIONS)


# --- Who may ask -------------------------------------------------------------------------------


def test_the_unit_manager_sees_the_page_and_the_button(client, manager, case):
    client.force_login(manager)
    detail = client.get(reverse("cases:assure_detail", args=[case.assure_id]))
    url = reverse("privacy:archive_list", args=[case.assure_id])
    assert url in detail.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert "Générer l'archive" in response.content.decode()
    assert AuditLog.objects.filter(
        assure_id=case.assure_id, action="view", changes__page="droit d'accès"
    ).exists()


def test_the_page_costs_the_same_queries_for_one_or_many_archives(client, manager, case):
    client.force_login(manager)
    url = reverse("privacy:archive_list", args=[case.assure_id])
    AccessArchive.objects.create(assure=case.assure, requested_by=manager)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for _ in range(4):
        AccessArchive.objects.create(assure=case.assure, requested_by=manager, status="ready")
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(one) == len(many)


def test_another_units_manager_gets_a_404(client, other_unit, case):
    client.force_login(UserFactory(manager=True, unit=other_unit))
    assert client.get(reverse("privacy:archive_list", args=[case.assure_id])).status_code == 404
    response = client.post(reverse("privacy:archive_generate", args=[case.assure_id]))
    assert response.status_code == 404
    assert not AccessArchive.objects.exists()


def test_the_ass_referent_gets_a_403_and_no_button(client, ass, case):
    """She sees the person, but answering a right-of-access request is the manager's."""
    client.force_login(ass)
    detail = client.get(reverse("cases:assure_detail", args=[case.assure_id]))
    assert "Droit d'accès (RGPD)" not in detail.content.decode()
    assert client.get(reverse("privacy:archive_list", args=[case.assure_id])).status_code == 403
    response = client.post(reverse("privacy:archive_generate", args=[case.assure_id]))
    assert response.status_code == 403
    assert not AccessArchive.objects.exists()


def test_anonymous_is_sent_to_the_login(client, case):
    for url in (
        reverse("privacy:archive_list", args=[case.assure_id]),
        reverse("privacy:archive_json", args=["00000000-0000-0000-0000-000000000000"]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


# --- Generating, the task ----------------------------------------------------------------------


@needs_weasyprint
def test_generating_builds_the_archive_through_the_task(
    client, manager, case, settings, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    url = reverse("privacy:archive_generate", args=[case.assure_id])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url)
    response = client.get(reverse("privacy:archive_list", args=[case.assure_id]))
    archive = AccessArchive.objects.get()
    assert archive.status == "ready" and archive.requested_by == manager
    assert archive.expires_at == archive.ready_at + datetime.timedelta(days=7)
    assert (settings.PRIVATE_MEDIA_ROOT / archive.json_path).is_file()
    assert (settings.PRIVATE_MEDIA_ROOT / archive.pdf_path).read_bytes().startswith(b"%PDF")
    body = response.content.decode()
    assert reverse("privacy:archive_pdf", args=[archive.pk]) in body
    assert reverse("privacy:archive_json", args=[archive.pk]) in body
    assert AuditLog.objects.filter(
        object_type="privacy.accessarchive", action="create", assure_id=case.assure_id
    ).exists()


def test_the_task_is_idempotent(manager, case, settings, ready_archive):
    archive = ready_archive(case.assure, manager)
    first = archive.json_path
    assert build_access_archive.delay(str(archive.pk)).get() is None
    archive.refresh_from_db()
    assert archive.json_path == first
    assert len(list((settings.PRIVATE_MEDIA_ROOT / "archives").rglob("*.json"))) == 1


def test_a_second_request_while_one_is_pending_is_refused(client, manager, case):
    AccessArchive.objects.create(assure=case.assure, requested_by=manager)
    client.force_login(manager)
    response = client.post(reverse("privacy:archive_generate", args=[case.assure_id]), follow=True)
    assert "déjà en préparation" in response.content.decode()
    assert AccessArchive.objects.count() == 1


def test_a_pending_row_polls_until_it_is_ready(client, manager, case):
    archive = AccessArchive.objects.create(assure=case.assure, requested_by=manager)
    client.force_login(manager)
    page = client.get(reverse("privacy:archive_list", args=[case.assure_id])).content.decode()
    row_url = reverse("privacy:archive_row", args=[archive.pk])
    assert f'hx-get="{row_url}"' in page and 'hx-trigger="every 2s"' in page
    assert "Générer l'archive" not in page
    assert "HX-Refresh" not in client.get(row_url, headers={"HX-Request": "true"})
    service.archive_build(archive_id=archive.pk)
    response = client.get(row_url, headers={"HX-Request": "true"})
    assert response["HX-Refresh"] == "true"  # the page comes back with « Générer l'archive »
    row = response.content.decode()
    assert "hx-trigger" not in row and reverse("privacy:archive_json", args=[archive.pk]) in row


def test_without_weasyprint_the_json_is_still_built(manager, case, monkeypatch, ready_archive):
    from pdp.pdf import MISSING_PACKAGE, PdfUnavailable

    def unavailable(*args, **kwargs):
        raise PdfUnavailable(MISSING_PACKAGE)

    monkeypatch.setattr(service, "render_pdf", unavailable)
    archive = ready_archive(case.assure, manager)
    assert archive.status == "ready" and archive.json_path and not archive.pdf_path
    assert "WeasyPrint n'est pas installé" in archive.error


def test_a_failed_build_says_so_and_leaves_no_file(manager, case, monkeypatch, settings):
    def broken(*args, **kwargs):
        raise RuntimeError("disque plein")

    monkeypatch.setattr(service, "archive_pdf", broken)
    archive = AccessArchive.objects.create(assure=case.assure, requested_by=manager)
    assert service.archive_build(archive_id=archive.pk) is None
    archive.refresh_from_db()
    assert archive.status == "failed" and "a échoué" in archive.error
    assert not archive.json_path
    assert not list((settings.PRIVATE_MEDIA_ROOT / "archives").rglob("*.*"))
    assert service.archive_build(archive_id=archive.pk) is None  # not retried once failed


# --- Downloads ---------------------------------------------------------------------------------


@needs_weasyprint
def test_a_download_is_an_attachment_not_cached_and_logged_as_an_export(
    client, manager, case, ready_archive
):
    archive = ready_archive(case.assure, manager)
    client.force_login(manager)
    for kind in ("json", "pdf"):
        response = client.get(reverse(f"privacy:archive_{kind}", args=[archive.pk]))
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert f".{kind}" in response["Content-Disposition"]
        assert "no-store" in response["Cache-Control"]
        content = b"".join(response.streaming_content)
        if kind == "json":
            assert json.loads(content)["assure_id"] == case.assure_id
        else:
            assert content.startswith(b"%PDF")
    exports = AuditLog.objects.filter(action="export", assure_id=case.assure_id)
    assert sorted(e.changes["format"][1] for e in exports) == ["json", "pdf"]
    assert all(e.user == manager and e.object_id == str(archive.pk) for e in exports)


def test_a_download_checks_the_permission_again(
    client, manager, ass, other_unit, case, ready_archive
):
    archive = ready_archive(case.assure, manager)
    url = reverse("privacy:archive_json", args=[archive.pk])
    client.force_login(ass)
    assert client.get(url).status_code == 403
    client.force_login(UserFactory(manager=True, unit=other_unit))
    assert client.get(url).status_code == 404
    assert not AuditLog.objects.filter(action="export").exists()


def test_an_expired_link_is_refused_with_a_french_page(client, manager, case, ready_archive):
    archive = ready_archive(case.assure, manager)
    with time_after(days=8):
        client.force_login(manager)  # the session would have ended after 30 idle minutes
        response = client.get(reverse("privacy:archive_pdf", args=[archive.pk]))
    assert response.status_code == 410
    assert "Ce lien a expiré" in response.content.decode()
    assert not AuditLog.objects.filter(action="export").exists()


@needs_weasyprint
def test_the_nightly_purge_removes_expired_files_once(manager, ass, case, settings, ready_archive):
    archive = ready_archive(case.assure, manager)
    files = [settings.PRIVATE_MEDIA_ROOT / p for p in (archive.json_path, archive.pdf_path)]
    with time_after(days=3):
        fresh = ready_archive(AccompagnementFactory(referent=ass).assure, manager)
    later = timezone.now() + datetime.timedelta(days=8)
    assert service.archive_purge_expired(now=later) == 1
    assert not any(f.exists() for f in files)
    archive.refresh_from_db()
    assert archive.status == "expired" and not archive.json_path
    assert (settings.PRIVATE_MEDIA_ROOT / fresh.json_path).is_file()
    assert service.archive_purge_expired(now=later) == 0
    assert purge_expired_access_archives.delay().get() == 0


class time_after:
    """Move `timezone.now` forward inside the block (time-machine)."""

    def __init__(self, days):
        import time_machine

        self.traveller = time_machine.travel(
            timezone.now() + datetime.timedelta(days=days), tick=False
        )

    def __enter__(self):
        self.traveller.start()

    def __exit__(self, *exc):
        self.traveller.stop()
