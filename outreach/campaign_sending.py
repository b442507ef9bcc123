"""Campaign sending (issue 12, items 4 and 6): launch, SMS / e-mail / webinar invitations,
reminders, closing.

Launch (`campagne_launch`): the manager of a validated campaign launches it — « en cours »,
a `CampagneEvent` « launched » — and on commit the Celery task
`outreach.tasks.send_campaign_invitations(campagne_id)` sends its invitations. Webinar targets
need the campaign's webinar (`Campagne.webinaire`) open to invitations (published, a session to
come): the launch is refused otherwise. Letters go by batches (`campaign_letters`); calls by
the conseillers' call lists (`campaign_calls`).

Sending (`invitations_send`) is set-based, by batches of ``SEND_BATCH`` targets, each batch in
one transaction with a number of statements that does not depend on its size:
1. the waiting targets — SMS, e-mail or webinaire, open, not sent (``envoye_le`` empty) — are
   locked ``FOR UPDATE SKIP LOCKED`` (a second worker takes other rows or none) and claimed
   (``envoye_le``): a retry, or the periodic run, never sends twice — and the unique
   (campagne, assuré) means a person has one target only;
2. a target whose contact became unusable since the simulation (number no longer a mobile,
   « pas de SMS » ticked since) is excluded « pas de coordonnée utilisable »;
3. the codes are issued in bulk (`access_codes_issue_many`): a booking code bound to the target
   (valid until the end of the day ``validite_sms_jours`` / ``validite_email_jours`` after
   now), or a webinar registration code bound to the webinar (valid until its registrations
   close, `webinars.invitation_expiry`), which the target points to;
4. the messages are logged in one INSERT and delivered after commit by tasks of 100
   (`pdp.messaging.send_many`; SMS in the quiet hours wait for 08:00); the clear codes travel
   only in those tasks' arguments;
5. one audit row per target (bulk) and one `CampagneEvent` « sent » with the counts.

The targets a call list fell back to SMS or e-mail are sent by the periodic run
(`pending_send`, every half hour in the daytime).

Reminders (`reminders_send`, daily): an SMS or e-mail invitation sent at least
``relance_jours`` days ago and still unanswered (no meeting, no refusal, not expired) gets ONE
reminder, by the same channel, while its code is valid for at least ``REMINDER_MIN_VALIDITY``
more — never to a person who said « pas de relance ». Claimed by ``relance_le`` (``UPDATE …
WHERE relance_le IS NULL`` under ``SKIP LOCKED``): never twice. The reminder carries a new
booking code bound to the same target, expiring with the first (the first code's clear text
exists nowhere any more).

Closing (`campagne_close`, by the manager, or `campaigns_close_due`, daily, once the longest
validity since the launch has passed and no code of the campaign is valid any more): « close »,
every open invitation expires (`campaigns.invitations_expire`: codes revoked, reservations
dropped). A person's invitations also expire when their case opens (`on_case_opened`) or when
they refuse (`campaign_answers.target_refused`).
"""

import dataclasses
import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from outreach import reminders, webinars
from outreach.campaign_letters import units_for
from outreach.campaigns import CIBLE, can_manage, invitation_end, invitations_expire, open_targets
from outreach.links import code_form_url, mobile_of
from outreach.models import Campagne, CampagneEvent, CanalCampagne, Cible, Expiration
from pdp.access_codes import access_codes_issue_many, code_url, display
from pdp.audit import audit, audit_many
from pdp.messaging import Outgoing, send_many
from pdp.models import AccessCode, AuditLog, Message
from pdp.permissions import FORBIDDEN_MESSAGE
from referrals.models import Canal

NBSP = "\u00a0"
SEND_BATCH = 500
REMINDER_MIN_VALIDITY = datetime.timedelta(days=2)
SENT_CHANNELS = (CanalCampagne.SMS, CanalCampagne.EMAIL, CanalCampagne.WEBINAIRE)
REMINDED_CHANNELS = (CanalCampagne.SMS, CanalCampagne.EMAIL)
TEMPLATES = {
    "invitation": "outreach.campaign_invitation",
    "reminder": "outreach.campaign_reminder",
    "webinar": "outreach.campaign_webinar",
}
SUBJECT = "Un rendez-vous avec le service social de l'Assurance Maladie"
REMINDER_SUBJECT = "Rappel : votre rendez-vous avec le service social de l'Assurance Maladie"
SIGNATURE = "Le service social de l'Assurance Maladie"

DEFAULT_CALL_SCRIPT = (
    "Bonjour, je suis [votre prénom], conseiller(ère) du service social de l'Assurance"
    " Maladie. Je souhaite parler à [prénom et nom de la personne].\n"
    "Je vous appelle parce que vous êtes en arrêt de travail depuis plusieurs mois\u00a0:"
    " le service social propose à chacun un rendez-vous avec un(e) assistant(e) social(e) pour"
    " faire le point sur votre situation, votre emploi et vos droits, et préparer la suite."
    " C'est gratuit et sans engagement.\n"
    "Souhaitez-vous un rendez-vous\u00a0? Il peut avoir lieu à l'agence, par téléphone ou"
    " en visioconférence."
)

NOT_VALIDATED = "Seule une campagne validée se lance."
NO_WEBINAR = f"Des personnes sont invitées à un webinaire{NBSP}: aucun webinaire n'est choisi."


def _require(allowed):
    if not allowed:
        raise PermissionDenied(FORBIDDEN_MESSAGE)


# --- Launch ------------------------------------------------------------------------------------


def _webinar_targets(campagne):
    return open_targets().filter(campagne=campagne, canal=CanalCampagne.WEBINAIRE).exists()


def launch_refusal(campagne, now=None):
    """Why `campagne` cannot be launched now (French), or None."""
    if campagne.statut != Campagne.Statut.VALIDEE:
        return NOT_VALIDATED
    if _webinar_targets(campagne):
        if campagne.webinaire_id is None:
            return NO_WEBINAR
        action = campagne.webinaire
        refusal = webinars.invitation_refusal(action, webinars.seances_of(action), now)
        if refusal:
            return f"Webinaire « {action.titre} »{NBSP}: {refusal}"
    return None


@transaction.atomic
def campagne_launch(*, campagne, acting_user, now=None):
    """Validée → en cours; its SMS, e-mail and webinar invitations leave on commit."""
    _require(can_manage(acting_user, campagne))
    now = now or timezone.now()
    campagne = (
        Campagne.objects.select_for_update(of=("self",))
        .select_related("webinaire__type")
        .get(pk=campagne.pk)
    )
    refusal = launch_refusal(campagne, now)
    if refusal:
        raise ValidationError(refusal)
    campagne.statut = Campagne.Statut.EN_COURS
    campagne.lancee_le = now
    campagne.save(update_fields=["statut", "lancee_le", "updated_at"])
    CampagneEvent.objects.create(
        campagne=campagne, actor=acting_user, kind=CampagneEvent.Kind.LAUNCHED
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=campagne,
        changes={"statut": [Campagne.Statut.VALIDEE, campagne.statut]},
    )
    from outreach.tasks import send_campaign_invitations

    transaction.on_commit(lambda: send_campaign_invitations.delay(campagne.pk, acting_user.pk))
    return campagne


# --- Sending -----------------------------------------------------------------------------------


def invitations_waiting(campagne, channels=SENT_CHANNELS):
    """The targets of `campagne` whose SMS, e-mail or webinar invitation is still to send."""
    return open_targets().filter(
        campagne=campagne, canal__in=channels, envoye_le__isnull=True, refus_le__isnull=True
    )


def _channels_open(campagne, now):
    """The channels sent now: webinar invitations only while the webinar takes them (they wait
    otherwise, visible on the campaign page)."""
    action = campagne.webinaire
    if action is None or webinars.invitation_refusal(action, webinars.seances_of(action), now):
        return REMINDED_CHANNELS
    return SENT_CHANNELS


def _email_of(assure):
    return assure.email.strip() if reminders.email_ok(assure) else None


def _sms_number(assure):
    return None if assure.pas_de_sms else mobile_of(assure)


def _recipient(target):
    """(Message channel, address) the target's invitation goes to, or None when unusable."""
    assure = target.assure
    if target.canal == CanalCampagne.SMS:
        number = _sms_number(assure)
        return (Message.Channel.SMS, number) if number else None
    if target.canal == CanalCampagne.EMAIL:
        address = _email_of(assure)
        return (Message.Channel.EMAIL, address) if address else None
    # Webinar: the preferred of SMS and e-mail, else the other.
    number, address = _sms_number(assure), _email_of(assure)
    if address and (assure.canal_prefere == Canal.EMAIL or not number):
        return Message.Channel.EMAIL, address
    return (Message.Channel.SMS, number) if number else None


def _day(day):
    return day.strftime("%d/%m/%Y")


def invitation_texts(*, assure, code, unit, last_day, reminder=False):
    """(SMS, e-mail subject, e-mail body) of a booking invitation: nothing about health, the
    institution's name only; the unit's phone number when known."""
    phone = unit.telephone if unit is not None and unit.telephone else ""
    head = "Rappel - " if reminder else ""
    call = f" ou appelez le {phone}" if phone else ""
    sms = (
        f"{head}Service social de l'Assurance Maladie : prenez rendez-vous en ligne avec votre"
        f" code {display(code)} : {code_url(code)}{call}. Valable jusqu'au {_day(last_day)}."
    )
    intro = (
        "Nous vous avons écrit il y a quelques jours : le service social de l'Assurance"
        " Maladie vous propose toujours un rendez-vous."
        if reminder
        else "Le service social de l'Assurance Maladie vous propose un rendez-vous pour faire le"
        " point sur votre situation, votre emploi et vos droits. C'est gratuit et sans"
        " engagement."
    )
    lines = [
        f"Bonjour {assure.prenoms} {assure.nom_affiche},",
        "",
        intro,
        "",
        "Choisissez le jour et l'heure qui vous conviennent en suivant ce lien :",
        "",
        code_url(code),
        "",
        f"Votre code : {display(code)} (à taper sur {code_form_url()} si le lien ne s'ouvre"
        " pas). Il est personnel ; on vous demandera votre date de naissance. Il est valable"
        f" jusqu'au {_day(last_day)}.",
        "",
        "Si vous ne souhaitez pas être recontacté(e), suivez le même lien et dites-le nous.",
    ]
    if phone:
        lines += ["", f"Vous pouvez aussi nous appeler au {phone}."]
    lines += ["", unit.name if unit is not None else SIGNATURE, SIGNATURE]
    return sms, REMINDER_SUBJECT if reminder else SUBJECT, "\n".join(lines)


def _outgoing(target, channel, address, texts, template, secrets):
    sms, subject, body = texts
    return Outgoing(
        channel=channel,
        to=address,
        body=sms if channel == Message.Channel.SMS else body,
        subject="" if channel == Message.Channel.SMS else subject,
        template=template,
        assure_id=target.assure_id,
        object_type=CIBLE,
        object_id=str(target.pk),
        secrets=secrets,
    )


@dataclasses.dataclass
class Sent:
    sms: int = 0
    email: int = 0
    webinaire: int = 0
    differes: int = 0
    sans_contact: int = 0

    def add(self, other):
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    @property
    def total(self):
        return self.sms + self.email + self.webinaire


def _exclude_unusable(targets, acting_user):
    if not targets:
        return
    Cible.objects.filter(pk__in=[t.pk for t in targets]).update(
        exclusion=Cible.Exclusion.SANS_CONTACT
    )
    audit_many(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (t.pk, t.assure_id, {"exclusion": ["", Cible.Exclusion.SANS_CONTACT]}) for t in targets
        ),
    )


def _issue(targets, *, purpose, expires_at, acting_user, bound_to_target=True, action=None):
    if not targets:
        return []
    return access_codes_issue_many(
        purpose=purpose,
        items=[
            {
                "assure_id": t.assure_id,
                "expires_at": expires_at,
                "object_type": CIBLE if bound_to_target else webinars.ACTION_LABEL,
                "object_id": t.pk if bound_to_target else action.pk,
            }
            for t in targets
        ],
        acting_user=acting_user,
    )


def _send_batch(campagne, now, acting_user, channels):
    """One batch (see the module's docstring); None when nothing was waiting."""
    targets = list(
        invitations_waiting(campagne, channels)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("assure")
        .order_by("pk")[:SEND_BATCH]
    )
    if not targets:
        return None
    result = Sent()
    plan, unusable = [], []
    for target in targets:
        recipient = _recipient(target)
        if recipient is None:
            unusable.append(target)
        else:
            plan.append((target, *recipient))
    _exclude_unusable(unusable, acting_user)
    result.sans_contact = len(unusable)
    if not plan:
        return result
    Cible.objects.filter(pk__in=[t.pk for t, _c, _a in plan], envoye_le__isnull=True).update(
        envoye_le=now
    )
    booking = [p for p in plan if p[0].canal != CanalCampagne.WEBINAIRE]
    invited = [p for p in plan if p[0].canal == CanalCampagne.WEBINAIRE]
    days = {
        CanalCampagne.SMS: campagne.validite_sms_jours,
        CanalCampagne.EMAIL: campagne.validite_email_jours,
    }
    codes = {}
    for canal, n in days.items():
        group = [t for t, _c, _a in booking if t.canal == canal]
        last_day, expires_at = invitation_end(n, now)
        issued = _issue(
            group,
            purpose=AccessCode.Purpose.BOOKING,
            expires_at=expires_at,
            acting_user=acting_user,
        )
        for target, pair in zip(group, issued, strict=True):
            codes[target.pk] = (*pair, last_day)
    if invited:
        action = campagne.webinaire
        seances = webinars.seances_of(action)
        issued = _issue(
            [t for t, _c, _a in invited],
            purpose=AccessCode.Purpose.WEBINAR,
            expires_at=webinars.invitation_expiry(action, seances),
            acting_user=acting_user,
            bound_to_target=False,
            action=action,
        )
        for (target, _c, _a), pair in zip(invited, issued, strict=True):
            codes[target.pk] = (*pair, None)
    units = units_for(campagne, [t for t, _c, _a in booking])
    items = []
    for target, channel, address in plan:
        row, code, last_day = codes[target.pk]
        secrets = (code, display(code))
        if target.canal == CanalCampagne.WEBINAIRE:
            sms, subject, lines = webinars.invitation_texts(action, seances, code)
            body = "\n".join(["Bonjour,", "", *lines, "", SIGNATURE])
            texts, template = (sms, subject, body), TEMPLATES["webinar"]
        else:
            texts = invitation_texts(
                assure=target.assure, code=code, unit=units[target.pk], last_day=last_day
            )
            template = TEMPLATES["invitation"]
        items.append(_outgoing(target, channel, address, texts, template, secrets))
    messages = send_many(items=items)
    for (target, _channel, _address), message in zip(plan, messages, strict=True):
        if isinstance(message, ValidationError):  # checked above: cannot happen but never 500
            raise message
        target.code = codes[target.pk][0]
        target.message = message
        if target.canal == CanalCampagne.WEBINAIRE:
            result.webinaire += 1
        elif message.channel == Message.Channel.SMS:
            result.sms += 1
        else:
            result.email += 1
        result.differes += message.send_after is not None
    sent = [t for t, _c, _a in plan]
    Cible.objects.bulk_update(sent, ["code", "message"])
    audit_many(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (
                t.pk,
                t.assure_id,
                {
                    "envoye_le": [None, now],
                    "code": [None, t.code_id],
                    "message": [None, t.message_id],
                },
            )
            for t in sent
        ),
    )
    return result


def invitations_send(*, campagne_id, acting_user=None, now=None):
    """Send the waiting invitations of a running campaign, batch after batch (each batch its own
    transaction: a failure keeps what was sent). Returns a `Sent` (all zero when nothing was
    waiting, or the campaign is not running)."""
    now = now or timezone.now()
    total = Sent()
    campagne = (
        Campagne.objects.select_related("unit", "region", "webinaire__type", "webinaire__unit")
        .filter(pk=campagne_id, statut=Campagne.Statut.EN_COURS)
        .first()
    )
    if campagne is None:
        return total
    channels = _channels_open(campagne, now)
    while True:
        with transaction.atomic():
            batch = _send_batch(campagne, now, acting_user, channels)
            if batch is None:
                break
            if batch.total or batch.sans_contact:
                CampagneEvent.objects.create(
                    campagne=campagne,
                    actor=acting_user,
                    kind=CampagneEvent.Kind.SENT,
                    data=dataclasses.asdict(batch),
                )
        total.add(batch)
    return total


def pending_send(*, now=None):
    """The periodic run: every running campaign's waiting invitations (call-list fallbacks, a
    launch whose task was lost). Returns {campagne id: number sent}."""
    done = {}
    for pk in Campagne.objects.filter(statut=Campagne.Statut.EN_COURS).values_list("pk", flat=True):
        sent = invitations_send(campagne_id=pk, now=now)
        if sent.total:
            done[pk] = sent.total
    return done


# --- Reminders ---------------------------------------------------------------------------------


def reminders_due(campagne, now):
    """The targets of `campagne` due for their one reminder at `now`."""
    return open_targets().filter(
        campagne=campagne,
        canal__in=REMINDED_CHANNELS,
        envoye_le__lte=now - datetime.timedelta(days=campagne.relance_jours),
        relance_le__isnull=True,
        refus_le__isnull=True,
        message__isnull=False,
        code__revoked_at__isnull=True,
        code__expires_at__gte=now + REMINDER_MIN_VALIDITY,
        assure__pas_de_relance=False,
    )


def _remind_batch(campagne, now):
    targets = list(
        reminders_due(campagne, now)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("assure", "code", "message")
        .order_by("pk")[:SEND_BATCH]
    )
    plan = []
    for target in targets:
        if target.message.channel == Message.Channel.SMS:
            number = _sms_number(target.assure)
            plan.append((target, Message.Channel.SMS, number) if number else None)
        else:
            address = _email_of(target.assure)
            plan.append((target, Message.Channel.EMAIL, address) if address else None)
    skipped = [t for t, p in zip(targets, plan, strict=True) if p is None]
    plan = [p for p in plan if p is not None]
    # Those who cannot be reminded any more (« pas de SMS » since) are claimed too: never later.
    Cible.objects.filter(pk__in=[t.pk for t in targets], relance_le__isnull=True).update(
        relance_le=now
    )
    by_expiry = {}
    for entry in plan:
        by_expiry.setdefault(entry[0].code.expires_at, []).append(entry)
    units = units_for(campagne, [t for t, _c, _a in plan])
    items, sent = [], []
    for expires_at, group in by_expiry.items():
        issued = _issue(
            [t for t, _c, _a in group],
            purpose=AccessCode.Purpose.BOOKING,
            expires_at=expires_at,
            acting_user=None,
        )
        last_day = timezone.localdate(expires_at - datetime.timedelta(seconds=1))
        for (target, channel, address), (_row, code) in zip(group, issued, strict=True):
            texts = invitation_texts(
                assure=target.assure,
                code=code,
                unit=units[target.pk],
                last_day=last_day,
                reminder=True,
            )
            items.append(
                _outgoing(
                    target, channel, address, texts, TEMPLATES["reminder"], (code, display(code))
                )
            )
            sent.append(target)
    messages = send_many(items=items)
    for target, message in zip(sent, messages, strict=True):
        if isinstance(message, ValidationError):
            raise message
        target.relance_message = message
    Cible.objects.bulk_update(sent, ["relance_message"])
    audit_many(
        user=None,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (
                t.pk,
                t.assure_id,
                {"relance_le": [None, now], "relance_message": [None, t.relance_message_id]},
            )
            for t in sent
        ),
    )
    return len(targets), len(sent), len(skipped)


def reminders_send(*, now=None):
    """The reminders due in every running campaign (see the module's docstring). Returns
    {campagne id: reminders sent}."""
    now = now or timezone.now()
    done = {}
    for campagne in Campagne.objects.select_related("unit", "region").filter(
        statut=Campagne.Statut.EN_COURS
    ):
        sent = skipped = 0
        while True:
            with transaction.atomic():
                claimed, n, s = _remind_batch(campagne, now)
                if not claimed:
                    break
                sent, skipped = sent + n, skipped + s
        if sent or skipped:
            CampagneEvent.objects.create(
                campagne=campagne,
                actor=None,
                kind=CampagneEvent.Kind.REMINDERS,
                data={"relances": sent, "sans_relance": skipped},
            )
            done[campagne.pk] = sent
    return done


# --- Closing -----------------------------------------------------------------------------------


@transaction.atomic
def campagne_close(*, campagne, acting_user, now=None):
    """En cours → close: every open invitation expires (codes revoked, reservations dropped).
    ``acting_user`` None: the daily job."""
    if acting_user is not None:
        _require(can_manage(acting_user, campagne))
    now = now or timezone.now()
    campagne = Campagne.objects.select_for_update().get(pk=campagne.pk)
    if campagne.statut != Campagne.Statut.EN_COURS:
        raise ValidationError("Seule une campagne en cours se clôt.")
    expired = invitations_expire(
        reason=Expiration.CLOSED, acting_user=acting_user, campagne=campagne, now=now
    )
    campagne.statut = Campagne.Statut.CLOSE
    campagne.close_le = now
    campagne.save(update_fields=["statut", "close_le", "updated_at"])
    CampagneEvent.objects.create(
        campagne=campagne,
        actor=acting_user,
        kind=CampagneEvent.Kind.CLOSED,
        data={"invitations_expirees": expired, "automatique": acting_user is None},
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=campagne,
        changes={"statut": [Campagne.Statut.EN_COURS, campagne.statut]},
    )
    return campagne


def longest_validity(campagne):
    return max(
        campagne.validite_sms_jours, campagne.validite_email_jours, campagne.validite_courrier_jours
    )


def campaigns_close_due(*, now=None):
    """Close the running campaigns whose longest validity since the launch has passed and whose
    codes have all expired (a batch of letters prepared late keeps its campaign open). Returns
    the ids closed."""
    now = now or timezone.now()
    running = (
        Campagne.objects.filter(statut=Campagne.Statut.EN_COURS, lancee_le__isnull=False)
        .annotate(
            last_code=Max("cibles__code__expires_at", filter=Q(cibles__code__revoked_at=None))
        )
        .order_by("pk")
    )
    closed = []
    for campagne in running:
        if campagne.lancee_le + datetime.timedelta(days=longest_validity(campagne) + 1) > now:
            continue
        if campagne.last_code is not None and campagne.last_code > now:
            continue
        campagne_close(campagne=campagne, acting_user=None, now=now)
        closed.append(campagne.pk)
    return closed


# --- When a case opens -------------------------------------------------------------------------


def on_case_opened(sender, *, accompagnement, acting_user=None, **kwargs):
    """`cases.extensions.case_opened`: the person's open invitations expire (in the case's
    transaction)."""
    invitations_expire(
        reason=Expiration.CASE_OPENED,
        acting_user=acting_user,
        assure_ids=[accompagnement.assure_id],
    )


# --- The campaign page -------------------------------------------------------------------------


def detail_context(*, campagne, user, now=None):
    """What the campaign page shows of this part: a dict merged into its context (at most two
    queries)."""
    manage = can_manage(user, campagne)
    if campagne.statut == Campagne.Statut.VALIDEE:
        return {
            "envoi": {
                "can_launch": manage,
                "refusal": launch_refusal(campagne, now) if manage else None,
            }
        }
    if campagne.statut not in (Campagne.Statut.EN_COURS, Campagne.Statut.CLOSE):
        return {"envoi": None}
    sent = Q(envoye_le__isnull=False, message__isnull=False)
    figures = Cible.objects.filter(campagne=campagne, canal__in=SENT_CHANNELS).aggregate(
        sms=Count(
            "pk",
            filter=sent
            & Q(message__channel=Message.Channel.SMS)
            & ~Q(canal=CanalCampagne.WEBINAIRE),
        ),
        email=Count(
            "pk",
            filter=sent
            & Q(message__channel=Message.Channel.EMAIL)
            & ~Q(canal=CanalCampagne.WEBINAIRE),
        ),
        webinaire=Count("pk", filter=sent & Q(canal=CanalCampagne.WEBINAIRE)),
        differes=Count("pk", filter=sent & Q(message__status=Message.Status.DEFERRED)),
        relances=Count("pk", filter=Q(relance_message__isnull=False)),
        attente=Count(
            "pk",
            filter=Q(
                envoye_le__isnull=True,
                exclusion="",
                expire_le__isnull=True,
                rdv_pris_le__isnull=True,
                refus_le__isnull=True,
            ),
        ),
    )
    return {
        "envoi": {
            **figures,
            "can_close": manage and campagne.statut == Campagne.Statut.EN_COURS,
            "can_send": manage and campagne.statut == Campagne.Statut.EN_COURS,
            "relance_jours": campagne.relance_jours,
        }
    }
