"""The task that delivers a logged message (``pdp.messaging.send_sms`` / ``send_email``).

Safe to run twice or on two workers at once: it first claims the row — ``UPDATE … SET status =
'sending' WHERE id = … AND status IN ('queued', 'deferred') AND send_after has passed`` — and
only the run that changed the row sends. A message is thus sent at most once: a worker that dies
between the claim and the provider's answer leaves it « en cours d'envoi », visible in the
admin, rather than risking a second SMS. A failure is recorded (status « échec », the error)
and not retried: the caller decides whether to send again.

A deferred SMS is enqueued with its ETA (Monday 08:00 for a Saturday-night SMS). With Redis,
an ETA beyond the broker's visibility timeout (1 hour by default) gets the task redelivered to
another worker; the claim makes those copies harmless. A copy that runs before ``send_after``
(or the eager mode of development and tests, which ignores ETAs) sends nothing and leaves the
message « différé ».

A safety net, ``deliver_overdue_messages`` (every 15 minutes, ``pdp/celery.py``), catches a
deferred message whose ETA task was lost (Redis restarted without persistence): one still
« différé » ``OVERDUE_AFTER`` past its time is delivered then. A message stored without secrets
is sent as stored; one whose code is masked cannot be (the clear text only lived in the lost
task) and is marked « échec », « Texte en clair indisponible », for the staff to send a new
link. Messages « en attente » (not deferred) are left to their task, which may be queued behind
a large campaign.
"""

import base64
import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db.models import Q
from django.utils import timezone

from pdp.messaging import MASK
from pdp.messaging.backends import Sms, get_connection
from pdp.models import Message

logger = logging.getLogger("pdp.messaging")

ERROR_MAX_LENGTH = Message._meta.get_field("error").max_length
# Past its time by this much, a deferred message's own task is taken for lost.
OVERDUE_AFTER = datetime.timedelta(hours=2)
SWEEP_BATCH = 500


def _claim(message_id, now):
    return (
        Message.objects.filter(
            pk=message_id, status__in=[Message.Status.QUEUED, Message.Status.DEFERRED]
        )
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
        .update(status=Message.Status.SENDING)
    )


def _decoded(attachments):
    for filename, content, mimetype, encoding in attachments:
        yield filename, base64.b64decode(content) if encoding == "base64" else content, mimetype


def _send_sms(message, body):
    return get_connection().send(Sms(to=message.recipient, body=body))


def _send_email(message, subject, body, attachments):
    message_id = make_msgid(domain=DNS_NAME)
    email = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"Message-ID": message_id},
    )
    for filename, content, mimetype in _decoded(attachments):
        email.attach(filename, content, mimetype)
    if email.send(fail_silently=False) != 1:
        raise RuntimeError("Le serveur de messagerie n'a pas accepté le message.")
    return message_id


@shared_task(time_limit=60, soft_time_limit=45, ignore_result=True)
def deliver_message(message_id, clear=None, attachments=()):
    """Send the message ``message_id`` once; ``clear`` holds its unmasked subject and body when
    the row stores them masked. Returns « sent », « failed » or « skipped » (already claimed,
    or not due yet)."""
    now = timezone.now()
    if not _claim(message_id, now):
        return "skipped"
    message = Message.objects.get(pk=message_id)
    clear = clear or {}
    body = clear.get("body", message.body)
    subject = clear.get("subject", message.subject)
    try:
        if MASK in body or MASK in subject:
            # The clear text only travels in the task's arguments (pdp.messaging's docstring).
            raise RuntimeError("Texte en clair indisponible : message non envoyé (code masqué).")
        if message.channel == Message.Channel.SMS:
            provider_id = _send_sms(message, body)
        else:
            provider_id = _send_email(message, subject, body, attachments)
    except Exception as error:  # any backend failure is recorded, not raised into a retry loop
        logger.warning("Message %s (%s) not sent: %s", message.pk, message.template, error)
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED, error=str(error)[:ERROR_MAX_LENGTH]
        )
        return "failed"
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT,
        sent_at=timezone.now(),
        provider_id=(provider_id or "")[:100],
        error="",
    )
    logger.info("Message %s (%s) sent", message.pk, message.template)
    return "sent"


@shared_task(time_limit=900, soft_time_limit=840, ignore_result=True)
def deliver_messages(pairs):
    """Send the messages of ``pairs`` ([message id, clear texts or None], from
    ``pdp.messaging.send_many``) one after the other, each through ``deliver_message``'s claim:
    a redelivered chunk sends nothing twice. Returns {"sent": n, "failed": n, "skipped": n}."""
    outcome = {}
    for message_id, clear in pairs:
        result = deliver_message(message_id, clear)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


@shared_task(time_limit=600, soft_time_limit=540, ignore_result=True)
def deliver_overdue_messages(now=None):
    """Deliver the deferred messages whose time passed more than OVERDUE_AFTER ago (their ETA
    task was lost), SWEEP_BATCH at most per run; returns {"sent": n, "failed": n, …}. Each goes
    through ``deliver_message``'s claim: a late ETA task or a second sweep sends nothing twice."""
    now = now or timezone.now()
    overdue = (
        Message.objects.filter(status=Message.Status.DEFERRED, send_after__lte=now - OVERDUE_AFTER)
        .order_by("send_after", "pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    outcome = {}
    for message_id in list(overdue):
        result = deliver_message(message_id)
        outcome[result] = outcome.get(result, 0) + 1
    if outcome:
        logger.info("Overdue messages delivered: %s", outcome)
    return outcome
