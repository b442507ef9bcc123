"""The collective action types with their rules, the usual themes and the participant statuses
(data: an administrator may change them in the admin)."""

from django.db import migrations

TYPES = [
    # code, label, min sessions, unit validation, regional validation, by code, questionnaire
    ("isic", "ISIC (intervention sociale d'intérêt collectif)", 3, True, True, False, True),
    ("webinaire", "Webinaire", 1, False, False, True, False),
    ("info_collective", "Réunion d'information collective", 1, True, False, True, False),
]
THEMES = [
    "Cancer et travail",
    "Souffrance au travail",
    "Maladies chroniques et emploi",
    "Reprise du travail après un arrêt long",
    "Troubles musculo-squelettiques",
    "Reconversion professionnelle",
    "Droits et démarches pendant l'arrêt",
]
STATUSES = [
    # code, label, class, counted, order
    ("inscrit", "Inscrit·e", "positive", True, 1),
    ("a_confirmer", "Place proposée, à confirmer", "pending", True, 2),
    ("liste_attente", "Liste d'attente", "waiting", False, 3),
    ("present", "A participé", "positive", True, 4),
    ("annule", "Annulé·e", "negative", False, 5),
    ("expire", "Place non confirmée à temps", "negative", False, 6),
]


def load(apps, schema_editor):
    ActionType = apps.get_model("collective", "ActionType")
    Theme = apps.get_model("collective", "Theme")
    ParticipantStatus = apps.get_model("collective", "ParticipantStatus")
    for code, label, minimum, unit, region, by_code, questionnaire in TYPES:
        ActionType.objects.update_or_create(
            code=code,
            defaults={
                "label": label,
                "min_seances": minimum,
                "validation_unite": unit,
                "validation_region": region,
                "inscription_par_code": by_code,
                "questionnaire_fin": questionnaire,
            },
        )
    for label in THEMES:
        Theme.objects.get_or_create(label=label)
    for code, label, classe, counted, order in STATUSES:
        ParticipantStatus.objects.update_or_create(
            code=code,
            defaults={"label": label, "classe": classe, "compte": counted, "ordre": order},
        )


class Migration(migrations.Migration):
    dependencies = [("collective", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
