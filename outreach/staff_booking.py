"""A conseiller (or an ASS) on the phone books the person's first meeting for them (issue 10,
item 5: « a conseiller on the phone can also book directly for an ASS »).

The staff side of `outreach.booking`: the same free slots (`cases.availability.free_slots`,
the ASS's opening ranges and the motif « Premier rendez-vous »), the same locks and refusals
(`_lock_ass`, `_require_free`, the exclusion constraint `entretien_no_overlap_per_ass`, all
becoming `SlotTaken` with the next free slots), the same record — the referral's proposed first
meeting through `referrals.services.signalement_hand_over`: status « rencontre proposée »,
`rdv_*` fields, assigned to the ASS — and the same confirmation with a « manage » code, so that
the person can cancel or move the meeting online like one they booked themselves.

What differs from a booking by the person:
- who may: whoever works the referral (`referrals.permissions.can_work_signalement`), for any
  active ASS of the referral's unit, not only its assigned one;
- the person is on the phone, so they are reached: when no « personne jointe » attempt is
  recorded yet, one is (canal téléphone, by the staff member) before the hand-over;
- every booking code still unrevoked that was sent for the referral is revoked (booking it
  again online would replace this meeting), and so are the « manage » codes of a first meeting
  proposed before (the new confirmation carries the one code that manages the meeting);
- nothing is issued nor sent when the person has neither a mobile number nor an e-mail
  address: the staff member gives them the date on the phone.

The audit rows and the timeline name the staff member (`acting_user`).
"""

import dataclasses
import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.availability import free_slots
from outreach import campaign_answers
from outreach.booking import (
    MOTIF_FIRST,
    SIGNALEMENT,
    BookingContext,
    Meeting,
    SlotTaken,
    _confirm,
    _issue_manage_code,
    _lock_ass,
    _reload,
    _require_free,
    booking_modes,
    motif_named,
    next_slots,
)
from outreach.links import mask_email, mask_phone, mobile_of
from pdp import access_codes
from pdp.audit import audit
from pdp.models import AccessCode, AuditLog, Role, User
from referrals import services as referral_services
from referrals.models import Canal, ContactAttempt, Service, Signalement
from referrals.permissions import can_work_signalement

CONFIRMATION_TEMPLATE = "booking_confirmation_staff"
CONFIRMATION_HEADLINE = "Rendez-vous pris"
PHONE_NOTE = "Rendez-vous pris au téléphone avec la personne."
NBSP = "\u00a0"
FORBIDDEN = (
    f"Vous ne travaillez pas ce signalement{NBSP}: vous ne pouvez pas y prendre de rendez-vous."
)
NOT_BOOKABLE = (
    f"Ce signalement n'est plus ouvert au service social d'une unité{NBSP}: aucun rendez-vous ne"
    " peut y être pris."
)
UNKNOWN_MODE = "Choisissez une modalité proposée par les plages d'ouverture de cette ASS."


@dataclasses.dataclass
class StaffBookingResult:
    """What `booking_book_for_person` did. No clear code: the person receives it, the staff
    member never sees it."""

    meeting: Meeting
    message: object  # pdp.models.Message (SMS or e-mail), or None when none could be sent
    manage_row: AccessCode | None  # None when nothing was sent
    revoked_codes: int  # older booking / manage codes of the referral revoked


# --- What the staff page offers ----------------------------------------------------------


def unit_ass(signalement):
    """The active ASS of the referral's unit: the one it is assigned to first, then by name."""
    staff = list(
        User.objects.filter(unit_id=signalement.unit_id, role=Role.ASS, is_active=True).order_by(
            "last_name", "first_name", "pk"
        )
    )
    staff.sort(key=lambda ass: ass.pk != signalement.assigned_to_id)  # stable: names after
    return staff


def first_meeting_context(signalement, ass_ids, motif=None):
    """The `outreach.booking.BookingContext` of the referral's first meeting with `ass_ids`."""
    return BookingContext(
        assure=signalement.assure,
        unit=signalement.unit,
        motif=motif or motif_named(MOTIF_FIRST),
        ass_ids=list(ass_ids),
        signalement=signalement,
    )


def staff_slots(*, ass_ids, motif, mode, now=None):
    """[(debut, fin, ass_id), …] sorted by time, from now to the motif's maximum delay: one
    entry per start time, with the first of `ass_ids` (in that order: the assigned ASS first)
    free then. Four queries whatever the number of ASS and ranges (`free_slots`)."""
    now = now or timezone.now()
    end = now + datetime.timedelta(days=motif.delai_max_jours, minutes=motif.duree_minutes)
    found = free_slots(ass_ids=ass_ids, start=now, end=end, motif=motif, mode=mode, now=now)
    by_start = {}
    for ass_id in dict.fromkeys(ass_ids):
        for debut, fin in found[ass_id]:
            by_start.setdefault(debut, (debut, fin, ass_id))
    return [by_start[debut] for debut in sorted(by_start)]


def confirmation_recipient(assure):
    """Where `outreach.booking._confirm` will send the confirmation, masked for the staff
    member to check with the person: ("sms", "06 •• •• •• 78"), ("email", "m•••@exemple.fr"),
    or None when the person has neither a mobile number nor an e-mail address. The same
    choice as `_confirm`: SMS unless the person prefers e-mail and has an address."""
    mobile = mobile_of(assure) if assure.telephone else None
    email = assure.email.strip()
    if mobile and not (assure.canal_prefere == Canal.EMAIL and email):
        return ("sms", mask_phone(mobile))
    if email:
        return ("email", mask_email(email))
    return None


# --- The service -------------------------------------------------------------------------


def _check_bookable(signalement, ass, mode, motif):
    if (
        signalement.service != Service.SOCIAL
        or not signalement.is_open
        or signalement.unit_id is None
    ):
        raise ValidationError(NOT_BOOKABLE, code="not_bookable")
    if (
        ass is None
        or ass.role != Role.ASS
        or not ass.is_active
        or ass.unit_id != signalement.unit_id
    ):
        raise ValidationError(
            {"ass": f"Choisissez une ASS en activité de l'unité «{NBSP}{signalement.unit}{NBSP}»."}
        )
    context = first_meeting_context(signalement, [ass.pk], motif)
    if mode not in booking_modes(context) or not motif.allows(mode):
        raise ValidationError({"mode": UNKNOWN_MODE})


@transaction.atomic
def booking_book_for_person(*, signalement, acting_user, ass, debut, mode):
    """Book the free slot `debut` with `ass` (an active ASS of the referral's unit) as the
    referral's proposed first meeting, for the person on the phone with `acting_user`.

    One transaction: a contact attempt « personne jointe » by telephone if none was recorded,
    the hand-over (`signalement_hand_over`: « rencontre proposée », `rdv_*`, assigned to `ass`),
    an audit row, the referral's older booking and « manage » codes revoked, a new « manage »
    code and the confirmation queued (SMS or e-mail, `outreach.booking._confirm`), unless the
    person can be reached by neither. Raises PermissionDenied when `acting_user` does not work
    the referral, SlotTaken when the slot is not free (any more), ValidationError (French)
    otherwise; nothing is changed then."""
    if timezone.is_naive(debut):
        raise ValueError("`debut` must be an aware datetime.")
    if not can_work_signalement(acting_user, signalement):
        raise PermissionDenied(FORBIDDEN)
    motif = motif_named(MOTIF_FIRST)
    _check_bookable(signalement, ass, mode, motif)
    _lock_ass(ass)
    _require_free(ass=ass, motif=motif, mode=mode, debut=debut, next_ass_ids=[ass.pk])
    try:
        with transaction.atomic():
            if not referral_services.can_hand_over(signalement):
                referral_services.contact_attempt_add(
                    signalement=signalement,
                    acting_user=acting_user,
                    canal=Canal.TELEPHONE,
                    resultat=ContactAttempt.Resultat.JOINT,
                    note=PHONE_NOTE,
                )
            referral_services.signalement_hand_over(
                signalement=signalement,
                acting_user=acting_user,
                ass=ass,
                debut=debut,
                mode=mode,
                duree_minutes=motif.duree_minutes,
            )
    except IntegrityError as exc:
        if "entretien_no_overlap_per_ass" not in str(exc):
            raise
        raise SlotTaken(next_slots([ass.pk], motif, mode, debut)) from exc
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "debut" in exc.error_dict:
            raise SlotTaken(next_slots([ass.pk], motif, mode, debut)) from exc
        raise
    meeting = _reload(
        Meeting(
            SIGNALEMENT,
            signalement.pk,
            signalement.assure,
            signalement.unit,
            ass,
            debut,
            0,
            mode,
            motif,
        )
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=Signalement(pk=signalement.pk),
        assure_id=signalement.assure_id,
        changes={
            "booking": [None, "réservé au téléphone pour la personne"],
            "debut": [None, debut],
            "rdv_ass": [None, ass.pk],
        },
    )
    # A booking code sent earlier would book again (and replace this meeting); the « manage »
    # codes of a meeting proposed before are superseded by the one sent now.
    revoked = access_codes.access_codes_revoke_for(
        object_type=SIGNALEMENT,
        object_id=signalement.pk,
        acting_user=acting_user,
        purpose=[AccessCode.Purpose.BOOKING, AccessCode.Purpose.MANAGE],
    )
    # A referral that came from a campaign: its target took a meeting (no-op for the others).
    campaign_answers.on_referral_meeting_booked(signalement=signalement, acting_user=acting_user)
    manage_row = message = None
    if confirmation_recipient(meeting.assure) is not None:
        manage_row, code = _issue_manage_code(meeting, acting_user=acting_user)
        message = _confirm(
            meeting=meeting,
            code=code,
            template=CONFIRMATION_TEMPLATE,
            headline=CONFIRMATION_HEADLINE,
        )
    return StaffBookingResult(
        meeting=meeting, message=message, manage_row=manage_row, revoked_codes=revoked
    )
