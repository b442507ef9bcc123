"""A fixed-window rate limit on Django's cache, for the public pages that take a code.

`hit` counts with `cache.add` (start a window) then `cache.incr`: both are atomic on Redis, so
two workers never both get the last allowed hit. The window starts at the first hit and lasts
`window_seconds`. With the local-memory cache (trial runs without Redis) each process counts
for itself. Keys are hashed: no client address is written to the cache in clear.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

from pdp.middleware import client_ip

RATE_LIMIT_MESSAGE = (
    "Trop de tentatives depuis votre connexion. Patientez une minute avant de réessayer."
)
ACCESS_CODE_WINDOW_SECONDS = 60


def _cache_key(key):
    return "ratelimit:" + hashlib.sha256(key.encode()).hexdigest()


def hit(key, limit, window_seconds):
    """Count one hit on `key`; True if it is within `limit` hits in the current window, False
    if it is refused (the caller shows RATE_LIMIT_MESSAGE, with HTTP status 429)."""
    cache_key = _cache_key(key)
    if cache.add(cache_key, 1, timeout=window_seconds):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # the window ended between add and incr: this hit starts the next
            cache.add(cache_key, 1, timeout=window_seconds)
            count = 1
    return count <= limit


def access_code_lookup_allowed(request):
    """One look-up of an access code from this request's client address (the address axes
    uses: pdp.middleware.client_ip), within ACCESS_CODE_RATE_LIMIT per minute."""
    return hit(
        f"access-code:{client_ip(request)}",
        settings.ACCESS_CODE_RATE_LIMIT,
        ACCESS_CODE_WINDOW_SECONDS,
    )
