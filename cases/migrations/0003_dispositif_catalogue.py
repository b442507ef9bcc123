from django.db import migrations

CATALOGUE = [
    ("essai_encadre", "Essai encadré", "pendant",
     "À la demande de l'assuré après une évaluation globale ; accords du médecin traitant, du "
     "médecin conseil et du médecin du travail avant le début ; 14 jours ouvrables, continus ou "
     "fractionnés, renouvelable dans la limite de 28 jours ouvrables."),
    ("pmsmp", "PMSMP (mise en situation en milieu professionnel)", "pendant",
     "Dans une autre entreprise que l'employeur ; 1 mois maximum, renouvelable une fois ; "
     "prescripteur (France Travail, Cap emploi, Mission locale…) ; autorisation CPAM ; "
     "convention tripartite."),
    ("crpe", "CRPE (convention de rééducation professionnelle en entreprise)", "apres",
     "Après la fin de l'arrêt ; 18 mois maximum ; convention tripartite employeur / salarié / "
     "CPAM."),
    ("formation", "Formation pendant l'arrêt", "pendant",
     "Accord écrit du médecin traitant, avis du médecin conseil, accord de la CPAM."),
    ("bilan_competences", "Bilan de compétences", "pendant",
     "Accords du médecin traitant, du médecin conseil et de la CPAM ; 24 heures maximum."),
    ("vae", "VAE (validation des acquis de l'expérience)", "pendant",
     "Accords du médecin traitant, du médecin conseil et de la CPAM."),
    ("tpt", "Temps partiel thérapeutique", "reprise", "Décidé par le médecin conseil."),
    ("pre_reprise", "Visite de pré-reprise", "pendant",
     "Arrêt de plus de 30 jours ; avec le médecin du travail."),
    ("moaij", "MOAIJ", "pendant", "Module régional d'orientation en fin d'IJ."),
    ("premij", "PREMIJ", "pendant", "Module régional de remobilisation en fin d'IJ."),
    ("isic", "ISIC (intervention sociale d'intérêt collectif)", "pendant",
     "Groupe d'assurés animé par une ASS ; au moins 3 séances ; validation locale puis "
     "régionale."),
    ("rqth", "RQTH / MDPH", "tout", "Orientation et suivi."),
    ("invalidite", "Pension d'invalidité", "tout", "Orientation et suivi."),
    ("agefiph", "Aides Agefiph", "tout", "Orientation et suivi."),
    ("cap_emploi", "Accompagnement Cap emploi", "tout", "Orientation et suivi."),
]


def load(apps, schema_editor):
    DispositifType = apps.get_model("cases", "DispositifType")
    for code, label, phase, description in CATALOGUE:
        DispositifType.objects.update_or_create(
            code=code, defaults={"label": label, "phase": phase, "description": description}
        )


def unload(apps, schema_editor):
    apps.get_model("cases", "DispositifType").objects.filter(
        code__in=[c[0] for c in CATALOGUE]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_initial")]
    operations = [migrations.RunPython(load, unload)]
