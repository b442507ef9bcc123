"""Sending a person a booking link from the staff side (issue 10, item 5).

From a referral or a case, an ASS or a conseiller sends the person a one-time booking code —
by SMS, by e-mail, or printed on a letter (PDF with a QR code, for a window envelope). The
person opens `code_url(code)` (or types the code at `SITE_URL/r/`) and books without an
account.

The clear code lives only in what is sent: the SMS and e-mail are stored masked
(`pdp.messaging`), the letter is returned to the caller and never stored, and neither the
timeline event nor the audit row holds it (they name the channel and the access code row).
Nothing about health is written in what is sent: « rendez-vous avec le service social de
l'Assurance Maladie », the institution's name only.
"""

import base64
import datetime
from dataclasses import dataclass

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import Accompagnement, CaseEvent
from pdp.access_codes import access_code_issue, access_codes_revoke_for, code_url, display
from pdp.audit import audit
from pdp.messaging import normalise_phone, send_email, send_sms
from pdp.models import AccessCode, AuditLog
from pdp.pdf import render_pdf
from referrals.models import Signalement, SignalementEvent


class Channel:
    SMS = "sms"
    EMAIL = "email"
    COURRIER = "courrier"

    choices = [(SMS, "SMS"), (EMAIL, "E-mail"), (COURRIER, "Courrier")]
    # « … envoyé par SMS », « … envoyé par e-mail », « … imprimé (courrier) ».
    done = {SMS: "envoyé par SMS", EMAIL: "envoyé par e-mail", COURRIER: "imprimé (courrier)"}


LETTER_TEMPLATE = "outreach/letter_booking.html"
SMS_TEMPLATE = "outreach.booking_link"
EMAIL_TEMPLATE = "outreach.booking_link"
EMAIL_SUBJECT = "Prenez rendez-vous avec le service social de l'Assurance Maladie"


@dataclass(frozen=True)
class SentLink:
    """What `booking_link_send` did: the code row (never the code), the Message row for an SMS
    or an e-mail, the letter's PDF bytes for a courrier, and the masked recipient for the
    confirmation shown to the staff member (« 06 •• •• •• 78 »)."""

    channel: str
    access_code: AccessCode
    recipient: str
    message: object = None
    pdf: bytes | None = None


def code_form_url():
    """The address printed on a letter, where the person types the code."""
    return f"{settings.SITE_URL}/r/"


# --- What the staff member sees of the recipient ------------------------------------------


def _national(e164):
    return "0" + e164[-9:]


def mobile_of(assure):
    """The person's number in E.164 if it can receive an SMS, else None."""
    try:
        return normalise_phone(assure.telephone, mobile=True)
    except ValidationError:
        return None


def mask_phone(e164):
    """« 06 •• •• •• 78 »: enough to check with the person, not to read the number off a
    screen."""
    digits = _national(e164)
    return f"{digits[:2]} •• •• •• {digits[-2:]}"


def mask_email(address):
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def has_postal_address(assure):
    return bool(assure.adresse.strip() and assure.code_postal.strip() and assure.commune.strip())


def mask_address(assure):
    return f"•••, {assure.code_postal} {assure.commune}"


def recipient_for(assure, channel):
    """The masked recipient `channel` would use, or None when the person has none."""
    if channel == Channel.SMS:
        mobile = mobile_of(assure)
        return mask_phone(mobile) if mobile else None
    if channel == Channel.EMAIL:
        return mask_email(assure.email.strip()) if assure.email.strip() else None
    if channel == Channel.COURRIER:
        return mask_address(assure) if has_postal_address(assure) else None
    raise ValueError(f"unknown channel: {channel!r}")


MISSING = {
    Channel.SMS: "La personne n'a pas de numéro de mobile : un SMS ne peut pas lui être envoyé.",
    Channel.EMAIL: "La personne n'a pas d'adresse e-mail.",
    Channel.COURRIER: "L'adresse postale de la personne est incomplète (adresse, code postal"
    " et commune) : le courrier ne peut pas être imprimé.",
}


# --- The texts ---------------------------------------------------------------------------


def sms_text(code, unit_phone):
    """GSM-7 only (no « ’ », no « é » needed), two segments at most with any site address
    of reasonable length, nothing about health."""
    call = f" ou appelez le {unit_phone}" if unit_phone else ""
    return (
        "Service social de l'Assurance Maladie : prenez rendez-vous en ligne avec votre code"
        f" {display(code)} : {code_url(code)}{call}."
    )


def email_text(assure, code, unit):
    call = f"\nVous pouvez aussi nous appeler au {unit.telephone}.\n" if unit.telephone else ""
    return (
        f"Bonjour {assure.prenoms} {assure.nom_affiche},\n\n"
        "Le service social de l'Assurance Maladie vous propose un rendez-vous. Choisissez le"
        " jour et l'heure qui vous conviennent en suivant ce lien :\n\n"
        f"{code_url(code)}\n\n"
        f"Votre code : {display(code)} (à taper sur {code_form_url()} si le lien ne s'ouvre"
        " pas). Il est personnel ; on vous demandera votre date de naissance.\n"
        f"{call}\n"
        f"{unit.name}\nService social de l'Assurance Maladie\n"
    )


def qr_data_uri(url):
    """The QR code of `url` as an SVG data: URI (the PDF renderer fetches nothing else)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, dark="#000")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def letter_context(*, assure, unit, code, today=None):
    return {
        "unit": unit,
        "recipient_lines": [
            f"{assure.prenoms} {assure.nom_affiche.upper()}",
            *[line.strip() for line in assure.adresse.splitlines() if line.strip()],
            f"{assure.code_postal} {assure.commune}",
        ],
        "today": today or timezone.localdate(),
        "code": display(code),
        "code_form_url": code_form_url(),
        "qr": qr_data_uri(code_url(code)),
    }


# --- The service -------------------------------------------------------------------------


def _about(context):
    if isinstance(context, Signalement):
        return context.unit
    if isinstance(context, Accompagnement):
        return context.unit
    raise TypeError("a booking link is sent from a Signalement or an Accompagnement")


def _record(*, context, channel, row, acting_user):
    label = f"Lien de prise de rendez-vous {Channel.done[channel]}"
    if isinstance(context, Signalement):
        SignalementEvent.objects.create(
            signalement=context,
            actor=acting_user,
            kind=SignalementEvent.Kind.CONTACT,
            new_value=label[:100],
            reason=label,
        )
    else:
        CaseEvent.objects.create(
            accompagnement=context,
            actor=acting_user,
            kind=CaseEvent.Kind.ENTRETIEN,
            summary=label,
            changes={"booking_link": channel, "access_code": row.pk},
        )
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=context,
        assure_id=context.assure_id,
        changes={"booking_link": [None, channel], "access_code": [None, row.pk]},
    )


@transaction.atomic
def booking_link_send(*, assure, context, channel, acting_user):
    """Issue a booking code for `assure` bound to `context` (the Signalement or Accompagnement
    it is sent from), valid BOOKING_LINK_DAYS days, and send it by `channel` (sms / email /
    courrier); the booking codes sent before from the same referral or case are revoked.
    Returns a `SentLink`; for a courrier its `pdf` is the letter to print. Raises a French
    ValidationError when the person has no mobile, e-mail or postal address for the
    channel; nothing is issued then."""
    if channel not in Channel.done:
        raise ValidationError("Canal d'envoi inconnu.", code="channel")
    if context.assure_id != assure.pk:
        raise ValueError("the person is not the one of the referral or case")
    recipient = recipient_for(assure, channel)
    if recipient is None:
        raise ValidationError(MISSING[channel], code=f"no_{channel}")
    unit = _about(context) or getattr(acting_user, "unit", None)
    if unit is None:
        raise ValidationError("Aucune unité : le lien ne peut pas être envoyé.", code="no_unit")
    expires_at = timezone.now() + datetime.timedelta(days=settings.BOOKING_LINK_DAYS)
    # One live link per referral or case: the new one replaces those sent before.
    access_codes_revoke_for(
        object_type=context._meta.label_lower,
        object_id=context.pk,
        acting_user=acting_user,
        purpose=AccessCode.Purpose.BOOKING,
    )
    row, code = access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=assure.pk,
        expires_at=expires_at,
        acting_user=acting_user,
        object_type=context._meta.label_lower,
        object_id=context.pk,
    )
    secrets = [code, display(code)]
    message = pdf = None
    if channel == Channel.SMS:
        message = send_sms(
            to=assure.telephone,
            body=sms_text(code, unit.telephone),
            template=SMS_TEMPLATE,
            assure_id=assure.pk,
            obj=context,
            secrets=secrets,
        )
    elif channel == Channel.EMAIL:
        message = send_email(
            to=assure.email,
            subject=EMAIL_SUBJECT,
            body=email_text(assure, code, unit),
            template=EMAIL_TEMPLATE,
            assure_id=assure.pk,
            obj=context,
            secrets=secrets,
        )
    else:
        pdf = render_pdf(LETTER_TEMPLATE, letter_context(assure=assure, unit=unit, code=code))
    _record(context=context, channel=channel, row=row, acting_user=acting_user)
    return SentLink(channel=channel, access_code=row, recipient=recipient, message=message, pdf=pdf)
