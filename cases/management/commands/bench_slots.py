"""Benchmark of the free-slot computation (issue 10, item 9, first half).

    manage.py bench_slots [--ass 15] [--weeks 8] [--meetings 3] [--repeat 5]

Inside one transaction rolled back at the end (the database is left as it was), it creates a unit
of `--ass` ASS, each with 4–5 weekly opening ranges, an absence every other week and about
`--meetings` meetings a day over `--weeks` weeks, then times `cases.availability.free_slots` for
the whole unit over those weeks (best of `--repeat`) and prints the slots found, the queries and
the seconds.
"""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.availability import free_slots
from cases.models import Absence, Accompagnement, Entretien, Motif, PlageOuverture
from pdp.identifiers import nir_key
from pdp.models import CpamOffice, Region, Role, Unit, User
from referrals.models import Assure

# (weekday, start, end) of the weekly ranges; the 5th only for every other ASS.
RANGES = [
    (0, datetime.time(9), datetime.time(12)),
    (1, datetime.time(13, 30), datetime.time(17)),
    (2, datetime.time(9), datetime.time(12)),
    (3, datetime.time(9), datetime.time(16, 30)),
    (4, datetime.time(9), datetime.time(12)),
]
MEETING_HOURS = [9, 11, 14, 15, 16]
MODES = ["sur_place", "telephone", "visio"]


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Mesure le calcul des créneaux libres d'une unité (données jetables, annulées)."

    def add_arguments(self, parser):
        parser.add_argument("--ass", type=int, default=15, help="Nombre d'ASS de l'unité.")
        parser.add_argument("--weeks", type=int, default=8, help="Semaines calculées.")
        parser.add_argument("--meetings", type=int, default=3, help="Entretiens par jour et ASS.")
        parser.add_argument("--repeat", type=int, default=5, help="Mesures (la meilleure compte).")

    def handle(self, *args, **options):
        n_ass, weeks = options["ass"], options["weeks"]
        meetings, repeat = options["meetings"], options["repeat"]
        if n_ass < 1 or weeks < 1 or repeat < 1 or not 0 <= meetings <= len(MEETING_HOURS):
            raise CommandError(
                f"--ass, --weeks et --repeat doivent être ≥ 1, --meetings entre 0 et "
                f"{len(MEETING_HOURS)}."
            )
        try:
            with transaction.atomic():
                self._run(n_ass, weeks, meetings, repeat)
                raise _Rollback
        except _Rollback:
            pass
        self.stdout.write("Données du banc d'essai annulées (transaction annulée).")

    def _run(self, n_ass, weeks, meetings, repeat):
        now = timezone.now()
        today = timezone.localdate()
        monday = today - datetime.timedelta(days=today.weekday()) + datetime.timedelta(days=7)
        staff = self._unit(n_ass)
        self._planning(staff, monday, weeks, meetings)
        motif = Motif(label="Banc d'essai", duree_minutes=45, delai_min_heures=0)
        motif.delai_max_jours = 7 * weeks + 7
        start = timezone.make_aware(datetime.datetime.combine(monday, datetime.time()))
        end = start + datetime.timedelta(weeks=weeks)
        ids = [u.pk for u in staff]
        timings = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                found = free_slots(ass_ids=ids, start=start, end=end, motif=motif, now=now)
                timings.append(time.perf_counter() - began)
        slots = sum(len(v) for v in found.values())
        self.stdout.write(
            f"{connection.vendor} · {n_ass} ASS, {weeks} semaines, "
            f"{meetings} entretiens par jour : "
            f"{slots} créneaux libres de {motif.duree_minutes} min, {len(queries)} requêtes, "
            f"meilleur temps {min(timings):.3f} s sur {repeat} (pire {max(timings):.3f} s)"
        )

    def _unit(self, n_ass):
        region, _ = Region.objects.get_or_create(code="BNC", defaults={"name": "Banc d'essai"})
        unit = Unit.objects.create(region=region, code="BENCHSLOTS", name="Unité du banc")
        cpam, _ = CpamOffice.objects.get_or_create(
            code="999", defaults={"region": region, "name": "CPAM du banc"}
        )
        staff = User.objects.bulk_create(
            [
                User(username=f"bench-slots-{i}", role=Role.ASS, unit=unit, last_name=f"ASS {i}")
                for i in range(n_ass)
            ]
        )
        assures = Assure.objects.bulk_create(
            [
                Assure(
                    nir=(body := f"18505999{i:05d}") + nir_key(body),
                    nom_naissance=f"BANC{i}",
                    prenoms="Test",
                    date_naissance=datetime.date(1985, 5, 12),
                    sexe="1",
                    code_postal="76000",
                    commune="Rouen",
                    cpam=cpam,
                )
                for i in range(n_ass)
            ]
        )
        cases = Accompagnement.objects.bulk_create(
            [
                Accompagnement(assure=a, referent=u, unit=unit, region_id=unit.region_id)
                for a, u in zip(assures, staff, strict=True)
            ]
        )
        for user, case in zip(staff, cases, strict=True):
            user.bench_case = case
        return staff

    def _planning(self, staff, monday, weeks, meetings):
        plages, absences, entretiens = [], [], []
        for index, user in enumerate(staff):
            for weekday, start, end in RANGES[: 5 if index % 2 else 4]:
                plages.append(
                    PlageOuverture(
                        ass=user,
                        weekday=weekday,
                        heure_debut=start,
                        heure_fin=end,
                        lieu="Agence",
                        modes=MODES,
                        premier_jour=monday,
                    )
                )
            for week in range(0, weeks, 2):
                day = monday + datetime.timedelta(weeks=week, days=(index + week) % 5)
                debut = timezone.make_aware(datetime.datetime.combine(day, datetime.time(13)))
                absences.append(
                    Absence(ass=user, debut=debut, fin=debut + datetime.timedelta(hours=5))
                )
            for offset in range(weeks * 7):
                day = monday + datetime.timedelta(days=offset)
                if day.weekday() > 4:
                    continue
                for hour in MEETING_HOURS[:meetings]:
                    debut = timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))
                    entretiens.append(
                        Entretien(
                            accompagnement=user.bench_case,
                            ass=user,
                            debut=debut,
                            duree_minutes=45,
                            mode="sur_place",
                        )
                    )
        PlageOuverture.objects.bulk_create(plages)
        Absence.objects.bulk_create(absences)
        Entretien.objects.bulk_create(entretiens, batch_size=2000)
