"""Sending SMS and e-mails to people, with a log of every message (issue 10, item 6).

Public API::

    send_sms(to=…, body=…, template=…, assure_id=…, obj=…, secrets=[code]) -> Message
    send_email(to=…, subject=…, body=…, template=…, …, attachments=[(name, content, mimetype)])

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
import functools

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
    "Sms",
    "SmsError",
    "get_connection",
    "mask",
    "normalise_phone",
    "outbox",
    "send_email",
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
