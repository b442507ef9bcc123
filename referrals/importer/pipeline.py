"""Step 5 of the import: the run — reading in a thread, writing in batches, the result.

:func:`import_extract` decodes the file (``decoding``), reads its header (``header``),
then validates the rows (``rows``) in a reader thread one batch of ``BATCH_SIZE`` rows ahead
of the writer (``writers``), so that validation overlaps with the database work. The reader
also drops the batch's internal duplicates and prepares the writer's data (COPY text for
PostgreSQL). Counts, rejected lines and the caisses of the file are recorded on the
``CpamImport``.

* When a user is given and is not an administrator, only the caisses of the user's region
  are accepted.
* The extract date defaults to the import day; a date in the future or more than a year
  old refuses the file (the upload form and the command check it first).
* Every caisse present in the file is recorded with its number of lines: the lines whose
  code_caisse (or, when empty, the expected caisse) is a known CPAM, whatever their outcome
  (an unknown code is a rejected line anyway). The import's own ``cpam`` is the caisse of
  most imported rows.
* A dry run writes nothing at all: it returns an unsaved ``CpamImport`` whose counts say what
  would happen, whose ``pending_rejections`` lists the rejected lines and
  ``pending_caisses`` the caisses.
* The whole import runs in one transaction; imports are serialised with a PostgreSQL advisory
  lock so that two imports at once cannot create the same assuré twice; a second import
  waits for the first however long it takes (the process's ``lock_timeout`` does not apply
  to that wait, only to the import's own statements). After an import that created or
  changed more than ``ANALYZE_MIN_ROWS`` rows of a table, PostgreSQL's statistics of that
  table are refreshed (``ANALYZE``) once the transaction commits.
"""

from __future__ import annotations

import functools
import logging
import queue
import sys
import threading
from collections import Counter
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from pdp.audit import audit
from pdp.models import AuditLog, CpamOffice
from referrals.importer.decoding import ImportRefused, open_records
from referrals.importer.header import read_header, split
from referrals.importer.rows import (
    RAW_LINE_MAX_CHARS,
    Rejection,
    RowRules,
    clear_caches,
    duplicate,
    extract_date_problem,
    join_lines,
)
from referrals.importer.writers import PgWriter, PortableWriter, write_rejections
from referrals.models import ArretTravail, Assure, CpamImport, CpamImportCaisse

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
ADVISORY_LOCK_KEY = 7_610_001  # arbitrary constant: "the CPAM import is running"
ANALYZE_MIN_ROWS = 1000
SWITCH_INTERVAL_S = 0.0005  # sys.setswitchinterval while the reader thread runs


def import_extract(
    fileobj,
    *,
    file_name,
    user=None,
    caisse_code=None,
    dry_run=False,
    extract_date=None,
    cpam_import=None,
    progress=None,
):
    """Import a CPAM extract read from the binary file object ``fileobj``.

    ``extract_date`` is the date of the extract (default: today). Returns the ``CpamImport``
    (saved, with its rejections and caisses, unless ``dry_run``). A refused file gives a
    ``CpamImport`` with status ``refused`` and a message; nothing else changes.

    ``cpam_import``: a pending upload (``jobs.import_run``) to fill instead of a new record;
    ``progress(lines_read)`` is called after each batch.
    """
    today = timezone.localdate()
    previous_status = None
    if cpam_import is None:
        cpam_import = CpamImport(
            file_name=(file_name or "extrait.csv")[:255],
            user=user if user is not None and user.is_authenticated else None,
            extract_date=extract_date or today,
        )
    else:
        previous_status = cpam_import.status
    cpam_import.status = CpamImport.Status.DRY_RUN if dry_run else CpamImport.Status.PROCESSED
    cpam_import.pending_rejections = []
    cpam_import.pending_caisses = []
    caisse_code = (caisse_code or "").strip()
    try:
        problem = extract_date_problem(cpam_import.extract_date, today=today)
        if problem:
            raise ImportRefused(problem)
        records = open_records(fileobj)
        columns, ignored = read_header(records, caisse_given=bool(caisse_code))
        offices = {
            code: (pk, region_id)
            for pk, code, region_id in CpamOffice.objects.values_list("pk", "code", "region_id")
        }
        allowed_region_id = _allowed_region_id(user)
        expected = _expected_office(caisse_code, offices, allowed_region_id)
        if expected is not None:
            cpam_import.cpam_id = offices[expected][0]
    except ImportRefused as exc:
        return _refuse(cpam_import, exc.message, dry_run=dry_run, previous_status=previous_status)

    rules = RowRules(
        columns,
        offices=offices,
        expected=expected,
        allowed_region_id=allowed_region_id,
        today=today,
        extract_date=cpam_import.extract_date,
    )
    run = ImportRun(cpam_import, rules=rules, dry_run=dry_run, progress=progress)
    if dry_run:
        run.process(records)
        run.finish(ignored)
        cpam_import.pending_caisses = run.caisses()
        return cpam_import
    with transaction.atomic():
        _wait_for_other_imports()
        cpam_import.save()
        run.process(records)
        run.finish(ignored)
        cpam_import.save()
        CpamImportCaisse.objects.bulk_create(run.caisses())
        audit(
            user=cpam_import.user,
            action=AuditLog.Action.CREATE if previous_status is None else AuditLog.Action.UPDATE,
            obj=cpam_import,
            changes={
                **import_counts(cpam_import),
                "extract_date": cpam_import.extract_date.isoformat(),
                **_status_change(previous_status, cpam_import),
            },
        )
        _analyze_after_commit(run)
    logger.info("CPAM import %s (%s): %s", cpam_import.pk, file_name, import_counts(cpam_import))
    return cpam_import


def _wait_for_other_imports():
    """Take the import's advisory lock (PostgreSQL), however long another import holds it.

    The process's ``lock_timeout`` (150 s for a worker, ``PROCESS_TIMEOUTS``) would cut the
    wait of a second import behind a long first one: it is lifted for this one statement,
    then set back to its value, so that the import's own statements keep it."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute("SET LOCAL lock_timeout = 0")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def import_extract_file(path, **kwargs):
    """import_extract() on a file path (file_name defaults to the file's name)."""
    path = Path(path)
    kwargs.setdefault("file_name", path.name)
    with path.open("rb") as fileobj:
        return import_extract(fileobj, **kwargs)


def rejections_of(cpam_import):
    """The rejected lines as [{"line", "reason"}], for a saved import or a dry run."""
    if cpam_import.pk is None:
        pending = getattr(cpam_import, "pending_rejections", [])
        return [{"line": r.line, "reason": r.reason} for r in pending]
    return [
        {"line": line, "reason": reason}
        for line, reason in cpam_import.rejections.values_list("line_number", "reason")
    ]


def caisses_of(cpam_import):
    """The caisses of the file as [CpamImportCaisse] (with their CPAM), most lines first,
    for a saved import or a dry run."""
    if cpam_import.pk is None:
        return getattr(cpam_import, "pending_caisses", [])
    return list(cpam_import.caisses.select_related("cpam").order_by("-line_count", "cpam__code"))


def import_counts(cpam_import):
    """Counts of an import as a dict: read, created, updated, unchanged, ignored_older,
    rejected."""
    return {
        "read": cpam_import.rows_read,
        "created": cpam_import.rows_created,
        "updated": cpam_import.rows_updated,
        "unchanged": cpam_import.rows_unchanged,
        "ignored_older": cpam_import.rows_ignored_older,
        "rejected": cpam_import.rows_rejected,
    }


def import_summary(cpam_import):
    """The counts of an import in a French sentence (without its final full stop)."""
    counts = import_counts(cpam_import)
    parts = [
        f"{counts['read']} lignes lues",
        f"{counts['created']} arrêts créés",
        f"{counts['updated']} mis à jour",
        f"{counts['unchanged']} inchangés",
    ]
    if counts["ignored_older"]:
        parts.append(f"{counts['ignored_older']} lignes ignorées\u00a0: extrait plus ancien")
    parts.append(f"{counts['rejected']} lignes rejetées")
    return ", ".join(parts)


def _status_change(previous_status, cpam_import):
    if previous_status is None:
        return {}
    return {"status": [previous_status, cpam_import.status]}


def _refuse(cpam_import, message, *, dry_run, previous_status=None):
    cpam_import.status = CpamImport.Status.REFUSED
    cpam_import.message = message
    if not dry_run:
        with transaction.atomic():
            cpam_import.save()
            audit(
                user=cpam_import.user,
                action=AuditLog.Action.CREATE
                if previous_status is None
                else AuditLog.Action.UPDATE,
                obj=cpam_import,
                changes=_status_change(previous_status, cpam_import) or {"status": "refused"},
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


def _analyze_after_commit(run):
    """Fresh planner statistics after a large import (PostgreSQL), once it is committed."""
    if connection.vendor != "postgresql":
        return
    tables = []
    if run.created + run.updated > ANALYZE_MIN_ROWS:
        tables.append(ArretTravail._meta.db_table)
    if run.assures_written > ANALYZE_MIN_ROWS:
        tables.append(Assure._meta.db_table)
    if tables:
        transaction.on_commit(functools.partial(_analyze, tables), robust=True)


def _analyze(tables):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(map(connection.ops.quote_name, tables)))


# --- The run -------------------------------------------------------------------------------


class ImportRun:
    """One import's state: the rules, the writer, the counts and the pending rejections."""

    def __init__(self, cpam_import, *, rules, dry_run, progress=None):
        self.cpam_import = cpam_import
        self.progress = progress
        self.rules = rules
        self.extract_date = cpam_import.extract_date
        self.dry_run = dry_run
        self.now = timezone.now()
        self.rows_read = 0
        self.skipped_blank = 0
        self.created = self.updated = self.unchanged = self.ignored_older = 0
        self.assures_written = 0
        self.rejected = 0  # counted when written
        self.rejections = []
        self.office_counts = Counter()  # valid rows per CPAM id (reader thread)
        self.duplicate_offices = Counter()  # of which rejected as duplicates (this thread)
        self.batch_duplicate_offices = Counter()  # the same, by the reader
        self.writer = None  # while rows are written
        self.newer_extract_imported = True  # known in process()

    def process(self, records):
        """Validate in a reader thread, one batch ahead, while this thread writes.

        Validation is pure Python (no database access); psycopg2 releases the GIL while a
        statement runs, so validating batch n + 1 overlaps with writing batch n.
        """
        use_pg = not self.dry_run and connection.vendor == "postgresql"
        if use_pg:
            # An arrêt's extract date is always that of a processed import: without a newer
            # one, no line can be held back and the writer need not list them (its WHERE
            # stays). Read under the import's lock, so that no newer import can come between.
            self.newer_extract_imported = CpamImport.objects.filter(
                status=CpamImport.Status.PROCESSED, extract_date__gt=self.extract_date
            ).exists()
        self.writer = PgWriter(self) if use_pg else PortableWriter(self)
        # The writer waits on PostgreSQL most of the time and needs the GIL only briefly
        # between statements; with the default switch interval (5 ms) each of those moments
        # waits for the reader thread to let go. A shorter interval for the run only.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            with Pipeline(self.validated_batches(records)) as batches:
                for batch, rejections in batches:
                    self.rejections.extend(rejections)
                    self.writer.write(batch)
                    write_rejections(self)
                    if self.progress is not None:
                        # Counts of the reader thread, one batch ahead: good enough for a bar.
                        self.progress(self.rows_read + self.skipped_blank)
        finally:
            sys.setswitchinterval(switch_interval)
            clear_caches()
        self.writer.close()
        self.writer = None

    def validated_batches(self, records):
        """Yield (prepared batch, [Rejection]) by batches of ``BATCH_SIZE`` valid rows. Runs
        in the reader thread: it only touches rows_read, skipped_blank, office_counts,
        batch_duplicate_offices and the rules' counts (read once it is done).

        The batch keeps the first row of each (NIR, start), the others are rejected; the
        writer's ``prepare`` makes it ready to write."""
        rejections = []
        unique = {}  # (NIR, start) → (row, text) of the batch's first rows
        count = 0  # the batch's valid rows
        parse = self.rules.parse
        column_count = self.rules.column_count
        prepare = self.writer.prepare
        for line, text, problem in records:
            if problem:
                self.rows_read += 1
                rejections.append(Rejection(line, problem, text[:RAW_LINE_MAX_CHARS]))
                continue
            fields = split(text)
            if len(fields) != column_count or not text.strip("; \t"):
                if not text.strip("; \t"):
                    self.skipped_blank += 1
                    continue
                self.rows_read += 1
                reason = f"Nombre de colonnes incorrect : {len(fields)} au lieu de {column_count}."
                rejections.append(Rejection(line, reason, text[:RAW_LINE_MAX_CHARS]))
                continue
            if "\n" in text or "\r" in text:
                fields = [join_lines(field) for field in fields]
            self.rows_read += 1
            row = parse(line, fields)
            if isinstance(row, list):
                rejections.append(Rejection(line, " ; ".join(row), text[:RAW_LINE_MAX_CHARS]))
                continue
            self.office_counts[row.cpam_id] += 1
            count += 1
            key = (row.nir, row.date_debut)
            first = unique.get(key)
            if first is None:
                unique[key] = (row, text)
            else:
                self.batch_duplicate_offices[row.cpam_id] += 1
                rejections.append(duplicate(row, first[0].line, text))
            if count >= BATCH_SIZE:
                yield prepare(unique), rejections
                rejections, unique, count = [], {}, 0
        yield prepare(unique), rejections

    def reject_duplicate(self, row, first_line, text):
        """A row whose (NIR, start) an earlier batch imported (counted as valid, not imported)."""
        self.duplicate_offices[row.cpam_id] += 1
        self.rejections.append(duplicate(row, first_line, text))

    def finish(self, ignored):
        imp = self.cpam_import
        imp.rows_read = self.rows_read
        imp.rows_created = self.created
        imp.rows_updated = self.updated
        imp.rows_unchanged = self.unchanged
        imp.rows_ignored_older = self.ignored_older
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

    def caisses(self):
        """[CpamImportCaisse] of the file, unsaved (for a dry run: with their CPAM, most lines
        first)."""
        counts = self.rules.caisse_lines
        if not self.dry_run:
            return [
                CpamImportCaisse(cpam_import=self.cpam_import, cpam_id=pk, line_count=n)
                for pk, n in counts.items()
            ]
        offices = CpamOffice.objects.in_bulk(list(counts))  # shown at once: with their CPAM
        caisses = [CpamImportCaisse(cpam=offices[pk], line_count=n) for pk, n in counts.items()]
        return sorted(caisses, key=lambda c: (-c.line_count, c.cpam.code))  # as caisses_of()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class Pipeline:
    """Iterate over ``iterable`` in a reader thread, at most one item ahead of the caller.

    ``with Pipeline(gen) as items: for item in items: ...``. An exception in the reader is
    raised in the caller; leaving the block early stops the reader.
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
