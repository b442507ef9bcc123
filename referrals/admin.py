"""Personal records of the referral side: read-only in the admin (pdp.admin_base.ReadOnlyAdmin).

Their changes go through referrals/services.py and referrals/importer/, which write an event
and an audit row. Contact attempt notes are free text about the person: not shown here.
"""

from django.contrib import admin

from pdp.admin_base import ReadOnlyAdmin, ReadOnlyInline
from referrals.models import (
    ArretTravail,
    Assure,
    ContactAttempt,
    CpamImport,
    CpamImportCaisse,
    DetectionRun,
    ImportRejection,
    Signalement,
    SignalementEvent,
)


class ArretInline(ReadOnlyInline):
    model = ArretTravail
    fields = [
        "type_arret",
        "date_debut",
        "date_fin_prevue",
        "date_fin_reelle",
        "montant_ij",
        "cpam",
    ]
    show_change_link = True


class SignalementInline(ReadOnlyInline):
    model = Signalement
    fk_name = "assure"
    fields = ["service", "origine", "date_signalement", "statut", "region", "unit", "assigned_to"]
    show_change_link = True


@admin.register(Assure)
class AssureAdmin(ReadOnlyAdmin):
    list_display = ["nom_naissance", "prenoms", "nir", "date_naissance", "code_postal", "cpam"]
    list_filter = ["cpam", "regime", "situation_emploi"]
    list_select_related = ["cpam"]
    search_fields = ["nir", "nom_naissance", "nom_usage", "prenoms"]
    inlines = [ArretInline, SignalementInline]
    audit_assure_id = "pk"


@admin.register(ArretTravail)
class ArretTravailAdmin(ReadOnlyAdmin):
    list_display = [
        "assure",
        "type_arret",
        "date_debut",
        "date_fin_prevue",
        "date_fin_reelle",
        "cpam",
    ]
    list_filter = ["type_arret", "cpam"]
    list_select_related = ["assure", "cpam"]
    search_fields = ["assure__nir", "assure__nom_naissance", "assure__prenoms"]
    date_hierarchy = "date_debut"


class SignalementEventInline(ReadOnlyInline):
    model = SignalementEvent
    fields = ["at", "actor", "kind", "old_value", "new_value", "reason"]


class ContactAttemptInline(ReadOnlyInline):
    model = ContactAttempt
    fields = ["at", "canal", "resultat", "user"]


@admin.register(Signalement)
class SignalementAdmin(ReadOnlyAdmin):
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
    list_select_related = ["assure", "unit", "assigned_to"]
    search_fields = ["assure__nir", "assure__nom_naissance", "assure__prenoms"]
    inlines = [ContactAttemptInline, SignalementEventInline]


@admin.register(SignalementEvent)
class SignalementEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "signalement", "kind", "old_value", "new_value", "actor"]
    list_filter = ["kind"]
    list_select_related = ["signalement__assure", "actor"]
    audit_assure_id = "signalement.assure_id"


@admin.register(ContactAttempt)
class ContactAttemptAdmin(ReadOnlyAdmin):
    list_display = ["at", "signalement", "canal", "resultat", "user"]
    list_filter = ["canal", "resultat"]
    list_select_related = ["signalement__assure", "user"]
    exclude = ["note"]
    audit_assure_id = "signalement.assure_id"


class ImportRejectionInline(ReadOnlyInline):
    model = ImportRejection
    fields = ["line_number", "reason", "raw_line"]


class CpamImportCaisseInline(ReadOnlyInline):
    model = CpamImportCaisse
    fields = ["cpam", "line_count"]


@admin.register(CpamImport)
class CpamImportAdmin(ReadOnlyAdmin):
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
    list_select_related = ["cpam", "user"]
    search_fields = ["file_name"]
    inlines = [CpamImportCaisseInline, ImportRejectionInline]
    audit_assure_id = None  # an extract is about many people


@admin.register(ImportRejection)
class ImportRejectionAdmin(ReadOnlyAdmin):
    list_display = ["cpam_import", "line_number", "reason"]
    list_select_related = ["cpam_import"]
    audit_assure_id = None  # a rejected line is not linked to a stored person


@admin.register(DetectionRun)
class DetectionRunAdmin(ReadOnlyAdmin):
    """Read-only: runs are written by the detection job only."""

    list_display = [
        "started_at",
        "day",
        "region",
        "launched_by",
        "status",
        "duree",
        "arrets_examines",
        "medical",
        "social",
        "attribues_auto",
        "a_repartir",
        "sans_cpam",
    ]
    list_filter = ["status", "region"]
    list_select_related = ["region", "launched_by"]
    date_hierarchy = "started_at"
    audit_assure_id = None  # a run concerns a region, no person

    @admin.display(description="durée")
    def duree(self, run):
        return run.duration


@admin.register(CpamImportCaisse)
class CpamImportCaisseAdmin(ReadOnlyAdmin):
    list_display = ["cpam_import", "cpam", "line_count"]
    list_filter = ["cpam"]
    list_select_related = ["cpam_import", "cpam"]
    audit_assure_id = None  # a count of lines per caisse, no person
