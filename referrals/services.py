"""Every change of state of a signalement (referral) goes through a function here.

Each one takes keyword-only arguments including ``acting_user``, runs in a transaction, writes
a :class:`~referrals.models.SignalementEvent` (who, when, old → new, why) and an audit entry,
and refuses what the rules forbid with a French :class:`ValidationError`.

Status workflow (domain §3)
---------------------------

Status changes follow one explicit table, :data:`TRANSITIONS`. Each allowed move says which
action makes it: ``MANUAL`` moves are chosen by a worker in the status form
(:func:`signalement_transition`); the other moves only happen as the consequence of an action
that records what happened.

Service social (from → to, and how)::

    nouveau             → à contacter, hors critères, doublon (MANUAL);
                          contact en cours (CONTACT)
    à contacter         → hors critères, doublon (MANUAL); contact en cours (CONTACT)
    contact en cours    → rencontre proposée, refus, sans réponse, hors critères,
                          doublon (MANUAL); accompagnement ouvert (OPEN_CASE)
    rencontre proposée  → contact en cours (MANUAL, the way back), refus, sans réponse,
                          hors critères (MANUAL); accompagnement ouvert (OPEN_CASE)
    accompagnement ouvert, refus, sans réponse, hors critères, doublon: final

- ``CONTACT``: the first contact attempt (:func:`contact_attempt_add`) moves a referral that is
  nouveau or à contacter to contact en cours; nobody is "in contact" without an attempt.
- ``OPEN_CASE``: accompagnement ouvert is only reached by :func:`signalement_open_case`, which
  opens the case at the same time. It is allowed from contact en cours as well as from
  rencontre proposée: a person reached on the phone may agree to be supported straight away.
- Refus and sans réponse need a contact attempt first, so they are not offered from nouveau
  or à contacter; hors critères and doublon can be decided on the file alone, at any open
  step except doublon after a meeting was proposed (by then the person has been dealt with).
- Rencontre proposée → contact en cours is the way back when the meeting fell through.
- Accompagnement ouvert, refus, sans réponse, hors critères and doublon are final: a person
  who comes back later gets a new referral (the database keeps one open social referral per
  person).

Service médical::

    nouveau → transmis (FORWARD, :func:`signalement_forward`) | classé sans suite (MANUAL)

A medical referral is forwarded only while « nouveau » and while the person is not already
followed by the service social (an open social referral or an open accompagnement:
:func:`already_followed_message`; the médecin conseil's pages show « Déjà suivi par le service
social » instead of « Transmettre », :func:`forward_refusal`). At any status the médecin conseil
records on it a visite de pré-reprise request and a temps partiel thérapeutique decision
(:func:`signalement_record_medical`), which the dispositif rules of the person's case read.

A reason is required for every final status reached by hand and for the way back
(:data:`REASON_REQUIRED`). Concurrency: a status is changed with ``UPDATE … WHERE statut = old``
and the row count is checked, so two people acting on the same referral at once cannot both
succeed; the second one gets an error and nothing changes.

Routing of new social referrals (:func:`signalement_forward`, :func:`signalement_create_manual`):
the unit is the one whose territory holds the person's postal code (:func:`route_unit`); when
that unit has ``auto_assign`` the referral goes to its least loaded ASS. Without a matching
unit, a forwarded referral waits in the regional « à répartir » queue and a manual one stays
in the unit of the person who recorded it. Due date of the first contact: arrêt start +
region's ``first_contact_deadline_day`` − 1 (the start day is day 1, so day 120 by default),
even when that day is already past (the referral then shows as overdue at once: the deadline of
the 4th month was missed); without an arrêt, today + :data:`NO_ARRET_DUE_DAYS` days.
The referral's region (which scopes the médecin conseil's list and the « à répartir » queue) is
the forwarded medical referral's, else that of the arrêt's CPAM, else of the person's CPAM, else
of the unit chosen above, else the creator's: a person without a CPAM is never left unseen.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, Q
from django.utils import timezone

from pdp.audit import audit
from pdp.dates import require_plausible_date
from pdp.identifiers import IdentifierError, nir_check_coherence, nir_normalize
from pdp.meeting_slot import MEETING_LENGTH_MESSAGE, MEETING_MAX_MINUTES, meeting_length_ok
from pdp.models import AuditLog, Region, Role, User
from referrals import hooks, routing
from referrals.markers import region_of
from referrals.models import (
    Assure,
    ContactAttempt,
    DecisionTpt,
    ModeRencontre,
    Origine,
    Service,
    Signalement,
    SignalementEvent,
    Statut,
)
from referrals.permissions import assignable_units, may_name_assignee

# How a transition is made.
MANUAL = "manual"  # chosen in the status form: signalement_transition()
CONTACT = "contact"  # by recording the first contact attempt: contact_attempt_add()
OPEN_CASE = "open_case"  # by opening the accompagnement: signalement_mark_case_opened()
FORWARD = "forward"  # by forwarding to the service social: signalement_forward()

S = Statut
TRANSITIONS = {
    Service.SOCIAL: {
        S.NOUVEAU: {
            S.A_CONTACTER: MANUAL,
            S.CONTACT_EN_COURS: CONTACT,
            S.HORS_CRITERES: MANUAL,
            S.DOUBLON: MANUAL,
        },
        S.A_CONTACTER: {
            S.CONTACT_EN_COURS: CONTACT,
            S.HORS_CRITERES: MANUAL,
            S.DOUBLON: MANUAL,
        },
        S.CONTACT_EN_COURS: {
            S.RENCONTRE_PROPOSEE: MANUAL,
            S.ACCOMPAGNEMENT_OUVERT: OPEN_CASE,
            S.REFUS: MANUAL,
            S.SANS_REPONSE: MANUAL,
            S.HORS_CRITERES: MANUAL,
            S.DOUBLON: MANUAL,
        },
        S.RENCONTRE_PROPOSEE: {
            S.CONTACT_EN_COURS: MANUAL,
            S.ACCOMPAGNEMENT_OUVERT: OPEN_CASE,
            S.REFUS: MANUAL,
            S.SANS_REPONSE: MANUAL,
            S.HORS_CRITERES: MANUAL,
        },
    },
    Service.MEDICAL: {
        S.NOUVEAU: {
            S.TRANSMIS: FORWARD,
            S.CLASSE: MANUAL,
        },
    },
}

# Final statuses set by hand, and the way back from a proposed meeting, need a reason.
FINAL_WITHOUT_CASE = {S.REFUS, S.SANS_REPONSE, S.HORS_CRITERES, S.DOUBLON, S.CLASSE}
REASON_REQUIRED = FINAL_WITHOUT_CASE | {S.CONTACT_EN_COURS}

# Origins a worker may choose when recording a referral by hand.
MANUAL_ORIGINS = (
    Origine.SPST,
    Origine.MEDECIN_TRAITANT,
    Origine.ASSURE,
    Origine.CAP_EMPLOI,
    Origine.MDPH,
    Origine.PARTENAIRE,
)

NO_ARRET_DUE_DAYS = 30
# A contact attempt may be dated a little ahead (clocks differ), not in the future.
CONTACT_CLOCK_TOLERANCE = datetime.timedelta(minutes=5)

_HOW_MESSAGES = {
    CONTACT: "Ce changement se fait en enregistrant une tentative de contact.",
    OPEN_CASE: "Ce changement se fait avec « Ouvrir un accompagnement ».",
    FORWARD: "Ce changement se fait avec « Transmettre au service social ».",
}


def _lock_open_social(signalement, refused):
    """Lock the referral row and refresh its status; refuse (`refused`: what cannot be done)
    unless it is an open service social referral."""
    locked = Signalement.objects.select_for_update().get(pk=signalement.pk)
    signalement.statut = locked.statut
    if signalement.service != Service.SOCIAL or not locked.is_open:
        raise ValidationError(
            f"Le signalement est clos (statut « {_label(locked.statut)} ») : {refused}."
        )
    return locked


def _label(status):
    return Statut(status).label


def next_statuses(signalement, how=MANUAL):
    """Statuses reachable from the referral's current one by `how` (in table order)."""
    table = TRANSITIONS.get(signalement.service, {}).get(signalement.statut, {})
    return [status for status, way in table.items() if way == how]


def _check_transition(signalement, old, new, how):
    table = TRANSITIONS.get(signalement.service, {})
    if old == new:
        raise ValidationError(f"Le signalement est déjà au statut « {_label(old)} ».")
    way = table.get(old, {}).get(new)
    if way is None:
        if old not in table:
            raise ValidationError(
                f"Le signalement est clos (statut « {_label(old)} ») : "
                "son statut ne peut plus changer."
            )
        allowed = ", ".join(f"« {_label(s)} »" for s in table[old])
        raise ValidationError(
            f"Passage du statut « {_label(old)} » à « {_label(new)} » impossible. "
            f"Statuts possibles : {allowed}."
        )
    if way != how:
        raise ValidationError(_HOW_MESSAGES.get(way, "Ce changement de statut est impossible."))


def _set_status(*, signalement, old, new, acting_user, reason, kind=SignalementEvent.Kind.STATUS):
    """Conditional update: succeeds only if the row still has status `old`."""
    updated = Signalement.objects.filter(pk=signalement.pk, statut=old).update(
        statut=new, updated_at=timezone.now()
    )
    if updated != 1:
        current = (
            Signalement.objects.filter(pk=signalement.pk).values_list("statut", flat=True).first()
        )
        now = f" (statut actuel : « {_label(current)} »)" if current else ""
        raise ValidationError(
            "Le statut de ce signalement vient d'être modifié par une autre personne"
            f"{now}. Rechargez la page et recommencez si besoin."
        )
    signalement.statut = new
    SignalementEvent.objects.create(
        signalement=signalement,
        actor=acting_user,
        kind=kind,
        old_value=old,
        new_value=new,
        reason=reason,
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=signalement,
        assure_id=signalement.assure_id,
        changes={"statut": [old, new], "motif": reason},
    )
    return signalement


@transaction.atomic
def signalement_transition(*, signalement, to_status, acting_user, reason="", from_status=None):
    """Change the status by hand (the MANUAL moves of :data:`TRANSITIONS`).

    `from_status` is the status the user saw when choosing (defaults to the instance's):
    if the referral changed in between, nothing happens and an error says so.
    """
    old = from_status or signalement.statut
    reason = (reason or "").strip()
    _check_transition(signalement, old, to_status, MANUAL)
    if to_status in REASON_REQUIRED and not reason:
        raise ValidationError(
            {"reason": f"Indiquez le motif du passage au statut « {_label(to_status)} »."}
        )
    return _set_status(
        signalement=signalement, old=old, new=to_status, acting_user=acting_user, reason=reason
    )


@transaction.atomic
def contact_attempt_add(
    *, signalement, acting_user, canal, resultat, at=None, note="", propose_meeting=False
):
    """Record a contact attempt. The first one moves nouveau / à contacter to contact en cours.

    With `propose_meeting` (only when the person was reached) the referral then moves on to
    rencontre proposée.
    """
    _lock_open_social(signalement, "aucune tentative de contact ne peut être ajoutée")
    at = at or timezone.now()
    if timezone.is_naive(at):
        raise ValueError("`at` must be an aware datetime.")
    if at > timezone.now() + CONTACT_CLOCK_TOLERANCE:
        raise ValidationError({"at": "La date de la tentative ne peut pas être dans le futur."})
    require_plausible_date(at, field="at", label="La date de la tentative")
    if propose_meeting and resultat != ContactAttempt.Resultat.JOINT:
        raise ValidationError(
            {"propose_meeting": "Une rencontre ne peut être proposée qu'à une personne jointe."}
        )
    attempt = ContactAttempt.objects.create(
        signalement=signalement,
        at=at,
        canal=canal,
        resultat=resultat,
        note=note,
        user=acting_user,
    )
    SignalementEvent.objects.create(
        signalement=signalement,
        actor=acting_user,
        kind=SignalementEvent.Kind.CONTACT,
        new_value=str(attempt)[:100],
        reason=note,
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=attempt,
        assure_id=signalement.assure_id,
        changes={"canal": canal, "resultat": resultat},
    )
    if signalement.statut in (S.NOUVEAU, S.A_CONTACTER):
        _set_status(
            signalement=signalement,
            old=signalement.statut,
            new=S.CONTACT_EN_COURS,
            acting_user=acting_user,
            reason="Première tentative de contact.",
        )
    if propose_meeting and signalement.statut != S.RENCONTRE_PROPOSEE:
        _check_transition(signalement, signalement.statut, S.RENCONTRE_PROPOSEE, MANUAL)
        _set_status(
            signalement=signalement,
            old=signalement.statut,
            new=S.RENCONTRE_PROPOSEE,
            acting_user=acting_user,
            reason="Rencontre proposée lors du contact.",
        )
    return attempt


# --- New social referrals: routing, due date, one open referral per person ----------------


def _open_social_referral_message(existing):
    where = str(existing.unit) if existing.unit_id else "file régionale « à répartir »"
    return (
        "Un signalement au service social est déjà en cours pour cette personne : "
        f"signalement du {existing.date_signalement:%d/%m/%Y} ({existing.get_origine_display()}), "
        f"{where}, statut « {existing.get_statut_display()} »."
    )


FOLLOWED_ELSEWHERE = (
    "Cette personne fait déjà l'objet d'un suivi en cours par le service social : aucun "
    "signalement n'a été créé. Votre responsable d'unité peut vous orienter."
)


def followed_by_service_social(assure_ref):
    """An expression: the person `assure_ref` (an OuterRef or F) is already followed by the
    service social — an open social referral or an open accompagnement (through
    `referrals.hooks`). The list form of :func:`already_followed_message`."""
    open_referral = Exists(
        Signalement.objects.open().filter(assure_id=assure_ref, service=Service.SOCIAL)
    )
    return ExpressionWrapper(
        Q(open_referral) | Q(hooks.open_case_exists(assure_ref)), output_field=BooleanField()
    )


def already_followed_message(assure, acting_user):
    """Why no new social referral may be raised for `assure` (French), or None: an open social
    referral or an open accompagnement. Forwarding and manual referrals refuse with it; the
    médecin conseil's pages show it instead of « Transmettre ». Where the follow-up is (unit,
    dates, status) is said only to whoever may see the person; anyone else learns only that a
    follow-up exists."""
    existing = (
        Signalement.objects.open()
        .filter(assure=assure, service=Service.SOCIAL)
        .select_related("unit")
        .first()
    )
    case = hooks.open_case_of(assure) if existing is None else None
    if existing is None and case is None:
        return None
    if not Assure.objects.visible_to(acting_user).filter(pk=assure.pk).exists():
        return FOLLOWED_ELSEWHERE
    if existing is not None:
        return _open_social_referral_message(existing)
    return (
        "Cette personne est déjà accompagnée par le service social "
        f"({case.unit}, accompagnement ouvert le {case.date_ouverture:%d/%m/%Y}) : "
        "adressez-vous à son référent plutôt que de créer un signalement."
    )


def _refuse_if_already_followed(assure, acting_user):
    message = already_followed_message(assure, acting_user)
    if message is not None:
        raise ValidationError(message)


def _region_for(assure, arret, unit, acting_user):
    """The referral's region, whose settings apply: the arrêt's CPAM's, else the person's (as
    detection does), else the unit's (routed by postal code, else the creator's), else the
    creator's own region."""
    region = region_of(arret, assure=assure)
    if region is not None:
        return region
    if unit is not None:
        return unit.region
    region_id = acting_user.effective_region_id() if acting_user else None
    return Region.objects.filter(pk=region_id).first() if region_id else None


def first_contact_due_date(*, arret, region, today=None):
    """Arrêt start + deadline − 1 (day 120 by default), or today + 30 days without an arrêt."""
    today = today or timezone.localdate()
    if arret is None:
        return today + datetime.timedelta(days=NO_ARRET_DUE_DAYS)
    deadline = (
        region.first_contact_deadline_day
        if region is not None
        else Region._meta.get_field("first_contact_deadline_day").default
    )
    return arret.date_debut + datetime.timedelta(days=deadline - 1)


def _create_social_referral(
    *,
    assure,
    origine,
    motif,
    acting_user,
    arret=None,
    forwarded_from=None,
    fallback_unit=None,
    region=None,
):
    unit = routing.route_unit(assure.code_postal) or fallback_unit
    region = region or _region_for(assure, arret, unit, acting_user)
    if region is None:
        raise ValidationError(
            "Impossible de rattacher ce signalement à une région\N{NO-BREAK SPACE}: renseignez "
            "la CPAM de la personne ou son code postal."
        )
    due = first_contact_due_date(arret=arret, region=region)
    # One social referral per arrêt (database constraint): when the arrêt already had one
    # (closed, else we would have refused), the new referral is not linked to it.
    link_arret = arret
    if arret is not None and arret.signalements.filter(service=Service.SOCIAL).exists():
        link_arret = None
    try:
        with transaction.atomic():
            signalement = Signalement.objects.create(
                assure=assure,
                arret=link_arret,
                service=Service.SOCIAL,
                origine=origine,
                statut=S.NOUVEAU,
                unit=unit,
                region=region,
                date_echeance=due,
                motif=motif,
                forwarded_from=forwarded_from,
                created_by=acting_user if acting_user and acting_user.is_authenticated else None,
            )
    except IntegrityError as exc:  # a concurrent request created one in between
        existing = Signalement.objects.open().filter(assure=assure, service=Service.SOCIAL)
        existing = existing.select_related("unit").first()
        if existing is None:
            raise
        raise ValidationError(_open_social_referral_message(existing)) from exc
    SignalementEvent.objects.create(
        signalement=signalement,
        actor=acting_user,
        kind=SignalementEvent.Kind.CREATED,
        new_value=(str(unit) if unit else "À répartir")[:100],
        reason=motif,
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=signalement,
        assure_id=assure.pk,
        changes={"origine": origine, "unit": unit, "date_echeance": due},
    )
    if unit is not None and unit.auto_assign:
        worker = routing.lightest_worker(unit)
        if worker is not None:
            signalement = routing.signalement_assign(
                signalement=signalement,
                acting_user=None,
                unit=unit,
                assigned_to=worker,
                reason="Attribution automatique à l'ASS la moins chargée de l'unité.",
            )
    return signalement


@transaction.atomic
def signalement_forward(*, signalement, acting_user, motif):
    """The médecin conseil forwards a service médical referral to the service social.

    The medical referral becomes « transmis »; a social referral (origin médecin conseil,
    `forwarded_from` set) is created and routed. The reason must not contain any diagnosis.
    """
    motif = (motif or "").strip()
    if signalement.service != Service.MEDICAL:
        raise ValidationError("Seul un signalement du service médical peut être transmis.")
    if not motif:
        raise ValidationError(
            {"motif": "Indiquez le motif de la transmission (sans aucun diagnostic)."}
        )
    _check_transition(signalement, signalement.statut, S.TRANSMIS, FORWARD)
    _refuse_if_already_followed(signalement.assure, acting_user)
    _set_status(
        signalement=signalement,
        old=signalement.statut,
        new=S.TRANSMIS,
        acting_user=acting_user,
        reason=motif,
        kind=SignalementEvent.Kind.FORWARDED,
    )
    return _create_social_referral(
        assure=signalement.assure,
        origine=Origine.MEDECIN_CONSEIL,
        motif=motif,
        acting_user=acting_user,
        arret=signalement.arret,
        forwarded_from=signalement,
        region=signalement.region,
    )


def forward_refusal(signalement, acting_user):
    """Why the médecin conseil cannot forward `signalement` now (French), or None: it is not a
    « nouveau » service médical referral, or the person is already followed by the service
    social. What the pages offer; :func:`signalement_forward` refuses the same cases."""
    if signalement.service != Service.MEDICAL:
        return "Seul un signalement du service médical peut être transmis."
    if signalement.statut != S.NOUVEAU:
        return (
            f"Ce signalement est au statut « {_label(signalement.statut)} »\N{NO-BREAK SPACE}: "
            "il ne peut plus être transmis."
        )
    return already_followed_message(signalement.assure, acting_user)


def _medical_summary(values):
    """« pré-reprise demandée le … ; TPT accordé le … » for the referral's history."""
    parts = []
    if values["visite_pre_reprise_demandee_le"]:
        parts.append(f"pré-reprise demandée le {values['visite_pre_reprise_demandee_le']:%d/%m/%Y}")
    if values["tpt_decision"]:
        label = DecisionTpt(values["tpt_decision"]).label.lower()
        parts.append(f"TPT {label} le {values['tpt_decision_le']:%d/%m/%Y}")
    return "\N{NO-BREAK SPACE}; ".join(parts)[:100]


@transaction.atomic
def signalement_record_medical(
    *,
    signalement,
    acting_user,
    visite_pre_reprise_demandee_le=None,
    tpt_decision="",
    tpt_decision_le=None,
):
    """The médecin conseil records on a service médical referral (any status: the return to
    work comes after the forward) a visite de pré-reprise request and / or a temps partiel
    thérapeutique decision, with its date. Empty values erase a recorded one (a correction,
    logged like the rest). Dates are not in the future; a request is not before the arrêt.

    Writes an event « Décision du médecin conseil » (old → new) and an audit row; nothing
    when nothing changed. The person's case reads them (`cases.dispositifs`).
    """
    locked = (
        Signalement.objects.select_for_update(of=("self",))
        .select_related("arret")
        .get(pk=signalement.pk)
    )
    if locked.service != Service.MEDICAL:
        raise ValidationError(
            "Les décisions du médecin conseil s'enregistrent sur un signalement du service médical."
        )
    tpt_decision = tpt_decision or ""
    today = timezone.localdate()
    errors = {}
    if tpt_decision not in ("", *DecisionTpt.values):
        errors["tpt_decision"] = "Décision inconnue."
    elif tpt_decision and tpt_decision_le is None:
        errors["tpt_decision_le"] = "Indiquez la date de la décision."
    elif tpt_decision_le is not None and not tpt_decision:
        errors["tpt_decision"] = "Indiquez la décision (accordé ou refusé)."
    for field, value in (
        ("visite_pre_reprise_demandee_le", visite_pre_reprise_demandee_le),
        ("tpt_decision_le", tpt_decision_le),
    ):
        if value is not None and value > today:
            errors.setdefault(field, "La date ne peut pas être dans le futur.")
    arret = locked.arret
    if (
        visite_pre_reprise_demandee_le is not None
        and arret is not None
        and visite_pre_reprise_demandee_le < arret.date_debut
    ):
        errors.setdefault(
            "visite_pre_reprise_demandee_le",
            f"La visite de pré-reprise se demande pendant l'arrêt (commencé le "
            f"{arret.date_debut:%d/%m/%Y}).",
        )
    if errors:
        raise ValidationError(errors)
    new = {
        "visite_pre_reprise_demandee_le": visite_pre_reprise_demandee_le,
        "tpt_decision": tpt_decision,
        "tpt_decision_le": tpt_decision_le,
    }
    changed = {k: [getattr(locked, k), v] for k, v in new.items() if getattr(locked, k) != v}
    if not changed:
        return signalement
    Signalement.objects.filter(pk=locked.pk).update(**new, updated_at=timezone.now())
    for name, value in new.items():
        setattr(signalement, name, value)
    SignalementEvent.objects.create(
        signalement=signalement,
        actor=acting_user,
        kind=SignalementEvent.Kind.MEDICAL,
        old_value=_medical_summary({k: getattr(locked, k) for k in new}),
        new_value=_medical_summary(new) or "effacé",
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=signalement,
        assure_id=signalement.assure_id,
        changes=changed,
    )
    return signalement


@transaction.atomic
def signalement_create_manual(
    *,
    acting_user,
    origine,
    nir,
    motif,
    nom="",
    prenom="",
    date_naissance=None,
    sexe="",
    code_postal="",
    commune="",
    telephone="",
    cpam=None,
    arret=None,
):
    """Record a referral received from a partner or the person; returns (signalement, created).

    The person is found by NIR (typed with or without spaces); only when unknown is a new
    assuré created from the identity fields (which are otherwise ignored). `created` says
    whether the assuré was created.
    """
    if origine not in MANUAL_ORIGINS:
        raise ValidationError({"origine": "Origine de signalement invalide."})
    motif = (motif or "").strip()
    if not motif:
        raise ValidationError({"motif": "Indiquez le motif du signalement (sans diagnostic)."})
    try:
        nir = nir_normalize(nir)
    except IdentifierError as exc:
        raise ValidationError({"nir": exc.message}) from exc

    assure = Assure.objects.select_related("cpam__region").filter(nir=nir).first()
    created = False
    if assure is None:
        errors = {}
        if not (nom or "").strip():
            errors["nom"] = "Le nom est obligatoire pour une personne inconnue."
        if not (prenom or "").strip():
            errors["prenom"] = "Le prénom est obligatoire pour une personne inconnue."
        problems = nir_check_coherence(nir, sex=sexe or None, birth_date=date_naissance)
        if problems:
            errors["nir"] = problems
        if errors:
            raise ValidationError(errors)
        assure, created = Assure.objects.get_or_create(
            nir=nir,
            defaults={
                "nom_naissance": nom.strip(),
                "prenoms": prenom.strip(),
                "date_naissance": date_naissance,
                "sexe": sexe or "",
                "code_postal": code_postal or "",
                "commune": commune or "",
                "telephone": telephone or "",
                "cpam": cpam,
            },
        )
        if created:
            audit(
                user=acting_user,
                action=AuditLog.Action.CREATE,
                obj=assure,
                assure_id=assure.pk,
                changes={"origine": "signalement manuel"},
            )
    if arret is not None and arret.assure_id != assure.pk:
        raise ValidationError("Cet arrêt ne concerne pas cette personne.")
    _refuse_if_already_followed(assure, acting_user)
    signalement = _create_social_referral(
        assure=assure,
        origine=origine,
        motif=motif,
        acting_user=acting_user,
        arret=arret,
        fallback_unit=acting_user.unit if acting_user.unit_id else None,
    )
    return signalement, created


# Origins of a referral the person asks for themself (outreach: after a webinar, answering a
# campaign online or on the phone to a conseiller).
REQUEST_ORIGINS = (Origine.WEBINAIRE, Origine.CAMPAGNE)


@transaction.atomic
def signalement_create_on_request(
    *, assure, origine, motif, acting_user=None, fallback_unit=None, fallback_region=None
):
    """A service social referral the person asks for themself (after a webinar: origin
    « webinaire »), with no worker behind it (`acting_user` None). Routed like the others: the
    unit of the person's postal code, else `fallback_unit` (the unit that invited them), else
    the regional « à répartir » queue; automatic assignment applies; the region is the
    person's (CPAM), else the unit's, else `fallback_region`. Refused with a French
    ValidationError while the person already has an open social referral or an open case (the
    caller checks it first, to record the request there instead); the person's row is locked
    so that two requests at once make one referral."""
    if origine not in REQUEST_ORIGINS:
        raise ValueError(f"not an origin a person asks with: {origine!r}")
    motif = (motif or "").strip()
    if not motif:
        raise ValidationError({"motif": "Indiquez le motif du signalement (sans diagnostic)."})
    assure = (
        Assure.objects.select_for_update(of=("self",))
        .select_related("cpam__region")
        .get(pk=assure.pk)
    )
    if (
        Signalement.objects.open().filter(assure=assure, service=Service.SOCIAL).exists()
        or hooks.open_case_of(assure) is not None
    ):
        raise ValidationError(FOLLOWED_ELSEWHERE)
    unit = routing.route_unit(assure.code_postal) or fallback_unit
    region = _region_for(assure, None, unit, acting_user) or fallback_region
    return _create_social_referral(
        assure=assure,
        origine=origine,
        motif=motif,
        acting_user=acting_user,
        fallback_unit=fallback_unit,
        region=region,
    )


# --- Assignment and opening the case ------------------------------------------------------


@transaction.atomic
def signalement_assign(*, signalement, acting_user, unit, assigned_to=None, reason=""):
    """Checked entry point to :func:`referrals.routing.signalement_assign`.

    Only open social referrals move. The unit must be one the acting manager may send the
    referral to (:func:`referrals.permissions.assignable_units`: within their unit, or from the
    regional queue to a unit of their region) and the person one of that unit's
    :func:`referrals.routing.eligible_assignees` (an active ASS or conseiller).
    """
    if signalement.service != Service.SOCIAL or not signalement.is_open:
        raise ValidationError("Seul un signalement au service social en cours peut être attribué.")
    if unit is None:
        raise ValidationError({"unit": "Choisissez une unité."})
    if not assignable_units(acting_user, signalement).filter(pk=unit.pk).exists():
        raise ValidationError({"unit": _unit_refusal(acting_user, signalement, unit)})
    if assigned_to is not None and not may_name_assignee(acting_user, signalement, unit):
        raise ValidationError(
            {
                "assigned_to": (
                    f"Pour l'envoyer à « {unit} », laissez « Non attribué » : le responsable de "
                    "cette unité l'attribuera."
                )
            }
        )
    if (
        assigned_to is not None
        and not routing.eligible_assignees(unit).filter(pk=assigned_to.pk).exists()
    ):
        raise ValidationError(
            {
                "assigned_to": (
                    f"{assigned_to} ne peut pas recevoir ce signalement : choisissez une ASS ou "
                    f"un conseiller en activité de l'unité « {unit} »."
                )
            }
        )
    if signalement.unit_id == unit.pk and signalement.assigned_to_id == (
        assigned_to.pk if assigned_to else None
    ):
        raise ValidationError("Le signalement est déjà attribué ainsi : rien à changer.")
    old = {"unit": signalement.unit_id, "assigned_to": signalement.assigned_to_id}
    signalement = routing.signalement_assign(
        signalement=signalement,
        acting_user=acting_user,
        unit=unit,
        assigned_to=assigned_to,
        reason=(reason or "").strip(),
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=signalement,
        assure_id=signalement.assure_id,
        changes={
            "unit": [old["unit"], signalement.unit_id],
            "assigned_to": [old["assigned_to"], signalement.assigned_to_id],
        },
    )
    return signalement


def _unit_refusal(acting_user, signalement, unit):
    if acting_user is None or acting_user.role != Role.MANAGER or not acting_user.unit_id:
        return "Seul un responsable d'unité attribue un signalement."
    if unit.region_id != acting_user.unit.region_id:
        return "Ce signalement ne peut être confié qu'à une unité de votre région."
    return "Seul le responsable de l'unité du signalement le confie à une autre unité."


# --- Hand-over after the first contact: the proposed first meeting -----------------------

HAND_OVER_REASON = "Passage de relais après premier contact"


def _local_label(moment):
    return f"{timezone.localtime(moment):%d/%m/%Y à %H:%M}"


def proposed_meeting_conflict(ass, debut, fin, exclude_pk=None):
    """The open referral whose proposed first meeting with `ass` overlaps [debut, fin), or
    None. Checked with the entretiens of her cases (`hooks.meeting_conflict`) when a first
    meeting is proposed, and by `cases.agenda` when an entretien is planned."""
    window_start = debut - datetime.timedelta(minutes=MEETING_MAX_MINUTES)
    candidates = (
        Signalement.objects.open()
        .filter(rdv_ass=ass, rdv_debut__gt=window_start, rdv_debut__lt=fin)
        .exclude(pk=exclude_pk)
        .order_by("rdv_debut")
    )
    return next((other for other in candidates if other.rdv_fin > debut), None)


def can_hand_over(signalement, reached=None):
    """Whether the referral's state allows the hand-over: social, « contact en cours » or
    « rencontre proposée », and the person was reached (a contact attempt « personne jointe »;
    `reached` when the caller already knows, else one query)."""
    if signalement.service != Service.SOCIAL:
        return False
    if signalement.statut not in (S.CONTACT_EN_COURS, S.RENCONTRE_PROPOSEE):
        return False
    if reached is None:
        reached = signalement.contact_attempts.filter(
            resultat=ContactAttempt.Resultat.JOINT
        ).exists()
    return reached


@transaction.atomic
def signalement_hand_over(*, signalement, acting_user, ass, debut, mode, duree_minutes=60):
    """The conseiller who reached the person books their first meeting with an ASS of the
    unit and hands the referral over to her.

    In one transaction: the referral moves to « rencontre proposée » (if it was « contact en
    cours »), the proposed meeting is recorded on it (date, length, mode, ASS, who proposed
    it), and it is assigned to that ASS (event « Attribution », reason « passage de relais
    après premier contact »). The meeting is in the future and may not overlap a planned
    entretien of the ASS or another first meeting proposed to her; when she opens the case,
    it becomes a planned entretien of the case (`cases.services.case_open_from_signalement`).
    """
    locked = _lock_open_social(signalement, "aucun rendez-vous ne peut plus y être proposé")
    if not can_hand_over(signalement):
        raise ValidationError(
            "Le relais se passe une fois la personne jointe : enregistrez d'abord la tentative "
            "de contact réussie."
        )
    unit = locked.unit
    errors = {}
    if ass is None or not (
        routing.eligible_assignees(unit).filter(pk=ass.pk, role=Role.ASS).exists()
    ):
        errors["ass"] = f"Choisissez une ASS en activité de l'unité « {unit} »."
    if mode not in ModeRencontre.values:
        errors["mode"] = "Modalité inconnue."
    if not meeting_length_ok(duree_minutes):
        errors["duree_minutes"] = MEETING_LENGTH_MESSAGE
    if timezone.is_naive(debut):
        raise ValueError("`debut` must be an aware datetime.")
    if debut <= timezone.now():
        errors["debut"] = "Le rendez-vous proposé doit être dans le futur."
    if errors:
        raise ValidationError(errors)
    # Two bookings for the same ASS at once wait for each other here, so the second one sees
    # the first when it checks for an overlap.
    User.objects.select_for_update().filter(pk=ass.pk).values_list("pk", flat=True).get()
    fin = debut + datetime.timedelta(minutes=duree_minutes)
    conflict = hooks.meeting_conflict(ass, debut, fin)
    other = proposed_meeting_conflict(ass, debut, fin, exclude_pk=signalement.pk)
    if other is not None:
        conflict = f"un premier rendez-vous proposé le {_local_label(other.rdv_debut)}"
    if conflict:
        raise ValidationError({"debut": f"{ass} a déjà {conflict} sur ce créneau."})

    if signalement.statut == S.CONTACT_EN_COURS:
        _set_status(
            signalement=signalement,
            old=signalement.statut,
            new=S.RENCONTRE_PROPOSEE,
            acting_user=acting_user,
            reason="Rencontre proposée lors du premier contact.",
        )
    mode_label = ModeRencontre(mode).label.lower()
    Signalement.objects.filter(pk=signalement.pk).update(
        rdv_debut=debut,
        rdv_duree_minutes=duree_minutes,
        rdv_mode=mode,
        rdv_ass=ass,
        rdv_par=acting_user,
        updated_at=timezone.now(),
    )
    old_worker = locked.assigned_to_id
    signalement = routing.signalement_assign(
        signalement=signalement,
        acting_user=acting_user,
        unit=unit,
        assigned_to=ass,
        reason=(
            f"{HAND_OVER_REASON} : premier rendez-vous proposé le {_local_label(debut)} "
            f"({mode_label}, {duree_minutes} min)."
        ),
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=signalement,
        assure_id=signalement.assure_id,
        changes={
            "assigned_to": [old_worker, ass.pk],
            "rdv_debut": [locked.rdv_debut, debut],
            "rdv_mode": mode,
            "rdv_duree_minutes": duree_minutes,
            "rdv_ass": ass.pk,
        },
    )
    return signalement


@transaction.atomic
def signalement_meeting_cancel(*, signalement, acting_user, reason=""):
    """The proposed first meeting is cancelled: its slot is freed (the `rdv_*` fields emptied)
    and a referral still « rencontre proposée » goes back to « contact en cours », with
    `reason` on its timeline."""
    locked = Signalement.objects.select_for_update().get(pk=signalement.pk)
    Signalement.objects.filter(pk=locked.pk).update(
        rdv_debut=None,
        rdv_duree_minutes=None,
        rdv_mode="",
        rdv_ass=None,
        rdv_par=None,
        updated_at=timezone.now(),
    )
    if locked.statut == S.RENCONTRE_PROPOSEE:
        signalement_transition(
            signalement=locked,
            to_status=S.CONTACT_EN_COURS,
            acting_user=acting_user,
            reason=reason,
        )
    return locked


def can_lead_to_case(signalement):
    """Whether the referral's status allows opening its accompagnement now."""
    table = TRANSITIONS.get(signalement.service, {})
    return table.get(signalement.statut, {}).get(S.ACCOMPAGNEMENT_OUVERT) == OPEN_CASE


def signalement_mark_case_opened(*, signalement, acting_user, reason):
    """The referral's side of opening its accompagnement (called by `cases.services`, in its
    transaction): « accompagnement ouvert », with an event. Refused unless the person was
    reached."""
    if signalement.service != Service.SOCIAL:
        raise ValidationError("Seul un signalement au service social mène à un accompagnement.")
    old = signalement.statut
    if not can_lead_to_case(signalement):
        if old not in TRANSITIONS[Service.SOCIAL]:
            _check_transition(signalement, old, S.ACCOMPAGNEMENT_OUVERT, OPEN_CASE)
        raise ValidationError(
            "Un accompagnement s'ouvre une fois la personne jointe (statut « Contact en cours » "
            "ou « Rencontre proposée ») : enregistrez d'abord la tentative de contact."
        )
    _set_status(
        signalement=signalement,
        old=old,
        new=S.ACCOMPAGNEMENT_OUVERT,
        acting_user=acting_user,
        reason=reason,
    )
    return signalement
