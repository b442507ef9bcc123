"""Campaign funnel pages (issue 12; services in `outreach.campaign_funnel`)."""

urlpatterns = []
