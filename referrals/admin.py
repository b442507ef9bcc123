from django.contrib import admin

from referrals.models import (
    ArretTravail,
    Assure,
    ContactAttempt,
    CpamImport,
    CpamImportCaisse,
    ImportRejection,
    Signalement,
    SignalementEvent,
)

AUDIT_FIELDS = ("created_at", "updated_at")


class ArretInline(admin.TabularInline):
    model = ArretTravail
    extra = 0
    fields = [
        "type_arret",
        "date_debut",
        "date_fin_prevue",
        "date_fin_reelle",
        "montant_ij",
        "cpam",
    ]


class SignalementInline(admin.TabularInline):
    model = Signalement
    extra = 0
    fk_name = "assure"
    fields = ["service", "origine", "date_signalement", "statut", "unit", "assigned_to"]
    raw_id_fields = ["assigned_to"]
    show_change_link = True


@admin.register(Assure)
class AssureAdmin(admin.ModelAdmin):
    list_display = ["nom_naissance", "prenoms", "nir", "date_naissance", "code_postal", "cpam"]
    list_filter = ["cpam", "regime", "situation_emploi"]
    search_fields = ["nir", "nom_naissance", "nom_usage", "prenoms"]
    readonly_fields = AUDIT_FIELDS
    inlines = [ArretInline, SignalementInline]


@admin.register(ArretTravail)
class ArretTravailAdmin(admin.ModelAdmin):
    list_display = [
        "assure",
        "type_arret",
        "date_debut",
        "date_fin_prevue",
        "date_fin_reelle",
        "cpam",
    ]
    list_filter = ["type_arret", "cpam"]
    search_fields = ["assure__nir", "assure__nom_naissance", "assure__prenoms"]
    raw_id_fields = ["assure", "last_import"]
    readonly_fields = AUDIT_FIELDS
    date_hierarchy = "date_debut"


class SignalementEventInline(admin.TabularInline):
    model = SignalementEvent
    extra = 0
    readonly_fields = ["at", "actor", "kind", "old_value", "new_value", "reason"]
    can_delete = False


class ContactAttemptInline(admin.TabularInline):
    model = ContactAttempt
    extra = 0
    readonly_fields = ["user"]


@admin.register(Signalement)
class SignalementAdmin(admin.ModelAdmin):
    list_display = [
        "assure",
        "service",
        "origine",
        "statut",
        "unit",
        "assigned_to",
        "date_signalement",
        "date_echeance",
    ]
    list_filter = ["service", "statut", "origine", "unit", "assure__cpam"]
    search_fields = ["assure__nir", "assure__nom_naissance", "assure__prenoms"]
    raw_id_fields = ["assure", "arret", "assigned_to", "forwarded_from", "accompagnement"]
    readonly_fields = ["created_by", *AUDIT_FIELDS]
    inlines = [ContactAttemptInline, SignalementEventInline]
    list_select_related = ["assure", "unit", "assigned_to"]


@admin.register(SignalementEvent)
class SignalementEventAdmin(admin.ModelAdmin):
    list_display = ["at", "signalement", "kind", "old_value", "new_value", "actor"]
    list_filter = ["kind"]
    raw_id_fields = ["signalement"]
    readonly_fields = ["actor"]


@admin.register(ContactAttempt)
class ContactAttemptAdmin(admin.ModelAdmin):
    list_display = ["at", "signalement", "canal", "resultat", "user"]
    list_filter = ["canal", "resultat"]
    raw_id_fields = ["signalement"]
    readonly_fields = ["user"]


class ImportRejectionInline(admin.TabularInline):
    model = ImportRejection
    extra = 0
    readonly_fields = ["line_number", "reason", "raw_line"]
    can_delete = False


class CpamImportCaisseInline(admin.TabularInline):
    model = CpamImportCaisse
    extra = 0
    readonly_fields = ["cpam", "line_count"]
    can_delete = False


@admin.register(CpamImport)
class CpamImportAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "extract_date",
        "file_name",
        "cpam",
        "user",
        "status",
        "rows_read",
        "rows_created",
        "rows_updated",
        "rows_ignored_older",
        "rows_rejected",
    ]
    list_filter = ["status", "cpam"]
    search_fields = ["file_name"]
    readonly_fields = ["user", "created_at"]
    inlines = [CpamImportCaisseInline, ImportRejectionInline]


@admin.register(ImportRejection)
class ImportRejectionAdmin(admin.ModelAdmin):
    list_display = ["cpam_import", "line_number", "reason"]
    raw_id_fields = ["cpam_import"]


@admin.register(CpamImportCaisse)
class CpamImportCaisseAdmin(admin.ModelAdmin):
    list_display = ["cpam_import", "cpam", "line_count"]
    list_filter = ["cpam"]
    raw_id_fields = ["cpam_import"]
