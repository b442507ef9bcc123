"""URL map of the cellule PDP, assembled from each feature's own list."""

from coordination.views_home import urlpatterns as home_urls
from coordination.views_minutes import urlpatterns as minutes_urls
from coordination.views_reunion import urlpatterns as reunion_urls
from coordination.views_saisine import urlpatterns as saisine_urls

app_name = "coordination"

urlpatterns = [*home_urls, *reunion_urls, *saisine_urls, *minutes_urls]
