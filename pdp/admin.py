from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from pdp.models import (
    AuditLog,
    CpamOffice,
    Partner,
    PartnerContact,
    Region,
    Role,
    Unit,
    UnitTerritory,
    User,
)

admin.site.site_header = "PDP – administration"
admin.site.site_title = "PDP administration"
admin.site.index_title = "Données de référence et utilisateurs"


def _admin_only(request):
    user = request.user
    return user.is_active and user.is_staff and (user.is_superuser or user.role == Role.ADMIN)


# The admin is for administrators only, whatever staff flag another role may carry.
admin.site.has_permission = _admin_only


class UnitTerritoryInline(admin.TabularInline):
    model = UnitTerritory
    extra = 1


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "medical_threshold_days",
        "social_threshold_days",
        "first_contact_deadline_day",
    ]
    search_fields = ["code", "name"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region", "auto_assign"]
    list_filter = ["region", "auto_assign"]
    search_fields = ["code", "name"]
    inlines = [UnitTerritoryInline]


@admin.register(UnitTerritory)
class UnitTerritoryAdmin(admin.ModelAdmin):
    list_display = ["prefix", "unit"]
    list_filter = ["unit"]
    search_fields = ["prefix"]


@admin.register(CpamOffice)
class CpamOfficeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region"]
    list_filter = ["region"]
    search_fields = ["code", "name"]


class PartnerContactInline(admin.TabularInline):
    model = PartnerContact
    extra = 1


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "region", "phone", "email"]
    list_filter = ["kind", "region"]
    search_fields = ["name"]
    inlines = [PartnerContactInline]


@admin.register(PartnerContact)
class PartnerContactAdmin(admin.ModelAdmin):
    list_display = ["name", "function", "partner", "email"]
    search_fields = ["name", "partner__name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "last_name", "first_name", "role", "unit", "region", "is_active"]
    list_filter = ["role", "unit", "region", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (("Rôle", {"fields": ("role", "unit", "region")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        ("Rôle", {"fields": ("first_name", "last_name", "role", "unit", "region")}),
    )


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "action", "object_type", "object_id", "assure_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "user__username"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
