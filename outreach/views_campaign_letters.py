"""Campaign letters pages (issue 12; services in `outreach.campaign_letters`)."""

urlpatterns = []
