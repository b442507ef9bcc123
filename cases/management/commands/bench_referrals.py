"""Benchmark of the CPAM import and of the detection scan, on PostgreSQL only.

    DATABASE_URL=postgres://… manage.py bench_referrals [--rows 100000] [--arrets 1000000]
                                                        [--no-import] [--keep]

It never touches the configured database's data: it creates a throwaway database named
`<name>_bench` next to it (with Django's test-database machinery: CREATE DATABASE + migrate),
works there and drops it at the end (`--keep` leaves it for inspection). It prints:

1. (unless `--no-import`) the import speed of a generated extract of `--rows` rows through
   `referrals.importer.import_extract_file`, against the floor of a plain `COPY` of the same file
   into a bare table in the same run, and how much the process's peak memory grew during the
   import (the extract is written to a file first, `--extract PATH` keeps it);
2. the time of the detection scan over `--arrets` arrêts of which about 1 in 8 of the first
   arrêts of each person crosses a threshold, against the floor of one hand-written
   `INSERT … SELECT` writing the same referrals (no region lookup, checks, routing or events);
3. the time of a second scan that has nothing new to do, then of the same scan limited to the
   region (a manager's « Lancer la détection »). `--arrets 0` skips 2 and 3.
"""

import csv
import datetime
import resource
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone

from cases.models import Accompagnement
from pdp.identifiers import nir_key
from pdp.models import CpamOffice, Region, Role, Unit, UnitTerritory, User
from referrals.detection import scan_arrets
from referrals.importer import COLUMNS as EXTRACT_HEADER
from referrals.models import ArretTravail, Assure, Signalement, SignalementEvent

TARGET_IMPORT_ROWS_PER_S = 30_000
TARGET_IMPORT_COPY_RATIO = 5.0
TARGET_SCAN_RATIO = 1.5
TARGET_SECOND_SCAN_S = 2.0


class Command(BaseCommand):
    help = "Mesure l'import CPAM et la détection sur une base PostgreSQL jetable (<nom>_bench)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000, help="Lignes de l'extrait.")
        parser.add_argument("--arrets", type=int, default=1_000_000, help="Arrêts pour le scan.")
        parser.add_argument(
            "--keep", action="store_true", help="Garder la base <nom>_bench à la fin."
        )
        parser.add_argument(
            "--extract", metavar="CHEMIN", help="Écrire l'extrait généré ici et le garder."
        )
        parser.add_argument("--no-import", action="store_true", help="Ne mesurer que la détection.")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "Le banc d'essai exige PostgreSQL : définissez DATABASE_URL=postgres://… "
                "(il crée puis supprime sa propre base <nom>_bench)."
            )
        if options["rows"] < 1 or 0 < options["arrets"] < 10 or options["arrets"] < 0:
            raise CommandError("--rows doit être ≥ 1 et --arrets 0 ou ≥ 10.")
        settings.DEBUG = False  # no query log: it would hold every statement in memory
        original_name = connection.settings_dict["NAME"]
        bench_name = f"{original_name}_bench"
        test_settings = connection.settings_dict.setdefault("TEST", {})
        original_test_name = test_settings.get("NAME")
        test_settings["NAME"] = bench_name
        self.stdout.write(f"Création de la base jetable {bench_name} (migrations)…")
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            self.day = timezone.localdate()
            self._reference_data()
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                version = cursor.fetchone()[0]
            self.stdout.write(f"PostgreSQL {version}, jour de référence {self.day:%d/%m/%Y}")
            if not options["no_import"]:
                self._bench_import(options["rows"], options["extract"])
            if options["arrets"]:
                self._bench_scan(options["arrets"])
        finally:
            if options["keep"]:
                self.stdout.write(f"Base {bench_name} conservée (--keep).")
                connection.close()
            else:
                connection.creation.destroy_test_db(original_name, verbosity=0)
            test_settings["NAME"] = original_test_name

    # --- reference data ------------------------------------------------------------------------

    def _reference_data(self):
        region = Region.objects.create(code="BENCH", name="Région de banc d'essai")
        self.region = region
        self.cpams = [
            CpamOffice.objects.create(region=region, code="999", name="CPAM banc 999"),
            CpamOffice.objects.create(region=region, code="998", name="CPAM banc 998"),
        ]
        units = [
            Unit.objects.create(region=region, code=f"B{n:02d}", name=f"Unité banc {n}")
            for n in range(10)
        ]
        units[0].auto_assign = True
        units[0].save()
        territories = []
        for dept in range(1, 80):  # départements 80-95 stay "à répartir"
            territories.append(UnitTerritory(unit=units[dept % 10], prefix=f"{dept:02d}"))
        territories += [UnitTerritory(unit=units[0], prefix=f"76{n}00") for n in range(10)]
        UnitTerritory.objects.bulk_create(territories)
        self.workers = User.objects.bulk_create(
            User(username=f"bench-ass-{u.code}-{n}", role=Role.ASS, unit=u)
            for u in units
            for n in range(4)
        )
        self.units = units

    # --- 1. import -----------------------------------------------------------------------------

    def _bench_import(self, rows, extract_path=None):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(extract_path or Path(folder) / "banc.csv")
            self._write_extract(path, rows)
            self._measure_import(path, rows)

    def _measure_import(self, path, rows):
        from referrals.importer import import_extract_file

        size_mb = path.stat().st_size / 1e6
        with connection.cursor() as cursor, path.open("rb") as data:
            cursor.execute(
                "CREATE TABLE bench_copy ("
                + ", ".join(f"{name} text" for name in EXTRACT_HEADER)
                + ")"
            )
            started = time.perf_counter()
            cursor.copy_expert(
                "COPY bench_copy FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)", data
            )
            copy_s = time.perf_counter() - started
            cursor.execute("DROP TABLE bench_copy")

        write_s = self._write_floor(path)
        self._vacuum(Assure, ArretTravail)  # the floor's rolled-back rows

        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        cpam_import = import_extract_file(path, file_name="banc.csv", user=None)
        import_s = time.perf_counter() - started
        peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rate = rows / import_s
        ratio = import_s / copy_s
        self.stdout.write(
            f"1. Import CPAM : {rows:_} lignes ({size_mb:.1f} Mo) en {import_s:.2f} s "
            f"→ {rate:_.0f} lignes/s ; créés {cpam_import.rows_created:_}, "
            f"rejetés {cpam_import.rows_rejected:_} ({cpam_import.get_status_display()})".replace(
                "_", " "
            )
        )
        met = rate >= TARGET_IMPORT_ROWS_PER_S and ratio <= TARGET_IMPORT_COPY_RATIO
        self.stdout.write(
            f"   plancher COPY dans une table nue : {copy_s:.2f} s → ratio {ratio:.1f} "
            f"[cible ≥ {TARGET_IMPORT_ROWS_PER_S:_} lignes/s et ≤ {TARGET_IMPORT_COPY_RATIO:g} × "
            f"COPY : {'atteinte' if met else 'MANQUÉE'}]".replace("_", " ")
        )
        self.stdout.write(
            f"   plancher d'écriture (les mêmes lignes par COPY dans une table temporaire puis "
            f"un INSERT … SELECT dans les assurés et un dans les arrêts, avec leurs index et "
            f"leurs clés) : {write_s:.2f} s, soit {write_s / copy_s:.1f} × COPY → ratio de "
            f"l'import {import_s / write_s:.2f}"
        )
        self.stdout.write(
            f"   mémoire : pic du processus {peak_after / 1024:.0f} Mo, "
            f"+{(peak_after - peak_before) / 1024:.0f} Mo pendant l'import"
        )

    def _write_floor(self, path):
        """Seconds to write the file's rows by hand into the real tables, constraints checked,
        then rolled back: what any import of these rows costs at least (the import also
        validates each line, merges the people and reports)."""
        cpam_table = CpamOffice._meta.db_table
        started = time.perf_counter()
        try:
            with transaction.atomic():
                with connection.cursor() as cursor, path.open("rb") as data:
                    cursor.execute(
                        "CREATE TEMPORARY TABLE bench_stage ("
                        + ", ".join(f"{name} text" for name in EXTRACT_HEADER)
                        + ") ON COMMIT DROP"
                    )
                    cursor.copy_expert(
                        "COPY bench_stage FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)",
                        data,
                    )
                    cursor.execute(
                        "CREATE TEMPORARY TABLE bench_staged ON COMMIT DROP AS SELECT "
                        f"nextval(pg_get_serial_sequence('{Assure._meta.db_table}', 'id')) "
                        f"AS assure_id, s.*, c.id AS cpam FROM bench_stage s "
                        f"JOIN {cpam_table} c ON c.code = s.code_caisse"
                    )
                day = "to_date({}, 'DD/MM/YYYY')".format
                _insert_select(
                    Assure,
                    {
                        "id": "assure_id",
                        "nir": "nir",
                        "nom_naissance": "nom",
                        "prenoms": "prenom",
                        "date_naissance": day("nullif(date_naissance, '')"),
                        "sexe": "sexe",
                        "adresse": "adresse",
                        "code_postal": "code_postal",
                        "commune": "commune",
                        "telephone": "telephone",
                        "email": "email",
                        "employeur_siret": "employeur_siret",
                        "employeur_nom": "employeur_nom",
                        "cpam_id": "cpam",
                        "search_name": "lower(nom || ' ' || prenom)",
                    },
                    "FROM bench_staged",
                    [],
                )
                _insert_select(
                    ArretTravail,
                    {
                        "assure_id": "assure_id",
                        "type_arret": "type_arret",
                        "date_debut": day("date_debut_arret"),
                        "date_fin_prevue": day("date_fin_prevue"),
                        "date_fin_reelle": day("nullif(date_fin_reelle, '')"),
                        "montant_ij": "replace(nullif(montant_ij, ''), ',', '.')::numeric",
                        "cpam_id": "cpam",
                        "extract_date": "CURRENT_DATE",
                    },
                    "FROM bench_staged",
                    [],
                )
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                elapsed = time.perf_counter() - started
                raise _RolledBack
        except _RolledBack:
            pass
        return elapsed

    def _write_extract(self, path, rows):
        """A valid extract written to `path`: one arrêt per person, UTF-8 with accents, `;`,
        French dates."""
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
            writer.writerow(EXTRACT_HEADER)
            self._extract_rows(writer, rows)

    def _extract_rows(self, writer, rows):
        day = self.day
        for i in range(rows):
            sex = "1" if i % 2 else "2"
            year, month = 60 + i % 40, 1 + i % 12
            dept = (i // 1_000_000) % 90 + 1
            body = f"{sex}{year:02d}{month:02d}{dept:02d}{i % 1_000_000:06d}"
            start = day - datetime.timedelta(days=i % 300)
            end = start + datetime.timedelta(days=30 + i % 200)
            returned = None
            if i % 7 == 0 and start <= day - datetime.timedelta(days=30):
                returned = start + datetime.timedelta(days=10 + i % 20)
            writer.writerow(
                [
                    body + nir_key(body),
                    f"Lefèvre{i}",
                    "Hélène" if sex == "2" else "Jérôme",
                    f"15/{month:02d}/19{year:02d}",
                    sex,
                    f"{i % 200} rue de la République",
                    f"{1 + i % 95:02d}{i % 1000:03d}",
                    "Saint-Étienne-du-Rouvray",
                    f"06{i % 100_000_000:08d}",
                    f"personne{i}@exemple.fr",
                    _siret(i),
                    "Société Générale d'Exemple",
                    ("MAL", "AT", "MP")[i % 3 if i % 10 == 0 else 0],
                    f"{start:%d/%m/%Y}",
                    f"{end:%d/%m/%Y}",
                    f"{returned:%d/%m/%Y}" if returned else "",
                    f"{20 + i % 60},{i % 100:02d}",
                    self.cpams[i % 2].code,
                ]
            )

    # --- 2 and 3. scan -------------------------------------------------------------------------

    def _bench_scan(self, n_arrets):
        n_people = max(int(n_arrets * 0.8), 1)
        self.stdout.write(
            f"Génération de {n_arrets:_} arrêts pour {n_people:_} personnes…".replace("_", " ")
        )
        started = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cursor:
                # The generated rows are consistent by construction: as a superuser, skip the
                # foreign-key triggers (one check per row, half of the generation's time).
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                if cursor.fetchone()[0]:
                    cursor.execute("SET LOCAL session_replication_role = replica")
            self._generate(n_people, n_arrets)
        self._vacuum(Assure, ArretTravail, Accompagnement, Signalement, SignalementEvent)
        self.stdout.write(f"   générés en {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT COUNT(*) FROM {ArretTravail._meta.db_table}
                    WHERE date_debut <= %s AND COALESCE(date_fin_reelle, date_fin_prevue) >= %s""",
                [self.day - datetime.timedelta(days=45), self.day],
            )
            crossing = cursor.fetchone()[0]

        floor_s, floor_rows = self._floor()
        self._vacuum(Signalement, SignalementEvent)

        started = time.perf_counter()
        first = scan_arrets(day=self.day)
        scan_s = time.perf_counter() - started
        written = first.medical + first.social
        ratio = scan_s / floor_s
        self.stdout.write(
            f"2. Détection : {n_arrets:_} arrêts dont {crossing:_} au-delà d'un seuil ; "
            f"scan {scan_s:.2f} s → {first.medical:_} médicaux + {first.social:_} sociaux "
            f"({first.attribues_auto:_} attribués automatiquement, "
            f"{first.routes.get('a_repartir', 0):_} à répartir)".replace("_", " ")
        )
        self.stdout.write(
            f"   plancher INSERT … SELECT ({floor_rows:_} lignes) : {floor_s:.2f} s → ratio "
            f"{ratio:.2f} [cible ≤ {TARGET_SCAN_RATIO:g} : "
            f"{'atteinte' if ratio <= TARGET_SCAN_RATIO else 'MANQUÉE'}]".replace("_", " ")
        )
        if written != floor_rows:
            self.stdout.write(
                f"   (écart avec le plancher : {floor_rows - written} signalements non créés "
                "car personne déjà suivie ou déjà signalée)"
            )

        started = time.perf_counter()
        second = scan_arrets(day=self.day)
        second_s = time.perf_counter() - started
        self.stdout.write(
            f"3. Second scan sans nouveauté : {second_s:.2f} s ({second.medical + second.social} "
            f"créés) [cible < {TARGET_SECOND_SCAN_S:g} s : "
            f"{'atteinte' if second_s < TARGET_SECOND_SCAN_S else 'MANQUÉE'}]"
        )
        started = time.perf_counter()
        scoped = scan_arrets(day=self.day, region=self.region)
        scoped_s = time.perf_counter() - started
        self.stdout.write(
            f"   idem limité à la région (« Lancer la détection ») : {scoped_s:.2f} s "
            f"({scoped.medical + scoped.social} créés)"
        )

    def _generate(self, n_people, n_arrets):
        """Set-based generation. Per person i (first arrêt), by i mod 1000:
        [0, 125) ongoing, 46 to 401 days; [125, 325) ongoing, 1 to 45 days; [325, 400) expected
        end passed; the rest ended. Extra arrêts (n_arrets − n_people) are old, ended episodes.
        1 % of the people crossing a threshold already have an open case, 1 % an open social
        referral from another origin."""
        day = self.day
        tables = [
            m._meta.db_table
            for m in (SignalementEvent, Signalement, Accompagnement, ArretTravail, Assure)
        ]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        cpam_a, cpam_b = (c.pk for c in self.cpams)
        _insert_select(
            Assure,
            {
                "id": "i",
                "nir": "b || lpad(CAST(97 - mod(CAST(b AS bigint), 97) AS text), 2, '0')",
                "nom_naissance": "'NOM' || i",
                "prenoms": "'Prénom'",
                "date_naissance": "DATE '1975-03-15'",
                "sexe": "'1'",
                "code_postal": "lpad(CAST(1 + mod(i, 95) AS text), 2, '0') "
                "|| lpad(CAST(mod(i * 7, 1000) AS text), 3, '0')",
                "cpam_id": f"CASE WHEN mod(i, 997) = 0 THEN NULL WHEN mod(i, 2) = 0 "
                f"THEN {cpam_a} ELSE {cpam_b} END",
                "search_name": "'nom' || i || ' prenom'",
            },
            """FROM (SELECT i, '175037' || lpad(CAST(i AS text), 7, '0') AS b
                     FROM generate_series(1, %s) AS i) g""",
            [n_people],
        )
        d = "CAST(%(day)s AS date)"
        _insert_select(
            ArretTravail,
            {
                "assure_id": "i",
                "type_arret": "'MAL'",
                "date_debut": "s",
                "date_fin_prevue": "e",
                "date_fin_reelle": "r",
                "cpam_id": f"CASE WHEN mod(i, 50) = 0 THEN NULL ELSE "
                f"(CASE WHEN mod(i, 2) = 0 THEN {cpam_a} ELSE {cpam_b} END) END",
            },
            f"""FROM (
                SELECT i, s, GREATEST(e, s) AS e, CASE WHEN r IS NULL THEN NULL
                                                      ELSE GREATEST(r, s) END AS r
                FROM (
                    SELECT i,
                        CASE WHEN mod(i, 1000) < 125 THEN {d} - 45 - mod(i * 7, 356)
                             WHEN mod(i, 1000) < 325 THEN {d} - mod(i, 45)
                             WHEN mod(i, 1000) < 400 THEN {d} - 100 - mod(i, 200)
                             ELSE {d} - 60 - mod(i, 700) END AS s,
                        CASE WHEN mod(i, 1000) < 325 THEN {d} + 1 + mod(i, 120)
                             WHEN mod(i, 1000) < 400 THEN {d} - 1 - mod(i, 30)
                             ELSE {d} - 60 - mod(i, 700) + 5 + mod(i, 50) END AS e,
                        CASE WHEN mod(i, 1000) >= 400
                             THEN {d} - 60 - mod(i, 700) + 5 + mod(i, 50) END AS r
                    FROM generate_series(1, %(people)s) AS i
                ) raw
            ) g""",
            {"day": self.day, "people": n_people},
        )
        extra = n_arrets - n_people
        if extra > 0:
            _insert_select(
                ArretTravail,
                {
                    "assure_id": "1 + mod(i - 1, %(people)s)",
                    "type_arret": "'AT'",
                    "date_debut": f"{d} - 1000 - mod(i, 300) - 300 * ((i - 1) / %(people)s)",
                    "date_fin_prevue": f"{d} - 980 - mod(i, 300) - 300 * ((i - 1) / %(people)s)",
                    "date_fin_reelle": f"{d} - 980 - mod(i, 300) - 300 * ((i - 1) / %(people)s)",
                    "cpam_id": str(cpam_a),
                },
                "FROM generate_series(1, %(extra)s) AS i",
                {"day": self.day, "people": n_people, "extra": extra},
            )
        # People already followed: an open case, or an open social referral of another origin.
        workers = [w for w in self.workers if w.unit_id == self.units[1].pk]
        _insert_select(
            Accompagnement,
            {
                "assure_id": "i",
                "referent_id": str(workers[0].pk),
                "unit_id": str(self.units[1].pk),
                "region_id": str(self.units[1].region_id),
                "date_ouverture": f"{d} - 30",
            },
            "FROM generate_series(1, %(people)s) AS i WHERE mod(i, 1000) = 7",
            {"day": day, "people": n_people},
        )
        _insert_select(
            Signalement,
            {
                "assure_id": "i",
                "service": "'social'",
                "origine": "'medecin_traitant'",
                "statut": "'a_contacter'",
                "date_signalement": f"{d} - 10",
                "unit_id": str(self.units[1].pk),
                "region_id": str(self.region.pk),
            },
            "FROM generate_series(1, %(people)s) AS i WHERE mod(i, 1000) = 11",
            {"day": day, "people": n_people},
        )

    def _floor(self):
        """One plain INSERT … SELECT of the same referrals (default thresholds, no region lookup
        — the bench region's id as a constant —, no routing, no event), foreign keys checked,
        then rolled back."""
        sql = f"""
            INSERT INTO {Signalement._meta.db_table}
                (assure_id, arret_id, service, origine, date_signalement, statut, region_id,
                 date_echeance, motif, created_at, updated_at)
            SELECT a.assure_id, a.id, t.service, 'seuil_cpam', %(day)s, t.statut, %(region)s,
                   CASE WHEN t.service = 'social' THEN a.date_debut + 119 END, '', now(), now()
            FROM {ArretTravail._meta.db_table} a
            CROSS JOIN (VALUES ('medical', 'nouveau', 45), ('social', 'a_contacter', 89))
                AS t(service, statut, back)
            WHERE a.date_debut <= CAST(%(day)s AS date) - t.back
              AND COALESCE(a.date_fin_reelle, a.date_fin_prevue) >= %(day)s
            ON CONFLICT DO NOTHING
        """
        rows = 0

        class Rollback(Exception):
            pass

        started = time.perf_counter()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # Foreign keys are checked at commit; check them now, as the scan pays for them.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET LOCAL jit = off")  # as the scan does
                cursor.execute(sql, {"day": self.day, "region": self.region.pk})
                rows = cursor.rowcount
                raise Rollback
        except Rollback:
            pass
        return time.perf_counter() - started, rows

    def _vacuum(self, *models_):
        with connection.cursor() as cursor:
            for model in models_:
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def _siret(i):
    """A SIRET whose SIREN (9 digits) and whole number (14 digits) pass the Luhn check."""
    siren = _luhn_complete(f"{(i * 7919) % 10**8:08d}")
    return _luhn_complete(f"{siren}{i % 10**4:04d}")


def _luhn_complete(payload):
    """`payload` followed by the digit that makes it pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit takes position 0
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return payload + str((10 - total % 10) % 10)


class _RolledBack(Exception):
    pass


def _insert_select(model, exprs, from_sql, params):
    """INSERT INTO <model> (…) SELECT … <from_sql>: the columns named in `exprs` take those SQL
    expressions, every other NOT NULL column its model default (or now() / '' / false), so a
    field added later with a default does not break the benchmark."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in exprs:
            value = exprs[field.column]
        elif field.primary_key or field.null:
            continue
        elif isinstance(field, models.DateTimeField):
            value = "now()"
        elif field.has_default() and not callable(field.default):
            value = _literal(field.get_db_prep_save(field.get_default(), connection))
        elif isinstance(field, models.BooleanField):
            value = "false"
        elif isinstance(field, (models.CharField, models.TextField)):
            value = "''"
        elif isinstance(field, models.DateField):
            value = "CURRENT_DATE"
        else:
            raise CommandError(f"Banc d'essai : pas de valeur pour {model.__name__}.{field.name}.")
        columns.append(connection.ops.quote_name(field.column))
        values.append(value)
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} "
    with connection.cursor() as cursor:
        cursor.execute(sql + from_sql, params)
    if "id" in exprs:
        with connection.cursor() as cursor:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            )


def _literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"
