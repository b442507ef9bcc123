"""Upload page, import history, import detail and the CSV of rejected lines."""

import csv
import datetime
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from pdp.models import AuditLog
from referrals.importer import COLUMNS
from referrals.models import ArretTravail, CpamImport, CpamImportCaisse, ImportRejection
from tests.factories import CpamFactory, RegionFactory, UnitFactory, UserFactory
from tests.referrals.test_import import build_extract, extract_row

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
LIST = reverse("referrals:import_list")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def cpam(unit):
    return CpamFactory(code="761", region=unit.region)


@pytest.fixture
def other_region_manager(db):
    region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    return UserFactory(manager=True, unit=UnitFactory(region=region))


@pytest.fixture
def past_import(cpam, manager):
    cpam_import = CpamImport.objects.create(
        file_name="extrait_octobre.csv",
        cpam=cpam,
        user=manager,
        status=CpamImport.Status.PROCESSED,
        rows_read=3,
        rows_created=1,
        rows_rejected=2,
    )
    ImportRejection.objects.create(
        cpam_import=cpam_import,
        line_number=4,
        reason="Clé du NIR invalide.",
        raw_line="185057600000199;MARTIN;Paul",
    )
    ImportRejection.objects.create(
        cpam_import=cpam_import,
        line_number=2,
        reason="La date de fin prévue (01/08/2026) précède la date de début (01/09/2026).",
        raw_line='1;"DURAND; Léa"',
    )
    return cpam_import


def upload(client, data, name="extrait.csv", **fields):
    payload = {
        "fichier": SimpleUploadedFile(name, data, content_type="text/csv"),
        "date_extrait": "2026-11-01",
        **fields,
    }
    # The upload is imported by the worker once the request commits (eager in tests).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(LIST, payload)


def detail_url(cpam_import):
    return reverse("referrals:import_detail", args=[cpam_import.pk])


def csv_url(cpam_import):
    return reverse("referrals:import_rejections_csv", args=[cpam_import.pk])


# --- Access ------------------------------------------------------------------------------------


def test_the_pages_require_login(client, past_import):
    for url in (LIST, detail_url(past_import), csv_url(past_import)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["ass", "regional", "medecin"])
def test_other_roles_cannot_use_the_upload_page(client, cpam, persona, request):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(LIST).status_code == 403
    assert upload(client, build_extract([extract_row(1)])).status_code == 403
    assert not CpamImport.objects.exists()
    assert not ArretTravail.objects.exists()


@pytest.mark.parametrize("persona", ["ass", "regional", "medecin"])
def test_other_roles_do_not_see_an_import(client, past_import, persona, request):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(detail_url(past_import)).status_code == 404
    assert client.get(csv_url(past_import)).status_code == 404


def test_a_manager_of_another_region_does_not_see_the_import(
    client, past_import, other_region_manager
):
    client.force_login(other_region_manager)

    assert client.get(detail_url(past_import)).status_code == 404
    assert client.get(csv_url(past_import)).status_code == 404
    assert past_import.file_name not in client.get(LIST).content.decode()


def test_a_conseiller_of_the_region_sees_the_import_of_another_unit(
    client, past_import, other_unit
):
    client.force_login(UserFactory(conseiller=True, unit=other_unit))

    response = client.get(detail_url(past_import))

    assert response.status_code == 200
    assert "Clé du NIR invalide." in response.content.decode()


def test_the_admin_sees_every_import(client, past_import, admin_user):
    client.force_login(admin_user)

    assert client.get(detail_url(past_import)).status_code == 200
    assert past_import.file_name in client.get(LIST).content.decode()


# --- Upload ------------------------------------------------------------------------------------


def test_the_upload_page_shows_the_form_and_the_region_imports(
    client, manager, past_import, other_region_manager, django_assert_max_num_queries
):
    second_caisse = CpamFactory(code="762", region=past_import.cpam.region)
    for n in range(5):
        cpam_import = CpamImport.objects.create(
            file_name=f"f{n}.csv", cpam=past_import.cpam, status=CpamImport.Status.PROCESSED
        )
        CpamImportCaisse.objects.create(
            cpam_import=cpam_import, cpam=past_import.cpam, line_count=7
        )
        CpamImportCaisse.objects.create(cpam_import=cpam_import, cpam=second_caisse, line_count=n)
    CpamImport.objects.create(
        file_name="bretagne.csv",
        cpam=CpamFactory(code="351", region=other_region_manager.unit.region),
        status=CpamImport.Status.PROCESSED,
    )
    client.force_login(manager)

    with django_assert_max_num_queries(9):  # the caisses of every import in one query
        response = client.get(LIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert "extrait_octobre.csv" in page
    assert "f4.csv" in page
    assert "bretagne.csv" not in page
    assert "761&nbsp;(7)" in page
    assert "762&nbsp;(4)" in page
    assert [c.code for c in response.context["form"].fields["caisse"].queryset] == ["761", "762"]


def test_a_manager_uploads_an_extract_and_the_import_is_recorded(client, manager, cpam):
    client.force_login(manager)
    data = build_extract([extract_row(1), extract_row(2, nir="123"), extract_row(3)])

    response = upload(client, data, name="extrait_novembre.csv")

    cpam_import = CpamImport.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(cpam_import)
    assert cpam_import.user == manager
    assert cpam_import.file_name == "extrait_novembre.csv"
    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert (cpam_import.rows_read, cpam_import.rows_created, cpam_import.rows_rejected) == (3, 2, 1)
    assert ArretTravail.objects.filter(last_import=cpam_import).count() == 2
    assert AuditLog.objects.filter(
        object_type="referrals.cpamimport", object_id=str(cpam_import.pk), user=manager
    ).exists()
    page = client.get(response.url).content.decode()
    assert "Import terminé&nbsp;: 3 lignes lues, 2 arrêts créés" in page
    assert "Le NIR doit comporter 15 caractères" in page
    assert csv_url(cpam_import) in page


def test_a_conseiller_may_upload_too(client, conseiller, cpam):
    client.force_login(conseiller)

    response = upload(client, build_extract([extract_row(1)]))

    assert response.status_code == 302
    assert CpamImport.objects.get().user == conseiller


def test_the_expected_caisse_is_offered_from_the_region_only(
    client, manager, cpam, other_region_manager
):
    foreign = CpamFactory(code="351", region=other_region_manager.unit.region)
    client.force_login(manager)

    response = upload(client, build_extract([extract_row(1)]), caisse=foreign.pk)

    assert response.status_code == 200
    assert "caisse" in response.context["form"].errors
    assert not CpamImport.objects.exists()


def test_an_expected_caisse_rejects_the_other_rows(client, manager, cpam):
    CpamFactory(code="762", region=cpam.region)
    client.force_login(manager)
    rows = [extract_row(1), extract_row(2, code_caisse="762")]

    upload(client, build_extract(rows), caisse=cpam.pk)

    cpam_import = CpamImport.objects.get()
    assert (cpam_import.rows_created, cpam_import.rows_rejected) == (1, 1)
    assert "caisse attendue « 761 »" in cpam_import.rejections.get().reason


def test_a_file_of_another_type_is_refused_by_the_form(client, manager, cpam):
    client.force_login(manager)

    response = upload(client, build_extract([extract_row(1)]), name="extrait.xlsx")

    assert response.status_code == 200
    assert "Le fichier doit être un .csv ou un .txt." in response.content.decode()
    assert not CpamImport.objects.exists()


def test_a_refused_file_is_recorded_and_its_reason_shown(client, manager, cpam):
    client.force_login(manager)
    data = build_extract([extract_row(1)], columns=[c for c in COLUMNS if c != "type_arret"])

    response = upload(client, data)

    cpam_import = CpamImport.objects.get()
    assert cpam_import.status == CpamImport.Status.REFUSED
    assert response.url == detail_url(cpam_import)
    page = client.get(response.url).content.decode()
    assert "Fichier refusé" in page
    assert "type_arret" in page
    assert not ArretTravail.objects.exists()


def test_the_uploader_sees_a_refused_import_without_caisse(client, manager, cpam):
    client.force_login(manager)

    upload(client, b"\x00\x01\x02\x03", name="photo.txt")

    cpam_import = CpamImport.objects.get()
    assert cpam_import.cpam is None
    assert client.get(detail_url(cpam_import)).status_code == 200
    assert "photo.txt" in client.get(LIST).content.decode()


def test_a_simulation_shows_the_result_and_records_nothing(client, manager, cpam):
    client.force_login(manager)
    data = build_extract([extract_row(1), extract_row(2, type_arret="XX")])

    response = upload(client, data, simulation="on")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Rien n'a été enregistré" in page
    assert "1 arrêt créé" in page
    assert "type inconnu « XX »" in page
    assert not CpamImport.objects.exists()
    assert not ArretTravail.objects.exists()


# --- History, detail, CSV ------------------------------------------------------------------------


def test_the_history_is_paginated_and_sortable(client, manager, cpam):
    for n in range(30):
        CpamImport.objects.create(
            file_name=f"extrait_{n:02d}.csv",
            cpam=cpam,
            status=CpamImport.Status.PROCESSED,
            rows_read=n,
        )
    client.force_login(manager)

    first = client.get(LIST, {"o": "fichier"})
    second = client.get(LIST, {"o": "fichier", "page": 2})
    by_rows = client.get(LIST, {"o": "-lues"})
    bogus = client.get(LIST, {"o": "password"})

    assert [i.file_name for i in first.context["page_obj"]][:2] == [
        "extrait_00.csv",
        "extrait_01.csv",
    ]
    assert len(first.context["page_obj"]) == 25
    assert [i.file_name for i in second.context["page_obj"]] == [
        f"extrait_{n}.csv" for n in range(25, 30)
    ]
    assert by_rows.context["page_obj"][0].rows_read == 29
    assert bogus.status_code == 200


def test_the_detail_lists_the_rejected_lines_in_order(
    client, manager, past_import, django_assert_max_num_queries
):
    client.force_login(manager)

    with django_assert_max_num_queries(10):  # incl. the audit row, the caisses, the savepoint
        response = client.get(detail_url(past_import))

    assert response.status_code == 200
    assert [r.line_number for r in response.context["page_obj"]] == [2, 4]
    page = response.content.decode()
    assert "Télécharger les lignes rejetées (CSV)" in page
    assert AuditLog.objects.filter(
        action=AuditLog.Action.VIEW, object_id=str(past_import.pk), user=manager
    ).exists()


def test_the_csv_download_contains_the_rejected_lines(client, manager, past_import):
    client.force_login(manager)

    response = client.get(csv_url(past_import))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows == [
        ["ligne", "motif", "contenu"],
        [
            "2",
            "La date de fin prévue (01/08/2026) précède la date de début (01/09/2026).",
            '1;"DURAND; Léa"',
        ],
        ["4", "Clé du NIR invalide.", "185057600000199;MARTIN;Paul"],
    ]
    assert AuditLog.objects.filter(
        action=AuditLog.Action.EXPORT, object_id=str(past_import.pk), user=manager
    ).exists()


def test_the_csv_of_an_uploaded_file_round_trips_its_bad_line(client, manager, cpam):
    client.force_login(manager)
    bad = extract_row(2, prenom="Aïcha", date_fin_prevue="01/01/2026")
    upload(client, build_extract([extract_row(1), bad], encoding="cp1252"))
    cpam_import = CpamImport.objects.get()

    body = b"".join(client.get(csv_url(cpam_import)).streaming_content).decode("utf-8-sig")

    rows = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert rows[1][0] == "3"
    assert "précède la date de début" in rows[1][1]
    assert rows[1][2].split(";")[2] == "Aïcha"


# --- Extract date, older extracts, caisses -------------------------------------------------------


def test_the_upload_form_asks_for_the_extract_date_with_today_by_default(client, manager, cpam):
    client.force_login(manager)

    page = client.get(LIST).content.decode()

    assert 'for="id_date_extrait"' in page
    assert "Date de l&#x27;extrait" in page
    assert 'type="date" name="date_extrait" value="2026-11-01"' in page
    assert 'max="2026-11-01"' in page


def test_the_extract_date_is_recorded_and_shown(client, manager, cpam):
    client.force_login(manager)

    response = upload(client, build_extract([extract_row(1)]), date_extrait="2026-10-15")

    cpam_import = CpamImport.objects.get()
    assert cpam_import.extract_date == datetime.date(2026, 10, 15)
    assert ArretTravail.objects.get().extract_date == datetime.date(2026, 10, 15)
    page = client.get(response.url).content.decode()
    assert "Date de l'extrait" in page
    assert "15/10/2026" in page
    assert "15/10/2026" in client.get(LIST).content.decode()


@pytest.mark.parametrize(
    "value, message",
    [
        ("2026-11-02", "La date de l&#x27;extrait (02/11/2026) est dans le futur."),
        ("2024-06-30", "antérieure de plus d&#x27;un an à aujourd&#x27;hui"),
        ("hier", "Date invalide"),
        ("", "Indiquez la date de l&#x27;extrait."),
    ],
    ids=["future", "too old", "garbage", "empty"],
)
def test_an_implausible_extract_date_is_refused_by_the_form(client, manager, cpam, value, message):
    client.force_login(manager)

    response = upload(client, build_extract([extract_row(1)]), date_extrait=value)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "date_extrait" in response.context["form"].errors
    assert not CpamImport.objects.exists()
    assert not ArretTravail.objects.exists()


def test_the_french_date_format_is_accepted_too(client, manager, cpam):
    client.force_login(manager)

    upload(client, build_extract([extract_row(1)]), date_extrait="15/10/2026")

    assert CpamImport.objects.get().extract_date == datetime.date(2026, 10, 15)


def test_lines_of_an_older_extract_are_counted_and_shown(client, manager, cpam):
    client.force_login(manager)
    upload(client, build_extract([extract_row(1), extract_row(2)]), date_extrait="2026-11-01")
    older = build_extract([extract_row(1, date_fin_prevue="31/10/2026"), extract_row(2)])

    response = upload(client, older, date_extrait="2026-10-01")

    cpam_import = CpamImport.objects.get(extract_date=datetime.date(2026, 10, 1))
    assert cpam_import.rows_ignored_older == 2
    assert ArretTravail.objects.filter(date_fin_prevue=datetime.date(2026, 11, 30)).count() == 2
    page = client.get(response.url).content.decode()
    assert "2 lignes ignorées\u00a0: extrait plus ancien" in page  # the message
    assert "Lignes ignorées&nbsp;: extrait plus ancien" in page  # the result card
    assert "Ignorées&nbsp;: extrait plus ancien" in client.get(LIST).content.decode()


def test_the_detail_lists_the_caisses_of_the_file(client, manager, cpam):
    CpamFactory(code="762", region=cpam.region, name="CPAM du Havre")
    client.force_login(manager)
    rows = [extract_row(1), extract_row(2, code_caisse="762"), extract_row(3, code_caisse="762")]

    response = upload(client, build_extract(rows))

    page = client.get(response.url).content.decode()
    assert "Caisses du fichier" in page
    assert "CPAM du Havre&nbsp;: 2 lignes" in page
    assert "&nbsp;: 1 ligne<" in page


def test_a_simulation_shows_the_extract_date_the_older_lines_and_the_caisses(client, manager, cpam):
    client.force_login(manager)
    upload(client, build_extract([extract_row(1)]), date_extrait="2026-11-01")

    response = upload(
        client,
        build_extract([extract_row(1), extract_row(2)]),
        date_extrait="2026-10-01",
        simulation="on",
    )

    page = response.content.decode()
    assert "Si l'extrait du 01/10/2026 était" in page
    assert "1 ligne ignorée&nbsp;: extrait plus ancien" in page
    assert "761 (2 lignes)" in page
    assert CpamImport.objects.count() == 1


def test_the_upload_works_with_debug_on(client, manager, cpam, settings):
    settings.DEBUG = True  # `make run`: Django's debug cursor wraps the COPY
    client.force_login(manager)

    response = upload(client, build_extract([extract_row(1), extract_row(2)]))

    assert response.status_code == 302
    assert CpamImport.objects.get().rows_created == 2
    assert ArretTravail.objects.count() == 2


# --- Formula injection ---------------------------------------------------------------------------


def test_the_csv_of_rejected_lines_neutralises_formulas(client, manager, cpam):
    client.force_login(manager)
    bad = [
        '=HYPERLINK("http://example.org";"clic")',
        "+33 6 10;MARTIN",
        "-2+3;x",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ]
    cpam_import = CpamImport.objects.create(
        file_name="x.csv", cpam=cpam, user=manager, status=CpamImport.Status.PROCESSED
    )
    for number, raw in enumerate(bad, start=2):
        ImportRejection.objects.create(
            cpam_import=cpam_import, line_number=number, reason="Nombre de colonnes", raw_line=raw
        )

    body = b"".join(client.get(csv_url(cpam_import)).streaming_content).decode("utf-8-sig")

    rows = list(csv.reader(io.StringIO(body, newline=""), delimiter=";"))
    assert [row[2] for row in rows[1:]] == ["'" + raw for raw in bad]
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(2, 8)]


def test_after_a_simulation_the_form_keeps_the_extract_date_and_the_caisse(client, manager, cpam):
    client.force_login(manager)

    response = upload(
        client,
        build_extract([extract_row(1)]),
        date_extrait="2026-10-15",
        caisse=cpam.pk,
        simulation="on",
    )

    page = response.content.decode()
    assert 'name="date_extrait" value="2026-10-15"' in page
    assert f'<option value="{cpam.pk}" selected>' in page
