"""Campaign calls pages (issue 12; services in `outreach.campaign_calls`)."""

urlpatterns = []
