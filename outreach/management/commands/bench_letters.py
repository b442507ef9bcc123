"""Benchmark of a batch of campaign letters (issue 12, item 9, second part).

    manage.py bench_letters [--letters 1000]

Inside one transaction rolled back at the end (the database is left as it was), it creates a
region with a unit, `--letters` people with a postal address, a running campaign whose targets
all have the channel « courrier », and a batch (`LotCourrier`); then times
`outreach.campaign_letters.lot_build` — claim, bulk codes, one PDF of every letter (WeasyPrint),
the CSV, audit — and prints the seconds, the statements, the peak memory of the process
(``ru_maxrss`` before and after) and the size of the PDF. The two files are deleted.
"""

import datetime
import resource
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outreach.campaign_letters import lot_build
from outreach.models import Campagne, CanalCampagne, Cible, LotCourrier
from pdp.identifiers import nir_key
from pdp.models import CpamOffice, Region, Role, Unit, UnitTerritory, User
from pdp.private_files import private_path
from referrals.models import ArretTravail, Assure

CHUNK = 5000


class _Rollback(Exception):
    pass


def _max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Mesure la préparation d'un lot de courriers (données jetables, annulées)."

    def add_arguments(self, parser):
        parser.add_argument("--letters", type=int, default=1000, help="Courriers du lot.")

    def handle(self, *args, **options):
        n = options["letters"]
        if not 1 <= n <= 100_000:
            raise CommandError("--letters entre 1 et 100 000.")
        try:
            with transaction.atomic():
                self._run(n)
                raise _Rollback
        except _Rollback:
            pass
        self.stdout.write("Données du banc d'essai annulées (transaction annulée).")

    def _run(self, n):
        now = timezone.now()
        day = timezone.localdate()
        manager, campagne = self._population(n, day, now)
        lot = LotCourrier.objects.create(campagne=campagne, numero=1, created_by=manager)
        before = _max_rss_mb()
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            built = lot_build(lot_id=lot.pk)
            seconds = time.perf_counter() - start
        after = _max_rss_mb()
        if built is None:
            lot.refresh_from_db()
            raise CommandError(f"Le lot n'a pas été préparé : {lot.erreur}")
        pdf, csv = private_path(built.pdf), private_path(built.csv)
        size = pdf.stat().st_size / 1024 / 1024
        pdf.unlink(missing_ok=True)
        csv.unlink(missing_ok=True)
        self.stdout.write(
            f"{connection.vendor} · lot de {built.nombre} courriers en {seconds:.1f} s "
            f"({seconds / built.nombre * 1000:.0f} ms par courrier), {len(queries)} requêtes, "
            f"mémoire max du processus {before:.0f} → {after:.0f} Mo, PDF {size:.2f} Mo"
        )

    def _population(self, n, day, now):
        region = Region.objects.create(code="BNCLETT", name="Banc d'essai courriers")
        unit = Unit.objects.create(
            region=region, code="BENCHLETT", name="Unité du banc", telephone="02 35 00 00 00"
        )
        UnitTerritory.objects.filter(prefix="988").delete()
        UnitTerritory.objects.create(unit=unit, prefix="988")
        cpam = CpamOffice.objects.create(code="988", region=region, name="CPAM du banc")
        manager = User.objects.create(username="bench-lett-resp", role=Role.MANAGER, unit=unit)
        campagne = Campagne.objects.create(
            region=region,
            unit=unit,
            nom="Banc d'essai",
            date_reference=day,
            statut=Campagne.Statut.EN_COURS,
            lancee_le=now,
            created_by=manager,
        )
        for first in range(0, n, CHUNK):
            people = Assure.objects.bulk_create(
                Assure(
                    nir=(body := f"2850598{i:06d}") + nir_key(body),
                    nom_naissance=f"BANC{i}",
                    prenoms="Camille",
                    sexe="2" if i % 2 else "1",
                    date_naissance=datetime.date(1960 + i % 45, 1 + i % 12, 1 + i % 28),
                    code_postal="98800",
                    commune="Banc-sur-Mer",
                    adresse=f"{1 + i % 200} rue du Banc\nRésidence des Tilleuls, bât. {i % 9}",
                    cpam=cpam,
                )
                for i in range(first, min(n, first + CHUNK))
            )
            arrets = ArretTravail.objects.bulk_create(
                ArretTravail(
                    assure=a,
                    type_arret="MAL",
                    date_debut=day - datetime.timedelta(days=120),
                    date_fin_prevue=day + datetime.timedelta(days=30),
                    cpam=cpam,
                )
                for a in people
            )
            Cible.objects.bulk_create(
                Cible(
                    campagne=campagne,
                    assure=a,
                    arret=arret,
                    canal=CanalCampagne.COURRIER,
                    created_at=now,
                )
                for a, arret in zip(people, arrets, strict=True)
            )
        return manager, campagne
