"""Sending SMS and e-mails to people, with a log of every message (issue 10, item 6).

Public API::

    send_sms(to=…, body=…, template=…, assure_id=…, obj=…, secrets=[code]) -> Message
    send_email(to=…, subject=…, body=…, template=…, …, attachments=[(name, content, mimetype)])
    send_many(items=[Outgoing(…), …]) -> [Message | ValidationError]   # a campaign's invitations

Both validate the recipient (a French mobile number, put in E.164; an e-mail address), write a
``pdp.models.Message`` row in the caller's transaction and, once it commits, enqueue the Celery
task ``deliver_message`` — nothing goes out if the transaction rolls back. An SMS is rewritten in
the GSM-7 alphabet (``gsm.normalise``) and, asked for at night, on a Sunday or a public holiday,
deferred to the next allowed moment (``quiet_hours.next_allowed``): status « différé », task ETA.

Secrets: the texts passed in ``secrets`` (an access code) are stored masked (``MASK``); the
clear text then travels only in the task's arguments, i.e. in the Celery broker (Redis, on the
closed network, not persisted beyond delivery) — never in the database. A message without
secrets is stored as sent. Attachments are not stored: they travel in the task's arguments.

Backends: ``SMS_BACKEND`` (see ``backends``) and Django's ``EMAIL_BACKEND``. In tests the
``LocmemBackend`` appends each SMS sent to ``outbox``.
"""

import base64
import dataclasses
import functools
import itertools

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from pdp.messaging import gsm, quiet_hours
from pdp.messaging.backends import Sms, SmsError, get_connection
from pdp.messaging.phone import normalise_phone
from pdp.models import TEXT_MAX_LENGTH, Message

__all__ = [
    "MASK",
    "Outgoing",
    "Sms",
    "SmsError",
    "get_connection",
    "mask",
    "normalise_phone",
    "outbox",
    "send_email",
    "send_many",
    "send_sms",
]

MASK = "••••••••"

# The SMS sent through LocmemBackend (tests empty it between tests).
outbox: list[Sms] = []


def mask(text: str, secrets=()) -> str:
    """``text`` with each of ``secrets`` replaced by ``MASK``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _about(obj):
    if obj is None:
        return "", ""
    return obj._meta.label_lower, str(obj.pk)


def _check_length(text):
    if len(text) > TEXT_MAX_LENGTH:
        raise ValidationError(
            f"Message trop long : {TEXT_MAX_LENGTH} caractères au plus.", code="too_long"
        )


def _enqueue(message, *, clear=None, attachments=()):
    from pdp.messaging.tasks import deliver_message

    kwargs = {}
    if clear:
        kwargs["clear"] = clear
    if attachments:
        kwargs["attachments"] = attachments
    transaction.on_commit(
        functools.partial(
            deliver_message.apply_async,
            args=[message.pk],
            kwargs=kwargs,
            eta=message.send_after,
        )
    )


@transaction.atomic
def send_sms(*, to, body, template, assure_id=None, obj=None, secrets=()) -> Message:
    """Log an SMS to ``to`` and send it once the transaction commits (deferred out of the
    allowed hours). Raises ``ValidationError`` for a number that cannot receive an SMS."""
    recipient = normalise_phone(to, mobile=True)
    text = gsm.normalise(body)
    if not text.strip():
        raise ValidationError("Le texte du SMS est vide.", code="empty")
    _check_length(text)
    secrets = [gsm.normalise(s) for s in secrets if s]
    stored = mask(text, secrets)
    now = timezone.now()
    allowed = quiet_hours.next_allowed(now)
    deferred = allowed > now
    object_type, object_id = _about(obj)
    message = Message.objects.create(
        channel=Message.Channel.SMS,
        template=template,
        recipient=recipient,
        assure_id=assure_id,
        object_type=object_type,
        object_id=object_id,
        body=stored,
        status=Message.Status.DEFERRED if deferred else Message.Status.QUEUED,
        send_after=allowed if deferred else None,
        segments=gsm.segments(text),
    )
    _enqueue(message, clear={"body": text} if stored != text else None)
    return message


def _attachment_args(attachments):
    """(filename, content, mimetype) triples as JSON-able lists (bytes in base64)."""
    encoded = []
    for filename, content, mimetype in attachments:
        if isinstance(content, bytes):
            encoded.append([filename, base64.b64encode(content).decode(), mimetype, "base64"])
        else:
            encoded.append([filename, content, mimetype, "text"])
    return encoded


@transaction.atomic
def send_email(
    *, to, subject, body, template, assure_id=None, obj=None, secrets=(), attachments=()
) -> Message:
    """Log an e-mail to ``to`` and send it once the transaction commits (no quiet hours for
    e-mail). ``attachments``: (filename, content, mimetype), e.g. an ICS file."""
    recipient = (to or "").strip()
    try:
        validate_email(recipient)
    except ValidationError:
        raise ValidationError(
            "Adresse e-mail invalide, par exemple prenom.nom@exemple.fr.", code="invalid_email"
        ) from None
    _check_length(body)
    if len(subject) > Message._meta.get_field("subject").max_length:
        raise ValidationError("Objet du message trop long.", code="too_long")
    if "\n" in subject or "\r" in subject:
        raise ValidationError("L'objet du message tient sur une ligne.", code="newline")
    stored_subject, stored_body = mask(subject, secrets), mask(body, secrets)
    object_type, object_id = _about(obj)
    message = Message.objects.create(
        channel=Message.Channel.EMAIL,
        template=template,
        recipient=recipient,
        assure_id=assure_id,
        object_type=object_type,
        object_id=object_id,
        subject=stored_subject,
        body=stored_body,
    )
    clear = None
    if (stored_subject, stored_body) != (subject, body):
        clear = {"subject": subject, "body": body}
    _enqueue(message, clear=clear, attachments=_attachment_args(attachments))
    return message


# --- Many messages at once (a campaign) ---------------------------------------------------

# Messages per delivery task: a task sends them one after the other through the same claim as
# `deliver_message`; the chunk keeps each task well inside its time limit.
DELIVERY_CHUNK = 100


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """One message of `send_many`: ``channel`` is ``Message.Channel.SMS`` or ``EMAIL``."""

    channel: str
    to: str
    body: str
    template: str
    subject: str = ""
    assure_id: int | None = None
    object_type: str = ""
    object_id: str = ""
    secrets: tuple = ()


def _prepared(item, now, allowed):
    """(unsaved Message, clear texts or None) for one item; raises ValidationError."""
    if item.channel == Message.Channel.SMS:
        recipient = normalise_phone(item.to, mobile=True)
        text = gsm.normalise(item.body)
        if not text.strip():
            raise ValidationError("Le texte du SMS est vide.", code="empty")
        _check_length(text)
        stored = mask(text, [gsm.normalise(s) for s in item.secrets if s])
        deferred = allowed > now
        message = Message(
            channel=Message.Channel.SMS,
            template=item.template,
            recipient=recipient,
            assure_id=item.assure_id,
            object_type=item.object_type,
            object_id=str(item.object_id),
            body=stored,
            status=Message.Status.DEFERRED if deferred else Message.Status.QUEUED,
            send_after=allowed if deferred else None,
            segments=gsm.segments(text),
        )
        return message, ({"body": text} if stored != text else None)
    if item.channel != Message.Channel.EMAIL:
        raise ValueError(f"unknown channel: {item.channel!r}")
    recipient = (item.to or "").strip()
    try:
        validate_email(recipient)
    except ValidationError:
        raise ValidationError("Adresse e-mail invalide.", code="invalid_email") from None
    _check_length(item.body)
    subject, body = mask(item.subject, item.secrets), mask(item.body, item.secrets)
    message = Message(
        channel=Message.Channel.EMAIL,
        template=item.template,
        recipient=recipient,
        assure_id=item.assure_id,
        object_type=item.object_type,
        object_id=str(item.object_id),
        subject=subject,
        body=body,
    )
    clear = None
    if (subject, body) != (item.subject, item.body):
        clear = {"subject": item.subject, "body": item.body}
    return message, clear


@transaction.atomic
def send_many(*, items, chunk=DELIVERY_CHUNK):
    """Log many messages in one INSERT and, once the transaction commits, deliver them by
    tasks of ``chunk`` messages (``deliver_messages``; SMS asked for in the quiet hours wait
    with an ETA, as `send_sms`). Returns, in the order of ``items``, each one's Message or the
    ValidationError that kept it from being logged (a bad number does not stop the others).
    The clear texts travel only in the tasks' arguments, as with `send_sms`."""
    now = timezone.now()
    allowed = quiet_hours.next_allowed(now)
    results, prepared = [], []
    for item in items:
        try:
            message, clear = _prepared(item, now, allowed)
        except ValidationError as error:
            results.append(error)
            continue
        results.append(message)
        prepared.append((message, clear))
    Message.objects.bulk_create([m for m, _clear in prepared])
    by_eta = {}
    for message, clear in prepared:
        by_eta.setdefault(message.send_after, []).append([message.pk, clear])
    for eta, pairs in by_eta.items():
        for start in itertools.count(0, chunk):
            part = pairs[start : start + chunk]
            if not part:
                break
            transaction.on_commit(functools.partial(_enqueue_many, part, eta))
    return results


def _enqueue_many(pairs, eta):
    from pdp.messaging.tasks import deliver_messages

    deliver_messages.apply_async(args=[pairs], eta=eta)
