"""Request and response guards: headers that keep personal data out of caches, the client
address for axes, and the refusal of NUL characters."""

from django.conf import settings
from django.core.exceptions import BadRequest
from django.utils.cache import patch_cache_control


class PrivacyHeadersMiddleware:
    """Every page the application renders may show personal data: none is stored by a browser
    or a proxy (`Cache-Control: no-store, private`), so the back button after a logout or a
    shared workstation's cache shows nothing. Static files are served by whitenoise above this
    middleware and keep their long cache. Also sends the Permissions-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_cache_control(response, no_store=True, private=True)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def client_ip(request):
    """The address axes counts failed logins by (AXES_CLIENT_IP_CALLABLE).

    Without a proxy, REMOTE_ADDR. Behind TRUSTED_PROXY_COUNT proxies, the entry of
    X-Forwarded-For written by the outermost of them: the entries before it come from the
    client and may be forged, so they are never trusted.
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")


# Refuse requests carrying a NUL character (U+0000) in their path, query string or form data.
# No field of the application may hold one, and PostgreSQL refuses it in any text value: passed
# on to a query it would raise an error (HTTP 500) instead of a clear refusal. One check here
# covers every page, before any view runs: HTTP 400 with the site's « requête invalide » page.
NUL = "\x00"


class RejectNulBytesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            NUL in request.path
            or _has_nul(request.GET)
            or (request.method == "POST" and _has_nul(request.POST))
        ):
            raise BadRequest("Caractère nul dans la requête.")
        return self.get_response(request)


def _has_nul(querydict):
    return any(NUL in key or any(NUL in v for v in values) for key, values in querydict.lists())
