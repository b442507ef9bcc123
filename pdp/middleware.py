"""Response headers that keep personal data out of caches."""

from django.conf import settings
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

