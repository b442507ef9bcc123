"""CPAM import: the extract date (an older extract never changes what a newer one changed) and
the caisses of the file."""

import datetime
import io
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from referrals.importer import caisses_of, pipeline, rejections_of
from referrals.models import ArretTravail, Assure, CpamImport, CpamImportCaisse
from tests.factories import ArretFactory, AssureFactory, CpamFactory, make_nir
from tests.referrals.test_import import assert_counts, build_extract, extract_row, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("debug_on_and_off")]

NOW = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
OCTOBER = datetime.date(2026, 10, 1)
OCTOBER_15 = datetime.date(2026, 10, 15)
NOVEMBER = datetime.date(2026, 11, 1)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cpam(unit):
    return CpamFactory(code="761", region=unit.region)


def arret_of(n):
    return ArretTravail.objects.select_related("assure", "last_import").get(assure__nir=make_nir(n))


# --- The extract date ----------------------------------------------------------------------------


def test_an_import_records_its_extract_date_today_by_default(cpam):
    cpam_import = run(build_extract([extract_row(1)]))

    cpam_import.refresh_from_db()
    assert cpam_import.extract_date == NOVEMBER
    assert arret_of(1).extract_date == NOVEMBER


def test_a_line_of_an_older_extract_changes_neither_the_arret_nor_the_person(cpam):
    newer = run(build_extract([extract_row(1), extract_row(2)]), extract_date=NOVEMBER)
    before = arret_of(1)
    older_rows = [
        extract_row(1, date_fin_prevue="31/10/2026", telephone="07 00 00 00 00", commune="Dieppe"),
        extract_row(2),  # the same values: held back all the same
        extract_row(3),  # a new episode: created
    ]

    older = run(build_extract(older_rows), extract_date=OCTOBER)

    assert_counts(older, read=3, created=1, updated=0, unchanged=0, ignored_older=2, rejected=0)
    arret = arret_of(1)
    assert arret.date_fin_prevue == datetime.date(2026, 11, 30)
    assert (arret.extract_date, arret.last_import) == (NOVEMBER, newer)
    assert arret.updated_at == before.updated_at
    assert (arret.assure.telephone, arret.assure.commune) == ("06 10 20 30 40", "Rouen")
    assert arret_of(3).extract_date == OCTOBER
    older.refresh_from_db()
    assert older.rows_ignored_older == 2


def test_the_same_extract_date_again_updates_as_before(cpam):
    run(build_extract([extract_row(1)]), extract_date=OCTOBER_15)

    again = run(
        build_extract([extract_row(1, date_fin_prevue="31/01/2027", telephone="07 11 11 11 11")]),
        extract_date=OCTOBER_15,
    )

    assert_counts(again, updated=1, ignored_older=0)
    arret = arret_of(1)
    assert arret.date_fin_prevue == datetime.date(2027, 1, 31)
    assert (arret.extract_date, arret.last_import) == (OCTOBER_15, again)
    assert arret.assure.telephone == "07 11 11 11 11"


def test_a_newer_extract_updates_and_stores_its_date(cpam):
    first = run(build_extract([extract_row(1), extract_row(2)]), extract_date=OCTOBER)

    newer = run(
        build_extract([extract_row(1, date_fin_reelle="20/10/2026"), extract_row(2)]),
        extract_date=NOVEMBER,
    )

    assert_counts(newer, updated=1, unchanged=1, ignored_older=0)
    assert (arret_of(1).extract_date, arret_of(1).last_import) == (NOVEMBER, newer)
    assert arret_of(1).date_fin_reelle == datetime.date(2026, 10, 20)
    # Unchanged: not written, it keeps the extract that last changed it.
    assert (arret_of(2).extract_date, arret_of(2).last_import) == (OCTOBER, first)


def test_an_arret_without_extract_date_is_updated_by_any_extract(cpam):
    ArretFactory(
        assure=AssureFactory(nir=make_nir(1), cpam=cpam),
        date_debut=datetime.date(2026, 7, 1),
        date_fin_prevue=datetime.date(2026, 9, 30),
    )

    cpam_import = run(build_extract([extract_row(1)]), extract_date=OCTOBER)

    assert_counts(cpam_import, updated=1)
    assert arret_of(1).extract_date == OCTOBER


def test_a_person_keeps_the_values_of_a_newer_extract_but_takes_those_of_a_line_not_held_back(
    cpam,
):
    second_start = {"date_debut_arret": "01/09/2026", "date_fin_prevue": "30/09/2026"}
    run(build_extract([extract_row(1)]), extract_date=NOVEMBER)
    rows = [
        extract_row(1, telephone="07 22 22 22 22"),  # its episode: changed by November
        extract_row(1, commune="Elbeuf", **second_start),  # a new episode
    ]

    older = run(build_extract(rows), extract_date=OCTOBER)

    assert_counts(older, created=1, ignored_older=1)
    assure = Assure.objects.get()
    assert assure.commune == "Elbeuf"
    assert assure.telephone == "06 10 20 30 40"


def test_older_lines_are_held_back_across_batches(cpam, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 2)
    run(build_extract([extract_row(n) for n in (1, 3, 5)]), extract_date=NOVEMBER)
    run(build_extract([extract_row(n) for n in (2, 4)]), extract_date=datetime.date(2026, 9, 1))
    rows = [extract_row(n, date_fin_prevue="15/12/2026") for n in range(1, 7)]

    cpam_import = run(build_extract(rows), extract_date=OCTOBER)

    assert_counts(cpam_import, read=6, created=1, updated=2, ignored_older=3)
    assert {n: arret_of(n).date_fin_prevue.month for n in range(1, 7)} == {
        1: 11,
        2: 12,
        3: 11,
        4: 12,
        5: 11,
        6: 12,
    }


def test_a_dry_run_counts_the_older_lines_like_the_import(cpam):
    run(build_extract([extract_row(1), extract_row(2)]), extract_date=NOVEMBER)
    data = build_extract(
        [extract_row(1, date_fin_prevue="31/10/2026"), extract_row(2), extract_row(3)]
    )

    dry = run(data, extract_date=OCTOBER, dry_run=True)
    real = run(data, extract_date=OCTOBER)

    assert_counts(dry, created=1, ignored_older=2)
    assert_counts(real, created=1, ignored_older=2)


@pytest.mark.parametrize(
    "day, message",
    [
        (datetime.date(2026, 11, 2), "La date de l'extrait (02/11/2026) est dans le futur."),
        (datetime.date(2025, 10, 31), "antérieure de plus d'un an"),
    ],
    ids=["future", "too old"],
)
def test_an_implausible_extract_date_refuses_the_file(cpam, day, message):
    cpam_import = run(build_extract([extract_row(1)]), extract_date=day)

    assert cpam_import.status == CpamImport.Status.REFUSED
    assert message in cpam_import.message
    assert not ArretTravail.objects.exists()


def test_an_extract_of_exactly_one_year_ago_is_accepted(cpam):
    cpam_import = run(build_extract([extract_row(1)]), extract_date=datetime.date(2025, 11, 1))

    assert cpam_import.status == CpamImport.Status.PROCESSED


# --- Caisses of the file ------------------------------------------------------------------------


def test_every_caisse_of_the_file_is_recorded_with_its_lines(cpam):
    other = CpamFactory(code="762", region=cpam.region)
    rows = [
        extract_row(1),
        extract_row(2),
        extract_row(3, code_caisse="762"),
        extract_row(4, code_caisse="762", nir="123"),  # rejected, but a line of 762
        extract_row(5, code_caisse="999"),  # unknown: rejected, no caisse
        extract_row(6, code_caisse="762"),
        extract_row(7, code_caisse="762"),
    ]

    cpam_import = run(build_extract(rows))

    assert_counts(cpam_import, read=7, created=5, rejected=2)
    recorded = CpamImportCaisse.objects.filter(cpam_import=cpam_import)
    assert {(c.cpam, c.line_count) for c in recorded} == {(cpam, 2), (other, 4)}
    assert [(c.cpam.code, c.line_count) for c in caisses_of(cpam_import)] == [
        ("762", 4),
        ("761", 2),
    ]
    assert cpam_import.cpam == other  # the caisse of most imported rows


def test_a_dry_run_lists_the_caisses_without_recording_them(cpam):
    CpamFactory(code="762", region=cpam.region)
    data = build_extract([extract_row(1), extract_row(2, code_caisse="762")])

    dry = run(data, dry_run=True)

    assert [(c.cpam.code, c.line_count) for c in caisses_of(dry)] == [("761", 1), ("762", 1)]
    assert not CpamImportCaisse.objects.exists()


def test_the_lines_of_an_empty_code_caisse_count_for_the_expected_caisse(cpam):
    rows = [extract_row(1, code_caisse=""), extract_row(2)]

    cpam_import = run(build_extract(rows), caisse_code="761")

    assert [(c.cpam.code, c.line_count) for c in caisses_of(cpam_import)] == [("761", 2)]


def test_a_refused_file_records_no_caisse(cpam):
    cpam_import = run(b"\x00\x01\x02")

    assert cpam_import.status == CpamImport.Status.REFUSED
    assert caisses_of(cpam_import) == []


# --- The command's option ------------------------------------------------------------------------


@pytest.fixture
def extract_file(tmp_path, cpam):
    path = tmp_path / "extrait_761.csv"
    path.write_bytes(build_extract([extract_row(1), extract_row(2)]))
    return path


@pytest.mark.parametrize("value", ["2026-10-15", "15/10/2026", " 15/10/2026 "])
def test_the_command_takes_the_extract_date(extract_file, value):
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), "--date-extrait", value, stdout=out)

    cpam_import = CpamImport.objects.get()
    assert cpam_import.extract_date == OCTOBER_15
    assert arret_of(1).extract_date == OCTOBER_15
    assert "extrait du 15/10/2026" in out.getvalue()
    assert "761 (2)" in out.getvalue()


def test_the_command_defaults_to_today_and_says_so_in_json(extract_file):
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), "--format=json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["extract_date"] == "2026-11-01"
    assert result["caisses"] == {"761": 2}
    assert result["counts"]["ignored_older"] == 0


def test_the_command_counts_the_older_lines(extract_file):
    call_command("import_cpam_extract", str(extract_file), stdout=io.StringIO())
    out = io.StringIO()

    call_command("import_cpam_extract", str(extract_file), "--date-extrait=2026-10-01", stdout=out)

    assert "2 lignes ignorées\u00a0: extrait plus ancien" in out.getvalue()
    assert CpamImport.objects.order_by("pk").last().rows_ignored_older == 2


@pytest.mark.parametrize(
    "value, message",
    [
        ("2026-13-01", "Date de l'extrait invalide"),
        ("01.10.2026", "formats acceptés"),
        ("", "Date de l'extrait invalide"),
        ("2026-11-02", "dans le futur"),
        ("01/01/2020", "antérieure de plus d'un an"),
    ],
)
def test_the_command_refuses_a_bad_extract_date_before_importing(extract_file, value, message):
    with pytest.raises(CommandError, match=message):
        call_command(
            "import_cpam_extract", str(extract_file), "--date-extrait", value, stdout=io.StringIO()
        )

    assert not CpamImport.objects.exists()


def test_rejections_of_a_dry_run_with_an_older_extract_are_the_bad_lines_only(cpam):
    run(build_extract([extract_row(1)]), extract_date=NOVEMBER)

    dry = run(
        build_extract([extract_row(1), extract_row(2, nir="1")]), extract_date=OCTOBER, dry_run=True
    )

    assert [r["line"] for r in rejections_of(dry)] == [3]
    assert_counts(dry, ignored_older=1, rejected=1)
