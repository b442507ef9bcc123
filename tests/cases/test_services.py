import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from cases import dispositifs as rules
from cases import services
from cases.models import (
    Accompagnement,
    Action,
    CaseEvent,
    CaseStatus,
    Cloture,
    Consentement,
    DispositifType,
    Entretien,
    EvaluationGlobale,
    Objectif,
    Orientation,
)
from pdp.models import AuditLog, PartnerKind
from tests.factories import (
    AccompagnementFactory,
    EntretienFactory,
    PartnerFactory,
    UserFactory,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)
TODAY = NOW.date()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def case(ass, frozen):
    return AccompagnementFactory(referent=ass, date_ouverture=TODAY - datetime.timedelta(days=30))


def last_event(case):
    return case.events.order_by("-pk").first()


def audit_rows(case):
    return AuditLog.objects.filter(object_type="cases.accompagnement", object_id=str(case.pk))


# --- Notes ---------------------------------------------------------------------------------


def test_a_note_is_written_to_the_timeline_with_its_author_and_audited(case, ass):
    services.case_note_add(accompagnement=case, acting_user=ass, text="Appel de l'employeur.\nOK")

    event = last_event(case)
    assert event.kind == CaseEvent.Kind.NOTE
    assert event.actor == ass
    assert event.summary == "Note : Appel de l'employeur. OK"
    assert event.detail == "Appel de l'employeur.\nOK"
    row = audit_rows(case).get()
    assert row.user == ass
    assert row.assure_id == case.assure_id
    assert row.changes["event"] == "note"


def test_an_empty_note_is_refused(case, ass):
    with pytest.raises(ValidationError) as exc:
        services.case_note_add(accompagnement=case, acting_user=ass, text="   ")
    assert "text" in exc.value.message_dict
    assert not case.events.exists()


# --- Évaluation globale ------------------------------------------------------------------


def test_a_new_evaluation_is_the_next_version_and_keeps_the_previous_ones(case, ass):
    first = services.evaluation_create(
        accompagnement=case,
        acting_user=ass,
        niveau_risque="modere",
        contraintes_sante="Pas de port de charges",
        emploi="Cariste en CDI",
    )
    second = services.evaluation_create(
        accompagnement=case,
        acting_user=ass,
        niveau_risque="eleve",
        contraintes_sante="Pas de port de charges",
        emploi="Cariste en CDI, employeur sans poste adapté",
    )

    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.emploi == "Cariste en CDI"
    assert first.niveau_risque == "modere"
    assert list(case.evaluations.values_list("version", flat=True)) == [2, 1]
    event = last_event(case)
    assert event.kind == CaseEvent.Kind.EVALUATION
    assert event.actor == ass
    assert event.changes["version"] == [1, 2]
    assert event.changes["niveau_risque"] == ["modere", "eleve"]
    assert event.changes["domaines_modifies"] == [
        "emploi (poste, relation avec l'employeur, contrat)"
    ]
    assert "risque modéré → élevé" in event.summary


def test_an_evaluation_needs_a_risk_level(case, ass):
    with pytest.raises(ValidationError) as exc:
        services.evaluation_create(accompagnement=case, acting_user=ass, niveau_risque="")
    assert "niveau_risque" in exc.value.message_dict
    assert not EvaluationGlobale.objects.exists()


def test_a_closed_case_takes_no_new_evaluation(case, ass):
    services.case_close(
        accompagnement=case, acting_user=ass, outcome="retraite", date_cloture=TODAY
    )
    with pytest.raises(ValidationError):
        services.evaluation_create(accompagnement=case, acting_user=ass, niveau_risque="faible")


def test_the_evaluation_has_no_diagnosis_field():
    names = {f.name for f in EvaluationGlobale._meta.get_fields()}
    assert not any("diagnostic" in name for name in names)


# --- Plan d'aide ---------------------------------------------------------------------------


def test_an_objective_is_created_with_an_event(case, ass):
    objectif = services.objectif_create(
        accompagnement=case,
        acting_user=ass,
        domaine="emploi",
        libelle="Préparer la reprise à temps partiel",
        echeance=TODAY + datetime.timedelta(days=60),
    )

    assert objectif.statut == "en_cours"
    event = last_event(case)
    assert event.kind == CaseEvent.Kind.OBJECTIVE
    assert event.changes["libelle"] == [None, "Préparer la reprise à temps partiel"]
    assert event.changes["echeance"] == [None, "2026-05-09"]
    assert audit_rows(case).count() == 1


def test_an_objective_status_change_records_old_and_new_values(case, ass):
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="droits", libelle="Demander la RQTH"
    )
    services.objectif_update(objectif=objectif, acting_user=ass, statut="atteint")

    objectif.refresh_from_db()
    assert objectif.statut == "atteint"
    event = last_event(case)
    assert event.changes["statut"] == ["en_cours", "atteint"]
    assert event.summary == "Objectif « Demander la RQTH » : en cours → atteint"


def test_an_objective_update_without_change_writes_no_event(case, ass):
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="droits", libelle="Demander la RQTH"
    )
    services.objectif_update(objectif=objectif, acting_user=ass, statut="en_cours")
    assert case.events.count() == 1


def test_an_unknown_objective_status_is_refused(case, ass):
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="droits", libelle="Demander la RQTH"
    )
    with pytest.raises(ValidationError):
        services.objectif_update(objectif=objectif, acting_user=ass, statut="fini")


def test_actions_are_added_and_toggled_with_events(case, ass):
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="droits", libelle="Demander la RQTH"
    )
    action = services.action_create(
        objectif=objectif, acting_user=ass, libelle="Remplir le dossier MDPH", porteur="L'assuré"
    )
    assert last_event(case).changes["libelle"] == [None, "Remplir le dossier MDPH"]

    services.action_toggle(action=action, acting_user=ass)
    assert Action.objects.get(pk=action.pk).faite is True
    assert last_event(case).changes["faite"] == [False, True]
    assert last_event(case).summary == "Action réalisée : Remplir le dossier MDPH"

    services.action_toggle(action=action, acting_user=ass)
    assert Action.objects.get(pk=action.pk).faite is False
    assert last_event(case).changes["faite"] == [True, False]


# --- Orientations ----------------------------------------------------------------------------


def test_an_orientation_cannot_be_sent_without_the_agreement_of_the_person(case, ass):
    with pytest.raises(ValidationError) as exc:
        services.orientation_create(
            accompagnement=case,
            acting_user=ass,
            partner_kind=PartnerKind.CAP_EMPLOI,
            motif="Recherche d'un poste adapté",
            accord_assure=False,
            statut=Orientation.Statut.ENVOYEE,
        )
    assert exc.value.message_dict["accord_assure"] == [services.AGREEMENT_MESSAGE]
    assert not Orientation.objects.exists()
    assert not case.events.exists()


def test_the_database_refuses_a_sent_orientation_without_agreement(case):
    with pytest.raises(IntegrityError), transaction.atomic():
        Orientation.objects.create(
            accompagnement=case, partner_kind="mdph", motif="x", statut="envoyee"
        )


def test_an_orientation_may_be_proposed_then_sent_once_the_person_agrees(case, ass):
    partner = PartnerFactory(kind=PartnerKind.CAP_EMPLOI, name="Cap emploi 76")
    orientation = services.orientation_create(
        accompagnement=case,
        acting_user=ass,
        partner_kind=PartnerKind.CAP_EMPLOI,
        partner=partner,
        motif="Recherche d'un poste adapté",
        accord_assure=False,
    )
    assert orientation.statut == "proposee"
    assert "Cap emploi 76" in last_event(case).summary

    with pytest.raises(ValidationError):
        services.orientation_update(orientation=orientation, acting_user=ass, statut="envoyee")
    orientation.refresh_from_db()
    assert orientation.statut == "proposee"

    services.orientation_update(
        orientation=orientation, acting_user=ass, statut="envoyee", accord_assure=True
    )
    orientation.refresh_from_db()
    assert (orientation.statut, orientation.accord_assure) == ("envoyee", True)
    event = last_event(case)
    assert event.kind == CaseEvent.Kind.ORIENTATION
    assert event.changes["statut"] == ["proposee", "envoyee"]
    assert event.changes["accord_assure"] == [False, True]


def test_an_orientation_to_a_partner_of_another_kind_is_refused(case, ass):
    partner = PartnerFactory(kind=PartnerKind.MDPH)
    with pytest.raises(ValidationError) as exc:
        services.orientation_create(
            accompagnement=case,
            acting_user=ass,
            partner_kind=PartnerKind.CAP_EMPLOI,
            partner=partner,
            motif="x",
            accord_assure=True,
        )
    assert "partner" in exc.value.message_dict


# --- Consentements ---------------------------------------------------------------------------


def test_a_consent_is_recorded_once_per_scope_until_revoked(case, ass):
    consent = services.consentement_record(
        accompagnement=case, acting_user=ass, portee="cellule_pdp", date_recueil=TODAY
    )
    assert consent.assure == case.assure
    assert last_event(case).kind == CaseEvent.Kind.CONSENT

    with pytest.raises(ValidationError) as exc:
        services.consentement_record(accompagnement=case, acting_user=ass, portee="cellule_pdp")
    assert "portee" in exc.value.message_dict

    services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    consent.refresh_from_db()
    assert consent.date_revocation == TODAY
    assert last_event(case).changes["date_revocation"] == [None, "2026-03-10"]

    again = services.consentement_record(accompagnement=case, acting_user=ass, portee="cellule_pdp")
    assert (
        Consentement.objects.filter(assure=case.assure, date_revocation__isnull=True).get() == again
    )


def test_the_database_keeps_one_active_consent_per_scope(case, ass):
    Consentement.objects.create(assure=case.assure, portee="spst", recorded_by=ass)
    with pytest.raises(IntegrityError), transaction.atomic():
        Consentement.objects.create(assure=case.assure, portee="spst", recorded_by=ass)


def test_a_consent_cannot_be_revoked_before_it_was_given_nor_twice(case, ass):
    consent = services.consentement_record(
        accompagnement=case, acting_user=ass, portee="spst", date_recueil=TODAY
    )
    with pytest.raises(ValidationError):
        services.consentement_revoke(
            consentement=consent,
            accompagnement=case,
            acting_user=ass,
            date_revocation=TODAY - datetime.timedelta(days=1),
        )
    services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    with pytest.raises(ValidationError):
        services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)


def test_a_consent_dated_in_the_future_is_refused(case, ass):
    with pytest.raises(ValidationError) as exc:
        services.consentement_record(
            accompagnement=case,
            acting_user=ass,
            portee="spst",
            date_recueil=TODAY + datetime.timedelta(days=1),
        )
    assert "date_recueil" in exc.value.message_dict


# --- Closure and reopening -----------------------------------------------------------------


def test_closing_records_the_outcome_the_date_and_an_event(case, ass):
    cloture = services.case_close(
        accompagnement=case,
        acting_user=ass,
        outcome="maintien_amenage",
        date_cloture=TODAY,
        commentaire="Poste aménagé avec le SPST",
    )

    case.refresh_from_db()
    assert case.statut == CaseStatus.CLOTURE
    assert case.date_cloture == TODAY
    assert cloture.closed_by == ass
    assert cloture.outcome == "maintien_amenage"
    event = last_event(case)
    assert event.kind == CaseEvent.Kind.CLOSED
    assert event.actor == ass
    assert event.changes["statut"] == ["ouvert", "cloture"]
    assert event.changes["outcome"] == [None, "maintien_amenage"]
    assert "Maintien dans l'emploi – poste aménagé" in event.summary
    assert audit_rows(case).filter(changes__event="closed").exists()


@pytest.mark.parametrize("outcome", ["", None, "guéri"])
def test_closing_requires_a_known_outcome(case, ass, outcome):
    with pytest.raises(ValidationError) as exc:
        services.case_close(
            accompagnement=case, acting_user=ass, outcome=outcome, date_cloture=TODAY
        )
    assert "outcome" in exc.value.message_dict
    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert not Cloture.objects.exists()


def test_the_database_refuses_a_closure_without_outcome(case, ass):
    with pytest.raises(IntegrityError), transaction.atomic():
        Cloture.objects.create(accompagnement=case, outcome="", date_cloture=TODAY, closed_by=ass)


@pytest.mark.parametrize(
    "day, ok",
    [
        (TODAY + datetime.timedelta(days=1), False),  # in the future
        (TODAY - datetime.timedelta(days=31), False),  # before the opening
        (TODAY - datetime.timedelta(days=30), True),  # the opening day itself
        (TODAY, True),
    ],
)
def test_the_closure_date_is_between_opening_and_today(case, ass, day, ok):
    if ok:
        services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=day)
        case.refresh_from_db()
        assert case.date_cloture == day
    else:
        with pytest.raises(ValidationError) as exc:
            services.case_close(
                accompagnement=case, acting_user=ass, outcome="autre", date_cloture=day
            )
        assert "date_cloture" in exc.value.message_dict
        case.refresh_from_db()
        assert case.statut == CaseStatus.OUVERT


def test_a_closed_case_cannot_be_closed_again(case, ass):
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    with pytest.raises(ValidationError):
        services.case_close(
            accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY
        )
    assert Cloture.objects.count() == 1


def test_reopening_keeps_the_history_of_closures(case, ass):
    services.case_close(
        accompagnement=case,
        acting_user=ass,
        outcome="perdu_de_vue",
        date_cloture=TODAY - datetime.timedelta(days=5),
    )
    services.case_reopen(accompagnement=case, acting_user=ass, reason="L'assurée rappelle.")

    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert case.date_cloture is None
    event = last_event(case)
    assert event.kind == CaseEvent.Kind.REOPENED
    assert event.changes == {
        "statut": ["cloture", "ouvert"],
        "date_cloture": ["2026-03-05", None],
    }

    services.case_close(
        accompagnement=case, acting_user=ass, outcome="maintien_poste", date_cloture=TODAY
    )
    assert list(case.clotures.values_list("outcome", flat=True)) == [
        "maintien_poste",
        "perdu_de_vue",
    ]
    kinds = list(case.events.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["closed", "reopened", "closed"]


def test_a_second_closure_cannot_predate_the_previous_one(case, ass):
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    services.case_reopen(accompagnement=case, acting_user=ass, reason="Erreur")
    with pytest.raises(ValidationError) as exc:
        services.case_close(
            accompagnement=case,
            acting_user=ass,
            outcome="autre",
            date_cloture=TODAY - datetime.timedelta(days=2),
        )
    assert "date_cloture" in exc.value.message_dict


def test_reopening_is_refused_when_another_case_is_open_for_the_person_and_mission(case, ass):
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    newer = services.case_open(assure=case.assure, referent=ass, acting_user=ass)

    with pytest.raises(ValidationError) as exc:
        services.case_reopen(accompagnement=case, acting_user=ass, reason="Reprise")
    assert "déjà ouvert" in exc.value.messages[0]

    case.refresh_from_db()
    assert case.statut == CaseStatus.CLOTURE
    assert not case.events.filter(kind=CaseEvent.Kind.REOPENED).exists()
    assert Accompagnement.objects.open().get() == newer


def test_reopening_needs_a_reason_and_a_closed_case(case, ass):
    with pytest.raises(ValidationError):
        services.case_reopen(accompagnement=case, acting_user=ass, reason="Reprise")
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    with pytest.raises(ValidationError) as exc:
        services.case_reopen(accompagnement=case, acting_user=ass, reason="")
    assert "reason" in exc.value.message_dict


# --- Closure and the work still open --------------------------------------------------------


def dispositif(case, user, code, statut, **fields):
    return rules.dispositif_create(
        accompagnement=case,
        acting_user=user,
        type=DispositifType.objects.get(code=code),
        statut=statut,
        **fields,
    )


def meeting(case, hours, statut=Entretien.Statut.PLANIFIE):
    return EntretienFactory(
        accompagnement=case, debut=NOW + datetime.timedelta(hours=hours), statut=statut
    )


def test_the_open_work_lists_objectives_dispositifs_and_future_meetings(case, ass):
    services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="emploi", libelle="Reprendre"
    )
    done = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="droits", libelle="RQTH"
    )
    services.objectif_update(objectif=done, acting_user=ass, statut="atteint")
    demande = dispositif(case, ass, "rqth", "demande")
    accorde = dispositif(case, ass, "agefiph", "accorde")
    en_cours = dispositif(case, ass, "cap_emploi", "en_cours", date_debut=TODAY)
    dispositif(case, ass, "invalidite", "envisage")
    future = meeting(case, 48)
    meeting(case, -2)  # planned but past: to be recorded, not cancelled
    meeting(case, 72, statut=Entretien.Statut.ANNULE)

    work = services.case_open_work(case)

    assert [o.libelle for o in work.objectifs] == ["Reprendre"]
    assert done not in work.objectifs
    assert {d.pk for d in work.dispositifs} == {demande.pk, accorde.pk, en_cours.pk}
    assert [d.pk for d in work.dispositifs_en_cours] == [en_cours.pk]
    assert {d.pk for d in work.dispositifs_pending} == {demande.pk, accorde.pk}
    assert [e.pk for e in work.entretiens] == [future.pk]
    assert work


def test_nothing_open_is_falsy(case):
    assert not services.case_open_work(case)


def test_closing_is_refused_while_a_dispositif_is_en_cours_and_names_it(case, ass):
    essai = dispositif(case, ass, "cap_emploi", "en_cours", date_debut=TODAY)
    with pytest.raises(ValidationError) as exc:
        services.case_close(
            accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY
        )
    assert exc.value.messages == [
        "Un dispositif est encore en cours : Accompagnement Cap emploi (depuis le 10/03/2026). "
        "Terminez-le ou abandonnez-le avant de clôturer l'accompagnement."
    ]
    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert not Cloture.objects.exists()
    assert not case.events.filter(kind=CaseEvent.Kind.CLOSED).exists()

    # The user ends it, then closes.
    rules.dispositif_change_status(dispositif=essai, acting_user=ass, to_status="termine")
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    case.refresh_from_db()
    assert case.statut == CaseStatus.CLOTURE


def test_the_refusal_lists_every_dispositif_en_cours_with_the_other_errors(case, ass):
    dispositif(case, ass, "rqth", "en_cours")
    dispositif(case, ass, "agefiph", "en_cours", date_debut=TODAY)
    with pytest.raises(ValidationError) as exc:
        services.case_close(accompagnement=case, acting_user=ass, outcome="", date_cloture=TODAY)
    errors = exc.value.message_dict
    assert errors["__all__"] == [
        "Des dispositifs sont encore en cours : Aides Agefiph (depuis le 10/03/2026), "
        "RQTH / MDPH. Terminez-les ou abandonnez-les avant de clôturer l'accompagnement."
    ]
    assert "outcome" in errors


def test_closing_cancels_the_meetings_planned_in_the_future_and_says_so(case, ass):
    first, second = meeting(case, 24), meeting(case, 50)
    past = meeting(case, -3)
    held = meeting(case, -26, statut=Entretien.Statut.REALISE)

    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)

    statuses = dict(Entretien.objects.values_list("pk", "statut"))
    assert statuses == {
        first.pk: "annule",
        second.pk: "annule",
        past.pk: "planifie",
        held.pk: "realise",
    }
    cancel_event, close_event = case.events.order_by("-pk")[:2][::-1]
    assert cancel_event.kind == CaseEvent.Kind.ENTRETIEN
    assert cancel_event.actor == ass
    assert cancel_event.summary == (
        "2 entretiens à venir annulés à la clôture : 11/03/2026 à 10:00, 12/03/2026 à 12:00"
    )
    assert cancel_event.changes == {
        "entretiens": [first.pk, second.pk],
        "statut": ["planifie", "annule"],
    }
    assert close_event.kind == CaseEvent.Kind.CLOSED
    assert close_event.summary.endswith(" ; 2 entretiens à venir annulés")
    assert close_event.changes["entretiens_annules"] == [first.pk, second.pk]


def test_closing_without_future_meetings_writes_no_cancellation(case, ass):
    meeting(case, -3)
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    assert list(case.events.values_list("kind", flat=True)) == ["closed"]
    assert "entretiens_annules" not in case.events.get().changes
    assert Entretien.objects.get().statut == "planifie"


def test_closing_leaves_objectives_and_pending_dispositifs_as_they_are(case, ass):
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="emploi", libelle="Reprendre"
    )
    accorde = dispositif(case, ass, "rqth", "accorde")
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    objectif.refresh_from_db()
    accorde.refresh_from_db()
    assert objectif.statut == "en_cours"
    assert accorde.statut == "accorde"


# --- Suspension, référent ------------------------------------------------------------------


def test_a_case_is_suspended_then_resumed(case, ass):
    services.case_suspend(accompagnement=case, acting_user=ass, reason="Hospitalisation")
    case.refresh_from_db()
    assert case.statut == CaseStatus.SUSPENDU
    assert last_event(case).changes == {"statut": ["ouvert", "suspendu"]}
    assert last_event(case).summary == "Accompagnement suspendu : Hospitalisation"

    with pytest.raises(ValidationError):
        services.case_suspend(accompagnement=case, acting_user=ass)

    services.case_resume(accompagnement=case, acting_user=ass)
    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert last_event(case).changes == {"statut": ["suspendu", "ouvert"]}


def test_a_suspended_case_can_be_closed(case, ass):
    services.case_suspend(accompagnement=case, acting_user=ass)
    services.case_close(accompagnement=case, acting_user=ass, outcome="deces", date_cloture=TODAY)
    assert last_event(case).changes["statut"] == ["suspendu", "cloture"]


def test_the_manager_hands_the_case_to_another_ass_of_the_unit(case, ass, colleague, manager):
    services.case_change_referent(accompagnement=case, acting_user=manager, referent=colleague)

    case.refresh_from_db()
    assert case.referent == colleague
    event = last_event(case)
    assert event.kind == CaseEvent.Kind.REFERENT
    assert event.actor == manager
    assert event.changes == {"referent": [ass.pk, colleague.pk]}


def test_only_the_manager_changes_the_referent(case, ass, colleague):
    with pytest.raises(PermissionDenied):
        services.case_change_referent(accompagnement=case, acting_user=ass, referent=colleague)
    case.refresh_from_db()
    assert case.referent == ass


def test_the_new_referent_must_be_an_active_ass_of_the_unit(
    case, manager, conseiller, outsider, unit
):
    inactive = UserFactory(ass=True, unit=unit, is_active=False)
    for candidate in (conseiller, outsider, inactive):
        with pytest.raises(ValidationError):
            services.case_change_referent(
                accompagnement=case, acting_user=manager, referent=candidate
            )
    assert not case.events.exists()


def test_event_changes_are_stored_as_json(case, ass):
    objectif = services.objectif_create(
        accompagnement=case,
        acting_user=ass,
        domaine="emploi",
        libelle="x",
        echeance=datetime.date(2026, 4, 1),
    )
    assert Objectif.objects.get(pk=objectif.pk).echeance == datetime.date(2026, 4, 1)
    row = audit_rows(case).get()
    assert row.changes["echeance"] == [None, "2026-04-01"]
