"""Campaign sending pages (issue 12; services in `outreach.campaign_sending`)."""

urlpatterns = []
