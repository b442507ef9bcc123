"""URL map of collective actions, assembled from each feature's own list."""

from collective.views import urlpatterns as action_urls
from collective.views_participants import urlpatterns as participant_urls

app_name = "collective"

urlpatterns = [*action_urls, *participant_urls]
