"""The page benchmark's URLconf (indicators.bench_settings only): the project's URLs and a
trivial view, the floor every page is compared with. It goes through the whole middleware stack
(session, authentication, two-factor, idle timeout, login required) and writes nothing."""

from django.http import HttpResponse
from django.urls import include, path

TRIVIAL_PATH = "/__bench__/trivial/"
TRIVIAL_BODY = "banc d'essai : vue triviale"


def trivial(request):
    return HttpResponse(TRIVIAL_BODY)


urlpatterns = [
    path(TRIVIAL_PATH.strip("/") + "/", trivial),
    path("", include("pdp.urls")),
]
