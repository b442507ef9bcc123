"""Benchmark of the indicators page (issue 13, item 9).

    manage.py bench_indicators [--repeat 10]

On the database as it is (run `generate_volume`, then `compute_snapshots`, first), inside one
transaction rolled back at the end, it signs in a unit manager of the largest unit, the
regional manager of the largest region and an administrator, and requests `/indicateurs/`
through Django's test client — the whole stack but the network: middleware, session, the
queries, the template — for the current month, the previous month, the current quarter and the
current year, `--repeat` times each, after one warm-up request. Against it, in the same run, a
trivial view (signed in, returns « ok »). It prints p50 / p95 in milliseconds and the queries
of one page.
"""

import statistics
import sys
import time
import types

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import include, path
from django.utils import timezone

from pdp.models import Region, Role, Unit, User
from referrals.models import Signalement


class _Rollback(Exception):
    pass


def _trivial(request):
    return HttpResponse("ok")


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Mesure la page des indicateurs (unité, région, nation) contre une vue triviale."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=10, help="Mesures par période.")

    def handle(self, *args, repeat, **options):
        if repeat < 1:
            raise CommandError("--repeat ≥ 1.")
        urls = types.ModuleType("bench_indicators_urls")
        urls.urlpatterns = [
            path("bench-trivial/", _trivial),
            path("", include(settings.ROOT_URLCONF)),
        ]
        sys.modules[urls.__name__] = urls
        try:
            with (
                transaction.atomic(),
                override_settings(
                    ROOT_URLCONF=urls.__name__,
                    ALLOWED_HOSTS=["*"],
                    # No collectstatic needed: plain URLs for the static files.
                    STORAGES={
                        **settings.STORAGES,
                        "staticfiles": {
                            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
                        },
                    },
                ),
            ):
                self._run(repeat)
                raise _Rollback
        except _Rollback:
            pass

    def _users(self):
        unit = (
            Signalement.objects.values("unit_id")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .values_list("unit_id", flat=True)
            .first()
        )
        if unit is None:
            raise CommandError("Base vide : lancez d'abord generate_volume.")
        unit = Unit.objects.get(pk=unit)
        region = Region.objects.get(
            pk=Signalement.objects.values("region_id")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .values_list("region_id", flat=True)
            .first()
        )
        make = User.objects.create_user
        return [
            ("unité", make("bench.manager", role=Role.MANAGER, unit=unit), unit.name),
            ("région", make("bench.regional", role=Role.REGIONAL, region=region), region.name),
            ("nation", make("bench.admin", role=Role.ADMIN), "France entière"),
        ]

    def _run(self, repeat):
        today = timezone.localdate()
        last = today.replace(day=1) - timezone.timedelta(days=1)
        quarter = (today.month - 1) // 3 + 1
        queries = [
            ("mois en cours", {}),
            ("mois précédent", {"periode": "mois", "annee": last.year, "mois": last.month}),
            ("trimestre", {"periode": "trimestre", "annee": today.year, "trimestre": quarter}),
            ("année", {"periode": "annee", "annee": today.year}),
        ]
        self.stdout.write(f"Page /indicateurs/, {repeat} mesures par période, après un essai :")
        for level, user, name in self._users():
            client = Client()
            client.force_login(user)
            times = {}
            for label, params in queries:
                assert client.get("/indicateurs/", params, secure=True).status_code == 200
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    response = client.get("/indicateurs/", params, secure=True)
                    times.setdefault(label, []).append(time.perf_counter() - t0)
                    assert response.status_code == 200
            statements = []  # counted by a wrapper: the test client resets connection.queries

            def count(execute, sql, params, many, context, statements=statements):
                statements.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                client.get("/indicateurs/", {"periode": "annee", "annee": today.year}, secure=True)
            trivial = []
            client.get("/bench-trivial/", secure=True)
            for _ in range(repeat * len(queries)):
                t0 = time.perf_counter()
                client.get("/bench-trivial/", secure=True)
                trivial.append(time.perf_counter() - t0)
            every = [t for values in times.values() for t in values]
            self.stdout.write(
                f"- {level} ({name}) : p50 {1000 * statistics.median(every):.0f} ms,"
                f" p95 {1000 * _percentile(every, 0.95):.0f} ms ;"
                f" {len(statements)} requêtes SQL (année) ; vue triviale p50"
                f" {1000 * statistics.median(trivial):.1f} ms, p95"
                f" {1000 * _percentile(trivial, 0.95):.1f} ms"
            )
            for label, values in times.items():
                self.stdout.write(
                    f"    {label} : p50 {1000 * statistics.median(values):.0f} ms,"
                    f" p95 {1000 * _percentile(values, 0.95):.0f} ms"
                )
