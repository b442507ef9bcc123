"""Every change of state of the cellule PDP goes through a function here (keyword-only
arguments, `acting_user`, one transaction, an event row: `ReunionEvent` for the meeting,
`CaseEvent` on the case timeline for what the référent must see, an audit row for what touches
a person's file). Refusals raise ValidationError with a French message and change nothing.
"""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from cases.models import CaseEvent, CaseStatus, Consentement, DispositifStatut
from cases.permissions import can_manage_case
from cases.services import case_event_add
from coordination import tasks
from coordination.models import (
    ActionInstance,
    Addendum,
    Decision,
    Instance,
    MembreInstance,
    Organisation,
    PointOrdreDuJour,
    Presence,
    Reunion,
    ReunionEvent,
    Saisine,
    TailleEntreprise,
    TrancheAge,
    TypeDecision,
    Urgence,
)
from coordination.permissions import is_coordinator
from pdp.audit import audit, jsonable
from pdp.dates import require_plausible_date
from pdp.models import AuditLog
from referrals.models import ArretTravail

S = Saisine.Statut
R = Reunion.Statut

CONSENT_MISSING = (
    "L'assuré n'a pas donné (ou a révoqué) son consentement à la présentation de sa situation"
    " à la cellule PDP. Recueillez ce consentement avant de présenter la situation."
)


def _d(day):
    return day.strftime("%d/%m/%Y") if day else "—"


def _dt(moment):
    return timezone.localtime(moment).strftime("%d/%m/%Y à %H:%M")


def _reunion_event(reunion, acting_user, summary, changes=None):
    return ReunionEvent.objects.create(
        reunion=reunion, actor=acting_user, summary=summary[:255], changes=jsonable(changes or {})
    )


def _require_coordinator(user, instance):
    if not is_coordinator(user, instance):
        raise PermissionDenied("Seul·e un·e coordinateur·rice de l'instance peut le faire.")


def _require_text(value, field, message):
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value


def _set_reunion_status(reunion, *, expected, new, **extra):
    """UPDATE … WHERE statut IN expected: two coordinators acting at once change it once."""
    updated = Reunion.objects.filter(pk=reunion.pk, statut__in=expected).update(statut=new, **extra)
    if not updated:
        reunion.refresh_from_db(fields=["statut"])
        raise ValidationError(
            f"La réunion est « {reunion.get_statut_display().lower()} » : "
            "cette action n'est plus possible."
        )
    old = reunion.statut
    reunion.statut = new
    for name, value in extra.items():
        setattr(reunion, name, value)
    return old


def _require_editable(reunion):
    if reunion.is_locked:
        raise ValidationError(
            "Le compte rendu est validé et verrouillé : ajoutez un addendum pour le corriger."
        )
    if not reunion.is_editable:
        raise ValidationError(
            "Arrêtez d'abord l'ordre du jour : les décisions se prennent pendant la réunion."
        )


def case_event_cellule(*, saisine, acting_user, summary, detail="", changes=None):
    """What the référent sees of the cellule on the case timeline."""
    return case_event_add(
        accompagnement=saisine.accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.CELLULE,
        summary=summary,
        detail=detail,
        changes={"saisine": saisine.pk, **(changes or {})},
    )


# --- Reading a fiche: the access log ----------------------------------------------------------


def fiches_read(*, user, saisines, page):
    """A page showed these fiches: one read row per situation, in one statement."""
    rows = [
        AuditLog(
            user=user,
            action=AuditLog.Action.VIEW,
            object_type=Saisine._meta.label_lower,
            object_id=str(saisine.pk),
            assure_id=saisine.accompagnement.assure_id,
            changes={"page": page},
        )
        for saisine in saisines
    ]
    AuditLog.objects.bulk_create(rows)
    return len(rows)


# --- Members -----------------------------------------------------------------------------------


@transaction.atomic
def membre_add(
    *,
    instance,
    acting_user,
    organisation,
    user=None,
    contact=None,
    fonction="",
    date_debut=None,
    date_fin=None,
):
    _require_coordinator(acting_user, instance)
    if organisation not in Organisation.values:
        raise ValidationError({"organisation": "Choisissez l'organisation du membre."})
    if user is None and contact is None:
        raise ValidationError("Choisissez un compte ou un contact partenaire.")
    if user is not None and (user.is_admin or not user.is_active):
        raise ValidationError({"user": "Ce compte ne peut pas être membre d'une instance."})
    date_debut = date_debut or timezone.localdate()
    require_plausible_date(date_debut, field="date_debut", label="La date de début")
    if date_fin is not None:
        require_plausible_date(date_fin, field="date_fin", label="La date de fin")
        if date_fin < date_debut:
            raise ValidationError({"date_fin": "La fin de l'adhésion suit son début."})
    duplicate = MembreInstance.objects.active(date_debut).filter(instance=instance)
    if user is not None and duplicate.filter(user=user).exists():
        raise ValidationError({"user": "Cette personne est déjà membre de l'instance."})
    if contact is not None and duplicate.filter(contact=contact).exists():
        raise ValidationError({"contact": "Ce contact est déjà membre de l'instance."})
    membre = MembreInstance.objects.create(
        instance=instance,
        user=user,
        contact=contact,
        organisation=organisation,
        fonction=fonction.strip(),
        date_debut=date_debut,
        date_fin=date_fin,
    )
    # Invited to the meetings not held yet that fall within the membership.
    reunions = instance.reunions.upcoming().filter(debut__date__gte=date_debut)
    if date_fin is not None:
        reunions = reunions.filter(debut__date__lte=date_fin)
    Presence.objects.bulk_create(
        [Presence(reunion=r, membre=membre) for r in reunions], ignore_conflicts=True
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=membre,
        changes={"instance": instance.pk, "membre": membre.nom, "organisation": organisation},
    )
    return membre


@transaction.atomic
def membre_end(*, membre, acting_user, date_fin=None):
    _require_coordinator(acting_user, membre.instance)
    if membre.date_fin is not None and membre.date_fin < timezone.localdate():
        # Ending it again with a later date would reopen a past membership.
        raise ValidationError("Cette adhésion est déjà terminée.")
    date_fin = date_fin or timezone.localdate()
    require_plausible_date(date_fin, field="date_fin", label="La date de fin")
    if date_fin < membre.date_debut:
        raise ValidationError({"date_fin": "La fin de l'adhésion suit son début."})
    old = membre.date_fin
    membre.date_fin = date_fin
    membre.save(update_fields=["date_fin"])
    # No longer invited to the meetings after the end (their attendance is not recorded yet).
    Presence.objects.filter(
        membre=membre,
        reunion__statut__in=Reunion.NOT_HELD,
        reunion__debut__date__gt=date_fin,
        statut=Presence.Statut.INVITE,
    ).delete()
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=membre,
        changes={"date_fin": [old, date_fin]},
    )
    return membre


# --- Submitting a situation (saisine) ----------------------------------------------------------


def tranche_age(date_naissance, day):
    if date_naissance is None:
        return TrancheAge.INCONNUE
    age = (
        day.year
        - date_naissance.year
        - ((day.month, day.day) < (date_naissance.month, date_naissance.day))
    )
    if age < 25:
        return TrancheAge.MOINS_25
    if age < 35:
        return TrancheAge.A25_34
    if age < 45:
        return TrancheAge.A35_44
    if age < 55:
        return TrancheAge.A45_54
    return TrancheAge.A55_PLUS


def initiales(assure):
    def first_letter(text):
        text = (text or "").strip()
        return text[0].upper() + "." if text else ""

    nom = assure.nom_usage or assure.nom_naissance
    return f"{first_letter(assure.prenoms)} {first_letter(nom)}".strip() or "—"


def fiche_initiale(accompagnement):
    """The fiche pre-filled from the case; the référent edits it before sending. Health appears
    only as the évaluation's constraints and limitations, never as a diagnosis."""
    assure = accompagnement.assure
    today = timezone.localdate()
    signalement = accompagnement.signalement
    arrets = ArretTravail.objects.filter(assure_id=assure.pk)
    if signalement is not None and signalement.arret_id:
        arret = arrets.filter(pk=signalement.arret_id).first()
    else:
        arret = arrets.order_by("-date_debut", "-pk").first()
    arret_text = ""
    if arret is not None:
        arret_text = f"{arret.get_type_arret_display()}, {arret.duree_au(today)} jours"
        arret_text += " (en cours)" if arret.is_ongoing(today) else " (terminé)"
    evaluation = accompagnement.evaluations.order_by("-version").first()
    dispositifs = [
        f"{d.type.label} ({d.get_statut_display().lower()})"
        for d in accompagnement.dispositifs.select_related("type").exclude(
            statut=DispositifStatut.ABANDONNE
        )
    ]
    orientations = [
        f"Orientation vers {o.get_partner_kind_display()} ({o.get_statut_display().lower()})"
        for o in accompagnement.orientations.all()
    ]
    return {
        "initiales": initiales(assure),
        "tranche_age": tranche_age(assure.date_naissance, today),
        "sexe": assure.get_sexe_display() if assure.sexe else "",
        "situation_emploi": (
            assure.get_situation_emploi_display() if assure.situation_emploi else ""
        ),
        "poste": assure.poste,
        "secteur_employeur": "",
        "taille_employeur": TailleEntreprise.INCONNUE,
        "arret": arret_text,
        "limitations": evaluation.contraintes_sante if evaluation else "",
        "freins": evaluation.freins if evaluation else "",
        "pistes": "\n".join(orientations),
        "dispositifs": "\n".join(dispositifs),
        "urgence": Urgence.NORMALE,
    }


def _digits(text):
    return re.sub(r"\D", "", text or "")


def fiche_identity_leaks(assure, fiche):
    """The identifying details of the person found in the fiche's text, as French labels:
    the fiche is pseudonymous (no NIR, no name, no address, no contact details)."""
    text = " ".join(str(fiche.get(name) or "") for name in Saisine.FICHE_FIELDS)
    lowered = text.lower()
    found = []
    nir = _digits(assure.nir)
    if nir and len(nir) >= 13 and (nir[:13] in _digits(text)):
        found.append("le NIR")
    names = {assure.nom_naissance, assure.nom_usage}
    if any(
        name and len(name) > 1 and re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", lowered)
        for name in names
    ):
        found.append("le nom")
    phone = _digits(assure.telephone)
    if len(phone) >= 8 and phone[-8:] in _digits(text):
        found.append("le téléphone")
    if assure.email and assure.email.lower() in lowered:
        found.append("l'e-mail")
    if assure.adresse and len(assure.adresse) >= 6 and assure.adresse.lower() in lowered:
        found.append("l'adresse")
    return found


def active_cellule_consent(assure):
    return (
        Consentement.objects.filter(
            assure=assure,
            portee=Consentement.Portee.CELLULE_PDP,
            date_revocation__isnull=True,
        )
        .order_by("-date_recueil", "-pk")
        .first()
    )


def _clean_fiche(fiche):
    cleaned = {}
    for name in Saisine.FICHE_FIELDS:
        value = fiche.get(name, "")
        cleaned[name] = value.strip() if isinstance(value, str) else value
    if not cleaned["initiales"]:
        raise ValidationError({"initiales": "Indiquez les initiales (jamais le nom)."})
    if cleaned["tranche_age"] not in TrancheAge.values:
        raise ValidationError({"tranche_age": "Choisissez la tranche d'âge."})
    if cleaned["urgence"] not in Urgence.values:
        raise ValidationError({"urgence": "Choisissez le degré d'urgence."})
    if cleaned["taille_employeur"] not in TailleEntreprise.values:
        raise ValidationError({"taille_employeur": "Choisissez la taille de l'entreprise."})
    return cleaned


@transaction.atomic
def saisine_submit(*, accompagnement, instance, acting_user, question, **fiche):
    """Submit a situation to an instance: only with an active consent of scope « Présentation
    à la cellule PDP », by the référent or the unit manager, to an instance that covers the
    case's unit; the fiche carries nothing that identifies the person."""
    if not can_manage_case(acting_user, accompagnement):
        raise PermissionDenied("Seul·e le·la référent·e ou le·la responsable d'unité présente.")
    if accompagnement.statut == CaseStatus.CLOTURE:
        raise ValidationError("L'accompagnement est clôturé : rouvrez-le pour le présenter.")
    if not Instance.objects.covering(accompagnement.unit_id).filter(pk=instance.pk).exists():
        raise ValidationError({"instance": "Cette instance ne couvre pas l'unité du dossier."})
    question = _require_text(
        question, "question", "Indiquez la question posée à l'instance : elle est obligatoire."
    )
    fiche = _clean_fiche(fiche)
    leaks = fiche_identity_leaks(accompagnement.assure, {**fiche, "question": question})
    leaks += [
        label
        for label in fiche_identity_leaks(accompagnement.assure, {"initiales": question})
        if label not in leaks
    ]
    if leaks:
        raise ValidationError(
            "La fiche est pseudonyme : retirez " + ", ".join(leaks) + " de la personne."
        )
    # The row lock serialises two submissions of one person (consent recorded or revoked at
    # the same moment waits for us, and we for it).
    consentement = (
        Consentement.objects.select_for_update()
        .filter(
            assure_id=accompagnement.assure_id,
            portee=Consentement.Portee.CELLULE_PDP,
            date_revocation__isnull=True,
        )
        .order_by("-date_recueil", "-pk")
        .first()
    )
    if consentement is None:
        raise ValidationError(CONSENT_MISSING, code="consent_missing")
    try:
        with transaction.atomic():
            saisine = Saisine.objects.create(
                instance=instance,
                accompagnement=accompagnement,
                consentement=consentement,
                question=question,
                submitted_by=acting_user,
                **fiche,
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"instance": "Cette situation est déjà présentée à cette instance (suivi en cours)."}
        ) from exc
    case_event_cellule(
        saisine=saisine,
        acting_user=acting_user,
        summary=f"Situation présentée à « {instance} » (n° {saisine.pk})",
        detail=f"Question posée : {question}",
        changes={"instance": instance.pk},
    )
    # On the agenda of the instance's next meeting whose agenda is still open.
    for reunion in instance.reunions.filter(statut=R.PLANIFIEE, debut__gte=timezone.now()):
        _agenda_build(reunion)
    return saisine


# --- Consent revoked: the situation leaves the cellule -----------------------------------------


@transaction.atomic
def saisines_withdraw_for_consent(*, consentement, acting_user):
    """The assuré revoked the consent: each situation submitted under it leaves every future
    agenda, its open actions are abandoned, and its fiche is unreadable from now on (the gate
    `Saisine.fiche_lisible`). The référent keeps the whole history on the case."""
    now = timezone.now()
    saisines = list(
        Saisine.objects.select_for_update()
        .filter(consentement=consentement, statut__in=Saisine.OPEN)
        .select_related("accompagnement", "instance")
    )
    for saisine in saisines:
        Saisine.objects.filter(pk=saisine.pk).update(statut=S.RETIREE, retiree_le=now)
        saisine.statut = S.RETIREE
        # Off the agenda of every meeting not held yet; an item already discussed in a meeting
        # under way (decisions or actions recorded) stays in its minutes, shown as withdrawn.
        future = (
            PointOrdreDuJour.objects.filter(saisine=saisine, reunion__statut__in=Reunion.NOT_HELD)
            .exclude(Exists(Decision.objects.filter(point=OuterRef("pk"))))
            .exclude(Exists(ActionInstance.objects.filter(point=OuterRef("pk"))))
            .select_related("reunion")
        )
        for point in future:
            _reunion_event(
                point.reunion,
                acting_user,
                f"Situation n° {saisine.pk} retirée de l'ordre du jour à la demande de l'assuré",
                {"saisine": saisine.pk},
            )
        future.delete()
        ActionInstance.objects.filter(point__saisine=saisine, statut="ouverte").update(
            statut=ActionInstance.Statut.ABANDONNEE,
            closed_at=now,
            compte_rendu="Situation retirée à la demande de l'assuré.",
        )
        case_event_cellule(
            saisine=saisine,
            acting_user=acting_user,
            summary=(
                f"Situation retirée de « {saisine.instance} » : consentement révoqué par l'assuré"
            ),
        )
    return saisines


def on_consent_revoked(sender, *, consentement, accompagnement, acting_user, **kwargs):
    if consentement.portee == Consentement.Portee.CELLULE_PDP:
        saisines_withdraw_for_consent(consentement=consentement, acting_user=acting_user)


# --- Meetings and their agenda -----------------------------------------------------------------


def _agenda_candidates(reunion):
    """The situations that belong on this meeting's agenda (set-based, one query): the
    instance's open submissions with an active consent, not on another meeting not yet held,
    that are new, have an open action, or were marked « à représenter » at their last
    examination."""
    held = PointOrdreDuJour.objects.filter(
        saisine=OuterRef("pk"), reunion__statut__in=[R.TENUE, R.CR_RELECTURE, R.CR_VALIDE]
    )
    last_held = held.order_by("-reunion__debut", "-pk")
    on_other = PointOrdreDuJour.objects.filter(
        saisine=OuterRef("pk"), reunion__statut__in=Reunion.NOT_HELD
    ).exclude(reunion=reunion)
    open_action = ActionInstance.objects.filter(point__saisine=OuterRef("pk"), statut="ouverte")
    return (
        Saisine.objects.open()
        .consent_active()
        .filter(instance_id=reunion.instance_id, submitted_at__lt=reunion.debut)
        .annotate(
            open_action=Exists(open_action),
            representer=Subquery(last_held.values("a_representer")[:1]),
        )
        .exclude(Exists(on_other))
        .filter(Q(statut=S.SOUMISE) | Q(open_action=True) | Q(representer=True))
    )


def _agenda_build(reunion):
    """Bring the agenda of a meeting still « planifiée » up to date: add the situations that
    belong there (a unique constraint makes a second run add nothing), drop those that left
    (consent revoked, follow-up ended). Returns (added, removed)."""
    candidates = list(_agenda_candidates(reunion).order_by("submitted_at", "pk"))
    ids = {s.pk for s in candidates}
    removed, _ = (
        PointOrdreDuJour.objects.filter(reunion=reunion).exclude(saisine_id__in=ids).delete()
    )
    kept = dict(PointOrdreDuJour.objects.filter(reunion=reunion).values_list("saisine_id", "ordre"))
    start = max(kept.values(), default=0)
    # Follow-ups first (pending actions are reviewed first), then the new situations.
    candidates = [s for s in candidates if s.pk not in kept]
    candidates.sort(key=lambda s: (s.statut == S.SOUMISE, s.submitted_at, s.pk))
    points = []
    for index, saisine in enumerate(candidates, start=1):
        if saisine.statut == S.SOUMISE:
            origine = PointOrdreDuJour.Origine.NOUVELLE
        elif saisine.representer:
            origine = PointOrdreDuJour.Origine.REPRESENTEE
        else:
            origine = PointOrdreDuJour.Origine.SUIVI
        points.append(
            PointOrdreDuJour(reunion=reunion, saisine=saisine, ordre=start + index, origine=origine)
        )
    before = len(kept)
    PointOrdreDuJour.objects.bulk_create(points, ignore_conflicts=True)
    # Numbered 1…n in their order (the items kept first, the new ones after them).
    current = list(PointOrdreDuJour.objects.filter(reunion=reunion).order_by("ordre", "pk"))
    for number, point in enumerate(current, start=1):
        point.ordre = number
    PointOrdreDuJour.objects.bulk_update(current, ["ordre"])
    return len(current) - before, removed


def _check_slot(debut, lieu, lien_visio):
    if debut is None:
        raise ValidationError({"debut": "Indiquez la date et l'heure de la réunion."})
    require_plausible_date(debut.date(), field="debut", label="La date de la réunion")
    if not (lieu or "").strip() and not (lien_visio or "").strip():
        raise ValidationError({"lieu": "Indiquez un lieu ou un lien de visioconférence."})


@transaction.atomic
def reunion_plan(*, instance, acting_user, debut, lieu="", lien_visio=""):
    """Plan a meeting: every member active on its date is invited, and the agenda is built
    from the pending submissions and the follow-ups."""
    _require_coordinator(acting_user, instance)
    _check_slot(debut, lieu, lien_visio)
    if debut < timezone.now():
        raise ValidationError({"debut": "Une réunion se planifie dans le futur."})
    reunion = Reunion.objects.create(
        instance=instance,
        debut=debut,
        lieu=lieu.strip(),
        lien_visio=lien_visio.strip(),
        created_by=acting_user,
    )
    membres = MembreInstance.objects.active(timezone.localtime(debut).date()).filter(
        instance=instance
    )
    Presence.objects.bulk_create([Presence(reunion=reunion, membre=m) for m in membres])
    added, _ = _agenda_build(reunion)
    _reunion_event(
        reunion,
        acting_user,
        f"Réunion planifiée le {_dt(debut)} ({added} situation(s) à l'ordre du jour)",
        {"debut": [None, debut.isoformat()]},
    )
    return reunion


@transaction.atomic
def reunion_update(*, reunion, acting_user, debut, lieu="", lien_visio=""):
    _require_coordinator(acting_user, reunion.instance)
    if reunion.statut not in Reunion.NOT_HELD:
        raise ValidationError("La réunion est tenue : sa date et son lieu ne changent plus.")
    _check_slot(debut, lieu, lien_visio)
    changes = {}
    for name, value in (
        ("debut", debut),
        ("lieu", lieu.strip()),
        ("lien_visio", lien_visio.strip()),
    ):
        old = getattr(reunion, name)
        if old != value:
            changes[name] = [old, value]
            setattr(reunion, name, value)
    if changes:
        reunion.save(update_fields=list(changes))
        _reunion_event(reunion, acting_user, "Date ou lieu de la réunion modifiés", changes)
    return reunion


@transaction.atomic
def agenda_refresh(*, reunion, acting_user):
    _require_coordinator(acting_user, reunion.instance)
    if reunion.statut != R.PLANIFIEE:
        raise ValidationError("L'ordre du jour est arrêté : il ne change plus.")
    added, removed = _agenda_build(reunion)
    if added or removed:
        _reunion_event(
            reunion,
            acting_user,
            f"Ordre du jour actualisé : {added} ajoutée(s), {removed} retirée(s)",
        )
    return added, removed


@transaction.atomic
def reunion_freeze_agenda(*, reunion, acting_user):
    """Planifiée → ordre du jour arrêté: the agenda is built one last time and then fixed
    (only a revoked consent still takes a situation off it)."""
    _require_coordinator(acting_user, reunion.instance)
    if reunion.statut == R.PLANIFIEE:
        _agenda_build(reunion)
    _set_reunion_status(reunion, expected=[R.PLANIFIEE], new=R.ODJ_ARRETE)
    count = reunion.points.count()
    _reunion_event(
        reunion,
        acting_user,
        f"Ordre du jour arrêté ({count} situation(s))",
        {"statut": [R.PLANIFIEE, R.ODJ_ARRETE]},
    )
    for point in reunion.points.select_related("saisine__accompagnement"):
        case_event_cellule(
            saisine=point.saisine,
            acting_user=acting_user,
            summary=f"Situation inscrite à l'ordre du jour de « {reunion} »",
        )
    # The convocations (a link, no case content) once the agenda is really fixed.
    transaction.on_commit(lambda: tasks.send_convocations.delay(reunion.pk), robust=True)
    return reunion


# --- Attendance and quorum ---------------------------------------------------------------------


@transaction.atomic
def presence_set(*, presence, acting_user, statut, represente_par=""):
    reunion = presence.reunion
    _require_coordinator(acting_user, reunion.instance)
    _require_editable(reunion)
    if statut not in Presence.Statut.values:
        raise ValidationError({"statut": "Choisissez la présence."})
    represente_par = (represente_par or "").strip()
    if statut == Presence.Statut.REPRESENTE and not represente_par:
        raise ValidationError({"represente_par": "Indiquez qui représente ce membre."})
    if statut != Presence.Statut.REPRESENTE:
        represente_par = ""
    old = presence.statut
    presence.statut = statut
    presence.represente_par = represente_par
    presence.save(update_fields=["statut", "represente_par"])
    if old != statut:
        _reunion_event(
            reunion,
            acting_user,
            f"Présence de {presence.membre.nom} : {presence.get_statut_display().lower()}",
            {"presence": presence.pk, "statut": [old, statut]},
        )
    return presence


def quorum(reunion, presences=None):
    """(reached, French explanation) from the attendance and the instance's rule."""
    instance = reunion.instance
    if presences is None:
        presences = reunion.presences.select_related("membre")
    kinds = {p.membre.organisation for p in presences if p.statut in Presence.COUNTED}
    missing = [
        Organisation(code).label for code in instance.quorum_obligatoires if code not in kinds
    ]
    reached = len(kinds) >= instance.quorum_organisations and not missing
    explanation = (
        f"{len(kinds)} organisation(s) représentée(s), {instance.quorum_organisations} requises"
    )
    if missing:
        explanation += " ; manque : " + ", ".join(missing)
    return reached, explanation


# --- Items: summary, decisions, actions --------------------------------------------------------


def _saisine_sync(saisine):
    """The submission's state from its examinations: never examined → en attente; examined
    → suivie, unless a definitive decision ended the follow-up."""
    if saisine.statut == S.RETIREE:
        return
    held = (
        PointOrdreDuJour.objects.filter(
            saisine=saisine, reunion__statut__in=[R.TENUE, R.CR_RELECTURE, R.CR_VALIDE]
        )
        .order_by("-reunion__debut", "-pk")
        .first()
    )
    if held is None:
        new = S.SOUMISE
    elif held.decisions.filter(type__termine_suivi=True, provisoire=False).exists():
        new = S.TERMINEE
    else:
        new = S.SUIVIE
    if new != saisine.statut:
        Saisine.objects.filter(pk=saisine.pk).exclude(statut=S.RETIREE).update(statut=new)
        saisine.statut = new


def _require_pseudonymous(point, field, text):
    """What the meeting writes about a situation names nobody either (as the fiche)."""
    leaks = fiche_identity_leaks(point.saisine.accompagnement.assure, {"initiales": text})
    if leaks:
        raise ValidationError(
            {
                field: "Le compte rendu est pseudonyme : retirez "
                + ", ".join(leaks)
                + " de la personne."
            }
        )


@transaction.atomic
def point_update(*, point, acting_user, synthese="", a_representer=False):
    _require_coordinator(acting_user, point.reunion.instance)
    _require_editable(point.reunion)
    changes = {}
    synthese = (synthese or "").strip()
    _require_pseudonymous(point, "synthese", synthese)
    if point.synthese != synthese:
        changes["synthese"] = [point.synthese, synthese]
    if point.a_representer != bool(a_representer):
        changes["a_representer"] = [point.a_representer, bool(a_representer)]
    if changes:
        point.synthese = synthese
        point.a_representer = bool(a_representer)
        point.save(update_fields=["synthese", "a_representer"])
        _reunion_event(
            point.reunion,
            acting_user,
            f"Situation n° {point.saisine_id} : synthèse ou suite mise à jour",
            {"point": point.pk, **changes},
        )
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=point,
            assure_id=point.saisine.accompagnement.assure_id,
            changes=changes,
        )
    return point


@transaction.atomic
def decision_add(*, point, acting_user, type, texte=""):
    """Record a recommendation or decision. Without quorum it is provisional and the situation
    comes back at the next meeting (« à représenter ») to be confirmed."""
    reunion = point.reunion
    _require_coordinator(acting_user, reunion.instance)
    _require_editable(reunion)
    if not isinstance(type, TypeDecision) or not type.actif:
        raise ValidationError({"type": "Choisissez une décision de la liste."})
    _require_pseudonymous(point, "texte", texte)
    reached, _ = quorum(reunion)
    decision = Decision.objects.create(
        point=point,
        type=type,
        texte=(texte or "").strip(),
        provisoire=not reached,
        created_by=acting_user,
    )
    if (decision.provisoire or type.a_representer) and not point.a_representer:
        point.a_representer = True
        point.save(update_fields=["a_representer"])
    _reunion_event(
        reunion,
        acting_user,
        f"Situation n° {point.saisine_id} : {type.libelle}"
        + (" (provisoire, sans quorum)" if decision.provisoire else ""),
        {"decision": decision.pk},
    )
    case_event_cellule(
        saisine=point.saisine,
        acting_user=acting_user,
        summary=(
            f"Cellule du {timezone.localtime(reunion.debut):%d/%m/%Y} : {type.libelle}"
            + (" (provisoire)" if decision.provisoire else "")
        ),
        detail=decision.texte,
        changes={"decision": decision.pk},
    )
    if reunion.statut != R.ODJ_ARRETE:
        _saisine_sync(point.saisine)
    return decision


@transaction.atomic
def decision_remove(*, decision, acting_user):
    point = decision.point
    _require_coordinator(acting_user, point.reunion.instance)
    _require_editable(point.reunion)
    label = decision.type.libelle
    decision.delete()
    _reunion_event(
        point.reunion,
        acting_user,
        f"Situation n° {point.saisine_id} : décision « {label} » retirée",
    )
    case_event_cellule(
        saisine=point.saisine,
        acting_user=acting_user,
        summary=f"Décision de la cellule retirée (correction) : {label}",
    )
    if point.reunion.statut != R.ODJ_ARRETE:
        _saisine_sync(point.saisine)


@transaction.atomic
def action_add(*, point, acting_user, libelle, responsable, echeance):
    reunion = point.reunion
    _require_coordinator(acting_user, reunion.instance)
    _require_editable(reunion)
    libelle = _require_text(libelle, "libelle", "Décrivez l'action.")
    _require_pseudonymous(point, "libelle", libelle)
    if responsable is None or responsable.instance_id != reunion.instance_id:
        raise ValidationError({"responsable": "Confiez l'action à un membre de l'instance."})
    if not responsable.is_active(timezone.localtime(reunion.debut).date()):
        raise ValidationError({"responsable": "Ce membre ne fait plus partie de l'instance."})
    if echeance is None:
        raise ValidationError({"echeance": "Indiquez l'échéance."})
    require_plausible_date(echeance, field="echeance", label="L'échéance")
    action = ActionInstance.objects.create(
        point=point,
        libelle=libelle,
        responsable=responsable,
        echeance=echeance,
        created_by=acting_user,
    )
    _reunion_event(
        reunion,
        acting_user,
        f"Situation n° {point.saisine_id} : action confiée à {responsable.nom}",
        {"action": action.pk},
    )
    case_event_cellule(
        saisine=point.saisine,
        acting_user=acting_user,
        summary=(
            f"Action de la cellule confiée à {responsable.nom} "
            f"({responsable.get_organisation_display()}) pour le {_d(echeance)} : {libelle}"
        ),
        changes={"action": action.pk},
    )
    transaction.on_commit(lambda: tasks.send_action_notice.delay(action.pk), robust=True)
    return action


def can_update_action(user, action):
    return (
        action.responsable.user_id is not None and action.responsable.user_id == user.pk
    ) or is_coordinator(user, action.point.reunion.instance)


@transaction.atomic
def action_set_status(*, action, acting_user, statut, compte_rendu=""):
    """The member it was given to (or a coordinator) reports on it, at any time, minutes
    validated or not: the follow-up of actions is not part of the locked minutes."""
    if not can_update_action(acting_user, action):
        raise PermissionDenied("Seul·e le membre chargé·e de l'action ou la coordination.")
    if statut not in ActionInstance.Statut.values:
        raise ValidationError({"statut": "Choisissez le statut."})
    if action.point.saisine.statut == S.RETIREE:
        raise ValidationError("La situation a été retirée à la demande de l'assuré.")
    old = action.statut
    compte_rendu = (compte_rendu or "").strip()
    closed_at = None if statut == ActionInstance.Statut.OUVERTE else timezone.now()
    updated = ActionInstance.objects.filter(pk=action.pk, statut=old).update(
        statut=statut, compte_rendu=compte_rendu, closed_at=closed_at
    )
    if not updated:
        raise ValidationError("L'action vient d'être modifiée par quelqu'un d'autre : rechargez.")
    action.statut, action.compte_rendu, action.closed_at = statut, compte_rendu, closed_at
    if old != statut:
        case_event_cellule(
            saisine=action.point.saisine,
            acting_user=acting_user,
            summary=(
                f"Action de la cellule « {action.libelle} » : {action.get_statut_display().lower()}"
            ),
            detail=compte_rendu,
            changes={"action": action.pk, "statut": [old, statut]},
        )
    return action


# --- Held, minutes, validation, addendum -------------------------------------------------------


@transaction.atomic
def reunion_mark_held(*, reunion, acting_user):
    """Ordre du jour arrêté → tenue: the attendance of every member is recorded; each
    situation examined becomes « suivie » (or ends when a definitive decision says so), and
    one without any decision comes back (« à représenter »)."""
    _require_coordinator(acting_user, reunion.instance)
    if reunion.presences.filter(statut=Presence.Statut.INVITE).exists():
        raise ValidationError("Renseignez la présence de chaque membre avant de clore la réunion.")
    _set_reunion_status(reunion, expected=[R.ODJ_ARRETE], new=R.TENUE)
    reached, explanation = quorum(reunion)
    reunion.points.filter(decisions__isnull=True).update(a_representer=True)
    _reunion_event(
        reunion,
        acting_user,
        "Réunion tenue" + ("" if reached else " sans quorum"),
        {"statut": [R.ODJ_ARRETE, R.TENUE], "quorum": explanation},
    )
    for point in reunion.points.select_related("saisine"):
        _saisine_sync(point.saisine)
    return reunion


@transaction.atomic
def reunion_submit_minutes(*, reunion, acting_user):
    _require_coordinator(acting_user, reunion.instance)
    _set_reunion_status(reunion, expected=[R.TENUE], new=R.CR_RELECTURE)
    _reunion_event(
        reunion,
        acting_user,
        "Compte rendu soumis à la relecture",
        {"statut": [R.TENUE, R.CR_RELECTURE]},
    )
    return reunion


@transaction.atomic
def reunion_validate_minutes(*, reunion, acting_user):
    """Compte rendu en relecture → validé: locked from now on; corrections are addenda."""
    _require_coordinator(acting_user, reunion.instance)
    now = timezone.now()
    _set_reunion_status(
        reunion, expected=[R.CR_RELECTURE], new=R.CR_VALIDE, valide_par=acting_user, valide_le=now
    )
    _reunion_event(
        reunion,
        acting_user,
        "Compte rendu validé et verrouillé",
        {"statut": [R.CR_RELECTURE, R.CR_VALIDE]},
    )
    for point in reunion.points.select_related("saisine__accompagnement"):
        if point.saisine.statut == S.RETIREE:
            continue
        case_event_cellule(
            saisine=point.saisine,
            acting_user=acting_user,
            summary=f"Compte rendu de « {reunion} » validé",
        )
    return reunion


@transaction.atomic
def addendum_add(*, reunion, acting_user, texte):
    _require_coordinator(acting_user, reunion.instance)
    if not reunion.is_locked:
        raise ValidationError("Le compte rendu n'est pas encore validé : corrigez-le directement.")
    texte = _require_text(texte, "texte", "Rédigez la correction.")
    addendum = Addendum.objects.create(reunion=reunion, texte=texte, created_by=acting_user)
    _reunion_event(
        reunion, acting_user, "Addendum ajouté au compte rendu validé", {"addendum": addendum.pk}
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=addendum,
        changes={"reunion": reunion.pk},
    )
    return addendum
