"""The retention job (privacy.retention): notices, anonymisation, receipts, access-log purge."""

import datetime
import zoneinfo

import psycopg2
import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.urls import reverse

from cases.models import (
    Accompagnement,
    CaseEvent,
    Cloture,
    DispositifMobilise,
    DispositifType,
    Document,
    Entretien,
    RetentionNotice,
)
from indicators.catalogue import CATALOGUE as INDICATORS
from indicators.models import Snapshot, SnapshotMonth
from indicators.snapshots import compute_region
from outreach.models import Rappel
from pdp import partitions
from pdp.models import AuditLog, Message
from privacy import retention
from privacy.models import AccessArchive, AnonymousCase, RetentionRun
from referrals.models import Assure, ContactAttempt, Signalement, Statut
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    EntretienFactory,
    SignalementFactory,
    UserFactory,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# The old person's file is written on 15 March 2024; nothing happens to them afterwards.
T0 = datetime.datetime(2024, 3, 15, 10, 0, tzinfo=PARIS)
WARN = datetime.datetime(2026, 2, 20, 3, 30, tzinfo=PARIS)  # 707 days later: warned
DUE = datetime.datetime(2026, 3, 23, 3, 30, tzinfo=PARIS)  # 30 days after the warning


def d(text):
    return datetime.date.fromisoformat(text)


def travel(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def old_file(ass):
    """A person whose referral, closed case, meeting, dispositif and document all date from
    early 2024."""
    with travel(T0):
        assure = AssureFactory(
            nom_naissance="Ancien", sexe="2", date_naissance=d("1970-06-01"), telephone="0611"
        )
        arret = ArretFactory(
            assure=assure,
            type_arret="AT",
            date_debut=d("2023-10-01"),
            date_fin_prevue=d("2024-01-31"),
            date_fin_reelle=d("2024-02-29"),
        )
        referral = SignalementFactory(
            assure=assure,
            arret=arret,
            unit=ass.unit,
            assigned_to=ass,
            date_signalement=d("2024-01-05"),
            statut=Statut.ACCOMPAGNEMENT_OUVERT,
        )
        ContactAttempt.objects.create(
            signalement=referral, canal="telephone", resultat="joint", user=ass
        )
        case = AccompagnementFactory(
            assure=assure,
            referent=ass,
            signalement=referral,
            date_ouverture=d("2024-01-20"),
            statut="cloture",
            date_cloture=d("2024-02-20"),
        )
        Cloture.objects.create(
            accompagnement=case,
            outcome="maintien_amenage",
            date_cloture=d("2024-02-20"),
            closed_by=ass,
        )
        EntretienFactory(
            accompagnement=case,
            debut=datetime.datetime(2024, 2, 1, 10, tzinfo=PARIS),
            statut=Entretien.Statut.REALISE,
        )
        EntretienFactory(
            accompagnement=case,
            debut=datetime.datetime(2024, 2, 8, 10, tzinfo=PARIS),
            statut=Entretien.Statut.ANNULE,
        )
        pmsmp = DispositifType.objects.get_or_create(
            code="pmsmp", defaults={"label": "PMSMP", "phase": "pendant"}
        )[0]
        DispositifMobilise.objects.create(
            accompagnement=case,
            type=pmsmp,
            statut="termine",
            date_debut=d("2024-02-01"),
            date_fin=d("2024-02-10"),
        )
        CaseEvent.objects.create(accompagnement=case, kind="note", summary="Note", actor=ass)
        document = Document.objects.create(
            accompagnement=case,
            fichier=ContentFile(b"%PDF-1.4 secret", name="bilan.pdf"),
            nom="Bilan.pdf",
            content_type="application/pdf",
            taille=15,
            uploaded_by=ass,
        )
        # A second referral, never opened into a case.
        SignalementFactory(
            assure=assure,
            unit=ass.unit,
            date_signalement=d("2024-03-01"),
            statut=Statut.SANS_REPONSE,
        )
        Message.objects.create(
            channel="sms",
            template="rdv",
            recipient="0611",
            assure_id=assure.pk,
            body="Votre rendez-vous",
            status="sent",
        )
        AuditLog.objects.create(
            user=ass,
            action="update",
            object_type="referrals.assure",
            object_id=str(assure.pk),
            assure_id=assure.pk,
            changes={"nom_usage": ["", "Ancien-Nom"]},
        )
    return {"assure": assure, "case": case, "document": document, "path": document.fichier.path}


@pytest.fixture
def active_person(ass):
    with travel(DUE - datetime.timedelta(days=10)):
        referral = SignalementFactory(unit=ass.unit, assigned_to=ass)
        ContactAttempt.objects.create(
            signalement=referral, canal="telephone", resultat="joint", user=ass
        )
    return referral.assure


def run(moment, wet_run=False):
    with travel(moment):
        return retention.retention_run(wet_run=wet_run)


def test_the_last_activity_is_the_latest_date_of_anything_about_the_person(old_file, active_person):
    with travel(DUE):
        rows = dict(retention.with_last_activity().values_list("pk", "last_activity"))
    assert rows[old_file["assure"].pk] == d("2024-03-15")  # the file's creation, the latest
    assert rows[active_person.pk] == (DUE - datetime.timedelta(days=10)).date()


def test_a_person_is_warned_thirty_days_before_and_the_dry_run_changes_nothing(
    old_file, active_person
):
    first = run(WARN)
    notice = RetentionNotice.objects.get()
    assert notice.assure == old_file["assure"]
    assert notice.due_on == WARN.date() + datetime.timedelta(days=30)  # never less than 30 days
    assert first.counts["warned"] == 1 and first.counts["people_anonymised"] == 0

    dry = run(DUE)
    assert dry.dry_run
    assert dry.counts["people_anonymised"] == 1
    assert dry.counts["anonymous_cases"] == 2  # the case and the referral without one
    assert dry.counts["documents_deleted"] == 1
    assert dry.counts["receipts_anonymised"] == 1
    assert Assure.objects.filter(pk=old_file["assure"].pk).exists()
    assert AnonymousCase.objects.count() == 0
    assert Message.objects.get().recipient == "0611"
    with open(old_file["path"], "rb") as f:
        assert f.read().startswith(b"%PDF")


def test_the_wet_run_replaces_the_person_by_anonymous_rows(
    old_file, active_person, ass, django_capture_on_commit_callbacks, settings
):
    # Their message (T0) would be deleted by this run: kept, to see anonymisation blank it.
    settings.RETENTION_MESSAGE_DELETE_DAYS = 3650
    run(WARN)
    with travel(WARN):  # the référent opened the file after the notice (a read is no contact)
        AuditLog.objects.create(
            user=ass,
            action="view",
            object_type="referrals.assure",
            object_id=str(old_file["assure"].pk),
            assure_id=old_file["assure"].pk,
            changes={"page": "Ancien"},
        )
    with django_capture_on_commit_callbacks(execute=True):
        wet = run(DUE, wet_run=True)
    assert wet.counts["people_anonymised"] == 1
    assert wet.counts["anonymous_cases"] == 2
    assert wet.counts["documents_deleted"] == 1

    pk = old_file["assure"].pk
    assert not Assure.objects.filter(pk=pk).exists()
    assert not Accompagnement.objects.filter(pk=old_file["case"].pk).exists()
    assert not Document.objects.exists()
    assert not Signalement.objects.filter(assure_id=pk).exists()
    assert not RetentionNotice.objects.exists()
    import os

    assert not os.path.exists(old_file["path"])

    case_row = AnonymousCase.objects.get(opened_month__isnull=False)
    assert case_row.region_id == ass.unit.region_id
    assert case_row.unit_id == ass.unit_id
    assert case_row.mission == "pdp"
    assert case_row.referral_month == d("2024-01-01")
    assert case_row.opened_month == d("2024-01-01")
    assert case_row.closed_month == d("2024-02-01")
    assert case_row.outcome == "maintien_amenage"
    assert case_row.meetings == 1  # held ones only
    assert case_row.dispositifs == 1 and case_row.dispositifs_by_type == {"pmsmp": 1}
    assert case_row.age_band == "45-54"  # 53 at the referral
    assert case_row.sexe == "2"
    assert case_row.type_arret == "AT"
    assert case_row.duration_band == "3-6m"  # 152 days
    referral_row = AnonymousCase.objects.get(opened_month__isnull=True)
    assert referral_row.outcome == "sans_reponse"
    assert referral_row.referral_month == d("2024-03-01")

    # Receipts and the access log keep their rows, without anything identifying.
    message = Message.objects.get()
    assert (message.recipient, message.body, message.assure_id) == ("", "", None)
    assert message.status == "sent" and message.channel == "sms"
    assert not AuditLog.objects.filter(action="update", object_type="referrals.assure")  # purged
    row = AuditLog.objects.get(object_type="referrals.assure", action="view")
    assert row.changes == {} and row.assure_id is None

    # The other person is untouched.
    active_person.refresh_from_db()
    assert active_person.signalements.count() == 1


def test_a_second_wet_run_does_nothing(old_file, django_capture_on_commit_callbacks):
    run(WARN)
    with django_capture_on_commit_callbacks(execute=True):
        run(DUE, wet_run=True)
    again = run(DUE + datetime.timedelta(hours=1), wet_run=True)
    assert {k: v for k, v in again.counts.items() if v} == {}
    assert AnonymousCase.objects.count() == 2


def test_nobody_is_anonymised_without_a_notice_shown_thirty_days(old_file):
    wet = run(DUE, wet_run=True)  # first run ever: the person is only warned
    assert wet.counts["people_anonymised"] == 0
    assert RetentionNotice.objects.get().due_on == DUE.date() + datetime.timedelta(days=30)
    assert Assure.objects.filter(pk=old_file["assure"].pk).exists()


def test_a_person_with_a_case_not_closed_is_kept_and_flagged(ass):
    with travel(T0):
        case = AccompagnementFactory(referent=ass, date_ouverture=d("2024-03-01"))
    run(WARN)
    wet = run(DUE, wet_run=True)
    assert wet.counts["people_anonymised"] == 0
    assert wet.counts["open_cases_kept"] == 1
    assert Accompagnement.objects.filter(pk=case.pk).exists()
    assert RetentionNotice.objects.get().open_case


def test_a_new_contact_takes_the_notice_away(old_file, ass):
    run(WARN)
    assert RetentionNotice.objects.exists()
    with travel(WARN + datetime.timedelta(days=2)):
        ContactAttempt.objects.create(
            signalement=old_file["case"].signalement, canal="telephone", resultat="joint"
        )
    wet = run(DUE, wet_run=True)
    assert not RetentionNotice.objects.exists()
    assert wet.counts["people_anonymised"] == 0
    assert Assure.objects.filter(pk=old_file["assure"].pk).exists()


def test_receipts_are_blanked_after_six_months_only(db):
    with travel(T0):
        old = Message.objects.create(
            channel="email", template="t", recipient="a@example.org", body="Texte", status="sent"
        )
        queued = Message.objects.create(
            channel="sms", template="t", recipient="0612", body="Texte", status="deferred"
        )
    with travel(T0 + datetime.timedelta(days=170)):
        recent = Message.objects.create(
            channel="sms", template="t", recipient="0613", body="Texte", status="sent"
        )
    wet = run(T0 + datetime.timedelta(days=185), wet_run=True)
    assert wet.counts["receipts_anonymised"] == 1
    old.refresh_from_db(), queued.refresh_from_db(), recent.refresh_from_db()
    assert (old.recipient, old.body, old.status) == ("", "", "sent")
    assert old.channel == "email" and old.template == "t"
    assert recent.recipient == "0613" and queued.recipient == "0612"


def test_messages_are_deleted_after_two_years_and_their_reminders_lose_them(db):
    table = Message._meta.db_table
    if partitions.is_partitioned(table):  # PostgreSQL: the month of T0 goes as a partition
        partitions.create_partition(table, partitions.month_start(T0))
    with travel(T0):
        old = Message.objects.create(
            channel="sms", template="t", recipient="0612", body="Texte", status="sent"
        )
    with travel(T0 + datetime.timedelta(days=400)):
        younger = Message.objects.create(
            channel="sms", template="t", recipient="0613", body="Texte", status="sent"
        )
    rappel = Rappel.objects.create(entretien=EntretienFactory(), debut=T0, message=old)
    moment = T0 + datetime.timedelta(days=760)

    dry = run(moment)
    assert dry.counts["receipts_deleted"] == 1
    assert Message.objects.filter(pk=old.pk).exists()

    wet = run(moment, wet_run=True)
    assert wet.counts["receipts_deleted"] == 1
    assert list(Message.objects.values_list("pk", flat=True)) == [younger.pk]
    rappel.refresh_from_db()
    assert rappel.message_id is None
    if partitions.is_partitioned(table):
        assert partitions.month_start(T0) not in partitions.partitions(table)
    assert run(moment, wet_run=True).counts["receipts_deleted"] == 0


def test_access_log_rows_older_than_a_year_are_purged(db, ass):
    with travel(T0):
        AuditLog.objects.create(user=ass, action="view", object_type="x", object_id="1")
    with travel(T0 + datetime.timedelta(days=300)):
        AuditLog.objects.create(user=ass, action="view", object_type="x", object_id="2")
    moment = T0 + datetime.timedelta(days=370)
    assert run(moment).counts["audit_purged"] == 1
    assert AuditLog.objects.filter(object_type="x").count() == 2
    assert run(moment, wet_run=True).counts["audit_purged"] == 1
    assert list(AuditLog.objects.filter(object_type="x").values_list("object_id", flat=True)) == [
        "2"
    ]


def test_a_run_while_another_holds_the_lock_does_nothing(old_file):
    """Two workers at once: the second finds the lock taken and returns without any work."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL advisory locks")
    run(WARN)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other = psycopg2.connect(**params)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [retention.LOCK_KEY])
        assert run(DUE, wet_run=True) is None
        assert Assure.objects.filter(pk=old_file["assure"].pk).exists()
        assert RetentionRun.objects.count() == 1
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [retention.LOCK_KEY])
    finally:
        other.close()
    assert run(DUE, wet_run=True).counts["people_anonymised"] == 1


def test_the_indicators_of_past_months_keep_counting_an_anonymised_person(
    old_file, ass, django_capture_on_commit_callbacks
):
    indicator = [i for i in INDICATORS if i.code == "accompagnements_ouverts"]
    region = ass.unit.region_id

    def january_2024():
        return Snapshot.objects.filter(
            code="accompagnements_ouverts", month=d("2024-01-01"), rollup=Snapshot.BY_REGION
        ).aggregate(n=Sum("n"))["n"]

    with travel(T0):
        compute_region(region, catalogue=indicator)
    assert january_2024() == 1
    run(WARN)
    with django_capture_on_commit_callbacks(execute=True):
        run(DUE, wet_run=True)
    assert not Accompagnement.objects.exists()
    with travel(DUE):
        compute_region(region, catalogue=indicator)
    assert january_2024() == 1  # frozen: 26 months old, recomputed only within 13
    # The months never stored are computed.
    assert SnapshotMonth.objects.filter(code="accompagnements_ouverts", month=d("2026-02-01"))


def test_recent_months_are_recomputed(ass):
    indicator = [i for i in INDICATORS if i.code == "accompagnements_ouverts"]
    now = datetime.datetime(2026, 3, 10, 3, 0, tzinfo=PARIS)
    with travel(now):
        AccompagnementFactory(referent=ass, date_ouverture=d("2026-01-15"))
        compute_region(ass.unit.region_id, catalogue=indicator)
        AccompagnementFactory(referent=ass, date_ouverture=d("2026-01-20"))
        compute_region(ass.unit.region_id, catalogue=indicator)
    total = Snapshot.objects.filter(
        code="accompagnements_ouverts", month=d("2026-01-01"), rollup=Snapshot.BY_REGION
    ).aggregate(n=Sum("n"))["n"]
    assert total == 2


def test_the_retention_must_outlast_the_recomputed_months(settings):
    assert retention.check_retention_after_frozen_months() == []
    settings.RETENTION_INACTIVITY_DAYS = 400
    errors = retention.check_retention_after_frozen_months()
    assert [e.id for e in errors] == ["privacy.E001"]


def test_messages_must_outlast_the_inactivity_period(settings):
    assert retention.check_messages_deleted_after_inactivity() == []
    settings.RETENTION_MESSAGE_DELETE_DAYS = settings.RETENTION_INACTIVITY_DAYS - 1
    errors = retention.check_messages_deleted_after_inactivity()
    assert [e.id for e in errors] == ["privacy.E002"]


# --- Dashboards ---------------------------------------------------------------------------


def test_the_referent_and_the_manager_see_the_notice_on_their_dashboard(
    client, old_file, ass, manager, colleague
):
    run(WARN)
    with travel(WARN):
        for user in (ass, manager):
            client.force_login(user)
            page = client.get(reverse("cases:dashboard")).content.decode()
            text = " ".join(page.split())
            assert "1 personne sans contact depuis bientôt 2 ans" in text
            assert "anonymisation le 22/03/2026" in text
            assert reverse("cases:assure_detail", args=[old_file["assure"].pk]) in page
            assert "22/03/2026" in page
        client.force_login(colleague)
        page = client.get(reverse("cases:dashboard")).content.decode()
        assert "anonymisée" not in page


def test_the_dashboard_notice_costs_the_same_queries_whatever_their_number(client, ass):
    from django.test.utils import CaptureQueriesContext

    def count():
        client.force_login(ass)
        with travel(DUE), CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("cases:dashboard")).status_code == 200
        return len(ctx.captured_queries)

    with travel(T0):
        AccompagnementFactory(referent=ass, statut="cloture", date_cloture=d("2024-03-01"))
    run(DUE)
    one = count()
    with travel(T0):
        for _ in range(5):
            AccompagnementFactory(referent=ass, statut="cloture", date_cloture=d("2024-03-01"))
    run(DUE)
    assert RetentionNotice.objects.count() == 6
    assert count() == one


# --- The administrators' page and the command -----------------------------------------------

URL = reverse("privacy:retention")


def test_the_page_is_for_administrators_only(client, ass, manager, regional):
    assert client.get(URL).status_code == 302
    for user in (ass, manager, regional, UserFactory(coordinateur=True)):
        client.force_login(user)
        assert client.get(URL).status_code == 403


def test_the_page_shows_the_runs_rules_and_anonymous_totals(
    client, old_file, django_capture_on_commit_callbacks
):
    run(WARN)
    with django_capture_on_commit_callbacks(execute=True):
        run(DUE, wet_run=True)
    client.force_login(UserFactory(admin=True))
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "730 jours" in page.replace("\u00a0", " ")
    assert "personnes anonymisées" in page
    assert len(response.context["runs"]) == 2
    assert response.context["totals"] == [
        {
            "region__name": old_file["case"].unit.region.name,
            "year": 2024,
            "cases": 1,
            "referrals": 1,
        }
    ]


def test_the_admins_menu_links_the_page(db):
    from pdp.context_processors import nav_items_for

    assert URL in [i["url"] for i in nav_items_for(UserFactory(admin=True, role="admin"))]


def test_the_command_is_a_dry_run_unless_wet_run(old_file, capsys):
    run(WARN)
    with travel(DUE):
        call_command("anonymise")
    out = capsys.readouterr().out
    assert "Simulation" in out and "personnes anonymisées\u00a0: 1" in out
    assert Assure.objects.filter(pk=old_file["assure"].pk).exists()
    with travel(DUE):
        call_command("anonymise", "--wet-run")
    assert "Passage réel" in capsys.readouterr().out
    assert not Assure.objects.filter(pk=old_file["assure"].pk).exists()


def test_the_nightly_task_is_scheduled_and_wet(old_file):
    from pdp.celery import app
    from privacy.tasks import retention_nightly

    assert app.conf.beat_schedule["retention-nightly"]["task"] == "privacy.tasks.retention_nightly"
    run(WARN)
    with travel(DUE):
        counts = retention_nightly()
    assert counts["people_anonymised"] == 1
    assert RetentionRun.objects.latest("pk").scheduled


def test_two_batches_anonymise_everyone(settings, ass, django_capture_on_commit_callbacks):
    settings.RETENTION_BATCH = 2
    with travel(T0):
        for _ in range(5):
            SignalementFactory(unit=ass.unit, date_signalement=d("2024-03-01"))
    run(WARN)
    with django_capture_on_commit_callbacks(execute=True):
        wet = run(DUE, wet_run=True)
    assert wet.counts["people_anonymised"] == 5
    assert not Assure.objects.exists()
    assert AnonymousCase.objects.count() == 5


def test_the_raw_lines_of_rejected_cpam_lines_are_blanked_after_a_year(db):
    from referrals.models import CpamImport, ImportRejection

    with travel(T0):
        old = CpamImport.objects.create(file_name="a.csv", status="processed")
        old_line = ImportRejection.objects.create(
            cpam_import=old, line_number=2, reason="NIR invalide", raw_line="185057612345678;DUPONT"
        )
    with travel(T0 + datetime.timedelta(days=300)):
        recent = CpamImport.objects.create(file_name="b.csv", status="processed")
        recent_line = ImportRejection.objects.create(
            cpam_import=recent, line_number=2, reason="NIR invalide", raw_line="285;MARTIN"
        )
    wet = run(T0 + datetime.timedelta(days=370), wet_run=True)
    assert wet.counts["receipts_anonymised"] == 1
    old_line.refresh_from_db(), recent_line.refresh_from_db()
    assert (old_line.raw_line, old_line.reason) == ("", "NIR invalide")
    assert recent_line.raw_line == "285;MARTIN"


def test_the_persons_access_archives_go_with_them(
    old_file, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    folder = tmp_path / "private" / "archives" / "a1"
    folder.mkdir(parents=True)
    (folder / "dossier.json").write_text('{"nom": "Ancien"}')
    with travel(T0):
        AccessArchive.objects.create(
            assure=old_file["assure"],
            status=AccessArchive.Status.READY,
            json_path="archives/a1/dossier.json",
        )
    run(WARN)
    with django_capture_on_commit_callbacks(execute=True):
        wet = run(DUE, wet_run=True)
    assert wet.counts["people_anonymised"] == 1
    assert not AccessArchive.objects.exists()
    assert not (folder / "dossier.json").exists()
    assert not folder.exists()
