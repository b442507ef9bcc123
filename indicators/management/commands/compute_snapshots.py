"""`manage.py compute_snapshots [--region CODE]`: the nightly snapshots now, region after region,
with the time each took (what the nightly task does, without the worker)."""

import time

from django.core.management.base import BaseCommand, CommandError

from indicators.snapshots import compute_region
from pdp.models import Region


class Command(BaseCommand):
    help = "Calcule les instantanés mensuels des indicateurs (toutes les régions ou une seule)."

    def add_arguments(self, parser):
        parser.add_argument("--region", help="code de la région (toutes par défaut)")

    def handle(self, *args, region=None, **options):
        regions = Region.objects.order_by("code")
        if region:
            regions = regions.filter(code=region)
            if not regions.exists():
                raise CommandError(f"Région inconnue : {region}.")
        started = time.perf_counter()
        total = 0
        for each in regions:
            t0 = time.perf_counter()
            cells = compute_region(each.pk)
            total += cells
            self.stdout.write(
                f"{each.code} : {cells} cellules en {time.perf_counter() - t0:.1f} s".replace(
                    ".", ","
                )
            )
        elapsed = f"{time.perf_counter() - started:.1f}".replace(".", ",")
        self.stdout.write(f"Instantanés calculés : {total} cellules en {elapsed} s.")
