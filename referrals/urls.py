"""URL map of the referrals app, assembled from each feature's own list."""

from referrals.views import urlpatterns as triage_urls
from referrals.views_import import urlpatterns as import_urls

app_name = "referrals"

urlpatterns = [*triage_urls, *import_urls]
