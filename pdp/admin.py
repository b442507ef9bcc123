from django.apps import apps
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import ReadOnlyPasswordHashWidget
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html_join
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdp import two_factor
from pdp.admin_base import (
    MASKED,
    ReadOnlyAdmin,
    ReferenceDataAdmin,
    ReferenceDataInline,
    is_administrator,
)
from pdp.audit import audit
from pdp.audit import object_type_label as _object_type_label
from pdp.forms import FrenchChoicesMixin
from pdp.models import (
    AccessCode,
    AuditLog,
    CpamOffice,
    Message,
    Partner,
    PartnerContact,
    Region,
    Unit,
    UnitTerritory,
    User,
)

admin.site.site_header = "PDP – administration"
admin.site.site_title = "Administration PDP"
admin.site.index_title = "Données de référence et utilisateurs"

# The admin is for administrators only, whatever staff flag another role may carry.
admin.site.has_permission = lambda request: is_administrator(request.user)

# Rights come from the role (pdp.models.Role); Django groups and permissions are not used.
admin.site.unregister(Group)
# django-otp's device pages would show the secrets: a user's second factor is shown on their
# page and reset by an action (pdp.two_factor.two_factor_reset), never edited.
admin.site.unregister([TOTPDevice, StaticDevice])


class UnitTerritoryInline(ReferenceDataInline):
    model = UnitTerritory


@admin.register(Region)
class RegionAdmin(ReferenceDataAdmin):
    list_display = [
        "code",
        "name",
        "medical_threshold_days",
        "social_threshold_days",
        "first_contact_deadline_day",
    ]
    search_fields = ["code", "name"]


@admin.register(Unit)
class UnitAdmin(ReferenceDataAdmin):
    list_display = ["code", "name", "region", "telephone", "auto_assign"]
    list_filter = ["region", "auto_assign"]
    list_select_related = ["region"]
    search_fields = ["code", "name"]
    inlines = [UnitTerritoryInline]


@admin.register(UnitTerritory)
class UnitTerritoryAdmin(ReferenceDataAdmin):
    list_display = ["prefix", "unit"]
    list_filter = ["unit"]
    list_select_related = ["unit"]
    search_fields = ["prefix"]


@admin.register(CpamOffice)
class CpamOfficeAdmin(ReferenceDataAdmin):
    list_display = ["code", "name", "region"]
    list_filter = ["region"]
    list_select_related = ["region"]
    search_fields = ["code", "name"]


class PartnerContactInline(ReferenceDataInline):
    model = PartnerContact


@admin.register(Partner)
class PartnerAdmin(ReferenceDataAdmin):
    list_display = ["name", "kind", "region", "phone", "email"]
    list_filter = ["kind", "region"]
    list_select_related = ["region"]
    search_fields = ["name"]
    inlines = [PartnerContactInline]


@admin.register(PartnerContact)
class PartnerContactAdmin(ReferenceDataAdmin):
    list_display = ["name", "function", "partner", "email"]
    list_select_related = ["partner"]
    search_fields = ["name", "partner__name"]


class PasswordHashWidget(ReadOnlyPasswordHashWidget):
    """Django's summary of a password hash (« algorithme : pbkdf2_sha256 »), with the French
    non-breaking space before each colon that its template leaves out."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        for entry in context["summary"]:
            if entry.get("value"):
                entry["label"] = f"{entry['label']}\u00a0"
        return context


class UserChangeForm(FrenchChoicesMixin, BaseUserChangeForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "password" in self.fields:
            self.fields["password"].widget = PasswordHashWidget()


@admin.register(User)
class UserAdmin(ReferenceDataAdmin, BaseUserAdmin):
    """Accounts and roles. Only a superuser makes or changes a superuser (operations)."""

    form = UserChangeForm

    list_display = ["username", "last_name", "first_name", "role", "unit", "region", "is_active"]
    list_filter = ["role", "unit", "region", "is_active", "is_staff"]
    list_select_related = ["unit", "region"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Identité", {"fields": ["first_name", "last_name", "email"]}),
        ("Rôle et rattachement", {"fields": ["role", "unit", "region"]}),
        ("Accès", {"fields": ["is_active", "is_staff", "is_superuser", "two_factor_status"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        *BaseUserAdmin.add_fieldsets,
        (
            "Identité et rôle",
            {"fields": ["first_name", "last_name", "email", "role", "unit", "region", "is_staff"]},
        ),
    ]
    readonly_fields = ["last_login", "date_joined", "two_factor_status"]
    actions = ["reset_two_factor"]

    @admin.display(description="double authentification")
    def two_factor_status(self, obj):
        if obj.pk is None or two_factor.totp_device(obj) is None:
            return "Non activée"
        return f"Activée ({two_factor.recovery_codes_left(obj)} codes de secours restants)"

    @admin.action(description="Réinitialiser la double authentification (téléphone perdu)")
    def reset_two_factor(self, request, queryset):
        # A handful of selected accounts: one audited service call each.
        if not request.user.is_superuser:
            queryset = queryset.filter(is_superuser=False)  # as for their other changes
        users = list(queryset)
        for user in users:
            two_factor.two_factor_reset(user=user, acting_user=request.user)
        self.message_user(
            request,
            f"Double authentification réinitialisée pour {len(users)} compte(s) : "
            "chacun configurera une nouvelle application à sa prochaine connexion.",
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly.append("is_superuser")
        return readonly

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        target = self.get_object(request, unquote(id))
        before = target.password if target is not None else None
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and target is not None:
            target.refresh_from_db(fields=["password"])
            if target.password != before:
                audit(
                    user=request.user,
                    action=AuditLog.Action.UPDATE,
                    obj=target,
                    changes={"password": [MASKED, MASKED]},
                )
        return response


class ObjectTypeFilter(admin.SimpleListFilter):
    title = "type d'objet"
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        # From the models, not from the log: a DISTINCT over the whole log would be slow.
        labels = {
            model._meta.label_lower: model._meta.verbose_name
            for label in ("pdp", "referrals", "cases")
            for model in apps.get_app_config(label).get_models()
        }
        return sorted(labels.items(), key=lambda item: item[1])

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(object_type=self.value())
        return queryset


def _reference_model(object_type):
    """The model of a log row if it is reference data (edited in this admin), else None."""
    try:
        model = apps.get_model(object_type)
        model_admin = admin.site.get_model_admin(model)
    except (LookupError, ValueError, NotRegistered):
        return None
    return model if isinstance(model_admin, ReferenceDataAdmin) else None


def _field_label(model, name):
    try:
        return model._meta.get_field(name).verbose_name
    except FieldDoesNotExist:
        return "mot de passe" if name == "password" else name


def _shown(old_new, index):
    value = old_new[index] if isinstance(old_new, list) and len(old_new) == 2 else None
    return "—" if value in (None, "", []) else value


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """The log of reads and changes. The changed values of a personal record are not shown
    here: they may quote case content, which the « Administrateur » role does not read."""

    list_display = ["at", "user", "action", "object_type_label", "object_id", "assure_id"]
    audit_list_reads = False  # its change page logs a read; its list would log itself
    list_filter = ["action", ObjectTypeFilter]
    list_select_related = ["user"]
    search_fields = ["object_id", "user__username"]
    date_hierarchy = "at"
    show_full_result_count = False
    fields = [
        "at",
        "user",
        "action",
        "object_type_label",
        "object_id",
        "assure_id",
        "changes_shown",
    ]
    readonly_fields = ["object_type_label", "changes_shown"]

    @admin.display(description="type d'objet", ordering="object_type")
    def object_type_label(self, obj):
        return _object_type_label(obj.object_type)

    @admin.display(description="changements")
    def changes_shown(self, obj):
        model = _reference_model(obj.object_type)
        if model is None:
            return "Non affichés\u00a0: dossier d'une personne."
        if not obj.changes:
            return "—"
        return format_html_join(
            "\n",
            "<div><strong>{}</strong>\u00a0: {} → {}</div>",
            (
                (_field_label(model, name), _shown(old_new, 0), _shown(old_new, 1))
                for name, old_new in obj.changes.items()
            ),
        )


@admin.register(AccessCode)
class AccessCodeAdmin(ReadOnlyAdmin):
    """Codes sent to people without an account: who, for what, their state. Never the code,
    which is not stored, nor its digest, of no use to a reader."""

    list_display = [
        "created_at",
        "purpose",
        "assure_id",
        "object_type_label",
        "object_id",
        "expires_at",
        "used_at",
        "revoked_at",
        "locked_at",
    ]
    list_filter = ["purpose"]
    search_fields = ["=assure_id", "=object_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "purpose",
        "assure_id",
        "object_type_label",
        "object_id",
        "created_at",
        "created_by",
        "expires_at",
        "used_at",
        "revoked_at",
        "failed_checks",
        "locked_at",
    ]
    readonly_fields = ["object_type_label", "created_at", "failed_checks"]

    @admin.display(description="type d'objet", ordering="object_type")
    def object_type_label(self, obj):
        return _object_type_label(obj.object_type) if obj.object_type else "—"


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The log of SMS and e-mails sent to people (pdp.messaging). The text is not shown: it is
    written about a person's meeting or file, which the « Administrateur » role does not read
    (and its access codes are stored masked anyway)."""

    list_display = [
        "created_at",
        "channel",
        "template",
        "recipient",
        "status",
        "segments",
        "sent_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["recipient", "provider_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "created_at",
        "channel",
        "template",
        "recipient",
        "assure_id",
        "object_type",
        "object_id",
        "status",
        "send_after",
        "sent_at",
        "provider_id",
        "segments",
        "error",
    ]
    readonly_fields = ["created_at"]
