"""Refuse requests carrying a NUL character (U+0000) in their path, query string or form data.

No field of the application may hold one, and PostgreSQL refuses it in any text value: passed on
to a query it would raise an error (HTTP 500) instead of a clear refusal. One check here covers
every page, before any view runs: HTTP 400 with the site's « requête invalide » page.
"""

from django.core.exceptions import BadRequest

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
