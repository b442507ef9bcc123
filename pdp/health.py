"""The load balancer's health check, `/sante/` (README « Production »).

No login, no session, nothing about anyone: it answers 200 `{"status": "ok", …}` when the
database answers `SELECT 1` and Redis answers PING, each within HEALTH_TIMEOUT seconds, and
503 naming the part that failed otherwise (the error itself goes to the log, not to the
probe). Outside the request's transaction (ATOMIC_REQUESTS would open the connection before
the view could catch its failure); gunicorn leaves it out of the access log
(`pdp.gunicorn_logging`)."""

import logging

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from pdp.two_factor import otp_not_required

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT = 2  # seconds, for each part
_redis = None


def _database():
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL statement_timeout = '{HEALTH_TIMEOUT}s'")
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def _redis_client():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=HEALTH_TIMEOUT,
            socket_timeout=HEALTH_TIMEOUT,
        )
    return _redis


def _check(name, probe):
    try:
        return "ok" if probe() else "error"
    except Exception:  # any failure is the answer; the details go to the log only
        logger.warning("health check: %s unreachable", name, exc_info=True)
        return "error"


def checks():
    """{part: "ok" | "error"}: the database, and Redis when one is configured."""
    out = {"database": _check("database", _database)}
    if settings.REDIS_URL:
        out["redis"] = _check("redis", lambda: _redis_client().ping())
    return out


@login_not_required
@otp_not_required
@transaction.non_atomic_requests
@require_GET
def health(request):
    parts = checks()
    healthy = all(state == "ok" for state in parts.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **parts}, status=200 if healthy else 503
    )
