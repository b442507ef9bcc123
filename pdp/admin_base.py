"""Building blocks of the Django admin, which is for reference data and users only.

- Access goes by role, not by Django's model permissions: the admin is open to active staff
  users with the « Administrateur » role and to superusers (operations), and nobody else.
- `ReferenceDataAdmin`: editable; every add, change and delete (inline rows and bulk deletes
  included) writes an audit row with the changed fields, old → new.
- `ReadOnlyAdmin` / `ReadOnlyInline`: personal records. No add, change, delete or bulk action
  (their changes go through the services, which write an event and an audit row); every read
  of a record's page writes a « consultation » audit row.
- Case content (évaluation, timeline and notes, plan d'aide, entretiens, orientations,
  dispositifs, consents, documents, closures) is not registered at all.
- French throughout: page titles with elision (« Ajout d'unité »), « Choisir… » instead of
  Django's « --------- », « Supprimer la sélection », « Oui » / « Non » for booleans.
"""

from operator import attrgetter

from django.contrib import admin
from django.contrib.admin.templatetags import admin_list
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.templatetags.static import static
from django.utils.html import format_html

from pdp.audit import audit, audit_listed
from pdp.forms import french_blank_choice
from pdp.models import AuditLog
from pdp.typography import de

# Never written to the audit log, even masked values only say that they changed.
SECRET_FIELDS = {"password", "ics_token"}
MASKED = "(masqué)"


def is_administrator(user):
    """Who enters the admin: an active staff account with `User.is_admin`."""
    return user.is_authenticated and user.is_active and user.is_staff and user.is_admin


def _boolean_icon(value):
    """Django's icon of a boolean column or read-only field, with a French text alternative
    (Django 5.2 writes alt="True"); display_for_field and the list columns look it up here."""
    icon = {True: "yes", False: "no", None: "unknown"}[value]
    text = {True: "Oui", False: "Non", None: "Inconnu"}[value]
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), text)


admin_list._boolean_icon = _boolean_icon


class FrenchAdminMixin:
    """Titles, empty choices and the bulk delete action in correct French."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        return french_blank_choice(field) if field is not None else None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        name = self.opts.verbose_name
        if object_id is None:
            title = f"Ajout {de(name)}"
        elif self.has_change_permission(request, self.get_object(request, object_id)):
            title = f"Modification {de(name)}"
        else:
            title = f"Affichage {de(name)}"
        context = {"title": title, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)

    def get_action_choices(self, request, default_choices=None):
        return super().get_action_choices(request, [("", "Choisir une action…")])

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            func, name, _description = actions["delete_selected"]
            actions["delete_selected"] = (func, name, "Supprimer la sélection")
        return actions


class AdministratorAccessMixin(FrenchAdminMixin):
    """The admin's rights come from the role; Django's per-model permissions are not used."""

    def has_module_permission(self, request):
        return is_administrator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_administrator(request.user)

    def has_add_permission(self, request, *args):
        return is_administrator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_administrator(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_administrator(request.user)


# --- Reference data: editable and audited ----------------------------------------------------


def _plain(value):
    if isinstance(value, QuerySet):
        return sorted(obj.pk for obj in value)
    if isinstance(value, list | tuple) and value and isinstance(value[0], Model):
        return sorted(obj.pk for obj in value)
    if isinstance(value, Model):
        return value.pk
    return value


def _model_field_names(form, names):
    """The model fields among `names` (not password1, DELETE, the primary key…)."""
    opts = form._meta.model._meta
    kept = []
    for name in names:
        try:
            field = opts.get_field(name)
        except FieldDoesNotExist:
            continue
        if not field.primary_key and name not in SECRET_FIELDS:
            kept.append(name)
    return kept


def form_changes(form, *, created):
    """{field: [old, new]} of a valid model form: every field of a new row, the changed fields
    of an existing one, whose old values are the stored ones the form was built on."""
    if created:
        names = _model_field_names(form, form.cleaned_data)
        changes = {name: [None, _plain(form.cleaned_data[name])] for name in names}
    else:
        changes = {
            name: [
                _plain(form.get_initial_for_field(form.fields[name], name)),
                _plain(form.cleaned_data.get(name)),
            ]
            for name in _model_field_names(form, form.changed_data)
        }
    if any("password" in name for name in form.changed_data):
        changes["password"] = [None if created else MASKED, MASKED]
    return changes


def snapshot(obj):
    """{field: [value, None]} of a row about to be deleted."""
    return {
        field.name: [MASKED if field.name in SECRET_FIELDS else field.value_from_object(obj), None]
        for field in obj._meta.concrete_fields
        if not field.primary_key
    }


class ReferenceDataAdmin(AdministratorAccessMixin, admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        changes = form_changes(form, created=not change)
        super().save_model(request, obj, form, change)
        if changes or not change:
            action = AuditLog.Action.UPDATE if change else AuditLog.Action.CREATE
            audit(user=request.user, action=action, obj=obj, changes=changes)

    def delete_model(self, request, obj):
        audit(user=request.user, action=AuditLog.Action.DELETE, obj=obj, changes=snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The bulk action: one audit row per row deleted (bounded by the page's selection).
        for obj in queryset:
            audit(user=request.user, action=AuditLog.Action.DELETE, obj=obj, changes=snapshot(obj))
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        deleted = [f for f in formset.deleted_forms if f.instance.pk is not None]
        changed = [
            (f, form_changes(f, created=False))
            for f in formset.initial_forms
            if f not in deleted and f.has_changed()
        ]
        created = [
            (f, form_changes(f, created=True))
            for f in formset.extra_forms
            if f not in deleted and f.has_changed()
        ]
        for f in deleted:
            audit(
                user=request.user,
                action=AuditLog.Action.DELETE,
                obj=f.instance,
                changes=snapshot(f.instance),
            )
        super().save_formset(request, form, formset, change)
        for f, changes in changed:
            audit(user=request.user, action=AuditLog.Action.UPDATE, obj=f.instance, changes=changes)
        for f, changes in created:
            audit(user=request.user, action=AuditLog.Action.CREATE, obj=f.instance, changes=changes)


class ReferenceDataInline(AdministratorAccessMixin, admin.TabularInline):
    extra = 1


# --- Personal records: read-only, reads audited ----------------------------------------------


class ReadOnlyAccessMixin(AdministratorAccessMixin):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyAccessMixin, admin.ModelAdmin):
    """A personal record: every field shown read-only, no action, each page read audited."""

    actions = None
    # Dotted path from the record to the assuré's id written in the audit row (None: no one).
    audit_assure_id = "assure_id"
    # The list of a person's records logs a read of each record it shows (not the log's own
    # list: each of its pages would add a row per row shown).
    audit_list_reads = True

    def _assure_id_of(self, obj):
        return attrgetter(self.audit_assure_id)(obj) if self.audit_assure_id else None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            assure_id = self._assure_id_of(obj)
            audit(user=request.user, action=AuditLog.Action.VIEW, obj=obj, assure_id=assure_id)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        """The list shows the records of its page (names, NIR…): one read row per record
        listed, in one statement (`audit_listed`; the paths to the assuré are selected with
        the rows through `list_select_related`)."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and self.audit_assure_id and self.audit_list_reads:
            audit_listed(
                user=request.user,
                objects=changelist.result_list,
                assure_id_of=self._assure_id_of,
                page="administration",
            )
        return response


class ReadOnlyInline(ReadOnlyAccessMixin, admin.TabularInline):
    extra = 0
    can_delete = False
