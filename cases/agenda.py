"""Entretiens (meetings): scheduling, rescheduling, recording; the workers' agenda and ICS feed.

Rules (domain §3, "Entretien / rendez-vous"):
- a meeting is planned for an ASS of the case's unit, in the future, in an open case, and may
  not overlap another planned meeting of that ASS, nor a first meeting a conseiller proposed
  to her on an open referral (`referrals.services.signalement_hand_over`);
- only a planned meeting can be moved; a meeting is recorded as réalisé or absent once its
  time has come, or cancelled (annulé) before or after;
- a cancelled meeting is final and takes no note; réalisé and absent may be corrected into
  each other (with a note) by the person who records them.
Every change writes a CaseEvent (kind ENTRETIEN) through `case_event_add`.
"""

import contextlib
import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import CaseEvent, CaseStatus, Entretien
from cases.services import case_event_add, case_lock
from pdp.audit import audit
from pdp.dates import require_plausible_date
from pdp.meeting_slot import MEETING_LENGTH_MESSAGE, MEETING_MAX_MINUTES, meeting_length_ok
from pdp.models import AuditLog, Role, User
from referrals.services import proposed_meeting_conflict

NOTE_MAX_LENGTH = 2000
ICS_PAST_DAYS = 30
ICS_FUTURE_DAYS = 180

Statut = Entretien.Statut


def _local(dt):
    return timezone.localtime(dt)


def _label(entretien):
    return f"{_local(entretien.debut):%d/%m/%Y à %H:%M}"


def _check_ass(accompagnement, ass):
    if ass.unit_id != accompagnement.unit_id or not ass.is_active:
        raise ValidationError({"ass": "Choisissez un·e ASS de l'unité de l'accompagnement."})
    if ass.role not in (Role.ASS, Role.MANAGER):
        raise ValidationError({"ass": "Les entretiens sont tenus par un·e ASS."})


def planned_meeting_conflict(ass, debut, fin, exclude_pk=None):
    """The planned entretien of `ass` that overlaps [debut, fin), or None."""
    # Candidates: planned meetings of this ASS starting within the longest possible duration.
    window_start = debut - datetime.timedelta(minutes=MEETING_MAX_MINUTES)
    candidates = Entretien.objects.filter(
        ass=ass, statut=Statut.PLANIFIE, debut__gt=window_start, debut__lt=fin
    ).exclude(pk=exclude_pk)
    for other in candidates:
        other_fin = other.debut + datetime.timedelta(minutes=other.duree_minutes)
        if other.debut < fin and other_fin > debut:
            return other
    return None


def entretien_conflict_label(ass, debut, fin):
    """For the referral engine (`referrals.hooks.meeting_conflict`): the overlapping planned
    entretien of `ass`, described without the person."""
    other = planned_meeting_conflict(ass, debut, fin)
    return f"un entretien le {_label(other)}" if other is not None else None


def _check_slot(*, ass, debut, duree_minutes, exclude_pk=None):
    if debut <= timezone.now():
        raise ValidationError({"debut": "Un entretien planifié doit être dans le futur."})
    require_plausible_date(debut, field="debut", label="La date de l'entretien")
    if not meeting_length_ok(duree_minutes):
        raise ValidationError({"duree_minutes": MEETING_LENGTH_MESSAGE})
    fin = debut + datetime.timedelta(minutes=duree_minutes)
    other = planned_meeting_conflict(ass, debut, fin, exclude_pk)
    if other is not None:
        raise ValidationError(
            {"debut": f"{ass} a déjà un entretien le {_label(other)} sur ce créneau."}
        )
    proposed = proposed_meeting_conflict(ass, debut, fin)
    if proposed is not None:
        raise ValidationError(
            {
                "debut": (
                    f"{ass} a déjà un premier rendez-vous proposé le "
                    f"{_local(proposed.rdv_debut):%d/%m/%Y à %H:%M} sur ce créneau."
                )
            }
        )


@contextlib.contextmanager
def _slot_guard(ass):
    """The database refuses overlapping planned meetings of one ASS (exclusion constraint
    `entretien_no_overlap_per_ass`, PostgreSQL): a booking that raced past `_check_slot` gets the
    same clear refusal, not an error page."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if "entretien_no_overlap_per_ass" not in str(exc):
            raise
        raise ValidationError(
            {"debut": f"{ass} vient de recevoir un autre entretien sur ce créneau."}
        ) from exc


def _check_case_open(accompagnement, *, lock=False):
    """With ``lock``, lock the case row first: a closure running at the same time waits for
    the new meeting (and cancels it), or the new meeting waits and sees the closure."""
    statut = case_lock(accompagnement) if lock else accompagnement.statut
    if CaseStatus.CLOTURE in (statut, accompagnement.statut):
        raise ValidationError(
            "L'accompagnement est clôturé : aucun entretien ne peut y être ajouté."
        )


@transaction.atomic
def entretien_schedule(*, accompagnement, acting_user, debut, mode, duree_minutes=60, ass=None):
    """Plan a meeting for `ass` (default: the case's référent)."""
    ass = ass or accompagnement.referent
    _check_case_open(accompagnement, lock=True)
    if mode not in Entretien.Mode.values:
        raise ValidationError({"mode": "Modalité inconnue."})
    _check_ass(accompagnement, ass)
    _check_slot(ass=ass, debut=debut, duree_minutes=duree_minutes)
    with _slot_guard(ass):
        entretien = Entretien.objects.create(
            accompagnement=accompagnement,
            debut=debut,
            duree_minutes=duree_minutes,
            ass=ass,
            mode=mode,
            statut=Statut.PLANIFIE,
        )
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.ENTRETIEN,
        summary=(
            f"Entretien planifié le {_label(entretien)} "
            f"({entretien.get_mode_display().lower()}) avec {ass}"
        ),
        changes={"entretien": entretien.pk},
    )
    return entretien


@transaction.atomic
def entretien_update(*, entretien, acting_user, debut, mode, duree_minutes, ass=None):
    """Move a planned meeting (date, time, length, mode or ASS)."""
    entretien = Entretien.objects.select_for_update().get(pk=entretien.pk)
    accompagnement = entretien.accompagnement
    if entretien.statut != Statut.PLANIFIE:
        raise ValidationError("Seul un entretien planifié peut être déplacé.")
    _check_case_open(accompagnement)
    if mode not in Entretien.Mode.values:
        raise ValidationError({"mode": "Modalité inconnue."})
    ass = ass or entretien.ass
    _check_ass(accompagnement, ass)
    _check_slot(ass=ass, debut=debut, duree_minutes=duree_minutes, exclude_pk=entretien.pk)
    old = {
        "debut": _label(entretien),
        "duree_minutes": entretien.duree_minutes,
        "mode": entretien.get_mode_display(),
        "ass": str(entretien.ass),
    }
    entretien.debut = debut
    entretien.duree_minutes = duree_minutes
    entretien.mode = mode
    entretien.ass = ass
    new = {
        "debut": _label(entretien),
        "duree_minutes": entretien.duree_minutes,
        "mode": entretien.get_mode_display(),
        "ass": str(ass),
    }
    changes = {k: [old[k], new[k]] for k in old if old[k] != new[k]}
    if not changes:
        return entretien
    with _slot_guard(ass):
        entretien.save(update_fields=["debut", "duree_minutes", "mode", "ass"])
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.ENTRETIEN,
        summary=f"Entretien déplacé : {old['debut']} → {new['debut']}",
        changes={"entretien": entretien.pk, **changes},
    )
    return entretien


RECORDABLE = {
    Statut.PLANIFIE: {Statut.REALISE, Statut.ABSENT, Statut.ANNULE},
    Statut.REALISE: {Statut.REALISE, Statut.ABSENT},
    Statut.ABSENT: {Statut.ABSENT, Statut.REALISE},
    Statut.ANNULE: set(),
}


@transaction.atomic
def entretien_record(*, entretien, acting_user, statut, note=""):
    """Record how a meeting went: réalisé (with a short note), absent, or annulé."""
    entretien = Entretien.objects.select_for_update().get(pk=entretien.pk)
    note = (note or "").strip()
    if statut not in RECORDABLE[entretien.statut]:
        if entretien.statut == Statut.ANNULE:
            raise ValidationError("Cet entretien est annulé : il ne peut plus être modifié.")
        raise ValidationError(
            {
                "statut": (
                    f"Un entretien {entretien.get_statut_display().lower()} ne peut pas passer "
                    f"à « {Statut(statut).label if statut in Statut.values else statut} »."
                )
            }
        )
    if statut in (Statut.REALISE, Statut.ABSENT) and entretien.debut > timezone.now():
        raise ValidationError(
            {"statut": "L'entretien n'a pas encore eu lieu : il ne peut être qu'annulé."}
        )
    if statut == Statut.ANNULE and note:
        raise ValidationError({"note": "Un entretien annulé ne porte pas de note."})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError({"note": f"La note est limitée à {NOTE_MAX_LENGTH} caractères."})
    old_statut, old_note = entretien.statut, entretien.note
    if (old_statut, old_note) == (statut, note):
        return entretien
    entretien.statut = statut
    entretien.note = note
    entretien.save(update_fields=["statut", "note"])
    changes = {"entretien": entretien.pk}
    if old_statut != statut:
        changes["statut"] = [old_statut, statut]
    if old_note != note:
        changes["note"] = "modifiée"  # the note itself stays in the record, not in the log
    summary = f"Entretien du {_label(entretien)} : {entretien.get_statut_display().lower()}"
    if old_statut == statut:
        summary = f"Entretien du {_label(entretien)} : note mise à jour"
    case_event_add(
        accompagnement=entretien.accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.ENTRETIEN,
        summary=summary,
        detail=note,
        changes=changes,
    )
    return entretien


# --- The week agenda ---------------------------------------------------------------------


AGENDA_YEARS = 10  # weeks farther than this from today are not agenda weeks


def parse_week(value, today=None):
    """Monday of the ISO week `YYYY-Www` (e.g. 2026-W05); the current week if invalid or more
    than AGENDA_YEARS away (year 0001 or 9999 would overflow the week's bounds)."""
    today = today or timezone.localdate()
    if value:
        try:
            year, week = value.upper().split("-W")
            if abs(int(year) - today.year) <= AGENDA_YEARS:
                return datetime.date.fromisocalendar(int(year), int(week), 1)
        except ValueError:
            pass
    return today - datetime.timedelta(days=today.weekday())


def week_param(monday):
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def day_bounds(first_day, days=1):
    """Aware datetimes [start of `first_day`, start of `first_day + days`) in local time."""
    start = timezone.make_aware(datetime.datetime.combine(first_day, datetime.time.min))
    end = timezone.make_aware(
        datetime.datetime.combine(first_day + datetime.timedelta(days=days), datetime.time.min)
    )
    return start, end


def week_meetings(worker, monday):
    start, end = day_bounds(monday, 7)
    return (
        Entretien.objects.filter(ass=worker, debut__gte=start, debut__lt=end)
        .select_related("accompagnement__assure")
        .order_by("debut", "pk")
    )


# --- ICS feed --------------------------------------------------------------------------------


@transaction.atomic
def ics_token_renew(*, user, acting_user):
    """Create or replace the secret of the user's calendar feed; the old URL stops working."""
    had_token = bool(user.ics_token)
    user.new_ics_token()
    user.save(update_fields=["ics_token"])
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=user,
        changes={"ics_token": "renouvelé" if had_token else "créé"},
    )
    return user.ics_token


@transaction.atomic
def ics_token_revoke(*, user, acting_user):
    if not user.ics_token:
        return
    user.ics_token = ""
    user.save(update_fields=["ics_token"])
    audit(
        user=acting_user, action=AuditLog.Action.UPDATE, obj=user, changes={"ics_token": "révoqué"}
    )


def user_for_ics_token(token):
    if not token:
        return None
    return User.objects.filter(ics_token=token, is_active=True).exclude(ics_token="").first()


def initials(assure):
    """ "J. D." — the only trace of the person in a calendar that leaves the application."""
    parts = [assure.prenoms.strip()[:1], assure.nom_affiche.strip()[:1]]
    return " ".join(f"{p.upper()}." for p in parts if p)


def ics_escape(text):
    """TEXT value escaping of RFC 5545 §3.3.11."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def ics_fold(line):
    """Fold a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character."""
    out, current, size = [], "", 0
    limit = 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size = " ", 1  # continuation lines start with one space
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def _ics_datetime(dt):
    return dt.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


ICS_STATUS = {
    Statut.PLANIFIE: "CONFIRMED",
    Statut.REALISE: "CONFIRMED",
    Statut.ABSENT: "CONFIRMED",
    Statut.ANNULE: "CANCELLED",
}


def ics_meetings(user, now=None):
    now = now or timezone.now()
    return (
        Entretien.objects.filter(
            ass=user,
            debut__gte=now - datetime.timedelta(days=ICS_PAST_DAYS),
            debut__lte=now + datetime.timedelta(days=ICS_FUTURE_DAYS),
        )
        .select_related("accompagnement__assure")
        .order_by("debut", "pk")
    )


def ics_calendar(user, host="pdp", now=None, meetings=None):
    """The user's meetings as an iCalendar text: mode and initials only, no NIR, no health.
    `meetings`: `ics_meetings(user, now)` when the caller already read them."""
    now = now or timezone.now()
    stamp = _ics_datetime(now)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//PDP Service social//Agenda//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_escape('PDP – entretiens')}",
    ]
    for entretien in ics_meetings(user, now) if meetings is None else meetings:
        fin = entretien.debut + datetime.timedelta(minutes=entretien.duree_minutes)
        who = initials(entretien.accompagnement.assure)
        summary = f"Entretien {entretien.get_mode_display().lower()} – {who}"
        if entretien.statut in (Statut.ANNULE, Statut.ABSENT):
            summary += f" ({entretien.get_statut_display().lower()})"
        lines += [
            "BEGIN:VEVENT",
            f"UID:entretien-{entretien.pk}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_ics_datetime(entretien.debut)}",
            f"DTEND:{_ics_datetime(fin)}",
            f"SUMMARY:{ics_escape(summary)}",
            f"STATUS:{ICS_STATUS[entretien.statut]}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)
