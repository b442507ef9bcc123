"""CPAM monthly extract import (domain §7): reading, validation, upsert, command."""

import datetime
import io
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection, transaction

from pdp.models import AuditLog
from referrals.importer import (
    COLUMNS,
    decoding,
    import_extract,
    import_extract_file,
    pipeline,
    rejections_of,
    write_extract_csv,
)
from referrals.models import ArretTravail, Assure, CpamImport, ImportRejection
from tests.factories import (
    ArretFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    make_nir,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("debug_on_and_off")]

NOW = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
# The demo extract, copied into the repository from the shared folder (README).
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "extrait_cpam_exemple.csv"
MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cpam(unit):
    return CpamFactory(code="761", region=unit.region)


# --- Building files ----------------------------------------------------------------------------


def extract_row(n=1, **overrides):
    """A valid row (a dict by column name) for person n: a man born 12/05/1985."""
    row = {
        "nir": make_nir(n),
        "nom": "MARTIN",
        "prenom": "Paul",
        "date_naissance": "12/05/1985",
        "sexe": "1",
        "adresse": "3 rue du Gros-Horloge",
        "code_postal": "76000",
        "commune": "Rouen",
        "telephone": "06 10 20 30 40",
        "email": "",
        "employeur_siret": "73282932000074",
        "employeur_nom": "Transports Normands SA",
        "type_arret": "MAL",
        "date_debut_arret": "01/07/2026",
        "date_fin_prevue": "30/11/2026",
        "date_fin_reelle": "",
        "montant_ij": "38,50",
        "code_caisse": "761",
    }
    row.update(overrides)
    return row


def build_extract(rows, columns=COLUMNS, encoding="utf-8", bom=False, header=None, eol="\r\n"):
    """The bytes of an extract: `header` (list of names) defaults to `columns`."""
    lines = [";".join(header if header is not None else columns)]
    for row in rows:
        if isinstance(row, str):
            lines.append(row)  # a raw line, as is
        else:
            lines.append(";".join(row.get(c, "") for c in columns))
    data = (eol.join(lines) + eol).encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    return data


def run(data, **kwargs):
    kwargs.setdefault("file_name", "extrait.csv")
    return import_extract(io.BytesIO(data), **kwargs)


def reasons(cpam_import):
    return {r["line"]: r["reason"] for r in rejections_of(cpam_import)}


def assert_counts(cpam_import, **expected):
    counts = {
        "read": cpam_import.rows_read,
        "created": cpam_import.rows_created,
        "updated": cpam_import.rows_updated,
        "unchanged": cpam_import.rows_unchanged,
        "ignored_older": cpam_import.rows_ignored_older,
        "rejected": cpam_import.rows_rejected,
    }
    assert counts == {**counts, **expected}
    assert counts["read"] == (
        counts["created"]
        + counts["updated"]
        + counts["unchanged"]
        + counts["ignored_older"]
        + counts["rejected"]
    )


# --- Reading -----------------------------------------------------------------------------------


def test_it_imports_a_utf8_file_with_bom(cpam):
    cpam_import = run(build_extract([extract_row(1, prenom="Aïcha")], bom=True))

    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert_counts(cpam_import, read=1, created=1, rejected=0)
    assure = Assure.objects.get()
    assert assure.prenoms == "Aïcha"
    assert assure.nir == make_nir(1)


def test_it_imports_a_utf8_file_without_bom(cpam):
    cpam_import = run(build_extract([extract_row(1, commune="Évreux"), extract_row(2)]))

    assert_counts(cpam_import, read=2, created=2, rejected=0)
    assert Assure.objects.get(nir=make_nir(1)).commune == "Évreux"


def test_it_imports_a_windows_1252_file_with_accents(cpam):
    data = build_extract(
        [extract_row(1, prenom="Aïcha", commune="Évreux", adresse="8 place du Vieux-Marché")],
        encoding="cp1252",
    )
    assert "Aïcha".encode("cp1252") in data

    cpam_import = run(data)

    assert_counts(cpam_import, read=1, created=1, rejected=0)
    assure = Assure.objects.get()
    assert (assure.prenoms, assure.commune, assure.adresse) == (
        "Aïcha",
        "Évreux",
        "8 place du Vieux-Marché",
    )
    assert assure.search_name == "martin aicha"


def test_it_reads_a_file_whose_encoding_changes_after_the_first_chunk(cpam):
    """UTF-8 for more than 64 KB, then a Windows-1252 line: every line is read right."""
    rows = [extract_row(n, prenom="Léa") for n in range(1, 500)]
    data = build_extract(rows)
    assert len(data) > decoding.READ_CHUNK
    late = ";".join(extract_row(999, prenom="Joël").get(c, "") for c in COLUMNS)
    data += late.encode("cp1252") + b"\r\n"

    cpam_import = run(data)

    assert_counts(cpam_import, read=500, created=500, rejected=0)
    assert Assure.objects.get(nir=make_nir(999)).prenoms == "Joël"
    assert Assure.objects.get(nir=make_nir(1)).prenoms == "Léa"


def test_it_accepts_permuted_columns_and_uppercase_headers(cpam):
    columns = list(reversed(COLUMNS))
    header = [f" {c.upper()} " for c in columns]

    cpam_import = run(build_extract([extract_row(1)], columns=columns, header=header, bom=True))

    assert_counts(cpam_import, read=1, created=1, rejected=0)
    arret = ArretTravail.objects.get()
    assert arret.date_debut == datetime.date(2026, 7, 1)


def test_it_reads_french_dates_decimal_commas_and_spaced_nirs(cpam):
    nir = make_nir(7)
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    row = extract_row(7, nir=spaced, montant_ij="1 234,5", date_fin_reelle="15/10/2026")

    cpam_import = run(build_extract([row], eol="\n"))

    assert_counts(cpam_import, created=1, rejected=0)
    arret = ArretTravail.objects.select_related("assure").get()
    assert arret.assure.nir == nir
    assert arret.montant_ij == Decimal("1234.50")
    assert arret.date_fin_reelle == datetime.date(2026, 10, 15)
    assert arret.date_fin_prevue == datetime.date(2026, 11, 30)


def test_it_fills_the_assure_and_links_the_arret_to_its_cpam_and_import(cpam):
    cpam_import = run(build_extract([extract_row(1, sexe="", nom="DURAND", prenom="Éloïse")]))

    assure = Assure.objects.get()
    assert assure.search_name == "durand eloise"
    assert assure.sexe == "1"  # taken from the NIR
    assert assure.cpam == cpam
    assert assure.employeur_siret == "73282932000074"
    assert assure.date_naissance == datetime.date(1985, 5, 12)
    arret = assure.arrets.get()
    assert (arret.cpam, arret.last_import) == (cpam, cpam_import)
    assert arret.type_arret == "MAL"
    assert cpam_import.cpam == cpam
    assert AuditLog.objects.filter(object_type="referrals.cpamimport").count() == 1


def test_a_file_written_by_write_extract_csv_imports_with_quoted_fields(tmp_path, cpam):
    path = tmp_path / "extrait_1252.csv"
    rows = [extract_row(1, prenom="Aïcha"), extract_row(2, employeur_nom='Atelier; "Le Gros"')]
    write_extract_csv(path, rows, encoding="cp1252")

    cpam_import = import_extract_file(path)

    assert cpam_import.file_name == "extrait_1252.csv"
    assert_counts(cpam_import, read=2, created=2, rejected=0)
    assert Assure.objects.get(nir=make_nir(1)).prenoms == "Aïcha"
    assert Assure.objects.get(nir=make_nir(2)).employeur_nom == 'Atelier; "Le Gros"'


def test_blank_and_separator_only_lines_are_skipped_and_mentioned(cpam):
    cpam_import = run(build_extract([extract_row(1), "", ";" * 17, extract_row(2)]))

    assert_counts(cpam_import, read=2, created=2, rejected=0)
    assert "2 ligne(s) vide(s) ignorée(s)" in cpam_import.message


def test_unknown_columns_are_ignored_and_listed(cpam):
    columns = [*COLUMNS, "commentaire"]
    cpam_import = run(build_extract([{**extract_row(1), "commentaire": "x"}], columns=columns))

    assert_counts(cpam_import, created=1)
    assert "Colonnes ignorées : commentaire" in cpam_import.message


# --- Rejected rows -------------------------------------------------------------------------------


def _bad_nir_key():
    nir = make_nir(5)
    return nir[:13] + f"{(int(nir[13:]) + 1) % 97:02d}"


BAD_ROWS = {
    "bad NIR key": ({"nir": _bad_nir_key()}, "Clé du NIR invalide"),
    "NIR of a man, sex woman": ({"sexe": "2"}, "sexe indiqué est féminin"),
    "NIR of 1985, born 1986": ({"date_naissance": "12/05/1986"}, "L'année de naissance (1986)"),
    "NIR of May, born in June": ({"date_naissance": "12/06/1985"}, "mois de naissance (06)"),
    "bad SIRET": ({"employeur_siret": "73282932000075"}, "employeur_siret : "),
    "bad date": ({"date_debut_arret": "31/02/2026"}, "date_debut_arret : date invalide"),
    "ISO date": ({"date_fin_prevue": "2026-11-30"}, "format attendu JJ/MM/AAAA"),
    "end before start": (
        {"date_fin_prevue": "30/06/2026"},
        "La date de fin prévue (30/06/2026) précède la date de début (01/07/2026)",
    ),
    "return before start": ({"date_fin_reelle": "01/06/2026"}, "La date de fin réelle"),
    "start in the future": ({"date_debut_arret": "02/11/2026"}, "est dans le futur"),
    "unknown type": ({"type_arret": "CONGE"}, "type_arret : type inconnu « CONGE »"),
    "missing name": ({"nom": ""}, "Champ obligatoire vide : nom."),
    "missing fields": (
        {"prenom": " ", "date_fin_prevue": ""},
        "Champs obligatoires vides : prenom, date_fin_prevue.",
    ),
    "unknown caisse": ({"code_caisse": "999"}, "Code caisse inconnu : « 999 »"),
    "bad amount": ({"montant_ij": "trente"}, "montant_ij : montant invalide"),
    "negative amount": ({"montant_ij": "-3,00"}, "montant_ij : montant invalide"),
    "bad e-mail": ({"email": "paul@"}, "email : adresse e-mail invalide"),
    "bad postal code": ({"code_postal": "76A00"}, "code_postal : code postal invalide"),
    "unknown sex": ({"sexe": "X"}, "sexe : valeur inconnue"),
    "name too long": ({"nom": "X" * 101}, "nom : trop long (100 caractères au plus)"),
}


@pytest.mark.parametrize("overrides, reason", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_bad_row_is_rejected_with_its_line_and_reason_and_the_others_imported(
    cpam, overrides, reason
):
    rows = [extract_row(1), extract_row(2, **overrides), extract_row(3)]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=3, created=2, rejected=1)
    assert list(reasons(cpam_import)) == [3]  # header = line 1
    assert reason in reasons(cpam_import)[3]
    assert set(Assure.objects.values_list("nir", flat=True)) == {make_nir(1), make_nir(3)}
    rejection = ImportRejection.objects.get(cpam_import=cpam_import)
    assert rejection.line_number == 3
    assert rejection.raw_line.startswith(rows[1]["nir"])


def test_a_row_with_the_wrong_column_count_is_rejected(cpam):
    short = ";".join(extract_row(2).get(c, "") for c in COLUMNS[:-1])

    cpam_import = run(build_extract([extract_row(1), short]))

    assert_counts(cpam_import, read=2, created=1, rejected=1)
    assert reasons(cpam_import) == {3: "Nombre de colonnes incorrect : 17 au lieu de 18."}


def test_every_problem_of_a_row_is_listed(cpam):
    row = extract_row(1, type_arret="XX", employeur_siret="123", code_caisse="000")

    cpam_import = run(build_extract([row]))

    reason = reasons(cpam_import)[2]
    assert "type inconnu" in reason
    assert "SIRET" in reason
    assert "Code caisse inconnu" in reason


def test_an_unreadable_line_is_rejected_not_dropped(cpam):
    data = build_extract([extract_row(1)]) + b"\x81\x8d\x8f;garbage\r\n"

    cpam_import = run(data)

    assert_counts(cpam_import, read=2, created=1, rejected=1)
    assert "encodage" in reasons(cpam_import)[3]


def test_a_duplicate_in_the_file_is_rejected_with_the_first_line(cpam):
    rows = [extract_row(1), extract_row(2), extract_row(1, date_fin_prevue="31/12/2026")]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=3, created=2, rejected=1)
    assert reasons(cpam_import) == {
        4: "Doublon dans le fichier : même NIR et même date de début qu'à la ligne 2."
    }
    assert ArretTravail.objects.get(assure__nir=make_nir(1)).date_fin_prevue == datetime.date(
        2026, 11, 30
    )


def test_a_duplicate_in_a_later_batch_is_rejected_too(cpam, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 2)
    rows = [extract_row(n) for n in range(1, 6)] + [extract_row(2, telephone="07 00 00 00 00")]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=6, created=5, rejected=1)
    assert reasons(cpam_import)[7].endswith("qu'à la ligne 3.")
    assert Assure.objects.get(nir=make_nir(2)).telephone == "06 10 20 30 40"


def test_two_episodes_of_one_person_in_one_file_are_both_imported(cpam, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 1)
    rows = [
        extract_row(1, date_debut_arret="01/02/2026", date_fin_prevue="28/02/2026"),
        extract_row(1, telephone="07 11 11 11 11"),
    ]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, created=2, rejected=0)
    assure = Assure.objects.get()
    assert assure.arrets.count() == 2
    assert assure.telephone == "07 11 11 11 11"


# --- Refused files -------------------------------------------------------------------------------


def test_a_header_missing_columns_refuses_the_file_and_changes_nothing(cpam):
    columns = [c for c in COLUMNS if c not in ("nir", "date_debut_arret")]

    cpam_import = run(build_extract([extract_row(1)], columns=columns))

    assert cpam_import.status == CpamImport.Status.REFUSED
    assert "Colonnes obligatoires absentes" in cpam_import.message
    assert "nir, date_debut_arret" in cpam_import.message
    assert CpamImport.objects.get() == cpam_import  # recorded for the manager
    assert not Assure.objects.exists()
    assert not ArretTravail.objects.exists()
    assert cpam_import.rows_read == 0


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "Le fichier est vide."),
        (b"\r\n\r\n", "Le fichier est vide."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "contenu binaire"),
        ("nir;nom".encode("utf-16"), "UTF-16"),
        (b"271032768110042;GARNIER;Sylvie\r\n", "n'est pas un en-tête"),
        (b"nir,nom,prenom,type_arret\r\n", "points-virgules"),
        (b"nir;nom;prenom;NIR\r\n", "Colonnes en double dans l'en-tête : nir."),
    ],
    ids=["empty", "blank", "binary", "utf-16", "no header", "commas", "column twice"],
)
def test_an_unreadable_file_is_refused_and_changes_nothing(cpam, data, message):
    AssureFactory(cpam=cpam)

    cpam_import = run(data)

    assert cpam_import.status == CpamImport.Status.REFUSED
    assert message in cpam_import.message
    assert Assure.objects.count() == 1
    assert not ArretTravail.objects.exists()


# --- Expected caisse and region ------------------------------------------------------------------


def test_an_expected_caisse_rejects_the_rows_of_another_caisse(cpam):
    CpamFactory(code="762", region=cpam.region)
    rows = [extract_row(1), extract_row(2, code_caisse="762"), extract_row(3, code_caisse="")]

    cpam_import = run(build_extract(rows), caisse_code="761")

    assert_counts(cpam_import, read=3, created=2, rejected=1)
    assert reasons(cpam_import) == {
        3: "Code caisse « 762 » différent de la caisse attendue « 761 »."
    }
    assert cpam_import.cpam == cpam
    assert ArretTravail.objects.filter(cpam=cpam).count() == 2


def test_with_an_expected_caisse_the_code_caisse_column_may_be_absent(cpam):
    columns = [c for c in COLUMNS if c != "code_caisse"]

    cpam_import = run(build_extract([extract_row(1)], columns=columns), caisse_code="761")

    assert_counts(cpam_import, created=1)
    assert ArretTravail.objects.get().cpam == cpam


def test_an_unknown_expected_caisse_refuses_the_file(cpam):
    cpam_import = run(build_extract([extract_row(1)]), caisse_code="999")

    assert cpam_import.status == CpamImport.Status.REFUSED
    assert cpam_import.message == "Caisse inconnue : « 999 »."
    assert not Assure.objects.exists()


def test_a_manager_cannot_import_rows_of_a_caisse_of_another_region(cpam, manager):
    CpamFactory(code="351", region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    rows = [extract_row(1), extract_row(2, code_caisse="351")]

    cpam_import = run(build_extract(rows), user=manager)

    assert_counts(cpam_import, created=1, rejected=1)
    assert reasons(cpam_import) == {3: "La caisse « 351 » n'appartient pas à votre région."}
    assert cpam_import.user == manager
    refused = run(build_extract(rows), user=manager, caisse_code="351")
    assert refused.status == CpamImport.Status.REFUSED


def test_the_import_cpam_is_the_caisse_of_most_rows(cpam):
    other = CpamFactory(code="762", region=cpam.region)
    rows = [extract_row(1, code_caisse="762"), extract_row(2, code_caisse="762"), extract_row(3)]

    assert run(build_extract(rows)).cpam == other


# --- Re-import: idempotent upsert ----------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(cpam):
    data = build_extract([extract_row(1), extract_row(2), extract_row(3, montant_ij="")])
    first = run(data)
    before = list(ArretTravail.objects.values().order_by("pk"))
    assures_before = list(Assure.objects.values().order_by("pk"))

    with time_machine.travel(NOW + datetime.timedelta(days=1), tick=False):
        second = run(data)

    assert_counts(first, created=3)
    assert_counts(second, read=3, created=0, updated=0, unchanged=3, rejected=0)
    assert list(ArretTravail.objects.values().order_by("pk")) == before
    assert list(Assure.objects.values().order_by("pk")) == assures_before


def test_a_prolongation_updates_the_expected_end(cpam):
    first = run(build_extract([extract_row(1), extract_row(2)]))

    second = run(build_extract([extract_row(1, date_fin_prevue="31/01/2027"), extract_row(2)]))

    assert_counts(second, created=0, updated=1, unchanged=1)
    arret = ArretTravail.objects.get(assure__nir=make_nir(1))
    assert arret.date_fin_prevue == datetime.date(2027, 1, 31)
    assert arret.last_import == second
    assert ArretTravail.objects.get(assure__nir=make_nir(2)).last_import == first
    assert ArretTravail.objects.count() == 2


def test_a_return_updates_the_actual_end_and_an_empty_one_keeps_it(cpam):
    run(build_extract([extract_row(1)]))

    back = run(build_extract([extract_row(1, date_fin_reelle="20/10/2026", montant_ij="")]))
    again = run(build_extract([extract_row(1, date_fin_reelle="", montant_ij="")]))

    assert_counts(back, updated=1)
    assert_counts(again, unchanged=1)
    arret = ArretTravail.objects.get()
    assert arret.date_fin_reelle == datetime.date(2026, 10, 20)
    assert arret.montant_ij == Decimal("38.50")


def test_a_prolongation_without_return_date_keeps_the_known_return(cpam):
    run(build_extract([extract_row(1, date_fin_reelle="20/10/2026")]))

    later = run(build_extract([extract_row(1, date_fin_prevue="31/12/2026", montant_ij="")]))

    assert_counts(later, updated=1)
    arret = ArretTravail.objects.get()
    assert arret.date_fin_prevue == datetime.date(2026, 12, 31)
    assert arret.date_fin_reelle == datetime.date(2026, 10, 20)
    assert arret.montant_ij == Decimal("38.50")


def test_a_new_start_after_a_return_is_a_new_episode(cpam):
    run(build_extract([extract_row(1, date_fin_reelle="01/08/2026")]))

    cpam_import = run(build_extract([extract_row(1, date_debut_arret="01/09/2026")]))

    assert_counts(cpam_import, created=1)
    assert Assure.objects.get().arrets.count() == 2


def test_a_newer_extract_updates_contact_details_but_never_blanks_or_identity(cpam):
    assure = AssureFactory(
        nir=make_nir(1),
        nom_naissance="MARTIN",
        nom_usage="DUPONT",
        prenoms="Paul",
        email="paul@example.org",
        telephone="01 00 00 00 00",
        date_naissance=None,
        sexe="",
        cpam=cpam,
    )
    row = extract_row(
        1,
        nom="MARTIN-ERREUR",
        prenom="Pierre",
        adresse="12 rue Jeanne d'Arc",
        telephone="06 99 99 99 99",
        email="",
        employeur_nom='Ateliers "Le Havre"',
        employeur_siret="",
    )

    cpam_import = run(build_extract([row]))

    assert_counts(cpam_import, created=1)
    assure.refresh_from_db()
    assert (assure.nom_naissance, assure.nom_usage, assure.prenoms) == ("MARTIN", "DUPONT", "Paul")
    assert assure.adresse == "12 rue Jeanne d'Arc"
    assert assure.telephone == "06 99 99 99 99"
    assert assure.email == "paul@example.org"  # an empty cell keeps it
    assert assure.employeur_nom == 'Ateliers "Le Havre"'
    assert assure.date_naissance == datetime.date(1985, 5, 12)  # filled: it was unknown
    assert assure.sexe == "1"
    assert assure.search_name == "martin dupont paul"


def test_a_known_birth_date_is_not_overwritten(cpam):
    assure = AssureFactory(nir=make_nir(1), date_naissance=datetime.date(1985, 5, 1), cpam=cpam)

    run(build_extract([extract_row(1, date_naissance="12/05/1985", commune="Dieppe")]))

    assure.refresh_from_db()
    assert assure.date_naissance == datetime.date(1985, 5, 1)
    assert assure.commune == "Dieppe"


def test_an_existing_arret_created_by_hand_is_updated_not_duplicated(cpam):
    arret = ArretFactory(
        assure=AssureFactory(nir=make_nir(1), cpam=cpam),
        date_debut=datetime.date(2026, 7, 1),
        date_fin_prevue=datetime.date(2026, 9, 30),
    )

    cpam_import = run(build_extract([extract_row(1)]))

    assert_counts(cpam_import, updated=1)
    arret.refresh_from_db()
    assert arret.date_fin_prevue == datetime.date(2026, 11, 30)
    assert arret.last_import == cpam_import
    assert ArretTravail.objects.count() == 1


def test_batches_give_the_same_result_as_one_pass(cpam, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 3)
    run(build_extract([extract_row(n) for n in range(1, 5)]))
    rows = [extract_row(n, date_fin_prevue="15/12/2026") for n in range(1, 3)]
    rows += [extract_row(n) for n in range(3, 11)] + [extract_row(11, nir="1")]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=11, created=6, updated=2, unchanged=2, rejected=1)
    assert ArretTravail.objects.count() == 10


# --- Dry run -----------------------------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_counts_what_would_happen(cpam):
    run(build_extract([extract_row(1), extract_row(2)]))
    data = build_extract(
        [
            extract_row(1, date_fin_prevue="31/12/2026"),
            extract_row(2),
            extract_row(3),
            extract_row(4, nir="123"),
        ]
    )
    counts_before = (CpamImport.objects.count(), ArretTravail.objects.count())

    dry = run(data, dry_run=True)

    assert dry.pk is None
    assert dry.status == CpamImport.Status.DRY_RUN
    assert_counts(dry, read=4, created=1, updated=1, unchanged=1, rejected=1)
    assert [r["line"] for r in rejections_of(dry)] == [5]
    assert (CpamImport.objects.count(), ArretTravail.objects.count()) == counts_before
    assert not ImportRejection.objects.filter(line_number=5).exists()
    real = run(data)
    assert_counts(real, read=4, created=1, updated=1, unchanged=1, rejected=1)


def test_a_refused_dry_run_records_nothing(cpam):
    dry = run(b"\x00\x01\x02", dry_run=True)

    assert dry.status == CpamImport.Status.REFUSED
    assert not CpamImport.objects.exists()


# --- Two imports at once -----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_import_waits_for_the_first_past_the_lock_timeout(cpam):
    holding, release = threading.Event(), threading.Event()
    errors = []

    def first_import():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [pipeline.ADVISORY_LOCK_KEY])
                holding.set()
                release.wait(10)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first_import)
    thread.start()
    try:
        assert holding.wait(10)
        threading.Timer(0.5, release.set).start()
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '100ms'")
            cpam_import = run(build_extract([extract_row(1)]))
            # The import's own statements keep the process's lock timeout.
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "100ms"
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join(10)

    assert errors == []
    assert waited >= 0.4
    assert_counts(cpam_import, created=1, rejected=0)
    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert ArretTravail.objects.count() == 1


# --- The sample file of the repository ----------------------------------------------------------


def test_the_sample_file_imports_with_its_two_bad_lines_rejected():
    region = RegionFactory()
    for code in ("761", "762", "141", "271"):
        CpamFactory(code=code, region=region)

    with SAMPLE.open("rb") as fileobj:
        cpam_import = import_extract(fileobj, file_name=SAMPLE.name)

    assert cpam_import.status == CpamImport.Status.PROCESSED
    assert sorted(reasons(cpam_import)) == [10, 11]
    assert "Clé du NIR invalide" in reasons(cpam_import)[10]
    assert "précède la date de début" in reasons(cpam_import)[11]
    assert_counts(cpam_import, read=10, created=8, rejected=2)
    assert Assure.objects.filter(prenoms="Aïcha").exists()
    assert Assure.objects.filter(commune="Évreux").exists()


# --- The management command ----------------------------------------------------------------------


@pytest.fixture
def extract_file(tmp_path, cpam):
    path = tmp_path / "extrait_761.csv"
    path.write_bytes(build_extract([extract_row(1), extract_row(2, nir="185"), extract_row(3)]))
    return path


def test_the_command_imports_and_prints_a_summary(extract_file):
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), stdout=out)

    assert "3 lignes lues, 2 arrêts créés" in out.getvalue()
    assert "ligne 3 :" in out.getvalue()
    cpam_import = CpamImport.objects.get()
    assert cpam_import.file_name == "extrait_761.csv"
    assert cpam_import.user is None
    assert ArretTravail.objects.count() == 2


def test_the_command_prints_json_with_the_rejected_lines(extract_file):
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), "--format", "json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["status"] == "processed"
    assert result["cpam"] == "761"
    assert result["counts"] == {
        "read": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "ignored_older": 0,
        "rejected": 1,
    }
    assert result["rejections"] == [
        {"line": 3, "reason": "Le NIR doit comporter 15 caractères (13 + clé)."}
    ]


def test_the_command_dry_run_writes_nothing(extract_file):
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), "--dry-run", "--format=json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["status"] == "dry_run"
    assert result["counts"]["created"] == 2
    assert [r["line"] for r in result["rejections"]] == [3]
    assert not CpamImport.objects.exists()
    assert not ArretTravail.objects.exists()


def test_the_command_passes_the_expected_caisse(extract_file):
    CpamFactory(code="762", region=RegionFactory())
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), "--caisse", "762", stdout=out)

    assert "0 arrêts créés" in out.getvalue()
    assert "différent de la caisse attendue « 762 »" in out.getvalue()


def test_the_command_fails_on_a_refused_file(tmp_path, cpam):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x00\x01binary")

    with pytest.raises(CommandError, match="Fichier refusé"):
        call_command("import_cpam_extract", str(path), stdout=io.StringIO())

    assert CpamImport.objects.get().status == CpamImport.Status.REFUSED


def _exit_code(monkeypatch, capsys, *args):
    # run_from_argv closes the connections when done: keep the test's transaction.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    try:
        ManagementUtility(["manage.py", "import_cpam_extract", *args]).execute()
    except SystemExit as exc:
        return exc.code, capsys.readouterr()
    return 0, capsys.readouterr()


def test_the_command_exit_code_is_0_when_processed_even_with_rejections(
    extract_file, monkeypatch, capsys
):
    code, output = _exit_code(monkeypatch, capsys, str(extract_file), "--format", "json")

    assert code == 0
    assert json.loads(output.out)["counts"]["rejected"] == 1


def test_the_command_exit_code_is_not_0_when_refused(tmp_path, cpam, monkeypatch, capsys):
    path = tmp_path / "sans_nir.csv"
    path.write_bytes(build_extract([extract_row(1)], columns=COLUMNS[1:]))

    code, output = _exit_code(monkeypatch, capsys, str(path), "--format", "json")

    assert code == 1
    assert json.loads(output.out)["status"] == "refused"
    assert "Colonne obligatoire absente de l'en-tête : nir" in output.err


def test_the_command_refuses_a_binary_file_in_a_real_process(tmp_path):
    """A real `manage.py` process: a refused dry run needs no database at all."""
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")

    result = subprocess.run(
        [sys.executable, str(MANAGE), "import_cpam_extract", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SECRET_KEY": "x"},
    )

    assert result.returncode == 1
    assert "Fichier refusé" in result.stderr
    assert "contenu binaire" in result.stderr


def test_the_command_reports_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="Fichier introuvable"):
        call_command("import_cpam_extract", str(tmp_path / "absent.csv"))
