"""Staff pages of collective actions (filled in by the actions work)."""

urlpatterns = []
