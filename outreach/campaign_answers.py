"""What a campaign's target does (issue 12): opens the link, accepts (a referral of origin
« campagne », then a first meeting booked online or by a conseiller on the phone), refuses.

Used by the public booking pages (`outreach.booking`), the staff booking (`outreach.staff_booking`)
and the call lists (`outreach.campaign_calls`), so that each rule is written once:
- `target_opened`: the first time a code sent by a campaign is entered (the `/r/<code>/` link
  or the typed-code form), the target's ``ouvert_le`` (the funnel's « lien ouvert »); a later
  opening keeps the first time;
- `answerable_target`: the target a booking code opens, while the person may still answer it
  (campaign validée or en cours, not excluded, no meeting taken, no refusal, not expired);
- `target_unit`: the unit that receives the answer, routed as the referral will be: the unit
  the person's postal code routes to, else the campaign's unit (a region-wide campaign whose
  person routes nowhere: None, nothing to book online, the person calls);
- `referral_for_target`: the person's open service social referral, else a new one of origin
  « campagne », routed like the others (the campaign's unit when the postal code routes nowhere);
- `on_referral_meeting_booked`: a first meeting booked on a referral that came from a campaign
  marks the target « rendez-vous pris » and expires the person's other open invitations;
- `target_refused`: the person says no (on the phone, or on the public page): the target's
  ``refus_le`` (future campaigns exclude the person « refus exprimé » for a year) and every
  open invitation of the person expires.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from outreach.campaigns import CIBLE, invitations_expire, open_targets
from outreach.models import Campagne, Cible, Expiration
from pdp.audit import audit, audit_many
from pdp.models import AccessCode, AuditLog
from referrals import routing
from referrals import services as referral_services
from referrals.models import Assure, Origine, Service, Signalement

# The codes a campaign sends: booking codes bound to the target, webinar codes (bound to the
# action) that the target row points to through ``Cible.code``.
SENT_PURPOSES = (AccessCode.Purpose.BOOKING, AccessCode.Purpose.WEBINAR)


def _cible_pk(code_row):
    if code_row.object_type != CIBLE:
        return None
    try:
        return int(code_row.object_id)
    except (TypeError, ValueError):
        return None


def _targets_of_code(code_row):
    pk = _cible_pk(code_row)
    if pk is not None:
        return Cible.objects.filter(pk=pk, assure_id=code_row.assure_id)
    return Cible.objects.filter(code_id=code_row.pk)


def target_of_code(code_row):
    """The campaign target a code was sent for, or None (one query at most)."""
    if code_row.purpose not in SENT_PURPOSES:
        return None
    return _targets_of_code(code_row).first()


def target_opened(*, code_row, now=None):
    """Record the first opening of a campaign link (and its audit row), keeping the first time
    (no-op for any other code; no query for codes a campaign never sends). Returns the number
    of targets marked (0 or 1)."""
    if code_row.purpose not in SENT_PURPOSES:
        return 0
    now = now or timezone.now()
    pk = _targets_of_code(code_row).filter(ouvert_le__isnull=True).values_list("pk", flat=True)
    pk = pk.first()
    if pk is None:
        return 0
    marked = Cible.objects.filter(pk=pk, ouvert_le__isnull=True).update(ouvert_le=now)
    if marked:  # by the person, not by a member of staff: no user
        audit_many(
            user=None,
            action=AuditLog.Action.UPDATE,
            model=Cible,
            entries=[(pk, code_row.assure_id, {"ouvert_le": [None, now]})],
        )
    return marked


def answerable_target(*, code_row):
    """The target a booking code bound to it opens, with its campaign, its unit and the person
    (one query), or None: not a campaign code, or the target can no longer be answered."""
    pk = _cible_pk(code_row)
    if pk is None or code_row.purpose != AccessCode.Purpose.BOOKING:
        return None
    return (
        running_targets()
        .filter(pk=pk, assure_id=code_row.assure_id)
        .select_related("campagne__unit", "assure")
        .first()
    )


def _lock_person(assure_id):
    """Every answer takes the person's row lock first, then their targets: a refusal and a
    booking of the same person at once wait for each other instead of deadlocking on the
    targets and codes that both change."""
    Assure.objects.select_for_update().filter(pk=assure_id).values_list("pk", flat=True).first()


def target_lock(*, cible):
    """Lock the person, then the target (call inside a transaction): the target if it can
    still be answered, else None (refused, answered or expired since the page was shown)."""
    _lock_person(cible.assure_id)
    return running_targets().select_for_update(of=("self",)).filter(pk=cible.pk).first()


def target_unit(cible):
    """The unit that receives the target's answer: where its referral will be routed
    (`referrals.routing.route_unit` of the person's postal code), else the campaign's unit;
    None for a region-wide campaign whose person routes nowhere (such people are excluded
    « hors du territoire » when the campaign is simulated, so only a later change of address
    leads here)."""
    return routing.route_unit(cible.assure.code_postal) or cible.campagne.unit


def _motif(campagne):
    return f"Réponse à la campagne «\u00a0{campagne.nom}\u00a0»"[:200]


@transaction.atomic
def referral_for_target(*, cible, acting_user=None):
    """The referral the target's first meeting goes on: the person's open social referral if
    any, else a new one of origin « campagne ». Refused (French ValidationError) when the
    person's case is open: the référent books follow-up meetings. The referral is routed as
    any request (`signalement_create_on_request`: the person's postal code, else the
    campaign's unit); its motif names the campaign, so its history reads « Réponse à la
    campagne … »."""
    _lock_person(cible.assure_id)
    # of=("self",): a region-wide campaign has no unit, and FOR UPDATE cannot lock the
    # nullable side of an outer join.
    cible = (
        Cible.objects.select_for_update(of=("self",))
        .select_related("campagne__unit", "campagne__region", "assure")
        .get(pk=cible.pk)
    )
    if cible.signalement_id is not None:
        referral = Signalement.objects.get(pk=cible.signalement_id)
        if referral.is_open:
            return referral
    referral = (
        Signalement.objects.open()
        .filter(assure_id=cible.assure_id, service=Service.SOCIAL)
        .order_by("-pk")
        .first()
    )
    if referral is None:
        referral = referral_services.signalement_create_on_request(
            assure=cible.assure,
            origine=Origine.CAMPAGNE,
            motif=_motif(cible.campagne),
            acting_user=acting_user,
            fallback_unit=cible.campagne.unit,
            fallback_region=cible.campagne.region,
        )
    if cible.signalement_id != referral.pk:
        Cible.objects.filter(pk=cible.pk).update(signalement=referral)
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=cible,
            assure_id=cible.assure_id,
            changes={"signalement": [cible.signalement_id, referral.pk]},
        )
    cible.signalement = referral
    return referral


@transaction.atomic
def on_referral_meeting_booked(*, signalement, acting_user=None, now=None):
    """A first meeting was booked on `signalement`: its campaign target (if any) took a
    meeting; the person's other open invitations expire. Returns the number of targets marked."""
    now = now or timezone.now()
    targets = Cible.objects.filter(signalement=signalement, rdv_pris_le__isnull=True)
    ids = list(targets.values_list("pk", flat=True))
    if not ids:
        return 0
    _lock_person(signalement.assure_id)
    marked = Cible.objects.filter(pk__in=ids, rdv_pris_le__isnull=True).update(
        rdv_pris_le=now, reserve_par=None, reserve_jusqu_au=None
    )
    audit_many(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (pk, signalement.assure_id, {"rdv_pris_le": [None, now], "signalement": signalement.pk})
            for pk in ids
        ),
    )
    if marked:
        invitations_expire(
            reason=Expiration.ANSWERED,
            acting_user=acting_user,
            assure_ids=[signalement.assure_id],
            now=now,
        )
    return marked


@transaction.atomic
def target_refused(*, cible, acting_user=None, now=None, by_phone=False):
    """The person refuses the campaign's offer: recorded once; every open invitation of the
    person (this campaign's and the others') expires."""
    now = now or timezone.now()
    _lock_person(cible.assure_id)
    cible = Cible.objects.select_for_update().get(pk=cible.pk)
    if cible.refus_le is not None:
        return cible
    if cible.rdv_pris_le is not None:
        raise ValidationError("La personne a déjà pris rendez-vous : annulez le rendez-vous.")
    Cible.objects.filter(pk=cible.pk).update(refus_le=now)
    cible.refus_le = now
    invitations_expire(
        reason=Expiration.REFUS, acting_user=acting_user, assure_ids=[cible.assure_id], now=now
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=cible,
        assure_id=cible.assure_id,
        changes={"refus_le": [None, now], "par_telephone": [None, by_phone]},
    )
    return cible


def running_targets():
    """Open targets of validated or running campaigns (what a person may still answer)."""
    return open_targets().filter(
        refus_le__isnull=True,
        campagne__statut__in=[Campagne.Statut.VALIDEE, Campagne.Statut.EN_COURS],
    )
