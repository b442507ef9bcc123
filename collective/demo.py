"""Collective actions of the demo (`seed_demo`), written through `collective.services`:

- an ISIC « Cancer et travail » in projet, led by ass.rouen with ass2.rouen, a Cap emploi
  contact invited, three sessions to come: ready for her to ask the unit's validation;
- a regional webinar, published, led by the regional manager with two ASS, one session with
  its visio link;
- an information meeting of the Caen unit, validated by its manager, held three weeks ago and
  finished.

- an ISIC « Souffrance au travail » of Rouen, validated by the unit and the region, running,
  its three sessions held in the last weeks, five people of ass.rouen's cases in it: ready for
  her to record the attendance and finish it (which sends the end-of-action questionnaire).

Idempotent: an action found by its title in the region is left as it is. Where a service
refuses the past (a session is planned in the future), the finished meeting's session is
planned first, then moved to its past date directly.
"""

import datetime

from django.utils import timezone

from cases.models import Accompagnement
from collective import participants, services
from collective.models import ActionCollective, ActionEvent, ActionType, Seance, Theme, Validation
from pdp.models import PartnerContact

ISIC_TITLE = "Groupe « Cancer et travail » – Rouen"
WEBINAR_TITLE = "Webinaire régional : reprendre le travail après un arrêt long"
INFO_TITLE = "Réunion d'information : vos droits pendant l'arrêt – Caen"
RUNNING_TITLE = "Groupe « Souffrance au travail » – Rouen"


def _at(days, hour, minute=0):
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def _next_weekday(days, weekday):
    """The number of days from today to the first `weekday` (0 = Monday) on or after `days`."""
    day = timezone.localdate() + datetime.timedelta(days=days)
    return days + (weekday - day.weekday()) % 7


def _exists(region, title):
    return ActionCollective.objects.filter(region=region, titre=title).exists()


def seed_collective(users):
    ass = users["ass.rouen"]
    region = ass.unit.region
    created = 0
    if not _exists(region, ISIC_TITLE):
        contacts = list(
            PartnerContact.objects.filter(partner__name__icontains="Cap emploi")
            .filter(partner__region=region)
            .order_by("pk")[:1]
        )
        isic = services.action_create(
            acting_user=ass,
            type=ActionType.objects.get(code="isic"),
            theme=Theme.objects.get(label="Cancer et travail"),
            titre=ISIC_TITLE,
            description=(
                "Un groupe de quelques personnes en arrêt de travail, pour échanger sur le "
                "retour à l'emploi avec une assistante sociale et des partenaires."
            ),
            co_animateurs=[users["ass2.rouen"]],
            partenaires=contacts,
            capacite=10,
        )
        first = _next_weekday(14, 1)  # a Tuesday, two weeks ahead at least
        for week in range(3):
            services.seance_add(
                action=isic,
                acting_user=ass,
                debut=_at(first + 14 * week, 14),
                duree_minutes=120,
                lieu="Agence de Rouen, 12 rue de la République, salle 2",
            )
        created += 1
    regional = users["regional"]
    if not _exists(region, WEBINAR_TITLE):
        day = _next_weekday(10, 3)  # a Thursday
        webinar = services.action_create(
            acting_user=regional,
            type=ActionType.objects.get(code="webinaire"),
            theme=Theme.objects.get(label="Reprise du travail après un arrêt long"),
            titre=WEBINAR_TITLE,
            description=(
                "Une heure pour connaître les étapes et les aides qui préparent la reprise du "
                "travail, et poser vos questions au service social."
            ),
            co_animateurs=[ass, users["ass.caen"]],
            capacite=100,
            inscription_debut=timezone.localdate(),
            inscription_fin=timezone.localdate() + datetime.timedelta(days=day),
            lien_visio="https://visio.assurance-maladie.example/webinaire-reprise",
        )
        services.seance_add(
            action=webinar, acting_user=regional, debut=_at(day, 14, 30), duree_minutes=60
        )
        services.action_publish(action=webinar, acting_user=regional)
        created += 1
    if not _exists(region, INFO_TITLE):
        caen = users["ass.caen"]
        info = services.action_create(
            acting_user=caen,
            type=ActionType.objects.get(code="info_collective"),
            theme=Theme.objects.get(label="Droits et démarches pendant l'arrêt"),
            titre=INFO_TITLE,
            description="Les indemnités, les démarches et les interlocuteurs pendant l'arrêt.",
            capacite=20,
        )
        seance = services.seance_add(
            action=info,
            acting_user=caen,
            debut=_at(1, 10),
            duree_minutes=90,
            lieu="Agence de Caen, salle du rez-de-chaussée",
        )
        validation = services.validation_request(action=info, acting_user=caen, niveau="unite")
        services.validation_approve(validation=validation, acting_user=users["responsable.caen"])
        services.action_publish(action=info, acting_user=caen)
        services.action_start(action=info, acting_user=caen)
        # Held three weeks ago: the session, its validation and the history go back in time.
        Seance.objects.filter(pk=seance.pk).update(debut=_at(-21, 10))
        info.events.filter(kind="seance").update(
            summary=f"Séance ajoutée\u00a0: {services._dt(_at(-21, 10))}"
        )
        Validation.objects.filter(action=info).update(
            demandee_le=_at(-42, 11), decidee_le=_at(-40, 9)
        )
        for event, days in zip(
            info.events.order_by("created_at", "pk"), (-45, -45, -42, -40, -35, -21), strict=False
        ):
            ActionEvent.objects.filter(pk=event.pk).update(created_at=_at(days, 12))
        services.action_finish(action=info, acting_user=caen)
        created += 1
    return created


def _back_in_time(action, seances_days, hour):
    """Move the sessions of `action` (planned in the future by the services) to the past."""
    for seance, days in zip(action.seances.order_by("debut"), seances_days, strict=True):
        Seance.objects.filter(pk=seance.pk).update(debut=_at(days, hour))


def seed_running_isic(users):
    """The running ISIC whose sessions are held (see the module). Returns 1 if created."""
    ass = users["ass.rouen"]
    region = ass.unit.region
    if _exists(region, RUNNING_TITLE):
        return 0
    isic = services.action_create(
        acting_user=ass,
        type=ActionType.objects.get(code="isic"),
        theme=Theme.objects.get(label="Souffrance au travail"),
        titre=RUNNING_TITLE,
        description="Trois rencontres pour parler du retour au travail et de ce qui l'aide.",
        capacite=8,
    )
    for week in range(3):
        services.seance_add(
            action=isic,
            acting_user=ass,
            debut=_at(1 + week, 14),
            duree_minutes=120,
            lieu="Agence de Rouen, 12 rue de la République, salle 2",
        )
    validation = services.validation_request(action=isic, acting_user=ass, niveau="unite")
    services.validation_approve(validation=validation, acting_user=users["responsable.rouen"])
    regional = Validation.objects.get(action=isic, niveau="region", statut="demandee")
    services.validation_approve(validation=regional, acting_user=users["regional"])
    services.action_publish(action=isic, acting_user=ass)
    cases = Accompagnement.objects.open().filter(referent=ass).order_by("pk")[:5]
    for case in cases:
        participants.participant_add_from_case(
            action=isic, accompagnement=case, accord=True, acting_user=ass
        )
    services.action_start(action=isic, acting_user=ass)
    _back_in_time(isic, (-21, -14, -7), 14)
    return 1
