"""Step 6 of the import: uploads imported by the worker, with their progress.

* :func:`import_enqueue` (the upload page's service) stores the uploaded file under
  ``PRIVATE_MEDIA_ROOT/imports/`` (never under a served directory) while computing its
  SHA-256 and counting its lines, records a ``CpamImport`` « en attente » and, on commit,
  queues ``referrals.tasks.import_cpam_extract_task``. A file whose content is already
  waiting or being imported is refused with a French message: the partial unique constraint
  ``cpam_import_one_pending_per_file`` makes it hold when two uploads race.
* :func:`import_run` (the task's work) locks the pending row without waiting
  (``SELECT … FOR UPDATE SKIP LOCKED``: a retry, a redelivered message or a second worker
  finds nothing to do) and runs the same pipeline as the command (``import_extract``) in the
  same transaction, so a crash of the worker rolls everything back and leaves the row
  « en attente » for the redelivered message. The progress (lines read) goes to the cache
  once per batch, read by the page's polling; an error marks the import « échec » with a
  French message. Either way the stored file is deleted once the import is over.
* Imports are serialised by the pipeline's advisory lock (one import at a time for the
  whole database, so two imports of the same caisse or region never run together: the
  second one waits « en attente » for the first).
* A pending import older than ``STALE_AFTER`` that no worker holds (its message was lost)
  is marked failed when the same file is uploaded again, so it can never block its file.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from pdp.audit import audit
from pdp.models import AuditLog, Role
from pdp.private_files import private_path
from referrals.importer.pipeline import import_extract
from referrals.models import CpamImport

logger = logging.getLogger(__name__)

IMPORT_DIR = "imports"
UPLOAD_CHUNK = 1024 * 1024
STALE_AFTER = timezone.timedelta(hours=2)  # well past the task's time limit
PROGRESS_TIMEOUT = 3 * 60 * 60

IMPORT_ROLES = {Role.MANAGER, Role.CONSEILLER}

FAILED = (
    "L'import a échoué à cause d'une erreur technique\u00a0: rien n'a été enregistré. "
    "Réessayez plus tard ou contactez l'assistance."
)
LOST = (
    "L'import n'a pas été lancé (aucun traitement en arrière-plan disponible)\u00a0: "
    "rien n'a été enregistré, le fichier peut être envoyé à nouveau."
)


def can_import(user):
    return user.is_authenticated and (
        user.is_admin or (user.is_unit_member and user.role in IMPORT_ROLES)
    )


def progress_key(cpam_import):
    """The cache key of an import's progress (its content's hash too: an id may come back
    after a database is restored or emptied)."""
    return f"pdp:cpam-import-progress:{cpam_import.pk}:{cpam_import.sha256[:16]}"


def import_progress(cpam_import):
    """Lines read so far by the worker (0 before it starts)."""
    return cache.get(progress_key(cpam_import), 0)


def duplicate_message(other):
    return (
        f"Ce fichier est déjà en cours d'import (envoyé le "
        f"{timezone.localtime(other.created_at):%d/%m/%Y à %H:%M})\u00a0: attendez la fin de "
        "cet import avant de l'envoyer à nouveau."
    )


# --- The upload ----------------------------------------------------------------------------


def _store(upload):
    """Write the upload under PRIVATE_MEDIA_ROOT/imports/: (relative name, sha256, lines of
    data — physical lines less the header)."""
    relative = f"{IMPORT_DIR}/{secrets.token_hex(16)}.csv"
    path = private_path(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    newlines = carriage_returns = 0
    last = b""
    upload.seek(0)
    with path.open("xb") as out:
        for chunk in upload.chunks(UPLOAD_CHUNK):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            carriage_returns += chunk.count(b"\r")
            last = chunk[-1:] or last
            out.write(chunk)
    lines = newlines or carriage_returns  # old Mac files end lines with \r alone
    if last and last not in b"\r\n":
        lines += 1
    return relative, digest.hexdigest(), max(lines - 1, 0)


def import_enqueue(*, upload, acting_user, extract_date, caisse=None):
    """Store ``upload`` and record a pending import, imported by the worker once committed.

    ValidationError (French) while the same content waits or is being imported."""
    relative, sha256, lines = _store(upload)
    try:
        with transaction.atomic():
            _fail_stale(sha256)
            other = CpamImport.objects.filter(
                sha256=sha256, status=CpamImport.Status.PENDING
            ).first()
            if other is not None:
                raise ValidationError(duplicate_message(other))
            try:
                with transaction.atomic():
                    cpam_import = CpamImport.objects.create(
                        file_name=(upload.name or "extrait.csv")[:255],
                        user=acting_user,
                        cpam=caisse,
                        status=CpamImport.Status.PENDING,
                        extract_date=extract_date,
                        sha256=sha256,
                        stored_file=relative,
                        lines_total=lines,
                    )
            except IntegrityError:  # the same file, uploaded at the same moment
                other = CpamImport.objects.filter(
                    sha256=sha256, status=CpamImport.Status.PENDING
                ).first()
                raise ValidationError(
                    duplicate_message(other) if other else "Ce fichier est déjà en cours d'import."
                ) from None
            audit(
                user=acting_user,
                action=AuditLog.Action.CREATE,
                obj=cpam_import,
                changes={"status": [None, cpam_import.status], "lines": lines},
            )
            from referrals.tasks import import_cpam_extract_task

            transaction.on_commit(functools.partial(import_cpam_extract_task.delay, cpam_import.pk))
    except BaseException:
        private_path(relative).unlink(missing_ok=True)
        raise
    return cpam_import


def _fail_stale(sha256):
    """A pending import of this content older than STALE_AFTER that no worker holds: failed."""
    stale = (
        CpamImport.objects.select_for_update(skip_locked=True)
        .filter(
            sha256=sha256,
            status=CpamImport.Status.PENDING,
            created_at__lt=timezone.now() - STALE_AFTER,
        )
        .first()
    )
    if stale is not None:
        _mark_failed(stale, LOST)


# --- The worker's run ----------------------------------------------------------------------


def import_run(*, import_id):
    """Import the pending upload ``import_id``. Returns the import, or None when there was
    nothing to do (already imported, failed, or being imported by another worker)."""
    key = None
    try:
        with transaction.atomic():
            cpam_import = (
                CpamImport.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("cpam", "user")
                .filter(pk=import_id, status=CpamImport.Status.PENDING)
                .first()
            )
            if cpam_import is None:
                return None
            key = progress_key(cpam_import)
            relative = cpam_import.stored_file
            cpam_import.stored_file = ""
            with private_path(relative).open("rb") as fileobj:
                import_extract(
                    fileobj,
                    file_name=cpam_import.file_name,
                    user=cpam_import.user,
                    caisse_code=cpam_import.cpam.code if cpam_import.cpam_id else None,
                    extract_date=cpam_import.extract_date,
                    cpam_import=cpam_import,
                    progress=functools.partial(_note_progress, key),
                )
            transaction.on_commit(functools.partial(_remove, relative))
    except Exception:
        logger.exception("CPAM import %s failed", import_id)
        with transaction.atomic():
            failed = (
                CpamImport.objects.select_for_update(skip_locked=True)
                .filter(pk=import_id, status=CpamImport.Status.PENDING)
                .first()
            )
            if failed is not None:
                _mark_failed(failed, FAILED)
        return CpamImport.objects.filter(pk=import_id).first()
    finally:
        if key is not None:
            cache.delete(key)
    return cpam_import


def _note_progress(key, lines_read):
    cache.set(key, lines_read, PROGRESS_TIMEOUT)


def _mark_failed(cpam_import, message):
    """Inside a transaction, on a locked pending import: « échec », its file removed."""
    relative = cpam_import.stored_file
    cpam_import.status = CpamImport.Status.FAILED
    cpam_import.message = message
    cpam_import.stored_file = ""
    cpam_import.save(update_fields=["status", "message", "stored_file"])
    audit(
        user=None,
        action=AuditLog.Action.UPDATE,
        obj=cpam_import,
        changes={"status": [CpamImport.Status.PENDING, cpam_import.status]},
    )
    if relative:
        transaction.on_commit(functools.partial(_remove, relative))


def _remove(relative):
    private_path(relative).unlink(missing_ok=True)
