from django.contrib import admin

from cases.models import (
    Accompagnement,
    Action,
    CaseEvent,
    CaseShare,
    Cloture,
    Consentement,
    DispositifMobilise,
    DispositifPeriode,
    DispositifType,
    Document,
    Entretien,
    EvaluationGlobale,
    Objectif,
    Orientation,
)

SEARCH_ASSURE = ["accompagnement__assure__nir", "accompagnement__assure__nom_naissance"]


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    fields = ["at", "kind", "summary", "actor"]
    readonly_fields = ["at", "kind", "summary", "actor"]
    can_delete = False


class ClotureInline(admin.TabularInline):
    model = Cloture
    extra = 0
    readonly_fields = ["closed_by", "created_at"]


@admin.register(Accompagnement)
class AccompagnementAdmin(admin.ModelAdmin):
    list_display = ["assure", "mission", "statut", "referent", "unit", "date_ouverture"]
    list_filter = ["statut", "mission", "unit", "assure__cpam"]
    search_fields = ["assure__nir", "assure__nom_naissance", "assure__prenoms"]
    raw_id_fields = ["assure", "referent"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [CaseEventInline, ClotureInline]
    list_select_related = ["assure", "referent", "unit"]


@admin.register(CaseEvent)
class CaseEventAdmin(admin.ModelAdmin):
    list_display = ["at", "accompagnement", "kind", "summary", "actor"]
    list_filter = ["kind"]
    search_fields = SEARCH_ASSURE
    raw_id_fields = ["accompagnement"]
    readonly_fields = ["actor"]


@admin.register(EvaluationGlobale)
class EvaluationGlobaleAdmin(admin.ModelAdmin):
    list_display = ["accompagnement", "version", "niveau_risque", "created_by", "created_at"]
    list_filter = ["niveau_risque"]
    search_fields = SEARCH_ASSURE
    raw_id_fields = ["accompagnement"]
    readonly_fields = ["created_by", "created_at"]


class ActionInline(admin.TabularInline):
    model = Action
    extra = 0


@admin.register(Objectif)
class ObjectifAdmin(admin.ModelAdmin):
    list_display = ["libelle", "accompagnement", "domaine", "echeance", "statut"]
    list_filter = ["domaine", "statut"]
    search_fields = ["libelle", *SEARCH_ASSURE]
    raw_id_fields = ["accompagnement"]
    inlines = [ActionInline]


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ["libelle", "objectif", "porteur", "echeance", "faite"]
    list_filter = ["faite"]
    raw_id_fields = ["objectif"]


@admin.register(Entretien)
class EntretienAdmin(admin.ModelAdmin):
    list_display = ["debut", "accompagnement", "ass", "mode", "statut"]
    list_filter = ["mode", "statut"]
    search_fields = SEARCH_ASSURE
    raw_id_fields = ["accompagnement", "ass"]


@admin.register(Orientation)
class OrientationAdmin(admin.ModelAdmin):
    list_display = ["accompagnement", "partner_kind", "partner", "accord_assure", "statut"]
    list_filter = ["partner_kind", "statut"]
    search_fields = SEARCH_ASSURE
    raw_id_fields = ["accompagnement"]


@admin.register(DispositifType)
class DispositifTypeAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "phase", "active"]
    list_filter = ["phase", "active"]
    search_fields = ["label", "code"]


class DispositifPeriodeInline(admin.TabularInline):
    model = DispositifPeriode
    extra = 0


@admin.register(DispositifMobilise)
class DispositifMobiliseAdmin(admin.ModelAdmin):
    list_display = ["type", "accompagnement", "statut", "date_debut", "date_fin"]
    list_filter = ["type", "statut"]
    search_fields = SEARCH_ASSURE
    raw_id_fields = ["accompagnement"]
    inlines = [DispositifPeriodeInline]


@admin.register(DispositifPeriode)
class DispositifPeriodeAdmin(admin.ModelAdmin):
    list_display = ["dispositif", "date_debut", "date_fin"]
    raw_id_fields = ["dispositif"]


@admin.register(Consentement)
class ConsentementAdmin(admin.ModelAdmin):
    list_display = ["assure", "portee", "date_recueil", "date_revocation", "recorded_by"]
    list_filter = ["portee"]
    search_fields = ["assure__nir", "assure__nom_naissance"]
    raw_id_fields = ["assure"]
    readonly_fields = ["recorded_by"]


@admin.register(Cloture)
class ClotureAdmin(admin.ModelAdmin):
    list_display = ["accompagnement", "outcome", "date_cloture", "closed_by"]
    list_filter = ["outcome"]
    search_fields = SEARCH_ASSURE
    raw_id_fields = ["accompagnement"]
    readonly_fields = ["closed_by", "created_at"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["nom", "accompagnement", "content_type", "taille", "uploaded_by", "uploaded_at"]
    search_fields = ["nom", *SEARCH_ASSURE]
    raw_id_fields = ["accompagnement"]
    readonly_fields = ["uploaded_by", "uploaded_at"]


@admin.register(CaseShare)
class CaseShareAdmin(admin.ModelAdmin):
    """Who a case is shared with: read-only here, given and revoked on the case page."""

    list_display = ["accompagnement", "user", "reason", "date_debut", "date_fin", "revoked_at"]
    list_filter = ["reason"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
