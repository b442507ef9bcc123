"""Staff pages of an action's participants and attendance (filled in by the participants work)."""

urlpatterns = []
