"""Reference data of the cellule PDP: the instances (type, territory, coordinators, quorum
rule), their members, and the pick list of decisions. Everything a meeting holds — situations
and their fiches, agendas, attendance, decisions, actions, minutes — is case content: not in
the admin, only in the application's permission-checked pages."""

from django.contrib import admin

from coordination.models import Instance, MembreInstance, TypeDecision
from pdp.admin_base import ReferenceDataAdmin


@admin.register(Instance)
class InstanceAdmin(ReferenceDataAdmin):
    list_display = ["nom", "type", "region", "periodicite", "quorum_organisations", "actif"]
    list_filter = ["type", "region", "actif"]
    search_fields = ["nom"]
    filter_horizontal = ["units", "coordinateurs"]


@admin.register(MembreInstance)
class MembreInstanceAdmin(ReferenceDataAdmin):
    list_display = ["instance", "user", "contact", "organisation", "date_debut", "date_fin"]
    list_filter = ["instance", "organisation"]
    list_select_related = ["instance", "user", "contact"]
    autocomplete_fields = []
    raw_id_fields = ["user", "contact"]


@admin.register(TypeDecision)
class TypeDecisionAdmin(ReferenceDataAdmin):
    list_display = ["libelle", "code", "ordre", "termine_suivi", "a_representer", "actif"]
    list_filter = ["actif"]
    search_fields = ["libelle", "code"]
