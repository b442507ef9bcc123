"""Import of the CPAM monthly extract (domain §7): stream the file, validate, upsert in sets.

Entry point: :func:`import_extract`. The file is read by 64 KB chunks and line by line, each
line decoded as UTF-8 or, failing that, Windows-1252 (memory stays flat with the file size).
Rows are validated in Python in a worker thread, one batch of ``BATCH_SIZE`` rows ahead of the
writer, so validation overlaps with the database work; for PostgreSQL the worker also drops
the batch's internal duplicates and prepares the rows in COPY's text format. Each batch of
valid rows is written with a few set-based statements; on PostgreSQL (see ``_PgWriter``):

* one query reads the batch's known assurés by NIR (skipped while every person met so far
  was new, e.g. on a first import: the new assurés are then written at once, and a known one
  makes that COPY fail on the unique NIR, in a savepoint, and the batch go the usual way);
* a temporary table of the (NIR, start) keys imported so far catches duplicates across
  batches (only people known before the batch can have one);
* ``COPY`` writes the new assurés (ids taken from the sequence beforehand) and their arrêts,
  which cannot exist yet; one ``UPDATE … FROM unnest`` refreshes the contact details that
  changed;
* the arrêts of known assurés go through one ``INSERT … ON CONFLICT (assure_id, date_debut)
  DO UPDATE … WHERE <fields differ> RETURNING (xmax = 0)``, which counts created and updated
  rows (the rows it does not write are unchanged);
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
import io
import operator
import queue
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.validators import EmailValidator
from django.db import IntegrityError, connection, transaction
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
SEEN_SEND_ROWS = 50_000  # PostgreSQL: the (NIR, start) keys kept in memory before being sent
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
    # For PostgreSQL, made in the worker thread: the (NIR, start) key as one bigint and the
    # row in COPY's text format, less the ids (the assuré's is empty once rows are merged).
    seen_key: int = 0
    assure_text: str = ""
    arret_text: str = ""


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


# Each digit doubled, then its two digits added (Luhn): 5 → 10 → 1.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _luhn_ok(digits):
    """Luhn check of a string of ASCII digits (the sum of the digits' codes, less 48 each)."""
    summed = digits[-1::-2] + digits[-2::-2].translate(_LUHN_DOUBLED)
    return (sum(summed.encode()) - 48 * len(summed)) % 10 == 0


def _normalize_nir(value):
    """pdp.identifiers.nir_normalize, without its cost for the usual 15 plain digits.

    The fast path accepts exactly what the library accepts among 15 ASCII digits (sex digit
    1, 2, 7 or 8; month 01-12, 20-42 or 50-99; département 01-99; key); anything else goes
    to the library, which normalises it or words the problem (IdentifierError).
    """
    if len(value) == 15 and value.isascii() and value.isdigit() and value[0] in "1278":
        month = int(value[3:5])
        if (
            (1 <= month <= 12 or 20 <= month <= 42 or month >= 50)
            and value[5:7] != "00"
            and 97 - int(value[:13]) % 97 == int(value[13:])
        ):
            return value
    return nir_normalize(value)


# The amounts of an extract repeat (a few thousand distinct values): a cache larger than that.
@functools.lru_cache(maxsize=16384)
def _parse_amount(value):
    text = value.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").rstrip("€")
    text = text.replace(",", ".")
    amount = Decimal(text)  # InvalidOperation for garbage
    if not amount.is_finite() or amount < 0 or amount > _IJ_MAX:
        raise InvalidOperation(value)
    return amount.quantize(_CENT)


_validate_email = EmailValidator()
# EmailValidator.__call__, split so that the costly domain check is cached (domains repeat).
_EMAIL_USER_RE = re.compile(_validate_email.user_regex.pattern, _validate_email.user_regex.flags)


@functools.lru_cache(maxsize=4096)
def _email_domain_ok(domain):
    return domain in _validate_email.domain_allowlist or bool(
        _validate_email.validate_domain_part(domain)
    )


def _email_ok(value):
    """What EmailValidator() accepts (the test suite compares them)."""
    if not value or "@" not in value or len(value) > 320:
        return False
    user_part, domain_part = value.rsplit("@", 1)
    return _EMAIL_USER_RE.match(user_part) is not None and _email_domain_ok(domain_part)


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
        self.batch_duplicate_offices = Counter()  # the same, by the worker (PostgreSQL)
        self.seen_lines = {}  # (NIR, start) → first line, elsewhere than on PostgreSQL
        self.pg = None  # the _PgWriter, while PostgreSQL rows are written

    # Reading and validating -------------------------------------------------------------

    def process(self, lines):
        """Validate in a worker thread, one batch ahead, while this thread writes.

        Validation is pure Python (no database access); psycopg2 releases the GIL while a
        statement runs, so validating batch n + 1 overlaps with writing batch n.
        """
        if self.use_pg:
            self.pg = _PgWriter(self)
        with _Pipeline(self.validated_batches(lines)) as batches:
            for batch, rejections in batches:
                self.rejections.extend(rejections)
                self.flush(batch)
        if self.pg is not None:
            self.pg.close()
            self.pg = None

    def validated_batches(self, lines):
        """Yield (batch, [Rejection]) by batches of ``BATCH_SIZE`` valid rows. Runs in the
        worker: it only touches rows_read, skipped_blank, office_counts and
        batch_duplicate_offices (read once it is done).

        The batch is [(row, text)], or for PostgreSQL a _PgBatch: there the worker also
        rejects the duplicates within the batch and prepares the COPY text, so that the
        writing thread has little more to do than to send it."""
        batch, rejections = [], []
        unique = {}  # PostgreSQL: (NIR, start) → (row, text) of the batch's first rows
        column_count = self.column_count
        use_pg = self.use_pg
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
            batch.append(None if use_pg else (row, text))  # counts the batch's valid rows
            if use_pg:
                key = (row.nir, row.date_debut)
                first = unique.get(key)
                if first is None:
                    unique[key] = (row, text)
                else:
                    self.batch_duplicate_offices[row.cpam_id] += 1
                    rejections.append(_duplicate(row, first[0].line, text))
            if len(batch) >= BATCH_SIZE:
                yield (self.pg_batch(unique) if use_pg else batch), rejections
                batch, rejections, unique = [], [], {}
        yield (self.pg_batch(unique) if use_pg else batch), rejections

    def pg_batch(self, unique):
        return _PgBatch(unique, new_rows=self.pg.all_new)  # a hint: read in the worker

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
                nir = _normalize_nir(nir_in)
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

        if email and not _email_ok(email):
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
        if self.pg is not None:
            self.pg.write(batch)
        else:
            rows = self.drop_seen(self.unique_in_batch(batch))
            if rows:
                self.write_portable(rows, _merge_assures(rows))
        self.write_rejections()

    def unique_in_batch(self, batch):
        """{(NIR, start): (row, text)} of the batch's first rows; the others are rejected."""
        unique = {}
        for row, text in batch:
            key = (row.nir, row.date_debut)
            first = unique.get(key)
            if first is not None:
                self.reject_duplicate(row, first[0].line, text)
            else:
                unique[key] = (row, text)
        return unique

    def drop_seen(self, unique):
        """The rows whose (NIR, start) no earlier batch had; the others are rejected."""
        rows = []
        for key, (row, text) in unique.items():
            first = self.seen_lines.setdefault(key, row.line)
            if first != row.line:
                self.reject_duplicate(row, first, text)
            else:
                rows.append(row)
        return rows

    def reject_duplicate(self, row, first_line, text):
        self.duplicate_offices[row.cpam_id] += 1  # counted as valid, but not imported
        self.rejections.append(_duplicate(row, first_line, text))

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
        for cache in (_parse_date, _check_siret, _parse_amount, _email_domain_ok, _fold):
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
        self.office_counts.subtract(self.batch_duplicate_offices)
        counts = [(n, -pk) for pk, n in self.office_counts.items() if n > 0]
        return -max(counts)[1] if counts else None


def _duplicate(row, first_line, text):
    return Rejection(
        row.line,
        f"Doublon dans le fichier : même NIR et même date de début qu'à la ligne {first_line}.",
        text[:RAW_LINE_MAX_CHARS],
    )


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
        merged.assure_text = ""  # to be made again from the merged values
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
    """referrals.models.build_search_name(nom, "", prenom), without its cost for Latin text.

    Folded part by part (the same: decomposing, dropping accents and lower-casing do not
    reach across the space between the parts); prénoms repeat, so accented parts are cached.
    """
    nom = nom.lower() if nom.isascii() else _fold(nom)
    prenom = prenom.lower() if prenom.isascii() else _fold(prenom)
    return f"{nom} {prenom}"


@functools.lru_cache(maxsize=4096)
def _fold(text):
    if max(text) < "\u0250":
        return text.translate(_LATIN_FOLD).lower()
    return build_search_name(text)


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


# --- PostgreSQL ----------------------------------------------------------------------------
# New rows travel with COPY (text format); updates as one array literal per column
# ('{a,b,…}'::type[], parsed by PostgreSQL's fast array input) spread back into rows with
# unnest(). Table and column names come from the models' _meta, never from the file.


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


_COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value):
    """A value in COPY's text format: \\N for NULL, t/f, escaped text."""
    if value is None:
        return _COPY_NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


# Assuré columns the extract provides, with their PostgreSQL types (for the UPDATE).
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


def _assure_copy_line(row):
    """A new assuré's provided columns (_ASSURE_COLUMNS order) in COPY's text format."""
    text = "\t".join(
        (
            row.nir,
            row.nom,
            row.prenom,
            _COPY_NULL if row.date_naissance is None else row.date_naissance.isoformat(),
            row.sexe,
            row.adresse,
            row.code_postal,
            row.commune,
            row.telephone,
            row.email,
            row.employeur_siret,
            row.employeur_nom,
            str(row.cpam_id),
            _search_name(row.nom, row.prenom),
        )
    )
    if "\\" in text or text.count("\t") != 13 or "\r" in text or "\n" in text:
        values = (
            row.nir,
            row.nom,
            row.prenom,
            row.date_naissance,
            row.sexe,
            row.adresse,
            row.code_postal,
            row.commune,
            row.telephone,
            row.email,
            row.employeur_siret,
            row.employeur_nom,
            row.cpam_id,
            _search_name(row.nom, row.prenom),
        )
        text = "\t".join(map(_copy_value, values))
    return text


def _arret_copy_line(row):
    """type_arret … cpam_id of a new arrêt in COPY's text format (no field needs escaping:
    type_arret is MAL, AT or MP, the others are dates and numbers)."""
    end = row.date_fin_reelle
    amount = row.montant_ij
    return (
        f"{row.type_arret}\t{row.date_debut.isoformat()}\t"
        f"{row.date_fin_prevue.isoformat()}\t{_COPY_NULL if end is None else end.isoformat()}\t"
        f"{_COPY_NULL if amount is None else amount}\t{row.cpam_id}"
    )


_DAY_ZERO = datetime.date(1900, 1, 1).toordinal()  # _parse_date keeps 1900 to 2100


def _seen_key(nir, day):
    """(NIR, start) as one bigint: the 13 digits of the NIR (its key follows from them), 2A/2B
    told apart from 20, then the day (17 bits); < 2^62."""
    body = nir[:13]
    corsica = 0
    if not body.isdigit():  # 2A or 2B at the birth département
        corsica = 1 if body[5:7] == "2A" else 2
        body = body[:5] + "20" + body[7:]
    return ((int(body) * 3 + corsica) << 17) | (day.toordinal() - _DAY_ZERO)


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

_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


class _PgBatch:
    """A batch's rows for PostgreSQL: the first row of each (NIR, start), their assurés
    (merged by NIR), their keys as COPY text and, with ``new_rows`` (while the people met so
    far were all new), the rows' COPY text (else made when needed, for the few new ones)."""

    __slots__ = ("unique", "rows", "assures", "seen_text")

    def __init__(self, unique, *, new_rows=False):
        self.unique = unique
        self.rows = [row for row, _text in unique.values()]
        self.assures = _merge_assures(self.rows)
        if new_rows:
            for row in self.assures.values():
                if not row.assure_text:
                    row.assure_text = _assure_copy_line(row)
        parts = []
        for row in self.rows:
            row.seen_key = key = _seen_key(row.nir, row.date_debut)
            if new_rows:
                row.arret_text = _arret_copy_line(row)
            parts.append(f"{key}\t{row.line}\n")
        self.seen_text = "".join(parts)


class _PgWriter:
    """The PostgreSQL writes of one import, inside its transaction. Per batch:

    1. one query reads the batch's known assurés by NIR (not while all were new so far);
    2. the (NIR, start) keys of the rows of known assurés are looked up in a temporary table
       of the keys imported so far (a person unknown before this batch cannot have an arrêt
       imported by an earlier one), then the batch's keys are added to it with COPY;
    3. the new assurés go in with COPY (ids taken from the sequence beforehand), the known
       ones whose contact details change with one ``UPDATE … FROM unnest``;
    4. the arrêts of the new assurés go in with COPY (they cannot exist yet), those of known
       assurés with one ``INSERT … ON CONFLICT … DO UPDATE … WHERE <fields differ>``.
    """

    SEEN_TABLE = "pdp_cpam_import_seen"

    def __init__(self, run):
        self.run = run
        now = run.now.isoformat()
        defaults = [
            now
            if column in ("created_at", "updated_at")
            else _copy_value(field.get_db_prep_save(field.get_default(), connection))
            for column, field in _assure_defaults()
        ]
        self.assure_suffix = "\t" + "\t".join(defaults) + "\n"
        self.arret_suffix = f"\t{run.cpam_import.pk}\t{now}\t{now}\n"
        assure_columns = [name for name, _type in _ASSURE_COLUMNS]
        assure_columns += [column for column, _field in _assure_defaults()]
        self.assure_copy = (
            f"COPY {Assure._meta.db_table} (id, {', '.join(assure_columns)}) FROM STDIN"
        )
        self.arret_copy = (
            f"COPY {ArretTravail._meta.db_table} (assure_id, type_arret, date_debut, "
            "date_fin_prevue, date_fin_reelle, montant_ij, cpam_id, last_import_id, "
            "created_at, updated_at) FROM STDIN"
        )
        self.existing_sql = (
            f"SELECT nir, id, {', '.join(_UPDATED)} FROM {Assure._meta.db_table} "
            "WHERE nir = ANY(%s::text[])"
        )
        with connection.cursor() as cursor:
            # The import can be run again (it is idempotent): not waiting for the WAL flush
            # at commit is acceptable (at worst a crash right after it loses the import).
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.SEEN_TABLE} (key bigint NOT NULL, "
                "line integer NOT NULL) ON COMMIT DROP"
            )
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Assure._meta.db_table])
            self.sequence = cursor.fetchone()[0]
        # Keys not sent yet, and whether the table is indexed: it is sent by large pieces,
        # and indexed only once a batch has to look into it (never when all the people of
        # the file are new, e.g. on a first import).
        self.unsent_seen = []
        self.unsent_rows = 0
        self.seen_indexed = False
        self.all_new = True  # no batch has met a known assuré yet

    def close(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.SEEN_TABLE}")

    def write(self, batch):
        """Write a _PgBatch (the first rows of their (NIR, start) in the batch)."""
        if not batch.unique:
            return
        run = self.run
        with connection.cursor() as cursor:
            created = None
            if self.all_new:
                # Every person met so far was new (e.g. a first import): write the batch's
                # assurés as new ones without reading first; if one is known, the COPY fails
                # on the unique NIR (in a savepoint) and the batch goes the usual way.
                existing = {}
                created = self.copy_new_assures(cursor, list(batch.assures.values()))
                self.all_new = created is not None
            if created is None:
                existing = self.existing(cursor, batch.assures)
                if existing:
                    # Only a person known before this batch can have an arrêt imported by an
                    # earlier batch of this file.
                    known = {key: item for key, item in batch.unique.items() if key[0] in existing}
                    earlier = self.seen_before(cursor, known)
                    if earlier:
                        for key, first_line in earlier.items():
                            row, text = batch.unique.pop(key)
                            run.reject_duplicate(row, first_line, text)
                        batch = _PgBatch(batch.unique)
                        existing = {nir: v for nir, v in existing.items() if nir in batch.assures}
                new = [row for nir, row in batch.assures.items() if nir not in existing]
                created = self.create_assures(cursor, new, existing) if new else {}
            self.unsent_seen.append(batch.seen_text)
            self.unsent_rows += len(batch.rows)
            if self.unsent_rows >= SEEN_SEND_ROWS:
                self.send_seen(cursor)
            assures = batch.assures
            changed = _assure_updates(assures, existing)
            if changed:
                self.update_assures(cursor, changed)
            rows = batch.rows
            if len(created) == len(assures):  # the usual first import: all of them are new
                fresh, known_rows = rows, []
            else:
                fresh = [row for row in rows if row.nir in created]
                known_rows = [row for row in rows if row.nir not in created]
            if fresh:
                suffix = self.arret_suffix
                self.copy(
                    cursor,
                    self.arret_copy,
                    "".join(
                        [
                            f"{created[row.nir]}\t{row.arret_text or _arret_copy_line(row)}{suffix}"
                            for row in fresh
                        ]
                    ),
                )
                run.created += len(fresh)
            if known_rows:
                self.upsert_arrets(cursor, known_rows, existing)

    def existing(self, cursor, nirs):
        """{nir: (id, *current values of _UPDATED)} of the assurés already known."""
        cursor.execute(self.existing_sql, [_pg_text_array(list(nirs))])
        return {values[0]: values[1:] for values in cursor.fetchall()}

    def send_seen(self, cursor):
        if self.unsent_seen:
            sql = f"COPY {self.SEEN_TABLE} (key, line) FROM STDIN"
            self.copy(cursor, sql, "".join(self.unsent_seen))
            self.unsent_seen = []
            self.unsent_rows = 0

    def seen_before(self, cursor, keys):
        """{key: first line} of the {key: (row, text)} that an earlier batch imported."""
        if not keys:
            return {}
        self.send_seen(cursor)
        if not self.seen_indexed:
            cursor.execute(f"CREATE UNIQUE INDEX ON {self.SEEN_TABLE} (key)")
            self.seen_indexed = True
        packed = {row.seen_key: key for key, (row, _text) in keys.items()}
        cursor.execute(
            f"SELECT key, line FROM {self.SEEN_TABLE} WHERE key = ANY(%s::bigint[])",
            [_pg_array(list(packed))],
        )
        return {packed[key]: line for key, line in cursor.fetchall()}

    def copy_new_assures(self, cursor, rows, *, conflict_ok=True):
        """COPY these assurés as new ones, in a savepoint: {nir: id}, or None when one of them
        exists (the COPY failed on a unique value, the NIR, and wrote nothing)."""
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [self.sequence, len(rows)]
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        suffix = self.assure_suffix
        data = "".join(
            [
                f"{pk}\t{row.assure_text or _assure_copy_line(row)}{suffix}"
                for pk, row in zip(ids, rows, strict=True)
            ]
        )
        try:
            with transaction.atomic():
                self.copy(cursor, self.assure_copy, data)
        except IntegrityError as exc:
            if not conflict_ok or getattr(exc.__cause__, "pgcode", None) != _UNIQUE_VIOLATION:
                raise
            return None
        return {row.nir: pk for pk, row in zip(ids, rows, strict=True)}

    def create_assures(self, cursor, new, existing):
        """COPY the assurés found unknown; {nir: id}. Someone may create one of them
        meanwhile (a referral entered by hand): that person then joins ``existing`` and the
        others are written again."""
        while new:
            created = self.copy_new_assures(cursor, new)
            if created is not None:
                return created
            found = self.existing(cursor, [row.nir for row in new])
            if not found:  # not a NIR after all: let the error show
                return self.copy_new_assures(cursor, new, conflict_ok=False)
            existing.update(found)
            new = [row for row in new if row.nir not in found]
        return {}

    def update_assures(self, cursor, changed):
        columns = list(zip(*changed, strict=True))
        cursor.execute(
            _assure_update_sql(),
            [
                self.run.now,
                _pg_array(columns[0]),
                *(
                    _pg_array(values) if pg_type in ("date", "bigint") else _pg_text_array(values)
                    for values, (_name, pg_type) in zip(columns[1:], _ASSURE_UPDATED, strict=True)
                ),
            ],
        )

    def upsert_arrets(self, cursor, rows, existing):
        run = self.run
        cursor.execute(
            _ARRET_UPSERT_SQL.format(table=ArretTravail._meta.db_table),
            [
                run.cpam_import.pk,
                run.now,
                run.now,
                _pg_array([existing[r.nir][0] for r in rows]),
                _pg_text_array([r.type_arret for r in rows]),
                _pg_array([r.date_debut for r in rows]),
                _pg_array([r.date_fin_prevue for r in rows]),
                _pg_array([r.date_fin_reelle for r in rows]),
                _pg_array([r.montant_ij for r in rows]),
                _pg_array([r.cpam_id for r in rows]),
            ],
        )
        created, written = cursor.fetchone()
        run.created += created
        run.updated += written - created
        run.unchanged += len(rows) - written

    @staticmethod
    def copy(cursor, sql, data):
        """COPY … FROM STDIN of ``data`` (text), sent in one piece."""
        payload = data.encode()
        with connection.wrap_database_errors:
            cursor.copy_expert(sql, io.BytesIO(payload), size=len(payload) + 1)


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
