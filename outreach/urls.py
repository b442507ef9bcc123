"""URL map of outreach: every page an assuré reaches without an account, and the staff pages
that send them a link. Assembled from each feature's own list."""

from outreach.views_campaign_calls import urlpatterns as campaign_calls_urls
from outreach.views_campaign_funnel import urlpatterns as campaign_funnel_urls
from outreach.views_campaign_letters import urlpatterns as campaign_letters_urls
from outreach.views_campaign_sending import urlpatterns as campaign_sending_urls
from outreach.views_campaigns import urlpatterns as campaign_urls
from outreach.views_public import urlpatterns as public_urls
from outreach.views_staff import urlpatterns as staff_urls
from outreach.views_surveys import urlpatterns as survey_urls
from outreach.views_webinars import urlpatterns as webinar_urls

app_name = "outreach"

urlpatterns = [
    *public_urls,
    *staff_urls,
    *webinar_urls,
    *survey_urls,
    *campaign_urls,
    *campaign_sending_urls,
    *campaign_letters_urls,
    *campaign_calls_urls,
    *campaign_funnel_urls,
]
