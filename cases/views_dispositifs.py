"""Dispositifs mobilised in a case, with the rules of domain §5."""

urlpatterns = []
