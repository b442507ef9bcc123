"""National-scale volume for the indicators (issue 13, item 8), on PostgreSQL only.

    DATABASE_URL=postgres://… manage.py generate_volume [--scale 1.0] [--seed 13] [--force]

Fills the database with 16 regions (one unit, one territory and one CPAM office per
département), their users, 2 million assurés, 3 million arrêts, 600,000 referrals, 200,000 open
and 400,000 closed accompagnements with their meetings, events, dispositifs and closures,
campaigns with their targets, and survey answers. `--scale` multiplies every count of people
and records (the 16 regions stay). Reference rows go through the ORM (a few thousand, found by
code on a second run); the volume goes through COPY, with ids taken after the tables' current
maximum, then each id sequence is set and the filled tables are vacuumed and analysed.

The column lists come from the models (`_meta.concrete_fields`): the generator gives the
columns it chooses; every other column gets its Python default, NULL or "" (blank), or is left
to its database default; a NOT NULL column without any of these stops the command, so a new
required field cannot be forgotten. No health field is generated: the models have none.
"""

import datetime
import io
import itertools
import json
import random
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.db.models import NOT_PROVIDED
from django.utils import timezone

from cases.models import (
    Accompagnement,
    CaseEvent,
    Cloture,
    DispositifMobilise,
    DispositifType,
    Entretien,
)
from outreach.models import Campagne, Cible, Questionnaire, SurveyAnswer
from outreach.surveys import OUTCOME_CATEGORY
from pdp.identifiers import nir_key
from pdp.models import CpamOffice, Region, Role, Unit, UnitTerritory, User
from referrals.models import ArretTravail, Assure, Signalement, SignalementEvent, build_search_name

# Counts at scale 1.
ASSURES = 2_000_000
ARRETS = 3_000_000
SIGNALEMENTS = 600_000
OPEN_CASES = 200_000
CLOSED_CASES = 400_000
ASS_USERS = 2_400
CONSEILLERS = 400
CAMPAIGNS_PER_REGION = 12
CIBLES = 300_000
YEARS = 3

# The 16 regional funds (15 Carsat and the Cramif) and their départements (Corsica: "20").
REGIONS = [
    ("ALSMOS", "Alsace-Moselle", "57 67 68"),
    ("AQUIT", "Aquitaine", "24 33 40 47 64"),
    ("AUVERG", "Auvergne", "03 15 43 63"),
    ("BFC", "Bourgogne-Franche-Comté", "21 25 39 58 70 71 89 90"),
    ("BRET", "Bretagne", "22 29 35 56"),
    ("CVL", "Centre-Val de Loire", "18 28 36 37 41 45"),
    ("CENTOU", "Centre-Ouest", "16 17 19 23 79 86 87"),
    ("HDF", "Hauts-de-France", "02 59 60 62 80"),
    ("LANGRO", "Languedoc-Roussillon", "11 30 34 48 66"),
    ("MIDPYR", "Midi-Pyrénées", "09 12 31 32 46 65 81 82"),
    ("NORM", "Normandie", "14 27 50 61 76"),
    ("NORDEST", "Nord-Est", "08 10 51 52 54 55 88"),
    ("PDL", "Pays de la Loire", "44 49 53 72 85"),
    ("RHALP", "Rhône-Alpes", "01 07 26 38 42 69 73 74"),
    ("SUDEST", "Sud-Est", "04 05 06 13 20 83 84"),
    ("IDF", "Île-de-France", "75 77 78 91 92 93 94 95"),
]
# Populous départements weigh three times more.
BIG = {
    "75",
    "92",
    "93",
    "94",
    "13",
    "59",
    "69",
    "33",
    "31",
    "44",
    "06",
    "67",
    "76",
    "62",
    "34",
    "38",
    "35",
    "77",
    "78",
    "91",
    "95",
}

LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Hébert",
    "Côté",
    "Benali",
    "Nguyen",
    "Haddad",
    "Traoré",
    "Da",
    "Silva",
]
# The assurés' surnames are drawn the way a population's are spread: the common ones above,
# in this order (Zipf: the first twice as frequent as the second…), make COMMON_SURNAMES of the
# people — « Martin » about 0.7 %, « Lefèvre » 0.06 %, as in France, where the commonest
# surname is well under 1 % — and the others a long tail of some 24,000 composed names (a few
# hundred people each at scale 1). With the 37 names alone every name was 2.7 % of the
# population, which made any name search match tens of thousands of people (README « Search at
# national volume »).
COMMON_SURNAMES = 0.03
_ZIPF = [1 / (rank + 1) for rank in range(len(LAST_NAMES))]
SURNAME_CUM_WEIGHTS = [weight / sum(_ZIPF) for weight in itertools.accumulate(_ZIPF)]
# fmt: off
SURNAME_PREFIXES = ("", "", "", "", "Le", "La", "Du", "De")
SURNAME_ROOTS = (
    "Ber", "Cha", "Del", "Fon", "Gar", "Lan", "Mar", "Mor", "Per", "Rou", "Val", "Bou", "Ker",
    "Mon", "Pel", "Bré", "Cél", "Gué", "Mé", "Ro", "Sa", "Ti", "Vi", "Lo", "Fa", "Cor", "Dur",
    "Jo", "Po", "Ri",
)
SURNAME_MIDDLES = ("", "", "", "an", "el", "ou", "i", "é")
SURNAME_ENDINGS = (
    "chard", "mont", "lier", "vière", "rin", "zac", "ville", "teau", "guet", "bert", "net",
    "card", "lot", "rand", "thier", "gnon", "rel", "roy", "ssard", "ché",
)
# fmt: on


def _surname(rng):
    if rng.random() < COMMON_SURNAMES:
        return rng.choices(LAST_NAMES, cum_weights=SURNAME_CUM_WEIGHTS)[0]
    prefix = rng.choice(SURNAME_PREFIXES)
    name = rng.choice(SURNAME_ROOTS) + rng.choice(SURNAME_MIDDLES) + rng.choice(SURNAME_ENDINGS)
    return f"{prefix} {name}" if prefix else name


FIRST_NAMES = {
    "1": [
        "Karim",
        "Grégoire",
        "Joël",
        "Bastien",
        "Loïc",
        "Jérôme",
        "Stéphane",
        "Noël",
        "Thomas",
        "Lucas",
        "Hugo",
        "Mehdi",
    ],
    "2": [
        "Hélène",
        "Aïcha",
        "Léa",
        "Nathalie",
        "Chloé",
        "Inès",
        "Sophie",
        "Camille",
        "Zoé",
        "Maëlle",
        "Fatou",
        "Émilie",
    ],
}
STREETS = "rue de la République|avenue Jean Jaurès|rue Victor Hugo|place de l'Église|rue des Écoles"
STREETS = STREETS.split("|")
POSTS = "aide-soignante|cariste|maçon|comptable|caissière|chauffeur livreur|agent d'entretien"
POSTS = POSTS.split("|") + ["infirmière", "technicien de maintenance", "vendeur", "cuisinier"]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
CHUNK = 100_000


def _copy_text(value):
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return str(value).translate(_ESCAPES)


def _siret(rng):
    """A random SIRET passing the Luhn checks (SIREN, then the 14 digits)."""

    def luhn_complete(digits):
        for last in "0123456789":
            candidate = digits + last
            total = 0
            for i, d in enumerate(reversed(candidate)):
                n = int(d) * (2 if i % 2 else 1)
                total += n - 9 if n > 9 else n
            if total % 10 == 0:
                return candidate
        raise AssertionError

    siren = luhn_complete("".join(rng.choice("0123456789") for _ in range(8)))
    if siren.startswith("356000000"):
        siren = "41" + siren[2:-1]
        siren = luhn_complete(siren)
    return luhn_complete(siren + f"{rng.randrange(10000):04d}")


def _choices(model, name):
    return [value for value, _label in model._meta.get_field(name).flatchoices if value != ""]


class Copier:
    """COPY of one model's rows, in chunks. `columns`: the field names (or attnames) the
    generator gives, in its rows' order; every other concrete column is filled as the module
    docstring says."""

    def __init__(self, cursor, model, columns, now):
        self.cursor, self.model = cursor, model
        fields = {f.attname: f for f in model._meta.concrete_fields}
        fields.update({f.name: f for f in model._meta.concrete_fields})
        given = [fields[c] for c in columns]
        given_columns = {f.column for f in given}
        constants = []
        for field in model._meta.concrete_fields:
            if field.column in given_columns:
                continue
            if isinstance(field, models.AutoField | models.BigAutoField):
                continue  # the sequence gives it
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = now
            elif field.has_default() and not callable(field.default):
                value = field.get_db_prep_save(field.get_default(), connection)
                value = value.adapted if hasattr(value, "adapted") else value
            elif field.has_default() and field.default in (dict, list):
                value = field.default()
            elif field.has_default():
                value = field.get_default()
            elif field.db_default is not NOT_PROVIDED:
                continue
            elif field.null:
                value = None
            elif field.blank and isinstance(field, models.CharField | models.TextField):
                value = ""
            else:
                raise CommandError(
                    f"Colonne obligatoire sans valeur : {model._meta.db_table}.{field.column}."
                )
            constants.append((field.column, _copy_text(value)))
        column_list = [f.column for f in given] + [c for c, _v in constants]
        self.sql = f"COPY {model._meta.db_table} ({', '.join(column_list)}) FROM STDIN"
        self.suffix = "".join("\t" + v for _c, v in constants) + "\n"
        if not constants:
            self.suffix = "\n"
        self.lines = []
        self.rows = 0
        self.seconds = 0.0

    def add(self, *values):
        self.lines.append("\t".join(map(_copy_text, values)) + self.suffix)
        if len(self.lines) >= CHUNK:
            self.flush()

    def flush(self):
        if not self.lines:
            return
        start = time.monotonic()
        self.cursor.copy_expert(self.sql, io.StringIO("".join(self.lines)))
        self.seconds += time.monotonic() - start
        self.rows += len(self.lines)
        self.lines = []


class Command(BaseCommand):
    help = "Remplit une base PostgreSQL avec un volume national réaliste (COPY)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="Multiplie chaque volume.")
        parser.add_argument("--seed", type=int, default=13, help="Graine du hasard.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Ajouter le volume même si la base contient déjà des assurés.",
        )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "generate_volume exige PostgreSQL (COPY) : définissez DATABASE_URL=postgres://…"
            )
        scale = options["scale"]
        if not 0 < scale <= 10:
            raise CommandError("--scale doit être compris entre 0 (exclu) et 10.")
        if Assure.objects.exists() and not options["force"]:
            raise CommandError(
                "La base contient déjà des assurés : generate_volume refuse de les compléter. "
                "Utilisez une base vide, ou --force pour ajouter le volume à l'existant."
            )
        self.rng = random.Random(options["seed"])
        self.scale = scale
        self.today = timezone.localdate()
        self.now = timezone.now()
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            self.cursor = cursor.cursor  # the psycopg2 cursor, for copy_expert
            step = time.monotonic()
            self._reference_data()
            reference_seconds = time.monotonic() - step
            self._assures()
            self._arrets()
            self._signalements()
            self._cases()
            self._campaigns()
            self._survey_answers()
            tables = [c.model._meta.db_table for c in self.copiers]
            for copier in self.copiers:
                if isinstance(copier.model._meta.pk, models.AutoField | models.BigAutoField):
                    table = copier.model._meta.db_table
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
                    )
        step = time.monotonic()
        # VACUUM as well when it can run (not inside a transaction, as in the tests): a live
        # database's autovacuum has marked its pages all-visible, which the index-only scans
        # of the visibility rule and the counts need; fresh COPY data has no such marks.
        analyse_sql = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"{analyse_sql} {table}")
        analyse = time.monotonic() - step
        self.stdout.write(
            f"Référentiel (régions, unités, CPAM, utilisateurs) : {self.reference_rows} lignes, "
            f"{reference_seconds:.1f} s"
        )
        self.stdout.write(f"{'table':32s} {'lignes':>10s} {'s (COPY)':>9s}")
        for copier in self.copiers:
            self.stdout.write(
                f"{copier.model._meta.db_table:32s} {copier.rows:>10,d} {copier.seconds:>9.1f}"
            )
        self.stdout.write(f"{analyse_sql} : {analyse:.1f} s")
        self.stdout.write(
            self.style.SUCCESS(f"Volume généré en {time.monotonic() - started:.1f} s.")
        )

    # --- helpers --------------------------------------------------------------------------

    def n(self, count):
        return max(1, round(count * self.scale))

    def copier(self, model, columns):
        copier = Copier(self.cursor, model, columns, self.now)
        self.copiers = [*getattr(self, "copiers", []), copier]
        return copier

    def next_id(self, model):
        self.cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")
        return self.cursor.fetchone()[0]

    def day(self, days_back_max, days_back_min=0):
        return self.today - datetime.timedelta(days=self.rng.randint(days_back_min, days_back_max))

    def at(self, day, hour=None):
        """An aware time on `day`: at `hour` sharp, or at a random quarter of the working day."""
        if hour is None:
            moment = datetime.time(self.rng.randint(8, 17), self.rng.choice((0, 15, 30, 45)))
        else:
            moment = datetime.time(hour)
        return datetime.datetime.combine(day, moment, timezone.get_current_timezone())

    # --- reference data (ORM: a few thousand rows) ---------------------------------------

    def _reference_data(self):
        rng = self.rng
        Region.objects.bulk_create(
            [Region(code=code, name=name) for code, name, _d in REGIONS], ignore_conflicts=True
        )
        regions = {r.code: r for r in Region.objects.filter(code__in=[c for c, _n, _d in REGIONS])}
        units, offices, territories = [], [], []
        for code, _name, departements in REGIONS:
            for dep in departements.split():
                units.append(Unit(region=regions[code], code=f"U{dep}", name=f"Unité {dep}"))
                offices.append(CpamOffice(region=regions[code], code=f"{dep}1", name=f"CPAM {dep}"))
        Unit.objects.bulk_create(units, ignore_conflicts=True)
        CpamOffice.objects.bulk_create(offices, ignore_conflicts=True)
        self.units = list(Unit.objects.filter(code__in=[u.code for u in units]).order_by("code"))
        for unit in self.units:
            territories.append(UnitTerritory(unit=unit, prefix=unit.code[1:]))
        UnitTerritory.objects.bulk_create(territories, ignore_conflicts=True)
        cpams = {
            c.code: c.pk for c in CpamOffice.objects.filter(code__in=[o.code for o in offices])
        }
        self.unit_cpam = [cpams[f"{u.code[1:]}1"] for u in self.units]
        self.unit_weight = [3 if u.code[1:] in BIG else 1 for u in self.units]
        total_weight = sum(self.unit_weight)
        users = []
        for index, unit in enumerate(self.units):
            share = self.unit_weight[index] / total_weight
            dep = unit.code[1:]
            for i in range(max(1, round(ASS_USERS * self.scale * share))):
                users.append((f"vol.ass{i + 1}.{dep}", Role.ASS, unit, None))
            for i in range(max(1, round(CONSEILLERS * self.scale * share))):
                users.append((f"vol.conseiller{i + 1}.{dep}", Role.CONSEILLER, unit, None))
            users.append((f"vol.responsable.{dep}", Role.MANAGER, unit, None))
        for code, _name, _d in REGIONS:
            users.append((f"vol.regional.{code.lower()}", Role.REGIONAL, None, regions[code]))
        User.objects.bulk_create(
            [
                User(
                    username=username,
                    password="!",  # unusable: these accounts cannot log in
                    first_name=rng.choice(FIRST_NAMES[rng.choice("12")]),
                    last_name=rng.choice(LAST_NAMES),
                    role=role,
                    unit=unit,
                    region=region or unit.region,
                )
                for username, role, unit, region in users
            ],
            ignore_conflicts=True,
        )
        by_unit = {}
        self.conseillers = {}
        for pk, role, unit_id in User.objects.filter(
            username__in=[u[0] for u in users], role__in=[Role.ASS, Role.CONSEILLER]
        ).values_list("pk", "role", "unit_id"):
            (by_unit if role == Role.ASS else self.conseillers).setdefault(unit_id, []).append(pk)
        self.unit_ass = [by_unit[u.pk] for u in self.units]
        self.employers = [(f"{rng.choice(LAST_NAMES)} SAS", _siret(rng)) for _ in range(2000)]
        self.reference_rows = len(users) + len(units) + len(offices) + len(territories) + 16

    # --- volume -----------------------------------------------------------------------------

    def _assures(self):
        rng = self.rng
        count = self.n(ASSURES)
        copy = self.copier(
            Assure,
            [
                "id", "nir", "nom_naissance", "nom_usage", "prenoms", "date_naissance", "sexe",
                "adresse", "code_postal", "commune", "telephone", "email", "regime", "cpam_id",
                "situation_emploi", "employeur_nom", "employeur_siret", "poste", "rqth",
                "canal_prefere", "search_name",
            ],
        )  # fmt: skip
        first = self.next_id(Assure)
        situations = _choices(Assure, "situation_emploi")
        canals = _choices(Assure, "canal_prefere")
        unit_indexes = range(len(self.units))
        self.assure_ids = []
        self.assure_unit = []
        units = rng.choices(unit_indexes, weights=self.unit_weight, k=count)
        places = [(d, c) for d in range(1, 96) if d != 20 for c in range(1, 1000)]
        for i in range(count):
            pk = first + i
            # The id makes the NIR unique: (birth département, commune, order number).
            place, order = divmod(pk, 999)
            dep, commune = places[place % len(places)]
            sex = rng.choice("12")
            birth = datetime.date(rng.randint(1960, 2004), rng.randint(1, 12), rng.randint(1, 28))
            body = (
                f"{sex}{birth.year % 100:02d}{birth.month:02d}{dep:02d}{commune:03d}{order + 1:03d}"
            )
            nom = _surname(rng)
            usage = _surname(rng) if sex == "2" and rng.random() < 0.3 else ""
            prenoms = rng.choice(FIRST_NAMES[sex])
            unit = units[i]
            dep_code = self.units[unit].code[1:]
            situation = rng.choices(situations, weights=(55, 15, 8, 3, 2, 7, 10))[0]
            employer, siret = (
                rng.choice(self.employers)
                if situation not in ("independant", "demandeur_emploi")
                else ("", "")
            )
            copy.add(
                pk, body + nir_key(body), nom, usage, prenoms, birth, sex,
                f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                f"{dep_code}{rng.randint(0, 999):03d}", f"Commune {dep_code}",
                f"06{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.85 else "",
                f"personne{pk}@example.org" if rng.random() < 0.6 else "",
                "general" if rng.random() < 0.93 else "independant", self.unit_cpam[unit],
                situation, employer, siret, rng.choice(POSTS) if employer else "",
                rng.random() < 0.08, rng.choice(canals) if rng.random() < 0.3 else "",
                build_search_name(nom, usage, prenoms),
            )  # fmt: skip
            self.assure_ids.append(pk)
            self.assure_unit.append(unit)
        copy.flush()

    def _duration(self):
        """Days of an arrêt: many short ones, a tail beyond 90 and 180 days."""
        r = self.rng.random()
        if r < 0.55:
            return self.rng.randint(1, 14)
        if r < 0.75:
            return self.rng.randint(15, 45)
        if r < 0.88:
            return self.rng.randint(46, 90)
        if r < 0.96:
            return self.rng.randint(91, 180)
        return self.rng.randint(181, 720)

    def _arrets(self):
        rng = self.rng
        count = self.n(ARRETS)
        copy = self.copier(
            ArretTravail,
            ["id", "assure_id", "type_arret", "date_debut", "date_fin_prevue", "date_fin_reelle",
             "montant_ij", "cpam_id"],
        )  # fmt: skip
        first = self.next_id(ArretTravail)
        span = YEARS * 365
        self.arrets = []  # (id, assuré index, start, last end, duration)
        people = len(self.assure_ids)
        # Every assuré has one arrêt; the others go to people drawn at random (2 to 4 each).
        owners = list(range(people)) + [
            rng.randrange(people) for _ in range(max(0, count - people))
        ]
        owners.sort()
        previous, cursor_day = None, None
        for i, person in enumerate(owners):
            duration = self._duration()
            if person != previous:
                start = self.today - datetime.timedelta(days=rng.randint(0, span))
            else:  # a new episode after the previous one's return
                start = cursor_day + datetime.timedelta(days=rng.randint(10, 200))
            previous = person
            expected = start + datetime.timedelta(days=duration - 1)
            ongoing = expected >= self.today
            cursor_day = expected
            kind = rng.choices(("MAL", "AT", "MP"), weights=(82, 14, 4))[0]
            pk = first + i
            copy.add(
                pk, self.assure_ids[person], kind, start, expected, None if ongoing else expected,
                f"{rng.uniform(18, 62):.2f}", self.unit_cpam[self.assure_unit[person]],
            )  # fmt: skip
            self.arrets.append((pk, person, start, expected, duration))
        copy.flush()

    def _signalements(self):
        rng = self.rng
        count = self.n(SIGNALEMENTS)
        copy = self.copier(
            Signalement,
            ["id", "assure_id", "arret_id", "service", "origine", "region_id", "date_signalement",
             "statut", "unit_id", "assigned_to_id", "date_echeance", "created_at", "updated_at"],
        )  # fmt: skip
        events = self.copier(
            SignalementEvent,
            ["signalement_id", "at", "actor_id", "kind", "old_value", "new_value"],
        )
        first = self.next_id(Signalement)
        long_arrets = [a for a in self.arrets if a[4] > 45]
        rng.shuffle(long_arrets)
        origins = _choices(Signalement, "origine")
        weights = {"seuil_cpam": 60, "medecin_conseil": 12, "spst": 6, "medecin_traitant": 5,
                   "assure": 5, "campagne": 5}  # fmt: skip
        origin_weights = [weights.get(o, 1) for o in origins]
        open_statuts = ["nouveau", "a_contacter", "contact_en_cours", "rencontre_proposee"]
        social_statuts = [*open_statuts, "accompagnement_ouvert", "refus", "sans_reponse",
                          "hors_criteres", "doublon"]  # fmt: skip
        social_weights = [3, 4, 4, 3, 45, 12, 18, 8, 3]
        open_social = set()
        self.referrals_to_open = []  # (signalement id, assuré index, unit index, ass id, date)
        for i in range(count):
            pk = first + i
            day = None
            if i < len(long_arrets) and rng.random() < 0.92:
                arret_id, person, start, _end, duration = long_arrets[i]
                service = "social" if duration >= 90 or rng.random() < 0.5 else "medical"
                day = start + datetime.timedelta(
                    days=min(duration, 90 if service == "social" else 46) - 1
                )
            if day is None or day > self.today:  # not crossed yet: another referral instead
                arret_id, person = None, rng.randrange(len(self.assure_ids))
                service, day = "social", self.day(YEARS * 365)
            origin = rng.choices(origins, weights=origin_weights)[0]
            if arret_id is None and origin == "seuil_cpam":
                origin = "assure"
            if service == "social":
                statut = rng.choices(social_statuts, weights=social_weights)[0]
                if statut in open_statuts and (
                    person in open_social or day < self.today - datetime.timedelta(days=120)
                ):
                    statut = "sans_reponse"
                if statut in open_statuts:
                    open_social.add(person)
            else:
                statut = rng.choices(("transmis", "classe", "nouveau"), weights=(70, 25, 5))[0]
            unit = self.assure_unit[person]
            ass = rng.choice(self.unit_ass[unit]) if statut != "nouveau" else None
            created = self.at(day)
            copy.add(
                pk, self.assure_ids[person], arret_id, service, origin,
                self.units[unit].region_id, day, statut, self.units[unit].pk, ass,
                day + datetime.timedelta(days=30), created, created,
            )  # fmt: skip
            events.add(pk, created, None, "created", "", "nouveau")
            if statut != "nouveau":
                events.add(pk, created + datetime.timedelta(days=rng.randint(1, 20)), ass,
                           "status", "nouveau", statut)  # fmt: skip
            if statut == "accompagnement_ouvert":
                self.referrals_to_open.append((pk, person, unit, ass, day))
        copy.flush()
        events.flush()

    def _cases(self):
        rng = self.rng
        open_count, closed_count = self.n(OPEN_CASES), self.n(CLOSED_CASES)
        cases = self.copier(
            Accompagnement,
            ["id", "assure_id", "referent_id", "unit_id", "region_id", "mission", "statut",
             "date_ouverture", "date_cloture", "signalement_id"],
        )  # fmt: skip
        clotures = self.copier(
            Cloture, ["id", "accompagnement_id", "outcome", "date_cloture", "closed_by_id"]
        )
        events = self.copier(CaseEvent, ["accompagnement_id", "at", "actor_id", "kind", "summary"])
        meetings = self.copier(
            Entretien, ["accompagnement_id", "debut", "duree_minutes", "ass_id", "mode", "statut"]
        )
        dispositifs = self.copier(
            DispositifMobilise,
            ["accompagnement_id", "type_id", "statut", "date_debut", "date_fin", "renouvellements"],
        )
        first, first_cloture = self.next_id(Accompagnement), self.next_id(Cloture)
        outcomes = _choices(Cloture, "outcome")
        outcome_weights = {"maintien_poste": 18, "maintien_amenage": 14, "maintien_autre_poste": 6,
                           "maintien_tpt": 10, "emploi_nouvel_employeur": 5,
                           "emploi_reconversion": 5, "emploi_formation": 4, "invalidite": 8,
                           "inaptitude": 12, "retraite": 4, "refus": 6, "perdu_de_vue": 5,
                           "deces": 1, "autre": 2}  # fmt: skip
        weights = [outcome_weights.get(o, 1) for o in outcomes]
        modes = _choices(Entretien, "mode")
        type_ids = list(DispositifType.objects.filter(active=True).values_list("pk", flat=True))
        disp_statuts = _choices(DispositifMobilise, "statut")
        # One open case per (assuré, mission): the open ones go to distinct people.
        people = rng.sample(range(len(self.assure_ids)), min(open_count, len(self.assure_ids)))
        referrals = self.referrals_to_open
        planned_slot = {}  # ASS id → next free slot (planned meetings never overlap)
        # After the planned meetings already there (a run with --force).
        self.cursor.execute(
            f"SELECT MAX(debut) FROM {Entretien._meta.db_table} WHERE statut = 'planifie'"
        )
        latest = self.cursor.fetchone()[0]
        first_free = max(self.today, timezone.localdate(latest) if latest else self.today)
        self.closures = []  # (cloture id, unit index, date, outcome)
        total = open_count + closed_count
        for i in range(total):
            pk = first + i
            is_open = i < len(people)
            if is_open:
                person, signalement, closed = people[i], None, None
                unit = self.assure_unit[person]
                ass = rng.choice(self.unit_ass[unit])
                opened = self.day(540)
                statut = "suspendu" if rng.random() < 0.1 else "ouvert"
            else:
                j = i - len(people)
                if j < len(referrals):  # the referral « accompagnement ouvert » it came from
                    signalement, person, unit, ass, opened = referrals[j]
                    ass = ass or rng.choice(self.unit_ass[unit])
                else:
                    signalement, person = None, rng.randrange(len(self.assure_ids))
                    unit = self.assure_unit[person]
                    ass, opened = rng.choice(self.unit_ass[unit]), self.day(YEARS * 365, 30)
                # Closed 30 to 540 days after opening, never after today (a case opened
                # lately closes sooner: no pile of closures on today).
                span = (self.today - opened).days
                low = 30 if span >= 30 else 0
                closed = opened + datetime.timedelta(days=rng.randint(low, min(540, span)))
                statut = "cloture"
            mission = "pdp" if is_open or rng.random() < 0.85 else "securisation"
            cases.add(pk, self.assure_ids[person], ass, self.units[unit].pk,
                      self.units[unit].region_id, mission, statut, opened, closed,
                      signalement)  # fmt: skip
            events.add(pk, self.at(opened), ass, "opened", "Accompagnement ouvert")
            last = closed or self.today
            length = max(1, (last - opened).days)
            for _m in range(rng.randint(1, 8)):
                day = opened + datetime.timedelta(days=rng.randint(0, length))
                state = rng.choices(("realise", "annule", "absent"), weights=(82, 10, 8))[0]
                meetings.add(pk, self.at(min(day, self.today - datetime.timedelta(days=1))), 60,
                             ass, rng.choice(modes), state)  # fmt: skip
            if is_open and rng.random() < 0.5:
                slot = planned_slot.get(ass, 0)
                planned_slot[ass] = slot + 1
                day = first_free + datetime.timedelta(days=1 + slot // 7)
                meetings.add(pk, self.at(day, 9 + slot % 7), 60, ass, rng.choice(modes),
                             "planifie")  # fmt: skip
            if type_ids and rng.random() < 0.3:
                start = opened + datetime.timedelta(days=rng.randint(0, length))
                end = start + datetime.timedelta(days=rng.randint(14, 120))
                dispositifs.add(pk, rng.choice(type_ids), rng.choice(disp_statuts), start, end,
                                int(rng.random() < 0.15))  # fmt: skip
                events.add(pk, self.at(start), ass, "dispositif", "Dispositif mobilisé")
            if closed is not None:
                cloture = first_cloture + len(self.closures)
                outcome = rng.choices(outcomes, weights=weights)[0]
                clotures.add(cloture, pk, outcome, closed, ass)
                events.add(pk, self.at(closed), ass, "closed", "Accompagnement clôturé")
                self.closures.append((cloture, unit, closed, outcome))
        for copier in (cases, clotures, events, meetings, dispositifs):
            copier.flush()

    def _campaigns(self):
        rng = self.rng
        campaigns = self.copier(
            Campagne,
            ["id", "region_id", "nom", "date_reference", "statut", "lancee_le", "close_le",
             "created_by_id"],
        )  # fmt: skip
        cibles = self.copier(
            Cible,
            ["campagne_id", "assure_id", "arret_id", "canal", "exclusion", "created_at",
             "envoye_le"],
        )  # fmt: skip
        first = self.next_id(Campagne)
        regions = sorted({u.region_id for u in self.units})
        per_campaign = max(1, self.n(CIBLES) // (len(regions) * CAMPAIGNS_PER_REGION))
        creators = {}
        for pk, region_id in User.objects.filter(
            role=Role.REGIONAL, username__startswith="vol."
        ).values_list("pk", "region_id"):
            creators[region_id] = pk
        long_by_region = {}
        for arret_id, person, _start, _end, duration in self.arrets:
            if duration >= 90:
                region = self.units[self.assure_unit[person]].region_id
                long_by_region.setdefault(region, []).append((arret_id, person))
        canals = _choices(Cible, "canal")
        pk = first
        for region in regions:
            pool = long_by_region.get(region, [])
            for c in range(CAMPAIGNS_PER_REGION):
                day = self.today - datetime.timedelta(days=(CAMPAIGNS_PER_REGION - c) * 90)
                current = c == CAMPAIGNS_PER_REGION - 1
                launched = self.at(day)
                campaigns.add(pk, region, f"Campagne {day:%m/%Y}", day,
                              "en_cours" if current else "close", launched,
                              None if current else launched + datetime.timedelta(days=60),
                              creators.get(region))  # fmt: skip
                seen = set()
                for arret_id, person in rng.sample(pool, min(per_campaign, len(pool))):
                    if person in seen:  # one target per (campagne, assuré)
                        continue
                    seen.add(person)
                    canal = rng.choices(canals, weights=[20, 35, 15, 20, 5, 5][: len(canals)])[0]
                    exclusion = "suivi" if rng.random() < 0.05 else ""
                    cibles.add(pk, self.assure_ids[person], arret_id, canal, exclusion, launched,
                               None if canal == "aucun" or exclusion else launched)  # fmt: skip
                pk += 1
        campaigns.flush()
        cibles.flush()

    def _survey_answers(self):
        rng = self.rng
        answers = self.copier(
            SurveyAnswer, ["id", "questionnaire_id", "region_id", "unit_id", "month", "categorie",
                           "answers"]
        )  # fmt: skip
        active = {q.kind: q for q in Questionnaire.objects.filter(active=True)}
        kinds = [k for k in ("barometre", "suivi_6m", "suivi_12m") if k in active]
        if not kinds:  # the questionnaires come with the migrations (outreach 0003)
            return
        for _cloture, unit, closed, outcome in self.closures:
            if rng.random() > 0.2 or outcome == "deces":
                continue
            kind = rng.choice(kinds)
            questionnaire = active[kind]
            values = {}
            for question in questionnaire.questions:
                if question["type"] == "choice":
                    values[question["key"]] = rng.choice(question["choices"])[0]
                elif question["type"] == "yesno":
                    values[question["key"]] = rng.choice(("oui", "oui", "non"))
            answers.add(
                uuid.uuid4().hex, questionnaire.pk, self.units[unit].region_id,
                self.units[unit].pk, closed.replace(day=1),
                OUTCOME_CATEGORY.get(outcome, "autre") if kind != "barometre" else "", values,
            )  # fmt: skip
        answers.flush()
