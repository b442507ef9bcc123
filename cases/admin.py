"""The admin holds the dispositif catalogue (reference data) and the header of each case.

Case content — évaluation globale, the timeline and its notes, plan d'aide (objectifs, actions),
entretiens, orientations, dispositifs mobilisés and their periods, consents, documents and
closures — is not registered: the « Administrateur » role does not read it, and superusers
(operations) have no need of it in the admin. It is read and changed only in the application,
through the permission-checked views and the services.
"""

from django.contrib import admin

from cases.models import Absence, Accompagnement, CaseShare, DispositifType, Motif, PlageOuverture
from pdp.admin_base import ReadOnlyAdmin, ReferenceDataAdmin


@admin.register(Accompagnement)
class AccompagnementAdmin(ReadOnlyAdmin):
    """The case header only (who, which unit, mission, status, dates): no content inline."""

    list_display = ["assure", "mission", "statut", "referent", "unit", "date_ouverture"]
    list_filter = ["statut", "mission", "unit", "assure__cpam"]
    list_select_related = ["assure", "referent", "unit"]
    search_fields = ["assure__nir", "assure__nom_naissance", "assure__prenoms"]
    fields = [
        "assure",
        "referent",
        "unit",
        "mission",
        "statut",
        "date_ouverture",
        "date_cloture",
        "signalement",
        "created_at",
        "updated_at",
    ]


@admin.register(DispositifType)
class DispositifTypeAdmin(ReferenceDataAdmin):
    list_display = ["label", "code", "phase", "active"]
    list_filter = ["phase", "active"]
    search_fields = ["label", "code"]


@admin.register(CaseShare)
class CaseShareAdmin(ReadOnlyAdmin):
    """Who a case's content is shared with, until when and why: given and revoked on the case
    page (audited there); read-only here."""

    audit_assure_id = "accompagnement.assure_id"
    list_display = ["accompagnement", "user", "reason", "date_debut", "date_fin", "revoked_at"]
    list_filter = ["reason"]
    list_select_related = ["accompagnement__assure", "user"]
    fields = [
        "accompagnement",
        "user",
        "reason",
        "date_debut",
        "date_fin",
        "created_by",
        "created_at",
        "revoked_at",
        "revoked_by",
    ]


@admin.register(Motif)
class MotifAdmin(ReferenceDataAdmin):
    """Why a person books a meeting: its length and booking delays (self-service booking)."""

    list_display = ["label", "duree_minutes", "delai_min_heures", "delai_max_jours", "active"]
    list_filter = ["active"]
    search_fields = ["label"]


class _StaffPlanningAdmin(ReadOnlyAdmin):
    """A staff member's planning: set by the ASS or her manager on the availability page
    (audited there); read-only here, its reads audited, no person's file behind it."""

    audit_assure_id = None
    list_select_related = ["ass"]


@admin.register(PlageOuverture)
class PlageOuvertureAdmin(_StaffPlanningAdmin):
    list_display = ["ass", "weekday", "heure_debut", "heure_fin", "lieu", "premier_jour"]
    list_filter = ["weekday"]
    fields = [
        "ass",
        "weekday",
        "heure_debut",
        "heure_fin",
        "lieu",
        "modes",
        "premier_jour",
        "dernier_jour",
    ]


@admin.register(Absence)
class AbsenceAdmin(_StaffPlanningAdmin):
    list_display = ["ass", "debut", "fin"]
    fields = ["ass", "debut", "fin"]
