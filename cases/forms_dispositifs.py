"""Forms of the dispositifs pages: validation and layout only (rules live in cases.dispositifs)."""

import datetime

from django import forms

from cases import dispositifs as rules
from cases.models import DispositifMobilise, DispositifStatut
from pdp.forms import FrenchChoicesMixin
from pdp.identifiers import IdentifierError, siret_normalize
from pdp.models import TEXT_MAX_LENGTH


def _date_widget():
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


ACCORDS_MEDICAUX = ["accord_medecin_traitant", "accord_medecin_conseil"]
ENTREPRISE = ["chez_employeur", "entreprise_accueil", "entreprise_siret"]
DATES = ["date_debut", "date_fin"]

# The fields that matter for each dispositif; the others are not shown.
FIELDS_BY_TYPE = {
    rules.ESSAI: [*DATES, *ENTREPRISE, *ACCORDS_MEDICAUX, "accord_medecin_travail"],
    rules.PMSMP: [
        *DATES,
        *ENTREPRISE,
        "prescripteur",
        "convention_signee",
        "autorisation_cpam",
    ],
    rules.CRPE: [*DATES, *ENTREPRISE, "inaptitude", "convention_signee"],
    rules.FORMATION: [*DATES, "duree_heures", *ACCORDS_MEDICAUX, "autorisation_cpam"],
    rules.BILAN: [*DATES, "duree_heures", *ACCORDS_MEDICAUX, "autorisation_cpam"],
    rules.VAE: [*DATES, *ACCORDS_MEDICAUX, "autorisation_cpam"],
    # Decided by the médecin conseil, who records it on the referral (rules.medical_record).
    rules.TPT: DATES,
    rules.PRE_REPRISE: ["date_debut"],
}
DEFAULT_FIELDS = [*DATES, "prescripteur"]

HELP_TEXTS = {
    "chez_employeur": "Cochez si l'accueil a lieu dans l'entreprise de l'employeur actuel.",
    "entreprise_siret": "14 chiffres ; les espaces sont acceptés.",
    "prescripteur": "France Travail, Cap emploi, Mission locale…",
    "accord_medecin_traitant": "Date de l'accord écrit.",
    "accord_medecin_conseil": "Date de l'accord du médecin conseil.",
    "accord_medecin_travail": "Date de l'accord du médecin du travail.",
    "autorisation_cpam": "Date de l'autorisation ou de l'accord de la CPAM.",
    "convention_signee": "Date de signature de la convention tripartite.",
    "inaptitude": "La CRPE s'adresse à une personne déclarée inapte ou en risque d'inaptitude.",
    "date_fin_initiale": "Le renouvellement court du lendemain jusqu'à la fin ci-dessus.",
    "resultat": "Ce que le dispositif a permis, sans aucun diagnostic.",
}


class DispositifForm(FrenchChoicesMixin, forms.ModelForm):
    """Create (with a starting status) or edit a dispositif of a given type."""

    statut = forms.ChoiceField(
        label="Statut",
        choices=[(s.value, s.label) for s in rules.CREATION_STATUSES],
        initial=DispositifStatut.ENVISAGE,
        help_text="Les règles du dispositif s'appliquent dès l'accord et au démarrage.",
    )

    # Wider than the stored 14 digits: "552 100 554 00013" is accepted and normalised.
    entreprise_siret = forms.CharField(
        label="SIRET de l'entreprise d'accueil", required=False, max_length=20
    )

    class Meta:
        model = DispositifMobilise
        fields = ["statut", *rules.EDITABLE_FIELDS]
        widgets = {
            "date_debut": _date_widget(),
            "date_fin": _date_widget(),
            "accord_medecin_traitant": _date_widget(),
            "accord_medecin_conseil": _date_widget(),
            "accord_medecin_travail": _date_widget(),
            "autorisation_cpam": _date_widget(),
            "convention_signee": _date_widget(),
            "date_fin_initiale": _date_widget(),
            "resultat": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, dispositif_type, creating, **kwargs):
        super().__init__(*args, **kwargs)
        code = dispositif_type.code
        keep = list(FIELDS_BY_TYPE.get(code, DEFAULT_FIELDS))
        if creating:
            keep.insert(0, "statut")
        else:
            keep.append("resultat")
            if code == rules.PMSMP and self.instance.renouvellements:
                keep.append("date_fin_initiale")
            if code == rules.ESSAI:  # dates come from the periods
                keep = [f for f in keep if f not in DATES]
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        for name, text in HELP_TEXTS.items():
            if name in self.fields:
                self.fields[name].help_text = text
        if code == rules.ESSAI and creating:
            self.fields["date_debut"].label = "Début de la première période"
            self.fields["date_fin"].label = "Fin de la première période"
            self.fields["date_debut"].help_text = (
                "14 jours ouvrables au plus (lundi–samedi hors jours fériés) ; d'autres "
                "périodes s'ajoutent ensuite."
            )
        if "date_fin_initiale" in self.fields:  # a renewed PMSMP: its two periods
            self.order_fields(["date_debut", "date_fin_initiale", "date_fin"])
            self.fields["date_fin"].label = "Fin du renouvellement"
        if code == rules.PRE_REPRISE:
            self.fields["date_debut"].label = "Date de la visite"
        if code == rules.BILAN:
            self.fields["duree_heures"].help_text = "24 heures au plus pendant l'arrêt."
        if "chez_employeur" in self.fields and code == rules.PMSMP:
            self.fields[
                "chez_employeur"
            ].help_text = "La PMSMP se déroule dans une autre entreprise que l'employeur."

    def clean_entreprise_siret(self):
        value = self.cleaned_data.get("entreprise_siret", "")
        if not value:
            return ""
        try:
            return siret_normalize(value)
        except IdentifierError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        data = super().clean()
        debut, fin = data.get("date_debut"), data.get("date_fin")
        if debut and fin and fin < debut:
            self.add_error("date_fin", "La date de fin précède la date de début.")
        return data

    def service_fields(self):
        """cleaned_data restricted to the fields shown, minus the status."""
        return {k: v for k, v in self.cleaned_data.items() if k != "statut"}


class PeriodeForm(FrenchChoicesMixin, forms.Form):
    date_debut = forms.DateField(label="Début", widget=_date_widget())
    date_fin = forms.DateField(label="Fin", widget=_date_widget())

    def clean(self):
        data = super().clean()
        debut, fin = data.get("date_debut"), data.get("date_fin")
        if debut and fin and fin < debut:
            self.add_error("date_fin", "La fin de la période précède son début.")
        return data


class StatusForm(forms.Form):
    # No status is preselected: on a dispositif en cours the first one would be « Terminé »,
    # ended by a single click.
    to_status = forms.ChoiceField(
        label="Nouveau statut",
        error_messages={"required": "Choisissez le nouveau statut."},
    )
    motif = forms.CharField(
        label="Motif ou commentaire",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Facultatif, sans aucun diagnostic.",
        max_length=TEXT_MAX_LENGTH,
    )

    def __init__(self, *args, dispositif, **kwargs):
        super().__init__(*args, **kwargs)
        self.transitions = rules.allowed_transitions(dispositif)
        self.fields["to_status"].choices = [
            ("", "— choisir —"),
            *((s, DispositifStatut(s).label) for s in self.transitions),
        ]


class RenewForm(FrenchChoicesMixin, forms.Form):
    date_fin = forms.DateField(
        label="Nouvelle date de fin",
        widget=_date_widget(),
        help_text="Le renouvellement dure 1 mois au plus.",
    )

    def __init__(self, *args, dispositif, **kwargs):
        super().__init__(*args, **kwargs)
        if dispositif.type.code != rules.PMSMP:
            del self.fields["date_fin"]
        elif dispositif.date_fin:
            start = dispositif.date_fin + datetime.timedelta(days=1)
            latest = rules.months_end(start, rules.PMSMP_MOIS)
            self.fields["date_fin"].help_text = (
                f"Le renouvellement dure 1 mois au plus\N{NO-BREAK SPACE}: du {start:%d/%m/%Y} au "
                f"{latest:%d/%m/%Y} au plus tard."
            )
