"""Satisfaction surveys and the return-to-work follow-up (issue 11, items 4 and 5).

What is sent when (`surveys_send`, daily at 10:15, task ``outreach.tasks.send_surveys``):

- **the barometer** `SURVEY_DELAY_DAYS` (7) days after a closure, unless its outcome is
  décès, perdu de vue or refus;
- **the follow-up** 6 and 12 months after a closure, whatever its outcome but décès;
- **the end-of-action questionnaire** to the participants who attended (present at a session,
  or status « a participé ») when `collective.signals.action_finished` fires for a type with
  `questionnaire_fin` (`on_action_finished`, connected in `OutreachConfig.ready`);
- **one reminder** `SURVEY_REMINDER_DAYS` (7) days after an invitation not answered: it
  replaces the code with a new one of the same expiry (the clear code is never kept, so the
  first one cannot be sent again).

Only the last closure of a case still closed counts (a case reopened is not surveyed for the
closure it left), never a person one of whose cases closed on a death, and a closure older
than the due day by more than `CATCH_UP_DAYS` is left alone (a job down for a few days
catches up; the first run does not survey years of history).

How a run stays single: one query per kind selects the due closures without an invitation
(set-based), one ``bulk_create(ignore_conflicts=True)`` writes the rows over the unique
(kind, closure) — or (kind, participant) — so a retry or a second worker adds nothing; each
row is then claimed (``UPDATE … SET sent_at = now WHERE sent_at IS NULL``) in its own
transaction, and only the claimer issues the code (purpose « survey », valid
`SURVEY_LINK_DAYS`, bound to the invitation) and sends the message (SMS or e-mail as the
booking confirmation, `outreach.booking.reachable_by`). The texts say « Votre avis sur le
service social de l'Assurance Maladie », never anything about health or the action's theme.

Answers (`survey_answer`) are unlinkable: see `outreach.models.SurveyAnswer` and the README.
"""

import dataclasses
import datetime
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import CaseStatus, Cloture, Outcome
from collective.models import Participant, PresenceStatus
from outreach.booking import reachable_by
from outreach.models import (
    Questionnaire,
    SurveyAnswer,
    SurveyInvitation,
    SurveyKind,
    SurveySkipped,
)
from outreach.reminders import choose_channel
from pdp import access_codes
from pdp.messaging import send_email, send_sms
from pdp.models import AccessCode

logger = logging.getLogger(__name__)

INVITATION_LABEL = "outreach.surveyinvitation"
CATCH_UP_DAYS = 14
FOLLOW_UP_MONTHS = {SurveyKind.SUIVI_6M: 6, SurveyKind.SUIVI_12M: 12}
BAROMETER_EXCLUDED = {Outcome.DECES, Outcome.PERDU_DE_VUE, Outcome.REFUS}
FOLLOW_UP_EXCLUDED = {Outcome.DECES}
SMALL_CELL = 10  # a figure is shown only when at least this many people answered
SPENT = "Ce questionnaire a déjà été rempli ou n'est plus disponible."
SIGNATURE = "Le service social de l'Assurance Maladie"

# The closure's outcome as the follow-up reports it (`SurveyAnswer.categorie`).
CATEGORIES = [
    ("maintien", "Maintien dans l'emploi (même employeur)"),
    ("emploi", "Maintien en emploi (autre employeur, reconversion, formation)"),
    ("invalidite", "Invalidité"),
    ("inaptitude", "Inaptitude ou licenciement"),
    ("retraite", "Retraite"),
    ("sans_suite", "Refus, abandon ou perdu de vue"),
    ("autre", "Autre issue"),
]
OUTCOME_CATEGORY = {
    Outcome.MAINTIEN_MEME_POSTE: "maintien",
    Outcome.MAINTIEN_POSTE_AMENAGE: "maintien",
    Outcome.MAINTIEN_AUTRE_POSTE: "maintien",
    Outcome.MAINTIEN_TPT: "maintien",
    Outcome.EMPLOI_NOUVEL_EMPLOYEUR: "emploi",
    Outcome.EMPLOI_RECONVERSION: "emploi",
    Outcome.EMPLOI_FORMATION: "emploi",
    Outcome.INVALIDITE: "invalidite",
    Outcome.INAPTITUDE: "inaptitude",
    Outcome.RETRAITE: "retraite",
    Outcome.REFUS: "sans_suite",
    Outcome.PERDU_DE_VUE: "sans_suite",
    Outcome.AUTRE: "autre",
}


def months_before(day, months):
    """`day` minus `months` calendar months (the 31st becomes the month's last day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def month_start(moment):
    """The 1st of the month of `moment` (a date or an aware datetime, Paris time)."""
    if isinstance(moment, datetime.datetime):
        moment = timezone.localtime(moment).date()
    return moment.replace(day=1)


def active_questionnaire(kind):
    return Questionnaire.objects.filter(kind=kind, active=True).first()


# --- Invitations -----------------------------------------------------------------------------


def _due_closures(kind, today):
    """The closures due for `kind` on `today` that have no invitation of that kind yet: one
    query."""
    if kind == SurveyKind.BAROMETRE:
        last = today - datetime.timedelta(days=settings.SURVEY_DELAY_DAYS)
        excluded = BAROMETER_EXCLUDED
    else:
        last = months_before(today, FOLLOW_UP_MONTHS[kind])
        excluded = FOLLOW_UP_EXCLUDED
    later = Cloture.objects.filter(
        accompagnement=OuterRef("accompagnement_id"), pk__gt=OuterRef("pk")
    )
    died = Cloture.objects.filter(
        accompagnement__assure=OuterRef("accompagnement__assure_id"), outcome=Outcome.DECES
    )
    already = SurveyInvitation.objects.filter(cloture=OuterRef("pk"), kind=kind)
    return (
        Cloture.objects.filter(
            date_cloture__lte=last,
            date_cloture__gt=last - datetime.timedelta(days=CATCH_UP_DAYS),
            accompagnement__statut=CaseStatus.CLOTURE,
        )
        .exclude(outcome__in=excluded)
        .exclude(Exists(later))
        .exclude(Exists(died))
        .exclude(Exists(already))
        .select_related("accompagnement__assure", "accompagnement__unit")
    )


def _invitation(kind, *, assure, **fields):
    channel = choose_channel(assure)
    return SurveyInvitation(
        kind=kind,
        assure=assure,
        channel=channel,
        skipped_reason="" if channel else SurveySkipped.NO_CHANNEL,
        **fields,
    )


def invitations_create(*, today=None):
    """Write the invitations due on `today` (barometer, follow-ups). Returns how many rows
    were offered to the database (a concurrent run's rows are ignored there)."""
    today = today or timezone.localdate()
    rows = []
    for kind in (SurveyKind.BAROMETRE, *FOLLOW_UP_MONTHS):
        for cloture in _due_closures(kind, today):
            case = cloture.accompagnement
            rows.append(
                _invitation(
                    kind,
                    assure=case.assure,
                    cloture=cloture,
                    region_id=case.unit.region_id,
                    unit_id=case.unit_id,
                    categorie=OUTCOME_CATEGORY.get(cloture.outcome, "autre"),
                )
            )
    SurveyInvitation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def attended(action):
    """The participants of `action` who attended: present at a session, or « a participé »."""
    return (
        Participant.objects.filter(action_id=action.pk)
        .filter(Q(presences__statut=PresenceStatus.PRESENT) | Q(statut__code="present"))
        .distinct()
    )


def on_action_finished(sender, *, action, acting_user=None, **kwargs):
    """`collective.signals.action_finished` (inside the finishing transaction): invite the
    participants who attended to the end-of-action questionnaire; the messages go once it
    commits (task ``send_pending_surveys``)."""
    if not action.type.questionnaire_fin:
        return 0
    already = SurveyInvitation.objects.filter(
        participant=OuterRef("pk"), kind=SurveyKind.FIN_ACTION
    )
    participants = (
        attended(action)
        .exclude(Exists(already))
        .select_related("assure", "accompagnement")
        .order_by("pk")
    )
    rows = [
        _invitation(
            SurveyKind.FIN_ACTION,
            assure=participant.assure,
            participant=participant,
            region_id=action.region_id,
            unit_id=action.unit_id
            or (participant.accompagnement.unit_id if participant.accompagnement else None),
            action_type_id=action.type_id,
        )
        for participant in participants
    ]
    SurveyInvitation.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        from outreach.tasks import send_pending_surveys

        transaction.on_commit(send_pending_surveys.delay)
    return len(rows)


# --- Messages --------------------------------------------------------------------------------


def _what(invitation):
    """What the person is asked about, in words that say nothing about health."""
    if invitation.kind == SurveyKind.FIN_ACTION:
        code = invitation.action_type.code if invitation.action_type_id else ""
        return "webinaire" if code.startswith("webinaire") else "atelier"
    return ""


def survey_text(invitation, url, *, reminder=False, expires_at=None):
    """(subject, SMS text, e-mail body) of an invitation or its reminder."""
    if invitation.kind == SurveyKind.FIN_ACTION:
        subject = f"Votre avis sur l'{_what(invitation)} du service social de l'Assurance Maladie"
        if _what(invitation) == "webinaire":
            subject = "Votre avis sur le webinaire du service social de l'Assurance Maladie"
    elif invitation.kind == SurveyKind.BAROMETRE:
        subject = "Votre avis sur le service social de l'Assurance Maladie"
    else:
        months = FOLLOW_UP_MONTHS[invitation.kind]
        subject = f"Service social de l'Assurance Maladie : où en êtes-vous {months} mois après ?"
    lead = "Rappel. " if reminder else ""
    stop = "" if subject.endswith("?") else "."
    sms = f"{lead}{subject}{stop} Questionnaire anonyme, 2 minutes : {url}"
    lines = [
        "Bonjour,",
        "",
        (
            "Vous n'avez pas encore répondu : votre avis compte pour nous."
            if reminder
            else "Votre avis nous aide à améliorer le service rendu."
        ),
        "Le questionnaire prend deux minutes. Vos réponses sont anonymes : elles ne sont pas"
        " reliées à votre nom ni à votre dossier.",
        "",
        f"Pour répondre : {url}",
    ]
    if expires_at:
        local = timezone.localdate(expires_at)
        day = "1er" if local.day == 1 else str(local.day)
        lines.append(f"Ce lien est valable jusqu'au {day} {date_format(local, 'F Y')}.")
    if reminder:
        lines.append("Ce lien remplace celui du premier message.")
    body = "\n".join([*lines, "", SIGNATURE])
    return subject, sms, body


def _send(invitation, *, channel, code, expires_at, reminder):
    subject, sms, body = survey_text(
        invitation, access_codes.code_url(code), reminder=reminder, expires_at=expires_at
    )
    common = {
        "template": "outreach/enquete_relance" if reminder else "outreach/enquete",
        "assure_id": invitation.assure_id,
        "obj": invitation,
        "secrets": [code],
    }
    if channel == "sms":
        return send_sms(to=invitation.assure.telephone, body=sms, **common)
    return send_email(to=invitation.assure.email, subject=subject, body=body, **common)


def _skip(invitation):
    SurveyInvitation.objects.filter(pk=invitation.pk, sent_at__isnull=True).update(
        skipped_reason=SurveySkipped.NO_CHANNEL, channel=""
    )


def _send_one(invitation, now):
    """Claim `invitation` and send it. True if this call sent it."""
    channel = reachable_by(invitation.assure, now)
    if channel is None:
        _skip(invitation)
        return False
    try:
        with transaction.atomic():
            claimed = SurveyInvitation.objects.filter(
                pk=invitation.pk, sent_at__isnull=True, skipped_reason=""
            ).update(sent_at=now, channel=channel)
            if claimed != 1:
                return False
            expires_at = now + datetime.timedelta(days=settings.SURVEY_LINK_DAYS)
            row, code = access_codes.access_code_issue(
                purpose=AccessCode.Purpose.SURVEY,
                assure_id=invitation.assure_id,
                expires_at=expires_at,
                object_type=INVITATION_LABEL,
                object_id=invitation.pk,
            )
            _send(invitation, channel=channel, code=code, expires_at=expires_at, reminder=False)
            SurveyInvitation.objects.filter(pk=invitation.pk).update(access_code=row)
    except ValidationError:  # the number or the address cannot receive a message
        _skip(invitation)
        return False
    return True


def _remind_one(invitation, now):
    """Claim the reminder of `invitation` and send it with a new code (same expiry, the old
    code revoked). True if this call sent it."""
    channel = reachable_by(invitation.assure, now)
    if channel is None:
        return False
    try:
        with transaction.atomic():
            claimed = SurveyInvitation.objects.filter(
                pk=invitation.pk, reminder_sent_at__isnull=True
            ).update(reminder_sent_at=now)
            if claimed != 1:
                return False
            # Locked: an answer at the same moment waits for this reminder, or this reminder
            # sees the code used (and the claim rolls back).
            old = (
                AccessCode.objects.select_for_update()
                .filter(
                    pk=invitation.access_code_id,
                    used_at__isnull=True,
                    revoked_at__isnull=True,
                    expires_at__gt=now,
                )
                .first()
            )
            if old is None:
                transaction.set_rollback(True)
                return False
            access_codes.access_code_revoke(row=old, acting_user=None)
            row, code = access_codes.access_code_issue(
                purpose=AccessCode.Purpose.SURVEY,
                assure_id=invitation.assure_id,
                expires_at=old.expires_at,
                object_type=INVITATION_LABEL,
                object_id=invitation.pk,
            )
            _send(invitation, channel=channel, code=code, expires_at=old.expires_at, reminder=True)
            SurveyInvitation.objects.filter(pk=invitation.pk).update(access_code=row)
    except ValidationError:
        return False
    return True


def _with_questionnaire(invitations):
    kinds = set(Questionnaire.objects.filter(active=True).values_list("kind", flat=True))
    return invitations.filter(kind__in=kinds)


def surveys_send_pending(*, now=None):
    """Send every invitation not sent yet (of a kind with an active questionnaire)."""
    now = now or timezone.now()
    pending = _with_questionnaire(
        SurveyInvitation.objects.filter(sent_at__isnull=True, skipped_reason="")
    ).select_related("assure", "action_type")
    return sum(_send_one(invitation, now) for invitation in pending.order_by("pk"))


def surveys_remind(*, now=None):
    """The one reminder of the invitations sent SURVEY_REMINDER_DAYS ago or more, whose code
    is neither used nor revoked and does not expire within a day."""
    now = now or timezone.now()
    due = SurveyInvitation.objects.filter(
        sent_at__lte=now - datetime.timedelta(days=settings.SURVEY_REMINDER_DAYS),
        reminder_sent_at__isnull=True,
        skipped_reason="",
        access_code__used_at__isnull=True,
        access_code__revoked_at__isnull=True,
        access_code__expires_at__gt=now + datetime.timedelta(days=1),
    ).select_related("assure", "action_type")
    return sum(_remind_one(invitation, now) for invitation in due.order_by("pk"))


def surveys_send(*, now=None):
    """The daily run: write the invitations due, send the pending ones, then the reminders.
    Safe to run twice or in two workers at once. Returns the counts."""
    now = now or timezone.now()
    result = {
        "created": invitations_create(today=timezone.localdate(now)),
        "sent": surveys_send_pending(now=now),
        "reminded": surveys_remind(now=now),
    }
    logger.info(
        "surveys_send: %(created)d invitations written, %(sent)d sent, %(reminded)d reminded",
        result,
    )
    return result


# --- Answers ---------------------------------------------------------------------------------


def invitation_for(code_row):
    """The invitation a survey code opens, or None."""
    if code_row is None or code_row.purpose != AccessCode.Purpose.SURVEY:
        return None
    if code_row.object_type != INVITATION_LABEL or not code_row.object_id.isdigit():
        return None
    return (
        SurveyInvitation.objects.select_related("action_type")
        .filter(pk=int(code_row.object_id), sent_at__isnull=False)
        .first()
    )


@transaction.atomic
def survey_answer(*, code_row, questionnaire, answers):
    """Record `answers` (cleaned by `forms_public.SurveyForm`) to `questionnaire`, opened
    by `code_row`, and spend the code — in one transaction: one answer per code. The answer
    keeps nothing that leads back to the person (`SurveyAnswer`), and no audit row is
    written for it. Raises ValidationError(SPENT) when the code was spent meanwhile."""
    invitation = invitation_for(code_row)
    if invitation is None or invitation.kind != questionnaire.kind:
        raise ValidationError(SPENT)
    if not access_codes.access_code_use(row=code_row):
        raise ValidationError(SPENT)
    kept = {key: value for key, value in answers.items() if value not in ("", None)}
    return SurveyAnswer.objects.create(
        questionnaire=questionnaire,
        region_id=invitation.region_id,
        unit_id=invitation.unit_id,
        month=month_start(invitation.sent_at),
        action_type_id=invitation.action_type_id,
        categorie=invitation.categorie if invitation.kind in FOLLOW_UP_MONTHS else "",
        answers=kept,
    )


# --- Results ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Rate:
    label: str
    favourable: int
    answered: int

    @property
    def shown(self):
        return self.answered >= SMALL_CELL

    @property
    def percent(self):
        return 100 * self.favourable / self.answered if self.answered else None


@dataclasses.dataclass
class Cell:
    """The figures of one group (a unit, an action type, an outcome category)."""

    key: object
    label: str
    answers: int = 0
    invited: int = 0
    rates: list = dataclasses.field(default_factory=list)
    suppressed: bool = False  # a total that would give away a hidden cell by difference

    @property
    def shown(self):
        return self.answers >= SMALL_CELL and not self.suppressed

    @property
    def response_rate(self):
        if not self.invited:
            return None
        return 100 * self.answers / self.invited


def rated_questions(questionnaire):
    """The questions of `questionnaire` that have favourable answers: the rates reported."""
    if questionnaire is None:
        return []
    return [q for q in questionnaire.questions if q.get("positive")]


def _aggregates(questions):
    aggregates = {"n": Count("pk")}
    for i, question in enumerate(questions):
        key = question["key"]
        aggregates[f"q{i}_answered"] = Count("pk", filter=Q(answers__has_key=key))
        aggregates[f"q{i}_favourable"] = Count(
            "pk", filter=Q(**{f"answers__{key}__in": question["positive"]})
        )
    return aggregates


def tally(*, kind, region_id, month_from, month_to, unit_id=None, by=None, labels=()):
    """Cells of `kind`'s answers in `region_id` (and `unit_id`), months `month_from` to
    `month_to` (1sts of months, both included), grouped `by` a field of the answer ("unit",
    "action_type", "categorie") or not (one cell). `labels`: [(key, label)] of the groups to
    show, in order (others are added after). Three queries whatever the data: the active
    questionnaire, the answers, the invitations sent in the period (counts only)."""
    questionnaire = active_questionnaire(kind)
    questions = rated_questions(questionnaire)
    answers = SurveyAnswer.objects.filter(
        questionnaire__kind=kind, region_id=region_id, month__gte=month_from, month__lte=month_to
    )
    start = timezone.make_aware(datetime.datetime.combine(month_from, datetime.time.min))
    after = months_before(month_to, -1)
    end = timezone.make_aware(datetime.datetime.combine(after, datetime.time.min))
    invitations = SurveyInvitation.objects.filter(
        kind=kind, region_id=region_id, sent_at__gte=start, sent_at__lt=end
    )
    if unit_id is not None:
        answers = answers.filter(unit_id=unit_id)
        invitations = invitations.filter(unit_id=unit_id)
    field = f"{by}_id" if by in ("unit", "action_type") else by
    if field:
        answer_rows = {
            row[field]: row for row in answers.values(field).annotate(**_aggregates(questions))
        }
        invited = dict(invitations.values(field).annotate(n=Count("pk")).values_list(field, "n"))
    else:
        answer_rows = {None: answers.aggregate(**_aggregates(questions))}
        invited = {None: invitations.count()}
    order = list(labels) or [(None, "")]
    known = {key for key, _label in order}
    order += [(key, "Autre") for key in sorted(set(answer_rows) - known, key=str)]
    cells = []
    for key, label in order:
        row = answer_rows.get(key) or {}
        cells.append(
            Cell(
                key=key,
                label=label,
                answers=row.get("n", 0),
                invited=invited.get(key, 0),
                rates=[
                    Rate(
                        label=question.get("short") or question["label"],
                        favourable=row.get(f"q{i}_favourable", 0),
                        answered=row.get(f"q{i}_answered", 0),
                    )
                    for i, question in enumerate(questions)
                ],
            )
        )
    return questionnaire, cells


def total(cells, label="Ensemble"):
    """One cell summing `cells` (counts add up). Hidden too when the hidden cells hold
    between 1 and 9 answers together: the total minus the cells shown would give them."""
    first = cells[0] if cells else Cell(key=None, label=label)
    hidden = sum(c.answers for c in cells if not c.shown)
    return Cell(
        key=None,
        label=label,
        suppressed=0 < hidden < SMALL_CELL,
        answers=sum(c.answers for c in cells),
        invited=sum(c.invited for c in cells),
        rates=[
            Rate(
                label=rate.label,
                favourable=sum(c.rates[i].favourable for c in cells),
                answered=sum(c.rates[i].answered for c in cells),
            )
            for i, rate in enumerate(first.rates)
        ],
    )
