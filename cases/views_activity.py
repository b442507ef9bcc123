"""Dashboard, search, assuré page, agenda, entretiens, documents."""

urlpatterns = []
