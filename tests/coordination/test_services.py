"""The cellule's rules, through its services: the consent gate, revocation, the agenda's
carry-over of open items, quorum, the meeting's life and the lock of validated minutes."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cases import services as case_services
from cases.models import CaseEvent
from coordination import services
from coordination.models import (
    ActionInstance,
    PointOrdreDuJour,
    Presence,
    Reunion,
    ReunionEvent,
    Saisine,
    TypeDecision,
)
from pdp.models import AuditLog
from tests.coordination.conftest import FICHE
from tests.factories import ConsentementFactory

pytestmark = pytest.mark.django_db


def _submit(case, instance, user, **extra):
    return services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=user,
        question="Quel aménagement de poste envisager ?",
        **{**FICHE, **extra},
    )


def _plan(instance, coordinateur, days=7):
    return services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=days),
        lieu="CARSAT, salle 2",
    )


def _hold(reunion, coordinateur, statut=Presence.Statut.PRESENT):
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    for presence in reunion.presences.select_related("membre"):
        services.presence_set(presence=presence, acting_user=coordinateur, statut=statut)


def _type(code):
    return TypeDecision.objects.get(code=code)


def test_submission_requires_an_active_cellule_consent(case, instance, ass):
    with pytest.raises(ValidationError) as error:
        _submit(case, instance, ass)
    assert "consentement" in str(error.value)
    assert error.value.error_list[0].code == "consent_missing"
    assert not Saisine.objects.exists()
    # Another scope does not open the gate.
    ConsentementFactory(assure=case.assure, recorded_by=ass, portee="spst")
    with pytest.raises(ValidationError):
        _submit(case, instance, ass)
    assert not Saisine.objects.exists()


def test_a_revoked_consent_does_not_open_the_gate(case, instance, ass, consent):
    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    with pytest.raises(ValidationError):
        _submit(case, instance, ass)
    assert not Saisine.objects.exists()


def test_submission_with_consent_records_the_fiche_and_a_case_event(case, instance, ass, consent):
    saisine = _submit(case, instance, ass)
    assert saisine.consentement == consent
    assert saisine.statut == Saisine.Statut.SOUMISE
    assert saisine.initiales == "J. D."
    event = CaseEvent.objects.get(accompagnement=case, kind=CaseEvent.Kind.CELLULE)
    assert "présentée" in event.summary
    assert event.actor == ass


def test_question_is_mandatory(case, instance, ass, consent):
    with pytest.raises(ValidationError) as error:
        services.saisine_submit(
            accompagnement=case, instance=instance, acting_user=ass, question="  ", **FICHE
        )
    assert "question" in error.value.message_dict
    assert not Saisine.objects.exists()


@pytest.mark.parametrize("field", ["limitations", "freins", "poste", "initiales"])
def test_the_fiche_refuses_the_persons_name_or_nir(case, instance, ass, consent, field):
    assure = case.assure
    with pytest.raises(ValidationError) as error:
        _submit(case, instance, ass, **{field: f"Voir {assure.nom_naissance} au plus vite"})
    assert "nom" in str(error.value)
    with pytest.raises(ValidationError) as error:
        _submit(case, instance, ass, **{field: f"NIR {assure.nir}"})
    assert "NIR" in str(error.value)
    assert not Saisine.objects.exists()


def test_only_the_referent_or_manager_submits(case, instance, colleague, manager, consent):
    with pytest.raises(PermissionDenied):
        _submit(case, instance, colleague)
    assert _submit(case, instance, manager).submitted_by == manager


def test_an_instance_that_does_not_cover_the_unit_is_refused(case, ass, consent, other_unit):
    from tests.factories import InstanceFactory

    elsewhere = InstanceFactory(region=other_unit.region, units=[other_unit])
    with pytest.raises(ValidationError) as error:
        _submit(case, elsewhere, ass)
    assert "instance" in error.value.message_dict


def test_one_open_submission_per_case_and_instance(case, instance, ass, consent):
    _submit(case, instance, ass)
    with pytest.raises(ValidationError):
        _submit(case, instance, ass)
    assert Saisine.objects.count() == 1


def test_planning_invites_active_members_and_builds_the_agenda(
    case, instance, ass, consent, coordinateur, membres
):
    saisine = _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    assert set(reunion.presences.values_list("membre_id", flat=True)) == {m.pk for m in membres}
    point = reunion.points.get()
    assert point.saisine == saisine
    assert point.origine == PointOrdreDuJour.Origine.NOUVELLE
    # A second build adds nothing.
    assert services.agenda_refresh(reunion=reunion, acting_user=coordinateur) == (0, 0)


def test_a_submission_after_planning_joins_the_open_agenda(
    case, instance, ass, consent, coordinateur, membres
):
    reunion = _plan(instance, coordinateur)
    assert not reunion.points.exists()
    _submit(case, instance, ass)
    assert reunion.points.count() == 1


def test_only_a_coordinator_plans(instance, ass):
    with pytest.raises(PermissionDenied):
        _plan(instance, ass)
    assert not Reunion.objects.exists()


def test_open_actions_and_items_to_represent_come_back(
    case, instance, ass, consent, coordinateur, membres, membre_partenaire
):
    saisine = _submit(case, instance, ass)
    first = _plan(instance, coordinateur)
    _hold(first, coordinateur)
    point = first.points.get()
    services.decision_add(point=point, acting_user=coordinateur, type=_type("etude_poste"))
    services.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Étude de poste par Cap emploi",
        responsable=membre_partenaire,
        echeance=timezone.localdate() + datetime.timedelta(days=20),
    )
    services.reunion_mark_held(reunion=first, acting_user=coordinateur)
    saisine.refresh_from_db()
    assert saisine.statut == Saisine.Statut.SUIVIE

    second = _plan(instance, coordinateur, days=40)
    back = second.points.get()
    assert back.saisine == saisine
    assert back.origine == PointOrdreDuJour.Origine.SUIVI

    # The action done and nothing to represent: it no longer comes back.
    action = ActionInstance.objects.get()
    services.action_set_status(
        action=action, acting_user=membre_partenaire.user, statut="faite", compte_rendu="Fait."
    )
    assert services.agenda_refresh(reunion=second, acting_user=coordinateur) == (0, 1)
    assert not second.points.exists()


def test_an_item_without_decision_is_represented(
    case, instance, ass, consent, coordinateur, membres
):
    _submit(case, instance, ass)
    first = _plan(instance, coordinateur)
    _hold(first, coordinateur)
    services.reunion_mark_held(reunion=first, acting_user=coordinateur)
    assert first.points.get().a_representer
    second = _plan(instance, coordinateur, days=40)
    assert second.points.get().origine == PointOrdreDuJour.Origine.REPRESENTEE


def test_a_final_decision_ends_the_follow_up(case, instance, ass, consent, coordinateur, membres):
    saisine = _submit(case, instance, ass)
    first = _plan(instance, coordinateur)
    _hold(first, coordinateur)
    services.decision_add(
        point=first.points.get(), acting_user=coordinateur, type=_type("fin_suivi")
    )
    services.reunion_mark_held(reunion=first, acting_user=coordinateur)
    saisine.refresh_from_db()
    assert saisine.statut == Saisine.Statut.TERMINEE
    assert not _plan(instance, coordinateur, days=40).points.exists()


def test_without_quorum_decisions_are_provisional_and_come_back(
    case, instance, ass, consent, coordinateur, membres, membre_medical
):
    saisine = _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    # The service médical excused: 2 organisations, and a mandatory one missing.
    presence = reunion.presences.get(membre=membre_medical)
    services.presence_set(presence=presence, acting_user=coordinateur, statut="excuse")
    reached, explanation = services.quorum(reunion)
    assert not reached
    assert "Service médical" in explanation
    point = reunion.points.get()
    decision = services.decision_add(point=point, acting_user=coordinateur, type=_type("fin_suivi"))
    assert decision.provisoire
    point.refresh_from_db()
    assert point.a_representer
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    saisine.refresh_from_db()
    # A provisional « fin du suivi » does not end it.
    assert saisine.statut == Saisine.Statut.SUIVIE


def test_with_quorum_decisions_are_final(case, instance, ass, consent, coordinateur, membres):
    _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    assert services.quorum(reunion)[0]
    decision = services.decision_add(
        point=reunion.points.get(), acting_user=coordinateur, type=_type("etude_poste")
    )
    assert not decision.provisoire


def test_represented_member_needs_a_name(instance, coordinateur, membres):
    reunion = _plan(instance, coordinateur)
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    presence = reunion.presences.first()
    with pytest.raises(ValidationError):
        services.presence_set(presence=presence, acting_user=coordinateur, statut="represente")
    presence.refresh_from_db()
    assert presence.statut == Presence.Statut.INVITE


def test_held_requires_every_attendance(case, instance, ass, consent, coordinateur, membres):
    reunion = _plan(instance, coordinateur)
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    with pytest.raises(ValidationError):
        services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    reunion.refresh_from_db()
    assert reunion.statut == Reunion.Statut.ODJ_ARRETE


def test_validated_minutes_are_locked_and_corrected_by_addendum(
    case, instance, ass, consent, coordinateur, membres
):
    _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    point = reunion.points.get()
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    with pytest.raises(ValidationError):
        services.addendum_add(reunion=reunion, acting_user=coordinateur, texte="Trop tôt")
    services.reunion_submit_minutes(reunion=reunion, acting_user=coordinateur)
    services.reunion_validate_minutes(reunion=reunion, acting_user=coordinateur)
    assert reunion.valide_par == coordinateur
    with pytest.raises(ValidationError) as error:
        services.decision_add(point=point, acting_user=coordinateur, type=_type("etude_poste"))
    assert "addendum" in str(error.value)
    with pytest.raises(ValidationError):
        services.point_update(point=point, acting_user=coordinateur, synthese="changé")
    with pytest.raises(ValidationError):
        services.reunion_validate_minutes(reunion=reunion, acting_user=coordinateur)
    addendum = services.addendum_add(
        reunion=reunion, acting_user=coordinateur, texte="Le SPST était représenté."
    )
    assert addendum.reunion == reunion
    assert ReunionEvent.objects.filter(reunion=reunion, summary__contains="Addendum").exists()


def test_revoking_the_consent_withdraws_the_situation(
    case, instance, ass, consent, coordinateur, membres, membre_partenaire
):
    saisine = _submit(case, instance, ass)
    held = _plan(instance, coordinateur)
    _hold(held, coordinateur)
    point = held.points.get()
    services.decision_add(point=point, acting_user=coordinateur, type=_type("etude_poste"))
    action = services.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Étude de poste",
        responsable=membre_partenaire,
        echeance=timezone.localdate() + datetime.timedelta(days=20),
    )
    services.reunion_mark_held(reunion=held, acting_user=coordinateur)
    upcoming = _plan(instance, coordinateur, days=40)
    assert upcoming.points.count() == 1

    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)

    saisine.refresh_from_db()
    assert saisine.statut == Saisine.Statut.RETIREE
    assert not saisine.fiche_lisible
    assert not upcoming.points.exists()
    # The held meeting keeps its item (shown as withdrawn); the action is abandoned.
    assert held.points.count() == 1
    action.refresh_from_db()
    assert action.statut == ActionInstance.Statut.ABANDONNEE
    assert services.agenda_refresh(reunion=upcoming, acting_user=coordinateur) == (0, 0)
    # A new consent later does not bring the withdrawn submission back.
    ConsentementFactory(assure=case.assure, recorded_by=ass)
    services.agenda_refresh(reunion=upcoming, acting_user=coordinateur)
    assert not upcoming.points.exists()
    assert CaseEvent.objects.filter(
        accompagnement=case, kind=CaseEvent.Kind.CELLULE, summary__contains="retirée"
    ).exists()


def test_decisions_and_actions_reach_the_case_timeline(
    case, instance, ass, consent, coordinateur, membres, membre_partenaire
):
    _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    point = reunion.points.get()
    services.decision_add(
        point=point, acting_user=coordinateur, type=_type("visite_pre_reprise"), texte="Avant mars"
    )
    services.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Organiser la visite",
        responsable=membre_partenaire,
        echeance=timezone.localdate() + datetime.timedelta(days=10),
    )
    summaries = list(
        CaseEvent.objects.filter(accompagnement=case, kind="cellule").values_list(
            "summary", flat=True
        )
    )
    assert any("Visite de pré-reprise" in s for s in summaries)
    assert any("Organiser la visite" in s for s in summaries)
    assert AuditLog.objects.filter(assure_id=case.assure_id, user=coordinateur).exists()


def test_only_the_owner_or_a_coordinator_reports_on_an_action(
    case, instance, ass, consent, coordinateur, membres, membre_partenaire, membre_social
):
    _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    action = services.action_add(
        point=reunion.points.get(),
        acting_user=coordinateur,
        libelle="Contacter l'employeur",
        responsable=membre_partenaire,
        echeance=timezone.localdate() + datetime.timedelta(days=10),
    )
    with pytest.raises(PermissionDenied):
        services.action_set_status(action=action, acting_user=membre_social.user, statut="faite")
    action.refresh_from_db()
    assert action.statut == ActionInstance.Statut.OUVERTE
    services.action_set_status(action=action, acting_user=coordinateur, statut="faite")
    action.refresh_from_db()
    assert action.statut == ActionInstance.Statut.FAITE


def test_ending_a_membership_uninvites_from_later_meetings(instance, coordinateur, membres):
    reunion = _plan(instance, coordinateur, days=30)
    membre = membres[2]
    services.membre_end(
        membre=membre,
        acting_user=coordinateur,
        date_fin=timezone.localdate() + datetime.timedelta(days=5),
    )
    assert not reunion.presences.filter(membre=membre).exists()


def test_revoking_during_the_meeting_keeps_what_was_recorded(
    case, instance, ass, consent, coordinateur, membres, membre_partenaire
):
    saisine = _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    point = reunion.points.get()
    decision = services.decision_add(
        point=point, acting_user=coordinateur, type=_type("etude_poste")
    )
    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    saisine.refresh_from_db()
    assert saisine.statut == Saisine.Statut.RETIREE
    # The decision stays in the minutes (shown as withdrawn), not deleted by cascade.
    assert reunion.points.filter(pk=point.pk).exists()
    assert point.decisions.filter(pk=decision.pk).exists()


def test_the_synthesis_of_a_situation_is_in_the_access_log(
    case, instance, ass, consent, coordinateur, membres
):
    _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    point = reunion.points.get()
    services.point_update(point=point, acting_user=coordinateur, synthese="Étude de poste")
    row = AuditLog.objects.get(object_type="coordination.pointordredujour", object_id=point.pk)
    assert (row.user, row.action, row.assure_id) == (
        coordinateur,
        AuditLog.Action.UPDATE,
        case.assure_id,
    )
    assert row.changes == {"synthese": ["", "Étude de poste"]}


@pytest.mark.parametrize("what", ["synthese", "decision", "action"])
def test_what_the_meeting_writes_names_nobody(
    case, instance, ass, consent, coordinateur, membres, membre_partenaire, what
):
    _submit(case, instance, ass)
    reunion = _plan(instance, coordinateur)
    _hold(reunion, coordinateur)
    point = reunion.points.get()
    named = f"Mme {case.assure.nom_naissance} reprendra en mars"
    with pytest.raises(ValidationError) as error:
        if what == "synthese":
            services.point_update(point=point, acting_user=coordinateur, synthese=named)
        elif what == "decision":
            services.decision_add(
                point=point, acting_user=coordinateur, type=_type("etude_poste"), texte=named
            )
        else:
            services.action_add(
                point=point,
                acting_user=coordinateur,
                libelle=named,
                responsable=membre_partenaire,
                echeance=timezone.localdate() + datetime.timedelta(days=10),
            )
    assert "pseudonyme" in str(error.value)
    point.refresh_from_db()
    assert point.synthese == ""
    assert not point.decisions.exists() and not point.actions.exists()
