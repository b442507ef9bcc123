"""Import of the CPAM monthly extract (domain §7): stream the file, validate, upsert in sets.

Entry point: :func:`import_extract`. The file is read by 64 KB chunks and line by line, each
line decoded as UTF-8 or, failing that, Windows-1252 (memory stays flat with the file size).
Rows are validated in Python in a worker thread, one batch of ``BATCH_SIZE`` rows ahead of the
writer, so validation overlaps with the database work. Each batch of valid rows is written
with a few set-based statements; on PostgreSQL (values passed as one array per column and
spread with ``unnest``):

* a temporary table of the (NIR, start) keys met so far catches duplicates across batches;
* one query reads the batch's known assurés by NIR; one ``INSERT … SELECT FROM unnest``
  creates the new ones (``RETURNING id``); one ``UPDATE … FROM unnest`` refreshes the
  contact details that changed;
* one ``INSERT … ON CONFLICT (assure_id, date_debut) DO UPDATE … WHERE <fields differ>
  RETURNING (xmax = 0)`` upserts the arrêts and counts created and updated rows (the rows it
  does not write are unchanged);
* rejected lines go in with ``bulk_create``.

Elsewhere (SQLite) and for every dry run, the batch's assurés and arrêts are read, compared
in Python with the same rules, then written with ``bulk_create`` / ``bulk_update``.

Rules chosen here (the issue leaves them open):

* Mandatory header columns: ``nir, nom, prenom, type_arret, date_debut_arret,
  date_fin_prevue`` and ``code_caisse`` (the latter may be absent when an expected caisse is
  given). Other known columns are optional; unknown columns are ignored and listed in the
  import's message. A header missing a mandatory column refuses the whole file.
* Mandatory fields of a row: the same seven. ``date_naissance``, ``sexe``, contact fields,
  employer, ``date_fin_reelle`` and ``montant_ij`` may be empty; when present they are
  validated (the NIR must agree with the sex and the birth date). An empty ``sexe`` is taken
  from the NIR.
* ``sexe`` accepts 1/2, M/H/F, homme/femme; a 4-digit ``code_postal`` gets back the leading
  zero spreadsheets drop; ``montant_ij`` accepts a decimal comma, spaces and a final €.
* A second row with the same (NIR, date_debut_arret) as an earlier valid row of the same
  file is rejected as « doublon dans le fichier » with the first line's number.
* A line that is neither UTF-8 nor Windows-1252 (or holds NUL bytes) is rejected, not
  dropped; a header with a column twice refuses the file.
* Blank lines and lines made only of separators (spreadsheets add them) are skipped; their
  number is written in the import's message.
* Re-import never writes blanks over known values: an empty field in the extract keeps what
  the database has. Identity (nom, prénoms) is never overwritten; birth date and sex are
  only filled when unknown. Contact details, employer and CPAM take the newest non-empty
  value. For arrêts, type, expected end and CPAM take the extract's value, actual end and IJ
  the extract's value when it is not empty.
* ``last_import`` of an arrêt is the import that created or last changed it: an unchanged
  row is not written at all (importing the same file twice changes nothing).
* When a user is given and is not an administrator, only the caisses of the user's region
  are accepted.
* A dry run writes nothing at all: it returns an unsaved ``CpamImport`` whose counts say what
  would happen and whose ``pending_rejections`` lists the rejected lines.
* The whole import runs in one transaction; imports are serialised with a PostgreSQL advisory
  lock so that two imports at once cannot create the same assuré twice.
"""

from __future__ import annotations

import copy
import csv
import datetime
import functools
import operator
import queue
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import connection, transaction
from django.utils import timezone

from pdp.audit import audit
from pdp.identifiers import IdentifierError, nir_check_coherence, nir_normalize, siret_normalize
from pdp.models import AuditLog, CpamOffice
from referrals.models import (
    ArretTravail,
    Assure,
    CpamImport,
    ImportRejection,
    TypeArret,
    build_search_name,
)

BATCH_SIZE = 5000
READ_CHUNK = 64 * 1024
MAX_LINE_BYTES = 64 * 1024  # a longer "line" is not CSV text
RAW_LINE_MAX_CHARS = 2000  # what is kept of a rejected line
ADVISORY_LOCK_KEY = 7_610_001  # arbitrary constant: "the CPAM import is running"

COLUMNS = (
    "nir",
    "nom",
    "prenom",
    "date_naissance",
    "sexe",
    "adresse",
    "code_postal",
    "commune",
    "telephone",
    "email",
    "employeur_siret",
    "employeur_nom",
    "type_arret",
    "date_debut_arret",
    "date_fin_prevue",
    "date_fin_reelle",
    "montant_ij",
    "code_caisse",
)
REQUIRED_COLUMNS = (
    "nir",
    "nom",
    "prenom",
    "type_arret",
    "date_debut_arret",
    "date_fin_prevue",
    "code_caisse",
)

# Maximum lengths of the text columns (the model's max_length).
_MAX_LENGTHS = {
    "nom": Assure._meta.get_field("nom_naissance").max_length,
    "prenom": Assure._meta.get_field("prenoms").max_length,
    "adresse": Assure._meta.get_field("adresse").max_length,
    "commune": Assure._meta.get_field("commune").max_length,
    "telephone": Assure._meta.get_field("telephone").max_length,
    "email": Assure._meta.get_field("email").max_length,
    "employeur_nom": Assure._meta.get_field("employeur_nom").max_length,
}
_MAX_NOM = _MAX_LENGTHS["nom"]
_MAX_PRENOM = _MAX_LENGTHS["prenom"]
_MAX_ADRESSE = _MAX_LENGTHS["adresse"]
_MAX_COMMUNE = _MAX_LENGTHS["commune"]
_MAX_TELEPHONE = _MAX_LENGTHS["telephone"]
_MAX_EMAIL = _MAX_LENGTHS["email"]
_MAX_EMPLOYEUR = _MAX_LENGTHS["employeur_nom"]
_TYPES = frozenset(TypeArret.values)
_SEXES = {"1": "1", "M": "1", "H": "1", "HOMME": "1", "2": "2", "F": "2", "FEMME": "2"}
_IJ_MAX = Decimal("999999.99")
_CENT = Decimal("0.01")

# Assuré fields the extract refreshes with its newest non-empty value.
CONTACT_FIELDS = (
    "adresse",
    "code_postal",
    "commune",
    "telephone",
    "email",
    "employeur_siret",
    "employeur_nom",
    "cpam_id",
)
# Assuré fields only filled when the database does not know them yet.
FILL_ONLY_FIELDS = ("date_naissance", "sexe")
ARRET_FIELDS = ("type_arret", "date_fin_prevue", "date_fin_reelle", "montant_ij", "cpam_id")


class ImportRefused(Exception):
    """The whole file is refused; ``message`` (French) says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class Rejection:
    line: int
    reason: str
    raw: str = ""


@dataclass(slots=True)
class ExtractRow:
    line: int
    nir: str
    nom: str
    prenom: str
    date_naissance: datetime.date | None
    sexe: str
    adresse: str
    code_postal: str
    commune: str
    telephone: str
    email: str
    employeur_siret: str
    employeur_nom: str
    type_arret: str
    date_debut: datetime.date
    date_fin_prevue: datetime.date
    date_fin_reelle: datetime.date | None
    montant_ij: Decimal | None
    cpam_id: int


# --- Public API --------------------------------------------------------------------------


def import_extract(fileobj, *, file_name, user=None, caisse_code=None, dry_run=False):
    """Import a CPAM extract read from the binary file object ``fileobj``.

    Returns the ``CpamImport`` (saved, with its rejections, unless ``dry_run``). A refused
    file gives a ``CpamImport`` with status ``refused`` and a message; nothing else changes.
    """
    cpam_import = CpamImport(
        file_name=(file_name or "extrait.csv")[:255],
        user=user if user is not None and user.is_authenticated else None,
        status=CpamImport.Status.DRY_RUN if dry_run else CpamImport.Status.PROCESSED,
    )
    cpam_import.pending_rejections = []
    caisse_code = (caisse_code or "").strip()
    try:
        lines = _decoded_lines(fileobj)
        columns, ignored = _read_header(lines, caisse_given=bool(caisse_code))
        offices = {
            code: (pk, region_id)
            for pk, code, region_id in CpamOffice.objects.values_list("pk", "code", "region_id")
        }
        allowed_region_id = _allowed_region_id(user)
        expected = _expected_office(caisse_code, offices, allowed_region_id)
        if expected is not None:
            cpam_import.cpam_id = offices[expected][0]
    except ImportRefused as exc:
        return _refuse(cpam_import, exc.message, dry_run=dry_run)

    run = _ImportRun(
        cpam_import,
        columns=columns,
        offices=offices,
        expected=expected,
        allowed_region_id=allowed_region_id,
        dry_run=dry_run,
    )
    if dry_run:
        run.process(lines)
        run.finish(ignored)
        return cpam_import
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        cpam_import.save()
        run.process(lines)
        run.finish(ignored)
        cpam_import.save()
        audit(
            user=cpam_import.user,
            action=AuditLog.Action.CREATE,
            obj=cpam_import,
            changes=import_counts(cpam_import),
        )
    return cpam_import


def import_extract_file(path, **kwargs):
    """import_extract() on a file path (file_name defaults to the file's name)."""
    path = Path(path)
    kwargs.setdefault("file_name", path.name)
    with path.open("rb") as fileobj:
        return import_extract(fileobj, **kwargs)


def write_extract_csv(path, rows, *, encoding="utf-8", columns=COLUMNS):
    """Write an extract in the CPAM format: `rows` is an iterable of dicts by column name
    (missing keys are empty), written as they come (for tests, demos and benchmarks)."""
    with Path(path).open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(column, "") for column in columns])


def rejections_of(cpam_import):
    """The rejected lines as [{"line", "reason"}], for a saved import or a dry run."""
    if cpam_import.pk is None:
        pending = getattr(cpam_import, "pending_rejections", [])
        return [{"line": r.line, "reason": r.reason} for r in pending]
    return [
        {"line": line, "reason": reason}
        for line, reason in cpam_import.rejections.values_list("line_number", "reason")
    ]


def import_counts(cpam_import):
    """Counts of an import as a dict: read, created, updated, unchanged, rejected."""
    return {
        "read": cpam_import.rows_read,
        "created": cpam_import.rows_created,
        "updated": cpam_import.rows_updated,
        "unchanged": cpam_import.rows_unchanged,
        "rejected": cpam_import.rows_rejected,
    }


def _refuse(cpam_import, message, *, dry_run):
    cpam_import.status = CpamImport.Status.REFUSED
    cpam_import.message = message
    if not dry_run:
        with transaction.atomic():
            cpam_import.save()
            audit(
                user=cpam_import.user,
                action=AuditLog.Action.CREATE,
                obj=cpam_import,
                changes={"status": "refused"},
            )
    return cpam_import


def _allowed_region_id(user):
    if user is None or not user.is_authenticated or user.is_admin:
        return None
    region_id = user.effective_region_id()
    if region_id is None:
        raise ImportRefused("Votre compte n'est rattaché à aucune région : import impossible.")
    return region_id


def _expected_office(caisse_code, offices, allowed_region_id):
    if not caisse_code:
        return None
    code = caisse_code
    if code not in offices:
        raise ImportRefused(f"Caisse inconnue : « {code} ».")
    if allowed_region_id is not None and offices[code][1] != allowed_region_id:
        raise ImportRefused(f"La caisse « {code} » n'appartient pas à votre région.")
    return code


# --- Reading -----------------------------------------------------------------------------


def _decoded_lines(fileobj):
    """Check the start of a binary file, then return an iterator over its decoded lines.

    The iterator yields (line_number, text, problem). Each line is decoded as UTF-8, or as
    Windows-1252 when it is not valid UTF-8, so the file is read correctly whatever the
    encoding of its later chunks. ``problem`` is a French reason when the line cannot be read
    (undecodable bytes, NUL bytes, absurd length). Raises ImportRefused for an empty or
    binary file.
    """
    first = fileobj.read(READ_CHUNK)
    if isinstance(first, str):
        raise TypeError("import_extract attend un fichier ouvert en mode binaire.")
    if not first or not first.strip():
        raise ImportRefused("Le fichier est vide.")
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportRefused(
            "Le fichier est encodé en UTF-16 : enregistrez-le en CSV UTF-8 ou Windows-1252."
        )
    if b"\x00" in first:
        raise ImportRefused(
            "Le fichier n'est pas un fichier texte CSV (contenu binaire) : rien n'a été importé."
        )
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    return _iter_lines(fileobj, first)


_TOO_LONG = "Ligne trop longue : ce n'est pas une ligne de CSV."


def _iter_lines(fileobj, buffer):
    number = 0
    skipping = False  # inside a line longer than MAX_LINE_BYTES
    while True:
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            number += 1
            if skipping:
                skipping = False
                yield number, "", _TOO_LONG
            else:
                yield (number, *_decode(raw))
        if len(buffer) > MAX_LINE_BYTES:
            skipping = True
            buffer = b""
        chunk = fileobj.read(READ_CHUNK)
        if not chunk:
            break
        buffer += chunk
    if skipping:
        yield number + 1, "", _TOO_LONG
    elif buffer:
        yield (number + 1, *_decode(buffer))


def _decode(raw):
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\x00" in raw:
        return raw.replace(b"\x00", b"").decode("cp1252", "replace"), (
            "Ligne illisible : contenu binaire."
        )
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), None
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace"), (
            "Ligne illisible : caractères non reconnus (encodage ni UTF-8 ni Windows-1252)."
        )


def _split(text):
    if '"' in text:
        return next(csv.reader([text], delimiter=";"))
    return text.split(";")


def _normalize_header_name(name):
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


def _read_header(lines, *, caisse_given):
    """Map each known column to its index from the first line; refuse a bad header."""
    for _number, text, problem in lines:
        if not text.strip():
            raise ImportRefused("La première ligne est vide : l'en-tête des colonnes manque.")
        if problem:
            raise ImportRefused(f"En-tête illisible. {problem}")
        names = [_normalize_header_name(n) for n in _split(text)]
        break
    else:
        raise ImportRefused("Le fichier est vide.")
    known = [n for n in names if n in COLUMNS]
    if not known:
        if ";" not in text and ("," in text or "\t" in text):
            raise ImportRefused(
                "Séparateur non reconnu : les colonnes doivent être séparées par des "
                "points-virgules (;)."
            )
        raise ImportRefused(
            "La première ligne n'est pas un en-tête de colonnes reconnu (nir, nom, prenom…)."
        )
    duplicates = sorted({n for n in known if known.count(n) > 1})
    if duplicates:
        raise ImportRefused("Colonnes en double dans l'en-tête : " + ", ".join(duplicates) + ".")
    required = [c for c in REQUIRED_COLUMNS if not (c == "code_caisse" and caisse_given)]
    missing = [c for c in required if c not in names]
    if missing:
        label = (
            "Colonne obligatoire absente" if len(missing) == 1 else "Colonnes obligatoires absentes"
        )
        raise ImportRefused(
            f"{label} de l'en-tête : {', '.join(missing)}. Le fichier n'a pas été importé."
        )
    columns = {name: index for index, name in enumerate(names) if name in COLUMNS}
    columns["_count"] = len(names)
    ignored = [n for n in names if n not in COLUMNS]
    return columns, ignored


# --- Field parsing -----------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _parse_date(value):
    """JJ/MM/AAAA (day and month may have one digit) → date; ValueError otherwise."""
    parts = value.split("/")
    if len(parts) != 3:
        raise ValueError(value)
    day, month, year = parts
    if len(year) != 4 or not (day.isdigit() and month.isdigit() and year.isdigit()):
        raise ValueError(value)
    date = datetime.date(int(year), int(month), int(day))
    if not 1900 <= date.year <= 2100:
        raise ValueError(value)
    return date


@functools.lru_cache(maxsize=4096)
def _check_siret(value):
    """(normalised SIRET, None) or ("", French problem). Employers repeat: cached."""
    # What pdp.identifiers.siret_normalize accepts, without its cost (this is the hot path):
    # 14 ASCII digits passing the Luhn check, SIREN too. La Poste (SIREN 356000000) has its
    # own rule, and every other case goes to the library, which words the problem.
    if (
        len(value) == 14
        and value.isascii()
        and value.isdigit()
        and not value.startswith("356000000")
        and _luhn_ok(value)
        and _luhn_ok(value[:9])
    ):
        return value, None
    try:
        return siret_normalize(value), None
    except IdentifierError as exc:
        return "", exc.message


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_ok(digits):
    odd = sum(map(int, digits[-1::-2]))
    even = sum(_LUHN_DOUBLED[int(d)] for d in digits[-2::-2])
    return (odd + even) % 10 == 0


@functools.lru_cache(maxsize=4096)
def _parse_amount(value):
    text = value.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").rstrip("€")
    text = text.replace(",", ".")
    amount = Decimal(text)  # InvalidOperation for garbage
    if not amount.is_finite() or amount < 0 or amount > _IJ_MAX:
        raise InvalidOperation(value)
    return amount.quantize(_CENT)


_validate_email = EmailValidator()


def _fmt(date):
    return date.strftime("%d/%m/%Y")


# --- The run -----------------------------------------------------------------------------


class _ImportRun:
    def __init__(self, cpam_import, *, columns, offices, expected, allowed_region_id, dry_run):
        self.cpam_import = cpam_import
        self.offices = offices
        self.expected = expected
        self.allowed_region_id = allowed_region_id
        self.dry_run = dry_run
        self.use_pg = not dry_run and connection.vendor == "postgresql"
        self.column_count = columns["_count"]
        present = [columns.get(name) for name in COLUMNS]
        if None in present:
            self.pick = lambda fields: [fields[i] if i is not None else "" for i in present]
        else:
            self.pick = operator.itemgetter(*present)
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.rows_read = 0
        self.skipped_blank = 0
        self.created = self.updated = self.unchanged = 0
        self.rejected = 0  # counted when written
        self.rejections = []
        self.office_counts = Counter()  # valid rows per CPAM id (worker thread)
        self.duplicate_offices = Counter()  # of which rejected as duplicates (this thread)
        self.seen = _SeenKeys(pg=self.use_pg)

    # Reading and validating -------------------------------------------------------------

    def process(self, lines):
        """Validate in a worker thread, one batch ahead, while this thread writes.

        Validation is pure Python (no database access); psycopg2 releases the GIL while a
        statement runs, so validating batch n + 1 overlaps with writing batch n.
        """
        with _Pipeline(self.validated_batches(lines)) as batches:
            for batch, rejections in batches:
                self.rejections.extend(rejections)
                self.flush(batch)

    def validated_batches(self, lines):
        """Yield ([(row, text)], [Rejection]) by batches of valid rows. Runs in the worker:
        it only touches rows_read, skipped_blank and office_counts (read once it is done)."""
        batch, rejections = [], []
        column_count = self.column_count
        for line, text, problem in lines:
            if problem:
                self.rows_read += 1
                rejections.append(Rejection(line, problem, text[:RAW_LINE_MAX_CHARS]))
                continue
            fields = _split(text)
            if len(fields) != column_count or not text.strip("; \t"):
                if not text.strip("; \t"):
                    self.skipped_blank += 1
                    continue
                self.rows_read += 1
                reason = f"Nombre de colonnes incorrect : {len(fields)} au lieu de {column_count}."
                rejections.append(Rejection(line, reason, text[:RAW_LINE_MAX_CHARS]))
                continue
            self.rows_read += 1
            row = self.parse(line, fields)
            if isinstance(row, list):
                rejections.append(Rejection(line, " ; ".join(row), text[:RAW_LINE_MAX_CHARS]))
                continue
            self.office_counts[row.cpam_id] += 1
            batch.append((row, text))
            if len(batch) >= BATCH_SIZE:
                yield batch, rejections
                batch, rejections = [], []
        yield batch, rejections

    def reject(self, line, reason, text):
        self.rejections.append(Rejection(line, reason, text[:RAW_LINE_MAX_CHARS]))

    def parse(self, line, fields):
        """An ExtractRow, or the list of the row's problems (French)."""
        (
            nir_in,
            nom,
            prenom,
            naissance_in,
            sexe_in,
            adresse,
            code_postal,
            commune,
            telephone,
            email,
            siret_in,
            employeur_nom,
            type_in,
            debut_in,
            fin_prevue_in,
            fin_reelle_in,
            montant_in,
            caisse_in,
        ) = map(str.strip, self.pick(fields))
        errors = []
        if not caisse_in and self.expected is not None:
            caisse_in = self.expected
        if not (nir_in and nom and prenom and type_in and debut_in and fin_prevue_in and caisse_in):
            missing = [
                name
                for name, value in (
                    ("nir", nir_in),
                    ("nom", nom),
                    ("prenom", prenom),
                    ("type_arret", type_in),
                    ("date_debut_arret", debut_in),
                    ("date_fin_prevue", fin_prevue_in),
                    ("code_caisse", caisse_in),
                )
                if not value
            ]
            label = "Champ obligatoire vide" if len(missing) == 1 else "Champs obligatoires vides"
            errors.append(f"{label} : {', '.join(missing)}.")

        if (
            len(nom) > _MAX_NOM
            or len(prenom) > _MAX_PRENOM
            or len(adresse) > _MAX_ADRESSE
            or len(commune) > _MAX_COMMUNE
            or len(telephone) > _MAX_TELEPHONE
            or len(email) > _MAX_EMAIL
            or len(employeur_nom) > _MAX_EMPLOYEUR
        ):
            for name, value in (
                ("nom", nom),
                ("prenom", prenom),
                ("adresse", adresse),
                ("commune", commune),
                ("telephone", telephone),
                ("email", email),
                ("employeur_nom", employeur_nom),
            ):
                if len(value) > _MAX_LENGTHS[name]:
                    errors.append(f"{name} : trop long ({_MAX_LENGTHS[name]} caractères au plus).")

        naissance = self.date(naissance_in, "date_naissance", errors)
        debut = self.date(debut_in, "date_debut_arret", errors)
        fin_prevue = self.date(fin_prevue_in, "date_fin_prevue", errors)
        fin_reelle = self.date(fin_reelle_in, "date_fin_reelle", errors)

        sexe = ""
        if sexe_in:
            sexe = _SEXES.get(sexe_in.upper(), "")
            if not sexe:
                errors.append(f"sexe : valeur inconnue « {sexe_in} » (attendu 1, 2, M ou F).")

        nir = ""
        if nir_in:
            try:
                nir = nir_normalize(nir_in)
            except IdentifierError as exc:
                errors.append(exc.message)
            else:
                if not _nir_looks_coherent(nir, sexe, naissance):
                    # The library words the problems (and is the reference for the rules).
                    errors.extend(nir_check_coherence(nir, sex=sexe or None, birth_date=naissance))
                if not sexe:
                    sexe = "1" if nir[0] in "17" else "2"

        type_arret = type_in.upper()
        if type_in and type_arret not in _TYPES:
            errors.append(f"type_arret : type inconnu « {type_in} » (attendu MAL, AT ou MP).")

        siret = ""
        if siret_in:
            siret, problem = _check_siret(siret_in)
            if problem:
                errors.append(f"employeur_siret : {problem}")

        if code_postal:
            if len(code_postal) == 4 and code_postal.isdigit():
                code_postal = "0" + code_postal  # spreadsheets drop the leading zero
            elif len(code_postal) != 5 or not code_postal.isdigit():
                errors.append(f"code_postal : code postal invalide « {code_postal} ».")

        if email:
            try:
                _validate_email(email)
            except ValidationError:
                errors.append(f"email : adresse e-mail invalide « {email} ».")

        montant = None
        if montant_in:
            try:
                montant = _parse_amount(montant_in)
            except InvalidOperation:
                errors.append(f"montant_ij : montant invalide « {montant_in} ».")

        cpam_id = None
        if caisse_in:
            office = self.offices.get(caisse_in)
            if office is None:
                errors.append(f"Code caisse inconnu : « {caisse_in} ».")
            elif self.expected is not None and caisse_in != self.expected:
                errors.append(
                    f"Code caisse « {caisse_in} » différent de la caisse attendue "
                    f"« {self.expected} »."
                )
            elif self.allowed_region_id is not None and office[1] != self.allowed_region_id:
                errors.append(f"La caisse « {caisse_in} » n'appartient pas à votre région.")
            else:
                cpam_id = office[0]

        if debut is not None:
            if debut > self.today:
                errors.append(f"La date de début de l'arrêt ({_fmt(debut)}) est dans le futur.")
            if fin_prevue is not None and fin_prevue < debut:
                errors.append(
                    f"La date de fin prévue ({_fmt(fin_prevue)}) précède la date de début "
                    f"({_fmt(debut)})."
                )
            if fin_reelle is not None and fin_reelle < debut:
                errors.append(
                    f"La date de fin réelle ({_fmt(fin_reelle)}) précède la date de début "
                    f"({_fmt(debut)})."
                )
        if naissance is not None and naissance > self.today:
            errors.append(f"La date de naissance ({_fmt(naissance)}) est dans le futur.")

        if errors:
            return errors
        return ExtractRow(
            line,
            nir,
            nom,
            prenom,
            naissance,
            sexe,
            adresse,
            code_postal,
            commune,
            telephone,
            email,
            siret,
            employeur_nom,
            type_arret,
            debut,
            fin_prevue,
            fin_reelle,
            montant,
            cpam_id,
        )

    @staticmethod
    def date(value, name, errors):
        if not value:
            return None
        try:
            return _parse_date(value)
        except ValueError:
            errors.append(f"{name} : date invalide « {value} » (format attendu JJ/MM/AAAA).")
            return None

    # Writing ------------------------------------------------------------------------------

    def flush(self, batch):
        rows = self.drop_duplicates(batch)
        if rows:
            assures = _merge_assures(rows)
            if self.use_pg:
                self.write_pg(rows, assures)
            else:
                self.write_portable(rows, assures)
        self.write_rejections()

    def drop_duplicates(self, batch):
        """Keep the first valid row of each (NIR, start) of the file; reject the others."""
        unique = {}
        for row, text in batch:
            key = (row.nir, row.date_debut)
            first = unique.get(key)
            if first is not None:
                self.reject_duplicate(row, first[0].line, text)
            else:
                unique[key] = (row, text)
        earlier = self.seen.add(unique)
        for key, first_line in earlier.items():
            row, text = unique.pop(key)
            self.reject_duplicate(row, first_line, text)
        return [row for row, _text in unique.values()]

    def reject_duplicate(self, row, first_line, text):
        self.duplicate_offices[row.cpam_id] += 1  # counted as valid, but not imported
        self.reject(
            row.line,
            f"Doublon dans le fichier : même NIR et même date de début qu'à la ligne {first_line}.",
            text,
        )

    # PostgreSQL: raw statements over arrays, three to four per batch.

    def write_pg(self, rows, assures):
        table = Assure._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT nir, id, {', '.join(_UPDATED)} FROM {table} WHERE nir = ANY(%s::text[])",
                [_pg_text_array(list(assures))],
            )
            existing = {values[0]: values[1:] for values in cursor.fetchall()}
            ids = {nir: values[0] for nir, values in existing.items()}
            new = [row for nir, row in assures.items() if nir not in existing]
            if new:
                cursor.execute(_assure_insert_sql(), _assure_insert_params(new, self.now))
                ids.update((nir, pk) for pk, nir in cursor.fetchall())
                if len(ids) < len(assures):  # created meanwhile by someone else
                    cursor.execute(
                        f"SELECT nir, id FROM {table} WHERE nir = ANY(%s::text[])",
                        [_pg_text_array([nir for nir in assures if nir not in ids])],
                    )
                    ids.update(cursor.fetchall())
            changed = _assure_updates(assures, existing)
            if changed:
                columns = list(zip(*changed, strict=True))
                cursor.execute(
                    _assure_update_sql(),
                    [
                        self.now,
                        _pg_array(columns[0]),
                        *(
                            _pg_array(values)
                            if pg_type in ("date", "bigint")
                            else _pg_text_array(values)
                            for values, (_name, pg_type) in zip(
                                columns[1:], _ASSURE_UPDATED, strict=True
                            )
                        ),
                    ],
                )
            cursor.execute(
                _ARRET_UPSERT_SQL.format(table=ArretTravail._meta.db_table),
                [
                    self.cpam_import.pk,
                    self.now,
                    self.now,
                    _pg_array([ids[r.nir] for r in rows]),
                    _pg_text_array([r.type_arret for r in rows]),
                    _pg_array([r.date_debut for r in rows]),
                    _pg_array([r.date_fin_prevue for r in rows]),
                    _pg_array([r.date_fin_reelle for r in rows]),
                    _pg_array([r.montant_ij for r in rows]),
                    _pg_array([r.cpam_id for r in rows]),
                ],
            )
            created, written = cursor.fetchone()
        self.created += created
        self.updated += written - created
        self.unchanged += len(rows) - written

    # Elsewhere (SQLite) and for every dry run: read the batch's records, compare in Python.

    def write_portable(self, rows, assures):
        existing = {
            values[0]: values[1:]
            for values in Assure.objects.filter(nir__in=list(assures)).values_list(
                "nir", "id", *_UPDATED
            )
        }
        ids = {nir: values[0] for nir, values in existing.items()}
        if not self.dry_run:
            new = [
                Assure(
                    nir=row.nir,
                    nom_naissance=row.nom,
                    prenoms=row.prenom,
                    search_name=_search_name(row.nom, row.prenom),
                    **dict(zip(_UPDATED, _updated_values(row), strict=True)),
                )
                for nir, row in assures.items()
                if nir not in existing
            ]
            Assure.objects.bulk_create(new, batch_size=500)
            ids.update((a.nir, a.pk) for a in new)
            Assure.objects.bulk_update(
                [
                    Assure(
                        id=values[0],
                        updated_at=self.now,
                        **dict(zip(_UPDATED, values[1:], strict=True)),
                    )
                    for values in _assure_updates(assures, existing)
                ],
                [*_UPDATED, "updated_at"],
                batch_size=500,
            )

        current = {}
        for values in ArretTravail.objects.filter(assure__nir__in=list(existing)).values(
            "id", "assure__nir", "date_debut", *ARRET_FIELDS
        ):
            current[(values["assure__nir"], values["date_debut"])] = values
        to_create, to_update = [], []
        for row in rows:
            wanted = {
                "type_arret": row.type_arret,
                "date_fin_prevue": row.date_fin_prevue,
                "date_fin_reelle": row.date_fin_reelle,
                "montant_ij": row.montant_ij,
                "cpam_id": row.cpam_id,
            }
            known = current.get((row.nir, row.date_debut))
            if known is None:
                self.created += 1
                to_create.append((row, wanted))
                continue
            if wanted["date_fin_reelle"] is None:
                wanted["date_fin_reelle"] = known["date_fin_reelle"]
            if wanted["montant_ij"] is None:
                wanted["montant_ij"] = known["montant_ij"]
            if all(known[name] == wanted[name] for name in ARRET_FIELDS):
                self.unchanged += 1
            else:
                self.updated += 1
                to_update.append((known["id"], wanted))
        if self.dry_run:
            return
        import_id = self.cpam_import.pk
        ArretTravail.objects.bulk_create(
            [
                ArretTravail(
                    assure_id=ids[row.nir],
                    date_debut=row.date_debut,
                    last_import_id=import_id,
                    **wanted,
                )
                for row, wanted in to_create
            ],
            batch_size=500,
        )
        ArretTravail.objects.bulk_update(
            [
                ArretTravail(id=pk, last_import_id=import_id, updated_at=self.now, **wanted)
                for pk, wanted in to_update
            ],
            [*ARRET_FIELDS, "last_import_id", "updated_at"],
            batch_size=500,
        )

    def write_rejections(self):
        if not self.rejections:
            return
        self.rejected += len(self.rejections)
        if self.dry_run:
            self.cpam_import.pending_rejections.extend(self.rejections)
        else:
            ImportRejection.objects.bulk_create(
                [
                    ImportRejection(
                        cpam_import_id=self.cpam_import.pk,
                        line_number=r.line,
                        reason=r.reason,
                        raw_line=r.raw,
                    )
                    for r in self.rejections
                ],
                batch_size=1000,
            )
        self.rejections = []

    def finish(self, ignored):
        self.seen.close()
        for cache in (_parse_date, _check_siret, _parse_amount):
            cache.cache_clear()  # bounded, but not kept between imports
        imp = self.cpam_import
        imp.rows_read = self.rows_read
        imp.rows_created = self.created
        imp.rows_updated = self.updated
        imp.rows_unchanged = self.unchanged
        imp.rows_rejected = self.rejected
        if imp.cpam_id is None:
            imp.cpam_id = self.main_office()
        notes = []
        if ignored:
            names = ", ".join(n or "(sans nom)" for n in ignored)
            notes.append(f"Colonnes ignorées : {names}.")
        if self.skipped_blank:
            notes.append(f"{self.skipped_blank} ligne(s) vide(s) ignorée(s).")
        if not self.rows_read:
            notes.append("Aucune ligne de données.")
        imp.message = " ".join(notes)

    def main_office(self):
        """The CPAM of most imported rows (an extract normally comes from one CPAM)."""
        self.office_counts.subtract(self.duplicate_offices)
        counts = [(n, -pk) for pk, n in self.office_counts.items() if n > 0]
        return -max(counts)[1] if counts else None


def _nir_looks_coherent(nir, sexe, birth_date):
    """Fast pre-check of pdp.identifiers.nir_check_coherence on a normalised NIR.

    True when the library would find nothing to say (it is then not called: this is the
    hot path of the import). False sends the row to the library, which words the problems.
    """
    if nir[0] in "78":  # temporary number: not checked
        return True
    if sexe and sexe != ("1" if nir[0] == "1" else "2"):
        return False
    if birth_date is not None:
        if int(nir[1:3]) != birth_date.year % 100:
            return False
        month = int(nir[3:5])
        if 1 <= month <= 12 and month != birth_date.month:
            return False
    return True


def _merge_assures(rows):
    """{nir: row} of a batch; for a NIR seen twice, a later non-empty value wins."""
    assures = {}
    for row in rows:
        first = assures.get(row.nir)
        if first is None:
            assures[row.nir] = row
            continue
        merged = copy.copy(first)
        for name in _UPDATED:
            value = getattr(row, name)
            if value:
                setattr(merged, name, value)
        assures[row.nir] = merged
    return assures


def _latin_fold_table():
    """For the Latin letters (up to U+024F): what build_search_name leaves of each one."""
    table = {}
    for code in range(0x80, 0x250):
        char = chr(code)
        folded = unicodedata.normalize("NFKD", char)
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        if folded != char:
            table[code] = folded
    return table


_LATIN_FOLD = _latin_fold_table()


def _search_name(nom, prenom):
    """referrals.models.build_search_name(nom, "", prenom), without its cost for Latin text."""
    text = f"{nom} {prenom}"
    if text.isascii():
        return text.lower()
    if max(text) < "\u0250":
        return text.translate(_LATIN_FOLD).lower()
    return build_search_name(nom, "", prenom)


def _assure_updates(assures, existing):
    """(id, *new values of _UPDATED) of the known assurés whose record the batch changes.

    ``existing`` maps a NIR to (id, *current values of _UPDATED). Contact fields take the
    extract's non-empty value; birth date and sex are only filled when unknown; names are
    never touched.
    """
    changed = []
    for nir, current in existing.items():
        incoming = _updated_values(assures[nir])
        if incoming == current[1:]:
            continue
        values = list(current[1:])
        for position, value in enumerate(incoming):
            if not value or value == values[position]:
                continue
            if position in _FILL_ONLY_POSITIONS and values[position]:
                continue
            values[position] = value
        if values != list(current[1:]):
            changed.append((current[0], *values))
    return changed


# --- PostgreSQL statements ---------------------------------------------------------------
# Values travel as one array literal per column ('{a,b,…}'::type[], parsed by PostgreSQL's
# fast array input) and are spread back into rows with unnest(). Table and column names come
# from the models' _meta, never from the file.


def _pg_array(values):
    """Array literal of dates, numbers or None (their str() never contains "None")."""
    return "{" + ",".join(map(str, values)).replace("None", "NULL") + "}"


def _pg_text_array(values):
    """Array literal of strings (never None: empty fields are "")."""
    if not values:
        return "{}"
    joined = '","'.join(values)
    if "\\" in joined or joined.count('"') != 2 * (len(values) - 1):
        joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + joined + '"}'


# Assuré columns the extract provides, with their PostgreSQL types.
_ASSURE_COLUMNS = (
    ("nir", "text"),
    ("nom_naissance", "text"),
    ("prenoms", "text"),
    ("date_naissance", "date"),
    ("sexe", "text"),
    ("adresse", "text"),
    ("code_postal", "text"),
    ("commune", "text"),
    ("telephone", "text"),
    ("email", "text"),
    ("employeur_siret", "text"),
    ("employeur_nom", "text"),
    ("cpam_id", "bigint"),
    ("search_name", "text"),
)
_ASSURE_UPDATED = tuple(
    (name, pg_type)
    for name, pg_type in _ASSURE_COLUMNS
    if name in CONTACT_FIELDS or name in FILL_ONLY_FIELDS
)
_UPDATED = tuple(name for name, _type in _ASSURE_UPDATED)
_FILL_ONLY_POSITIONS = frozenset(_UPDATED.index(name) for name in FILL_ONLY_FIELDS)
_updated_values = operator.attrgetter(*_UPDATED)


@functools.cache
def _assure_defaults():
    """The other columns of a new assuré: (column, field), filled with the model defaults."""
    provided = {name for name, _type in _ASSURE_COLUMNS}
    return tuple(
        (field.column, field)
        for field in Assure._meta.concrete_fields
        if not field.primary_key and field.attname not in provided
    )


@functools.cache
def _assure_insert_sql():
    given = [name for name, _type in _ASSURE_COLUMNS]
    defaults = [column for column, _field in _assure_defaults()]
    arrays = ", ".join(f"%s::{pg_type}[]" for _name, pg_type in _ASSURE_COLUMNS)
    return f"""
        INSERT INTO {Assure._meta.db_table} ({", ".join(given + defaults)})
        SELECT v.*, {", ".join(["%s"] * len(defaults))}
        FROM unnest({arrays}) AS v({", ".join(given)})
        ON CONFLICT (nir) DO NOTHING
        RETURNING id, nir
    """


def _assure_insert_params(new, now):
    # In the statement's order: the defaults (in the SELECT list), then the arrays.
    params = [
        now
        if column in ("created_at", "updated_at")
        else field.get_db_prep_save(field.get_default(), connection)
        for column, field in _assure_defaults()
    ]
    for name, pg_type in _ASSURE_COLUMNS:
        if name == "search_name":
            values = [_search_name(r.nom, r.prenom) for r in new]
        else:
            attribute = {"nom_naissance": "nom", "prenoms": "prenom"}.get(name, name)
            values = [getattr(r, attribute) for r in new]
        params.append(_pg_text_array(values) if pg_type == "text" else _pg_array(values))
    return params


@functools.cache
def _assure_update_sql():
    names = [name for name, _type in _ASSURE_UPDATED]
    arrays = ", ".join(f"%s::{pg_type}[]" for _name, pg_type in _ASSURE_UPDATED)
    return f"""
        UPDATE {Assure._meta.db_table} AS a
        SET {", ".join(f"{name} = v.{name}" for name in names)}, updated_at = %s
        FROM unnest(%s::bigint[], {arrays}) AS v(id, {", ".join(names)})
        WHERE a.id = v.id
    """


_ARRET_UPSERT_SQL = """
    WITH written AS (
        INSERT INTO {table} AS t (
            assure_id, type_arret, date_debut, date_fin_prevue, date_fin_reelle,
            montant_ij, cpam_id, last_import_id, created_at, updated_at
        )
        SELECT v.*, %s, %s, %s
        FROM unnest(%s::bigint[], %s::text[], %s::date[], %s::date[], %s::date[],
                    %s::numeric[], %s::bigint[])
             AS v(assure_id, type_arret, date_debut, date_fin_prevue, date_fin_reelle,
                  montant_ij, cpam_id)
        ON CONFLICT (assure_id, date_debut) DO UPDATE SET
            type_arret = EXCLUDED.type_arret,
            date_fin_prevue = EXCLUDED.date_fin_prevue,
            date_fin_reelle = COALESCE(EXCLUDED.date_fin_reelle, t.date_fin_reelle),
            montant_ij = COALESCE(EXCLUDED.montant_ij, t.montant_ij),
            cpam_id = EXCLUDED.cpam_id,
            last_import_id = EXCLUDED.last_import_id,
            updated_at = EXCLUDED.updated_at
        WHERE (t.type_arret, t.date_fin_prevue, t.date_fin_reelle, t.montant_ij, t.cpam_id)
            IS DISTINCT FROM (
                EXCLUDED.type_arret, EXCLUDED.date_fin_prevue,
                COALESCE(EXCLUDED.date_fin_reelle, t.date_fin_reelle),
                COALESCE(EXCLUDED.montant_ij, t.montant_ij), EXCLUDED.cpam_id
            )
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted), count(*) FROM written
"""


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class _Pipeline:
    """Iterate over ``iterable`` in a worker thread, at most one item ahead of the caller.

    ``with _Pipeline(gen) as items: for item in items: ...``. An exception in the worker is
    raised in the caller; leaving the block early stops the worker.
    """

    _END = object()

    def __init__(self, iterable):
        self.iterable = iterable
        self.queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cpam-import-reader", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()
        return False

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is self._END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def _run(self):
        try:
            for item in self.iterable:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller's thread
            self._put(_Failure(exc))
        else:
            self._put(self._END)

    def _put(self, item):
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False


class _SeenKeys:
    """(NIR, start) keys already imported from this file, with their first line.

    On PostgreSQL they live in a temporary table (memory stays flat with the file size);
    elsewhere (SQLite, dry runs) in a dict.
    """

    _TABLE = "pdp_cpam_import_seen"

    def __init__(self, *, pg):
        self.pg = pg
        self.keys = {}
        self.created = False

    def add(self, unique):
        """Record the batch's {key: (row, text)}; return {key: first_line} of keys seen before."""
        if not unique:
            return {}
        if not self.pg:
            earlier = {}
            for key, (row, _text) in unique.items():
                first = self.keys.setdefault(key, row.line)
                if first != row.line:
                    earlier[key] = first
            return earlier
        with connection.cursor() as cursor:
            if not self.created:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {self._TABLE} (nir text, date_debut date, "
                    "line integer, PRIMARY KEY (nir, date_debut)) ON COMMIT DROP"
                )
                self.created = True
            params = [
                _pg_text_array([nir for nir, _day in unique]),
                _pg_array([day for _nir, day in unique]),
                _pg_array([row.line for row, _text in unique.values()]),
            ]
            cursor.execute(
                f"""
                WITH recorded AS (
                    INSERT INTO {self._TABLE}
                    SELECT * FROM unnest(%s::text[], %s::date[], %s::integer[])
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM recorded
                """,
                params,
            )
            if cursor.fetchone()[0] == len(unique):
                return {}  # the usual case: no key of this batch was met before
            cursor.execute(
                f"""
                SELECT s.nir, s.date_debut, s.line
                FROM unnest(%s::text[], %s::date[], %s::integer[]) AS v(nir, date_debut, line)
                JOIN {self._TABLE} AS s USING (nir, date_debut)
                WHERE s.line <> v.line
                """,
                params,
            )
            return {(nir, day): line for nir, day, line in cursor.fetchall()}

    def close(self):
        if self.pg and self.created:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self._TABLE}")
            self.created = False
