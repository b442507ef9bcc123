"""WindowPaginator: the page and the total in one query, the same pages as Django's Paginator."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pdp.models import Region
from pdp.pagination import WindowPaginator


@pytest.fixture
def regions(db):
    return [Region.objects.create(code=f"ZZ{i:02d}", name=f"Région {i:02d}") for i in range(23)]


def pages(paginator_class, number, per_page=10):
    page = paginator_class(
        Region.objects.filter(code__startswith="ZZ").order_by("code"), per_page
    ).get_page(number)
    return (
        [r.code for r in page],
        page.number,
        page.paginator.count,
        page.paginator.num_pages,
        page.has_next(),
        page.has_previous(),
    )


@pytest.mark.parametrize("number", [1, 2, 3, 4, 99, 0, -1, "x", None, "2"])
def test_same_pages_as_django(regions, number):
    assert pages(WindowPaginator, number) == pages(Paginator, number)


def test_an_empty_list_gives_an_empty_first_page(db):
    assert pages(WindowPaginator, 1) == pages(Paginator, 1) == ([], 1, 0, 1, False, False)


def test_one_query_for_a_page_two_for_a_page_past_the_end(regions):
    with CaptureQueriesContext(connection) as captured:
        pages(WindowPaginator, 2)
    assert len(captured) == 1
    with CaptureQueriesContext(connection) as captured:
        assert pages(WindowPaginator, 9)[1] == 3  # the last page, found with a COUNT
    assert len(captured) == 3  # the empty page asked for, then the COUNT and the last page
