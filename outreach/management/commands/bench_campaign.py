"""Benchmark of a campaign's simulation (issue 12, item 9, first part).

    manage.py bench_campaign [--arrets 100000] [--repeat 3] [--envoi]

Inside one transaction rolled back at the end (the database is left as it was), it creates a
region with a unit, one ASS open four mornings a week, `--arrets` people each on an ongoing
arrêt of 90 to 400 days with a mix of contact details, ages and IJ amounts, some of them
already followed (an open referral) or contacted recently; then times
`outreach.campaigns.campagne_simulate` (target generation, counts and capacity check; best of
`--repeat`, each run replacing the previous targets) and prints the targets, the statements
and the seconds. PostgreSQL is the production database; it runs on SQLite too.

With ``--envoi``, the campaign then runs and `outreach.campaign_sending.invitations_send` sends
its SMS and e-mail invitations (claim, bulk codes, one INSERT of messages per batch, audit):
the seconds and the statements. The delivery tasks are queued on commit, and the transaction
is rolled back: the provider part is not measured (nothing leaves).
"""

import datetime
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import PlageOuverture
from outreach import campaigns
from outreach.models import Cible, RegleCanal
from pdp.identifiers import nir_key
from pdp.models import CpamOffice, Region, Role, Unit, UnitTerritory, User
from referrals.models import ArretTravail, Assure, ContactAttempt, Signalement, Statut

CHUNK = 5000


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Mesure la simulation d'une campagne (données jetables, annulées)."

    def add_arguments(self, parser):
        parser.add_argument("--arrets", type=int, default=100_000, help="Arrêts en cours.")
        parser.add_argument("--repeat", type=int, default=3, help="Mesures (la meilleure compte).")
        parser.add_argument(
            "--envoi", action="store_true", help="Mesurer aussi l'envoi des SMS et e-mails."
        )

    def handle(self, *args, **options):
        n, repeat = options["arrets"], options["repeat"]
        self.envoi = options["envoi"]
        if not 1 <= n <= 999_999 or repeat < 1:
            raise CommandError("--arrets entre 1 et 999 999, --repeat ≥ 1.")
        try:
            with transaction.atomic():
                self._run(n, repeat)
                raise _Rollback
        except _Rollback:
            pass
        self.stdout.write("Données du banc d'essai annulées (transaction annulée).")

    def _run(self, n, repeat):
        now = timezone.now()
        day = timezone.localdate()
        began = time.perf_counter()
        manager = self._population(n, day, now)
        if connection.vendor == "postgresql":
            # Fresh rows have no statistics yet; a live database has them (autovacuum).
            with connection.cursor() as cursor:
                for model in (Assure, ArretTravail, Signalement, ContactAttempt, Cible):
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
        self.stdout.write(
            f"Population de {n} arrêts créée en {time.perf_counter() - began:.1f} s.", ending="\n"
        )
        self.stdout.flush()
        campagne = campaigns.campagne_create(
            acting_user=manager, nom="Banc d'essai", date_reference=day
        )
        timings = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                campagne = campaigns.campagne_simulate(
                    campagne=campagne, acting_user=manager, now=now
                )
                timings.append(time.perf_counter() - start)
        figures = campagne.simulation
        canaux = ", ".join(f"{k} {v}" for k, v in figures["canaux"].items() if v)
        exclusions = ", ".join(f"{k} {v}" for k, v in figures["exclusions"].items() if v)
        targets = Cible.objects.filter(campagne=campagne).count()
        self.stdout.write(
            f"{connection.vendor} · {n} arrêts en cours : {targets} "
            f"cibles ({canaux} ; écartées : {exclusions}) ; capacité "
            f"{figures['capacite']['creneaux_libres']} créneaux pour "
            f"{figures['capacite']['reponses_attendues']} réponses attendues ; "
            f"{len(queries)} requêtes, meilleur temps {min(timings):.2f} s sur {repeat} "
            f"(pire {max(timings):.2f} s)"
        )
        if self.envoi:
            self._send(campagne, manager)

    def _send(self, campagne, manager):
        from outreach import campaign_sending
        from outreach.models import Campagne

        # Straight to « en cours »: the bench has no webinar, its webinar targets wait.
        Campagne.objects.filter(pk=campagne.pk).update(statut=Campagne.Statut.EN_COURS)
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            sent = campaign_sending.invitations_send(campagne_id=campagne.pk, acting_user=manager)
            seconds = time.perf_counter() - start
        self.stdout.write(
            f"Envoi : {sent.sms} SMS et {sent.email} e-mails ({sent.sans_contact} sans "
            f"coordonnée) en {seconds:.2f} s, {len(queries)} requêtes "
            f"({campaign_sending.SEND_BATCH} cibles par lot)"
        )

    def _population(self, n, day, now):
        region = Region.objects.create(code="BNCCAMP", name="Banc d'essai campagnes")
        unit = Unit.objects.create(region=region, code="BENCHCAMP", name="Unité du banc")
        UnitTerritory.objects.filter(prefix="989").delete()
        UnitTerritory.objects.create(unit=unit, prefix="989")
        cpam = CpamOffice.objects.create(code="989", region=region, name="CPAM du banc")
        manager = User.objects.create(username="bench-camp-resp", role=Role.MANAGER, unit=unit)
        ass = User.objects.create(username="bench-camp-ass", role=Role.ASS, unit=unit)
        for weekday in range(4):
            PlageOuverture.objects.create(
                ass=ass,
                weekday=weekday,
                heure_debut=datetime.time(9),
                heure_fin=datetime.time(12),
                lieu="Agence",
                modes=["sur_place", "telephone"],
                premier_jour=day - datetime.timedelta(days=7),
            )
        # The default rules apply when the region has none; give it its own, like a region would.
        RegleCanal.objects.bulk_create(
            RegleCanal(region=region, ordre=o, libelle=lib, canal=canal, **cond)
            for o, lib, cond, canal in [
                (
                    10,
                    "Long arrêt : appel",
                    {"duree_min": 180, "contact_connu": "telephone"},
                    "appel",
                ),
                (20, "Moins de 30 ans : SMS", {"age_max": 29, "contact_connu": "mobile"}, "sms"),
                (30, "IJ faible : webinaire", {"ij_max": Decimal("30")}, "webinaire"),
                (40, "Mobile : SMS", {"contact_connu": "mobile"}, "sms"),
                (50, "E-mail : e-mail", {"contact_connu": "email"}, "email"),
                (60, "Adresse : courrier", {"contact_connu": "adresse"}, "courrier"),
                (70, "Sinon : aucun", {}, "aucun"),
            ]
        )
        for first in range(0, n, CHUNK):
            people = Assure.objects.bulk_create(
                Assure(
                    nir=(body := f"1850598{i:06d}") + nir_key(body),
                    nom_naissance=f"BANC{i}",
                    prenoms="Test",
                    date_naissance=datetime.date(1960 + i % 45, 1 + i % 12, 1 + i % 28),
                    code_postal="98900" if i % 50 else "99999",
                    commune="Banc",
                    adresse="1 rue du Banc" if i % 4 else "",
                    telephone=("06 12 34 56 78" if i % 3 else "02 35 00 00 00") if i % 7 else "",
                    email=f"p{i}@example.org" if i % 5 == 0 else "",
                    cpam=cpam,
                )
                for i in range(first, min(n, first + CHUNK))
            )
            ArretTravail.objects.bulk_create(
                ArretTravail(
                    assure=a,
                    type_arret="MAL",
                    date_debut=day - datetime.timedelta(days=89 + (a.pk * 7) % 311),
                    date_fin_prevue=day + datetime.timedelta(days=30),
                    montant_ij=Decimal(20 + a.pk % 60),
                    cpam=cpam,
                )
                for a in people
            )
            followed = Signalement.objects.bulk_create(
                Signalement(
                    assure=a,
                    service="social",
                    origine="seuil_cpam",
                    statut=Statut.A_CONTACTER if k % 2 else Statut.SANS_REPONSE,
                    region=region,
                    unit=unit,
                )
                for k, a in enumerate(people[::40])
            )
            ContactAttempt.objects.bulk_create(
                ContactAttempt(signalement=s, canal="telephone", resultat="pas_de_reponse", at=now)
                for s in followed
                if s.statut == Statut.SANS_REPONSE
            )
        return manager
