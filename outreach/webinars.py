"""Webinars (and information meetings) for the people (issue 11, item 3): invitation by an
access code, public registration, reminders, and « je souhaite un rendez-vous individuel »
after the session.

- **Inviting** (`webinar_invite`): from a published action whose type has
  `inscription_par_code`, whoever runs it ticks people of their unit who have an open social
  referral or an open case (`invitees`); each gets a « webinar » access code bound to the action
  (`collective.actioncollective:<pk>`), valid until the registration window closes or the
  first session starts, whichever comes first, by SMS or e-mail (`booking.reachable_by`). One
  `ActionEvent` per batch (counts, no name), an audit row and a timeline entry per person (the
  case's, else the referral's). A second invitation revokes the person's earlier one.
- **Registering** (`webinar_register`, `webinar_cancel`, `webinar_confirm`): the same link,
  after the birth date, registers (`collective.participants.participant_register`, source
  « code »: a seat or the waitlist), cancels, or confirms a seat freed from the waitlist. The
  invitation code is *not* spent by registering: it keeps opening the person's registration
  until it expires, so that they cancel with it. A confirmation goes by SMS or e-mail.
- **Promotion** (`on_participant_promoted`, connected to `collective.signals.
  participant_promoted`): a person registered by code who is offered a freed seat gets a new
  code, valid until the confirmation deadline (or the session), to confirm it.
- **Reminders** (`webinar_messages_send`, every 5 minutes in `pdp/celery.py`): the day before
  (from 24 h to 3 h before the session) and one hour before, with the visio link (the
  session's, else the action's), to the participants who hold a seat (inscrit, à confirmer,
  présent); after the last session, a « merci » with a new code (30 days) that opens
  « Je souhaite un rendez-vous individuel ». Each is one `RappelSeance` row per (participant,
  séance, kind, séance start) written with `bulk_create(ignore_conflicts=True)` and claimed
  before sending, as `outreach.reminders` does for meetings; an SMS is not even written while
  SMS wait (night, Sunday, public holiday).
- **After the webinar** (`webinar_request_meeting`): the « merci » code is spent; a person
  without an open social referral or case gets a referral of origin « webinaire »
  (`referrals.services.signalement_create_on_request`, routed like the others); otherwise the
  request is written on the referral's or the case's timeline, no duplicate. Either way a
  booking code bound to that referral or case is issued (and sent) when it opens a booking, and
  the public page hands it to the booking pages at once.

Nothing about health in what a person receives or sees: « webinaire du service social de
l'Assurance Maladie » and the date, never the action's title or theme; the public page shows
the type, the dates and the action's public description.
"""

import dataclasses
import datetime
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import Accompagnement, CaseEvent
from cases.services import case_event_add
from collective import participants as registrations
from collective.models import (
    ActionCollective,
    ActionEvent,
    ActionStatus,
    Participant,
    ParticipantSource,
    Seance,
    StatusClass,
)
from outreach import booking, reminders
from outreach.links import booking_link_send, code_form_url
from outreach.models import RappelSeance
from pdp import access_codes
from pdp.access_codes import code_url, display
from pdp.audit import audit
from pdp.messaging import quiet_hours, send_email, send_sms
from pdp.models import AccessCode, AuditLog
from referrals import services as referral_services
from referrals.models import Assure, Origine, Service, Signalement, SignalementEvent

logger = logging.getLogger(__name__)

ACTION_LABEL = "collective.actioncollective"
PURPOSE = AccessCode.Purpose.WEBINAR
NBSP = "\u00a0"
SIGNATURE = "Le service social de l'Assurance Maladie"

# Reminders: the day before is sent from 24 h before the session until 3 h before it (later,
# the one-hour reminder is enough); the one-hour reminder in the hour before.
J1_LEAD = datetime.timedelta(hours=24)
J1_LATEST = datetime.timedelta(hours=3)
H1_LEAD = datetime.timedelta(hours=1)
# The « merci » goes after the last session ended, up to a week later; its code lives 30 days.
MERCI_WITHIN = datetime.timedelta(days=7)
MERCI_CODE_DAYS = 30
SEANCE_LONGEST = datetime.timedelta(minutes=600)  # the check constraint on Seance.duree_minutes

TEMPLATES = {
    "invitation": "outreach.webinar_invitation",
    "registered": "outreach.webinar_registered",
    "waitlist": "outreach.webinar_waitlist",
    "promoted": "outreach.webinar_promoted",
    RappelSeance.Kind.J_1: "outreach.webinar_j1",
    RappelSeance.Kind.H_1: "outreach.webinar_h1",
    RappelSeance.Kind.MERCI: "outreach.webinar_merci",
    "cancelled": "outreach.action_cancelled",
}

CLOSED = "Les inscriptions sont closes."
NOT_OPEN = "Les inscriptions ne sont pas ouvertes."
CANCELLED = "Ce rendez-vous collectif est annulé."
NOT_ENDED = "Cette demande s'ouvre après la séance."
SPENT = "Ce lien a déjà servi\u00a0: appelez le service social."


# --- Words and dates -----------------------------------------------------------------------


def kind_noun(action):
    """(« un webinaire », « webinaire ») or the same for an information meeting: what the
    person is told, never the title or the theme."""
    if action.type.code == "webinaire":
        return "un webinaire", "webinaire"
    return "une réunion d'information", "réunion d'information"


def day_text(moment, *, year=True):
    """« mardi 15 décembre 2026 », « lundi 1er mars » (Paris time)."""
    local = timezone.localtime(moment) if isinstance(moment, datetime.datetime) else moment
    number = "1er" if local.day == 1 else str(local.day)
    text = f"{date_format(local, 'l')} {number} {date_format(local, 'F')}"
    return f"{text} {local.year}" if year else text


def time_text(moment, space=" "):
    """« 14 h », « 14 h 30 » (Paris time); `space` NBSP on pages."""
    local = timezone.localtime(moment)
    minutes = f"{space}{local.minute:02d}" if local.minute else ""
    return f"{local.hour}{space}h{minutes}"


def when_text(moment, *, year=False, space=" "):
    """« mardi 15 décembre à 14 h » for messages, with NBSP and the year on pages."""
    return f"{day_text(moment, year=year)} à {time_text(moment, space)}"


def page_when(moment):
    return when_text(moment, year=True, space=NBSP)


# --- The action, its sessions and what is open --------------------------------------------


def seances_of(action):
    return list(Seance.objects.filter(action_id=action.pk).order_by("debut", "pk"))


def seance_end(seance):
    return seance.debut + datetime.timedelta(minutes=seance.duree_minutes)


def _end_of_day(day):
    start = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min)
    return timezone.make_aware(start)


def invitation_expiry(action, seances):
    """When an invitation stops working: the end of the registration window or the start of
    the first session, whichever comes first; None without a session."""
    if not seances:
        return None
    expiry = seances[0].debut
    if action.inscription_fin is not None:
        expiry = min(expiry, _end_of_day(action.inscription_fin))
    return expiry


def invitation_refusal(action, seances, now=None):
    """Why invitations cannot be sent for `action` now (French), or None."""
    now = now or timezone.now()
    if not action.type.inscription_par_code:
        return "Ce type d'action ne prévoit pas d'inscription des personnes par invitation."
    if action.statut != ActionStatus.PUBLIEE:
        return (
            f"Les invitations s'envoient une fois l'action publiée{NBSP}; elle est au statut "
            f"« {action.get_statut_display()} »."
        )
    if not seances:
        return f"Ajoutez d'abord une séance{NBSP}: l'invitation en donne la date."
    if invitation_expiry(action, seances) <= now:
        return f"Les inscriptions sont closes{NBSP}: plus d'invitation possible."
    return None


def registration_refusal(action, seances, now=None):
    """Why the person cannot register now (French, for the public page), or None."""
    now = now or timezone.now()
    if action.statut == ActionStatus.ANNULEE:
        return CANCELLED
    if action.statut not in (ActionStatus.PUBLIEE, ActionStatus.EN_COURS) or not seances:
        return NOT_OPEN
    today = timezone.localdate(now)
    if action.inscription_debut is not None and today < action.inscription_debut:
        return f"Les inscriptions ouvriront le {day_text(action.inscription_debut)}."
    if invitation_expiry(action, seances) <= now:
        return CLOSED
    return None


def action_of(code_row):
    """The action a webinar code is bound to, with its type, or None."""
    if code_row is None or code_row.purpose != PURPOSE or code_row.object_type != ACTION_LABEL:
        return None
    try:
        pk = int(code_row.object_id)
    except ValueError:
        return None
    return ActionCollective.objects.select_related("type", "unit").filter(pk=pk).first()


def participant_of(action, assure_id, *, lock=False):
    rows = Participant.objects.select_related("statut").filter(action=action, assure_id=assure_id)
    if lock:
        rows = rows.select_for_update(of=("self",))
    return rows.first()


@dataclasses.dataclass
class PublicState:
    """What the public page shows: the action, its sessions, where the person stands."""

    action: ActionCollective
    seances: list
    participant: Participant | None
    now: datetime.datetime

    @property
    def noun(self):
        return kind_noun(self.action)[1]

    @property
    def first(self):
        return self.seances[0] if self.seances else None

    @property
    def ended(self):
        """The last session is over: the page offers an individual meeting."""
        return bool(self.seances) and seance_end(self.seances[-1]) <= self.now

    @property
    def status(self):
        """« inscrit », « a_confirmer », « liste_attente », « present », or "" (not in, or
        cancelled / expired)."""
        if self.participant is None or self.participant.statut.classe == StatusClass.NEGATIVE:
            return ""
        return self.participant.statut.code

    @property
    def refusal(self):
        return registration_refusal(self.action, self.seances, self.now)

    @property
    def full(self):
        action = self.action
        return action.capacite is not None and action.places_prises >= action.capacite

    @property
    def sessions(self):
        return [
            {
                "when": page_when(s.debut),
                "until": time_text(seance_end(s), NBSP),
                "visio": bool(s.lien_visio or self.action.lien_visio),
                "lieu": s.lieu if not (s.lien_visio or self.action.lien_visio) else "",
            }
            for s in self.seances
        ]

    @property
    def confirm_before(self):
        if self.participant is None or self.participant.confirmer_avant is None:
            return ""
        return page_when(self.participant.confirmer_avant)


def public_state(code_row, now=None):
    """The page's state for a webinar code, or None when it opens nothing."""
    action = action_of(code_row)
    if action is None:
        return None
    return PublicState(
        action=action,
        seances=seances_of(action),
        participant=participant_of(action, code_row.assure_id),
        now=now or timezone.now(),
    )


# --- Messages ------------------------------------------------------------------------------


def _send(*, assure, action, kind, sms, subject, email, secrets=(), channel=None):
    """Send `sms` or (`subject`, `email`) by `channel` (default `booking.reachable_by`);
    None when the person can be reached by neither. About the action (`Message.object_*`)."""
    channel = channel if channel is not None else booking.reachable_by(assure)
    common = {
        "template": TEMPLATES[kind],
        "assure_id": assure.pk,
        "obj": action,
        "secrets": list(secrets),
    }
    if channel == "sms":
        return send_sms(to=assure.telephone, body=sms, **common)
    if channel == "email":
        body = "\n".join(["Bonjour,", "", *email, "", SIGNATURE])
        return send_email(to=assure.email, subject=subject, body=body, **common)
    return None


def invitation_texts(action, seances, code):
    article, noun = kind_noun(action)
    when = when_text(seances[0].debut)
    link = code_url(code)
    sms = (
        f"Le service social de l'Assurance Maladie vous invite à {article} le {when} : "
        f"inscrivez-vous : {link}"
    )
    expiry = invitation_expiry(action, seances)
    email = [
        f"Le service social de l'Assurance Maladie vous invite à {article} le {when}"
        + (f" ({len(seances)} séances)." if len(seances) > 1 else "."),
        "",
        f"Pour vous inscrire : {link}",
        "",
        f"Votre code : {display(code)} (à taper sur {code_form_url()} si le lien ne s'ouvre "
        "pas). Il est personnel ; on vous demandera votre date de naissance. Il sert jusqu'au "
        f"{when_text(expiry)}, aussi pour annuler votre inscription.",
    ]
    if action.unit_id and action.unit.telephone:
        email += ["", f"Pour nous joindre : {action.unit.telephone}"]
    subject = f"Invitation : {noun} du service social de l'Assurance Maladie le {when}"
    return sms, subject, email


def _registered_texts(action, seances, waitlisted):
    _article, noun = kind_noun(action)
    when = when_text(seances[0].debut) if seances else ""
    cancel = "Pour annuler, reprenez le lien de votre invitation."
    if waitlisted:
        head = (
            f"Vous êtes sur la liste d'attente du {noun} du service social de l'Assurance "
            f"Maladie le {when} : nous vous préviendrons si une place se libère."
        )
        subject = f"Liste d'attente : {noun} du {when}"
    else:
        head = (
            f"Votre inscription au {noun} du service social de l'Assurance Maladie le {when} "
            "est confirmée. Le lien de connexion vous sera envoyé la veille et une heure avant."
        )
        subject = f"Inscription confirmée : {noun} du {when}"
    return f"{head} {cancel}", subject, [head, "", cancel]


# --- Inviting ------------------------------------------------------------------------------


def invitees(user, action):
    """The people `user` may invite: those of their unit with an open social referral or an
    open case (visible to them), annotated with `in_case`, `invited_at` (the last invitation
    to this action) and `participant_status` / `participant_class` (their registration). One
    query; the unit only, also for a regional action (first version)."""
    if not user.is_authenticated or user.unit_id is None:
        return Assure.objects.none()
    referrals = (
        Signalement.objects.visible_to(user)
        .open()
        .filter(service=Service.SOCIAL, unit_id=user.unit_id, assure_id=OuterRef("pk"))
    )
    cases = (
        Accompagnement.objects.visible_to(user)
        .open()
        .filter(unit_id=user.unit_id, assure_id=OuterRef("pk"))
    )
    invited = (
        AccessCode.objects.filter(
            purpose=PURPOSE,
            object_type=ACTION_LABEL,
            object_id=str(action.pk),
            assure_id=OuterRef("pk"),
            created_by__isnull=False,  # staff invitations, not the system's codes
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    participation = Participant.objects.filter(action_id=action.pk, assure_id=OuterRef("pk"))
    return (
        Assure.objects.annotate(in_case=Exists(cases), in_referral=Exists(referrals))
        .filter(Q(in_case=True) | Q(in_referral=True))
        .annotate(
            invited_at=Subquery(invited),
            participant_status=Subquery(participation.values("statut__label")[:1]),
            participant_class=Subquery(participation.values("statut__classe")[:1]),
        )
        .order_by("nom_naissance", "prenoms", "pk")
    )


def _timeline(*, assure_id, action, acting_user, text):
    """`text` on the person's open case timeline (with the action's type and title, as
    `collective.participants` writes), else on their open social referral's (the date only:
    the referral is read by the whole unit, the title may say something about health)."""
    case = Accompagnement.objects.open().filter(assure_id=assure_id).order_by("-pk").first()
    if case is not None:
        case_event_add(
            accompagnement=case,
            acting_user=acting_user,
            kind=CaseEvent.Kind.COLLECTIVE,
            summary=f"{action.type} « {action.titre} » : {text}",
            changes={"action_collective": action.pk},
        )
        return case
    referral = (
        Signalement.objects.open()
        .filter(assure_id=assure_id, service=Service.SOCIAL)
        .order_by("-pk")
        .first()
    )
    if referral is not None:
        first = Seance.objects.filter(action_id=action.pk).order_by("debut").first()
        what = f"{action.type} du {day_text(first.debut)}" if first else str(action.type)
        SignalementEvent.objects.create(
            signalement=referral,
            actor=acting_user if acting_user is not None and acting_user.is_authenticated else None,
            kind=SignalementEvent.Kind.CONTACT,
            new_value=text[:100],
            reason=f"{what} : {text}",
        )
    return referral


def _revoke_earlier(*, action, assure_id, acting_user):
    for row in AccessCode.objects.filter(
        purpose=PURPOSE,
        object_type=ACTION_LABEL,
        object_id=str(action.pk),
        assure_id=assure_id,
        revoked_at__isnull=True,
    ):
        access_codes.access_code_revoke(row=row, acting_user=acting_user)


@dataclasses.dataclass
class InviteResult:
    sms: int = 0
    email: int = 0
    deferred: int = 0  # SMS waiting for the allowed hours
    unreachable: list = dataclasses.field(default_factory=list)  # names
    already_in: list = dataclasses.field(default_factory=list)  # names

    @property
    def sent(self):
        return self.sms + self.email


@transaction.atomic
def webinar_invite(*, action, assure_ids, acting_user, now=None):
    """Invite the people `assure_ids` (among `invitees(acting_user, action)`) to `action`.
    Raises a French ValidationError when invitations cannot be sent, when nobody is ticked,
    or when a ticked person is no longer one the user may invite (nothing is sent then).
    People already registered are left out; people without a usable mobile or e-mail are
    counted, not invited."""
    now = now or timezone.now()
    action = ActionCollective.objects.select_related("type", "unit").get(pk=action.pk)
    seances = seances_of(action)
    refusal = invitation_refusal(action, seances, now)
    if refusal:
        raise ValidationError(refusal)
    wanted = set(assure_ids)
    if not wanted:
        raise ValidationError("Cochez au moins une personne à inviter.")
    people = list(invitees(acting_user, action).filter(pk__in=wanted))
    if len(people) != len(wanted):
        raise ValidationError(
            f"Une des personnes cochées n'est plus suivie par votre unité{NBSP}: rechargez la "
            "page et recommencez. Aucune invitation n'est partie."
        )
    expiry = invitation_expiry(action, seances)
    result = InviteResult()
    codes = []
    for assure in people:
        if assure.participant_class and assure.participant_class != StatusClass.NEGATIVE:
            result.already_in.append(str(assure))
            continue
        channel = booking.reachable_by(assure, now)
        if channel is None:
            result.unreachable.append(str(assure))
            continue
        _revoke_earlier(action=action, assure_id=assure.pk, acting_user=acting_user)
        row, code = access_codes.access_code_issue(
            purpose=PURPOSE,
            assure_id=assure.pk,
            expires_at=expiry,
            acting_user=acting_user,
            object_type=ACTION_LABEL,
            object_id=action.pk,
        )
        sms, subject, email = invitation_texts(action, seances, code)
        message = _send(
            assure=assure,
            action=action,
            kind="invitation",
            sms=sms,
            subject=subject,
            email=email,
            secrets=[code, display(code)],
            channel=channel,
        )
        codes.append(row.pk)
        if channel == "sms":
            result.sms += 1
            result.deferred += message.send_after is not None
        else:
            result.email += 1
        label = "SMS" if channel == "sms" else "e-mail"
        _timeline(
            assure_id=assure.pk,
            action=action,
            acting_user=acting_user,
            text=f"invitation envoyée par {label}",
        )
        audit(
            user=acting_user,
            action=AuditLog.Action.CREATE,
            obj=action,
            assure_id=assure.pk,
            changes={"webinar_invitation": [None, channel], "access_code": [None, row.pk]},
        )
    ActionEvent.objects.create(
        action=action,
        actor=acting_user,
        kind="invitation",
        summary=(
            f"Invitations envoyées : {result.sent} ({result.sms} par SMS, {result.email} par "
            f"e-mail) ; sans moyen de contact : {len(result.unreachable)}"
        )[:300],
        changes={
            "access_codes": codes,
            "sms": result.sms,
            "email": result.email,
            "unreachable": len(result.unreachable),
            "already_in": len(result.already_in),
        },
    )
    return result


# --- The person's registration ------------------------------------------------------------


@dataclasses.dataclass
class Registered:
    participant: Participant
    message: object  # pdp.models.Message or None


def _confirm_registration(participant, action, seances):
    assure = Assure.objects.get(pk=participant.assure_id)
    waitlisted = participant.statut.code == registrations.LISTE_ATTENTE
    sms, subject, email = _registered_texts(action, seances, waitlisted)
    return _send(
        assure=assure,
        action=action,
        kind="waitlist" if waitlisted else "registered",
        sms=sms,
        subject=subject,
        email=email,
    )


@transaction.atomic
def webinar_register(*, code_row, now=None):
    """Register the person of a webinar code in its action: a seat, else the waitlist; a
    confirmation by SMS or e-mail. French ValidationError when registration is closed or the
    action is full without a waitlist. Registering twice changes nothing and sends nothing."""
    action = action_of(code_row)
    if action is None:
        raise ValidationError(NOT_OPEN)
    seances = seances_of(action)
    refusal = registration_refusal(action, seances, now)
    if refusal:
        raise ValidationError(refusal)
    before = participant_of(action, code_row.assure_id)
    assure = Assure.objects.get(pk=code_row.assure_id)
    participant = registrations.participant_register(
        action=action, assure=assure, source=ParticipantSource.CODE
    )
    again = before is not None and before.statut.classe != StatusClass.NEGATIVE
    message = None if again else _confirm_registration(participant, action, seances)
    return Registered(participant=participant, message=message)


@transaction.atomic
def webinar_cancel(*, code_row):
    """Cancel the registration of the person of a webinar code (its seat goes to the
    waitlist). Returns the participant, or None when they were not registered."""
    action = action_of(code_row)
    participant = participant_of(action, code_row.assure_id) if action is not None else None
    if participant is None or participant.statut.classe == StatusClass.NEGATIVE:
        return None
    return registrations.participant_cancel(
        participant=participant, reason="par la personne, avec le lien reçu"
    )


@transaction.atomic
def webinar_confirm(*, code_row, now=None):
    """Confirm the seat offered to the person of a webinar code (« à confirmer »), with a
    confirmation message. French ValidationError past the deadline."""
    action = action_of(code_row)
    participant = participant_of(action, code_row.assure_id) if action is not None else None
    if participant is None:
        raise ValidationError("Aucune place ne vous est proposée.")
    was = participant.statut.code
    participant = registrations.participant_confirm(participant=participant, now=now)
    message = None
    if was != participant.statut.code:
        message = _confirm_registration(participant, action, seances_of(action))
    return Registered(participant=participant, message=message)


def on_participant_promoted(sender, *, participant, **kwargs):
    """A freed seat was offered to `participant` (inside the promotion's transaction): a
    person registered by code gets a link to confirm it, valid until the deadline or the
    session. People added by an ASS are confirmed by her on the action's page."""
    if participant.source != ParticipantSource.CODE or participant.confirmer_avant is None:
        return
    action = ActionCollective.objects.select_related("type").get(pk=participant.action_id)
    seances = seances_of(action)
    now = timezone.now()
    if not seances or seances[0].debut <= now:
        return
    expires = min(participant.confirmer_avant, seances[0].debut)
    assure = Assure.objects.get(pk=participant.assure_id)
    channel = booking.reachable_by(assure, now)
    if channel is None:
        return
    _row, code = access_codes.access_code_issue(
        purpose=PURPOSE,
        assure_id=assure.pk,
        expires_at=expires,
        object_type=ACTION_LABEL,
        object_id=action.pk,
    )
    _article, noun = kind_noun(action)
    head = (
        f"Une place s'est libérée au {noun} du service social de l'Assurance Maladie le "
        f"{when_text(seances[0].debut)}. Confirmez-la avant le {when_text(expires)}"
    )
    _send(
        assure=assure,
        action=action,
        kind="promoted",
        sms=f"{head} : {code_url(code)}",
        subject=f"Une place s'est libérée : {noun} du {when_text(seances[0].debut)}",
        email=[f"{head} en suivant ce lien :", "", code_url(code)],
        secrets=[code],
        channel=channel,
    )


# --- Reminders and the « merci » ----------------------------------------------------------


def _visio(seance, action):
    return seance.lien_visio or action.lien_visio


def reminder_texts(kind, seance, action, code=""):
    """(sms, subject, e-mail lines) of a reminder or of the « merci » (`code`: its link)."""
    _article, noun = kind_noun(action)
    when = when_text(seance.debut)
    if kind == RappelSeance.Kind.MERCI:
        head = (
            f"Merci de votre participation au {noun} du service social de l'Assurance Maladie "
            f"du {day_text(seance.debut, year=False)}."
        )
        ask = f"Pour demander un rendez-vous individuel avec le service social : {code_url(code)}"
        return f"{head} {ask}", f"Merci de votre participation au {noun}", [head, "", ask]
    visio, lieu = _visio(seance, action), seance.lieu
    where = f"Lien de connexion : {visio}" if visio else (f"Lieu : {lieu}" if lieu else "")
    if kind == RappelSeance.Kind.J_1:
        head = f"Rappel : {noun} du service social de l'Assurance Maladie le {when}."
        subject = f"Rappel : {noun} du {when}"
    else:
        head = (
            f"Le {noun} du service social de l'Assurance Maladie commence aujourd'hui à "
            f"{time_text(seance.debut)}."
        )
        subject = f"Votre {noun} commence à {time_text(seance.debut)}"
    sms = f"{head} {where}".strip()
    return sms, subject, [head, "", where] if where else [head]


RUNNING = (ActionStatus.PUBLIEE, ActionStatus.EN_COURS)


def _session_candidates(now):
    """(participant, séance, kind) for the reminders due at `now` that have no row yet: the
    sessions starting in (now + 3 h, now + 24 h] (the day before) or (now, now + 1 h] (one hour
    before) of running actions, and their participants holding a seat. Three queries."""
    seances = list(
        Seance.objects.filter(
            Q(debut__gt=now + J1_LATEST, debut__lte=now + J1_LEAD)
            | Q(debut__gt=now, debut__lte=now + H1_LEAD),
            action__statut__in=RUNNING,
            action__type__inscription_par_code=True,
        ).select_related("action__type")
    )
    kinds = {
        s.pk: RappelSeance.Kind.H_1 if s.debut <= now + H1_LEAD else RappelSeance.Kind.J_1
        for s in seances
    }
    people = Participant.objects.filter(statut__compte=True)
    return _pairs(seances, kinds, people)


def _merci_candidates(now):
    """(participant, séance, « merci ») for the actions by code whose last session ended in
    the last MERCI_WITHIN, not cancelled, for their registered participants. Three queries."""
    later = Seance.objects.filter(action_id=OuterRef("action_id"), debut__gt=OuterRef("debut"))
    seances = [
        s
        for s in Seance.objects.filter(
            debut__lt=now,
            debut__gte=now - MERCI_WITHIN - SEANCE_LONGEST,
            action__type__inscription_par_code=True,
        )
        .exclude(action__statut=ActionStatus.ANNULEE)
        .exclude(Exists(later))
        .select_related("action__type")
        if now - MERCI_WITHIN < seance_end(s) <= now
    ]
    kinds = {s.pk: RappelSeance.Kind.MERCI for s in seances}
    people = Participant.objects.filter(statut__classe=StatusClass.POSITIVE)
    return _pairs(seances, kinds, people)


def _pairs(seances, kinds, people):
    if not seances:
        return []
    by_action = {}
    for seance in seances:
        by_action.setdefault(seance.action_id, []).append(seance)
    existing = set(
        RappelSeance.objects.filter(seance_id__in=kinds).values_list(
            "participant_id", "seance_id", "kind", "debut"
        )
    )
    pairs = []
    for participant in people.filter(action_id__in=by_action).select_related("assure"):
        for seance in by_action[participant.action_id]:
            kind = kinds[seance.pk]
            if (participant.pk, seance.pk, kind, seance.debut) not in existing:
                pairs.append((participant, seance, kind))
    return pairs


def _still_due(row, participant, seance):
    """Whether the claimed `row` is still to be sent: the session has not moved, the action
    runs (or ended, for the « merci »), the participant still holds a seat."""
    action = seance.action
    if seance.debut != row.debut:
        return False
    if row.kind == RappelSeance.Kind.MERCI:
        return (
            action.statut != ActionStatus.ANNULEE
            and participant.statut.classe == StatusClass.POSITIVE
        )
    return action.statut in RUNNING and participant.statut.compte


def _send_one(row, now):
    """Claim `row` and send it. True if this call sent it."""
    with transaction.atomic():
        # No join in this UPDATE (see outreach.reminders._send_one).
        claimed = RappelSeance.objects.filter(
            pk=row.pk, sent_at__isnull=True, skipped_reason=""
        ).update(sent_at=now)
        if claimed != 1:
            return False
        participant = (
            Participant.objects.select_for_update(of=("self",))
            .select_related("statut", "assure")
            .get(pk=row.participant_id)
        )
        seance = Seance.objects.select_related("action__type").get(pk=row.seance_id)
        if not _still_due(row, participant, seance):
            transaction.set_rollback(True)
            return False
        action, assure = seance.action, participant.assure
        code = ""
        if row.kind == RappelSeance.Kind.MERCI:
            _code_row, code = access_codes.access_code_issue(
                purpose=PURPOSE,
                assure_id=assure.pk,
                expires_at=now + datetime.timedelta(days=MERCI_CODE_DAYS),
                object_type=ACTION_LABEL,
                object_id=action.pk,
            )
        sms, subject, email = reminder_texts(row.kind, seance, action, code)
        try:
            message = _send(
                assure=assure,
                action=action,
                kind=row.kind,
                sms=sms,
                subject=subject,
                email=email,
                secrets=[code] if code else [],
                channel=row.channel,
            )
        except ValidationError:
            # The contact details changed since the row was written: nothing to send to.
            RappelSeance.objects.filter(pk=row.pk).update(
                sent_at=None, skipped_reason=RappelSeance.Skipped.NO_CHANNEL
            )
            return False
        RappelSeance.objects.filter(pk=row.pk).update(message=message)
    return True


def webinar_messages_send(*, now=None):
    """Write and send the reminders and « merci » messages due at `now` (see the module).
    Safe to run twice or in two workers at once. Returns {"created", "skipped", "sent"}."""
    now = now or timezone.now()
    sms_allowed = quiet_hours.is_allowed(now)
    rows = []
    for participant, seance, kind in _session_candidates(now) + _merci_candidates(now):
        channel = reminders.choose_channel(participant.assure)
        if channel == "sms" and not sms_allowed:
            continue  # written by the first run of the allowed hours
        rows.append(
            RappelSeance(
                participant=participant,
                seance=seance,
                kind=kind,
                debut=seance.debut,
                channel=channel,
                skipped_reason="" if channel else RappelSeance.Skipped.NO_CHANNEL,
            )
        )
    RappelSeance.objects.bulk_create(rows, ignore_conflicts=True)

    pending = RappelSeance.objects.filter(
        sent_at__isnull=True, skipped_reason="", seance__debut=F("debut")
    )
    due = pending.filter(
        Q(kind__in=[RappelSeance.Kind.J_1, RappelSeance.Kind.H_1], debut__gt=now)
        | Q(kind=RappelSeance.Kind.MERCI, created_at__gte=now - MERCI_WITHIN)
    ).only("pk", "participant_id", "seance_id", "kind", "debut", "channel")
    sent = sum(_send_one(row, now) for row in due)
    result = {
        "created": len(rows),
        "skipped": sum(1 for row in rows if row.skipped_reason),
        "sent": sent,
    }
    logger.info(
        "webinar_messages_send: %(created)d rows written (%(skipped)d skipped), %(sent)d sent",
        result,
    )
    return result


# --- After the webinar: an individual meeting ---------------------------------------------


@dataclasses.dataclass
class MeetingRequest:
    context: object  # the Signalement or Accompagnement the request went to
    created: bool  # a new referral of origin « webinaire »
    booking_row: AccessCode | None  # opens the booking pages, or None
    message: object  # the booking link sent (pdp.models.Message) or None
    unit: object  # the unit to call (pdp.models.Unit) or None


def _inviting_unit(action, assure_id):
    """The unit behind the person's invitation: the action's, else the inviter's."""
    if action.unit_id is not None:
        return action.unit
    code = (
        AccessCode.objects.filter(
            purpose=PURPOSE,
            object_type=ACTION_LABEL,
            object_id=str(action.pk),
            assure_id=assure_id,
            created_by__unit__isnull=False,
        )
        .select_related("created_by__unit")
        .order_by("-created_at")
        .first()
    )
    return code.created_by.unit if code is not None else None


def _booking_code(assure, context):
    """A booking code bound to `context`, if it opens a booking: sent by SMS or e-mail when
    the person has one (`outreach.links.booking_link_send`), else only issued. (row, message)
    or (None, None)."""
    label = context._meta.label_lower
    probe = AccessCode(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=assure.pk,
        object_type=label,
        object_id=str(context.pk),
    )
    if booking.booking_context(code_row=probe) is None:
        return None, None
    channel = booking.reachable_by(assure)
    if channel is not None:
        sent = booking_link_send(assure=assure, context=context, channel=channel, acting_user=None)
        return sent.access_code, sent.message
    row, _code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=assure.pk,
        expires_at=timezone.now() + datetime.timedelta(days=settings.BOOKING_LINK_DAYS),
        object_type=label,
        object_id=context.pk,
    )
    return row, None


@transaction.atomic
def webinar_request_meeting(*, code_row, now=None):
    """« Je souhaite un rendez-vous individuel avec le service social », after the last
    session, with the « merci » code (spent). A person without an open social referral or
    case gets a referral of origin « webinaire » routed like the others; otherwise the request
    goes on the open one's timeline. Returns a `MeetingRequest`; French ValidationError before
    the end of the webinar or when the code was spent meanwhile."""
    now = now or timezone.now()
    action = action_of(code_row)
    if action is None:
        raise ValidationError(SPENT)
    seances = seances_of(action)
    if not seances or seance_end(seances[-1]) > now:
        raise ValidationError(NOT_ENDED)
    if not access_codes.access_code_use(row=code_row):
        raise ValidationError(SPENT)
    assure = Assure.objects.select_for_update().get(pk=code_row.assure_id)
    _article, noun = kind_noun(action)
    day = day_text(seances[-1].debut)
    text = f"demande de rendez-vous individuel exprimée après le {noun} du {day}"
    case = Accompagnement.objects.open().filter(assure=assure).order_by("-pk").first()
    referral = (
        Signalement.objects.open()
        .filter(assure=assure, service=Service.SOCIAL)
        .select_related("unit")
        .order_by("-pk")
        .first()
    )
    created = False
    if case is not None or referral is not None:
        context = _timeline(assure_id=assure.pk, action=action, acting_user=None, text=text)
    else:
        context = referral_services.signalement_create_on_request(
            assure=assure,
            origine=Origine.WEBINAIRE,
            motif=f"La personne a demandé un rendez-vous individuel après le {noun} du {day}.",
            fallback_unit=_inviting_unit(action, assure.pk),
            fallback_region=action.region,
        )
        created = True
    participant = participant_of(action, assure.pk)
    ActionEvent.objects.create(
        action=action,
        actor=None,
        kind="demande_rdv",
        summary="Demande de rendez-vous individuel après la séance",
        changes={"participant": participant.pk if participant else None},
    )
    audit(
        user=None,
        action=AuditLog.Action.CREATE if created else AuditLog.Action.UPDATE,
        obj=context,
        assure_id=assure.pk,
        changes={"webinar_request": [None, action.pk], "origine": Origine.WEBINAIRE},
    )
    booking_row, message = _booking_code(assure, context)
    unit = getattr(context, "unit", None)
    return MeetingRequest(
        context=context, created=created, booking_row=booking_row, message=message, unit=unit
    )


def cancellation_texts(action, seances, now=None):
    """(sms, subject, email lines) telling a participant the action will not take place:
    its kind and date only, never the title or the theme."""
    now = now or timezone.now()
    coming = [s for s in seances if s.debut > now] or list(seances)
    noun = {"webinaire": "Le webinaire", "info_collective": "La réunion d'information"}.get(
        action.type.code, "L'atelier collectif"
    )
    when = f" du {day_text(coming[0].debut, year=False)}" if coming else ""
    phone = action.unit.telephone if action.unit_id and action.unit.telephone else ""
    call = f" Pour toute question, appelez le {phone}." if phone else ""
    text = f"{noun} du service social de l'Assurance Maladie{when} n'aura pas lieu."
    return (
        f"Service social de l'Assurance Maladie : {noun[:1].lower()}{noun[1:]}{when} n'aura pas"
        f" lieu. Nous vous prions de nous excuser.{call}",
        f"{noun}{when} n'aura pas lieu",
        [text, "Nous vous prions de nous excuser." + call],
    )


def on_action_cancelled(sender, *, action, acting_user, participants, **kwargs):
    """Tell each participant taken out by the cancellation (SMS or e-mail, once the
    cancellation commits: `pdp.messaging`). A person without mobile or e-mail is told by the
    ASS; nothing is sent after the last session."""
    seances = list(seances_of(action))
    if not participants or not seances or seance_end(seances[-1]) <= timezone.now():
        return
    sms, subject, email = cancellation_texts(action, seances)
    people = Assure.objects.in_bulk([p.assure_id for p in participants])
    for participant in participants:
        assure = people.get(participant.assure_id)
        if assure is not None:
            _send(
                assure=assure,
                action=action,
                kind="cancelled",
                sms=sms,
                subject=subject,
                email=email,
            )
