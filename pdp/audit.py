"""One entry point for the access and change log of personal files."""

import datetime

from django.apps import apps
from django.db import connections, router
from django.utils import timezone

from pdp.models import AuditLog


def audit(*, user, action, obj, assure_id=None, changes=None):
    """Record that `user` did `action` on `obj`. `changes` maps a field to [old, new]."""
    return AuditLog.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        assure_id=assure_id,
        changes=jsonable(changes or {}),
    )


def audit_many(*, user, action, model, entries):
    """Set-based work (a campaign's codes, targets, messages): one row per entry, written in one
    statement. `entries` are (object_id, assure_id, changes) of records of `model`."""
    label = model._meta.label_lower
    return _insert(
        user,
        action,
        [(label, object_id, assure_id, changes) for object_id, assure_id, changes in entries],
    )


def audit_listed(*, user, objects, assure_id_of, page):
    """A list page showed these records (search results, an inbox page): one read row per
    person listed, written in one statement, so that « who saw this person's name » has an
    answer for lists too. `page` names the list."""
    changes = {"page": page}
    rows = [(obj._meta.label_lower, obj.pk, assure_id_of(obj), changes) for obj in objects]
    return _insert(user, AuditLog.Action.VIEW, rows)


# Rows per INSERT: 7 parameters each, within SQLite's 999 of older versions.
_INSERT_CHUNK = 140


def _insert(user, action, rows):
    """Write (object_type, object_id, assure_id, changes) rows of one user and action as
    multi-row INSERTs: what `bulk_create` would write, without building a model instance and
    compiling a statement per row — a list page's 25–35 rows cost 3 ms that way, a few tenths
    of a millisecond this way (README « Page benchmark »)."""
    if not rows:
        return 0
    user_id = user.pk if user is not None and user.is_authenticated else None
    connection = connections[router.db_for_write(AuditLog)]
    table = connection.ops.quote_name(AuditLog._meta.db_table)
    # Each value as its field would send it (the JSON as the field encodes it, the date as
    # the backend stores it).
    at = AuditLog._meta.get_field("at").get_db_prep_save(timezone.now(), connection)
    changes_field = AuditLog._meta.get_field("changes")
    columns = "at, user_id, action, object_type, object_id, assure_id, changes"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params = []
            for object_type, object_id, assure_id, changes in chunk:
                params += [
                    at,
                    user_id,
                    action,
                    object_type,
                    str(object_id),
                    assure_id,
                    changes_field.get_db_prep_save(jsonable(changes or {}), connection),
                ]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}", params)
    return len(rows)


def field_changes(instance, data):
    """Apply `data` to `instance`; return {field: [old, new]} for the fields that changed."""
    changed = {}
    for name, value in data.items():
        old = getattr(instance, name)
        if old != value:
            changed[name] = [old, value]
            setattr(instance, name, value)
    return changed


def jsonable(value):
    """Old and new values as JSON: records by their pk, dates in ISO format, the rest as text.
    The one conversion for the audit log and the case timeline's `changes`."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return str(value)


def object_type_label(object_type):
    """The French name of a log row's `object_type` (a model label such as « cases.entretien »:
    its verbose name), or the raw value when it names no model."""
    try:
        return apps.get_model(object_type)._meta.verbose_name
    except (LookupError, ValueError):
        return object_type
