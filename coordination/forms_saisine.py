"""Submitting a situation to an instance: the question and the fiche de présentation.

Validation and layout only: `services.saisine_submit` checks the consent, who submits, the
instance's territory and that the fiche identifies no one.
"""

from django import forms

from coordination.models import Instance, Saisine
from pdp.forms import FrenchChoicesMixin

FICHE_HELP = (
    "Les membres de l'instance, partenaires compris, lisent cette fiche\u00a0: pas de "
    "diagnostic (seulement des limitations et des contraintes), ni nom, ni NIR, ni adresse, ni "
    "téléphone, ni e-mail. Les initiales et la tranche d'âge suffisent\u00a0; une fiche qui "
    "contient l'un de ces éléments est refusée."
)

LONG_FIELDS = ("limitations", "freins", "pistes", "dispositifs")


class SaisineForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = Saisine
        fields = ["instance", "question", *Saisine.FICHE_FIELDS]
        widgets = {
            "question": forms.Textarea(attrs={"rows": 3}),
            **{name: forms.Textarea(attrs={"rows": 3}) for name in LONG_FIELDS},
        }
        labels = {
            "instance": "Instance",
            "tranche_age": "Tranche d'âge",
            "urgence": "Degré d'urgence",
        }
        help_texts = {
            "question": "Ce que vous attendez de l'instance (obligatoire).",
            "initiales": "Jamais le nom (par exemple «\u00a0L.\u00a0B.\u00a0»).",
            "limitations": (
                "En termes de capacités et de restrictions (port de charges, station debout, "
                "fatigabilité…), jamais de diagnostic."
            ),
            "arret": "Type et durée, sans motif médical.",
        }

    def __init__(self, *args, case, **kwargs):
        super().__init__(*args, **kwargs)
        instances = Instance.objects.covering(case.unit_id).order_by("nom")
        field = self.fields["instance"]
        field.queryset = instances
        field.empty_label = "Choisir l'instance…"
        field.help_text = "Les instances dont le territoire couvre l'unité du dossier."
        self.fields["question"].required = True
        # Preselected when only one instance covers the unit.
        first_two = list(instances[:2])
        self.has_instances = bool(first_two)
        if len(first_two) == 1 and not self.is_bound:
            self.initial.setdefault("instance", first_two[0].pk)
