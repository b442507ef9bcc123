"""CPAM import: the fast paths agree with the reference functions, and the PostgreSQL COPY path
(escaping, fallbacks when a person turns out to be known) gives the same result."""

import datetime
import io
import random

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from pdp.identifiers import IdentifierError, nir_key, nir_normalize, siret_normalize
from referrals import importer
from referrals.importer import COLUMNS, import_extract, rejections_of
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


def _outcome(func, value, error):
    try:
        return func(value)
    except error as exc:
        return ("error", getattr(exc, "message", None))


# --- Fast paths ----------------------------------------------------------------------------------


def test_the_nir_fast_path_agrees_with_the_library():
    rng = random.Random(7)
    values = ["", "1", "2A", "185057800608436", "185057800608437", "1850578006084", "2850578"]
    values += ["785057800608436", "300000000000000", "185137800608436", "185207800608436"]
    values += ["185007800608436", "185050000608436", "185059900608436", "18505 78 006 084 36"]
    for _ in range(3000):
        body = "".join(rng.choice("0123456789") for _ in range(13))
        key = nir_key(body) if rng.random() < 0.7 else f"{rng.randint(0, 99):02d}"
        values.append(body + key)
        values.append(body[:5] + rng.choice(["2A", "2B"]) + body[7:] + key)
    for value in values:
        expected = _outcome(nir_normalize, value, IdentifierError)
        assert _outcome(importer._normalize_nir, value, IdentifierError) == expected, value


def test_the_siret_fast_path_agrees_with_the_library():
    rng = random.Random(11)
    values = ["35600000000048", "35600000012345", "73282932000074"]
    values += ["".join(rng.choice("0123456789") for _ in range(14)) for _ in range(3000)]
    values += [
        "356000000" + "".join(rng.choice("0123456789") for _ in range(5)) for _ in range(300)
    ]
    for value in values:
        try:
            expected = (siret_normalize(value), None)
        except IdentifierError as exc:
            expected = ("", exc.message)
        assert importer._check_siret(value) == expected, value


def test_the_email_fast_path_agrees_with_django_s_validator():
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
    for value in values:
        try:
            validator(value)
            expected = True
        except ValidationError:
            expected = False
        assert importer._email_ok(value) is expected, value


def test_the_search_name_is_folded_part_by_part_like_build_search_name():
    names = [("Lefèvre", "Hélène"), ("ÆSØ", "ǅ"), ("O'Neil", "Zoë"), ("Nguyễn", "Thị")]
    names += [("ΣΟΦΙΑΣ", "Σ"), ("İnce", "\u0301Ana"), ("Ĳssel", "ﬁona"), ("MARTIN", "Paul")]
    for nom, prenom in names:
        assert importer._search_name(nom, prenom) == build_search_name(nom, "", prenom)


def test_the_seen_key_tells_every_nir_and_day_apart():
    day = datetime.date(2026, 7, 1)
    corsica = "185052A00608436", "185052B00608436", "185052000608436"
    keys = {importer._seen_key(nir, day) for nir in corsica}
    keys.add(importer._seen_key(corsica[0], day + datetime.timedelta(days=1)))
    keys.add(importer._seen_key(corsica[0], datetime.date(1900, 1, 1)))
    keys.add(importer._seen_key("999999999999999", datetime.date(2100, 12, 31)))
    assert len(keys) == 6
    assert max(keys) < 2**63


# --- Both databases ------------------------------------------------------------------------------


@pytest.mark.django_db
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
def test_a_person_created_meanwhile_is_completed_not_duplicated(cpam, monkeypatch):
    """The read of known assurés misses one (created by someone else meanwhile): the COPY of
    the new ones fails on the unique NIR, and that person gets the arrêt all the same."""
    AssureFactory(nir=make_nir(1), cpam=cpam, telephone="01 00 00 00 00")
    real_existing = importer._PgWriter.existing
    calls = []

    def existing_missing_the_first_time(self, cursor, nirs):
        calls.append(list(nirs))
        return {} if len(calls) == 1 else real_existing(self, cursor, nirs)

    monkeypatch.setattr(importer._PgWriter, "existing", existing_missing_the_first_time)

    cpam_import = run([extract_row(1), extract_row(2)])

    assert len(calls) == 2
    assert (cpam_import.rows_created, cpam_import.rows_rejected) == (2, 0)
    assert Assure.objects.count() == 2
    assert Assure.objects.get(nir=make_nir(1)).telephone == "06 10 20 30 40"
    assert ArretTravail.objects.filter(last_import=cpam_import).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_new_people_then_known_ones_in_later_batches(cpam, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)
    AssureFactory(nir=make_nir(5), cpam=cpam)
    rows = [extract_row(n) for n in (1, 2, 3, 4, 5, 6)]
    rows.append(extract_row(2, date_debut_arret="01/08/2026"))
    rows.append(extract_row(3))

    cpam_import = run(rows)

    assert (cpam_import.rows_created, cpam_import.rows_rejected) == (7, 1)
    assert [r["line"] for r in rejections_of(cpam_import)] == [9]
    assert Assure.objects.count() == 6
    assert ArretTravail.objects.count() == 7
