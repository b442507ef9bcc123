"""Upload form of the CPAM monthly extract."""

from pathlib import Path

from django import forms
from django.utils import timezone

from pdp.forms import FrenchChoicesMixin
from pdp.models import CpamOffice
from referrals.importer import extract_date_problem

# The worker imports the file by chunks (memory stays flat): a regional extract of about two
# million lines fits. A simulation runs inside the request: smaller files only.
MAX_UPLOAD_BYTES = 600 * 1024 * 1024
MAX_SIMULATION_BYTES = 50 * 1024 * 1024
ALLOWED_EXTENSIONS = (".csv", ".txt")


class ImportUploadForm(FrenchChoicesMixin, forms.Form):
    fichier = forms.FileField(
        label="Fichier de l'extrait CPAM",
        help_text=(
            "CSV séparé par des points-virgules (.csv ou .txt, 600 Mo au plus), encodé en "
            "UTF-8 ou Windows-1252, première ligne = noms des colonnes."
        ),
        widget=forms.FileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )
    date_extrait = forms.DateField(
        label="Date de l'extrait",
        initial=timezone.localdate,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=(
            "Date à laquelle la CPAM a produit le fichier (aujourd'hui par défaut). Un extrait "
            "plus ancien que celui qui a modifié un arrêt en dernier ne modifie pas cet arrêt."
        ),
        error_messages={
            "required": "Indiquez la date de l'extrait.",
            "invalid": "Date invalide\u00a0: utilisez le format JJ/MM/AAAA.",
        },
    )
    caisse = forms.ModelChoiceField(
        label="Caisse attendue",
        queryset=CpamOffice.objects.none(),
        required=False,
        empty_label="Toutes les caisses de ma région",
        help_text="Si elle est choisie, les lignes d'une autre caisse sont rejetées.",
    )
    simulation = forms.BooleanField(
        label="Simulation : vérifier le fichier sans rien enregistrer",
        required=False,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        offices = CpamOffice.objects.order_by("code")
        if user.is_admin:
            self.fields["caisse"].empty_label = "Toutes les caisses"
        else:
            offices = offices.filter(region_id=user.effective_region_id())
        self.fields["caisse"].queryset = offices
        self.fields["date_extrait"].widget.attrs["max"] = timezone.localdate().isoformat()

    def clean_date_extrait(self):
        day = self.cleaned_data["date_extrait"]
        problem = extract_date_problem(day, today=timezone.localdate())
        if problem:
            raise forms.ValidationError(problem)
        return day

    def clean_fichier(self):
        upload = self.cleaned_data["fichier"]
        if Path(upload.name).suffix.lower() not in ALLOWED_EXTENSIONS:
            raise forms.ValidationError("Le fichier doit être un .csv ou un .txt.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("Le fichier dépasse la taille maximale de 600 Mo.")
        return upload

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("fichier")
        if cleaned.get("simulation") and upload and upload.size > MAX_SIMULATION_BYTES:
            self.add_error(
                "simulation",
                "La simulation est limitée aux fichiers de 50 Mo\u00a0: importez le fichier "
                "(les lignes rejetées seront listées) ou utilisez la commande "
                "import_cpam_extract --dry-run.",
            )
        return cleaned
