"""One entry point for the access and change log of personal files."""

import datetime

from django.apps import apps

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
    rows = [
        AuditLog(
            user=user if user is not None and user.is_authenticated else None,
            action=action,
            object_type=model._meta.label_lower,
            object_id=str(object_id),
            assure_id=assure_id,
            changes=jsonable(changes or {}),
        )
        for object_id, assure_id, changes in entries
    ]
    AuditLog.objects.bulk_create(rows)
    return len(rows)


def audit_listed(*, user, objects, assure_id_of, page):
    """A list page showed these records (search results, an inbox page): one read row per
    person listed, written in one statement, so that « who saw this person's name » has an
    answer for lists too. `page` names the list."""
    rows = [
        AuditLog(
            user=user if user is not None and user.is_authenticated else None,
            action=AuditLog.Action.VIEW,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            assure_id=assure_id_of(obj),
            changes={"page": page},
        )
        for obj in objects
    ]
    AuditLog.objects.bulk_create(rows)
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
