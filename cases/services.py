"""Every change of state of an accompagnement goes through a function here.

Each one runs in a transaction, takes `acting_user`, and writes a CaseEvent (the timeline)
plus an audit entry, so every change of a person's record is traceable to a user.
Refusals raise ValidationError with a French message, keyed by the form field it concerns
when there is one, and change nothing.
"""

import datetime
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cases.extensions import case_opened, consent_revoked, first_meeting_planned
from cases.models import (
    Accompagnement,
    Action,
    CaseEvent,
    CaseShare,
    CaseStatus,
    Cloture,
    Consentement,
    DispositifStatut,
    Domaine,
    Entretien,
    EvaluationGlobale,
    Mission,
    Objectif,
    ObjectifStatut,
    Orientation,
    Outcome,
    RiskLevel,
    ShareReason,
)
from cases.permissions import can_change_referent, can_manage_case
from pdp.audit import audit, field_changes, jsonable
from pdp.dates import require_plausible_date
from pdp.models import AuditLog, PartnerKind, Role
from referrals.services import signalement_mark_case_opened

Kind = CaseEvent.Kind

# The areas of the évaluation globale (domain §3), in the order they are shown.
EVALUATION_AREAS = [
    "contraintes_sante",
    "emploi",
    "droits",
    "ressources",
    "vie_sociale",
    "logement",
    "competences",
    "freins",
]


def _d(day):
    return day.strftime("%d/%m/%Y") if day else "—"


def _short(text, length=80):
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


def case_event_add(*, accompagnement, acting_user, kind, summary, detail="", changes=None):
    changes = jsonable(changes or {})
    event = CaseEvent.objects.create(
        accompagnement=accompagnement,
        actor=acting_user,
        kind=kind,
        summary=summary[:255],
        detail=detail,
        changes=changes,
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=accompagnement,
        assure_id=accompagnement.assure_id,
        changes={"event": kind, "summary": summary[:255], **changes},
    )
    return event


@transaction.atomic
def case_open(*, assure, referent, acting_user, mission=Mission.PDP, signalement=None):
    """Open an accompagnement; the database refuses a second open one for the same mission."""
    case = Accompagnement.objects.create(
        assure=assure,
        referent=referent,
        unit=referent.unit,
        region_id=referent.unit.region_id,
        mission=mission,
        statut=CaseStatus.OUVERT,
        date_ouverture=timezone.localdate(),
        signalement=signalement,
    )
    summary = f"Accompagnement ouvert, référent : {referent}"
    if signalement is not None:
        summary += f" (signalement du {signalement.date_signalement:%d/%m/%Y})"
    case_event_add(
        accompagnement=case, acting_user=acting_user, kind=CaseEvent.Kind.OPENED, summary=summary
    )
    case_opened.send(sender=Accompagnement, accompagnement=case, acting_user=acting_user)
    return case


@transaction.atomic
def case_open_from_signalement(*, signalement, acting_user, referent, mission=Mission.PDP):
    """Open the accompagnement a referral leads to: the referral becomes « accompagnement
    ouvert » (its event) and the case records the referral it came from, in one transaction.

    Refused when the person already has an open accompagnement (whatever its mission: the
    existing one is to be continued) or when the referent is not an active ASS of the unit.
    """
    if (
        referent is None
        or referent.role != Role.ASS
        or not referent.is_active
        or referent.unit_id != signalement.unit_id
    ):
        raise ValidationError({"referent": "Le référent doit être une ASS de l'unité."})
    existing = (
        Accompagnement.objects.open()
        .filter(assure_id=signalement.assure_id)
        .select_related("referent")
        .first()
    )
    if existing is not None:
        raise ValidationError(
            "Un accompagnement est déjà ouvert pour cette personne "
            f"({existing.get_mission_display()}, référent : {existing.referent}, "
            f"ouvert le {existing.date_ouverture:%d/%m/%Y})."
        )
    signalement_mark_case_opened(
        signalement=signalement,
        acting_user=acting_user,
        reason=f"Accompagnement ouvert, référent : {referent}.",
    )
    try:
        with transaction.atomic():
            case = case_open(
                assure=signalement.assure,
                referent=referent,
                acting_user=acting_user,
                mission=mission,
                signalement=signalement,
            )
    except IntegrityError as exc:  # opened concurrently by someone else
        raise ValidationError("Un accompagnement vient d'être ouvert pour cette personne.") from exc
    _plan_proposed_first_meeting(case, signalement, acting_user)
    return case


def _plan_proposed_first_meeting(case, signalement, acting_user):
    """The first meeting a conseiller proposed on the referral becomes a planned entretien of
    the case, with the ASS it was booked with — if it is still to come and she still works in
    the unit (a past one was held or missed: the référent records it herself)."""
    from cases.agenda import entretien_schedule  # cases.agenda builds on this module

    ass = signalement.rdv_ass
    if signalement.rdv_debut is None or signalement.rdv_debut <= timezone.now():
        return None
    if not ass.is_active or ass.unit_id != case.unit_id or ass.role != Role.ASS:
        return None
    entretien = entretien_schedule(
        accompagnement=case,
        acting_user=acting_user,
        debut=signalement.rdv_debut,
        mode=signalement.rdv_mode,
        duree_minutes=signalement.rdv_duree_minutes,
        ass=ass,
    )
    first_meeting_planned.send(
        sender=Entretien, signalement=signalement, entretien=entretien, acting_user=acting_user
    )
    return entretien


# --- Guards ----------------------------------------------------------------------------------


def _require_not_closed(case):
    if case.statut == CaseStatus.CLOTURE:
        raise ValidationError("L'accompagnement est clôturé : rouvrez-le pour le modifier.")


def case_lock(accompagnement):
    """Lock the case row until the end of the transaction; return its current status.

    The services that add work to a case (a dispositif, a meeting) take this lock before
    checking that the case is open, and the closure takes it first: a closure and such a
    change therefore run one after the other, and the second one sees what the first did.
    FOR NO KEY UPDATE does not block the rows that merely point to the case (its events).
    """
    return (
        Accompagnement.objects.select_for_update(no_key=True)
        .filter(pk=accompagnement.pk)
        .values_list("statut", flat=True)
        .get()
    )


def _require_choice(value, choices, field, message):
    if value not in choices.values:
        raise ValidationError({field: message})


def _require_not_future(day, field, label):
    require_plausible_date(day, field=field, label=label, future=False)


def _require_text(value, field, message):
    if not (value or "").strip():
        raise ValidationError({field: message})
    return value.strip()


def _set_status(case, *, expected, new, **extra):
    """UPDATE … WHERE statut IN expected: safe when two people act at once."""
    now = timezone.now()
    updated = Accompagnement.objects.filter(pk=case.pk, statut__in=expected).update(
        statut=new, updated_at=now, **extra
    )
    if not updated:
        case.refresh_from_db(fields=["statut", "date_cloture"])
        raise ValidationError(
            f"L'accompagnement est « {case.get_statut_display().lower()} » : "
            "cette action n'est plus possible."
        )
    old = case.statut
    case.statut = new
    case.updated_at = now
    for name, value in extra.items():
        setattr(case, name, value)
    return old


# --- Notes -----------------------------------------------------------------------------------


@transaction.atomic
def case_note_add(*, accompagnement, acting_user, text):
    text = _require_text(text, "text", "Écrivez la note.")
    return case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.NOTE,
        summary=f"Note : {_short(text)}",
        detail=text,
    )


# --- Évaluation globale --------------------------------------------------------------------


@transaction.atomic
def evaluation_create(*, accompagnement, acting_user, niveau_risque, **areas):
    """A new version of the évaluation globale; earlier versions stay as they were."""
    _require_not_closed(accompagnement)
    unknown = set(areas) - set(EVALUATION_AREAS)
    if unknown:
        raise TypeError(f"Champs inconnus : {', '.join(sorted(unknown))}")
    _require_choice(niveau_risque, RiskLevel, "niveau_risque", "Indiquez le niveau de risque.")
    # Serialise concurrent versions on the case row (the unique constraint is the backstop).
    Accompagnement.objects.select_for_update().filter(pk=accompagnement.pk).first()
    previous = accompagnement.evaluations.order_by("-version").first()
    version = (previous.version if previous else 0) + 1
    data = {name: (areas.get(name) or "").strip() for name in EVALUATION_AREAS}
    evaluation = EvaluationGlobale.objects.create(
        accompagnement=accompagnement,
        version=version,
        niveau_risque=niveau_risque,
        created_by=acting_user,
        **data,
    )
    changed_areas = [
        EvaluationGlobale._meta.get_field(name).verbose_name
        for name in EVALUATION_AREAS
        if data[name] != (getattr(previous, name) if previous else "")
    ]
    old_risk = previous.niveau_risque if previous else None
    summary = f"Évaluation globale v{version} (risque {evaluation.get_niveau_risque_display()})"
    if previous and old_risk != niveau_risque:
        summary += f", risque {previous.get_niveau_risque_display().lower()} → "
        summary += evaluation.get_niveau_risque_display().lower()
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.EVALUATION,
        summary=summary,
        changes={
            "version": [previous.version if previous else None, version],
            "niveau_risque": [old_risk, niveau_risque],
            "domaines_modifies": changed_areas,
        },
    )
    return evaluation


# --- Plan d'aide -----------------------------------------------------------------------------

OBJECTIF_FIELDS = {"domaine", "libelle", "echeance", "statut"}


@transaction.atomic
def objectif_create(*, accompagnement, acting_user, domaine, libelle, echeance=None):
    _require_not_closed(accompagnement)
    require_plausible_date(echeance, field="echeance", label="L'échéance", past=False)
    libelle = _require_text(libelle, "libelle", "Formulez l'objectif.")
    _require_choice(domaine, Domaine, "domaine", "Choisissez le domaine.")
    objectif = Objectif.objects.create(
        accompagnement=accompagnement, domaine=domaine, libelle=libelle, echeance=echeance
    )
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.OBJECTIVE,
        summary=f"Objectif ajouté : {_short(libelle, 150)}",
        changes={
            "objectif": objectif.pk,
            "libelle": [None, libelle],
            "domaine": [None, domaine],
            "echeance": [None, echeance],
        },
    )
    return objectif


@transaction.atomic
def objectif_update(*, objectif, acting_user, **data):
    """Change the wording, area, due date or status (en cours / atteint / abandonné / révisé)."""
    case = objectif.accompagnement
    _require_not_closed(case)
    unknown = set(data) - OBJECTIF_FIELDS
    if unknown:
        raise TypeError(f"Champs inconnus : {', '.join(sorted(unknown))}")
    if "statut" in data:
        _require_choice(data["statut"], ObjectifStatut, "statut", "Statut inconnu.")
    if "domaine" in data:
        _require_choice(data["domaine"], Domaine, "domaine", "Choisissez le domaine.")
    if "libelle" in data:
        data["libelle"] = _require_text(data["libelle"], "libelle", "Formulez l'objectif.")
    if "echeance" in data and data["echeance"] != objectif.echeance:
        require_plausible_date(data["echeance"], field="echeance", label="L'échéance")
    old_status = objectif.get_statut_display().lower()
    changes = field_changes(objectif, data)
    if not changes:
        return objectif
    objectif.save(update_fields=list(changes))
    if "statut" in changes:
        summary = (
            f"Objectif « {_short(objectif.libelle, 100)} » : {old_status} → "
            f"{objectif.get_statut_display().lower()}"
        )
    else:
        summary = f"Objectif modifié : {_short(objectif.libelle, 150)}"
    case_event_add(
        accompagnement=case,
        acting_user=acting_user,
        kind=Kind.OBJECTIVE,
        summary=summary,
        changes={"objectif": objectif.pk, **changes},
    )
    return objectif


@transaction.atomic
def action_create(*, objectif, acting_user, libelle, porteur="", echeance=None):
    require_plausible_date(echeance, field="echeance", label="L'échéance", past=False)
    case = objectif.accompagnement
    _require_not_closed(case)
    libelle = _require_text(libelle, "libelle", "Décrivez l'action.")
    action = Action.objects.create(
        objectif=objectif, libelle=libelle, porteur=(porteur or "").strip(), echeance=echeance
    )
    case_event_add(
        accompagnement=case,
        acting_user=acting_user,
        kind=Kind.OBJECTIVE,
        summary=(
            f"Action ajoutée : {_short(libelle, 100)} (objectif « {_short(objectif.libelle, 60)} »)"
        ),
        changes={"action": action.pk, "libelle": [None, libelle], "echeance": [None, echeance]},
    )
    return action


@transaction.atomic
def action_toggle(*, action, acting_user):
    """Mark an action done, or not done again."""
    case = action.objectif.accompagnement
    _require_not_closed(case)
    old = action.faite
    # Flip in the database so two clicks at once give two flips, not one lost update.
    Action.objects.filter(pk=action.pk, faite=old).update(faite=not old)
    action.refresh_from_db(fields=["faite"])
    if action.faite == old:
        raise ValidationError("L'action vient d'être modifiée par quelqu'un d'autre.")
    verb = "réalisée" if action.faite else "à refaire"
    case_event_add(
        accompagnement=case,
        acting_user=acting_user,
        kind=Kind.OBJECTIVE,
        summary=f"Action {verb} : {_short(action.libelle, 150)}",
        changes={"action": action.pk, "faite": [old, action.faite]},
    )
    return action


# --- Orientations ----------------------------------------------------------------------------

AGREEMENT_MESSAGE = "Une orientation ne part qu'avec l'accord de l'assuré."


@transaction.atomic
def orientation_create(
    *,
    accompagnement,
    acting_user,
    partner_kind,
    motif,
    accord_assure,
    partner=None,
    date_orientation=None,
    statut=Orientation.Statut.PROPOSEE,
):
    _require_not_closed(accompagnement)
    _require_choice(partner_kind, PartnerKind, "partner_kind", "Choisissez vers qui orienter.")
    _require_choice(statut, Orientation.Statut, "statut", "Statut inconnu.")
    motif = _require_text(motif, "motif", "Indiquez le motif de l'orientation.")
    if partner is not None and partner.kind != partner_kind:
        raise ValidationError(
            {"partner": f"Ce partenaire n'est pas de type « {PartnerKind(partner_kind).label} »."}
        )
    if statut != Orientation.Statut.PROPOSEE and not accord_assure:
        raise ValidationError({"accord_assure": AGREEMENT_MESSAGE})
    date_orientation = date_orientation or timezone.localdate()
    _require_not_future(date_orientation, "date_orientation", "La date de l'orientation")
    orientation = Orientation.objects.create(
        accompagnement=accompagnement,
        partner_kind=partner_kind,
        partner=partner,
        motif=motif,
        accord_assure=bool(accord_assure),
        date_orientation=date_orientation,
        statut=statut,
    )
    target = PartnerKind(partner_kind).label
    if partner is not None:
        target += f" ({partner.name})"
    summary = f"Orientation vers {target} : {orientation.get_statut_display().lower()}"
    summary += (
        ", avec l'accord de l'assuré" if accord_assure else ", accord de l'assuré à recueillir"
    )
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.ORIENTATION,
        summary=summary,
        detail=motif,
        changes={
            "orientation": orientation.pk,
            "partner_kind": [None, partner_kind],
            "partner": [None, partner],
            "statut": [None, statut],
            "accord_assure": [None, bool(accord_assure)],
        },
    )
    return orientation


ORIENTATION_UPDATE_FIELDS = {"statut", "suivi", "accord_assure"}


@transaction.atomic
def orientation_update(*, orientation, acting_user, **data):
    """Follow-up of an orientation: status, notes, the assuré's agreement."""
    unknown = set(data) - ORIENTATION_UPDATE_FIELDS
    if unknown:
        raise TypeError(f"Champs inconnus : {', '.join(sorted(unknown))}")
    if "statut" in data:
        _require_choice(data["statut"], Orientation.Statut, "statut", "Statut inconnu.")
    accord = data.get("accord_assure", orientation.accord_assure)
    statut = data.get("statut", orientation.statut)
    if statut != Orientation.Statut.PROPOSEE and not accord:
        field = "accord_assure" if "accord_assure" in data else "statut"
        raise ValidationError({field: AGREEMENT_MESSAGE})
    if "suivi" in data:
        data["suivi"] = (data["suivi"] or "").strip()
    old_status = orientation.get_statut_display().lower()
    changes = field_changes(orientation, data)
    if not changes:
        return orientation
    orientation.save(update_fields=list(changes))
    summary = f"Orientation vers {orientation.get_partner_kind_display()}"
    if "statut" in changes:
        summary += f" : {old_status} → {orientation.get_statut_display().lower()}"
    elif "accord_assure" in changes:
        summary += " : accord de l'assuré " + (
            "recueilli" if orientation.accord_assure else "retiré"
        )
    else:
        summary += " : suivi mis à jour"
    logged = {k: v for k, v in changes.items() if k != "suivi"}
    case_event_add(
        accompagnement=orientation.accompagnement,
        acting_user=acting_user,
        kind=Kind.ORIENTATION,
        summary=summary,
        detail=orientation.suivi if "suivi" in changes else "",
        changes={
            "orientation": orientation.pk,
            **logged,
            **({"suivi": True} if "suivi" in changes else {}),
        },
    )
    return orientation


# --- Consentements ---------------------------------------------------------------------------


@transaction.atomic
def consentement_record(*, accompagnement, acting_user, portee, date_recueil=None):
    """Record the assuré's agreement for one scope; only one active consent per scope."""
    _require_choice(portee, Consentement.Portee, "portee", "Choisissez la portée.")
    date_recueil = date_recueil or timezone.localdate()
    _require_not_future(date_recueil, "date_recueil", "La date de recueil")
    assure = accompagnement.assure
    message = "Ce consentement est déjà recueilli (et non révoqué)."
    if Consentement.objects.filter(
        assure=assure, portee=portee, date_revocation__isnull=True
    ).exists():
        raise ValidationError({"portee": message})
    try:
        with transaction.atomic():
            consentement = Consentement.objects.create(
                assure=assure, portee=portee, date_recueil=date_recueil, recorded_by=acting_user
            )
    except IntegrityError as exc:
        raise ValidationError({"portee": message}) from exc
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.CONSENT,
        summary=(
            f"Consentement recueilli le {_d(date_recueil)} : "
            f"{consentement.get_portee_display().lower()}"
        ),
        changes={
            "consentement": consentement.pk,
            "portee": portee,
            "date_recueil": [None, date_recueil],
        },
    )
    return consentement


@transaction.atomic
def consentement_revoke(*, consentement, accompagnement, acting_user, date_revocation=None):
    if consentement.assure_id != accompagnement.assure_id:
        raise ValidationError("Ce consentement ne concerne pas la personne accompagnée.")
    date_revocation = date_revocation or timezone.localdate()
    _require_not_future(date_revocation, "date_revocation", "La date de révocation")
    if date_revocation < consentement.date_recueil:
        raise ValidationError(
            {"date_revocation": "La révocation ne peut précéder le recueil du consentement."}
        )
    updated = Consentement.objects.filter(pk=consentement.pk, date_revocation__isnull=True).update(
        date_revocation=date_revocation
    )
    if not updated:
        raise ValidationError("Ce consentement est déjà révoqué.")
    consentement.date_revocation = date_revocation
    consent_revoked.send(
        sender=Consentement,
        consentement=consentement,
        accompagnement=accompagnement,
        acting_user=acting_user,
    )
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.CONSENT,
        summary=(
            f"Consentement révoqué le {_d(date_revocation)} : "
            f"{consentement.get_portee_display().lower()}"
        ),
        changes={
            "consentement": consentement.pk,
            "portee": consentement.portee,
            "date_revocation": [None, date_revocation],
        },
    )
    return consentement


# --- Status: close, reopen, suspend, resume, référent ---------------------------------------


# What is still open in a case, shown before it is closed (domain §3, Clôture).
DISPOSITIFS_OPEN = (DispositifStatut.DEMANDE, DispositifStatut.ACCORDE, DispositifStatut.EN_COURS)


@dataclass(frozen=True)
class OpenWork:
    objectifs: list  # en cours: they stay as they are (the plan d'aide is history)
    dispositifs: list  # demandé, accordé, en cours: en cours ones must be ended first
    entretiens: list  # planned in the future: cancelled by the closure

    @property
    def dispositifs_en_cours(self):
        return [d for d in self.dispositifs if d.statut == DispositifStatut.EN_COURS]

    @property
    def dispositifs_pending(self):
        return [d for d in self.dispositifs if d.statut != DispositifStatut.EN_COURS]

    def __bool__(self):
        return bool(self.objectifs or self.dispositifs or self.entretiens)


def case_open_work(accompagnement, *, now=None):
    """Objectives, dispositifs and future meetings still open in the case (three queries)."""
    now = now or timezone.now()
    return OpenWork(
        objectifs=list(
            accompagnement.objectifs.filter(statut=ObjectifStatut.EN_COURS).order_by(
                "echeance", "pk"
            )
        ),
        dispositifs=list(
            accompagnement.dispositifs.filter(statut__in=DISPOSITIFS_OPEN)
            .select_related("type")
            .order_by(F("date_debut").asc(nulls_last=True), "pk")
        ),
        entretiens=list(
            accompagnement.entretiens.filter(statut=Entretien.Statut.PLANIFIE, debut__gt=now)
            .select_related("ass")
            .order_by("debut", "pk")
        ),
    )


def _dispositif_label(dispositif):
    label = dispositif.type.label
    if dispositif.date_debut:
        label += f" (depuis le {_d(dispositif.date_debut)})"
    return label


def _meeting_label(entretien):
    return f"{timezone.localtime(entretien.debut):%d/%m/%Y à %H:%M}"


def _cancel_future_meetings(accompagnement, acting_user, now):
    """Cancel the meetings planned after ``now``; one event lists them. Returns them."""
    entretiens = list(
        Entretien.objects.select_for_update()
        .filter(accompagnement=accompagnement, statut=Entretien.Statut.PLANIFIE, debut__gt=now)
        .order_by("debut", "pk")
    )
    if not entretiens:
        return []
    Entretien.objects.filter(pk__in=[e.pk for e in entretiens]).update(
        statut=Entretien.Statut.ANNULE
    )
    n = len(entretiens)
    dates = ", ".join(_meeting_label(e) for e in entretiens)
    summary = (
        f"Entretien à venir annulé à la clôture : le {dates}"
        if n == 1
        else f"{n} entretiens à venir annulés à la clôture : {dates}"
    )
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.ENTRETIEN,
        summary=_short(summary, 255),
        changes={
            "entretiens": [e.pk for e in entretiens],
            "statut": [Entretien.Statut.PLANIFIE, Entretien.Statut.ANNULE],
        },
    )
    return entretiens


@transaction.atomic
def case_close(*, accompagnement, acting_user, outcome, date_cloture, commentaire=""):
    """Close with a mandatory outcome (domain §3); the Cloture row keeps the history.

    Dispositifs still en cours must be ended (or abandoned) first; meetings planned in the
    future are cancelled; objectives stay as they are.
    """
    accompagnement.statut = case_lock(accompagnement)
    if accompagnement.statut == CaseStatus.CLOTURE:
        raise ValidationError("L'accompagnement est déjà clôturé.")
    errors = {}
    en_cours = list(
        accompagnement.dispositifs.filter(statut=DispositifStatut.EN_COURS)
        .select_related("type")
        .order_by(F("date_debut").asc(nulls_last=True), "pk")
    )
    if en_cours:
        one = len(en_cours) == 1
        names = ", ".join(_dispositif_label(d) for d in en_cours)
        what = "Un dispositif est" if one else "Des dispositifs sont"
        todo = "Terminez-le ou abandonnez-le" if one else "Terminez-les ou abandonnez-les"
        errors[NON_FIELD_ERRORS] = (
            f"{what} encore en cours : {names}. {todo} avant de clôturer l'accompagnement."
        )
    if outcome not in Outcome.values:
        errors["outcome"] = "Choisissez l'issue de l'accompagnement."
    today = timezone.localdate()
    if date_cloture is None:
        errors["date_cloture"] = "Indiquez la date de clôture."
    elif date_cloture > today:
        errors["date_cloture"] = "La date de clôture ne peut pas être dans le futur."
    elif date_cloture < accompagnement.date_ouverture:
        errors["date_cloture"] = (
            "La date de clôture ne peut précéder l'ouverture "
            f"({_d(accompagnement.date_ouverture)})."
        )
    else:
        last = accompagnement.clotures.order_by("-date_cloture").first()
        if last is not None and date_cloture < last.date_cloture:
            errors["date_cloture"] = (
                "La date de clôture ne peut précéder la clôture précédente "
                f"({_d(last.date_cloture)})."
            )
    if errors:
        raise ValidationError(errors)
    old = _set_status(
        accompagnement,
        expected=[CaseStatus.OUVERT, CaseStatus.SUSPENDU],
        new=CaseStatus.CLOTURE,
        date_cloture=date_cloture,
    )
    cloture = Cloture.objects.create(
        accompagnement=accompagnement,
        outcome=outcome,
        date_cloture=date_cloture,
        commentaire=(commentaire or "").strip(),
        closed_by=acting_user,
    )
    cancelled = _cancel_future_meetings(accompagnement, acting_user, timezone.now())
    summary = f"Accompagnement clôturé le {_d(date_cloture)} : {cloture.get_outcome_display()}"
    if cancelled:
        n = len(cancelled)
        summary += (
            " ; 1 entretien à venir annulé" if n == 1 else f" ; {n} entretiens à venir annulés"
        )
    changes = {
        "statut": [old, CaseStatus.CLOTURE],
        "outcome": [None, outcome],
        "date_cloture": [None, date_cloture],
        "cloture": cloture.pk,
    }
    if cancelled:
        changes["entretiens_annules"] = [e.pk for e in cancelled]
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.CLOSED,
        summary=summary,
        detail=cloture.commentaire,
        changes=changes,
    )
    return cloture


@transaction.atomic
def case_reopen(*, accompagnement, acting_user, reason):
    """Reopen a closed case; its closures stay in the history."""
    reason = _require_text(reason, "reason", "Indiquez le motif de la réouverture.")
    old_date = accompagnement.date_cloture
    try:
        with transaction.atomic():
            _set_status(
                accompagnement,
                expected=[CaseStatus.CLOTURE],
                new=CaseStatus.OUVERT,
                date_cloture=None,
            )
    except IntegrityError as exc:
        accompagnement.refresh_from_db(fields=["statut", "date_cloture"])
        raise ValidationError(
            "Un autre accompagnement est déjà ouvert pour cette personne et cette mission : "
            "il n'est pas possible de rouvrir celui-ci."
        ) from exc
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.REOPENED,
        summary=f"Accompagnement rouvert : {_short(reason, 150)}",
        detail=reason,
        changes={
            "statut": [CaseStatus.CLOTURE, CaseStatus.OUVERT],
            "date_cloture": [old_date, None],
        },
    )
    return accompagnement


@transaction.atomic
def case_suspend(*, accompagnement, acting_user, reason=""):
    reason = (reason or "").strip()
    old = _set_status(accompagnement, expected=[CaseStatus.OUVERT], new=CaseStatus.SUSPENDU)
    summary = "Accompagnement suspendu"
    if reason:
        summary += f" : {_short(reason, 150)}"
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.STATUS,
        summary=summary,
        detail=reason,
        changes={"statut": [old, CaseStatus.SUSPENDU]},
    )
    return accompagnement


@transaction.atomic
def case_resume(*, accompagnement, acting_user, reason=""):
    reason = (reason or "").strip()
    old = _set_status(accompagnement, expected=[CaseStatus.SUSPENDU], new=CaseStatus.OUVERT)
    summary = "Accompagnement repris"
    if reason:
        summary += f" : {_short(reason, 150)}"
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.STATUS,
        summary=summary,
        detail=reason,
        changes={"statut": [old, CaseStatus.OUVERT]},
    )
    return accompagnement


@transaction.atomic
def case_change_referent(*, accompagnement, acting_user, referent):
    if not can_change_referent(acting_user, accompagnement):
        raise PermissionDenied("Seul le responsable de l'unité change le référent.")
    if (
        referent.role != Role.ASS
        or referent.unit_id != accompagnement.unit_id
        or not referent.is_active
    ):
        raise ValidationError({"referent": "Le référent doit être un(e) ASS active de l'unité."})
    if referent.pk == accompagnement.referent_id:
        raise ValidationError({"referent": "Cette personne est déjà la référente du parcours."})
    old = accompagnement.referent
    Accompagnement.objects.filter(pk=accompagnement.pk).update(
        referent=referent, updated_at=timezone.now()
    )
    accompagnement.referent = referent
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=Kind.REFERENT,
        summary=f"Référent du parcours : {old} → {referent}",
        changes={"referent": [old.pk, referent.pk]},
    )
    return accompagnement


# --- Shares (domain §11) -----------------------------------------------------------------------

SHARE_MAX_DAYS = 366


@transaction.atomic
def case_share(*, accompagnement, acting_user, user, reason, date_fin, comment=""):
    """Share the case's content with one ASS (of any unit) until `date_fin` (included).

    Given by the référent or the unit's manager, with a reason; recorded on the timeline and in
    the audit log. The share ends by itself after its end date, or when revoked."""
    if not can_manage_case(acting_user, accompagnement):
        raise PermissionDenied(
            "Seuls le référent et le responsable de l'unité partagent un dossier."
        )
    if case_lock(accompagnement) == CaseStatus.CLOTURE:
        raise ValidationError("L'accompagnement est clôturé : il ne se partage plus.")
    if user is None or user.role != Role.ASS or not user.is_active:
        raise ValidationError({"user": "Un partage se fait avec une ASS active."})
    if user.pk == accompagnement.referent_id:
        raise ValidationError({"user": "Cette personne est la référente du parcours."})
    _require_choice(reason, ShareReason, "reason", "Choisissez le motif du partage.")
    today = timezone.localdate()
    if date_fin is None or date_fin < today:
        raise ValidationError({"date_fin": "La fin du partage ne peut pas être passée."})
    if date_fin > today + datetime.timedelta(days=SHARE_MAX_DAYS):
        raise ValidationError(
            {"date_fin": "Un partage dure au plus un an : renouvelez-le ensuite."}
        )
    comment = (comment or "").strip()[:255]
    try:
        with transaction.atomic():
            share = CaseShare.objects.create(
                accompagnement=accompagnement,
                user=user,
                reason=reason,
                comment=comment,
                date_debut=today,
                date_fin=date_fin,
                created_by=acting_user,
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"user": "Cet accompagnement est déjà partagé avec cette personne."}
        ) from exc
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.SHARE,
        summary=f"Partagé avec {user} ({user.unit}) jusqu'au {date_fin:%d/%m/%Y}",
        detail=f"{share.get_reason_display()}. {comment}".strip(),
        changes={"share": share.pk, "user": user.pk, "reason": reason, "date_fin": date_fin},
    )
    return share


@transaction.atomic
def case_share_revoke(*, share, acting_user):
    """End a share now (the référent or the manager). Revoking twice changes nothing."""
    case = share.accompagnement
    if not can_manage_case(acting_user, case):
        raise PermissionDenied(
            "Seuls le référent et le responsable de l'unité retirent un partage."
        )
    updated = CaseShare.objects.filter(pk=share.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=acting_user
    )
    if not updated:
        raise ValidationError("Ce partage est déjà retiré.")
    share.refresh_from_db()
    case_event_add(
        accompagnement=case,
        acting_user=acting_user,
        kind=CaseEvent.Kind.SHARE,
        summary=f"Partage avec {share.user} retiré",
        changes={"share": share.pk, "revoked": True},
    )
    return share
