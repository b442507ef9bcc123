"""Attendance of a collective action's sessions (issue 11, item 2): the grid filled by who runs
the action, the attendance import of a webinar (CSV exported by the visio tool), and the
participant's final status.

- `attendance_record(seance=…, statuses={participant_id: statut})`: one save of a session's
  column — `Presence` rows created, changed or cleared (« » clears), one `ActionEvent` for the
  session (counts, no name), one audit row and one case-timeline event per person changed
  (« Présent·e à la séance du mardi 15 décembre 2026 »).
- **« A participé »** (`present` status): set by `participants_settle` once the action is
  terminée, for every counted participant (inscrit, à confirmer) marked présent at one session
  at least; a participant whose last « présent » is corrected away goes back to « inscrit ».
  Before the end the status stays « inscrit » (the grid says who came to what): so « A
  participé » means the same thing for every finished action, and the end-of-action
  questionnaire (outreach) can go to them. `participants_settle` runs when the action finishes
  (`collective.signals.action_finished`, connected in `CollectiveConfig.ready`) and after each
  attendance save on a finished action.
- `attendance_import`: see its docstring for the accepted columns. Every line of the file gets
  an outcome in the report; a bad line never fails the import.
"""

import csv
import io
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import CaseEvent
from cases.services import case_event_add
from collective import participants as p
from collective.models import (
    ActionEvent,
    ActionStatus,
    Participant,
    Presence,
    PresenceStatus,
    Seance,
)
from pdp import access_codes
from pdp.audit import audit
from pdp.models import AuditLog

COUNTED = (p.INSCRIT, p.A_CONFIRMER, p.PRESENT)
french_day, french_time = p.french_day, p.french_time

TIMELINE = {
    PresenceStatus.PRESENT: "présent·e à la séance du {day}",
    PresenceStatus.EXCUSE: "absent·e excusé·e à la séance du {day}",
    PresenceStatus.ABSENT: "absent·e à la séance du {day}",
    "": "présence à la séance du {day} effacée",
}


def seance_label(seance):
    return f"{french_day(seance.debut)} à {french_time(seance.debut)}"


def is_past(seance, now=None):
    return seance.debut <= (now or timezone.now())


def counted_participants(action):
    return (
        Participant.objects.filter(action_id=action.pk, statut__code__in=COUNTED)
        .select_related("assure", "statut")
        .order_by("assure__nom_naissance", "assure__prenoms", "pk")
    )


@transaction.atomic
def attendance_record(*, seance, statuses, acting_user, summary=None):
    """Save the attendance of `seance`: {participant_id: « present » | « excuse » | « absent »
    | « » (clear)}. Only the action's counted participants, only a session that has begun, not
    on a cancelled action (French ValidationError, nothing saved). Returns how many rows
    changed; nothing changed writes nothing."""
    seance = Seance.objects.select_related("action__type").get(pk=seance.pk)
    action = seance.action
    if action.statut == ActionStatus.ANNULEE:
        raise ValidationError("L'action est annulée\u00a0: les présences ne se saisissent plus.")
    if not is_past(seance):
        raise ValidationError(
            f"La séance du {french_day(seance.debut)} n'a pas encore eu lieu\u00a0: "
            "les présences se saisissent après."
        )
    wanted = {}
    for key, value in statuses.items():
        value = (value or "").strip()
        if value and value not in PresenceStatus.values:
            raise ValidationError(f"Présence inconnue\u00a0: «\u00a0{value[:30]}\u00a0».")
        try:
            wanted[int(key)] = value
        except (TypeError, ValueError):
            raise ValidationError("Participant inconnu dans la saisie.") from None
    people = {
        row.pk: row
        for row in Participant.objects.select_for_update(of=("self",))
        .filter(action_id=action.pk, pk__in=list(wanted), statut__code__in=COUNTED)
        .select_related("assure", "accompagnement", "statut")
    }
    if set(wanted) - set(people):
        raise ValidationError(
            "Un des participants n'est pas (ou plus) inscrit à cette action\u00a0: "
            "rechargez la page et recommencez."
        )
    existing = {row.participant_id: row for row in seance.presences.filter(participant__in=people)}
    changed = []
    for participant_id, value in wanted.items():
        row = existing.get(participant_id)
        if (row.statut if row else "") == value:
            continue
        if not value:
            row.delete()
        elif row is None:
            Presence.objects.create(
                seance=seance, participant_id=participant_id, statut=value, recorded_by=acting_user
            )
        else:
            row.statut = value
            row.recorded_by = acting_user
            row.save(update_fields=["statut", "recorded_by", "recorded_at"])
        changed.append((people[participant_id], row.statut if row else "", value))
    if not changed:
        return 0
    day = french_day(seance.debut)
    counts = dict.fromkeys(PresenceStatus.values, 0)
    for value in seance.presences.values_list("statut", flat=True):
        counts[value] += 1
    ActionEvent.objects.create(
        action=action,
        actor=acting_user,
        kind="presence",
        summary=summary
        or (
            f"Présences de la séance du {day}\u00a0: {counts['present']} présent·e(s), "
            f"{counts['excuse']} excusé·e(s), {counts['absent']} absent·e(s)"
        ),
        changes={"seance": seance.pk, "modifiees": len(changed), **counts},
    )
    for participant, old, new in changed:
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=participant,
            assure_id=participant.assure_id,
            changes={"presence": [old or None, new or None], "seance": seance.pk},
        )
        case = p._case_of(participant)
        if case is not None:
            case_event_add(
                accompagnement=case,
                acting_user=acting_user,
                kind=CaseEvent.Kind.COLLECTIVE,
                summary=f"{action.type} «\u00a0{action.titre}\u00a0»\u00a0: "
                + TIMELINE[new].format(day=day),
                changes={
                    "action_collective": action.pk,
                    "participant": participant.pk,
                    "seance": seance.pk,
                    "presence": new or None,
                },
            )
    if action.statut == ActionStatus.TERMINEE:
        participants_settle(action=action, acting_user=acting_user)
    return len(changed)


def participants_settle(*, action, acting_user=None):
    """Once `action` is terminée: counted participants marked présent at a session at least
    become « A participé »; an « A participé » without any présent goes back to « inscrit ».
    Returns how many changed. Inside the caller's transaction."""
    if action.statut != ActionStatus.TERMINEE:
        return 0
    attended = set(
        Presence.objects.filter(
            seance__action_id=action.pk, statut=PresenceStatus.PRESENT
        ).values_list("participant_id", flat=True)
    )
    rows = list(
        Participant.objects.select_for_update(of=("self",))
        .filter(action_id=action.pk, statut__code__in=COUNTED)
        .select_related("statut", "accompagnement")
    )
    present, inscrit = p.status(p.PRESENT), p.status(p.INSCRIT)
    changed = 0
    for participant in rows:
        target = present if participant.pk in attended else None
        if target is None and participant.statut.code == p.PRESENT:
            target = inscrit
        if target is None or target.pk == participant.statut_id:
            continue
        participant.statut = target
        participant.confirmer_avant = None
        participant.save(update_fields=["statut", "confirmer_avant"])
        participant.action = action
        p.record(
            participant,
            acting_user=acting_user,
            summary="A participé à l'action" if target is present else "Participation retirée",
        )
        changed += 1
    return changed


def on_action_finished(sender, *, action, acting_user=None, **kwargs):
    """`collective.signals.action_finished` → the participants' final status."""
    action.refresh_from_db(fields=["statut"])
    participants_settle(action=action, acting_user=acting_user)


# --- The attendance import of a webinar ------------------------------------------------------

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_LINES = 5000
# Header names accepted, compared without case, accents, spaces, dashes or underscores.
EMAIL_HEADERS = (
    "email",
    "e-mail",
    "mail",
    "courriel",
    "adresse e-mail",
    "adresse électronique",
    "adresse mail",
    "email address",
    "user email",
    "attendee email",
    "e-mail du participant",
    "email du participant",
)
CODE_HEADERS = (
    "code",
    "code d'inscription",
    "code d'accès",
    "code inscription",
    "registration code",
    "code participant",
    "code du participant",
)


def _header_key(text):
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


_EMAIL_KEYS = {_header_key(h) for h in EMAIL_HEADERS}
_CODE_KEYS = {_header_key(h) for h in CODE_HEADERS}


class Outcome:
    PRESENT = "present"
    INCONNU = "inconnu"
    AMBIGU = "ambigu"
    DOUBLON = "doublon"
    NON_INSCRIT = "non_inscrit"
    SANS_IDENTIFIANT = "sans_identifiant"

    LABELS = {
        PRESENT: "Pointé·e présent·e",
        INCONNU: "Inconnu·e\u00a0: aucune personne inscrite ne correspond",
        AMBIGU: "Ambigu\u00a0: plusieurs personnes inscrites correspondent, à pointer à la main",
        DOUBLON: "Doublon\u00a0: déjà pointé·e par une ligne précédente",
        NON_INSCRIT: (
            "Reconnu·e mais pas inscrit·e (annulé·e ou en liste d'attente)\u00a0: non pointé·e"
        ),
        SANS_IDENTIFIANT: "Ni e-mail ni code sur la ligne",
    }


@dataclass
class ImportLine:
    number: int
    identifiant: str
    outcome: str
    participant: Participant | None = None

    @property
    def label(self):
        return Outcome.LABELS[self.outcome]


@dataclass
class ImportReport:
    encoding: str
    delimiter: str
    columns: list
    lines: list = field(default_factory=list)
    blank_lines: int = 0
    recorded: int = 0

    def count(self, outcome):
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def summary(self):
        return [
            (label, self.count(outcome), outcome)
            for outcome, label in Outcome.LABELS.items()
            if self.count(outcome)
        ]


def decode(data):
    """UTF-8 (with or without BOM), else Windows-1252 (what spreadsheets export)."""
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "Windows-1252"


def _delimiter(first_line):
    return ";" if first_line.count(";") >= first_line.count(",") and ";" in first_line else ","


def _quoted(names):
    return ", ".join(f"\u00ab\u00a0{name[:40]}\u00a0\u00bb" for name in names)


def _mask(code):
    normal = access_codes.normalize(code)
    return f"{normal[:4]}-••••" if len(normal) > 4 else "••••"


def _participant_of_code(code, action_id, by_assure):
    """The participant a code names: a code bound to the registration
    (« collective.participant », the participant's pk) or the invitation to this action
    (« collective.actioncollective », the action's pk) of a person registered in it."""
    row = access_codes.access_code_lookup(code=code)
    if row is None:
        return None
    if row.object_type == "collective.participant":
        found = by_assure.get(row.assure_id)
        return found if found is not None and str(found.pk) == row.object_id else None
    if row.object_type == "collective.actioncollective" and row.object_id == str(action_id):
        return by_assure.get(row.assure_id)
    return None


def parse_attendance(data):
    """(report, rows) from the CSV bytes: rows are (line number, e-mail, code). A French
    ValidationError when the file cannot be read as a whole (too large, no header, no
    e-mail or code column)."""
    if not data:
        raise ValidationError("Le fichier est vide.")
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(
            "Le fichier dépasse 2 Mo\u00a0: est-ce bien l'export des présences\u00a0?"
        )
    text, encoding = decode(data)
    if "\x00" in text:
        raise ValidationError("Ce fichier n'est pas un fichier CSV (texte).")
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = _delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = None
    rows = []
    try:
        for record in reader:
            if header is None:
                if not any(cell.strip() for cell in record):
                    continue
                header = [cell.strip() for cell in record]
                keys = [_header_key(cell) for cell in header]
                email_at = next((i for i, k in enumerate(keys) if k in _EMAIL_KEYS), None)
                code_at = next((i for i, k in enumerate(keys) if k in _CODE_KEYS), None)
                if email_at is None and code_at is None:
                    raise ValidationError(
                        "La première ligne doit nommer une colonne «\u00a0e-mail\u00a0» "
                        "(ou «\u00a0email\u00a0», «\u00a0courriel\u00a0») ou «\u00a0code\u00a0»"
                        "\u00a0: colonnes trouvées "
                        f"{_quoted(header[:10]) or 'aucune'}."
                    )
                continue
            if len(rows) >= MAX_IMPORT_LINES:
                raise ValidationError(
                    f"Le fichier dépasse {MAX_IMPORT_LINES} lignes\u00a0: découpez-le."
                )

            def cell(at, record=record):
                return record[at].strip() if at is not None and at < len(record) else ""

            rows.append((reader.line_num, cell(email_at), cell(code_at), not any(record)))
    except csv.Error as exc:
        raise ValidationError(f"Le fichier CSV est mal formé (ligne {reader.line_num}).") from exc
    if header is None:
        raise ValidationError("Le fichier n'a pas de ligne d'en-tête.")
    columns = [h for i, h in enumerate(header) if i in (email_at, code_at)]
    report = ImportReport(
        encoding=encoding,
        delimiter="point-virgule" if delimiter == ";" else "virgule",
        columns=columns,
    )
    return report, rows


def attendance_import(*, seance, data, acting_user):
    """Read the visio tool's attendance export of `seance` (CSV bytes, `;` or `,`, UTF-8 or
    Windows-1252, a header row) and mark présent the participants it names. Columns, by their
    header (case, accents, spaces and dashes ignored): an e-mail — « e-mail », « email »,
    « mail », « courriel », « adresse e-mail », « adresse électronique », « user email »,
    « attendee email »… (`EMAIL_HEADERS`) — and/or a code — « code », « code d'inscription »,
    « code d'accès », « registration code »… (`CODE_HEADERS`). A line names a participant by
    the person's e-mail (`Assure.email`, any case) or by the code of their registration or
    invitation (`pdp.access_codes.access_code_lookup`). Every line gets an outcome: présent,
    inconnu, ambigu (two people match), doublon (already matched above), non inscrit (the
    person's registration is cancelled or waitlisted), sans identifiant; blank lines are
    counted. Returns the report (`ImportReport`)."""
    report, rows = parse_attendance(data)
    action = seance.action
    everyone = list(
        Participant.objects.filter(action_id=action.pk).select_related("assure", "statut")
    )
    by_assure = {row.assure_id: row for row in everyone}
    by_email = {}
    for row in everyone:
        email = (row.assure.email or "").strip().lower()
        if email:
            by_email.setdefault(email, []).append(row)
    seen = set()
    to_mark = {}
    for number, email, code, blank in rows:
        if blank:
            report.blank_lines += 1
            continue
        if not (email or code):
            report.lines.append(ImportLine(number, "", Outcome.SANS_IDENTIFIANT))
            continue
        shown = " · ".join(x for x in (email, _mask(code) if code else "") if x)
        candidates = {}
        if code:
            found = _participant_of_code(code, action.pk, by_assure)
            if found is not None:
                candidates[found.pk] = found
        if email:
            for found in by_email.get(email.lower(), []):
                candidates[found.pk] = found
        if not candidates:
            report.lines.append(ImportLine(number, shown, Outcome.INCONNU))
            continue
        if len(candidates) > 1:
            report.lines.append(ImportLine(number, shown, Outcome.AMBIGU))
            continue
        (found,) = candidates.values()
        if found.pk in seen:
            outcome = Outcome.DOUBLON
        elif found.statut.code not in COUNTED:
            outcome = Outcome.NON_INSCRIT
        else:
            outcome = Outcome.PRESENT
            to_mark[found.pk] = PresenceStatus.PRESENT
        seen.add(found.pk)
        report.lines.append(ImportLine(number, shown, outcome, found))
    if to_mark:
        report.recorded = attendance_record(
            seance=seance,
            statuses=to_mark,
            acting_user=acting_user,
            summary=(
                f"Import des présences de la séance du {french_day(seance.debut)}\u00a0: "
                f"{len(report.lines)} ligne(s), {report.count(Outcome.PRESENT)} pointée(s) "
                f"présente(s), {len(report.lines) - report.count(Outcome.PRESENT)} non pointée(s)"
            ),
        )
    return report
