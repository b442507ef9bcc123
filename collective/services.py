"""Every change of state of a collective action goes through a function here (keyword-only
arguments, `acting_user`, one transaction, an `ActionEvent` for the action's history and an
audit row). Refusals raise ValidationError with a French message and change nothing; a user
who may not do it gets PermissionDenied. Participants: `collective.participants`.

The workflow (`ActionStatus`):

    projet ──(unit approves)──▶ validée par l'unité ──(region approves)──▶ validée par la région
      ▲                                                                        │
      └──────────── a refusal at either level sends the action back ◀──────────┘
    ready ──publish──▶ publiée ──start──▶ en cours ──finish──▶ terminée
    any status but terminée ──cancel (reason)──▶ annulée

The rules come from the action's `ActionType` (data, admin): `min_seances`,
`validation_unite`, `validation_region`. « Ready to publish » is the status the required
validations lead to: validée par la région when the region must validate, else validée par
l'unité when the unit must, else projet (a webinar publishes straight away). Unit before
region when both are required. Publishing and starting also need `min_seances` sessions and,
for each required level, an approved last validation (`publish_problems`, the one list the page
shows and the services enforce). A validation is asked by who runs the action once its
sessions are planned (the validators judge a programme), and answered by a manager of the
action's unit (unit) or the region's « Encadrement régional » (region); when both are
required, the unit's approval asks the region's at once (requested by the approver). A refusal
needs a comment and sends the action back to projet, from where the unit is asked again.

What may change when (`action_update`): everything while the action is a projet with no
validation pending; once a validation is asked or given, what the validators approved — type,
theme, title, public description, unit — is fixed (cancel and create another action to change
it); the practical fields (co-animateurs, partners, capacity, waitlist, confirmation delay,
registration window, visio link) stay editable until the action is finished or cancelled.
Sessions are added, moved and deleted in the future only, never on a finished or cancelled
action; once published, an action keeps at least `min_seances` sessions.

Status changes are `UPDATE … WHERE statut = old` (two people clicking at once change it once).
"""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from collective import participants
from collective.models import (
    ActionCollective,
    ActionEvent,
    ActionStatus,
    Participant,
    Seance,
    StatusClass,
    Validation,
    ValidationLevel,
    ValidationStatus,
)
from collective.permissions import (
    can_create_action,
    can_run_action,
    can_validate_region,
    can_validate_unit,
)
from collective.signals import action_cancelled, action_finished
from pdp.audit import audit, field_changes, jsonable
from pdp.models import AuditLog, PartnerContact, Role, Unit, User

S = ActionStatus
CLOSED = (S.TERMINEE, S.ANNULEE)
# The statuses in which the content the validators approved is fixed.
VALIDATED = (S.VALIDEE_UNITE, S.VALIDEE_REGION, S.PUBLIEE, S.EN_COURS)
CONTENT_FIELDS = ("type", "theme", "titre", "description", "unit")
PRACTICAL_FIELDS = (
    "capacite",
    "liste_attente",
    "delai_confirmation_heures",
    "inscription_debut",
    "inscription_fin",
    "lien_visio",
)
MAX_CONFIRMATION_HOURS = 14 * 24
SEANCE_MIN_MINUTES = 15
SEANCE_MAX_MINUTES = 600
SEANCE_FUTURE_DAYS = 731
NOT_ALLOWED = "Seul·e l'animateur·rice, un·e co-animateur·rice ou le·la responsable peut le faire."

LEVEL_LABELS = {
    ValidationLevel.UNITE: "de l'unité",
    ValidationLevel.REGION: "de la région",
}


def _dt(moment):
    return f"{timezone.localtime(moment):%d/%m/%Y à %H h %M}"


def _event(action, acting_user, kind, summary, changes=None):
    return ActionEvent.objects.create(
        action=action,
        actor=acting_user if acting_user is not None and acting_user.is_authenticated else None,
        kind=kind,
        summary=summary[:300],
        changes=jsonable(changes or {}),
    )


def _audit(acting_user, action, obj, changes, kind=AuditLog.Action.UPDATE):
    audit(user=acting_user, action=kind, obj=obj, changes=changes)


def _require_runner(user, action):
    if not can_run_action(user, action):
        raise PermissionDenied(NOT_ALLOWED)


def _require_open(action):
    if action.statut in CLOSED:
        raise ValidationError(
            f"L'action est «\u00a0{action.get_statut_display().lower()}\u00a0»\u00a0: "
            "elle ne change plus."
        )


def _require_text(value, field, message):
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value


def _set_status(action, *, expected, new):
    """UPDATE … WHERE statut IN expected; refused when someone changed it meanwhile."""
    expected = tuple(expected)
    updated = ActionCollective.objects.filter(pk=action.pk, statut__in=expected).update(
        statut=new, updated_at=timezone.now()
    )
    if not updated:
        action.refresh_from_db(fields=["statut"])
        raise ValidationError(
            f"L'action est «\u00a0{action.get_statut_display().lower()}\u00a0»\u00a0: "
            "cette étape n'est plus possible."
        )
    old = action.statut
    action.statut = new
    return old


# --- The rules of the type --------------------------------------------------------------------


def required_levels(action_type):
    """The validation levels the type requires, in their order (unit before region)."""
    levels = []
    if action_type.validation_unite:
        levels.append(ValidationLevel.UNITE)
    if action_type.validation_region:
        levels.append(ValidationLevel.REGION)
    return levels


def ready_status(action_type):
    """The status from which an action of this type may be published."""
    if action_type.validation_region:
        return S.VALIDEE_REGION
    if action_type.validation_unite:
        return S.VALIDEE_UNITE
    return S.PROJET


def _approved_status(level):
    return S.VALIDEE_UNITE if level == ValidationLevel.UNITE else S.VALIDEE_REGION


def _status_before(action_type, level):
    """The status from which `level` may be asked."""
    if level == ValidationLevel.REGION and action_type.validation_unite:
        return S.VALIDEE_UNITE
    return S.PROJET


def latest_validations(action):
    """{level: the level's latest Validation} (uses a prefetch of `validations` if any)."""
    latest = {}
    for validation in sorted(
        action.validations.all(), key=lambda v: (v.demandee_le, v.pk), reverse=True
    ):
        latest.setdefault(validation.niveau, validation)
    return latest


def seances_count(action):
    annotated = getattr(action, "n_seances", None)
    return annotated if annotated is not None else action.seances.count()


def seances_problem(action, count=None):
    count = seances_count(action) if count is None else count
    minimum = action.type.min_seances
    if count >= minimum:
        return ""
    missing = minimum - count
    return (
        f"Une action «\u00a0{action.type}\u00a0» compte au moins {minimum} séance"
        f"{'s' if minimum > 1 else ''}\u00a0: ajoutez-en {missing}."
    )


def publish_problems(action, count=None):
    """Why `action` may not be published or started now (an empty list: it may). The list the
    detail page shows and the services refuse with."""
    problems = []
    problem = seances_problem(action, count)
    if problem:
        problems.append(problem)
    latest = latest_validations(action)
    for level in required_levels(action.type):
        validation = latest.get(level)
        if validation is None or validation.statut != ValidationStatus.APPROUVEE:
            problems.append(f"La validation {LEVEL_LABELS[level]} est requise.")
    return problems


def request_problem(action, level, count=None):
    """Why the validation `level` may not be asked now ("" when it may)."""
    label = LEVEL_LABELS[level]
    if level not in required_levels(action.type):
        return f"Une action «\u00a0{action.type}\u00a0» ne demande pas de validation {label}."
    if action.statut in CLOSED:
        return "L'action est terminée ou annulée."
    pending = latest_validations(action).get(level)
    if pending is not None and pending.statut == ValidationStatus.DEMANDEE:
        return f"La validation {label} est déjà demandée."
    before = _status_before(action.type, level)
    if action.statut != before:
        if level == ValidationLevel.REGION and action.statut == S.PROJET:
            return "La validation de l'unité vient d'abord."
        return f"L'action est «\u00a0{action.get_statut_display().lower()}\u00a0»."
    return seances_problem(action, count)


# --- Creating and editing ---------------------------------------------------------------------


def unit_choices(user):
    """The units `user` may create an action for (None: a regional action)."""
    if has_unit_role(user):
        return [user.unit]
    if user.role == Role.REGIONAL and user.region_id:
        return [None, *Unit.objects.filter(region_id=user.region_id).order_by("name")]
    return []


def has_unit_role(user):
    return user.is_unit_member and user.role in (Role.ASS, Role.MANAGER)


def co_animateur_choices(region_id, unit_id=None, exclude=None):
    """The active ASS of the region, those of the action's unit first."""
    qs = User.objects.filter(is_active=True, role=Role.ASS, unit__region_id=region_id)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return (
        qs.select_related("unit")
        .annotate(other_unit=Case(When(unit_id=unit_id, then=Value(0)), default=Value(1)))
        .order_by("other_unit", "last_name", "first_name", "pk")
    )


def partner_choices(region_id):
    return PartnerContact.objects.filter(
        Q(partner__region_id=region_id) | Q(partner__region__isnull=True)
    ).select_related("partner")


def _check_fields(data, *, region_id, action=None):
    """The rules of the practical fields (the forms say the same; the services decide)."""
    errors = {}
    capacite = data.get("capacite")
    if capacite is not None:
        if capacite < 1:
            errors["capacite"] = "Au moins une place, ou laissez vide pour une action sans limite."
        elif action is not None and capacite < action.places_prises:
            errors["capacite"] = (
                f"{action.places_prises} places sont déjà prises\u00a0: la capacité ne peut "
                "pas descendre en dessous."
            )
    delay = data.get("delai_confirmation_heures")
    if delay is not None and not 1 <= delay <= MAX_CONFIRMATION_HOURS:
        errors["delai_confirmation_heures"] = "Entre 1 heure et 14 jours (336 heures)."
    debut, fin = data.get("inscription_debut"), data.get("inscription_fin")
    if debut and fin and fin < debut:
        errors["inscription_fin"] = "La fin des inscriptions suit leur début."
    chosen = {u.pk for u in data.get("co_animateurs") or []}
    if chosen and co_animateur_choices(region_id).filter(pk__in=chosen).count() != len(chosen):
        errors["co_animateurs"] = "Choisissez des ASS actives de la région."
    contacts = {c.pk for c in data.get("partenaires") or []}
    if contacts and partner_choices(region_id).filter(pk__in=contacts).count() != len(contacts):
        errors["partenaires"] = "Choisissez des contacts partenaires de la région."
    if errors:
        raise ValidationError(errors)


def _check_content(data, *, acting_user, action=None):
    errors = {}
    action_type = data.get("type")
    if action_type is None or (
        not action_type.actif and (action is None or action.type_id != action_type.pk)
    ):
        errors["type"] = "Choisissez un type d'action."
    theme = data.get("theme")
    if theme is not None and not theme.actif and (action is None or action.theme_id != theme.pk):
        errors["theme"] = "Ce thème n'est plus proposé."
    if not (data.get("titre") or "").strip():
        errors["titre"] = "Donnez un titre à l'action."
    unit = data.get("unit")
    choices = unit_choices(acting_user)
    changed = action is None or (unit.pk if unit else None) != action.unit_id
    if changed and unit not in choices:
        errors["unit"] = "Choisissez votre unité."
    if action_type is not None and action_type.validation_unite and unit is None:
        errors["unit"] = (
            f"Une action «\u00a0{action_type}\u00a0» est validée par une unité\u00a0: "
            "choisissez l'unité qui l'organise."
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def action_create(
    *,
    acting_user,
    type,
    titre,
    theme=None,
    description="",
    unit=None,
    co_animateurs=(),
    partenaires=(),
    capacite=None,
    liste_attente=True,
    delai_confirmation_heures=48,
    inscription_debut=None,
    inscription_fin=None,
    lien_visio="",
):
    """A new action in projet, led by `acting_user` (an ASS or a manager for their unit, the
    regional manager for the region or one of its units)."""
    if not can_create_action(acting_user):
        raise PermissionDenied("Votre rôle ne crée pas d'action collective.")
    if has_unit_role(acting_user) and unit is None:
        unit = acting_user.unit
    data = {
        "type": type,
        "theme": theme,
        "titre": titre,
        "unit": unit,
        "capacite": capacite,
        "delai_confirmation_heures": delai_confirmation_heures,
        "inscription_debut": inscription_debut,
        "inscription_fin": inscription_fin,
        "co_animateurs": list(co_animateurs),
        "partenaires": list(partenaires),
    }
    region_id = unit.region_id if unit is not None else acting_user.region_id
    _check_content(data, acting_user=acting_user)
    _check_fields(data, region_id=region_id)
    action = ActionCollective.objects.create(
        type=type,
        theme=theme,
        titre=titre.strip(),
        description=(description or "").strip(),
        region_id=region_id,
        unit=unit,
        animateur=acting_user,
        capacite=capacite,
        liste_attente=liste_attente,
        delai_confirmation_heures=delai_confirmation_heures,
        inscription_debut=inscription_debut,
        inscription_fin=inscription_fin,
        lien_visio=(lien_visio or "").strip(),
        created_by=acting_user,
    )
    co = [u for u in data["co_animateurs"] if u.pk != acting_user.pk]
    action.co_animateurs.set(co)
    action.partenaires.set(data["partenaires"])
    changes = {
        "type": type.code,
        "titre": action.titre,
        "unit": unit,
        "co_animateurs": [u.pk for u in co],
        "partenaires": [c.pk for c in data["partenaires"]],
    }
    _event(action, acting_user, "creation", "Action créée (projet)", changes)
    _audit(acting_user, action, action, changes, kind=AuditLog.Action.CREATE)
    return action


def editable_fields(action):
    """The fields `action_update` accepts for `action` now (see the module docstring)."""
    if action.statut in CLOSED:
        return ()
    practical = (*PRACTICAL_FIELDS, "co_animateurs", "partenaires")
    if action.statut in VALIDATED or has_pending_validation(action):
        return practical
    return (*CONTENT_FIELDS, *practical)


def has_pending_validation(action):
    return any(v.statut == ValidationStatus.DEMANDEE for v in latest_validations(action).values())


@transaction.atomic
def action_update(*, action, acting_user, **fields):
    """Change the fields given (names of `ActionCollective`, plus `co_animateurs` and
    `partenaires` as lists). A field that may not change any more is refused."""
    action = ActionCollective.objects.select_for_update().select_related("type").get(pk=action.pk)
    _require_runner(acting_user, action)
    _require_open(action)
    allowed = editable_fields(action)
    locked = [
        name
        for name, value in fields.items()
        if name not in allowed and _differs(action, name, value)
    ]
    if locked:
        raise ValidationError(
            dict.fromkeys(
                locked,
                "Validé·e pour cette action\u00a0: ne change plus (annulez l'action et "
                "créez-en une autre pour le modifier).",
            )
        )
    merged = {name: getattr(action, name) for name in (*CONTENT_FIELDS, *PRACTICAL_FIELDS)}
    merged["co_animateurs"] = list(action.co_animateurs.all())
    merged["partenaires"] = list(action.partenaires.all())
    merged.update(fields)
    _check_content(merged, acting_user=acting_user, action=action)
    _check_fields(merged, region_id=action.region_id, action=action)
    if "titre" in fields:
        fields["titre"] = fields["titre"].strip()
    if "description" in fields:
        fields["description"] = (fields["description"] or "").strip()
    co = fields.pop("co_animateurs", None)
    partners = fields.pop("partenaires", None)
    if "unit" in fields:
        unit = fields["unit"]
        if unit is not None and unit.region_id != action.region_id:
            raise ValidationError({"unit": "Choisissez une unité de la région."})
    old_capacity = action.capacite
    changes = field_changes(action, fields)
    if co is not None:
        co = [u for u in co if u.pk != action.animateur_id]
        old = sorted(action.co_animateurs.values_list("pk", flat=True))
        new = sorted(u.pk for u in co)
        if old != new:
            action.co_animateurs.set(co)
            changes["co_animateurs"] = [old, new]
    if partners is not None:
        old = sorted(action.partenaires.values_list("pk", flat=True))
        new = sorted(c.pk for c in partners)
        if old != new:
            action.partenaires.set(partners)
            changes["partenaires"] = [old, new]
    if not changes:
        return action
    action.save()
    _event(action, acting_user, "modification", "Action modifiée", changes)
    _audit(acting_user, action, action, changes)
    # More seats (or no limit any more): offered to the waitlist.
    more_seats = "capacite" in changes and (
        action.capacite is None or (old_capacity is not None and action.capacite > old_capacity)
    )
    if more_seats and action.statut not in CLOSED:
        participants.promote_next(action)
    return action


def _differs(action, name, value):
    if name in ("co_animateurs", "partenaires"):
        return sorted(getattr(action, name).values_list("pk", flat=True)) != sorted(
            v.pk for v in value
        )
    return getattr(action, name) != value


# --- Sessions ---------------------------------------------------------------------------------


def _check_seance(action, *, debut, duree_minutes, lieu, lien_visio, now):
    errors = {}
    if debut <= now:
        errors["date"] = "Une séance se planifie dans le futur."
    elif debut > now + datetime.timedelta(days=SEANCE_FUTURE_DAYS):
        errors["date"] = "Planifiez la séance dans les deux ans."
    if not SEANCE_MIN_MINUTES <= (duree_minutes or 0) <= SEANCE_MAX_MINUTES:
        errors["duree_minutes"] = "La durée est comprise entre 15 minutes et 10 heures."
    if not (lieu or "").strip() and not (lien_visio or "").strip() and not action.lien_visio:
        errors["lieu"] = "Indiquez un lieu ou un lien de visioconférence."
    if errors:
        raise ValidationError(errors)


def _lock(action):
    return ActionCollective.objects.select_for_update().select_related("type").get(pk=action.pk)


def _save_seance(seance):
    try:
        with transaction.atomic():
            seance.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"heure": "Une autre séance de l'action commence déjà à ce moment."}
        ) from exc


@transaction.atomic
def seance_add(*, action, acting_user, debut, duree_minutes=120, lieu="", lien_visio="", now=None):
    action = _lock(action)
    _require_runner(acting_user, action)
    _require_open(action)
    now = now or timezone.now()
    _check_seance(
        action, debut=debut, duree_minutes=duree_minutes, lieu=lieu, lien_visio=lien_visio, now=now
    )
    seance = Seance(
        action=action,
        debut=debut,
        duree_minutes=duree_minutes,
        lieu=(lieu or "").strip(),
        lien_visio=(lien_visio or "").strip(),
    )
    _save_seance(seance)
    changes = {"seance": seance.pk, "debut": debut, "duree_minutes": duree_minutes}
    _event(action, acting_user, "seance", f"Séance ajoutée\u00a0: {_dt(debut)}", changes)
    _audit(acting_user, action, seance, changes, kind=AuditLog.Action.CREATE)
    return seance


def _get_future_seance(seance, now):
    seance = Seance.objects.select_for_update().get(pk=seance.pk)
    if seance.debut <= now:
        raise ValidationError("Cette séance a commencé ou est passée\u00a0: elle ne change plus.")
    return seance


@transaction.atomic
def seance_update(
    *, seance, acting_user, debut, duree_minutes=120, lieu="", lien_visio="", now=None
):
    action = _lock(seance.action)
    _require_runner(acting_user, action)
    _require_open(action)
    now = now or timezone.now()
    seance = _get_future_seance(seance, now)
    _check_seance(
        action, debut=debut, duree_minutes=duree_minutes, lieu=lieu, lien_visio=lien_visio, now=now
    )
    changes = field_changes(
        seance,
        {
            "debut": debut,
            "duree_minutes": duree_minutes,
            "lieu": (lieu or "").strip(),
            "lien_visio": (lien_visio or "").strip(),
        },
    )
    if not changes:
        return seance
    _save_seance(seance)
    _event(
        action,
        acting_user,
        "seance",
        f"Séance modifiée\u00a0: {_dt(seance.debut)}",
        {"seance": seance.pk, **changes},
    )
    _audit(acting_user, action, seance, changes)
    return seance


@transaction.atomic
def seance_delete(*, seance, acting_user, now=None):
    action = _lock(seance.action)
    _require_runner(acting_user, action)
    _require_open(action)
    now = now or timezone.now()
    seance = _get_future_seance(seance, now)
    if action.statut in (S.PUBLIEE, S.EN_COURS):
        count = action.seances.count()
        if count - 1 < action.type.min_seances:
            raise ValidationError(
                f"L'action est publiée\u00a0: elle garde au moins {action.type.min_seances} "
                f"séance{'s' if action.type.min_seances > 1 else ''}. Déplacez plutôt celle-ci."
            )
    debut, pk = seance.debut, seance.pk
    seance.delete()
    changes = {"seance": pk, "debut": debut}
    _event(action, acting_user, "seance", f"Séance supprimée\u00a0: {_dt(debut)}", changes)
    audit(
        user=acting_user,
        action=AuditLog.Action.DELETE,
        obj=Seance(pk=pk),
        changes=changes,
    )


# --- Validations ------------------------------------------------------------------------------


@transaction.atomic
def validation_request(*, action, acting_user, niveau):
    """Ask the unit's or the region's validation (who runs the action; unit before region)."""
    action = _lock(action)
    _require_runner(acting_user, action)
    if niveau not in ValidationLevel.values:
        raise ValidationError("Niveau de validation inconnu.")
    problem = request_problem(action, niveau)
    if problem:
        raise ValidationError(problem)
    try:
        with transaction.atomic():
            validation = Validation.objects.create(
                action=action, niveau=niveau, demandee_par=acting_user
            )
    except IntegrityError as exc:  # asked at the same moment by a co-animateur
        raise ValidationError(f"La validation {LEVEL_LABELS[niveau]} est déjà demandée.") from exc
    changes = {"validation": validation.pk, "niveau": niveau}
    _event(
        action,
        acting_user,
        "validation",
        f"Validation {LEVEL_LABELS[niveau]} demandée",
        changes,
    )
    _audit(acting_user, action, validation, changes, kind=AuditLog.Action.CREATE)
    return validation


def can_decide(user, validation):
    action = validation.action
    if validation.niveau == ValidationLevel.UNITE:
        return can_validate_unit(user, action)
    return can_validate_region(user, action)


def _decide(validation, acting_user, new, commentaire):
    validation = Validation.objects.select_related("action__type").get(pk=validation.pk)
    if not can_decide(acting_user, validation):
        who = (
            "Seul·e un·e responsable de l'unité de l'action"
            if validation.niveau == ValidationLevel.UNITE
            else "Seul l'encadrement régional de la région"
        )
        raise PermissionDenied(f"{who} décide de cette validation.")
    action = _lock(validation.action)
    now = timezone.now()
    updated = Validation.objects.filter(pk=validation.pk, statut=ValidationStatus.DEMANDEE).update(
        statut=new, decidee_par=acting_user, decidee_le=now, commentaire=commentaire
    )
    if not updated:
        raise ValidationError("Cette demande de validation a déjà reçu une réponse.")
    validation.refresh_from_db()
    return validation, action


@transaction.atomic
def validation_approve(*, validation, acting_user, commentaire=""):
    commentaire = (commentaire or "").strip()
    validation, action = _decide(validation, acting_user, ValidationStatus.APPROUVEE, commentaire)
    level = validation.niveau
    old = _set_status(
        action, expected=[_status_before(action.type, level)], new=_approved_status(level)
    )
    changes = {
        "validation": validation.pk,
        "niveau": level,
        "statut": [old, action.statut],
        "commentaire": commentaire,
    }
    summary = f"Validation {LEVEL_LABELS[level]} accordée"
    if commentaire:
        summary += f"\u00a0: {commentaire}"
    _event(action, acting_user, "validation", summary, changes)
    _audit(acting_user, action, validation, changes)
    if level == ValidationLevel.UNITE and action.type.validation_region:
        _forward_to_region(action, acting_user)
    return validation


def _forward_to_region(action, acting_user):
    """The unit's approval asks the region's in the same step (« validated locally then
    regionally »): nobody has to come back to ask it."""
    region = Validation.objects.create(
        action=action, niveau=ValidationLevel.REGION, demandee_par=acting_user
    )
    changes = {"validation": region.pk, "niveau": ValidationLevel.REGION}
    _event(
        action,
        acting_user,
        "validation",
        "Validation de la région demandée (transmise par l'unité)",
        changes,
    )
    _audit(acting_user, action, region, changes, kind=AuditLog.Action.CREATE)
    return region


@transaction.atomic
def validation_refuse(*, validation, acting_user, commentaire):
    commentaire = _require_text(
        commentaire, "commentaire", "Dites pourquoi vous refusez\u00a0: l'animateur·rice le lira."
    )
    validation, action = _decide(validation, acting_user, ValidationStatus.REFUSEE, commentaire)
    old = action.statut
    if old != S.PROJET:
        _set_status(action, expected=[old], new=S.PROJET)
    changes = {
        "validation": validation.pk,
        "niveau": validation.niveau,
        "statut": [old, S.PROJET],
        "commentaire": commentaire,
    }
    _event(
        action,
        acting_user,
        "validation",
        f"Validation {LEVEL_LABELS[validation.niveau]} refusée\u00a0: {commentaire}",
        changes,
    )
    _audit(acting_user, action, validation, changes)
    return validation


# --- Publishing, starting, finishing, cancelling ----------------------------------------------


def _transition(action, acting_user, *, expected, new, summary, commentaire="", checks=True):
    action = _lock(action)
    _require_runner(acting_user, action)
    if action.statut not in expected:
        raise ValidationError(
            f"L'action est «\u00a0{action.get_statut_display().lower()}\u00a0»\u00a0: "
            "cette étape n'est pas possible."
        )
    if checks:
        problems = publish_problems(action)
        if problems:
            raise ValidationError(problems)
    old = _set_status(action, expected=expected, new=new)
    commentaire = (commentaire or "").strip()
    changes = {"statut": [old, new], "commentaire": commentaire}
    _event(
        action,
        acting_user,
        "statut",
        summary + (f"\u00a0: {commentaire}" if commentaire else ""),
        changes,
    )
    _audit(acting_user, action, action, changes)
    return action


@transaction.atomic
def action_publish(*, action, acting_user, commentaire=""):
    """Open the action to registrations (and the regional calendar)."""
    action = ActionCollective.objects.select_related("type").get(pk=action.pk)
    return _transition(
        action,
        acting_user,
        expected=[ready_status(action.type)],
        new=S.PUBLIEE,
        summary="Action publiée",
        commentaire=commentaire,
    )


@transaction.atomic
def action_start(*, action, acting_user, commentaire=""):
    return _transition(
        action,
        acting_user,
        expected=[S.PUBLIEE],
        new=S.EN_COURS,
        summary="Action commencée",
        commentaire=commentaire,
    )


def finish_problem(action, now=None):
    now = now or timezone.now()
    upcoming = action.seances.filter(debut__gt=now).order_by("debut").first()
    if upcoming is not None:
        return (
            f"La séance du {_dt(upcoming.debut)} n'a pas encore eu lieu\u00a0: supprimez-la ou "
            "terminez l'action après elle."
        )
    return ""


@transaction.atomic
def action_finish(*, action, acting_user, commentaire="", now=None):
    """En cours → terminée, once every session has begun; `action_finished` is sent inside
    the transaction (outreach sends the end-of-action questionnaire)."""
    action = _lock(action)
    _require_runner(acting_user, action)
    problem = finish_problem(action, now)
    if problem and action.statut == S.EN_COURS:
        raise ValidationError(problem)
    action = _transition(
        action,
        acting_user,
        expected=[S.EN_COURS],
        new=S.TERMINEE,
        summary="Action terminée",
        commentaire=commentaire,
        checks=False,
    )
    action_finished.send(sender=ActionCollective, action=action, acting_user=acting_user)
    return action


@transaction.atomic
def action_cancel(*, action, acting_user, reason):
    """Any status but terminée → annulée, with a reason. Every participant still in (seat,
    to confirm, waitlist) is marked « annulé » without any promotion, each with its traces
    (action history without the name, audit, case timeline)."""
    reason = _require_text(reason, "reason", "Dites pourquoi l'action est annulée.")
    action = _lock(action)
    _require_runner(acting_user, action)
    _require_open(action)
    old = _set_status(action, expected=[action.statut], new=S.ANNULEE)
    rows = list(
        Participant.objects.select_for_update(of=("self",))
        .filter(action=action)
        .exclude(statut__classe=StatusClass.NEGATIVE)
        .select_related("statut")
    )
    cancelled = participants.status(participants.ANNULE)
    for participant in rows:
        participant.statut = cancelled
        participant.confirmer_avant = None
    Participant.objects.bulk_update(rows, ["statut", "confirmer_avant"])
    ActionCollective.objects.filter(pk=action.pk).update(places_prises=0)
    # A validation still asked has no object any more: answered by the cancellation.
    Validation.objects.filter(action=action, statut=ValidationStatus.DEMANDEE).update(
        statut=ValidationStatus.REFUSEE,
        decidee_par=acting_user,
        decidee_le=timezone.now(),
        commentaire=f"Action annulée\u00a0: {reason}"[:1000],
    )
    action.places_prises = 0
    for participant in rows:
        participant.action = action
        participants.record(
            participant,
            acting_user=acting_user,
            summary="Inscription annulée avec l'action",
        )
    changes = {"statut": [old, S.ANNULEE], "motif": reason, "participants_annules": len(rows)}
    _event(action, acting_user, "statut", f"Action annulée\u00a0: {reason}", changes)
    _audit(acting_user, action, action, changes)
    action_cancelled.send(
        sender=ActionCollective, action=action, acting_user=acting_user, participants=rows
    )
    return action


# --- What the page offers ---------------------------------------------------------------------

STEP_LABELS = {
    "publier": "Publier l'action",
    "demarrer": "Commencer l'action",
    "terminer": "Terminer l'action",
}


def next_steps(action):
    """The status steps of `action`'s status (slug list), whatever their checks."""
    if action.statut == ready_status(action.type):
        return ["publier"]
    if action.statut == S.PUBLIEE:
        return ["demarrer"]
    if action.statut == S.EN_COURS:
        return ["terminer"]
    return []
