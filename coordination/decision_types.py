"""The pick list of recommendations and decisions an instance starts with (issue « Cellule
PDP »), loaded by migration 0002 and re-ensured by the demo (the browser tests' truncation
empties tables a migration filled). Editable in the admin afterwards."""

# code, libellé, ends the follow-up in cellule, comes back at the next meeting
DECISION_TYPES = [
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


def ensure_decision_types(model):
    """Create the missing ones (`model` is TypeDecision, or its historical version)."""
    for ordre, (code, libelle, termine, representer) in enumerate(DECISION_TYPES, start=1):
        model.objects.get_or_create(
            code=code,
            defaults={
                "libelle": libelle,
                "ordre": ordre * 10,
                "termine_suivi": termine,
                "a_representer": representer,
            },
        )
