"""What a campaign's target does (issue 12): opens the link, accepts (a referral of origin
« campagne », then a first meeting booked online or by a conseiller on the phone), refuses.

Used by the public booking pages (`outreach.booking`), the staff booking (`outreach.staff_booking`)
and the call lists (`outreach.campaign_calls`), so that each rule is written once:
- `target_opened`: the first time a code sent by a campaign is entered, the target's
  ``ouvert_le`` (the funnel's « lien ouvert »);
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

from outreach.campaigns import invitations_expire, open_targets
from outreach.models import Campagne, Cible, Expiration
from pdp.audit import audit
from pdp.models import AuditLog
from referrals import services as referral_services
from referrals.models import Origine, Service, Signalement

CIBLE = "outreach.cible"  # object_type of the booking codes a campaign sends


def target_of_code(code_row):
    """The campaign target a code was sent for, or None (one query at most)."""
    if code_row.object_type == CIBLE:
        return Cible.objects.filter(pk=code_row.object_id).first()
    return Cible.objects.filter(code_id=code_row.pk).first()


def target_opened(*, code_row, now=None):
    """Record the first opening of a campaign link (no-op for any other code)."""
    now = now or timezone.now()
    if code_row.object_type == CIBLE:
        targets = Cible.objects.filter(pk=code_row.object_id)
    else:
        targets = Cible.objects.filter(code_id=code_row.pk)
    return targets.filter(ouvert_le__isnull=True).update(ouvert_le=now)


def _motif(campagne):
    return f"Réponse à la campagne «\u00a0{campagne.nom}\u00a0»"[:200]


@transaction.atomic
def referral_for_target(*, cible, acting_user=None):
    """The referral the target's first meeting goes on: the person's open social referral if
    any, else a new one of origin « campagne ». Refused (French ValidationError) when the
    person's case is open: the référent books follow-up meetings."""
    cible = (
        Cible.objects.select_for_update(of=("self",))
        .select_related("campagne__unit")
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
    Cible.objects.filter(pk=cible.pk).update(signalement=referral)
    cible.signalement = referral
    return referral


@transaction.atomic
def on_referral_meeting_booked(*, signalement, acting_user=None, now=None):
    """A first meeting was booked on `signalement`: its campaign target (if any) took a
    meeting; the person's other open invitations expire. Returns the number of targets marked."""
    now = now or timezone.now()
    marked = Cible.objects.filter(signalement=signalement, rdv_pris_le__isnull=True).update(
        rdv_pris_le=now, reserve_par=None, reserve_jusqu_au=None
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
        campagne__statut__in=[Campagne.Statut.VALIDEE, Campagne.Statut.EN_COURS]
    )
