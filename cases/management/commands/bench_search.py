"""Benchmark of the person search (`cases.search.search_assures`), read-only.

    DATABASE_URL=postgres://… manage.py bench_search [--repeat 20] [--explain]

Meant for `generate_volume`'s data (it reads the configured database and writes nothing). For
an ASS, a manager (the same unit) and a médecin conseil (the same region) when the data has one
(`generate_volume` makes none; regional staff may not search), it times what the search page
does for each kind of query: `search_assures`, the
paginator's count and the first page of 25 with its two prefetches. It prints, per role and
query kind, the median and 95th percentile over `--repeat` runs (after one warm-up run), the
number of queries and of people found; `--explain` adds the plan of the query, with
`EXPLAIN (ANALYZE, BUFFERS)`.

The queries: a common surname ("martin", one person in 37 in the generated data), a surname and
a first name, a name nobody has, accent-less partial names ("lefe" finds Lefèvre, "francois"
finds François), a full NIR and a partial one (the first 7 characters: sex, year and month of
birth, département), all taken among the people the ASS sees.
"""

import math
import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.search import search_assures
from cases.views_activity import PAGE_SIZE
from pdp.models import Role, User
from referrals.models import Assure


class Command(BaseCommand):
    help = "Mesure la recherche de personnes (nom, NIR) pour trois rôles, sans rien écrire."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=20, help="Mesures par requête.")
        parser.add_argument(
            "--explain", action="store_true", help="Afficher le plan (EXPLAIN ANALYZE)."
        )

    def handle(self, *args, **options):
        if options["repeat"] < 1:
            raise CommandError("--repeat doit être ≥ 1.")
        settings.DEBUG = False  # no query log kept in memory between runs
        users = self._users()
        queries = self._queries(users[0][1])
        self.stdout.write(
            f"{connection.vendor} · {Assure.objects.count()} assurés · "
            f"{options['repeat']} mesures par requête (médiane / 95e centile)"
        )
        for label, user in users:
            for kind, q in queries:
                self._bench(label, user, kind, q, options["repeat"], options["explain"])

    def _users(self):
        ass = (
            User.objects.filter(role=Role.ASS, unit__isnull=False, is_active=True)
            .select_related("unit")
            .order_by("pk")
            .first()
        )
        if ass is None:
            raise CommandError("Aucune ASS : lancez d'abord manage.py generate_volume.")
        manager = User.objects.filter(role=Role.MANAGER, unit=ass.unit, is_active=True).first()
        medecin = User.objects.filter(
            role=Role.MEDECIN, region_id=ass.unit.region_id, is_active=True
        ).first()
        users = [("ASS", ass), ("responsable", manager), ("médecin conseil", medecin)]
        return [(label, user) for label, user in users if user is not None]

    def _queries(self, ass):
        person = search_assures(ass, "martin").first()
        if person is None:
            raise CommandError("L'ASS ne voit aucun « martin » : données de generate_volume ?")
        return [
            ("nom courant", "martin"),
            ("nom et prénom", "martin helene"),
            ("nom absent", "kowalczyk"),
            ("partiel sans accent", "lefe"),
            ("prénom sans accent", "francois"),
            ("NIR complet", person.nir),
            ("NIR partiel", person.nir[:7]),
        ]

    def _bench(self, label, user, kind, q, repeat, explain):
        timings = []
        for _ in range(repeat + 1):  # the first run warms the caches up and is not counted
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                results = search_assures(user, q)
                page = Paginator(results, PAGE_SIZE).get_page(1)
                shown = list(page.object_list)
                timings.append(time.perf_counter() - began)
        timings = sorted(timings[1:])
        p95 = timings[math.ceil(0.95 * len(timings)) - 1]
        self.stdout.write(
            f"{label:16} {kind:20} {statistics.median(timings) * 1000:8.1f} ms "
            f"{p95 * 1000:8.1f} ms  {len(captured)} requêtes, "
            f"{page.paginator.count} trouvés, {len(shown)} affichés"
        )
        if explain:
            plan = search_assures(user, q).explain(analyze=True, buffers=True)
            self.stdout.write("    " + plan.replace("\n", "\n    "))
