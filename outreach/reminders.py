"""Meeting reminders, 48 hours before (issue 10, item 7).

``reminders_send`` runs every 15 minutes (``pdp/celery.py``, task
``outreach.tasks.send_reminders``). In one pass:

1. one query selects the planned meetings starting in (now, now + 48 h] whose person wants
   reminders (``Assure.rappels``) and has a phone number or an e-mail address, and that have no
   ``Rappel`` yet for (meeting, kind, current time);
2. the channel of each is chosen — the person's ``canal_prefere`` first (e-mail if they prefer
   e-mail, else SMS), the other one if the first is unusable (not a mobile number, invalid
   address) — and one ``bulk_create(ignore_conflicts=True)`` writes the rows over the unique
   (entretien, kind, debut): a retry or a second worker cannot add a second row;
3. each unsent row is claimed (``UPDATE … SET sent_at = now WHERE sent_at IS NULL``) in its own
   transaction, and only the claimer issues a fresh « manage » code and sends the message. A
   crash before the commit rolls the claim back, so the next run sends it.

Choices:

- **A meeting moved** has a new ``debut``: its old row no longer matches and is never sent; the
  new time gets its own row. **A cancelled meeting** (any status but planifié) gets none, and a
  row not sent yet is not sent once the meeting is cancelled or moved.
- **A meeting booked (or moved) less than 48 hours before it starts** already got its
  confirmation, which carries the same link: a second message so soon is noise (RDV Service
  Public's users complain of it). So a reminder is skipped, with the reason
  ``Skipped.RECENT_MESSAGE``, when a message about the meeting other than a reminder (object
  ``cases.entretien`` / its pk, as ``pdp.messaging`` records it: the booking confirmation, a
  move notice) was sent in the 48 hours before its start. A meeting planned by staff without a
  message to the person gets its reminder.
- **Quiet hours**: an SMS reminder is not even written while SMS are not allowed (night,
  Sunday, public holiday, ``pdp.messaging.quiet_hours``): the row is made by the first run of
  the allowed hours, so a meeting cancelled overnight gets no reminder at 08:00. (Were one
  written anyway, ``send_sms`` would defer it.) E-mail reminders have no quiet hours.
- The text says « rendez-vous avec le service social de l'Assurance Maladie » and nothing about
  health; the code is passed as a secret, so the stored message shows it masked.
"""

import datetime
import logging

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Q
from django.db.models.functions import Cast
from django.utils import timezone

from cases.models import Entretien, PlageOuverture
from outreach.models import Rappel
from pdp.access_codes import access_code_issue, code_url
from pdp.audit import audit
from pdp.messaging import normalise_phone, quiet_hours, send_email, send_sms
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Assure, Canal

logger = logging.getLogger(__name__)

LEAD_TIME = datetime.timedelta(hours=48)
TEMPLATE = "outreach/rappel_j2"
ENTRETIEN_LABEL = "cases.entretien"

_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def french_moment(moment):
    """« mardi 12 mars à 14 h 00 », in Paris time."""
    local = timezone.localtime(moment)
    return (
        f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} "
        f"à {local.hour} h {local.minute:02d}"
    )


def _place(entretien, lieux):
    mode = entretien.mode
    if mode == Entretien.Mode.SUR_PLACE:
        lieu = lieux.get(entretien.pk)
        return f"sur place, {lieu}" if lieu else "sur place"
    return {
        Entretien.Mode.TELEPHONE: "par téléphone",
        Entretien.Mode.VISIO: "en web-entretien",
        Entretien.Mode.DOMICILE: "à votre domicile",
    }.get(mode, "")


def reminder_text(entretien, *, lieu="", url):
    """The reminder's text (SMS and e-mail body)."""
    place = _place(entretien, {entretien.pk: lieu})
    return (
        "Rappel : rendez-vous avec le service social de l'Assurance Maladie le "
        f"{french_moment(entretien.debut)} ({place}). Pour annuler ou déplacer : {url}"
    )


def _sms_ok(assure):
    try:
        normalise_phone(assure.telephone, mobile=True)
    except ValidationError:
        return False
    return True


def _email_ok(assure):
    try:
        validate_email((assure.email or "").strip())
    except ValidationError:
        return False
    return True


def choose_channel(assure):
    """The channel a reminder takes to ``assure``: their preferred one (e-mail if they prefer
    e-mail, SMS otherwise) if usable, else the other; "" if neither is."""
    order = [Rappel.Channel.SMS, Rappel.Channel.EMAIL]
    if assure.canal_prefere == Canal.EMAIL:
        order.reverse()
    usable = {Rappel.Channel.SMS: _sms_ok, Rappel.Channel.EMAIL: _email_ok}
    return next((channel for channel in order if usable[channel](assure)), "")


def _lieux(entretiens):
    """{entretien pk: place} for the on-site meetings, from the opening range of their ASS
    that holds the meeting (one query for all)."""
    on_site = [e for e in entretiens if e.mode == Entretien.Mode.SUR_PLACE]
    if not on_site:
        return {}
    plages = PlageOuverture.objects.filter(ass_id__in={e.ass_id for e in on_site}).exclude(lieu="")
    by_ass = {}
    for plage in plages:
        by_ass.setdefault(plage.ass_id, []).append(plage)
    lieux = {}
    for entretien in on_site:
        local = timezone.localtime(entretien.debut)
        for plage in by_ass.get(entretien.ass_id, ()):
            if (
                plage.weekday == local.weekday()
                and plage.heure_debut <= local.time() < plage.heure_fin
                and plage.premier_jour <= local.date()
                and (plage.dernier_jour is None or local.date() <= plage.dernier_jour)
            ):
                lieux[entretien.pk] = plage.lieu
                break
    return lieux


def _candidates(now):
    """Planned meetings in (now, now + LEAD_TIME] that want a reminder and have none for their
    current time, with ``recent_message`` (a non-reminder message about it in the 48 h)."""
    already = Rappel.objects.filter(
        entretien=OuterRef("pk"), kind=Rappel.Kind.J_2, debut=OuterRef("debut")
    )
    recent = Message.objects.filter(
        object_type=ENTRETIEN_LABEL,
        object_id=Cast(OuterRef("pk"), CharField()),
        created_at__gte=OuterRef("debut") - LEAD_TIME,
    ).exclude(template=TEMPLATE)
    return (
        Entretien.objects.filter(
            statut=Entretien.Statut.PLANIFIE,
            debut__gt=now,
            debut__lte=now + LEAD_TIME,
            accompagnement__assure__rappels=True,
        )
        .filter(~Q(accompagnement__assure__telephone="") | ~Q(accompagnement__assure__email=""))
        .exclude(Exists(already))
        .annotate(recent_message=Exists(recent))
        .select_related("accompagnement__assure")
        .order_by("debut")
    )


def _send_one(rappel, now, lieux):
    """Claim ``rappel`` and send it. True if this call sent it."""
    with transaction.atomic():
        # No join in this UPDATE: Django would turn one into « WHERE id IN (SELECT …) », whose
        # snapshot PostgreSQL does not re-check after waiting for the other worker's commit.
        claimed = Rappel.objects.filter(
            pk=rappel.pk, sent_at__isnull=True, skipped_reason=""
        ).update(sent_at=now)
        if claimed != 1:
            return False
        # Locked: a cancellation or a move at the same time waits for this reminder, or this
        # reminder sees it (and the claim is rolled back with the savepoint).
        entretien = (
            Entretien.objects.select_for_update(of=("self",))
            .select_related("accompagnement__assure")
            .get(pk=rappel.entretien_id)
        )
        if entretien.statut != Entretien.Statut.PLANIFIE or entretien.debut != rappel.debut:
            transaction.set_rollback(True)
            return False
        assure = entretien.accompagnement.assure
        _row, code = access_code_issue(
            purpose=AccessCode.Purpose.MANAGE,
            assure_id=assure.pk,
            expires_at=entretien.debut,
            object_type=ENTRETIEN_LABEL,
            object_id=str(entretien.pk),
        )
        text = reminder_text(entretien, lieu=lieux.get(entretien.pk, ""), url=code_url(code))
        common = {
            "body": text,
            "template": TEMPLATE,
            "assure_id": assure.pk,
            "obj": entretien,
            "secrets": [code],
        }
        try:
            if rappel.channel == Rappel.Channel.SMS:
                message = send_sms(to=assure.telephone, **common)
            else:
                message = send_email(
                    to=assure.email,
                    subject=f"Rappel de votre rendez-vous du {french_moment(entretien.debut)}",
                    **common,
                )
        except ValidationError:
            # The contact details changed since the row was made: nothing to send to.
            Rappel.objects.filter(pk=rappel.pk).update(
                sent_at=None, skipped_reason=Rappel.Skipped.NO_CHANNEL
            )
            return False
        Rappel.objects.filter(pk=rappel.pk).update(message=message)
    return True


def reminders_send(*, now=None):
    """Write and send the reminders due at ``now`` (see the module). Safe to run twice or in
    two workers at once. Returns {"looked_at", "created", "skipped", "sent"}."""
    now = now or timezone.now()
    sms_allowed = quiet_hours.is_allowed(now)
    candidates = list(_candidates(now))
    rows = []
    for entretien in candidates:
        assure = entretien.accompagnement.assure
        channel = choose_channel(assure)
        skipped = ""
        if not channel:
            skipped = Rappel.Skipped.NO_CHANNEL
        elif entretien.recent_message:
            skipped = Rappel.Skipped.RECENT_MESSAGE
        elif channel == Rappel.Channel.SMS and not sms_allowed:
            continue  # written by the first run of the allowed hours
        rows.append(
            Rappel(
                entretien=entretien,
                kind=Rappel.Kind.J_2,
                debut=entretien.debut,
                channel=channel,
                skipped_reason=skipped,
            )
        )
    Rappel.objects.bulk_create(rows, ignore_conflicts=True)

    due = list(
        Rappel.objects.filter(
            kind=Rappel.Kind.J_2,
            sent_at__isnull=True,
            skipped_reason="",
            debut__gt=now,
            entretien__statut=Entretien.Statut.PLANIFIE,
            entretien__debut=F("debut"),
        ).select_related("entretien__accompagnement__assure")
    )
    lieux = _lieux([rappel.entretien for rappel in due])
    sent = sum(_send_one(rappel, now, lieux) for rappel in due)
    result = {
        "looked_at": len(candidates),
        "created": len(rows),
        "skipped": sum(1 for row in rows if row.skipped_reason),
        "sent": sent,
    }
    logger.info(
        "reminders_send: %(looked_at)d meetings looked at, %(created)d reminders written "
        "(%(skipped)d skipped), %(sent)d sent",
        result,
    )
    return result


@transaction.atomic
def assure_reminders_set(*, assure, enabled, acting_user=None):
    """Turn ``assure``'s meeting reminders on or off (staff, or the person on the public
    « manage » page: ``acting_user`` None). Audited. Returns True if it changed."""
    assure = Assure.objects.select_for_update().get(pk=assure.pk)
    enabled = bool(enabled)
    if assure.rappels == enabled:
        return False
    old = assure.rappels
    assure.rappels = enabled
    assure.save(update_fields=["rappels", "updated_at"])
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=assure,
        assure_id=assure.pk,
        changes={"rappels": [old, enabled]},
    )
    return True
