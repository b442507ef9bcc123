"""The person search is served by the trigram index on `search_name` (PostgreSQL), and finds
the same people whatever plan the database chooses."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.search import search_assures
from pdp.pagination import WindowPaginator
from referrals.models import Assure
from tests.factories import AssureFactory, SignalementFactory

TRIGRAM_INDEX = "referrals_assure_search_name_trgm"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL only"
)


def followed_by(unit, **assure_fields):
    assure = AssureFactory(**assure_fields)
    SignalementFactory(assure=assure, unit=unit)
    return assure


@pytest.fixture
def people(unit):
    return {
        "francois": followed_by(unit, nom_naissance="Durand", prenoms="François Xavier"),
        "lefevre": followed_by(unit, nom_naissance="Lefèvre", prenoms="Anne"),
        "married": followed_by(unit, nom_naissance="Leroy", nom_usage="Lefèvre", prenoms="Zoé"),
        "dasilva": followed_by(unit, nom_naissance="Da Silva", prenoms="Inès"),
        "martin": followed_by(unit, nom_naissance="MARTIN", prenoms="Hélène"),
    }


PLANNER_OFF = ("enable_seqscan", "enable_indexscan", "enable_nestloop")


def plan(queryset):
    """The plan PostgreSQL would use if it could not read the whole table, in order or not (a
    few rows: otherwise a scan is cheaper), nor start from the people the user sees and look
    each one up by id (the search's set form of the visibility: what it does at volume when
    the user sees fewer people than the name matches). Only the bitmap scans of indexes whose
    condition is the query's are left."""
    with connection.cursor() as cursor:
        for setting in PLANNER_OFF:
            cursor.execute(f"SET LOCAL {setting} = off")
        try:
            return queryset.explain()
        finally:
            for setting in PLANNER_OFF:
                cursor.execute(f"SET LOCAL {setting} = on")


def test_the_migration_created_the_extension_and_the_index(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [TRIGRAM_INDEX])
        (definition,) = cursor.fetchone()
    assert "USING gin (search_name gin_trgm_ops)" in definition


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("francois", {"francois"}),
        ("FRANÇ", {"francois"}),
        ("lefe", {"lefevre", "married"}),  # the birth name and the usage name
        ("Lefèvre anne", {"lefevre"}),
        ("nne", {"lefevre"}),  # inside a word
        ("helene martin", {"martin"}),
        ("da silva", {"dasilva"}),
        ("da", {"dasilva"}),  # shorter than a trigram: still found
        ("e", {"francois", "lefevre", "married", "martin", "dasilva"}),
        ("kowalczyk", set()),
    ],
)
def test_partial_accent_insensitive_names_are_found(ass, people, query, found):
    assert set(search_assures(ass, query)) == {people[key] for key in found}


def test_the_name_search_uses_the_trigram_index(ass, people):
    assert TRIGRAM_INDEX in plan(search_assures(ass, "lefe"))
    assert TRIGRAM_INDEX in plan(search_assures(ass, "Hélène Mart"))


def test_a_person_written_by_a_bulk_insert_is_found_through_the_index(ass, unit, people):
    """Rows written without save() (the import, the generator) carry their search name too."""
    (bulk,) = Assure.objects.bulk_create(
        [
            AssureFactory.build(
                nom_naissance="Côté", prenoms="Noël", search_name="cote noel", cpam=None
            )
        ]
    )
    SignalementFactory(assure=bulk, unit=unit)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        assert list(search_assures(ass, "côte")) == [bulk]
        assert list(search_assures(ass, "NOEL")) == [bulk]


def test_the_nir_search_uses_a_prefix_index(ass, people):
    nir = people["martin"].nir
    found = plan(search_assures(ass, nir[:7]))
    assert "Bitmap Index Scan on referrals_assure_nir" in found
    assert TRIGRAM_INDEX not in found
    assert list(search_assures(ass, nir)) == [people["martin"]]
    assert list(search_assures(ass, nir[:13])) == [people["martin"]]


def test_people_outside_the_scope_are_not_found_through_the_index(ass, outsider, people):
    stranger = followed_by(outsider.unit, nom_naissance="Lefèvre", prenoms="Anne")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        assert set(search_assures(ass, "lefe")) == {people["lefevre"], people["married"]}
        assert list(search_assures(outsider, "lefe")) == [stranger]


def test_the_number_of_queries_does_not_grow_with_the_results(ass, unit):
    def page_queries():
        with CaptureQueriesContext(connection) as captured:
            list(WindowPaginator(search_assures(ass, "durand"), 25).get_page(1).object_list)
        return len(captured)

    followed_by(unit, nom_naissance="Durand", prenoms="Paul")
    few = page_queries()
    for _ in range(30):
        followed_by(unit, nom_naissance="Durand", prenoms="Paul")
    assert page_queries() == few == 3  # the page with its count, open cases, open referrals
