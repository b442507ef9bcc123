"""Step 4 of the import: writing a batch of valid rows.

Two writers with the same interface and the same rules: ``prepare(unique)`` runs in the
reader thread on a batch's first rows of each (NIR, start) (``{(nir, start): (row, text)}``),
``write(prepared)`` in the caller's thread, inside the import's transaction.

* :class:`PgWriter`, on PostgreSQL: ``COPY`` for new rows, a few set-based statements for
  known ones (see its docstring);
* :class:`PortableWriter`, elsewhere (SQLite) and for every dry run: reads the batch's
  records, compares in Python, writes with ``bulk_create`` / ``bulk_update`` (a dry run
  writes nothing, it only counts).

Rules of both (one implementation each where Python decides: :func:`merge_assures`,
:func:`assure_updates`):

* Re-import never writes blanks over known values: an empty field keeps what the database
  has. Identity (nom, prénoms) is never overwritten; birth date and sex are only filled when
  unknown. Contact details, employer and CPAM take the newest non-empty value. For arrêts,
  type, expected end and CPAM take the extract's value, actual end and IJ the extract's
  value when it is not empty.
* ``last_import`` and ``extract_date`` of an arrêt are those of the import that created or
  last changed it: an unchanged row is not written at all (importing the same file twice
  changes nothing).
* A line whose episode was last changed by a newer extract (its ``extract_date`` is after
  this import's) changes nothing, neither the arrêt nor the assuré, and is counted as
  « ignorée : extrait plus ancien ». On PostgreSQL this is a condition of the upsert's
  ``WHERE``; the same statement lists those lines.
* A second row with the (NIR, start) of an earlier batch's row is rejected as a duplicate.
"""

from __future__ import annotations

import copy
import datetime
import functools
import io
import operator

from django.db import IntegrityError, connection, transaction

from pdp.models import CpamOffice
from referrals.models import ArretTravail, Assure, ImportRejection, build_search_name

SEEN_SEND_ROWS = 50_000  # PostgreSQL: the (NIR, start) keys kept in memory before being sent
GIN_PENDING_KB = 65536  # PostgreSQL: the names' index pending list during an import (64 MB)
NAME_INDEX = "referrals_assure_search_name_trgm"  # referrals migration 0019

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


# --- Rules shared by both writers ----------------------------------------------------------


def merge_assures(rows):
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


def assure_updates(assures, existing):
    """(id, *new values of _UPDATED) of the known assurés whose record the batch changes.

    ``existing`` maps a NIR to (id, *current values of _UPDATED); a NIR missing from
    ``assures`` (all its lines were ignored) is left as it is. Contact fields take the
    extract's non-empty value; birth date and sex are only filled when unknown; names are
    never touched.
    """
    changed = []
    for nir, current in existing.items():
        row = assures.get(nir)
        if row is None:
            continue
        incoming = _updated_values(row)
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


def newer_than(stored, extract_date):
    """True when an episode last changed by the extract of ``stored`` must not be changed by
    an extract of ``extract_date`` (None: never changed by an extract)."""
    return stored is not None and stored > extract_date


def write_rejections(run):
    """Record (or, for a dry run, keep on the import) the rejections gathered so far."""
    if not run.rejections:
        return
    run.rejected += len(run.rejections)
    if run.dry_run:
        run.cpam_import.pending_rejections.extend(run.rejections)
    else:
        ImportRejection.objects.bulk_create(
            [
                ImportRejection(
                    cpam_import_id=run.cpam_import.pk,
                    line_number=r.line,
                    reason=r.reason,
                    raw_line=r.raw,
                )
                for r in run.rejections
            ],
            batch_size=1000,
        )
    run.rejections = []


# --- Portable writer -----------------------------------------------------------------------


class PortableWriter:
    """Read the batch's assurés and arrêts, compare in Python, write with the ORM."""

    def __init__(self, run):
        self.run = run
        self.seen_lines = {}  # (NIR, start) → first line, across batches

    def prepare(self, unique):
        return unique

    def close(self):
        pass

    def write(self, unique):
        rows = []
        for key, (row, text) in unique.items():
            first = self.seen_lines.setdefault(key, row.line)
            if first != row.line:
                self.run.reject_duplicate(row, first, text)
            else:
                rows.append(row)
        if rows:
            self.write_rows(rows)

    def write_rows(self, rows):
        run = self.run
        existing = {
            values[0]: values[1:]
            for values in Assure.objects.filter(nir__in={row.nir for row in rows}).values_list(
                "nir", "id", *_UPDATED
            )
        }
        current = {
            (values["assure__nir"], values["date_debut"]): values
            for values in ArretTravail.objects.filter(assure__nir__in=list(existing)).values(
                "id", "assure__nir", "date_debut", "extract_date", *ARRET_FIELDS
            )
        }
        kept, to_create, to_update = [], [], []
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
                run.created += 1
                to_create.append((row, wanted))
            elif newer_than(known["extract_date"], run.extract_date):
                run.ignored_older += 1
                continue
            else:
                if wanted["date_fin_reelle"] is None:
                    wanted["date_fin_reelle"] = known["date_fin_reelle"]
                if wanted["montant_ij"] is None:
                    wanted["montant_ij"] = known["montant_ij"]
                if all(known[name] == wanted[name] for name in ARRET_FIELDS):
                    run.unchanged += 1
                else:
                    run.updated += 1
                    to_update.append((known["id"], wanted))
            kept.append(row)
        assures = merge_assures(kept)
        changed = assure_updates(assures, existing)
        new = [row for nir, row in assures.items() if nir not in existing]
        run.assures_written += len(new) + len(changed)
        if run.dry_run:
            return

        created = Assure.objects.bulk_create(
            [
                Assure(
                    nir=row.nir,
                    nom_naissance=row.nom,
                    prenoms=row.prenom,
                    search_name=build_search_name(row.nom, row.prenom),
                    **dict(zip(_UPDATED, _updated_values(row), strict=True)),
                )
                for row in new
            ],
            batch_size=500,
        )
        ids = {nir: values[0] for nir, values in existing.items()}
        ids.update((assure.nir, assure.pk) for assure in created)
        Assure.objects.bulk_update(
            [
                Assure(
                    id=values[0], updated_at=run.now, **dict(zip(_UPDATED, values[1:], strict=True))
                )
                for values in changed
            ],
            [*_UPDATED, "updated_at"],
            batch_size=500,
        )
        import_id = run.cpam_import.pk
        ArretTravail.objects.bulk_create(
            [
                ArretTravail(
                    assure_id=ids[row.nir],
                    date_debut=row.date_debut,
                    last_import_id=import_id,
                    extract_date=run.extract_date,
                    **wanted,
                )
                for row, wanted in to_create
            ],
            batch_size=500,
        )
        ArretTravail.objects.bulk_update(
            [
                ArretTravail(
                    id=pk,
                    last_import_id=import_id,
                    extract_date=run.extract_date,
                    updated_at=run.now,
                    **wanted,
                )
                for pk, wanted in to_update
            ],
            [*ARRET_FIELDS, "last_import_id", "extract_date", "updated_at"],
            batch_size=500,
        )


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
    search_name = build_search_name(row.nom, row.prenom)
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
            search_name,
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
            search_name,
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


_DAY_ZERO = datetime.date(1900, 1, 1).toordinal()  # rows.parse_date keeps 1900 to 2100


def seen_key(nir, day):
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


# The arrêts of known assurés, by one INSERT … ON CONFLICT DO UPDATE whose WHERE leaves alone
# the episodes a newer extract last changed, and writes the others only when a field differs.
# With `newer` (only when an earlier import has a newer extract date: it costs a join), the
# statement also lists the lines held back; every CTE sees the table as it was before it.
_ARRET_UPSERT_SQL = """
    WITH v AS (
        SELECT *
        FROM unnest(%s::bigint[], %s::text[], %s::date[], %s::date[], %s::date[],
                    %s::numeric[], %s::bigint[]) WITH ORDINALITY
             AS v(assure_id, type_arret, date_debut, date_fin_prevue, date_fin_reelle,
                  montant_ij, cpam_id, position)
    ){newer},
    written AS (
        INSERT INTO {table} AS t (
            assure_id, type_arret, date_debut, date_fin_prevue, date_fin_reelle,
            montant_ij, cpam_id, last_import_id, extract_date, created_at, updated_at
        )
        SELECT v.assure_id, v.type_arret, v.date_debut, v.date_fin_prevue, v.date_fin_reelle,
               v.montant_ij, v.cpam_id, %s, %s::date, %s, %s
        FROM v
        ON CONFLICT (assure_id, date_debut) DO UPDATE SET
            type_arret = EXCLUDED.type_arret,
            date_fin_prevue = EXCLUDED.date_fin_prevue,
            date_fin_reelle = COALESCE(EXCLUDED.date_fin_reelle, t.date_fin_reelle),
            montant_ij = COALESCE(EXCLUDED.montant_ij, t.montant_ij),
            cpam_id = EXCLUDED.cpam_id,
            last_import_id = EXCLUDED.last_import_id,
            extract_date = EXCLUDED.extract_date,
            updated_at = EXCLUDED.updated_at
        WHERE (t.extract_date IS NULL OR t.extract_date <= EXCLUDED.extract_date)
            AND (t.type_arret, t.date_fin_prevue, t.date_fin_reelle, t.montant_ij, t.cpam_id)
            IS DISTINCT FROM (
                EXCLUDED.type_arret, EXCLUDED.date_fin_prevue,
                COALESCE(EXCLUDED.date_fin_reelle, t.date_fin_reelle),
                COALESCE(EXCLUDED.montant_ij, t.montant_ij), EXCLUDED.cpam_id
            )
        RETURNING (xmax = 0) AS inserted
    )
    SELECT (SELECT count(*) FILTER (WHERE inserted) FROM written),
           (SELECT count(*) FROM written),
           {held_back}
"""
_NEWER_CTE = """,
    newer AS (
        SELECT v.position
        FROM v JOIN {table} AS t ON t.assure_id = v.assure_id AND t.date_debut = v.date_debut
        WHERE t.extract_date > %s
    )"""


@functools.cache
def _arret_upsert_sql(*, report_newer):
    table = ArretTravail._meta.db_table
    return _ARRET_UPSERT_SQL.format(
        table=table,
        newer=_NEWER_CTE.format(table=table) if report_newer else "",
        held_back="ARRAY(SELECT position FROM newer)" if report_newer else "'{}'::bigint[]",
    )


_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


class PgBatch:
    """A batch's rows for PostgreSQL: the first row of each (NIR, start), their assurés
    (merged by NIR), their keys as COPY text and, with ``new_rows`` (while the people met so
    far were all new), the rows' COPY text (else made when needed, for the few new ones)."""

    __slots__ = ("unique", "rows", "assures", "seen_text")

    def __init__(self, unique, *, new_rows=False):
        self.unique = unique
        self.rows = [row for row, _text in unique.values()]
        self.assures = merge_assures(self.rows)
        if new_rows:
            for row in self.assures.values():
                if not row.assure_text:
                    row.assure_text = _assure_copy_line(row)
        parts = []
        for row in self.rows:
            row.seen_key = key = seen_key(row.nir, row.date_debut)
            if new_rows:
                row.arret_text = _arret_copy_line(row)
            parts.append(f"{key}\t{row.line}\n")
        self.seen_text = "".join(parts)


class PgWriter:
    """The PostgreSQL writes of one import, inside its transaction. Per batch:

    1. one query reads the batch's known assurés by NIR (not while all were new so far);
    2. the (NIR, start) keys of the rows of known assurés are looked up in a temporary table
       of the keys imported so far (a person unknown before this batch cannot have an arrêt
       imported by an earlier one), then the batch's keys are added to it with COPY;
    3. the new assurés go in with COPY (ids taken from the sequence beforehand);
    4. the arrêts of the new assurés go in with COPY (they cannot exist yet), those of known
       assurés with one ``INSERT … ON CONFLICT … DO UPDATE … WHERE <not changed by a newer
       extract> AND <fields differ>``, which also lists the lines held back;
    5. the known assurés whose contact details change (from the lines not held back) with
       one ``UPDATE … FROM unnest``.
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
        self.arret_suffix = (
            f"\t{run.cpam_import.pk}\t{run.extract_date.isoformat()}\t{now}\t{now}\n"
        )
        assure_columns = [name for name, _type in _ASSURE_COLUMNS]
        assure_columns += [column for column, _field in _assure_defaults()]
        self.assure_copy = (
            f"COPY {Assure._meta.db_table} (id, {', '.join(assure_columns)}) FROM STDIN"
        )
        self.arret_copy = (
            f"COPY {ArretTravail._meta.db_table} (assure_id, type_arret, date_debut, "
            "date_fin_prevue, date_fin_reelle, montant_ij, cpam_id, last_import_id, "
            "extract_date, created_at, updated_at) FROM STDIN"
        )
        self.existing_sql = (
            f"SELECT nir, id, {', '.join(_UPDATED)} FROM {Assure._meta.db_table} "
            "WHERE nir = ANY(%s::text[])"
        )
        self.report_newer = run.newer_extract_imported
        self.upsert_sql = _arret_upsert_sql(report_newer=self.report_newer)
        with connection.cursor() as cursor:
            # The import can be run again (it is idempotent): not waiting for the WAL flush
            # at commit is acceptable (at worst a crash right after it loses the import).
            cursor.execute("SET LOCAL synchronous_commit = off")
            # The trigram index of the names (GIN) takes new entries in its pending list and
            # merges the list into the index whenever it passes gin_pending_list_limit (4 MB by
            # default: every 20,000 new people or so). One merge at the end of the import is
            # several times cheaper than those many small ones (README « Performance »): the
            # list may grow to GIN_PENDING_KB, and close() merges what is left.
            cursor.execute(f"SET LOCAL gin_pending_list_limit = {GIN_PENDING_KB}")
            # The rows' CPAM keys have no constraint (REFERENCE_KEYS_WITHOUT_CONSTRAINT): the
            # lock the constraint took on each row written, taken once on every CPAM the
            # import may write, so that none of them can be deleted before it commits.
            cursor.execute(
                f"SELECT 1 FROM {CpamOffice._meta.db_table} WHERE id = ANY(%s) FOR KEY SHARE",
                [[pk for pk, _region in run.rules.offices.values()]],
            )
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

    def prepare(self, unique):
        """In the reader thread: merge the assurés, make the keys and COPY text."""
        return PgBatch(unique, new_rows=self.all_new)  # a hint: read in the reader thread

    def close(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.SEEN_TABLE}")
            if self.run.assures_written:
                # Searches read the pending list too, but by a scan: leave none behind. Only
                # the index's owner may merge it; a worker role that does not own the tables
                # (README « Database: timeouts… ») leaves it to autovacuum.
                cursor.execute(
                    "SELECT gin_clean_pending_list(oid) FROM pg_class "
                    "WHERE oid = %s::regclass AND pg_has_role(relowner, 'USAGE')",
                    [NAME_INDEX],
                )

    def write(self, batch):
        """Write a PgBatch (the first rows of their (NIR, start) in the batch)."""
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
                        batch = PgBatch(batch.unique)
                        existing = {nir: v for nir, v in existing.items() if nir in batch.assures}
                new = [row for nir, row in batch.assures.items() if nir not in existing]
                created = self.create_assures(cursor, new, existing) if new else {}
            run.assures_written += len(created)
            self.unsent_seen.append(batch.seen_text)
            self.unsent_rows += len(batch.rows)
            if self.unsent_rows >= SEEN_SEND_ROWS:
                self.send_seen(cursor)
            rows = batch.rows
            assures = batch.assures
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
                held_back = self.upsert_arrets(cursor, known_rows, existing)
                if held_back:  # their lines change nothing of the assuré either
                    assures = merge_assures([r for r in rows if id(r) not in held_back])
            changed = assure_updates(assures, existing)
            if changed:
                self.update_assures(cursor, changed)
                run.assures_written += len(changed)

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
        # One row (the ids as one string), not one per id: the result is read in Python while
        # the reader thread validates the next batch, each row costing a turn of the GIL.
        cursor.execute(
            "SELECT string_agg(nextval(%s::regclass)::text, ',') FROM generate_series(1, %s)",
            [self.sequence, len(rows)],
        )
        ids = list(map(int, cursor.fetchone()[0].split(",")))
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
        """Write the arrêts of known assurés; the ids (``id()``) of the rows held back
        because a newer extract last changed their episode."""
        run = self.run
        cursor.execute(
            self.upsert_sql,
            [
                _pg_array([existing[r.nir][0] for r in rows]),
                _pg_text_array([r.type_arret for r in rows]),
                _pg_array([r.date_debut for r in rows]),
                _pg_array([r.date_fin_prevue for r in rows]),
                _pg_array([r.date_fin_reelle for r in rows]),
                _pg_array([r.montant_ij for r in rows]),
                _pg_array([r.cpam_id for r in rows]),
                *([run.extract_date] if self.report_newer else []),
                run.cpam_import.pk,
                run.extract_date,
                run.now,
                run.now,
            ],
        )
        created, written, newer = cursor.fetchone()
        run.created += created
        run.updated += written - created
        run.ignored_older += len(newer)
        run.unchanged += len(rows) - written - len(newer)
        return {id(rows[position - 1]) for position in newer}

    @staticmethod
    def copy(cursor, sql, data):
        """COPY … FROM STDIN of ``data`` (text), sent in one piece. The buffer size is passed
        by position: Django's debug cursor (DEBUG=1) takes no keyword argument."""
        payload = data.encode()
        with connection.wrap_database_errors:
            cursor.copy_expert(sql, io.BytesIO(payload), len(payload) + 1)
