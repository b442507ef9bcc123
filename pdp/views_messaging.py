"""The SMS provider's delivery reports endpoint (issue 12, item 7; rules in
``pdp.messaging.reports``).

``POST /messagerie/accuses/``, no login, no CSRF token: the provider's server calls it. The
body is JSON, one report ``{"id": "<provider id>", "status": "delivered", "at":
"2027-03-01T10:00:00Z"}`` or a list of them (``MAX_REPORTS`` at most); the header
``X-PDP-Signature: sha256=<hex>`` is the HMAC-SHA256 of the raw body under
``SMS_REPORT_SECRET``. Answers (JSON): 200 ``{"recorded": n, "ignored": n, "unknown": n}``;
400 bad JSON or a report without its fields (nothing recorded); 403 bad signature (429 after
``FAILURES_PER_MINUTE`` of them from one address); 503 when no secret is configured.
"""

import datetime
import hashlib
import hmac
import json

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pdp.messaging import reports
from pdp.middleware import client_ip
from pdp.ratelimit import hit

SIGNATURE_HEADER = "X-PDP-Signature"
MAX_REPORTS = 1000
FAILURES_PER_MINUTE = 20
FIELD_MAX_LENGTH = {"id": reports.PROVIDER_ID_MAX_LENGTH, "status": 40, "at": 64}


class BadReport(ValueError):
    """A body that is not a report or a list of reports (message in French)."""


def _error(message, status):
    return JsonResponse({"erreur": message}, status=status)


def _signed(request, secret):
    given = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _text(item, field):
    value = item.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and field == "id":
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadReport(f"Champ «\u00a0{field}\u00a0» manquant ou vide.")
    if len(value) > FIELD_MAX_LENGTH[field] or "\x00" in value:
        raise BadReport(f"Champ «\u00a0{field}\u00a0» invalide.")
    return value.strip()


def _at(item):
    text = _text(item, "at")
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise BadReport("Champ «\u00a0at\u00a0» invalide\u00a0: date ISO 8601 attendue.") from None
    if timezone.is_naive(at):  # a provider without an offset speaks UTC
        at = at.replace(tzinfo=datetime.UTC)
    try:
        return at.astimezone(datetime.UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 is beyond the year 9999 in UTC
        raise BadReport("Champ «\u00a0at\u00a0» invalide\u00a0: date hors limites.") from None


def parse_reports(body):
    """The ``reports.Report`` of a request body; raises ``BadReport``."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadReport("Corps JSON invalide.") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BadReport("Aucun accusé dans la requête.")
    if len(items) > MAX_REPORTS:
        raise BadReport(f"Trop d'accusés dans une requête ({MAX_REPORTS} au plus).")
    parsed = []
    for item in items:
        if not isinstance(item, dict):
            raise BadReport("Chaque accusé est un objet JSON {id, status, at}.")
        parsed.append(
            reports.Report(
                provider_id=_text(item, "id"), status=_text(item, "status"), at=_at(item)
            )
        )
    return parsed


@csrf_exempt
@login_not_required
@never_cache
@require_POST
def delivery_reports(request):
    secret = settings.SMS_REPORT_SECRET
    if not secret:
        return _error("Accusés de réception non configurés.", 503)
    if not _signed(request, secret):
        if not hit(f"sms-reports:{client_ip(request)}", FAILURES_PER_MINUTE, 60):
            return _error("Trop de requêtes mal signées\u00a0: réessayez dans une minute.", 429)
        return _error("Signature invalide.", 403)
    try:
        parsed = parse_reports(request.body)
    except BadReport as exc:
        return _error(str(exc), 400)
    return JsonResponse(reports.delivery_reports_record(reports=parsed))


urlpatterns = [
    path("messagerie/accuses/", delivery_reports, name="delivery_reports"),
]
