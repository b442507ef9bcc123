"""Meeting reminders, 48 hours before (issue 10, item 7).

``reminders_send`` runs every 15 minutes (``pdp/celery.py``, task
``outreach.tasks.send_reminders``). In one pass:

1. two queries select the meetings starting in (now, now + 48 h] whose person wants
   reminders (``Assure.rappels``) and has a phone number or an e-mail address, and that have no
   ``Rappel`` yet for (meeting, kind, current time): the planned entretiens of cases, and the
   first meetings proposed on referrals (status « rencontre proposée », ``rdv_debut``: a
   person without an open case who booked online; their « manage » code is bound to
   ``referrals.signalement:<pk>``, mode and place come from the ``rdv_*`` fields);
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
  move notice) was sent in the 48 hours before its start — ``referrals.signalement`` for a
  referral's first meeting. A meeting planned by staff without a message to the person gets its
  reminder. **A case opened from a referral** turns its first meeting into an entretien at the
  same time: that entretien is skipped the same way when the referral's reminder went out (or
  was skipped for a recent message), or a message about the referral did, in the 48 hours.
- **Quiet hours**: an SMS reminder is not even written while SMS are not allowed (night,
  Sunday, public holiday, ``pdp.messaging.quiet_hours``): the row is made by the first run of
  the allowed hours, so a meeting cancelled overnight gets no reminder at 08:00. (Were one
  written anyway, ``send_sms`` would defer it.) E-mail reminders have no quiet hours.
- The text says « rendez-vous avec le service social de l'Assurance Maladie » and nothing about
  health; the code is passed as a secret, so the stored message shows it masked.
"""

import dataclasses
import datetime
import logging

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import BooleanField, CharField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import Entretien, PlageOuverture
from outreach.models import Rappel
from pdp.access_codes import access_code_issue, code_url
from pdp.audit import audit
from pdp.messaging import normalise_phone, quiet_hours, send_email, send_sms
from pdp.models import AccessCode, AuditLog, Message
from referrals.models import Assure, Canal, Signalement, Statut

logger = logging.getLogger(__name__)

LEAD_TIME = datetime.timedelta(hours=48)
TEMPLATE = "outreach/rappel_j2"
ENTRETIEN_LABEL = "cases.entretien"
SIGNALEMENT_LABEL = "referrals.signalement"


def french_moment(moment):
    """« mardi 12 mars à 14 h 00 », in Paris time."""
    local = timezone.localtime(moment)
    return f"{date_format(local, 'l j F')} à {local.hour} h {local.minute:02d}"


@dataclasses.dataclass(frozen=True)
class _Meeting:
    """What a reminder needs of a meeting, be it a planned entretien or the first meeting
    proposed on a referral."""

    obj: Entretien | Signalement
    label: str  # the object_type of its messages and « manage » codes
    assure: Assure
    debut: datetime.datetime
    mode: str
    ass_id: int | None

    @property
    def key(self):
        return (self.label, self.obj.pk)


def _of_entretien(entretien):
    return _Meeting(
        obj=entretien,
        label=ENTRETIEN_LABEL,
        assure=entretien.accompagnement.assure,
        debut=entretien.debut,
        mode=entretien.mode,
        ass_id=entretien.ass_id,
    )


def _of_referral(signalement):
    return _Meeting(
        obj=signalement,
        label=SIGNALEMENT_LABEL,
        assure=signalement.assure,
        debut=signalement.rdv_debut,
        mode=signalement.rdv_mode,
        ass_id=signalement.rdv_ass_id,
    )


def _place(mode, lieu=""):
    if mode == Entretien.Mode.SUR_PLACE:
        return f"sur place, {lieu}" if lieu else "sur place"
    return {
        Entretien.Mode.TELEPHONE: "par téléphone",
        Entretien.Mode.VISIO: "en web-entretien",
        Entretien.Mode.DOMICILE: "à votre domicile",
    }.get(mode, "")


def reminder_text(*, debut, mode, lieu="", url):
    """The reminder's text (SMS and e-mail body) for a meeting at ``debut`` held ``mode``."""
    return (
        "Rappel : rendez-vous avec le service social de l'Assurance Maladie le "
        f"{french_moment(debut)} ({_place(mode, lieu)}). Pour annuler ou déplacer : {url}"
    )


def _sms_ok(assure):
    try:
        normalise_phone(assure.telephone, mobile=True)
    except ValidationError:
        return False
    return True


def email_ok(assure):
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
    usable = {Rappel.Channel.SMS: _sms_ok, Rappel.Channel.EMAIL: email_ok}
    return next((channel for channel in order if usable[channel](assure)), "")


def _lieux(meetings):
    """{meeting key: place} for the on-site meetings, from the opening range of their ASS
    that holds the meeting (one query for all)."""
    on_site = [m for m in meetings if m.mode == Entretien.Mode.SUR_PLACE and m.ass_id]
    if not on_site:
        return {}
    plages = PlageOuverture.objects.filter(ass_id__in={m.ass_id for m in on_site}).exclude(lieu="")
    by_ass = {}
    for plage in plages:
        by_ass.setdefault(plage.ass_id, []).append(plage)
    lieux = {}
    for meeting in on_site:
        local = timezone.localtime(meeting.debut)
        for plage in by_ass.get(meeting.ass_id, ()):
            if (
                plage.weekday == local.weekday()
                and plage.heure_debut <= local.time() < plage.heure_fin
                and plage.premier_jour <= local.date()
                and (plage.dernier_jour is None or local.date() <= plage.dernier_jour)
            ):
                lieux[meeting.key] = plage.lieu
                break
    return lieux


def _recent_messages(label, pk_ref, debut_ref):
    """Messages about the meeting (object ``label`` / ``pk_ref``), reminders apart, sent in
    the LEAD_TIME before its start ``debut_ref``."""
    return Message.objects.filter(
        object_type=label,
        object_id=Cast(pk_ref, CharField()),
        created_at__gte=debut_ref - LEAD_TIME,
    ).exclude(template=TEMPLATE)


def _candidates(now):
    """Planned meetings in (now, now + LEAD_TIME] that want a reminder and have none for their
    current time, with ``recent_message``: a non-reminder message about it in the 48 h — or,
    for the first meeting of a case opened from a referral (same time as the referral's
    proposed one), a message about the referral in the 48 h or the referral's reminder (sent,
    or skipped for a recent message): the person was told already."""
    already = Rappel.objects.filter(
        entretien=OuterRef("pk"), kind=Rappel.Kind.J_2, debut=OuterRef("debut")
    )
    referral_reminded = Rappel.objects.filter(
        signalement=OuterRef("accompagnement__signalement_id"),
        kind=Rappel.Kind.J_2,
        debut=OuterRef("debut"),
    ).filter(Q(sent_at__isnull=False) | Q(skipped_reason=Rappel.Skipped.RECENT_MESSAGE))
    referral_messages = _recent_messages(
        SIGNALEMENT_LABEL, OuterRef("accompagnement__signalement_id"), OuterRef("debut")
    )
    return (
        Entretien.objects.filter(
            statut=Entretien.Statut.PLANIFIE,
            debut__gt=now,
            debut__lte=now + LEAD_TIME,
            accompagnement__assure__rappels=True,
        )
        .filter(~Q(accompagnement__assure__telephone="") | ~Q(accompagnement__assure__email=""))
        .exclude(Exists(already))
        .annotate(
            recent_message=ExpressionWrapper(
                Exists(_recent_messages(ENTRETIEN_LABEL, OuterRef("pk"), OuterRef("debut")))
                | Exists(referral_reminded)
                | (
                    Q(accompagnement__signalement__rdv_debut=F("debut")) & Exists(referral_messages)
                ),
                output_field=BooleanField(),
            )
        )
        .select_related("accompagnement__assure")
        .order_by("debut")
    )


def _referral_candidates(now):
    """Referrals whose proposed first meeting (« rencontre proposée », ``rdv_debut``) is in
    (now, now + LEAD_TIME], that want a reminder and have none for that time, with
    ``recent_message`` (a non-reminder message about the referral in the 48 h before it)."""
    already = Rappel.objects.filter(
        signalement=OuterRef("pk"), kind=Rappel.Kind.J_2, debut=OuterRef("rdv_debut")
    )
    return (
        Signalement.objects.filter(
            statut=Statut.RENCONTRE_PROPOSEE,
            rdv_debut__gt=now,
            rdv_debut__lte=now + LEAD_TIME,
            assure__rappels=True,
        )
        .filter(~Q(assure__telephone="") | ~Q(assure__email=""))
        .exclude(Exists(already))
        .annotate(
            recent_message=Exists(
                _recent_messages(SIGNALEMENT_LABEL, OuterRef("pk"), OuterRef("rdv_debut"))
            )
        )
        .select_related("assure")
        .order_by("rdv_debut")
    )


def _locked_meeting(rappel):
    """The reminded meeting, locked, or None if it is no longer due at the reminder's time
    (cancelled, moved, the referral handled otherwise)."""
    if rappel.entretien_id is not None:
        entretien = (
            Entretien.objects.select_for_update(of=("self",))
            .select_related("accompagnement__assure")
            .get(pk=rappel.entretien_id)
        )
        if entretien.statut != Entretien.Statut.PLANIFIE or entretien.debut != rappel.debut:
            return None
        return _of_entretien(entretien)
    signalement = (
        Signalement.objects.select_for_update(of=("self",))
        .select_related("assure")
        .get(pk=rappel.signalement_id)
    )
    if signalement.statut != Statut.RENCONTRE_PROPOSEE or signalement.rdv_debut != rappel.debut:
        return None
    return _of_referral(signalement)


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
        meeting = _locked_meeting(rappel)
        if meeting is None:
            transaction.set_rollback(True)
            return False
        assure = meeting.assure
        _row, code = access_code_issue(
            purpose=AccessCode.Purpose.MANAGE,
            assure_id=assure.pk,
            expires_at=meeting.debut,
            object_type=meeting.label,
            object_id=str(meeting.obj.pk),
        )
        text = reminder_text(
            debut=meeting.debut,
            mode=meeting.mode,
            lieu=lieux.get(meeting.key, ""),
            url=code_url(code),
        )
        common = {
            "body": text,
            "template": TEMPLATE,
            "assure_id": assure.pk,
            "obj": meeting.obj,
            "secrets": [code],
        }
        try:
            if rappel.channel == Rappel.Channel.SMS:
                message = send_sms(to=assure.telephone, **common)
            else:
                message = send_email(
                    to=assure.email,
                    subject=f"Rappel de votre rendez-vous du {french_moment(meeting.debut)}",
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


def _due(now):
    """The unsent reminders whose meeting is still due at their time: (rappel, meeting)
    pairs, in two queries (entretiens, referrals)."""
    pending = Rappel.objects.filter(
        kind=Rappel.Kind.J_2, sent_at__isnull=True, skipped_reason="", debut__gt=now
    )
    entretien_rows = pending.filter(
        entretien__statut=Entretien.Statut.PLANIFIE, entretien__debut=F("debut")
    ).select_related("entretien__accompagnement__assure")
    referral_rows = pending.filter(
        signalement__statut=Statut.RENCONTRE_PROPOSEE, signalement__rdv_debut=F("debut")
    ).select_related("signalement__assure")
    return [(rappel, _of_entretien(rappel.entretien)) for rappel in entretien_rows] + [
        (rappel, _of_referral(rappel.signalement)) for rappel in referral_rows
    ]


def reminders_send(*, now=None):
    """Write and send the reminders due at ``now`` (see the module). Safe to run twice or in
    two workers at once. Returns {"looked_at", "created", "skipped", "sent"}."""
    now = now or timezone.now()
    sms_allowed = quiet_hours.is_allowed(now)
    candidates = [(e, _of_entretien(e)) for e in _candidates(now)] + [
        (s, _of_referral(s)) for s in _referral_candidates(now)
    ]
    rows = []
    for obj, meeting in candidates:
        channel = choose_channel(meeting.assure)
        skipped = ""
        if not channel:
            skipped = Rappel.Skipped.NO_CHANNEL
        elif obj.recent_message:
            skipped = Rappel.Skipped.RECENT_MESSAGE
        elif channel == Rappel.Channel.SMS and not sms_allowed:
            continue  # written by the first run of the allowed hours
        target = "entretien" if meeting.label == ENTRETIEN_LABEL else "signalement"
        rows.append(
            Rappel(
                **{target: obj},
                kind=Rappel.Kind.J_2,
                debut=meeting.debut,
                channel=channel,
                skipped_reason=skipped,
            )
        )
    Rappel.objects.bulk_create(rows, ignore_conflicts=True)

    due = _due(now)
    lieux = _lieux([meeting for _rappel, meeting in due])
    sent = sum(_send_one(rappel, now, lieux) for rappel, _meeting in due)
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
