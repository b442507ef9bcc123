"""Participants of a collective action: registration against capacity, the waitlist and its
promotion, confirmation, cancellation, expiry (issue 11, item 2).

Capacity is held by the database: a seat is taken with one conditional update —
``UPDATE … SET places_prises = places_prises + 1 WHERE id = … AND (capacite IS NULL OR
places_prises < capacite)`` — and a check constraint refuses ``places_prises > capacite``
whatever the path. Two registrations racing for the last seat: the update of the second waits
for the first's row lock, then finds no seat left and puts that person on the waitlist (or
refuses when the action has none). A seat freed (cancellation, expiry) goes to the first
waitlisted person (by registration time) as « à confirmer » until ``confirmer_avant``
(``delai_confirmation_heures``); not confirmed by then, `participants_expire` (periodic)
marks them « expiré » and offers the seat to the next one.

Every change: an `ActionEvent` (without the person's name: the action's history is read by
its animateurs), an audit row naming the person, and an event on the person's open
accompagnement's timeline.
"""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import Accompagnement, CaseEvent, CaseStatus
from cases.services import case_event_add
from collective.models import (
    ActionCollective,
    ActionEvent,
    ActionStatus,
    Participant,
    ParticipantSource,
    ParticipantStatus,
    StatusClass,
)
from collective.permissions import can_run_action, can_see_participants
from collective.signals import participant_promoted
from pdp.audit import audit
from pdp.models import AuditLog

INSCRIT = "inscrit"
A_CONFIRMER = "a_confirmer"
LISTE_ATTENTE = "liste_attente"
PRESENT = "present"
ANNULE = "annule"
EXPIRE = "expire"

CLOSED = {ActionStatus.TERMINEE, ActionStatus.ANNULEE}
FULL = "L'action est complète et n'a pas de liste d'attente."


def french_day(moment):
    """« mardi 15 décembre 2026 », « mardi 1er décembre 2026 » (Paris time)."""
    local = timezone.localtime(moment)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{date_format(local, 'l')} {day} {date_format(local, 'F Y')}"


def french_time(moment):
    """« 14 h 30 », « 9 h » (Paris time, non-breaking spaces)."""
    local = timezone.localtime(moment)
    return f"{local.hour}\u00a0h" + (f"\u00a0{local.minute:02d}" if local.minute else "")


def status(code):
    return ParticipantStatus.objects.get(code=code)


def _take_seat(action_id):
    """Take one seat if one is free: True when taken (one conditional UPDATE)."""
    return (
        ActionCollective.objects.filter(pk=action_id)
        .filter(Q(capacite__isnull=True) | Q(places_prises__lt=F("capacite")))
        .update(places_prises=F("places_prises") + 1)
        == 1
    )


def _free_seats(action_id, count=1):
    if count:
        ActionCollective.objects.filter(pk=action_id).update(
            places_prises=F("places_prises") - count
        )


def _case_of(participant):
    if participant.accompagnement_id:
        return participant.accompagnement
    return Accompagnement.objects.open().filter(assure_id=participant.assure_id).first()


def record(participant, *, acting_user, summary, changes=None):
    """The three traces of a change of `participant`: action history, audit, case timeline."""
    action = participant.action
    ActionEvent.objects.create(
        action=action,
        actor=acting_user,
        kind="participant",
        summary=summary,
        changes={"participant": participant.pk, **(changes or {})},
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=participant,
        assure_id=participant.assure_id,
        changes={"statut": participant.statut.code, **(changes or {})},
    )
    case = _case_of(participant)
    if case is not None:
        case_event_add(
            accompagnement=case,
            acting_user=acting_user,
            kind=CaseEvent.Kind.COLLECTIVE,
            summary=f"{action.type} «\u00a0{action.titre}\u00a0»\u00a0: "
            f"{summary[:1].lower()}{summary[1:]}",
            changes={"action_collective": action.pk, "participant": participant.pk},
        )


@transaction.atomic
def participant_register(
    *, action, assure, source, acting_user=None, accompagnement=None, accord=False
):
    """Register `assure` in `action`: a seat if one is free, else the waitlist (or a French
    ValidationError when full without waitlist). Added by an ASS (`source` « ass »), the
    person's agreement must be recorded (`accord`) and `accompagnement` is their open case.
    Registering someone already in (not cancelled) changes nothing and returns their row."""
    action = ActionCollective.objects.select_related("type").get(pk=action.pk)
    if action.statut in CLOSED:
        raise ValidationError("Cette action est terminée ou annulée\u00a0: plus d'inscription.")
    if source == ParticipantSource.ASS:
        if not accord:
            raise ValidationError(
                {"accord": "Recueillez l'accord de la personne avant de l'inscrire."}
            )
        if accompagnement is None or accompagnement.assure_id != assure.pk:
            raise ValueError("an ASS adds a person from their accompagnement")
    existing = (
        Participant.objects.select_for_update()
        .select_related("statut")
        .filter(action=action, assure=assure)
        .first()
    )
    if existing is not None and existing.statut.classe != StatusClass.NEGATIVE:
        return existing
    if _take_seat(action.pk):
        code = INSCRIT
    elif action.liste_attente:
        code = LISTE_ATTENTE
    else:
        raise ValidationError(FULL)
    now = timezone.now()
    fields = {
        "statut": status(code),
        "source": source,
        "accompagnement": accompagnement,
        "accord_le": now if accord else None,
        "accord_par": acting_user if accord and acting_user is not None else None,
        "confirmer_avant": None,
        "created_by": acting_user
        if acting_user is not None and acting_user.is_authenticated
        else None,
    }
    if existing is not None:  # cancelled or expired before: registered again
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.inscrit_le = now
        existing.save()
        participant = existing
    else:
        try:
            with transaction.atomic():
                participant = Participant.objects.create(action=action, assure=assure, **fields)
        except IntegrityError:  # the same person registered at the same moment elsewhere
            _free_seats(action.pk, 1 if code == INSCRIT else 0)
            return Participant.objects.get(action=action, assure=assure)
    participant.action = action
    record(
        participant,
        acting_user=acting_user,
        summary="Inscription" if code == INSCRIT else "Inscription sur liste d'attente",
        changes={"source": source},
    )
    return participant


def waitlist_position(participant):
    """1 for the first waitlisted person of the action (by registration time)."""
    return (
        Participant.objects.filter(action_id=participant.action_id, statut__code=LISTE_ATTENTE)
        .filter(
            Q(inscrit_le__lt=participant.inscrit_le)
            | Q(inscrit_le=participant.inscrit_le, pk__lt=participant.pk)
        )
        .count()
        + 1
    )


@transaction.atomic
def participant_add_from_case(*, action, accompagnement, accord, acting_user):
    """Who runs `action` adds the person of one of the unit's open accompagnements, with the
    person's agreement recorded (`accord`: the box « La personne a donné son accord pour
    participer » ticked; stored as `accord_le`, `accord_par`). A seat if one is free, else the
    waitlist (`participant_register` decides). Refused in French: no agreement, a closed case,
    a case of another unit, someone already in the action."""
    if not can_run_action(acting_user, action):
        raise PermissionDenied("Seuls les animateurs de l'action ajoutent des participants.")
    if not accord:
        raise ValidationError(
            {
                "accord": "Cochez «\u00a0La personne a donné son accord pour participer\u00a0»"
                "\u00a0: "
                "sans son accord, elle ne peut pas être inscrite."
            }
        )
    if accompagnement.statut == CaseStatus.CLOTURE:
        raise ValidationError(
            "Cet accompagnement est clôturé\u00a0: la personne ne peut pas être ajoutée."
        )
    unit_id = action.unit_id or acting_user.unit_id
    if accompagnement.unit_id != unit_id:
        raise ValidationError("Cet accompagnement n'est pas suivi par l'unité de l'action.")
    already = (
        Participant.objects.filter(action_id=action.pk, assure_id=accompagnement.assure_id)
        .exclude(statut__classe=StatusClass.NEGATIVE)
        .select_related("statut")
        .first()
    )
    if already is not None:
        raise ValidationError(
            f"{accompagnement.assure} participe déjà à cette action "
            f"({already.statut.label.lower()})."
        )
    return participant_register(
        action=action,
        assure=accompagnement.assure,
        source=ParticipantSource.ASS,
        acting_user=acting_user,
        accompagnement=accompagnement,
        accord=True,
    )


def promote_next(action, now=None):
    """Offer the free seats of `action` to the first waitlisted people (« à confirmer » until
    now + delai_confirmation_heures). Inside the caller's transaction. Returns who."""
    now = now or timezone.now()
    promoted = []
    while True:
        candidate = (
            Participant.objects.select_for_update(skip_locked=True)
            .filter(action_id=action.pk, statut__code=LISTE_ATTENTE)
            .order_by("inscrit_le", "pk")
            .first()
        )
        if candidate is None or not _take_seat(action.pk):
            break
        candidate.statut = status(A_CONFIRMER)
        candidate.confirmer_avant = now + datetime.timedelta(hours=action.delai_confirmation_heures)
        candidate.save(update_fields=["statut", "confirmer_avant"])
        candidate.action = action
        record(
            candidate,
            acting_user=None,
            summary="Place libérée proposée (à confirmer avant le "
            f"{timezone.localtime(candidate.confirmer_avant):%d/%m/%Y à %H:%M})",
        )
        participant_promoted.send(sender=Participant, participant=candidate)
        promoted.append(candidate)
    return promoted


@transaction.atomic
def participant_cancel(*, participant, acting_user=None, reason=""):
    """Cancel a registration: its seat (if it held one) goes to the waitlist."""
    participant = (
        Participant.objects.select_for_update()
        .select_related("statut", "action__type")
        .get(pk=participant.pk)
    )
    if participant.statut.classe == StatusClass.NEGATIVE:
        return participant
    if participant.action.statut in CLOSED:
        raise ValidationError(
            "L'action est terminée ou annulée\u00a0: sa liste de participants est close."
        )
    held = participant.statut.compte
    participant.statut = status(ANNULE)
    participant.confirmer_avant = None
    participant.save(update_fields=["statut", "confirmer_avant"])
    if held:
        _free_seats(participant.action_id)
    record(
        participant,
        acting_user=acting_user,
        summary="Inscription annulée"
        + (f"\u00a0: {reason.strip()[:200]}" if reason.strip() else ""),
    )
    if held and participant.action.statut not in CLOSED:
        promote_next(participant.action)
    return participant


@transaction.atomic
def participant_confirm(*, participant, acting_user=None, now=None):
    """« À confirmer » → « inscrit », before the deadline."""
    now = now or timezone.now()
    participant = (
        Participant.objects.select_for_update()
        .select_related("statut", "action")
        .get(pk=participant.pk)
    )
    if participant.statut.code == INSCRIT:
        return participant
    if participant.statut.code != A_CONFIRMER or (
        participant.confirmer_avant is not None and participant.confirmer_avant < now
    ):
        raise ValidationError(
            "Cette place n'est plus réservée\u00a0: le délai pour confirmer est passé."
        )
    participant.statut = status(INSCRIT)
    participant.confirmer_avant = None
    participant.save(update_fields=["statut", "confirmer_avant"])
    record(participant, acting_user=acting_user, summary="Place confirmée")
    return participant


def participants_expire(now=None):
    """The periodic job: « à confirmer » past `confirmer_avant` → « expiré », their seats to
    the next on the waitlist. Safe with two workers (rows locked, skip_locked). Returns how
    many expired."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        rows = list(
            Participant.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(statut__code=A_CONFIRMER, confirmer_avant__lt=now)
            .select_related("action")
        )
        if not rows:
            return 0
        expired_status = status(EXPIRE)
        by_action = {}
        for participant in rows:
            participant.statut = expired_status
            participant.confirmer_avant = None
            by_action.setdefault(participant.action_id, []).append(participant)
        Participant.objects.bulk_update(rows, ["statut", "confirmer_avant"])
        for action_id, participants in by_action.items():
            _free_seats(action_id, len(participants))
            for participant in participants:
                record(participant, acting_user=None, summary="Place non confirmée à temps")
            expired += len(participants)
            action = participants[0].action
            if action.statut not in CLOSED:
                promote_next(action, now=now)
    return expired


SECTION_GROUPS = [
    # (title, status class) in the order of the page
    ("Inscrit·es", StatusClass.POSITIVE),
    ("Places proposées, à confirmer", StatusClass.PENDING),
    ("Liste d'attente", StatusClass.WAITING),
    ("Inscriptions annulées ou expirées", StatusClass.NEGATIVE),
]


def section_context(user, action):
    """What the action page shows of its participants: the counts, the participants by
    status class with their case, and what `user` may do. Two queries whatever the number of
    participants (participants with their person, status and case; the open cases of those
    registered by code). Empty (`visible` False) for who may not see the participants."""
    if not can_see_participants(user, action):
        return {"visible": False}
    open_cases = Accompagnement.objects.open().select_related("referent")
    rows = list(
        Participant.objects.filter(action_id=action.pk)
        .select_related("assure", "statut", "accompagnement__referent")
        .prefetch_related(
            Prefetch("assure__accompagnements", queryset=open_cases, to_attr="open_cases")
        )
        .order_by("inscrit_le", "pk")
    )
    groups = {classe: [] for _title, classe in SECTION_GROUPS}
    for row in rows:
        row.case = row.accompagnement or next(iter(row.assure.open_cases), None)
        row.confirmer_label = (
            f"{french_day(row.confirmer_avant)} à {french_time(row.confirmer_avant)}"
            if row.confirmer_avant
            else ""
        )
        groups[row.statut.classe].append(row)
    waiting = groups[StatusClass.WAITING]
    for position, row in enumerate(waiting, start=1):
        row.position = position
    runs = can_run_action(user, action)
    # The seats held, from the rows (equal to `places_prises`, which the services keep).
    taken = sum(1 for row in rows if row.statut.compte)
    return {
        "visible": True,
        "action": action,
        "capacite": action.capacite,
        "places_prises": taken,
        "places_libres": None if action.capacite is None else max(action.capacite - taken, 0),
        "attente": len(waiting),
        "total": len(rows),
        "groups": [(title, classe, groups[classe]) for title, classe in SECTION_GROUPS],
        "can_run": runs,
        "can_change": runs and action.statut not in CLOSED,  # cancel, confirm
        "can_add": runs and action.statut not in CLOSED,
        "can_record_attendance": runs and action.statut != ActionStatus.ANNULEE,
    }
