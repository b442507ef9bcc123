"""CPAM extract upload and import history pages."""

urlpatterns = []
