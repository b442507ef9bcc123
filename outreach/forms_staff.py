"""The staff form that sends a person a booking link (`outreach.views_staff`)."""

from django import forms

from outreach.links import Channel, recipient_for
from pdp.forms import FrenchChoicesMixin

_LABELS = {
    Channel.SMS: ("SMS au {}", "SMS (aucun numéro de mobile connu)"),
    Channel.EMAIL: ("E-mail à {}", "E-mail (aucune adresse connue)"),
    Channel.COURRIER: ("Courrier à imprimer, adressé {}", "Courrier (adresse postale incomplète)"),
}


class SendLinkForm(FrenchChoicesMixin, forms.Form):
    channel = forms.ChoiceField(label="Envoyer le lien par", widget=forms.RadioSelect)

    def __init__(self, *args, assure, **kwargs):
        super().__init__(*args, **kwargs)
        choices = []
        for value, _label in Channel.choices:
            recipient = recipient_for(assure, value)
            known, missing = _LABELS[value]
            choices.append((value, known.format(recipient) if recipient else missing))
        self.fields["channel"].choices = choices
        usable = [value for value, _ in Channel.choices if recipient_for(assure, value)]
        if usable:
            self.fields["channel"].initial = usable[0]
