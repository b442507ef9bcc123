"""Opening hours, absences and free slots of the ASS (issue 10, item 2; the slot part of 3 and 9).

Rules:
- an ASS (or her unit's manager, `cases.permissions.can_manage_availability`) sets weekly
  opening ranges (`PlageOuverture`: weekday, local start and end time, place, allowed modes,
  first day and optional last day) and absences (`Absence`, from one datetime to another);
- a `Motif` gives the meeting length and the booking window: the first slot starts at least
  `delai_min_heures` after now (rounded up to 5 minutes), none starts more than
  `delai_max_jours` after now;
- free slots are the occurrences of the ranges that allow the mode, on days that are not French
  public holidays (`pdp.workdays`), minus the absences, the meetings of the ASS that are not
  cancelled and the first meetings proposed to her on open referrals (the same slots
  `cases.agenda` refuses), cut in steps of the motif's length.

Times are Europe/Paris wall-clock times (`settings.TIME_ZONE`): a 09:00 range starts at 09:00
local time on both sides of a DST change. Arithmetic is done in UTC, where an hour is an hour.

`free_slots` reads the rows of all the ASS asked in four queries (ranges, absences, meetings,
proposed first meetings), then works in Python.
"""

import datetime
import math
from collections import defaultdict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.models import Absence, Entretien, PlageOuverture
from cases.permissions import can_manage_availability
from pdp.audit import audit, field_changes
from pdp.dates import require_plausible_date
from pdp.meeting_slot import MEETING_MAX_MINUTES
from pdp.models import AuditLog, Role
from pdp.workdays import is_public_holiday
from referrals.models import Signalement

UTC = datetime.UTC
STEP_SECONDS = 5 * 60
MIN_RANGE_MINUTES = 5
ABSENCE_MAX_DAYS = 366
FORBIDDEN = "Vous ne pouvez modifier que vos disponibilités ou celles des ASS de votre unité."
MODE_CHOICES = Entretien.Mode


# --- Free slots -------------------------------------------------------------------------------


def round_up_5_minutes(dt):
    """`dt` rounded up to the next multiple of 5 minutes (French offsets are whole hours, so
    rounding in UTC is rounding in local time)."""
    seconds = dt.timestamp()
    rounded = math.ceil(seconds / STEP_SECONDS) * STEP_SECONDS
    return datetime.datetime.fromtimestamp(rounded, tz=UTC)


def _local_days(start, end):
    first = timezone.localtime(start).date()
    last = timezone.localtime(end).date()
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def _at(day, time):
    """The aware UTC instant of local wall-clock `time` on `day`."""
    tz = timezone.get_current_timezone()
    return datetime.datetime.combine(day, time, tzinfo=tz).astimezone(UTC)


def _range_allows(plage, motif, mode):
    if mode is not None:
        return mode in plage.modes and motif.allows(mode)
    return not motif.modes or bool(set(plage.modes) & set(motif.modes))


def _merge(intervals):
    merged = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def _subtract(opening, busy):
    """The parts of the merged, sorted `opening` intervals outside the merged `busy` ones."""
    free = []
    for a, b in opening:
        cursor = a
        for c, d in busy:
            if d <= cursor or c >= b:
                continue
            if c > cursor:
                free.append((cursor, c))
            cursor = max(cursor, d)
            if cursor >= b:
                break
        if cursor < b:
            free.append((cursor, b))
    return free


def free_slots(*, ass_ids, start, end, motif, mode=None, now=None):
    """{ass_id: [(start, end), …]} of the free slots of each ASS in [start, end] for `motif`
    (and `mode` when given), each list sorted, aware datetimes (UTC). Every id asked is a key,
    with an empty list when nothing is free."""
    ass_ids = list(dict.fromkeys(ass_ids))
    result = {ass_id: [] for ass_id in ass_ids}
    if not ass_ids or (mode is not None and not motif.allows(mode)):
        return result
    now = now or timezone.now()
    length = datetime.timedelta(minutes=motif.duree_minutes)
    earliest = round_up_5_minutes(
        max(start, now + datetime.timedelta(hours=motif.delai_min_heures))
    )
    latest_start = now + datetime.timedelta(days=motif.delai_max_jours)
    end = end.astimezone(UTC)
    if earliest >= end or earliest > latest_start:
        return result
    days = [d for d in _local_days(earliest, end) if not is_public_holiday(d)]
    if not days:
        return result

    plages = PlageOuverture.objects.filter(
        Q(dernier_jour__isnull=True) | Q(dernier_jour__gte=days[0]),
        ass_id__in=ass_ids,
        premier_jour__lte=days[-1],
    ).values_list(  # plain rows: a unit's hundreds of ranges, no model instances to build
        "ass_id",
        "weekday",
        "heure_debut",
        "heure_fin",
        "modes",
        "premier_jour",
        "dernier_jour",
        named=True,
    )
    busy = defaultdict(list)
    for ass_id, a, b in Absence.objects.filter(
        ass_id__in=ass_ids, debut__lt=end, fin__gt=earliest
    ).values_list("ass_id", "debut", "fin"):
        busy[ass_id].append((a, b))
    window_start = earliest - datetime.timedelta(minutes=MEETING_MAX_MINUTES)
    for ass_id, a, minutes in (
        Entretien.objects.filter(ass_id__in=ass_ids, debut__gt=window_start, debut__lt=end)
        .exclude(statut=Entretien.Statut.ANNULE)
        .values_list("ass_id", "debut", "duree_minutes")
    ):
        busy[ass_id].append((a, a + datetime.timedelta(minutes=minutes)))
    for ass_id, a, minutes in (
        Signalement.objects.open()
        .filter(rdv_ass_id__in=ass_ids, rdv_debut__gt=window_start, rdv_debut__lt=end)
        .values_list("rdv_ass_id", "rdv_debut", "rdv_duree_minutes")
    ):
        busy[ass_id].append((a, a + datetime.timedelta(minutes=minutes or 0)))

    by_weekday = defaultdict(list)
    for plage in plages:
        if _range_allows(plage, motif, mode):
            by_weekday[(plage.ass_id, plage.weekday)].append(plage)
    opening = defaultdict(list)
    for day in days:
        for ass_id in ass_ids:
            for plage in by_weekday.get((ass_id, day.weekday()), ()):
                if plage.premier_jour <= day and (
                    plage.dernier_jour is None or day <= plage.dernier_jour
                ):
                    opening[ass_id].append((_at(day, plage.heure_debut), _at(day, plage.heure_fin)))

    for ass_id in ass_ids:
        slots = result[ass_id]
        for a, b in _subtract(_merge(opening[ass_id]), _merge(busy[ass_id])):
            slot = round_up_5_minutes(max(a, earliest))
            while slot + length <= min(b, end) and slot <= latest_start:
                slots.append((slot, slot + length))
                slot += length
    return result


def next_free_slots(*, ass, motif, days=14, limit=12, now=None):
    """The first `limit` free slots of one ASS for `motif` in the next `days` days (the preview
    of the staff page)."""
    now = now or timezone.now()
    found = free_slots(
        ass_ids=[ass.pk], start=now, end=now + datetime.timedelta(days=days), motif=motif, now=now
    )
    return found[ass.pk][:limit]


# --- Services ---------------------------------------------------------------------------------


def _require_manager_of(acting_user, ass):
    if not can_manage_availability(acting_user, ass):
        raise PermissionDenied(FORBIDDEN)


def _clean_modes(modes):
    modes = list(dict.fromkeys(modes or []))
    if not modes:
        raise ValidationError({"modes": "Choisissez au moins une modalité."})
    if any(m not in MODE_CHOICES.values for m in modes):
        raise ValidationError({"modes": "Choisissez des modalités parmi celles proposées."})
    return modes


def _check_plage(plage):
    if plage.ass.role != Role.ASS or not plage.ass.is_active:
        raise ValidationError("Les plages d'ouverture sont celles d'un·e ASS en activité.")
    if plage.weekday not in range(7):
        raise ValidationError({"weekday": "Choisissez un jour de la semaine."})
    debut = datetime.datetime.combine(datetime.date.min, plage.heure_debut)
    fin = datetime.datetime.combine(datetime.date.min, plage.heure_fin)
    if fin - debut < datetime.timedelta(minutes=MIN_RANGE_MINUTES):
        raise ValidationError({"heure_fin": "L'heure de fin doit suivre l'heure de début."})
    require_plausible_date(plage.premier_jour, field="premier_jour", label="Le premier jour")
    require_plausible_date(plage.dernier_jour, field="dernier_jour", label="Le dernier jour")
    if plage.dernier_jour is not None and plage.dernier_jour < plage.premier_jour:
        raise ValidationError(
            {"dernier_jour": "Le dernier jour ne peut pas précéder le premier jour."}
        )
    overlapping = (
        PlageOuverture.objects.filter(
            Q(dernier_jour__isnull=True) | Q(dernier_jour__gte=plage.premier_jour),
            ass_id=plage.ass_id,
            weekday=plage.weekday,
            heure_debut__lt=plage.heure_fin,
            heure_fin__gt=plage.heure_debut,
        )
        .exclude(pk=plage.pk)
        .order_by("heure_debut")
    )
    if plage.dernier_jour is not None:
        overlapping = overlapping.filter(premier_jour__lte=plage.dernier_jour)
    other = overlapping.first()
    if other is not None:
        raise ValidationError({"heure_debut": f"Cette plage chevauche la plage « {other} »."})


PLAGE_FIELDS = (
    "weekday",
    "heure_debut",
    "heure_fin",
    "lieu",
    "modes",
    "premier_jour",
    "dernier_jour",
)


@transaction.atomic
def plage_create(
    *,
    acting_user,
    ass,
    weekday,
    heure_debut,
    heure_fin,
    modes,
    lieu="",
    premier_jour=None,
    dernier_jour=None,
):
    _require_manager_of(acting_user, ass)
    plage = PlageOuverture(
        ass=ass,
        weekday=weekday,
        heure_debut=heure_debut,
        heure_fin=heure_fin,
        lieu=lieu or "",
        modes=_clean_modes(modes),
        premier_jour=premier_jour or timezone.localdate(),
        dernier_jour=dernier_jour,
    )
    _check_plage(plage)
    plage.save()
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=plage,
        changes={"ass": [None, ass.pk], **{f: [None, getattr(plage, f)] for f in PLAGE_FIELDS}},
    )
    return plage


@transaction.atomic
def plage_update(*, plage, acting_user, **fields):
    """Change some of `PLAGE_FIELDS` of `plage`; the audit row holds old → new."""
    _require_manager_of(acting_user, plage.ass)
    unknown = set(fields) - set(PLAGE_FIELDS)
    if unknown:
        raise TypeError(f"plage_update: unknown fields {sorted(unknown)}")
    if "modes" in fields:
        fields["modes"] = _clean_modes(fields["modes"])
    if "lieu" in fields:
        fields["lieu"] = fields["lieu"] or ""
    changes = field_changes(plage, fields)
    if not changes:
        return plage
    _check_plage(plage)
    plage.save()
    audit(user=acting_user, action=AuditLog.Action.UPDATE, obj=plage, changes=changes)
    return plage


@transaction.atomic
def plage_delete(*, plage, acting_user):
    _require_manager_of(acting_user, plage.ass)
    audit(
        user=acting_user,
        action=AuditLog.Action.DELETE,
        obj=plage,
        changes={
            "ass": [plage.ass_id, None],
            **{f: [getattr(plage, f), None] for f in PLAGE_FIELDS},
        },
    )
    plage.delete()


@transaction.atomic
def absence_create(*, acting_user, ass, debut, fin, motif=""):
    _require_manager_of(acting_user, ass)
    if timezone.is_naive(debut) or timezone.is_naive(fin):
        raise ValueError("absence_create takes aware datetimes")
    require_plausible_date(debut, field="debut", label="Le début de l'absence")
    require_plausible_date(fin, field="fin", label="La fin de l'absence")
    if fin <= debut:
        raise ValidationError({"fin": "La fin de l'absence doit suivre son début."})
    if fin - debut > datetime.timedelta(days=ABSENCE_MAX_DAYS):
        raise ValidationError({"fin": "Une absence dure un an au plus : vérifiez les dates."})
    if fin <= timezone.now():
        raise ValidationError({"fin": "Cette absence est déjà passée."})
    absence = Absence.objects.create(ass=ass, debut=debut, fin=fin, motif=motif or "")
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=absence,
        changes={"ass": [None, ass.pk], "debut": [None, debut], "fin": [None, fin]},
    )
    return absence


@transaction.atomic
def absence_delete(*, absence, acting_user):
    _require_manager_of(acting_user, absence.ass)
    audit(
        user=acting_user,
        action=AuditLog.Action.DELETE,
        obj=absence,
        changes={
            "ass": [absence.ass_id, None],
            "debut": [absence.debut, None],
            "fin": [absence.fin, None],
        },
    )
    absence.delete()
