"""The site's URLs plus views that fail on purpose, for the error page tests."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.urls import path

from pdp.urls import urlpatterns as site_urlpatterns


def bad_request(request):
    raise SuspiciousOperation("test")


def forbidden(request):
    raise PermissionDenied


def server_error(request):
    raise RuntimeError("test: an unexpected error")


urlpatterns = [
    path("test-erreurs/400/", bad_request),
    path("test-erreurs/403/", forbidden),
    path("test-erreurs/500/", server_error),
    *site_urlpatterns,
]
