"""SMS backends, shaped like Django's e-mail backends: the setting ``SMS_BACKEND`` names the
class (a dotted path), ``get_connection()`` builds it, ``send_messages()`` sends.

- ``ConsoleBackend`` (default): writes each SMS to stdout, codes in clear (development only).
- ``FileBackend``: one file per SMS in the directory ``SMS_FILE_PATH``.
- ``LocmemBackend``: appends to ``pdp.messaging.outbox`` (the test settings use it).
- ``HttpBackend``: a provider's HTTP API — JSON POSTed to ``SMS_API_URL`` with the key
  ``SMS_API_KEY`` as a Bearer token; the provider's message id comes back.

``send(sms)`` returns the provider's id of the message and raises ``SmsError`` when the
message was not accepted.
"""

import json
import logging
import sys
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger("pdp.messaging")

DEFAULT_BACKEND = "pdp.messaging.backends.ConsoleBackend"
HTTP_TIMEOUT_SECONDS = 10


class SmsError(Exception):
    """The SMS was not accepted (provider refusal, network error, bad configuration)."""


@dataclass(frozen=True)
class Sms:
    to: str  # E.164, e.g. +33612345678
    body: str  # GSM-7 text, secrets in clear
    sender: str = ""


def get_connection(backend=None, **kwargs):
    """An instance of the SMS backend ``backend`` (dotted path), or of ``SMS_BACKEND``."""
    path = backend or getattr(settings, "SMS_BACKEND", "") or DEFAULT_BACKEND
    return import_string(path)(**kwargs)


class BaseSmsBackend:
    def __init__(self, fail_silently=False, **kwargs):
        self.fail_silently = fail_silently

    def send(self, sms: Sms) -> str:
        raise NotImplementedError

    def send_messages(self, messages) -> int:
        """Send each of ``messages``; the number sent (like Django's e-mail backends)."""
        sent = 0
        for sms in messages:
            try:
                self.send(sms)
            except SmsError:
                if not self.fail_silently:
                    raise
            else:
                sent += 1
        return sent


class ConsoleBackend(BaseSmsBackend):
    def __init__(self, *args, stream=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send(self, sms):
        provider_id = f"console-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self.stream.write(
                f"SMS {provider_id} à {sms.to} (expéditeur {sms.sender or '—'})\n"
                f"{sms.body}\n{'-' * 79}\n"
            )
            self.stream.flush()
        return provider_id


class FileBackend(BaseSmsBackend):
    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        path = file_path or getattr(settings, "SMS_FILE_PATH", None)
        if not path:
            raise ImproperlyConfigured("FileBackend : SMS_FILE_PATH doit nommer un dossier.")
        self.file_path = Path(path)
        self.file_path.mkdir(parents=True, exist_ok=True)

    def send(self, sms):
        provider_id = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}"
        (self.file_path / f"{provider_id}.txt").write_text(
            f"To: {sms.to}\nFrom: {sms.sender}\n\n{sms.body}\n", encoding="utf-8"
        )
        return provider_id


class LocmemBackend(BaseSmsBackend):
    """Keeps the messages in ``pdp.messaging.outbox`` (a list of ``Sms``)."""

    def send(self, sms):
        from pdp import messaging

        messaging.outbox.append(sms)
        return f"locmem-{len(messaging.outbox)}"


class HttpBackend(BaseSmsBackend):
    """A provider's JSON API.

    Request: ``POST SMS_API_URL`` with ``Authorization: Bearer SMS_API_KEY`` and the body
    ``{"to": "+33612345678", "sender": SMS_SENDER, "text": "…"}``. Any 2xx answer is an
    acceptance; its JSON body's ``id`` (or ``message_id``) is the provider's id ("" if it has
    none). Anything else, a timeout (10 s) or a network error raises ``SmsError``. Adapting
    another provider means subclassing and overriding ``payload()`` and ``provider_id()``.
    """

    def __init__(self, *args, url=None, api_key=None, sender=None, timeout=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.url = url or getattr(settings, "SMS_API_URL", "")
        self.api_key = api_key or getattr(settings, "SMS_API_KEY", "")
        self.sender = sender if sender is not None else getattr(settings, "SMS_SENDER", "")
        self.timeout = timeout or HTTP_TIMEOUT_SECONDS
        if not self.url or not self.api_key:
            raise ImproperlyConfigured("HttpBackend : SMS_API_URL et SMS_API_KEY sont requis.")

    def payload(self, sms):
        return {"to": sms.to, "sender": sms.sender or self.sender, "text": sms.body}

    def provider_id(self, answer):
        return str(answer.get("id") or answer.get("message_id") or "")

    def send(self, sms):
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.payload(sms)).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise SmsError(
                f"Le fournisseur SMS a refusé le message (HTTP {error.code})."
            ) from error
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SmsError(f"Fournisseur SMS injoignable : {reason}.") from error
        # A 2xx is an acceptance even without a readable id: raising here would invite someone
        # to send the SMS a second time.
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = None
        provider_id = self.provider_id(answer) if isinstance(answer, dict) else ""
        if not provider_id:
            logger.warning("SMS accepted by the provider without a message id")
        return provider_id
