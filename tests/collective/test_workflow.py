"""The workflow of a collective action (collective.services): the rules of each type as data
(sessions, validations), who may ask and approve, refusal, publication, start, finish, cancel."""

import datetime
import itertools

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from collective import participants as p
from collective import services
from collective.models import (
    ActionEvent,
    ActionStatus,
    ActionType,
    Participant,
    ParticipantSource,
    Seance,
    Validation,
    ValidationStatus,
)
from collective.signals import action_finished
from pdp.models import AuditLog
from tests.factories import (
    ActionCollectiveFactory,
    AssureFactory,
    RegionFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

S = ActionStatus
UNITE, REGION = "unite", "region"


def future(days, hour=14):
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


DAYS = itertools.count(7, 7)


def add_seances(action, n, user=None):
    return [
        services.seance_add(
            action=action,
            acting_user=user or action.animateur,
            debut=future(next(DAYS) % 700 + 1),
            lieu="Agence, salle 2",
        )
        for _ in range(n)
    ]


def isic_type():
    return ActionType.objects.get(code="isic")


@pytest.fixture
def isic(ass):
    return services.action_create(acting_user=ass, type=isic_type(), titre="Groupe du jeudi")


def _approve(action, level, user):
    """Approve `level`, asking it first unless the unit's approval already did."""
    validation = action.validations.filter(niveau=level, statut="demandee").first()
    if validation is None:
        validation = services.validation_request(
            action=action, acting_user=action.animateur, niveau=level
        )
    return services.validation_approve(validation=validation, acting_user=user)


# --- Creation -----------------------------------------------------------------------------------


def test_an_ass_creates_an_action_of_her_unit_in_projet_with_its_traces(ass, unit):
    action = services.action_create(acting_user=ass, type=isic_type(), titre="  Groupe  ")
    assert (action.statut, action.unit, action.region_id, action.animateur) == (
        S.PROJET,
        unit,
        unit.region_id,
        ass,
    )
    assert action.titre == "Groupe"
    assert ActionEvent.objects.filter(action=action, kind="creation").count() == 1
    assert AuditLog.objects.filter(
        object_type="collective.actioncollective", object_id=str(action.pk), action="create"
    ).exists()


def test_a_conseiller_does_not_create_an_action(conseiller):
    with pytest.raises(PermissionDenied):
        services.action_create(acting_user=conseiller, type=isic_type(), titre="Groupe")


def test_a_type_validated_by_a_unit_needs_a_unit(regional):
    with pytest.raises(ValidationError) as refused:
        services.action_create(acting_user=regional, type=isic_type(), titre="Groupe", unit=None)
    assert "unit" in refused.value.message_dict
    webinar = services.action_create(
        acting_user=regional, type=ActionType.objects.get(code="webinaire"), titre="Webinaire"
    )
    assert webinar.unit is None and webinar.region_id == regional.region_id


def test_co_animateurs_come_from_the_region_and_bad_fields_are_refused(ass, unit):
    elsewhere = UserFactory(ass=True, unit=UnitFactory(region=RegionFactory(code="ARA")))
    with pytest.raises(ValidationError) as refused:
        services.action_create(
            acting_user=ass, type=isic_type(), titre="G", co_animateurs=[elsewhere]
        )
    assert "co_animateurs" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.action_create(
            acting_user=ass,
            type=isic_type(),
            titre="G",
            inscription_debut=datetime.date(2027, 3, 10),
            inscription_fin=datetime.date(2027, 3, 1),
        )
    assert "inscription_fin" in refused.value.message_dict


# --- Sessions -----------------------------------------------------------------------------------


def test_sessions_are_planned_in_the_future_only(isic):
    with pytest.raises(ValidationError) as refused:
        services.seance_add(
            action=isic,
            acting_user=isic.animateur,
            debut=timezone.now() - datetime.timedelta(hours=1),
            lieu="Agence",
        )
    assert "date" in refused.value.message_dict
    seance = add_seances(isic, 1)[0]
    with pytest.raises(ValidationError):  # the same start twice
        services.seance_add(
            action=isic, acting_user=isic.animateur, debut=seance.debut, lieu="Agence"
        )
    with pytest.raises(ValidationError) as refused:  # neither place nor visio link
        services.seance_add(action=isic, acting_user=isic.animateur, debut=future(30))
    assert "lieu" in refused.value.message_dict
    past = SeanceFactory(action=isic, debut=timezone.now() - datetime.timedelta(days=1))
    with pytest.raises(ValidationError):
        services.seance_update(
            seance=past, acting_user=isic.animateur, debut=future(40), lieu="Agence"
        )
    with pytest.raises(ValidationError):
        services.seance_delete(seance=past, acting_user=isic.animateur)
    moved = services.seance_update(
        seance=seance, acting_user=isic.animateur, debut=future(9), lieu="Salle 3"
    )
    assert moved.lieu == "Salle 3"
    services.seance_delete(seance=seance, acting_user=isic.animateur)
    assert not Seance.objects.filter(pk=seance.pk).exists()
    assert isic.events.filter(kind="seance").count() == 3


def test_only_who_runs_the_action_plans_its_sessions(isic, colleague, manager):
    with pytest.raises(PermissionDenied):
        services.seance_add(action=isic, acting_user=colleague, debut=future(7), lieu="Agence")
    assert services.seance_add(action=isic, acting_user=manager, debut=future(7), lieu="Agence")


def test_no_session_changes_on_a_cancelled_action(isic):
    seance = add_seances(isic, 1)[0]
    services.action_cancel(action=isic, acting_user=isic.animateur, reason="Trop peu d'inscrits")
    with pytest.raises(ValidationError):
        services.seance_add(action=isic, acting_user=isic.animateur, debut=future(20), lieu="A")
    with pytest.raises(ValidationError):
        services.seance_delete(seance=seance, acting_user=isic.animateur)


# --- The rules of each type ------------------------------------------------------------------


def test_an_isic_needs_three_sessions_and_the_unit_then_the_region(isic, manager, regional):
    add_seances(isic, 2)
    with pytest.raises(ValidationError) as refused:
        services.validation_request(action=isic, acting_user=isic.animateur, niveau=UNITE)
    assert "au moins 3 séances" in refused.value.messages[0]
    with pytest.raises(ValidationError) as refused:
        services.validation_request(action=isic, acting_user=isic.animateur, niveau=REGION)
    assert "unité vient d'abord" in refused.value.messages[0]
    add_seances(isic, 1)
    with pytest.raises(ValidationError) as refused:
        services.action_publish(action=isic, acting_user=isic.animateur)
    _approve(isic, UNITE, manager)
    isic.refresh_from_db()
    assert isic.statut == S.VALIDEE_UNITE
    with pytest.raises(ValidationError) as refused:  # the region is still required
        services.action_publish(action=isic, acting_user=isic.animateur)
    _approve(isic, REGION, regional)
    isic.refresh_from_db()
    assert isic.statut == S.VALIDEE_REGION
    services.action_publish(action=isic, acting_user=isic.animateur)
    services.action_start(action=isic, acting_user=isic.animateur)
    isic.refresh_from_db()
    assert isic.statut == S.EN_COURS


def test_an_isic_with_fewer_than_three_sessions_cannot_be_published_nor_started(
    isic, manager, regional
):
    seances = add_seances(isic, 3)
    _approve(isic, UNITE, manager)
    _approve(isic, REGION, regional)
    # A session deleted after the validations, before publishing.
    services.seance_delete(seance=seances[2], acting_user=isic.animateur)
    with pytest.raises(ValidationError) as refused:
        services.action_publish(action=isic, acting_user=isic.animateur)
    assert "ajoutez-en 1" in refused.value.messages[0]
    add_seances(isic, 1)
    services.action_publish(action=isic, acting_user=isic.animateur)
    # Published, it keeps its three sessions.
    with pytest.raises(ValidationError):
        services.seance_delete(seance=seances[0], acting_user=isic.animateur)
    # A session removed behind the services' back: starting still checks.
    Seance.objects.filter(pk=seances[0].pk).delete()
    with pytest.raises(ValidationError):
        services.action_start(action=isic, acting_user=isic.animateur)


def test_a_webinar_publishes_without_validation_with_one_session(regional):
    webinar = services.action_create(
        acting_user=regional,
        type=ActionType.objects.get(code="webinaire"),
        titre="Webinaire",
        lien_visio="https://visio.example.org/w",
    )
    with pytest.raises(ValidationError):
        services.action_publish(action=webinar, acting_user=regional)
    with pytest.raises(ValidationError):
        services.validation_request(action=webinar, acting_user=regional, niveau=UNITE)
    services.seance_add(action=webinar, acting_user=regional, debut=future(10))
    services.action_publish(action=webinar, acting_user=regional)
    webinar.refresh_from_db()
    assert webinar.statut == S.PUBLIEE


def test_an_information_meeting_needs_the_unit_only(ass, manager, regional):
    action = services.action_create(
        acting_user=ass, type=ActionType.objects.get(code="info_collective"), titre="Info"
    )
    add_seances(action, 1)
    with pytest.raises(ValidationError):
        services.validation_request(action=action, acting_user=ass, niveau=REGION)
    _approve(action, UNITE, manager)
    services.action_publish(action=action, acting_user=ass)
    action.refresh_from_db()
    assert action.statut == S.PUBLIEE


def test_the_rules_are_data_a_type_changed_in_the_admin_changes_them(isic, manager):
    ActionType.objects.filter(code="isic").update(min_seances=1, validation_region=False)
    isic.refresh_from_db()
    add_seances(isic, 1)
    _approve(isic, UNITE, manager)
    services.action_publish(action=isic, acting_user=isic.animateur)
    isic.refresh_from_db()
    assert isic.statut == S.PUBLIEE


# --- Who may approve, refusal ------------------------------------------------------------------


def test_only_the_units_manager_approves_the_unit_and_the_regional_manager_the_region(
    isic, ass, manager, regional, other_unit
):
    add_seances(isic, 3)
    validation = services.validation_request(action=isic, acting_user=ass, niveau=UNITE)
    other_manager = UserFactory(manager=True, unit=other_unit)
    for user in (ass, other_manager, regional):
        with pytest.raises(PermissionDenied):
            services.validation_approve(validation=validation, acting_user=user)
    services.validation_approve(validation=validation, acting_user=manager, commentaire="Bien")
    with pytest.raises(ValidationError):  # answered once
        services.validation_approve(validation=validation, acting_user=manager)
    # The unit's approval asked the region's.
    region = isic.validations.get(niveau=REGION, statut=ValidationStatus.DEMANDEE)
    assert region.demandee_par == manager
    other_regional = UserFactory(regional=True, region=RegionFactory(code="ARA"))
    for user in (manager, other_regional):
        with pytest.raises(PermissionDenied):
            services.validation_approve(validation=region, acting_user=user)
    services.validation_approve(validation=region, acting_user=regional)
    region.refresh_from_db()
    assert (region.statut, region.decidee_par, region.decidee_le is not None) == (
        ValidationStatus.APPROUVEE,
        regional,
        True,
    )


def test_asking_twice_is_refused(isic, ass):
    add_seances(isic, 3)
    services.validation_request(action=isic, acting_user=ass, niveau=UNITE)
    with pytest.raises(ValidationError) as refused:
        services.validation_request(action=isic, acting_user=ass, niveau=UNITE)
    assert "déjà demandée" in refused.value.messages[0]


def test_a_colleague_who_does_not_run_it_cannot_ask(isic, colleague):
    add_seances(isic, 3)
    with pytest.raises(PermissionDenied):
        services.validation_request(action=isic, acting_user=colleague, niveau=UNITE)


def test_a_refusal_needs_a_comment_and_sends_the_action_back_to_projet(
    isic, ass, manager, regional
):
    add_seances(isic, 3)
    _approve(isic, UNITE, manager)
    region = isic.validations.get(niveau=REGION, statut=ValidationStatus.DEMANDEE)
    with pytest.raises(ValidationError) as refused:
        services.validation_refuse(validation=region, acting_user=regional, commentaire="  ")
    assert "commentaire" in refused.value.message_dict
    region.refresh_from_db()
    assert region.statut == ValidationStatus.DEMANDEE
    services.validation_refuse(
        validation=region, acting_user=regional, commentaire="Préciser les partenaires"
    )
    isic.refresh_from_db()
    assert isic.statut == S.PROJET
    with pytest.raises(ValidationError):
        services.action_publish(action=isic, acting_user=ass)
    # Back to projet: the unit is asked again first.
    with pytest.raises(ValidationError):
        services.validation_request(action=isic, acting_user=ass, niveau=REGION)
    _approve(isic, UNITE, manager)
    _approve(isic, REGION, regional)
    services.action_publish(action=isic, acting_user=ass)
    summaries = list(isic.events.filter(kind="validation").values_list("summary", flat=True))
    assert any("refusée\u00a0: Préciser les partenaires" in s for s in summaries)
    assert Validation.objects.filter(action=isic).count() == 4  # unit, region, unit, region


# --- Editing -------------------------------------------------------------------------------------


def test_what_was_validated_is_fixed_the_practical_fields_are_not(isic, ass, manager):
    add_seances(isic, 3)
    services.action_update(action=isic, acting_user=ass, titre="Nouveau titre")
    services.validation_request(action=isic, acting_user=ass, niveau=UNITE)
    with pytest.raises(ValidationError) as refused:  # pending: fixed already
        services.action_update(action=isic, acting_user=ass, titre="Autre")
    assert "titre" in refused.value.message_dict
    services.action_update(action=isic, acting_user=ass, capacite=12, lien_visio="")
    isic.refresh_from_db()
    assert (isic.titre, isic.capacite) == ("Nouveau titre", 12)
    assert isic.events.filter(kind="modification").count() == 2


def test_the_capacity_cannot_drop_below_the_seats_taken_and_more_seats_promote(isic):
    services.action_update(action=isic, acting_user=isic.animateur, capacite=2)
    register = p.participant_register
    first, second, third = (
        register(action=isic, assure=AssureFactory(), source=ParticipantSource.CODE)
        for _ in range(3)
    )
    assert third.statut.code == p.LISTE_ATTENTE
    with pytest.raises(ValidationError) as refused:
        services.action_update(action=isic, acting_user=isic.animateur, capacite=1)
    assert "2 places sont déjà prises" in refused.value.message_dict["capacite"][0]
    services.action_update(action=isic, acting_user=isic.animateur, capacite=3)
    third.refresh_from_db()
    assert third.statut.code == p.A_CONFIRMER
    assert (first.statut.code, second.statut.code) == (p.INSCRIT, p.INSCRIT)


# --- Finish and cancel -----------------------------------------------------------------------


@pytest.fixture
def running(isic, manager, regional):
    add_seances(isic, 3)
    _approve(isic, UNITE, manager)
    _approve(isic, REGION, regional)
    services.action_publish(action=isic, acting_user=isic.animateur)
    services.action_start(action=isic, acting_user=isic.animateur)
    isic.refresh_from_db()
    return isic


def test_finishing_waits_for_the_last_session_and_sends_the_signal(running):
    with pytest.raises(ValidationError) as refused:
        services.action_finish(action=running, acting_user=running.animateur)
    assert "n'a pas encore eu lieu" in refused.value.messages[0]
    received = []

    def receiver(sender, action, acting_user, **kwargs):
        received.append((action.pk, action.statut, acting_user))

    action_finished.connect(receiver)
    try:
        later = timezone.now() + datetime.timedelta(days=800)
        services.action_finish(action=running, acting_user=running.animateur, now=later)
    finally:
        action_finished.disconnect(receiver)
    assert received == [(running.pk, S.TERMINEE, running.animateur)]
    running.refresh_from_db()
    assert running.statut == S.TERMINEE
    with pytest.raises(ValidationError):
        services.action_cancel(action=running, acting_user=running.animateur, reason="Trop tard")


def test_cancelling_needs_a_reason_and_cancels_every_participant_without_promotion(isic):
    services.action_update(action=isic, acting_user=isic.animateur, capacite=1)
    seated = p.participant_register(
        action=isic, assure=AssureFactory(), source=ParticipantSource.CODE
    )
    waiting = p.participant_register(
        action=isic, assure=AssureFactory(), source=ParticipantSource.CODE
    )
    with pytest.raises(ValidationError) as refused:
        services.action_cancel(action=isic, acting_user=isic.animateur, reason=" ")
    assert "reason" in refused.value.message_dict
    services.action_cancel(action=isic, acting_user=isic.animateur, reason="Animatrice absente")
    isic.refresh_from_db()
    assert (isic.statut, isic.places_prises) == (S.ANNULEE, 0)
    codes = dict(Participant.objects.filter(action=isic).values_list("pk", "statut__code"))
    assert codes == {seated.pk: p.ANNULE, waiting.pk: p.ANNULE}
    assert isic.events.filter(summary="Inscription annulée avec l'action").count() == 2
    assert isic.events.filter(kind="statut", summary__contains="Animatrice absente").exists()
    with pytest.raises(ValidationError):
        services.action_publish(action=isic, acting_user=isic.animateur)


def test_cancelling_answers_a_pending_validation(isic, ass):
    add_seances(isic, 3)
    validation = services.validation_request(action=isic, acting_user=ass, niveau=UNITE)
    services.action_cancel(action=isic, acting_user=ass, reason="Projet abandonné")
    validation.refresh_from_db()
    assert validation.statut == ValidationStatus.REFUSEE
    assert "Projet abandonné" in validation.commentaire


def test_only_who_runs_it_publishes_starts_or_cancels(running, colleague):
    for service in (services.action_finish, services.action_start):
        with pytest.raises(PermissionDenied):
            service(action=running, acting_user=colleague)
    with pytest.raises(PermissionDenied):
        services.action_cancel(action=running, acting_user=colleague, reason="Non")


def test_a_co_animateur_runs_the_action(ass, colleague):
    action = ActionCollectiveFactory(animateur=ass)
    action.co_animateurs.add(colleague)
    assert services.seance_add(action=action, acting_user=colleague, debut=future(5), lieu="A")
