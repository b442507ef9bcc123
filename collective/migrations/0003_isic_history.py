"""ISIC is no longer a per-case dispositif but participation in a group (issue 11, item 2).

For each existing `cases.DispositifMobilise` of type « isic »: the person becomes a
participant of one action per unit, « ISIC (reprise de l'historique) » (type isic, no capacity,
no session: the history did not record them), created once per unit and reused:

- animateur: the référent of the unit's first migrated case when she is an active ASS of the
  unit, else the unit's first active ASS, else that référent;
- participant: source « ass », the case as accompagnement, the agreement recorded as the
  dispositif's creation date by the case's référent, registered at that date too; status
  « A participé » for a dispositif terminé (or en cours / accordé whose end date is past),
  « annulé » for a refused or abandoned one, « inscrit » otherwise; a person with two ISIC
  dispositifs in a unit is one participant (the first dispositif's status);
- action status: « en cours » while one participant is still « inscrit », else « terminée »;
  `places_prises` is the count of participants who take a seat;
- an ActionEvent on the action, a CaseEvent on each case and an audit row per participant.

Then the « isic » DispositifType is deactivated: it can no longer be mobilised (the catalogue
offers active types only); existing rows stay as they were, readable on the case. Reversing
reactivates the type and deletes the « reprise » actions with their participants.
"""

from django.db import migrations
from django.utils import timezone

TITLE = "ISIC (reprise de l'historique)"
DONE = {"termine"}
DROPPED = {"refuse", "abandonne"}
ONGOING_IF_NOT_ENDED = {"en_cours", "accorde"}


def _participant_code(dispositif, today):
    if dispositif.statut in DONE:
        return "present"
    if dispositif.statut in DROPPED:
        return "annule"
    if (
        dispositif.statut in ONGOING_IF_NOT_ENDED
        and dispositif.date_fin is not None
        and dispositif.date_fin < today
    ):
        return "present"
    return "inscrit"


def _animateur(User, case):
    referent = case.referent
    if referent.is_active and referent.role == "ass" and referent.unit_id == case.unit_id:
        return referent
    first = User.objects.filter(unit_id=case.unit_id, role="ass", is_active=True).order_by("pk")
    return first.first() or referent


def migrate_isic(apps, schema_editor):
    DispositifType = apps.get_model("cases", "DispositifType")
    DispositifMobilise = apps.get_model("cases", "DispositifMobilise")
    CaseEvent = apps.get_model("cases", "CaseEvent")
    ActionType = apps.get_model("collective", "ActionType")
    ActionCollective = apps.get_model("collective", "ActionCollective")
    ActionEvent = apps.get_model("collective", "ActionEvent")
    Participant = apps.get_model("collective", "Participant")
    ParticipantStatus = apps.get_model("collective", "ParticipantStatus")
    AuditLog = apps.get_model("pdp", "AuditLog")
    User = apps.get_model(*_user_model().split("."))

    isic_type = DispositifType.objects.filter(code="isic").first()
    if isic_type is None:
        return
    action_type = ActionType.objects.get(code="isic")
    statuses = {row.code: row for row in ParticipantStatus.objects.all()}
    today = timezone.localdate()
    rows = (
        DispositifMobilise.objects.filter(type=isic_type)
        .select_related("accompagnement__referent", "accompagnement__unit")
        .order_by("created_at", "pk")
    )
    actions = {}
    migrated = {}
    for dispositif in rows:
        case = dispositif.accompagnement
        action = actions.get(case.unit_id)
        if action is None:
            action = ActionCollective.objects.filter(
                unit_id=case.unit_id, type=action_type, titre=TITLE
            ).first()
            if action is None:
                animateur = _animateur(User, case)
                action = ActionCollective.objects.create(
                    type=action_type,
                    titre=TITLE,
                    description="",
                    region_id=case.unit.region_id,
                    unit_id=case.unit_id,
                    animateur=animateur,
                    created_by=animateur,
                    capacite=None,
                    statut="terminee",
                )
            actions[case.unit_id] = action
        participant = Participant.objects.filter(action=action, assure_id=case.assure_id).first()
        attached = participant is not None
        if not attached:
            code = _participant_code(dispositif, today)
            participant = Participant.objects.create(
                action=action,
                assure_id=case.assure_id,
                accompagnement=case,
                statut=statuses[code],
                source="ass",
                accord_le=dispositif.created_at,
                accord_par_id=case.referent_id,
                created_by_id=case.referent_id,
            )
            Participant.objects.filter(pk=participant.pk).update(inscrit_le=dispositif.created_at)
            AuditLog.objects.create(
                user=None,
                action="create",
                object_type="collective.participant",
                object_id=str(participant.pk),
                assure_id=case.assure_id,
                changes={
                    "statut": [None, code],
                    "reprise_dispositif": dispositif.pk,
                    "migration": "collective.0003_isic_history",
                },
            )
        migrated.setdefault(action.pk, 0)
        migrated[action.pk] += 1
        if CaseEvent.objects.filter(
            accompagnement=case, kind="collective", changes__dispositif=dispositif.pk
        ).exists():  # already taken over (the function run twice)
            continue
        CaseEvent.objects.create(
            accompagnement=case,
            actor=None,
            kind="collective",
            summary=(
                f"Dispositif ISIC repris comme participation à l'action collective « {TITLE} »"
            )[:255],
            changes={
                "action_collective": action.pk,
                "participant": participant.pk,
                "dispositif": dispositif.pk,
            },
        )
    for action in actions.values():
        counted = Participant.objects.filter(action=action, statut__compte=True).count()
        ongoing = Participant.objects.filter(action=action, statut__code="inscrit").exists()
        ActionCollective.objects.filter(pk=action.pk).update(
            places_prises=counted, statut="en_cours" if ongoing else "terminee"
        )
        ActionEvent.objects.create(
            action=action,
            actor=None,
            kind="reprise",
            summary=(
                f"Reprise de l'historique : {migrated.get(action.pk, 0)} dispositif(s) ISIC "
                "des accompagnements de l'unité"
            ),
            changes={"dispositifs": migrated.get(action.pk, 0)},
        )
    DispositifType.objects.filter(pk=isic_type.pk).update(active=False)


def restore_isic(apps, schema_editor):
    DispositifType = apps.get_model("cases", "DispositifType")
    ActionCollective = apps.get_model("collective", "ActionCollective")
    Participant = apps.get_model("collective", "Participant")
    actions = ActionCollective.objects.filter(type__code="isic", titre=TITLE)
    Participant.objects.filter(action__in=actions).delete()
    actions.delete()
    DispositifType.objects.filter(code="isic").update(active=True)


def _user_model():
    from django.conf import settings

    return settings.AUTH_USER_MODEL


class Migration(migrations.Migration):
    dependencies = [
        ("collective", "0002_reference_data"),
        ("cases", "0014_alter_caseevent_kind"),
        ("pdp", "0006_unit_telephone"),
    ]

    operations = [migrations.RunPython(migrate_isic, restore_isic)]
