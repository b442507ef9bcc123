"""Reference data of collective actions: the types and their rules, the themes, the participant
statuses. The actions, their sessions, validations, participants and attendance are case
content: not in the admin, only in the application's permission-checked pages."""

from django.contrib import admin

from collective.models import ActionType, ParticipantStatus, Theme
from pdp.admin_base import ReferenceDataAdmin


@admin.register(ActionType)
class ActionTypeAdmin(ReferenceDataAdmin):
    list_display = [
        "label",
        "code",
        "min_seances",
        "validation_unite",
        "validation_region",
        "inscription_par_code",
        "questionnaire_fin",
        "actif",
    ]
    list_filter = ["actif"]


@admin.register(Theme)
class ThemeAdmin(ReferenceDataAdmin):
    list_display = ["label", "actif"]
    list_filter = ["actif"]
    search_fields = ["label"]


@admin.register(ParticipantStatus)
class ParticipantStatusAdmin(ReferenceDataAdmin):
    list_display = ["label", "code", "classe", "compte", "ordre"]
