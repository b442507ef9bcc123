"""A paginator that reads a page and the total in one query (issue 15: the person search and
the referrals' inbox at national volume).

Django's `Paginator` runs `SELECT COUNT(*)` over the whole filtered queryset, then the page's
`LIMIT … OFFSET …`: on a search among the few thousand people a unit sees, both statements do
the same work (find every match, the page needs them all to sort), so the page costs twice
that work. `WindowPaginator` asks for the page with `COUNT(*) OVER ()`, which PostgreSQL (and
SQLite) compute in the same pass: one statement. Only a page number past the last page (or below 1)
costs the COUNT, to find the last page, as `Paginator.get_page` does.
"""

from django.core.paginator import Paginator
from django.db.models import Count, Window

TOTAL = "_pagination_total"


class WindowPaginator(Paginator):
    """`Paginator(queryset, per_page)` whose `get_page` runs one query (see the module)."""

    def __init__(self, object_list, per_page, **kwargs):
        super().__init__(object_list.annotate(**{TOTAL: Window(Count("pk"))}), per_page, **kwargs)

    def get_page(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            number = 1
        if number < 1:
            return super().get_page(number)  # as Django: the last page
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page])
        if rows:
            self.__dict__["count"] = getattr(rows[0], TOTAL)  # Paginator.count is cached
            return self._get_page(rows, number, self)
        if number == 1:
            self.__dict__["count"] = 0
            return self._get_page(rows, number, self)
        return super().get_page(number)  # past the end: the COUNT, then the last page
