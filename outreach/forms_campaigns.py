"""Forms of the campaign pages: validation and layout only; `outreach.campaigns` decides and
changes."""

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from collective.models import ActionCollective
from outreach.models import Campagne, RegleCanal
from pdp.forms import FrenchChoicesMixin
from referrals.models import CpamImport


class _ImportChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        day = obj.extract_date or obj.created_at.date()
        return f"{obj.file_name} – {day:%d/%m/%Y}"


class CampagneForm(FrenchChoicesMixin, forms.ModelForm):
    """`imports` (the CPAM imports of the user's region) is given by the view."""

    cpam_import = _ImportChoiceField(
        label="Population d'un import CPAM",
        queryset=CpamImport.objects.none(),
        required=False,
        help_text="Vide\u00a0: tous les arrêts en cours de la région.",
    )

    class Meta:
        model = Campagne
        fields = [
            "nom",
            "date_reference",
            "duree_min_jours",
            "cpam_import",
            "contact_recent_jours",
            "validite_sms_jours",
            "validite_email_jours",
            "validite_courrier_jours",
            "taux_reponse",
            "webinaire",
            "relance_jours",
            "tentatives_max",
            "reservation_jours",
            "script_appel",
        ]
        widgets = {
            "date_reference": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "script_appel": forms.Textarea(attrs={"rows": 5}),
        }
        help_texts = {
            "date_reference": "Les arrêts en cours ce jour-là.",
            "duree_min_jours": "Durée de l'arrêt à la date de référence, premier jour compris.",
            "contact_recent_jours": (
                "Une personne contactée depuis moins longtemps (tentative de contact ou autre"
                " campagne validée) est écartée."
            ),
            "taux_reponse": "Pour vérifier que les créneaux libres suffiront.",
            "webinaire": (
                "Un webinaire publié de la région, aux inscriptions ouvertes, pour les personnes"
                " dont le canal est «\u00a0invitation à un webinaire\u00a0»."
            ),
            "relance_jours": (
                "Une seule relance, tant que l'invitation reste valable au moins deux jours."
            ),
            "tentatives_max": "Ensuite, la personne reçoit un SMS, un e-mail ou un courrier.",
            "script_appel": "Vide\u00a0: le script par défaut, affiché aux conseillers.",
        }

    def __init__(self, *args, imports=None, webinaires=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cpam_import"].queryset = (
            imports if imports is not None else CpamImport.objects.none()
        )
        self.fields["webinaire"].queryset = (
            webinaires if webinaires is not None else ActionCollective.objects.none()
        )
        for name, low, high in (
            ("duree_min_jours", 1, 3650),
            ("contact_recent_jours", 0, 3650),
            ("validite_sms_jours", 1, 90),
            ("validite_email_jours", 1, 90),
            ("validite_courrier_jours", 1, 90),
            ("taux_reponse", 0, 100),
            ("relance_jours", 1, 30),
            ("tentatives_max", 1, 10),
            ("reservation_jours", 1, 30),
        ):
            field = self.fields[name]
            field.validators += [MinValueValidator(low), MaxValueValidator(high)]
            field.widget.attrs.update(min=low, max=high)


class RegleForm(FrenchChoicesMixin, forms.ModelForm):
    class Meta:
        model = RegleCanal
        fields = [
            "libelle",
            "age_min",
            "age_max",
            "duree_min",
            "duree_max",
            "ij_min",
            "ij_max",
            "situation_emploi",
            "contact_connu",
            "canal_prefere",
            "canal",
        ]
        help_texts = {
            "libelle": "Par exemple «\u00a0Moins de 30 ans\u00a0: SMS\u00a0».",
            "contact_connu": "La règle ne s'applique qu'aux personnes dont on a cette coordonnée.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("age_min", "age_max"):
            self.fields[name].validators.append(MaxValueValidator(120))
        for name in ("duree_min", "duree_max"):
            self.fields[name].validators += [MinValueValidator(1), MaxValueValidator(3650)]
        for name in ("ij_min", "ij_max"):
            self.fields[name].validators.append(MinValueValidator(0))

    def clean(self):
        data = super().clean()
        for low, high, message in (
            ("age_min", "age_max", "L'âge minimal dépasse l'âge maximal."),
            ("duree_min", "duree_max", "La durée minimale dépasse la durée maximale."),
            ("ij_min", "ij_max", "L'IJ minimale dépasse l'IJ maximale."),
        ):
            a, b = data.get(low), data.get(high)
            if a is not None and b is not None and a > b:
                self.add_error(high, message)
        return data
