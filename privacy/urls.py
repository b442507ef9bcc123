"""Pages of data protection (mounted under /protection-donnees/)."""

app_name = "privacy"

urlpatterns: list = []
