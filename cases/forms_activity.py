"""Forms of the activity pages: search, the person's details, entretiens, documents."""

from crispy_forms.helper import FormHelper
from django import forms
from django.conf import settings
from django.db.models import Q
from django.forms.models import fields_for_model, model_to_dict
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from cases.agenda import NOTE_MAX_LENGTH
from cases.documents import ACCEPTED_EXTENSIONS
from cases.models import Entretien
from cases.people import EDITABLE_FIELDS
from pdp.forms import FrenchChoicesMixin, french_blank_choice
from pdp.identifiers import IdentifierError, siret_normalize
from pdp.meeting_slot import MeetingSlotForm
from pdp.models import PartnerKind, Role, User
from referrals.models import Assure

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class _NoTagHelperMixin:
    """Forms rendered with `{% crispy form %}` inside a <form> the template writes itself."""

    def _helper(self):
        helper = FormHelper()
        helper.form_tag = False
        return helper


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Nom, prénom ou NIR",
        max_length=100,
        required=False,
        help_text="Majuscules et accents indifférents ; un début de NIR suffit.",
    )


ASSURE_FORM_FIELDS = list(EDITABLE_FIELDS)  # what the service lets unit staff correct


class AssureForm(FrenchChoicesMixin, _NoTagHelperMixin, forms.Form):
    """The person's details: the model's fields (labels, choices, lengths), cleaned here; the
    service (`cases.people.assure_update`) validates the record and saves it, with its audit.
    A plain form, so that the form never validates or touches the instance itself."""

    employeur_siret = forms.CharField(
        label="SIRET employeur",
        max_length=20,
        required=False,
        help_text="14 chiffres, espaces acceptés.",
    )

    def __init__(self, *args, instance, region_id=None, **kwargs):
        kwargs.setdefault("initial", model_to_dict(instance, fields=ASSURE_FORM_FIELDS))
        super().__init__(*args, **kwargs)
        generated = fields_for_model(
            Assure,
            fields=ASSURE_FORM_FIELDS,
            labels={"rqth": "Reconnaissance de la qualité de travailleur handicapé (RQTH)"},
        )
        for name in ASSURE_FORM_FIELDS:
            if name not in self.fields:
                self.fields[name] = french_blank_choice(generated[name])
        self.order_fields(ASSURE_FORM_FIELDS)
        self.helper = self._helper()
        spst = self.fields["spst"].queryset.filter(kind=PartnerKind.SPST)
        if region_id is not None:
            spst = spst.filter(Q(region_id=region_id) | Q(region__isnull=True))
        self.fields["spst"].queryset = spst

    def clean_employeur_siret(self):
        value = self.cleaned_data["employeur_siret"].strip()
        if not value:
            return ""
        try:
            return siret_normalize(value)
        except IdentifierError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_code_postal(self):
        value = self.cleaned_data["code_postal"].strip()
        if value and not (len(value) == 5 and value.isdigit()):
            raise forms.ValidationError("Le code postal comporte 5 chiffres.")
        return value


def _workers(unit_id):
    return User.objects.filter(
        unit_id=unit_id, role__in=[Role.ASS, Role.MANAGER], is_active=True
    ).order_by("last_name", "first_name", "pk")


class EntretienForm(_NoTagHelperMixin, MeetingSlotForm):
    mode = forms.ChoiceField(label="Modalité", choices=Entretien.Mode.choices)
    ass = forms.ModelChoiceField(label="ASS", queryset=User.objects.none(), empty_label=None)
    field_order = ["date", "heure", "duree_minutes", "mode", "ass", "confirmer_jour"]

    def __init__(self, *args, case, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = self._helper()
        self.fields["ass"].queryset = _workers(case.unit_id)
        self.fields["ass"].initial = case.referent_id

    @classmethod
    def initial_for(cls, entretien):
        local = timezone.localtime(entretien.debut)
        return {
            "date": local.date(),
            "heure": local.time().replace(second=0, microsecond=0),
            "duree_minutes": entretien.duree_minutes,
            "mode": entretien.mode,
            "ass": entretien.ass_id,
        }


class EntretienRecordForm(_NoTagHelperMixin, forms.Form):
    statut = forms.ChoiceField(
        label="Résultat",
        choices=[
            (Entretien.Statut.REALISE, "Réalisé"),
            (Entretien.Statut.ABSENT, "Absent (la personne n'est pas venue)"),
            (Entretien.Statut.ANNULE, "Annulé"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note courte",
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Quelques lignes, sans aucun diagnostic ni information médicale.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = self._helper()


class DocumentUploadForm(_NoTagHelperMixin, forms.Form):
    fichier = forms.FileField(
        label="Fichier",
        allow_empty_file=True,  # the service explains what is wrong with it
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_EXTENSIONS)}),
    )
    nom = forms.CharField(
        label="Nom du document",
        max_length=255,
        required=False,
        help_text="Par défaut, le nom du fichier. Sans aucun diagnostic.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = self._helper()
        self.fields["fichier"].help_text = (
            "PDF, PNG, JPEG, Word, Excel ou OpenDocument ; "
            f"{filesizeformat(settings.DOCUMENT_MAX_SIZE)} au plus."
        )
