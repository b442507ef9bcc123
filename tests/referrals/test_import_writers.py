"""CPAM import writers: the rules taken from elsewhere are those of their owners, and the
PostgreSQL COPY path (escaping, fallbacks when a person turns out to be known) gives the same
result."""

import datetime
import io
import unicodedata

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from referrals.importer import COLUMNS, import_extract, pipeline, rejections_of, writers
from referrals.importer.rows import email_ok
from referrals.models import ArretTravail, Assure, build_search_name
from tests.factories import AssureFactory, CpamFactory, make_nir
from tests.referrals.test_import import extract_row

NOW = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def cpam(unit):
    return CpamFactory(code="761", region=unit.region)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def run(rows, **kwargs):
    lines = [";".join(COLUMNS)] + [";".join(row.get(c, "") for c in COLUMNS) for row in rows]
    data = ("\r\n".join(lines) + "\r\n").encode()
    return import_extract(io.BytesIO(data), file_name="extrait.csv", **kwargs)


# --- Rules the import takes from elsewhere ------------------------------------------------------


def test_the_email_check_is_django_s_validator():
    validator = EmailValidator()
    values = [
        "paul@example.org",
        "paul.martin+cpam@exemple.fr",
        "a@localhost",
        "a@[127.0.0.1]",
        "a@[::1]",
        "a@[300.1.1.1]",
        '"a b"@exemple.fr',
        "a..b@exemple.fr",
        ".a@exemple.fr",
        "a.@exemple.fr",
        "a@exemple",
        "a@-exemple.fr",
        "a@exemple-.fr",
        "a@exemple.f",
        "a@é.fr",
        "é@exemple.fr",
        "a@xn--e-9ea.fr",
        "a@b@exemple.fr",
        "@exemple.fr",
        "a@",
        "a b@exemple.fr",
        "a@" + "b" * 64 + ".fr",
        "x@" + "a." * 170 + "fr",
    ]
    for value in values * 2:  # the second time from the cache of domains
        try:
            validator(value)
            expected = True
        except ValidationError:
            expected = False
        assert email_ok(value) is expected, value


def _reference_search_name(*parts):
    text = unicodedata.normalize("NFKD", " ".join(p for p in parts if p))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def test_the_search_name_folds_every_character_like_its_definition():
    names = [("Lefèvre", "Hélène"), ("ÆSØ", "ǅ"), ("O'Neil", "Zoë"), ("Nguyễn", "Thị")]
    names += [("ΣΟΦΙΑΣ", "Σ"), ("İnce", "\u0301Ana"), ("Ĳssel", "ﬁona"), ("MARTIN", "Paul")]
    names += [("Cœur", "", "Ǆemal")]
    for parts in names:
        assert build_search_name(*parts) == _reference_search_name(*parts), parts
    chars = [chr(code) for code in range(0x20, 0x3000) if not 0xD800 <= code < 0xE000]
    for start in range(0, len(chars), 5):
        part = "".join(chars[start : start + 5])
        assert build_search_name("x", part) == _reference_search_name("x", part), part


def test_the_seen_key_tells_every_nir_and_day_apart():
    day = datetime.date(2026, 7, 1)
    corsica = "185052A00608436", "185052B00608436", "185052000608436"
    keys = {writers.seen_key(nir, day) for nir in corsica}
    keys.add(writers.seen_key(corsica[0], day + datetime.timedelta(days=1)))
    keys.add(writers.seen_key(corsica[0], datetime.date(1900, 1, 1)))
    keys.add(writers.seen_key("999999999999999", datetime.date(2100, 12, 31)))
    assert len(keys) == 6
    assert max(keys) < 2**63


# --- Both databases ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on_and_off")
def test_backslashes_tabs_and_null_markers_are_imported_as_they_are(cpam):
    row = extract_row(1, adresse="\\N", commune="Saint-\tDenis", employeur_nom="C:\\Atelier\\n")

    cpam_import = run([row])

    assert cpam_import.rows_created == 1
    assure = Assure.objects.get()
    assert (assure.adresse, assure.commune, assure.employeur_nom) == (
        "\\N",
        "Saint-\tDenis",
        "C:\\Atelier\\n",
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on_and_off")
def test_duplicates_do_not_count_for_the_caisse_of_the_import(cpam):
    other = CpamFactory(code="762", region=cpam.region)
    first = extract_row(1, code_caisse="762")
    rows = [first, dict(first), dict(first), extract_row(2), extract_row(3)]

    cpam_import = run(rows)

    assert (cpam_import.rows_created, cpam_import.rows_rejected) == (3, 2)
    assert cpam_import.cpam == cpam
    assert other != cpam


# --- PostgreSQL fallbacks ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on_and_off")
def test_a_person_created_meanwhile_is_completed_not_duplicated(cpam, monkeypatch):
    """The read of known assurés misses one (created by someone else meanwhile): the COPY of
    the new ones fails on the unique NIR, and that person gets the arrêt all the same."""
    AssureFactory(nir=make_nir(1), cpam=cpam, telephone="01 00 00 00 00")
    real_existing = writers.PgWriter.existing
    calls = []

    def existing_missing_the_first_time(self, cursor, nirs):
        calls.append(list(nirs))
        return {} if len(calls) == 1 else real_existing(self, cursor, nirs)

    monkeypatch.setattr(writers.PgWriter, "existing", existing_missing_the_first_time)

    cpam_import = run([extract_row(1), extract_row(2)])

    assert len(calls) == 2
    assert (cpam_import.rows_created, cpam_import.rows_rejected) == (2, 0)
    assert Assure.objects.count() == 2
    assert Assure.objects.get(nir=make_nir(1)).telephone == "06 10 20 30 40"
    assert ArretTravail.objects.filter(last_import=cpam_import).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("debug_on_and_off")
def test_new_people_then_known_ones_in_later_batches(cpam, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 2)
    AssureFactory(nir=make_nir(5), cpam=cpam)
    rows = [extract_row(n) for n in (1, 2, 3, 4, 5, 6)]
    rows.append(extract_row(2, date_debut_arret="01/08/2026"))
    rows.append(extract_row(3))

    cpam_import = run(rows)

    assert (cpam_import.rows_created, cpam_import.rows_rejected) == (7, 1)
    assert [r["line"] for r in rejections_of(cpam_import)] == [9]
    assert Assure.objects.count() == 6
    assert ArretTravail.objects.count() == 7
