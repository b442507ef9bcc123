"""CPAM import: the defects found in use (implausible starts, NUL bytes, CR-only files, quoted
line breaks, spreadsheet formulas, planner statistics)."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from referrals.importer import COLUMNS, decoding, pipeline
from referrals.models import ArretTravail, Assure, CpamImport
from tests.factories import CpamFactory, make_nir
from tests.referrals.test_import import assert_counts, build_extract, extract_row, reasons, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("debug_on_and_off")]

NOW = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cpam(unit):
    return CpamFactory(code="761", region=unit.region)


def line(row):
    return ";".join(row.get(c, "") for c in COLUMNS)


# --- Implausible starts --------------------------------------------------------------------------


def test_a_start_in_1900_is_rejected_as_more_than_ten_years_before_the_extract(cpam):
    rows = [extract_row(1, date_debut_arret="01/01/1900", date_naissance="")]

    cpam_import = run(build_extract(rows), extract_date=datetime.date(2026, 10, 1))

    assert_counts(cpam_import, read=1, created=0, rejected=1)
    assert reasons(cpam_import)[2] == (
        "La date de début de l'arrêt (01/01/1900) est antérieure de plus de 10 ans à la date "
        "de l'extrait (01/10/2026)\u00a0: date invraisemblable."
    )


def test_a_start_ten_years_before_the_extract_is_accepted(cpam):
    rows = [extract_row(1, date_debut_arret="01/10/2016")]

    cpam_import = run(build_extract(rows), extract_date=datetime.date(2026, 10, 1))

    assert_counts(cpam_import, created=1, rejected=0)


def test_a_start_before_the_birth_date_is_rejected(cpam):
    nir = make_nir(1)  # a man born in May 1985
    rows = [
        extract_row(1, nir=nir, date_debut_arret="01/05/1985", date_fin_prevue="30/11/2026"),
        extract_row(2),
    ]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, created=1, rejected=1)
    assert (
        "La date de début de l'arrêt (01/05/1985) précède la date de naissance (12/05/1985)."
        in (reasons(cpam_import)[2])
    )


# --- Bytes and lines -----------------------------------------------------------------------------


def test_a_nul_byte_in_the_first_chunk_rejects_its_line_only(cpam):
    data = build_extract([extract_row(1), extract_row(2, nom="MAR\x00TIN"), extract_row(3)])
    assert data.count(b"\x00") == 1 and len(data) < decoding.READ_CHUNK

    cpam_import = run(data)

    assert_counts(cpam_import, read=3, created=2, rejected=1)
    assert reasons(cpam_import) == {3: "Ligne illisible : contenu binaire."}


def test_a_nul_byte_in_the_header_refuses_the_file(cpam):
    data = build_extract([extract_row(1)]).replace(b"nir;nom", b"nir\x00;nom", 1)

    cpam_import = run(data)

    assert cpam_import.status == CpamImport.Status.REFUSED
    assert "contenu binaire" in cpam_import.message


@pytest.mark.parametrize("eol", ["\r", "\n", "\r\n"], ids=["CR", "LF", "CRLF"])
def test_every_line_ending_is_read(cpam, eol):
    rows = [extract_row(n) for n in range(1, 4)]

    cpam_import = run(build_extract(rows, eol=eol))

    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert_counts(cpam_import, read=3, created=3, rejected=0)
    assert Assure.objects.get(nir=make_nir(3)).commune == "Rouen"


def test_a_cr_only_file_larger_than_a_chunk_is_read(cpam):
    rows = [extract_row(n) for n in range(1, 400)]
    data = build_extract(rows, eol="\r")
    assert len(data) > decoding.READ_CHUNK

    cpam_import = run(data)

    assert_counts(cpam_import, read=399, created=399, rejected=0)


def test_a_quoted_field_holding_line_breaks_is_one_field(cpam):
    address = '"Résidence Les Tilleuls\nBât. B\r\n12 rue Jeanne-d\'Arc"'
    rows = [
        line(extract_row(1, adresse=address)),
        line(extract_row(2, employeur_nom='"Atelier ""Le Gros""\nsite de Rouen"')),
        extract_row(3, nir="123"),
    ]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=3, created=2, rejected=1)
    assert Assure.objects.get(nir=make_nir(1)).adresse == (
        "Résidence Les Tilleuls, Bât. B, 12 rue Jeanne-d'Arc"
    )
    assert Assure.objects.get(nir=make_nir(2)).employeur_nom == 'Atelier "Le Gros", site de Rouen'
    assert list(reasons(cpam_import)) == [4]  # the row number a spreadsheet shows


def test_a_quote_never_closed_rejects_its_line_and_the_next_lines_are_read(cpam):
    rows = [extract_row(1, adresse='"3 rue du Bac'), extract_row(2), extract_row(3)]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=3, created=2, rejected=1)
    assert reasons(cpam_import) == {2: "Ligne illisible\u00a0: guillemet ouvert et jamais fermé."}
    assert set(Assure.objects.values_list("nir", flat=True)) == {make_nir(2), make_nir(3)}


def test_a_quote_inside_an_unquoted_field_is_a_plain_character(cpam):
    rows = [extract_row(1, employeur_nom='Atelier "Le Gros'), extract_row(2)]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=2, created=2, rejected=0)
    assert Assure.objects.get(nir=make_nir(1)).employeur_nom == 'Atelier "Le Gros'


def test_a_quote_left_open_for_too_many_lines_stops_there(cpam, monkeypatch):
    monkeypatch.setattr(decoding, "MAX_RECORD_LINES", 3)
    rows = [extract_row(1, adresse='"3 rue du Bac')] + [extract_row(n) for n in range(2, 6)]
    rows.append(extract_row(6, adresse='fin"'))

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=6, created=5, rejected=1)
    assert reasons(cpam_import) == {2: "Ligne illisible\u00a0: guillemet ouvert et jamais fermé."}
    assert Assure.objects.get(nir=make_nir(6)).adresse == 'fin"'  # a plain quote


# --- Spreadsheet formulas ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["nom", "prenom"])
@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+33", "-1", "@SUM(A1)"])
def test_a_name_starting_like_a_formula_is_rejected(cpam, field, value):
    cpam_import = run(build_extract([extract_row(1, **{field: value}), extract_row(2)]))

    assert_counts(cpam_import, created=1, rejected=1)
    assert f"{field}\u00a0: ne peut pas commencer par" in reasons(cpam_import)[2]
    assert "(formule de tableur)" in reasons(cpam_import)[2]


def test_a_name_with_a_hyphen_inside_is_accepted(cpam):
    cpam_import = run(build_extract([extract_row(1, nom="MARTIN-DUPONT", prenom="Jean-Paul")]))

    assert_counts(cpam_import, created=1, rejected=0)


# --- Planner statistics --------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_large_import_refreshes_the_statistics_of_the_tables_it_changed(
    cpam, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(pipeline, "ANALYZE_MIN_ROWS", 3)
    data = build_extract([extract_row(n) for n in range(1, 5)])

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        run(data)

    analyzes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]
    assert analyzes == ['ANALYZE "referrals_arrettravail", "referrals_assure"']
    assert len(callbacks) == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'referrals_arrettravail'::regclass"
        )
        assert cursor.fetchone()[0] == ArretTravail.objects.count() == 4


@pytest.mark.postgres
def test_a_small_import_leaves_the_statistics_to_autovacuum(
    cpam, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(pipeline, "ANALYZE_MIN_ROWS", 3)
    run(build_extract([extract_row(n) for n in range(1, 5)]))
    data = build_extract([extract_row(1, date_fin_prevue="31/12/2026")] + [extract_row(9)])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run(data)

    assert callbacks == []
