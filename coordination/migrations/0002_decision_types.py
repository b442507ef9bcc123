"""The pick list of recommendations and decisions (editable in the admin afterwards)."""

from django.db import migrations

TYPES = [
    # code, libellé, ends the follow-up, comes back at the next meeting
    ("orientation_partenaire", "Orientation vers un partenaire", False, False),
    ("mobilisation_dispositif", "Mobilisation d'un dispositif", False, False),
    ("visite_pre_reprise", "Visite de pré-reprise", False, False),
    ("etude_poste", "Étude de poste / aménagement", False, False),
    ("maintien_emploi", "Maintien dans l'emploi", False, False),
    ("reconversion", "Reconversion professionnelle", False, False),
    ("complement_information", "Demande de compléments d'information", False, True),
    ("a_representer", "À représenter", False, True),
    ("fin_suivi", "Fin du suivi en cellule", True, False),
]


def create(apps, schema_editor):
    TypeDecision = apps.get_model("coordination", "TypeDecision")
    for ordre, (code, libelle, termine, representer) in enumerate(TYPES, start=1):
        TypeDecision.objects.get_or_create(
            code=code,
            defaults={
                "libelle": libelle,
                "ordre": ordre * 10,
                "termine_suivi": termine,
                "a_representer": representer,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("coordination", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
