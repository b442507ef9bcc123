"""Triage pages: inboxes, referral detail, contact attempts, transitions."""

urlpatterns = []
