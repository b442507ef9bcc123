"""Self-service booking with an access code (issue 10, items 3 and 4): book, move, cancel.

A « booking » code (`pdp.access_codes`, purpose booking) is bound to the referral or the case
the link was sent from. It opens a `BookingContext`: the person, their open case (if any) or
their open service social referral, the ASS whose slots are offered and the motif:
- an open accompagnement: its référent, motif « Rendez-vous de suivi »; the booking is a
  planned `Entretien` of the case (`cases.agenda.entretien_schedule`);
- otherwise the open referral: its assigned ASS, else every active ASS of its unit, motif
  « Premier rendez-vous »; the booking is the referral's proposed first meeting, stored as a
  conseiller stores it (`referrals.services.signalement_hand_over`): status « rencontre
  proposée », `rdv_*` fields, assigned to that ASS. When the ASS opens the case it becomes a
  planned entretien (`cases.services.case_open_from_signalement`).

No double booking: every booking, move and cancellation first locks the ASS's user row (two
bookings for one ASS wait for each other, so the second sees the first in `free_slots`), and
on PostgreSQL the exclusion constraint `entretien_no_overlap_per_ass` refuses overlapping
planned entretiens whatever the path. Either refusal becomes `SlotTaken` (« Ce créneau vient
d'être pris »), carrying the next free slots, and the whole transaction is undone: the booking
code is not spent.

A booking spends the code (`access_code_use`) and issues a « manage » code bound to the
meeting (`cases.entretien:<pk>` or `referrals.signalement:<pk>`), valid until the meeting
starts, sent in the confirmation (SMS or e-mail with an ICS file). With it the person cancels
(until `Motif.annulable_jusqu_heures` before) or moves (until `Motif.modifiable_jusqu_heures`
before); a move revokes it and sends a new one. A cancellation revokes it too, tells the
person (SMS or e-mail, with an ICS file that cancels the event) and hands them a fresh booking
code bound to the same case or referral, so that they can book again at once (the cancelled page
offers it, the message carries it). No clear code is written anywhere but in the message handed
to the sender (masked in the `Message` row).

Campaign codes (issue 12): a booking code bound to a campaign's target (`outreach.cible`)
opens, while the target can still be answered (`campaign_answers.answerable_target`), the
person's open case or open referral as above if they got one meanwhile, else a campaign
context: the « Premier rendez-vous » slots of the active ASS of the unit the answer goes to
(`campaign_answers.target_unit`: the unit the person's postal code routes to, else the
campaign's unit — where the referral will be routed). Booking it creates, in the booking's
transaction, the referral of origin « campagne » (`campaign_answers.referral_for_target`) and
books its first meeting as for any referral; every first meeting booked on a referral then
calls `campaign_answers.on_referral_meeting_booked` (a no-op without a campaign target), which
marks the target « rendez-vous pris » and expires the person's other open invitations. A slot
taken meanwhile undoes it all: no referral is left behind. A dead target (expired, refused,
answered, campaign not validée or en cours) opens nothing: the neutral invalid-code page.

One booking per link: booking a referral's first meeting revokes the referral's other booking
codes, and a referral whose first meeting is booked opens no booking (`booking_context` is None:
the person moves it with their « manage » code). When the ASS opens the case from the referral,
the meeting becomes a planned entretien (`cases.extensions.first_meeting_planned`) and the
person's « manage » codes follow it (`on_first_meeting_planned`).
"""

import dataclasses
import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases import agenda
from cases.availability import free_slots
from cases.models import Accompagnement, CaseEvent, Entretien, Motif, PlageOuverture
from cases.services import case_event_add
from outreach import ics, reminders
from outreach.models import CanalCampagne
from pdp import access_codes
from pdp.access_codes import code_url
from pdp.audit import audit
from pdp.messaging import quiet_hours, send_email, send_sms
from pdp.models import AccessCode, AuditLog, Message, Role, Unit, User
from referrals import services as referral_services
from referrals.models import Assure, Canal, ContactAttempt, Service, Signalement

MOTIF_FIRST = "Premier rendez-vous"
MOTIF_FOLLOW_UP = "Rendez-vous de suivi"
ENTRETIEN = "cases.entretien"
SIGNALEMENT = "referrals.signalement"
ACCOMPAGNEMENT = "cases.accompagnement"
# What a public page offers: slots up to this far ahead (the motif's window may be shorter).
NEXT_SLOTS_AFTER_CONFLICT = 6
MOVED = "booking_moved"  # audit keys counting the moves and the cancellation of a meeting
CANCELLED = "booking_cancelled"  # (the ICS SEQUENCE)

SLOT_TAKEN = "Ce créneau vient d'être pris. Choisissez-en un autre."
TOO_LATE_CANCEL = (
    "Il est trop tard pour annuler en ligne ce rendez-vous : appelez le service social."
)
TOO_LATE_MOVE = (
    "Il est trop tard pour déplacer en ligne ce rendez-vous : appelez le service social."
)
NOT_BOOKABLE = "Ce lien ne permet plus de prendre rendez-vous : appelez le service social."
CANCEL_REASON_MAX_LENGTH = 500


class SlotTaken(ValidationError):
    """The chosen slot is no longer free; `next_slots` are the next free ones (may be [])."""

    def __init__(self, next_slots=()):
        super().__init__(SLOT_TAKEN, code="slot_taken")
        self.next_slots = list(next_slots)


@dataclasses.dataclass
class BookingContext:
    assure: Assure
    unit: Unit
    motif: Motif
    ass_ids: list
    accompagnement: Accompagnement | None = None
    signalement: Signalement | None = None
    cible: object = None  # outreach.models.Cible, for a code a campaign sent

    @property
    def refusable(self):
        """A campaign's invitation with nothing open yet: the person may decline it."""
        return self.cible is not None and self.accompagnement is None and self.signalement is None


@dataclasses.dataclass
class Meeting:
    """A booked meeting as the public pages show it, whichever record holds it."""

    kind: str  # ENTRETIEN or SIGNALEMENT
    pk: int
    assure: Assure
    unit: Unit
    ass: User
    debut: datetime.datetime
    duree_minutes: int
    mode: str
    motif: Motif
    cancelled: bool = False

    @property
    def fin(self):
        return self.debut + datetime.timedelta(minutes=self.duree_minutes)

    @property
    def mode_label(self):
        return Entretien.Mode(self.mode).label

    @property
    def uid(self):
        return f"entretien-{self.pk}@pdp" if self.kind == ENTRETIEN else f"rdv-{self.pk}@pdp"

    @property
    def place(self):
        return meeting_place(self.ass, self.debut, self.mode, self.unit)

    @property
    def sequence(self):
        return AuditLog.objects.filter(
            object_type=self.kind, object_id=str(self.pk), changes__has_any_keys=[MOVED, CANCELLED]
        ).count()

    @property
    def reminder_channel(self):
        """ "sms" or "email": how the 48-hour reminder would reach the person; None if neither."""
        return reachable_by(self.assure)

    @property
    def reminder_ahead(self):
        """Whether the 48-hour reminder is still to come (False once within 48 hours)."""
        return self.debut - timezone.now() > reminders.LEAD_TIME

    def can_cancel(self, now=None):
        now = now or timezone.now()
        limit = datetime.timedelta(hours=self.motif.annulable_jusqu_heures)
        return not self.cancelled and now <= self.debut - limit

    def can_move(self, now=None):
        now = now or timezone.now()
        limit = datetime.timedelta(hours=self.motif.modifiable_jusqu_heures)
        return not self.cancelled and now <= self.debut - limit


def motif_named(label):
    motif = Motif.objects.filter(label=label, active=True).first()
    if motif is None:  # a deployment without the data migration's rows: the model's defaults
        motif = Motif(label=label)
    return motif


def meeting_place(ass, debut, mode, unit):
    """Where the meeting is: the opening range's place for « sur place », else the mode."""
    if mode != Entretien.Mode.SUR_PLACE:
        return Entretien.Mode(mode).label
    local = timezone.localtime(debut)
    plage = (
        PlageOuverture.objects.filter(
            ass=ass,
            weekday=local.weekday(),
            heure_debut__lte=local.time(),
            heure_fin__gt=local.time(),
            premier_jour__lte=local.date(),
        )
        .exclude(dernier_jour__lt=local.date())
        .exclude(lieu="")
        .first()
    )
    return plage.lieu if plage is not None else str(unit)


# --- Context ----------------------------------------------------------------------------------


def _object_pk(row, object_type):
    if row.object_type != object_type:
        return None
    try:
        return int(row.object_id)
    except ValueError:
        return None


def _active_ass_ids(unit_id, first=None):
    staff = User.objects.filter(unit=unit_id, role=Role.ASS, is_active=True)
    assigned = staff.filter(pk=first).values_list("pk", flat=True) if first else []
    return list(assigned) or list(staff.order_by("pk").values_list("pk", flat=True))


def booking_context(*, code_row):
    """What a booking code opens, or None if there is nothing left to book for (case closed,
    referral closed, unit without ASS, campaign target no longer answerable)."""
    from outreach import campaign_answers  # outreach.campaigns imports this module

    if code_row.purpose != AccessCode.Purpose.BOOKING:
        return None
    cible = None
    if code_row.object_type == campaign_answers.CIBLE:
        cible = campaign_answers.answerable_target(code_row=code_row)
        if cible is None:
            return None
        assure = cible.assure
    else:
        assure = Assure.objects.filter(pk=code_row.assure_id).first()
    if assure is None:
        return None
    cases = Accompagnement.objects.open().filter(assure=assure).select_related("referent", "unit")
    case_pk = _object_pk(code_row, ACCOMPAGNEMENT)
    case = (cases.filter(pk=case_pk).first() if case_pk else None) or cases.order_by("-pk").first()
    if case is not None and case.referent_id and case.referent.is_active:
        return BookingContext(
            assure=assure,
            unit=case.unit,
            motif=motif_named(MOTIF_FOLLOW_UP),
            ass_ids=[case.referent_id],
            accompagnement=case,
        )
    referrals = Signalement.objects.open().filter(
        assure=assure, service=Service.SOCIAL, unit__isnull=False
    )
    referral_pk = _object_pk(code_row, SIGNALEMENT)
    referral = (
        referrals.filter(pk=referral_pk).first() if referral_pk else None
    ) or referrals.order_by("-pk").first()
    if referral is None and cible is not None:
        return _campaign_context(assure, cible)
    if referral is None or (referral.rdv_debut is not None and referral.rdv_debut > timezone.now()):
        return None  # nothing open, or its first meeting is booked: moved with the manage code
    ass_ids = _active_ass_ids(referral.unit_id, first=referral.assigned_to_id)
    if not ass_ids:
        return None
    return BookingContext(
        assure=assure,
        unit=referral.unit,
        motif=motif_named(MOTIF_FIRST),
        ass_ids=ass_ids,
        signalement=referral,
        cible=cible,
    )


def _campaign_context(assure, cible):
    """A campaign's target with nothing open: the first-meeting slots of every active ASS of
    the unit the answer goes to (None when there is no such unit or no ASS in it)."""
    from outreach import campaign_answers

    unit = campaign_answers.target_unit(cible)
    ass_ids = _active_ass_ids(unit.pk) if unit is not None else []
    if not ass_ids:
        return None
    return BookingContext(
        assure=assure, unit=unit, motif=motif_named(MOTIF_FIRST), ass_ids=ass_ids, cible=cible
    )


def booking_modes(context, now=None):
    """The modes offered: those of the ASS's current or future ranges that the motif allows,
    in the order of `Entretien.Mode`."""
    today = timezone.localdate(now)
    allowed = set()
    for modes in (
        PlageOuverture.objects.filter(ass_id__in=context.ass_ids)
        .exclude(dernier_jour__lt=today)
        .values_list("modes", flat=True)
        .order_by()
        .distinct()  # a few combinations of modes, not one row per range of the unit
    ):
        allowed.update(modes)
    return [m for m in Entretien.Mode.values if m in allowed and context.motif.allows(m)]


def booking_slots(*, ass_ids, motif, mode, start, end, now=None):
    """[(debut, fin, ass_id), …] sorted by time: one entry per start time (the first ASS
    free then, by id), so that the person chooses a time, not a worker."""
    found = free_slots(ass_ids=ass_ids, start=start, end=end, motif=motif, mode=mode, now=now)
    by_start = {}
    for ass_id in sorted(found):
        for debut, fin in found[ass_id]:
            by_start.setdefault(debut, (debut, fin, ass_id))
    return [by_start[debut] for debut in sorted(by_start)]


def slot_owner(*, context, mode, debut, now=None):
    """The ASS free at `debut` for this context and mode, or None."""
    length = datetime.timedelta(minutes=context.motif.duree_minutes)
    for start, _fin, ass_id in booking_slots(
        ass_ids=context.ass_ids,
        motif=context.motif,
        mode=mode,
        start=debut,
        end=debut + length,
        now=now,
    ):
        if start == debut:
            return User.objects.get(pk=ass_id)
    return None


def next_slots(ass_ids, motif, mode, after):
    now = timezone.now()
    slots = booking_slots(
        ass_ids=ass_ids,
        motif=motif,
        mode=mode,
        start=after,
        end=now + datetime.timedelta(days=motif.delai_max_jours),
    )
    return slots[:NEXT_SLOTS_AFTER_CONFLICT]


def _lock_ass(ass):
    User.objects.select_for_update().filter(pk=ass.pk).values_list("pk", flat=True).get()


def _require_free(*, ass, motif, mode, debut, next_ass_ids):
    """Refuse unless `debut` is a free slot of `ass` now (after the lock) — one of the slots
    the pages show: computed from the start of its day, so a forged time between two slots
    (9:05 when they are 9:00 and 10:00) is refused too."""
    length = datetime.timedelta(minutes=motif.duree_minutes)
    local = timezone.localtime(debut)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    found = free_slots(
        ass_ids=[ass.pk], start=day_start, end=debut + length, motif=motif, mode=mode
    )[ass.pk]
    if not any(start == debut for start, _fin in found):
        raise SlotTaken(next_slots(next_ass_ids, motif, mode, debut))


def _is_slot_refusal(exc):
    return hasattr(exc, "error_dict") and "debut" in exc.error_dict


# --- Meetings behind a manage code ---------------------------------------------------------


def meeting_for(*, code_row):
    """The meeting a « manage » code is bound to, or None (cancelled, case opened since)."""
    if code_row.purpose != AccessCode.Purpose.MANAGE:
        return None
    entretien_pk = _object_pk(code_row, ENTRETIEN)
    if entretien_pk is not None:
        entretien = (
            Entretien.objects.filter(pk=entretien_pk, accompagnement__assure_id=code_row.assure_id)
            .select_related("accompagnement__assure", "accompagnement__unit", "ass")
            .first()
        )
        if entretien is None:
            return None
        return _entretien_meeting(entretien)
    referral_pk = _object_pk(code_row, SIGNALEMENT)
    if referral_pk is not None:
        referral = (
            Signalement.objects.open()
            .filter(pk=referral_pk, assure_id=code_row.assure_id, rdv_debut__isnull=False)
            .select_related("assure", "unit", "rdv_ass")
            .first()
        )
        if referral is None:
            return None
        return _referral_meeting(referral)
    return None


def on_first_meeting_planned(sender, *, signalement, entretien, acting_user, **kwargs):
    """The case opened from a referral turned its first meeting into `entretien`: the person's
    « manage » codes bound to the referral now open the entretien (same link, same page)."""
    moved = AccessCode.objects.filter(
        purpose=AccessCode.Purpose.MANAGE,
        object_type=SIGNALEMENT,
        object_id=str(signalement.pk),
        revoked_at__isnull=True,
    ).update(object_type=ENTRETIEN, object_id=str(entretien.pk))
    if moved:
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=entretien,
            assure_id=signalement.assure_id,
            changes={"manage_codes": [f"{SIGNALEMENT}:{signalement.pk}", moved]},
        )


def _entretien_meeting(entretien):
    case = entretien.accompagnement
    return Meeting(
        kind=ENTRETIEN,
        pk=entretien.pk,
        assure=case.assure,
        unit=case.unit,
        ass=entretien.ass,
        debut=entretien.debut,
        duree_minutes=entretien.duree_minutes,
        mode=entretien.mode,
        motif=motif_named(MOTIF_FOLLOW_UP),
        cancelled=entretien.statut != Entretien.Statut.PLANIFIE,
    )


def _referral_meeting(referral):
    return Meeting(
        kind=SIGNALEMENT,
        pk=referral.pk,
        assure=referral.assure,
        unit=referral.unit,
        ass=referral.rdv_ass,
        debut=referral.rdv_debut,
        duree_minutes=referral.rdv_duree_minutes,
        mode=referral.rdv_mode,
        motif=motif_named(MOTIF_FIRST),
    )


def _reload(meeting):
    if meeting.kind == ENTRETIEN:
        return _entretien_meeting(
            Entretien.objects.select_related(
                "accompagnement__assure", "accompagnement__unit", "ass"
            ).get(pk=meeting.pk)
        )
    return _referral_meeting(
        Signalement.objects.select_related("assure", "unit", "rdv_ass").get(pk=meeting.pk)
    )


# --- Confirmation ------------------------------------------------------------------------


def _when(meeting):
    return f"{timezone.localtime(meeting.debut):%d/%m/%Y à %H:%M}".replace(":", " h ", 1)


def reachable_by(assure, now=None):
    """How a message about a meeting reaches the person: "sms" or "email" as for a reminder
    (`reminders.choose_channel`: their preferred channel if usable, else the other), or None.
    While SMS wait (night, Sunday, public holiday) an e-mail goes instead when the person has
    an address: they just booked, and the link to manage it should not wait for 08:00."""
    channel = reminders.choose_channel(assure) or None
    now = now or timezone.now()
    if channel == "sms" and quiet_hours.next_allowed(now) > now and reminders.email_ok(assure):
        return "email"
    return channel


def _confirm(*, meeting, code, template, headline):
    """Send the confirmation by the person's channel (`reachable_by`); None if they can be
    reached by neither. Sent once the transaction commits (pdp.messaging)."""
    assure = meeting.assure
    link = code_url(code)
    phone = (meeting.unit.telephone or "").strip()
    channel = reachable_by(assure)
    if channel == "sms":
        body = (
            f"{headline} avec le service social de l'Assurance Maladie le {_when(meeting)} "
            f"({meeting.mode_label.lower()}). Annuler ou déplacer : {link}"
        )
        return send_sms(
            to=assure.telephone,
            body=body,
            template=template,
            assure_id=assure.pk,
            obj=_record(meeting),  # the meeting: the reminders look for it
            secrets=[code],
        )
    if channel == "email":
        body = "\n".join(
            [
                "Bonjour,",
                "",
                f"{headline} avec le service social de l'Assurance Maladie :",
                f"le {_when(meeting)}, {meeting.mode_label.lower()} ({meeting.place}).",
                "",
                f"Pour annuler ou déplacer ce rendez-vous : {link}",
                f"Pour nous joindre : {phone}" if phone else "",
                "",
                "Le service social de l'Assurance Maladie",
            ]
        )
        return send_email(
            to=assure.email,
            subject=f"{headline} le {_when(meeting)}",
            body=body,
            template=template,
            assure_id=assure.pk,
            obj=_record(meeting),  # the meeting: the reminders look for it
            secrets=[code],
            attachments=[("rendez-vous.ics", ics.meeting_ics(meeting), "text/calendar")],
        )
    return None


def _notify_cancelled(*, meeting, code):
    """Tell the person their meeting is cancelled, with `code` (a fresh booking code) to book
    another one, or the unit's phone number when there is none; None if they can be reached by
    neither channel. The e-mail carries an ICS file that cancels the event in their calendar."""
    assure = meeting.assure
    phone = (meeting.unit.telephone or "").strip()
    again = f"Pour prendre un autre rendez-vous : {code_url(code)}" if code else ""
    if not again and phone:
        again = f"Pour prendre un autre rendez-vous, appelez le {phone}."
    channel = reachable_by(assure)
    headline = (
        f"Votre rendez-vous avec le service social de l'Assurance Maladie du {_when(meeting)}"
        " est annulé."
    )
    secrets = [code] if code else []
    if channel == "sms":
        return send_sms(
            to=assure.telephone,
            body=f"{headline} {again}".strip(),
            template="booking_cancelled",
            assure_id=assure.pk,
            obj=_record(meeting),
            secrets=secrets,
        )
    if channel == "email":
        lines = ["Bonjour,", "", headline, "", again]
        if code and phone:
            lines.append(f"Pour nous joindre : {phone}")
        lines += ["", "Le service social de l'Assurance Maladie"]
        return send_email(
            to=assure.email,
            subject=f"Rendez-vous du {_when(meeting)} annulé",
            body="\n".join(lines),
            template="booking_cancelled",
            assure_id=assure.pk,
            obj=_record(meeting),
            secrets=secrets,
            attachments=[("rendez-vous.ics", ics.meeting_ics(meeting), "text/calendar")],
        )
    return None


def _issue_rebook_code(meeting):
    """A booking code bound to the case or referral of a cancelled meeting, valid
    BOOKING_LINK_DAYS, if it opens a booking; (None, "") otherwise (the case is closed…)."""
    if meeting.kind == ENTRETIEN:
        object_type = ACCOMPAGNEMENT
        object_id = Entretien.objects.filter(pk=meeting.pk).values_list(
            "accompagnement_id", flat=True
        )[0]
    else:
        object_type, object_id = SIGNALEMENT, meeting.pk
    row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=meeting.assure.pk,
        expires_at=timezone.now() + datetime.timedelta(days=settings.BOOKING_LINK_DAYS),
        object_type=object_type,
        object_id=object_id,
    )
    if booking_context(code_row=row) is None:
        access_codes.access_codes_revoke_for(
            object_type=object_type, object_id=object_id, purpose=AccessCode.Purpose.BOOKING
        )
        return None, ""
    return row, code


def _issue_manage_code(meeting, acting_user=None):
    row, code = access_codes.access_code_issue(
        acting_user=acting_user,
        purpose=AccessCode.Purpose.MANAGE,
        assure_id=meeting.assure.pk,
        expires_at=meeting.debut,
        object_type=meeting.kind,
        object_id=meeting.pk,
    )
    return row, code


@dataclasses.dataclass
class BookingResult:
    meeting: Meeting
    manage_row: AccessCode
    manage_code: str  # clear, to show once on the confirmation page; never stored
    message: object  # pdp.models.Message or None


@dataclasses.dataclass
class CancelResult:
    meeting: Meeting  # as it was, marked cancelled
    rebook_row: AccessCode | None  # a fresh booking code, if the case or referral opens one
    message: object  # the cancellation notice (pdp.models.Message) or None


# --- Services ----------------------------------------------------------------------------


@transaction.atomic
def booking_book(*, code_row, assure, ass, debut, motif, mode):
    """Book `debut` with `ass` for the person of a booking code. One transaction: spend the
    code, create the meeting, issue the manage code, queue the confirmation. Raises SlotTaken
    when the slot was taken meanwhile, ValidationError (French) when the code no longer opens
    a booking. With a campaign's code, the referral of origin « campagne » is created (or the
    person's open one linked) in this same transaction, and the target marked « rendez-vous
    pris » once the meeting is booked."""
    from outreach import campaign_answers  # outreach.campaigns imports this module

    if code_row.assure_id != assure.pk:
        raise ValidationError(NOT_BOOKABLE)
    context = booking_context(code_row=code_row)
    if context is None or ass.pk not in context.ass_ids:
        raise ValidationError(NOT_BOOKABLE)
    if mode not in booking_modes(context) or not motif.allows(mode):
        raise ValidationError({"mode": "Choisissez une modalité proposée."})
    _lock_ass(ass)
    if context.cible is not None and campaign_answers.target_lock(cible=context.cible) is None:
        raise ValidationError(NOT_BOOKABLE)  # refused or answered since the page was shown
    if not access_codes.access_code_use(row=code_row):
        raise ValidationError(NOT_BOOKABLE)
    _require_free(ass=ass, motif=motif, mode=mode, debut=debut, next_ass_ids=context.ass_ids)
    try:
        with transaction.atomic():
            if context.accompagnement is not None:
                entretien = agenda.entretien_schedule(
                    accompagnement=context.accompagnement,
                    acting_user=None,
                    debut=debut,
                    mode=mode,
                    duree_minutes=motif.duree_minutes,
                    ass=ass,
                )
                meeting = _entretien_meeting(entretien)
            else:
                referral = context.signalement
                if context.cible is not None:
                    referral = campaign_answers.referral_for_target(cible=context.cible)
                    if referral.unit_id != context.unit.pk:
                        raise ValidationError(NOT_BOOKABLE)
                if not referral_services.can_hand_over(referral):
                    canal = link_channel(referral, cible=context.cible)
                    referral_services.contact_attempt_add(
                        signalement=referral,
                        acting_user=None,
                        canal=canal,
                        resultat=ContactAttempt.Resultat.JOINT,
                        note="Rendez-vous pris en ligne par la personne, avec le lien reçu par "
                        f"{Canal(canal).label.lower()}.",
                    )
                referral_services.signalement_hand_over(
                    signalement=referral,
                    acting_user=None,
                    ass=ass,
                    debut=debut,
                    mode=mode,
                    duree_minutes=motif.duree_minutes,
                )
                campaign_answers.on_referral_meeting_booked(signalement=referral)
                meeting = _reload(
                    Meeting(
                        SIGNALEMENT, referral.pk, assure, context.unit, ass, debut, 0, mode, motif
                    )
                )
    except IntegrityError as exc:
        if "entretien_no_overlap_per_ass" not in str(exc):
            raise
        raise SlotTaken(next_slots(context.ass_ids, motif, mode, debut)) from exc
    except ValidationError as exc:
        if _is_slot_refusal(exc):
            raise SlotTaken(next_slots(context.ass_ids, motif, mode, debut)) from exc
        raise
    audit(
        user=None,
        action=AuditLog.Action.CREATE,
        obj=_record(meeting),
        assure_id=assure.pk,
        changes={"booking": [None, "réservé en ligne par la personne"], "debut": [None, debut]},
    )
    if meeting.kind == SIGNALEMENT:  # one first meeting per referral: its other links die
        access_codes.access_codes_revoke_for(
            object_type=SIGNALEMENT, object_id=meeting.pk, purpose=AccessCode.Purpose.BOOKING
        )
    manage_row, code = _issue_manage_code(meeting)
    message = _confirm(
        meeting=meeting, code=code, template="booking_confirmation", headline="Rendez-vous pris"
    )
    return BookingResult(meeting=meeting, manage_row=manage_row, manage_code=code, message=message)


def link_channel(referral, cible=None):
    """The channel the person's booking link came by: a campaign's channel (SMS, e-mail,
    letter) for a campaign's code (`cible`), else the last SMS or e-mail link sent about the
    referral, else a letter (`outreach.links`; a letter leaves no message row)."""
    if cible is not None:
        return {CanalCampagne.SMS: Canal.SMS, CanalCampagne.EMAIL: Canal.EMAIL}.get(
            cible.canal, Canal.COURRIER
        )
    channel = (
        Message.objects.filter(
            object_type=SIGNALEMENT, object_id=str(referral.pk), template="outreach.booking_link"
        )
        .order_by("-pk")
        .values_list("channel", flat=True)
        .first()
    )
    return {Message.Channel.SMS: Canal.SMS, Message.Channel.EMAIL: Canal.EMAIL}.get(
        channel, Canal.COURRIER
    )


def _revoke_codes(code_row, meeting):
    """Revoke the meeting's codes, and those bound where `code_row` is (a referral, when the
    meeting became an entretien of the case opened since)."""
    access_codes.access_codes_revoke_for(object_type=meeting.kind, object_id=meeting.pk)
    if (code_row.object_type, code_row.object_id) != (meeting.kind, str(meeting.pk)):
        access_codes.access_codes_revoke_for(
            object_type=code_row.object_type, object_id=code_row.object_id
        )


def _record(meeting):
    model = Entretien if meeting.kind == ENTRETIEN else Signalement
    return model(pk=meeting.pk)


@transaction.atomic
def booking_cancel(*, code_row, reason=""):
    """Cancel the meeting of a manage code (until `annulable_jusqu_heures` before it): the
    entretien is « annulé » / the referral's proposed meeting is removed and the referral
    goes back to « contact en cours »; an event on the case or referral timeline; the
    meeting's manage codes are revoked; the person is told, with a fresh booking code when the
    case or referral still opens a booking. Returns a `CancelResult`."""
    reason = " ".join((reason or "").split())[:CANCEL_REASON_MAX_LENGTH]
    meeting = meeting_for(code_row=code_row)
    if meeting is None or meeting.cancelled:
        raise ValidationError(NOT_BOOKABLE)
    _lock_ass(meeting.ass)
    meeting = _reload(meeting)
    if not meeting.can_cancel():
        raise ValidationError(TOO_LATE_CANCEL)
    why = "Rendez-vous annulé en ligne par la personne"
    if meeting.kind == ENTRETIEN:
        entretien = Entretien.objects.get(pk=meeting.pk)
        agenda.entretien_record(
            entretien=entretien, acting_user=None, statut=Entretien.Statut.ANNULE
        )
        case_event_add(
            accompagnement=entretien.accompagnement,
            acting_user=None,
            kind=CaseEvent.Kind.ENTRETIEN,
            summary=f"{why} (entretien du {_when(meeting)})",
            detail=reason,
            changes={"entretien": entretien.pk, "annule_par": "la personne"},
        )
    else:
        text = f"{why} (premier rendez-vous du {_when(meeting)})"
        if reason:
            text += f" : {reason}"
        referral_services.signalement_meeting_cancel(
            signalement=Signalement.objects.get(pk=meeting.pk), acting_user=None, reason=text
        )
    audit(
        user=None,
        action=AuditLog.Action.UPDATE,
        obj=_record(meeting),
        assure_id=meeting.assure.pk,
        changes={CANCELLED: "annulé en ligne par la personne"},
    )
    _revoke_codes(code_row, meeting)
    meeting.cancelled = True
    rebook_row, rebook_code = _issue_rebook_code(meeting)
    message = _notify_cancelled(meeting=meeting, code=rebook_code)
    return CancelResult(meeting=meeting, rebook_row=rebook_row, message=message)


@transaction.atomic
def booking_move(*, code_row, debut):
    """Move the meeting of a manage code to the free slot `debut` of the same ASS (until
    `modifiable_jusqu_heures` before the current time): same entretien (same ICS UID, SEQUENCE
    one higher), the old manage codes revoked and a new one sent. Raises SlotTaken or
    ValidationError."""
    meeting = meeting_for(code_row=code_row)
    if meeting is None or meeting.cancelled:
        raise ValidationError(NOT_BOOKABLE)
    _lock_ass(meeting.ass)
    meeting = _reload(meeting)
    if not meeting.can_move():
        raise ValidationError(TOO_LATE_MOVE)
    if debut == meeting.debut:
        raise ValidationError({"debut": "Choisissez un autre créneau que celui du rendez-vous."})
    motif = meeting.motif
    _require_free(
        ass=meeting.ass, motif=motif, mode=meeting.mode, debut=debut, next_ass_ids=[meeting.ass.pk]
    )
    old = meeting.debut
    try:
        with transaction.atomic():
            if meeting.kind == ENTRETIEN:
                agenda.entretien_update(
                    entretien=Entretien.objects.get(pk=meeting.pk),
                    acting_user=None,
                    debut=debut,
                    mode=meeting.mode,
                    duree_minutes=meeting.duree_minutes,
                )
            else:
                referral_services.signalement_hand_over(
                    signalement=Signalement.objects.get(pk=meeting.pk),
                    acting_user=None,
                    ass=meeting.ass,
                    debut=debut,
                    mode=meeting.mode,
                    duree_minutes=meeting.duree_minutes,
                )
    except IntegrityError as exc:
        if "entretien_no_overlap_per_ass" not in str(exc):
            raise
        raise SlotTaken(next_slots([meeting.ass.pk], motif, meeting.mode, debut)) from exc
    except ValidationError as exc:
        if _is_slot_refusal(exc):
            raise SlotTaken(next_slots([meeting.ass.pk], motif, meeting.mode, debut)) from exc
        raise
    audit(
        user=None,
        action=AuditLog.Action.UPDATE,
        obj=_record(meeting),
        assure_id=meeting.assure.pk,
        changes={MOVED: "déplacé en ligne par la personne", "debut": [old, debut]},
    )
    _revoke_codes(code_row, meeting)
    meeting = _reload(meeting)
    manage_row, code = _issue_manage_code(meeting)
    message = _confirm(
        meeting=meeting, code=code, template="booking_moved", headline="Rendez-vous déplacé"
    )
    return BookingResult(meeting=meeting, manage_row=manage_row, manage_code=code, message=message)
