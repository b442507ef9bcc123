"""Forms of the collective actions' staff pages: validation and layout only;
`collective.services` decides and changes. The pick lists (co-animateurs, partners, units)
are given by the view, evaluated once."""

import datetime

from django import forms
from django.utils import timezone

from collective import services
from collective.models import ActionCollective, ActionStatus, ActionType, Seance, Theme
from pdp.forms import FrenchChoicesMixin
from pdp.models import TEXT_MAX_LENGTH, Unit

REGIONAL_CHOICE = "regionale"


def _textarea(rows=3):
    return forms.Textarea(attrs={"rows": rows})


class _UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} ({obj.unit})" if obj.unit_id else str(obj)


class _ContactChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} – {obj.partner.name}"


class ActionForm(FrenchChoicesMixin, forms.Form):
    """Create or edit an action. `units` is None when the unit is the user's own (not
    asked); the fields `services.editable_fields` fixes are shown disabled."""

    type = forms.ModelChoiceField(label="Type d'action", queryset=ActionType.objects.none())
    theme = forms.ModelChoiceField(label="Thème", queryset=Theme.objects.none(), required=False)
    titre = forms.CharField(
        label="Titre",
        max_length=ActionCollective._meta.get_field("titre").max_length,
        help_text="Pour l'équipe\u00a0; les personnes invitées ne le voient pas.",
    )
    description = forms.CharField(
        label="Présentation",
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=_textarea(4),
        help_text="Visible des personnes invitées\u00a0: aucune information de santé.",
    )
    unit = forms.ChoiceField(label="Unité organisatrice", required=False)
    co_animateurs = _UserChoiceField(
        label="Co-animateur·rices",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="ASS de l'unité ou de la région.",
    )
    partenaires = _ContactChoiceField(
        label="Partenaires invités",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    capacite = forms.IntegerField(
        label="Nombre de places",
        required=False,
        min_value=1,
        max_value=10000,
        help_text="Vide\u00a0: sans limite.",
    )
    liste_attente = forms.BooleanField(
        label="Liste d'attente quand l'action est complète", required=False, initial=True
    )
    delai_confirmation_heures = forms.IntegerField(
        label="Délai pour confirmer une place libérée (heures)",
        min_value=1,
        max_value=services.MAX_CONFIRMATION_HOURS,
        initial=48,
    )
    inscription_debut = forms.DateField(
        label="Inscriptions à partir du",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    inscription_fin = forms.DateField(
        label="Inscriptions jusqu'au",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    lien_visio = forms.URLField(
        label="Lien de visioconférence",
        required=False,
        max_length=ActionCollective._meta.get_field("lien_visio").max_length,
        assume_scheme="https",
        help_text="Pour un webinaire\u00a0; une séance peut avoir le sien.",
    )

    def __init__(self, *args, units, co_animateurs, partenaires, locked=(), action=None, **kw):
        if action is not None:
            kw.setdefault("initial", self.initial_for(action))
        super().__init__(*args, **kw)
        types = ActionType.objects.filter(actif=True)
        themes = Theme.objects.filter(actif=True)
        if action is not None:
            types = ActionType.objects.filter(actif=True) | ActionType.objects.filter(
                pk=action.type_id
            )
            if action.theme_id:
                themes = Theme.objects.filter(actif=True) | Theme.objects.filter(pk=action.theme_id)
        self.fields["type"].queryset = types.distinct()
        self.fields["theme"].queryset = themes.distinct()
        self.units = units
        if units is None:
            del self.fields["unit"]
        else:
            self.fields["unit"].choices = [
                (REGIONAL_CHOICE, "Action régionale (sans unité)")
                if u is None
                else (str(u.pk), str(u))
                for u in units
            ]
        for name, queryset in (("co_animateurs", co_animateurs), ("partenaires", partenaires)):
            if queryset.exists():
                self.fields[name].queryset = queryset
            else:
                del self.fields[name]
        for name in locked:
            if name in self.fields:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Validé\u00a0: ne change plus."

    @staticmethod
    def initial_for(action):
        return {
            "type": action.type_id,
            "theme": action.theme_id,
            "titre": action.titre,
            "description": action.description,
            "unit": str(action.unit_id) if action.unit_id else REGIONAL_CHOICE,
            "co_animateurs": list(action.co_animateurs.values_list("pk", flat=True)),
            "partenaires": list(action.partenaires.values_list("pk", flat=True)),
            "capacite": action.capacite,
            "liste_attente": action.liste_attente,
            "delai_confirmation_heures": action.delai_confirmation_heures,
            "inscription_debut": action.inscription_debut,
            "inscription_fin": action.inscription_fin,
            "lien_visio": action.lien_visio,
        }

    def clean_unit(self):
        value = self.cleaned_data.get("unit")
        if value in (None, "", REGIONAL_CHOICE):
            return None
        for unit in self.units or []:
            if unit is not None and str(unit.pk) == value:
                return unit
        raise forms.ValidationError("Choisissez une unité de la liste.")

    def clean(self):
        data = super().clean()
        debut, fin = data.get("inscription_debut"), data.get("inscription_fin")
        if debut and fin and fin < debut:
            self.add_error("inscription_fin", "La fin des inscriptions suit leur début.")
        return data

    def service_kwargs(self):
        """The cleaned values, without the disabled (fixed) fields."""
        data = dict(self.cleaned_data)
        for name, field in self.fields.items():
            if field.disabled:
                data.pop(name, None)
        if "co_animateurs" in data:
            data["co_animateurs"] = list(data["co_animateurs"])
        if "partenaires" in data:
            data["partenaires"] = list(data["partenaires"])
        for name in ("titre", "description", "lien_visio"):
            if name in data:
                data[name] = (data[name] or "").strip()
        if self.units is None:
            data.pop("unit", None)
        return data


class SeanceForm(FrenchChoicesMixin, forms.Form):
    date = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    heure = forms.TimeField(
        label="Heure de début",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    duree_minutes = forms.IntegerField(
        label="Durée (minutes)",
        min_value=services.SEANCE_MIN_MINUTES,
        max_value=services.SEANCE_MAX_MINUTES,
        initial=120,
    )
    lieu = forms.CharField(
        label="Lieu",
        required=False,
        max_length=Seance._meta.get_field("lieu").max_length,
        help_text="Adresse et salle\u00a0; vide pour une séance en visioconférence.",
    )
    lien_visio = forms.URLField(
        label="Lien de visioconférence de la séance",
        required=False,
        max_length=Seance._meta.get_field("lien_visio").max_length,
        assume_scheme="https",
        help_text="Vide\u00a0: le lien de l'action, s'il y en a un.",
    )

    @staticmethod
    def initial_for(seance):
        debut = timezone.localtime(seance.debut)
        return {
            "date": debut.date(),
            "heure": debut.time().replace(second=0, microsecond=0),
            "duree_minutes": seance.duree_minutes,
            "lieu": seance.lieu,
            "lien_visio": seance.lien_visio,
        }

    def service_kwargs(self):
        data = self.cleaned_data
        naive = datetime.datetime.combine(data["date"], data["heure"])
        return {
            "debut": timezone.make_aware(naive),
            "duree_minutes": data["duree_minutes"],
            "lieu": data["lieu"].strip(),
            "lien_visio": data["lien_visio"].strip(),
        }


class CommentForm(FrenchChoicesMixin, forms.Form):
    """An optional comment (approval, a status step) or a required one (refusal)."""

    commentaire = forms.CharField(
        label="Commentaire",
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=_textarea(2),
    )

    def __init__(self, *args, required=False, label="Commentaire", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["commentaire"]
        field.required = required
        field.label = label
        if required:
            field.error_messages["required"] = "Écrivez un commentaire\u00a0: il est obligatoire."


class CancelForm(FrenchChoicesMixin, forms.Form):
    reason = forms.CharField(
        label="Motif de l'annulation",
        max_length=TEXT_MAX_LENGTH,
        widget=_textarea(2),
        error_messages={"required": "Dites pourquoi l'action est annulée."},
        help_text="Les inscriptions en cours sont annulées, sans liste d'attente.",
    )


class ListFilterForm(FrenchChoicesMixin, forms.Form):
    type = forms.ModelChoiceField(
        label="Type", queryset=ActionType.objects.all(), required=False, empty_label="Tous"
    )
    statut = forms.ChoiceField(
        label="Statut", choices=[("", "Tous"), *ActionStatus.choices], required=False
    )
    unit = forms.ChoiceField(label="Unité", required=False)

    def __init__(self, *args, region_id, **kwargs):
        super().__init__(*args, **kwargs)
        units = Unit.objects.filter(region_id=region_id).order_by("name")
        self.fields["unit"].choices = [
            ("", "Toutes"),
            (REGIONAL_CHOICE, "Actions régionales"),
            *[(str(u.pk), str(u)) for u in units],
        ]
