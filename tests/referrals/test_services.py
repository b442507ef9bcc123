import datetime
import threading

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from cases import services as case_services
from cases.models import Accompagnement, CaseEvent
from pdp.models import AuditLog
from referrals import services
from referrals.models import (
    Assure,
    ContactAttempt,
    Origine,
    Service,
    Signalement,
    SignalementEvent,
    Statut,
)
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    SignalementFactory,
    UnitTerritoryFactory,
    UserFactory,
    make_nir,
)

pytestmark = pytest.mark.django_db

S = Statut
SOCIAL_STATUSES = [s for s in Statut if s not in (S.TRANSMIS, S.CLASSE)]
# The status form's moves, written out independently of services.TRANSITIONS.
EXPECTED_MANUAL = {
    (S.NOUVEAU, S.A_CONTACTER),
    (S.NOUVEAU, S.HORS_CRITERES),
    (S.NOUVEAU, S.DOUBLON),
    (S.A_CONTACTER, S.HORS_CRITERES),
    (S.A_CONTACTER, S.DOUBLON),
    (S.CONTACT_EN_COURS, S.RENCONTRE_PROPOSEE),
    (S.CONTACT_EN_COURS, S.REFUS),
    (S.CONTACT_EN_COURS, S.SANS_REPONSE),
    (S.CONTACT_EN_COURS, S.HORS_CRITERES),
    (S.CONTACT_EN_COURS, S.DOUBLON),
    (S.RENCONTRE_PROPOSEE, S.CONTACT_EN_COURS),
    (S.RENCONTRE_PROPOSEE, S.REFUS),
    (S.RENCONTRE_PROPOSEE, S.SANS_REPONSE),
    (S.RENCONTRE_PROPOSEE, S.HORS_CRITERES),
}
ALL_SOCIAL_PAIRS = [(a, b) for a in SOCIAL_STATUSES for b in SOCIAL_STATUSES]
NOW = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=datetime.UTC)


def _status_events(signalement):
    return list(
        SignalementEvent.objects.filter(signalement=signalement, kind=SignalementEvent.Kind.STATUS)
    )


@pytest.fixture
def referral(unit, ass):
    return SignalementFactory(unit=unit, assigned_to=ass, statut=S.A_CONTACTER)


# --- Transitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    sorted(EXPECTED_MANUAL),
    ids=lambda s: str(s.value if hasattr(s, "value") else s),
)
def test_it_allows_the_manual_transition(old, new, unit, ass):
    referral = SignalementFactory(unit=unit, assigned_to=ass, statut=old)
    services.signalement_transition(
        signalement=referral, to_status=new, acting_user=ass, reason="Motif de test"
    )
    referral.refresh_from_db()
    assert referral.statut == new
    (event,) = _status_events(referral)
    assert (event.old_value, event.new_value, event.actor, event.reason) == (
        old,
        new,
        ass,
        "Motif de test",
    )
    audit = AuditLog.objects.get(object_type="referrals.signalement", object_id=str(referral.pk))
    assert audit.changes["statut"] == [old, new]
    assert audit.user == ass


@pytest.mark.parametrize(
    ("old", "new"),
    [pair for pair in ALL_SOCIAL_PAIRS if pair not in EXPECTED_MANUAL],
    ids=lambda s: str(s.value if hasattr(s, "value") else s),
)
def test_it_refuses_any_other_manual_transition(old, new, unit, ass):
    referral = SignalementFactory(unit=unit, assigned_to=ass, statut=old)
    with pytest.raises(ValidationError):
        services.signalement_transition(
            signalement=referral, to_status=new, acting_user=ass, reason="Motif"
        )
    referral.refresh_from_db()
    assert referral.statut == old
    assert not _status_events(referral)


def test_a_refused_transition_names_the_possible_statuses(referral, ass):
    with pytest.raises(ValidationError) as exc:
        services.signalement_transition(
            signalement=referral, to_status=S.REFUS, acting_user=ass, reason="x"
        )
    message = exc.value.messages[0]
    assert "« À contacter » à « Refus de l'assuré » impossible" in message
    assert "Hors critères" in message


def test_accompagnement_ouvert_is_only_reached_by_opening_a_case(unit, ass):
    referral = SignalementFactory(unit=unit, statut=S.RENCONTRE_PROPOSEE)
    with pytest.raises(ValidationError, match="Ouvrir un accompagnement"):
        services.signalement_transition(
            signalement=referral, to_status=S.ACCOMPAGNEMENT_OUVERT, acting_user=ass, reason="x"
        )


def test_contact_en_cours_is_only_reached_by_a_contact_attempt(referral, ass):
    with pytest.raises(ValidationError, match="tentative de contact"):
        services.signalement_transition(
            signalement=referral, to_status=S.CONTACT_EN_COURS, acting_user=ass
        )


@pytest.mark.parametrize("final", [S.REFUS, S.SANS_REPONSE, S.HORS_CRITERES])
def test_a_final_status_needs_a_reason(final, unit, ass):
    referral = SignalementFactory(unit=unit, statut=S.CONTACT_EN_COURS)
    with pytest.raises(ValidationError) as exc:
        services.signalement_transition(
            signalement=referral, to_status=final, acting_user=ass, reason="   "
        )
    assert "reason" in exc.value.message_dict
    referral.refresh_from_db()
    assert referral.statut == S.CONTACT_EN_COURS


def test_a_medical_referral_can_be_classed_but_not_given_social_statuses(unit, medecin):
    referral = SignalementFactory(service=Service.MEDICAL, unit=None, statut=S.NOUVEAU)
    with pytest.raises(ValidationError):
        services.signalement_transition(
            signalement=referral, to_status=S.A_CONTACTER, acting_user=medecin, reason="x"
        )
    with pytest.raises(ValidationError, match="Transmettre au service social"):
        services.signalement_transition(
            signalement=referral, to_status=S.TRANSMIS, acting_user=medecin, reason="x"
        )
    services.signalement_transition(
        signalement=referral, to_status=S.CLASSE, acting_user=medecin, reason="Reprise prévue"
    )
    referral.refresh_from_db()
    assert referral.statut == S.CLASSE


def test_a_stale_copy_cannot_overwrite_a_status_changed_meanwhile(referral, ass, colleague):
    first = Signalement.objects.get(pk=referral.pk)
    second = Signalement.objects.get(pk=referral.pk)
    services.signalement_transition(
        signalement=first, to_status=S.HORS_CRITERES, acting_user=ass, reason="Retraite"
    )
    with pytest.raises(ValidationError, match="vient d'être modifié"):
        services.signalement_transition(
            signalement=second, to_status=S.DOUBLON, acting_user=colleague, reason="Doublon"
        )
    referral.refresh_from_db()
    assert referral.statut == S.HORS_CRITERES
    assert len(_status_events(referral)) == 1


def test_the_status_the_user_saw_is_checked(referral, ass):
    with pytest.raises(ValidationError, match="vient d'être modifié"):
        services.signalement_transition(
            signalement=referral,
            to_status=S.DOUBLON,
            acting_user=ass,
            reason="x",
            from_status=S.NOUVEAU,
        )
    referral.refresh_from_db()
    assert referral.statut == S.A_CONTACTER


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transitions_let_exactly_one_win(unit, ass, colleague):
    referral = SignalementFactory(unit=unit, statut=S.CONTACT_EN_COURS)
    copies = [Signalement.objects.get(pk=referral.pk) for _ in range(2)]
    targets = [(S.REFUS, ass), (S.SANS_REPONSE, colleague)]
    barrier = threading.Barrier(2)
    outcomes = []

    def work(copy, target, user):
        try:
            barrier.wait(timeout=5)
            services.signalement_transition(
                signalement=copy, to_status=target, acting_user=user, reason="Concurrent"
            )
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(copy, target, user))
        for copy, (target, user) in zip(copies, targets, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["ok", "refused"]
    assert len(_status_events(referral)) == 1


# --- Contact attempts -------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_the_first_contact_attempt_moves_the_referral_to_contact_en_cours(referral, ass):
    attempt = services.contact_attempt_add(
        signalement=referral,
        acting_user=ass,
        canal="telephone",
        resultat=ContactAttempt.Resultat.PAS_DE_REPONSE,
        at=NOW - datetime.timedelta(hours=1),
        note="Messagerie pleine",
    )
    referral.refresh_from_db()
    assert referral.statut == S.CONTACT_EN_COURS
    assert (attempt.user, attempt.canal, attempt.note) == (ass, "telephone", "Messagerie pleine")
    kinds = list(
        SignalementEvent.objects.filter(signalement=referral).values_list("kind", "new_value")
    )
    assert kinds == [("contact", "Téléphone – Pas de réponse"), ("status", S.CONTACT_EN_COURS)]


@time_machine.travel(NOW, tick=False)
def test_a_nouveau_referral_also_moves_on_the_first_attempt(unit, ass):
    referral = SignalementFactory(unit=unit, statut=S.NOUVEAU)
    services.contact_attempt_add(
        signalement=referral, acting_user=ass, canal="sms", resultat="message", at=NOW
    )
    referral.refresh_from_db()
    assert referral.statut == S.CONTACT_EN_COURS


@time_machine.travel(NOW, tick=False)
def test_later_attempts_keep_the_status(unit, ass):
    referral = SignalementFactory(unit=unit, statut=S.CONTACT_EN_COURS)
    services.contact_attempt_add(
        signalement=referral, acting_user=ass, canal="telephone", resultat="joint", at=NOW
    )
    referral.refresh_from_db()
    assert referral.statut == S.CONTACT_EN_COURS
    assert not _status_events(referral)
    assert referral.contact_attempts.count() == 1


@time_machine.travel(NOW, tick=False)
def test_a_successful_contact_can_propose_a_meeting(referral, ass):
    services.contact_attempt_add(
        signalement=referral,
        acting_user=ass,
        canal="telephone",
        resultat=ContactAttempt.Resultat.JOINT,
        at=NOW,
        propose_meeting=True,
    )
    referral.refresh_from_db()
    assert referral.statut == S.RENCONTRE_PROPOSEE
    assert [e.new_value for e in _status_events(referral)] == [
        S.CONTACT_EN_COURS,
        S.RENCONTRE_PROPOSEE,
    ]


@time_machine.travel(NOW, tick=False)
def test_a_meeting_cannot_be_proposed_to_someone_not_reached(referral, ass):
    with pytest.raises(ValidationError) as exc:
        services.contact_attempt_add(
            signalement=referral,
            acting_user=ass,
            canal="telephone",
            resultat="pas_de_reponse",
            at=NOW,
            propose_meeting=True,
        )
    assert "propose_meeting" in exc.value.message_dict
    referral.refresh_from_db()
    assert referral.statut == S.A_CONTACTER
    assert not referral.contact_attempts.exists()


@time_machine.travel(NOW, tick=False)
def test_it_refuses_an_attempt_in_the_future_or_on_a_closed_referral(referral, ass, unit):
    with pytest.raises(ValidationError, match="futur"):
        services.contact_attempt_add(
            signalement=referral,
            acting_user=ass,
            canal="telephone",
            resultat="joint",
            at=NOW + datetime.timedelta(hours=2),
        )
    closed = SignalementFactory(unit=unit, statut=S.REFUS)
    with pytest.raises(ValidationError, match="clos"):
        services.contact_attempt_add(
            signalement=closed, acting_user=ass, canal="telephone", resultat="joint", at=NOW
        )
    assert not ContactAttempt.objects.exists()


# --- Forward (service médical → service social) -------------------------------------------------


@pytest.fixture
def medical(unit):
    arret = ArretFactory(date_debut=datetime.date(2026, 1, 1))
    return SignalementFactory(
        assure=arret.assure,
        arret=arret,
        service=Service.MEDICAL,
        unit=None,
        statut=S.NOUVEAU,
        date_echeance=None,
    )


@time_machine.travel(NOW, tick=False)
def test_forwarding_marks_the_medical_referral_and_creates_a_routed_social_one(
    medical, medecin, unit
):
    UnitTerritoryFactory(unit=unit, prefix="76")
    social = services.signalement_forward(
        signalement=medical, acting_user=medecin, motif="Situation à risque de perte d'emploi"
    )
    medical.refresh_from_db()
    assert medical.statut == S.TRANSMIS
    social.refresh_from_db()
    assert social.service == Service.SOCIAL
    assert social.origine == Origine.MEDECIN_CONSEIL
    assert social.forwarded_from == medical
    assert social.arret == medical.arret
    assert social.unit == unit
    assert social.assigned_to is None
    assert social.statut == S.NOUVEAU
    assert social.date_echeance == datetime.date(2026, 4, 30)  # 1 Jan + 120 − 1
    assert social.motif == "Situation à risque de perte d'emploi"
    assert social.created_by == medecin
    forwarded = SignalementEvent.objects.get(signalement=medical)
    assert (forwarded.kind, forwarded.old_value, forwarded.new_value, forwarded.actor) == (
        "forwarded",
        S.NOUVEAU,
        S.TRANSMIS,
        medecin,
    )
    created = SignalementEvent.objects.get(signalement=social)
    assert (created.kind, created.new_value) == ("created", str(unit))


@time_machine.travel(NOW, tick=False)
def test_forwarding_follows_the_region_deadline(medical, medecin, unit):
    region = unit.region
    region.first_contact_deadline_day = 100
    region.save()
    medical = Signalement.objects.get(pk=medical.pk)
    social = services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    assert social.date_echeance == datetime.date(2026, 4, 10)  # 1 Jan + 99


@time_machine.travel(NOW, tick=False)
def test_forwarding_auto_assigns_to_the_least_loaded_ass(medical, medecin, unit, ass, colleague):
    unit.auto_assign = True
    unit.save()
    UnitTerritoryFactory(unit=unit, prefix="76")
    SignalementFactory(unit=unit, assigned_to=ass)  # ass already has one open referral
    social = services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    social.refresh_from_db()
    assert social.assigned_to == colleague
    event = SignalementEvent.objects.get(signalement=social, kind="assigned")
    assert event.actor is None
    assert "automatique" in event.reason


@time_machine.travel(NOW, tick=False)
def test_without_a_unit_for_the_postal_code_it_waits_in_the_regional_queue(
    medical, medecin, manager
):
    social = services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    assert social.unit is None
    assert social in Signalement.objects.visible_to(manager)


@time_machine.travel(NOW, tick=False)
def test_without_an_arret_the_due_date_is_in_30_days(medecin):
    medical = SignalementFactory(service=Service.MEDICAL, unit=None, statut=S.NOUVEAU)
    social = services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    assert social.date_echeance == datetime.date(2026, 4, 9)


@time_machine.travel(NOW, tick=False)
def test_forwarding_needs_a_reason(medical, medecin):
    with pytest.raises(ValidationError) as exc:
        services.signalement_forward(signalement=medical, acting_user=medecin, motif="  ")
    assert "diagnostic" in exc.value.message_dict["motif"][0]
    medical.refresh_from_db()
    assert medical.statut == S.NOUVEAU


@time_machine.travel(NOW, tick=False)
def test_forwarding_is_refused_when_a_social_referral_is_open(medical, medecin, unit):
    existing = SignalementFactory(assure=medical.assure, unit=unit, statut=S.CONTACT_EN_COURS)
    with pytest.raises(ValidationError) as exc:
        services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    message = exc.value.messages[0]
    assert "déjà en cours" in message
    assert f"{existing.date_signalement:%d/%m/%Y}" in message
    assert "Contact en cours" in message
    medical.refresh_from_db()
    assert medical.statut == S.NOUVEAU
    assert Signalement.objects.filter(service=Service.SOCIAL).count() == 1


@time_machine.travel(NOW, tick=False)
def test_forwarding_is_refused_once_transmitted_or_classed(medical, medecin):
    services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    with pytest.raises(ValidationError, match="déjà au statut « Transmis"):
        services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    classed = SignalementFactory(service=Service.MEDICAL, unit=None, statut=S.CLASSE)
    with pytest.raises(ValidationError, match="clos"):
        services.signalement_forward(signalement=classed, acting_user=medecin, motif="x")
    social = SignalementFactory(unit=None, statut=S.NOUVEAU)
    with pytest.raises(ValidationError, match="service médical"):
        services.signalement_forward(signalement=social, acting_user=medecin, motif="x")


@time_machine.travel(NOW, tick=False)
def test_forwarding_an_arret_already_referred_to_the_social_service_does_not_clash(
    medical, medecin, unit
):
    SignalementFactory(assure=medical.assure, arret=medical.arret, unit=unit, statut=S.REFUS)
    social = services.signalement_forward(signalement=medical, acting_user=medecin, motif="x")
    assert social.arret is None
    assert social.date_echeance == datetime.date(2026, 4, 30)


# --- Manual referral ---------------------------------------------------------------------------


def _manual(user, **kwargs):
    data = {
        "acting_user": user,
        "origine": Origine.SPST,
        "nir": make_nir(9001),
        "nom": "Martin",
        "prenom": "Claire",
        "date_naissance": datetime.date(1985, 5, 3),
        "sexe": "1",
        "code_postal": "76100",
        "commune": "Rouen",
        "telephone": "0600000000",
        "motif": "Signalé par le médecin du travail",
    }
    data.update(kwargs)
    return services.signalement_create_manual(**data)


def _spaced(nir):
    return f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"


@time_machine.travel(NOW, tick=False)
def test_a_manual_referral_finds_the_person_by_nir_typed_with_spaces(unit, ass):
    known = AssureFactory(nom_naissance="Durand", prenoms="Paul")
    signalement, created = _manual(ass, nir=_spaced(known.nir), nom="Autre", prenom="Nom")
    assert not created
    assert signalement.assure == known
    known.refresh_from_db()
    assert known.nom_naissance == "Durand"  # identity fields ignored
    assert Assure.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_a_manual_referral_creates_an_unknown_person(unit, ass):
    signalement, created = _manual(ass)
    assert created
    assure = signalement.assure
    assert (assure.nir, assure.nom_naissance, assure.prenoms, assure.code_postal) == (
        make_nir(9001),
        "Martin",
        "Claire",
        "76100",
    )
    assert signalement.origine == Origine.SPST
    assert signalement.statut == S.NOUVEAU
    assert signalement.date_echeance == datetime.date(2026, 4, 9)  # today + 30, no arrêt
    assert signalement.unit == unit  # no territory covers 76100: the creator's unit
    assert SignalementEvent.objects.filter(signalement=signalement, kind="created").exists()


@time_machine.travel(NOW, tick=False)
def test_a_manual_referral_is_routed_by_postal_code(unit, other_unit, ass):
    UnitTerritoryFactory(unit=other_unit, prefix="76100")
    UnitTerritoryFactory(unit=unit, prefix="76")
    signalement, _ = _manual(ass)
    assert signalement.unit == other_unit


@time_machine.travel(NOW, tick=False)
def test_a_manual_referral_with_an_arret_is_due_on_day_120(unit, ass):
    arret = ArretFactory(date_debut=datetime.date(2026, 2, 1))
    signalement, _ = _manual(ass, nir=arret.assure.nir, arret=arret)
    assert signalement.arret == arret
    assert signalement.date_echeance == datetime.date(2026, 5, 31)


def test_a_manual_referral_is_refused_when_one_is_open_and_says_which(unit, ass):
    open_one = SignalementFactory(unit=unit, statut=S.RENCONTRE_PROPOSEE)
    with pytest.raises(ValidationError) as exc:
        _manual(ass, nir=open_one.assure.nir)
    message = exc.value.messages[0]
    assert "Rencontre proposée" in message
    assert str(unit) in message
    assert Signalement.objects.count() == 1


def test_a_manual_referral_is_refused_when_a_case_is_open(unit, ass):
    case = AccompagnementFactory(referent=ass)
    with pytest.raises(ValidationError, match="déjà accompagnée"):
        _manual(ass, nir=case.assure.nir)
    assert not Signalement.objects.exists()


def test_a_manual_referral_checks_the_nir_and_its_coherence(unit, ass):
    with pytest.raises(ValidationError) as exc:
        _manual(ass, nir="1 85 05 76 001 001 00")
    assert exc.value.message_dict["nir"] == ["Clé du NIR invalide."]
    with pytest.raises(ValidationError) as exc:
        _manual(ass, sexe="2", date_naissance=datetime.date(1990, 5, 3))
    problems = exc.value.message_dict["nir"]
    assert len(problems) == 2
    assert not Assure.objects.exists()


def test_a_manual_referral_needs_a_name_for_an_unknown_person(unit, ass):
    with pytest.raises(ValidationError) as exc:
        _manual(ass, nom="", prenom="")
    assert set(exc.value.message_dict) == {"nom", "prenom"}
    assert not Assure.objects.exists()


def test_a_manual_referral_refuses_automatic_origins(unit, ass):
    with pytest.raises(ValidationError):
        _manual(ass, origine=Origine.SEUIL_CPAM)


# --- Opening the case -------------------------------------------------------------------------


def test_opening_a_case_links_it_and_closes_the_referral(unit, ass, manager):
    referral = SignalementFactory(unit=unit, assigned_to=ass, statut=S.RENCONTRE_PROPOSEE)
    case = case_services.case_open_from_signalement(
        signalement=referral, acting_user=manager, referent=ass
    )
    referral.refresh_from_db()
    assert referral.statut == S.ACCOMPAGNEMENT_OUVERT
    assert case.signalement == referral
    assert (case.assure, case.referent, case.unit) == (referral.assure, ass, unit)
    assert CaseEvent.objects.filter(accompagnement=case, kind="opened").exists()
    (event,) = _status_events(referral)
    assert (event.old_value, event.new_value, event.actor) == (
        S.RENCONTRE_PROPOSEE,
        S.ACCOMPAGNEMENT_OUVERT,
        manager,
    )


def test_a_case_can_be_opened_right_after_reaching_the_person(unit, ass):
    referral = SignalementFactory(unit=unit, statut=S.CONTACT_EN_COURS)
    case_services.case_open_from_signalement(signalement=referral, acting_user=ass, referent=ass)
    referral.refresh_from_db()
    assert referral.statut == S.ACCOMPAGNEMENT_OUVERT


def test_opening_a_case_is_refused_when_one_is_open(unit, ass, colleague):
    referral = SignalementFactory(unit=unit, statut=S.RENCONTRE_PROPOSEE)
    AccompagnementFactory(assure=referral.assure, referent=colleague)
    with pytest.raises(ValidationError, match="déjà ouvert"):
        case_services.case_open_from_signalement(
            signalement=referral, acting_user=ass, referent=ass
        )
    referral.refresh_from_db()
    assert referral.statut == S.RENCONTRE_PROPOSEE
    assert Accompagnement.objects.count() == 1


def test_opening_a_case_is_refused_before_any_contact(referral, ass):
    with pytest.raises(ValidationError, match="tentative de contact"):
        case_services.case_open_from_signalement(
            signalement=referral, acting_user=ass, referent=ass
        )
    assert not Accompagnement.objects.exists()


def test_the_referent_must_be_an_ass_of_the_unit(unit, ass, outsider, conseiller):
    referral = SignalementFactory(unit=unit, statut=S.RENCONTRE_PROPOSEE)
    for referent in (outsider, conseiller):
        with pytest.raises(ValidationError) as exc:
            case_services.case_open_from_signalement(
                signalement=referral, acting_user=ass, referent=referent
            )
        assert "referent" in exc.value.message_dict
    assert not Accompagnement.objects.exists()


# --- Assignment ----------------------------------------------------------------------------------


def test_assigning_records_who_and_why(referral, manager, colleague):
    services.signalement_assign(
        signalement=referral,
        acting_user=manager,
        unit=referral.unit,
        assigned_to=colleague,
        reason="Congés",
    )
    referral.refresh_from_db()
    assert referral.assigned_to == colleague
    event = SignalementEvent.objects.get(signalement=referral, kind="assigned")
    assert (event.actor, event.reason) == (manager, "Congés")
    assert str(colleague) in event.new_value


def test_assigning_refuses_a_worker_of_another_unit_or_the_manager(referral, manager, outsider):
    for worker in (outsider, manager):
        with pytest.raises(ValidationError) as exc:
            services.signalement_assign(
                signalement=referral, acting_user=manager, unit=referral.unit, assigned_to=worker
            )
        assert "assigned_to" in exc.value.message_dict
    referral.refresh_from_db()
    assert referral.assigned_to_id not in (outsider.pk, manager.pk)


def test_assigning_a_closed_referral_is_refused(unit, manager, ass):
    closed = SignalementFactory(unit=unit, statut=S.DOUBLON)
    with pytest.raises(ValidationError, match="en cours"):
        services.signalement_assign(
            signalement=closed, acting_user=manager, unit=unit, assigned_to=ass
        )


def test_a_queue_referral_can_be_sent_to_a_unit(manager, other_unit):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    worker = UserFactory(ass=True, unit=other_unit)
    services.signalement_assign(
        signalement=queued, acting_user=manager, unit=other_unit, assigned_to=worker
    )
    queued.refresh_from_db()
    assert (queued.unit, queued.assigned_to) == (other_unit, worker)


def test_today_is_the_default_of_contact_attempts(referral, ass):
    before = timezone.now()
    attempt = services.contact_attempt_add(
        signalement=referral, acting_user=ass, canal="telephone", resultat="joint"
    )
    assert attempt.at >= before
