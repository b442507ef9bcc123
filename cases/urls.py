"""URL map of the cases app, assembled from each feature's own list."""

from cases.views import urlpatterns as case_urls
from cases.views_access import urlpatterns as access_urls
from cases.views_activity import urlpatterns as activity_urls
from cases.views_availability import urlpatterns as availability_urls
from cases.views_dispositifs import urlpatterns as dispositif_urls

app_name = "cases"

urlpatterns = [*case_urls, *activity_urls, *dispositif_urls, *availability_urls, *access_urls]
