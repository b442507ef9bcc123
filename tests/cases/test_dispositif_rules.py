"""Rules of the dispositifs (domain §5), enforced by the services of cases.dispositifs."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from cases import dispositifs as rules
from cases.models import (
    CaseEvent,
    CaseStatus,
    DispositifMobilise,
    DispositifPeriode,
    DispositifStatut,
    DispositifType,
    EvaluationGlobale,
)
from referrals.models import Service
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    SignalementFactory,
)

S = DispositifStatut
EMPLOYEUR_SIRET = "73282932000074"
AUTRE_SIRET = "55210055400013"
BEFORE = date(2025, 2, 20)  # agreements recorded before every start used below
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def assure(db):
    return AssureFactory(situation_emploi="cdi", employeur_siret=EMPLOYEUR_SIRET)


@pytest.fixture
def arret(assure):
    return ArretFactory(
        assure=assure, date_debut=date(2025, 1, 6), date_fin_prevue=date(2025, 12, 31)
    )


@pytest.fixture
def case(assure, arret, ass):
    return AccompagnementFactory(assure=assure, referent=ass)


def evaluate(case, user, day=BEFORE):
    """An évaluation globale of ``case`` dated ``day`` (its date is its creation time)."""
    evaluation = EvaluationGlobale.objects.create(
        accompagnement=case,
        version=case.evaluations.count() + 1,
        niveau_risque="modere",
        created_by=user,
    )
    moment = datetime(day.year, day.month, day.day, 10, tzinfo=PARIS)
    EvaluationGlobale.objects.filter(pk=evaluation.pk).update(created_at=moment)
    return evaluation


@pytest.fixture
def evaluation(case, ass):
    return evaluate(case, ass)


def dtype(code):
    return DispositifType.objects.get(code=code)


def messages_of(excinfo):
    return " ".join(excinfo.value.messages)


def create(case, user, code, **fields):
    return rules.dispositif_create(
        accompagnement=case, acting_user=user, type=dtype(code), **fields
    )


ESSAI_ACCORDS = {
    "accord_medecin_traitant": BEFORE,
    "accord_medecin_conseil": BEFORE,
    "accord_medecin_travail": BEFORE,
}


def essai(case, user, debut=date(2025, 3, 3), fin=date(2025, 3, 18), **fields):
    values = {"chez_employeur": True, **ESSAI_ACCORDS, **fields}
    return create(case, user, "essai_encadre", date_debut=debut, date_fin=fin, **values)


def start(dispositif, user):
    """Walk the workflow from the current status up to en cours."""
    dispositif.refresh_from_db()
    steps = [S.DEMANDE, S.ACCORDE, S.EN_COURS]
    for step in steps[steps.index(dispositif.statut) + 1 if dispositif.statut in steps else 0 :]:
        dispositif = rules.dispositif_change_status(
            dispositif=dispositif, acting_user=user, to_status=step
        )
    return dispositif


def add(dispositif, user, debut, fin):
    return rules.dispositif_add_periode(
        dispositif=dispositif, acting_user=user, date_debut=debut, date_fin=fin
    )


# --- Essai encadré: jours ouvrables ------------------------------------------------------


def test_an_essai_encadre_of_14_jours_ouvrables_is_accepted(case, ass, evaluation):
    dispositif = start(essai(case, ass), ass)  # Mon 03/03 → Tue 18/03/2025: 14 days
    dispositif.refresh_from_db()
    assert dispositif.statut == S.EN_COURS
    assert dispositif.jours_ouvrables_utilises == 14
    assert dispositif.periodes.count() == 1


def test_an_essai_encadre_of_15_jours_ouvrables_is_refused_before_renewal(case, ass):
    with pytest.raises(ValidationError) as excinfo:
        essai(case, ass, fin=date(2025, 3, 19))
    assert "au plus 14 jours ouvrables avant renouvellement" in messages_of(excinfo)
    assert "en comptent 15" in messages_of(excinfo)
    assert not DispositifMobilise.objects.exists()
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.DISPOSITIF).exists()


def test_split_periods_are_summed(case, ass):
    dispositif = essai(case, ass, date(2025, 3, 3), date(2025, 3, 8))  # 6
    add(dispositif, ass, date(2025, 3, 17), date(2025, 3, 22))  # 6 → 12
    add(dispositif, ass, date(2025, 3, 24), date(2025, 3, 25))  # 2 → 14
    with pytest.raises(ValidationError) as excinfo:
        add(dispositif, ass, date(2025, 3, 27), date(2025, 3, 27))  # 15
    assert "en comptent 15" in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert dispositif.periodes.count() == 3
    assert dispositif.jours_ouvrables_utilises == 14
    assert (dispositif.date_debut, dispositif.date_fin) == (date(2025, 3, 3), date(2025, 3, 25))


def test_sundays_and_public_holidays_are_not_counted(case, ass):
    # Sat 26/04 → Sat 03/05/2025: Sunday 27/04 and Thursday 1 May excluded → 6.
    dispositif = essai(case, ass, date(2025, 4, 26), date(2025, 5, 3))
    # Mon 05/05 → Sat 10/05: 8 May excluded → 5 (11); Sat 12/07 → Tue 15/07:
    # Sunday 13 and Monday 14 July excluded → 2 (13).
    add(dispositif, ass, date(2025, 5, 5), date(2025, 5, 10))
    add(dispositif, ass, date(2025, 7, 12), date(2025, 7, 15))
    assert dispositif.jours_ouvrables_utilises == 13
    add(dispositif, ass, date(2025, 7, 16), date(2025, 7, 16))  # 14: the limit
    with pytest.raises(ValidationError):
        add(dispositif, ass, date(2025, 7, 17), date(2025, 7, 17))


def test_a_period_with_no_jour_ouvrable_is_refused(case, ass):
    dispositif = essai(case, ass, date(2025, 3, 3), date(2025, 3, 4))
    with pytest.raises(ValidationError) as excinfo:
        add(dispositif, ass, date(2025, 7, 13), date(2025, 7, 14))  # Sunday + 14 July
    assert "ne compte aucun jour ouvrable" in messages_of(excinfo)


def test_overlapping_periods_are_refused(case, ass):
    dispositif = essai(case, ass, date(2025, 3, 3), date(2025, 3, 8))
    with pytest.raises(ValidationError) as excinfo:
        add(dispositif, ass, date(2025, 3, 8), date(2025, 3, 10))
    assert "se chevauchent" in messages_of(excinfo)


def test_a_renewal_allows_28_jours_ouvrables_but_not_29(case, ass):
    dispositif = essai(case, ass)  # 14
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass)
    with pytest.raises(ValidationError) as excinfo:
        add(dispositif, ass, date(2025, 3, 24), date(2025, 4, 9))  # 15 → 29
    assert "au plus 28 jours ouvrables, renouvellement compris" in messages_of(excinfo)
    periode = add(dispositif, ass, date(2025, 3, 24), date(2025, 4, 8))  # 14 → 28
    assert periode.renouvellement is True
    dispositif.refresh_from_db()
    assert dispositif.renouvellements == 1
    assert dispositif.jours_ouvrables_utilises == 28
    assert dispositif.jours_ouvrables_autorises == 28


def test_the_renewal_does_not_raise_the_initial_grant_above_14(case, ass):
    dispositif = essai(case, ass, date(2025, 3, 3), date(2025, 3, 8))  # 6 initial
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass)
    # After renewal, new periods belong to the renewal: 6 + 22 = 28 is fine.
    add(dispositif, ass, date(2025, 3, 10), date(2025, 4, 3))
    dispositif.refresh_from_db()
    assert dispositif.jours_ouvrables_utilises == 28


def test_a_second_renewal_is_refused(case, ass):
    dispositif = essai(case, ass)
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_renew(dispositif=dispositif, acting_user=ass)
    assert "qu'une seule fois" in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert dispositif.renouvellements == 1


# --- Essai encadré: conditions of the start --------------------------------------------


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("accord_medecin_traitant", "L'accord du médecin traitant est requis"),
        ("accord_medecin_conseil", "L'accord du médecin conseil est requis"),
        ("accord_medecin_travail", "L'accord du médecin du travail est requis"),
    ],
)
def test_an_essai_encadre_does_not_start_without_each_agreement(
    case, ass, evaluation, missing, message
):
    dispositif = essai(case, ass, **{missing: None})
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert message in messages_of(excinfo)
    assert "avant le début de l'essai encadré" in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert dispositif.statut == S.ACCORDE


def test_an_agreement_dated_after_the_start_is_refused(case, ass, evaluation):
    dispositif = essai(case, ass, accord_medecin_travail=date(2025, 3, 4))
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert (
        "L'accord du médecin du travail est daté du 04/03/2025, après le début de l'essai "
        "encadré (03/03/2025)"
    ) in messages_of(excinfo)


def test_an_agreement_dated_on_the_start_day_is_accepted(case, ass, evaluation):
    dispositif = start(essai(case, ass, accord_medecin_conseil=date(2025, 3, 3)), ass)
    assert dispositif.statut == S.EN_COURS


def test_an_essai_encadre_does_not_start_without_an_evaluation_globale(case, ass):
    dispositif = essai(case, ass)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "après une évaluation globale" in messages_of(excinfo)


def test_an_essai_encadre_needs_a_host_company_or_the_employer(case, ass, evaluation):
    dispositif = essai(case, ass, chez_employeur=False)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "Indiquez l'entreprise d'accueil" in messages_of(excinfo)
    rules.dispositif_update(dispositif=dispositif, acting_user=ass, entreprise_accueil="Atelier")
    assert start(dispositif, ass).statut == S.EN_COURS


def test_an_essai_encadre_after_the_arret_has_ended_is_refused(case, ass, arret, evaluation):
    arret.date_fin_reelle = date(2025, 2, 28)
    arret.save()
    dispositif = essai(case, ass)  # envisagé: recorded, with a warning
    problems = rules.dispositif_problems(dispositif)
    assert any(p.code.startswith("hors_arret") and not p.blocks(S.DEMANDE) for p in problems)
    rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.DEMANDE)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.ACCORDE)
    assert "Aucun arrêt de travail n'est en cours le 03/03/2025" in messages_of(excinfo)


def test_a_period_beyond_the_end_of_the_arret_is_refused(case, ass, arret, evaluation):
    arret.date_fin_reelle = date(2025, 3, 14)
    arret.save()
    with pytest.raises(ValidationError) as excinfo:
        essai(case, ass, statut=S.EN_COURS)
    assert "dépasse la fin de l'arrêt (14/03/2025)" in messages_of(excinfo)
    dispositif = start(essai(case, ass, fin=date(2025, 3, 14)), ass)
    assert dispositif.statut == S.EN_COURS


def test_an_essai_encadre_for_a_demandeur_d_emploi_is_refused(case, ass, assure, evaluation):
    assure.situation_emploi = "demandeur_emploi"
    assure.save()
    dispositif = essai(case, ass)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "réservé aux salariés, intérimaires, apprentis" in messages_of(excinfo)
    assert "Demandeur d'emploi" in messages_of(excinfo)


@pytest.mark.parametrize("regime", ["independant", "agricole"])
def test_an_essai_encadre_outside_the_regime_general_is_refused(
    case, ass, assure, evaluation, regime
):
    assure.regime = regime
    assure.save()
    dispositif = essai(case, ass)
    [problem] = [p for p in rules.dispositif_problems(dispositif) if p.code == "essai_regime"]
    assert not problem.blocks(S.DEMANDE)
    assert problem.blocks(S.ACCORDE)
    rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.DEMANDE)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.ACCORDE)
    assert "réservé aux assurés du régime général" in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert dispositif.statut == S.DEMANDE


def test_an_essai_encadre_does_not_start_before_its_evaluation_globale(case, ass):
    evaluate(case, ass, day=date(2025, 3, 4))  # the essai starts on 03/03
    dispositif = essai(case, ass)
    [problem] = [
        p for p in rules.dispositif_problems(dispositif) if p.code == "evaluation_apres_debut"
    ]
    assert problem.blocks(S.EN_COURS) and not problem.blocks(S.ACCORDE)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert (
        "la première est datée du 04/03/2025, après le début de l'essai encadré (03/03/2025)"
    ) in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert dispositif.statut == S.ACCORDE


def test_an_evaluation_globale_of_the_start_day_is_enough(case, ass):
    evaluate(case, ass, day=date(2025, 3, 3))
    assert start(essai(case, ass), ass).statut == S.EN_COURS


def test_a_later_re_evaluation_does_not_undo_the_first_one(case, ass, evaluation):
    dispositif = start(essai(case, ass), ass)
    evaluate(case, ass, day=date(2025, 3, 10))  # redone during the essai
    assert [p.code for p in rules.dispositif_problems(dispositif)] == []


def test_an_unknown_job_situation_is_only_a_warning(case, ass, assure, evaluation):
    assure.situation_emploi = ""
    assure.save()
    dispositif = start(essai(case, ass), ass)
    problems = rules.dispositif_problems(dispositif)
    assert [p.code for p in problems] == ["situation_inconnue"]
    assert problems[0].blocks(S.EN_COURS) is False


def test_a_change_may_not_introduce_a_problem_but_old_ones_do_not_block(
    case, ass, arret, evaluation
):
    dispositif = start(essai(case, ass, debut=date(2025, 3, 3), fin=date(2025, 3, 8)), ass)
    arret.date_fin_reelle = date(2025, 3, 5)  # a later CPAM import shortens the arrêt
    arret.save()
    rules.dispositif_update(dispositif=dispositif, acting_user=ass, resultat="Essai concluant")
    with pytest.raises(ValidationError):
        add(dispositif, ass, date(2025, 3, 10), date(2025, 3, 11))
    with pytest.raises(ValidationError):
        rules.dispositif_update(
            dispositif=dispositif, acting_user=ass, accord_medecin_traitant=None
        )
    dispositif.refresh_from_db()
    assert dispositif.resultat == "Essai concluant"
    assert dispositif.accord_medecin_traitant == BEFORE


def test_the_dates_of_an_essai_encadre_come_from_its_periods(case, ass):
    dispositif = essai(case, ass, date(2025, 3, 3), date(2025, 3, 8))
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 3, 9))
    assert "ajoutez ou supprimez une période" in messages_of(excinfo)
    periode = add(dispositif, ass, date(2025, 3, 10), date(2025, 3, 11))
    rules.dispositif_remove_periode(periode=periode, acting_user=ass)
    dispositif.refresh_from_db()
    assert dispositif.date_fin == date(2025, 3, 8)


# --- PMSMP ------------------------------------------------------------------------------


def pmsmp(case, user, debut=date(2025, 3, 1), fin=date(2025, 3, 31), **fields):
    values = {
        "entreprise_accueil": "Boulangerie Martin",
        "entreprise_siret": AUTRE_SIRET,
        "prescripteur": "Cap emploi",
        "convention_signee": BEFORE,
        "autorisation_cpam": BEFORE,
        **fields,
    }
    return create(case, user, "pmsmp", date_debut=debut, date_fin=fin, **values)


def test_a_pmsmp_of_one_month_starts(case, ass):
    dispositif = start(pmsmp(case, ass), ass)  # 01/03 → 31/03
    assert dispositif.statut == S.EN_COURS


def test_a_pmsmp_of_one_month_and_one_day_is_refused(case, ass):
    with pytest.raises(ValidationError) as excinfo:
        pmsmp(case, ass, fin=date(2025, 4, 1))
    assert "La PMSMP dure au plus 1 mois" in messages_of(excinfo)
    assert "au plus tard le 31/03/2025" in messages_of(excinfo)


def test_a_pmsmp_from_the_31st_may_end_on_the_last_day_of_february(case, ass):
    pmsmp(case, ass, debut=date(2025, 1, 31), fin=date(2025, 2, 28))
    assert rules.months_end(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert rules.months_end(date(2025, 3, 10), 18) == date(2026, 9, 9)


def test_a_pmsmp_at_the_employer_is_refused(case, ass):
    with pytest.raises(ValidationError) as excinfo:
        pmsmp(case, ass, chez_employeur=True)
    assert "autre entreprise que l'employeur" in messages_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        pmsmp(case, ass, entreprise_siret="732 829 320 00074")
    assert "le SIREN de l'entreprise d'accueil" in messages_of(excinfo)
    assert not DispositifMobilise.objects.exists()


# Same SIREN 732 829 320 as the employer, another establishment (valid Luhn SIRET).
OTHER_ESTABLISHMENT = "73282932000025"


def test_a_pmsmp_in_another_establishment_of_the_employer_is_refused(case, ass):
    assert OTHER_ESTABLISHMENT[:9] == EMPLOYEUR_SIRET[:9] != AUTRE_SIRET[:9]
    dispositif = DispositifMobilise(
        accompagnement=case, type=dtype("pmsmp"), entreprise_siret=OTHER_ESTABLISHMENT
    )
    [problem] = [
        p for p in rules.dispositif_problems(dispositif) if p.code == "pmsmp_chez_employeur"
    ]
    assert problem.blocks(S.ENVISAGE)
    assert "un autre établissement de la même entreprise ne convient pas" in problem.message
    with pytest.raises(ValidationError) as excinfo:
        pmsmp(case, ass, entreprise_siret=OTHER_ESTABLISHMENT)
    assert "SIREN" in messages_of(excinfo)
    ok = pmsmp(case, ass)  # another company
    with pytest.raises(ValidationError):
        rules.dispositif_update(
            dispositif=ok, acting_user=ass, entreprise_siret=OTHER_ESTABLISHMENT
        )
    ok.refresh_from_db()
    assert ok.entreprise_siret == AUTRE_SIRET


def test_a_pmsmp_is_renewed_once_for_one_more_month(case, ass):
    dispositif = pmsmp(case, ass)  # 01/03 → 31/03
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 5, 1))
    assert (
        "Le renouvellement de la PMSMP dure au plus 1 mois\N{NO-BREAK SPACE}: commencé le "
        "01/04/2025, il finit au plus tard le 30/04/2025."
    ) in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert (dispositif.renouvellements, dispositif.date_fin_initiale) == (0, None)
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 4, 30))
    dispositif.refresh_from_db()
    assert (dispositif.renouvellements, dispositif.date_fin_initiale, dispositif.date_fin) == (
        1,
        date(2025, 3, 31),
        date(2025, 4, 30),
    )
    event = CaseEvent.objects.filter(kind=CaseEvent.Kind.DISPOSITIF).latest("pk")
    assert event.changes["date_fin_initiale"] == [None, "2025-03-31"]
    assert "du 01/04/2025 au 30/04/2025" in event.summary
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 4, 30))
    assert "qu'une seule fois" in messages_of(excinfo)


def test_a_short_first_pmsmp_period_does_not_lengthen_the_renewal(case, ass):
    # 2 months in all used to be the only limit: 01/03 → 15/03, then renewed to 30/04.
    dispositif = pmsmp(case, ass, fin=date(2025, 3, 15))
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 4, 30))
    assert "commencé le 16/03/2025, il finit au plus tard le 15/04/2025" in messages_of(excinfo)
    dispositif.refresh_from_db()
    assert (dispositif.renouvellements, dispositif.date_fin) == (0, date(2025, 3, 15))
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 4, 15))
    assert start(dispositif, ass).statut == S.EN_COURS


def test_each_pmsmp_period_is_checked_when_a_renewed_one_is_edited(case, ass):
    dispositif = pmsmp(case, ass)
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 4, 30))
    # The first period moved to 01/04: over a month long.
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(
            dispositif=dispositif, acting_user=ass, date_fin_initiale=date(2025, 4, 1)
        )
    assert "La première période de la PMSMP dure au plus 1 mois" in messages_of(excinfo)
    # The renewal end moved past a month after the first period.
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 5, 1))
    assert "Le renouvellement de la PMSMP dure au plus 1 mois" in messages_of(excinfo)
    # The first period's end must fall between the start and the renewal's end.
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(
            dispositif=dispositif, acting_user=ass, date_fin_initiale=date(2025, 4, 30)
        )
    assert "La fin de la première période (30/04/2025)" in messages_of(excinfo)
    # Nor may a shorter first period lengthen the renewal (21/03 → 30/04 is over a month).
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(
            dispositif=dispositif, acting_user=ass, date_fin_initiale=date(2025, 3, 20)
        )
    assert "commencé le 21/03/2025, il finit au plus tard le 20/04/2025" in messages_of(excinfo)
    rules.dispositif_update(
        dispositif=dispositif, acting_user=ass, date_fin_initiale=date(2025, 3, 30)
    )
    dispositif.refresh_from_db()
    assert dispositif.date_fin_initiale == date(2025, 3, 30)


def test_a_first_period_end_needs_a_renewed_pmsmp(case, ass):
    dispositif = pmsmp(case, ass)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(
            dispositif=dispositif, acting_user=ass, date_fin_initiale=date(2025, 3, 15)
        )
    assert "ne s'indique que pour une PMSMP renouvelée" in messages_of(excinfo)


def test_a_pmsmp_renewed_without_its_first_end_keeps_the_two_month_total(case, ass):
    dispositif = pmsmp(case, ass)
    DispositifMobilise.objects.filter(pk=dispositif.pk).update(
        renouvellements=1, date_fin=date(2025, 5, 1)
    )
    dispositif.refresh_from_db()
    codes = [p.code for p in rules.dispositif_problems(dispositif)]
    assert codes == ["pmsmp_duree"]
    assert (
        "au plus 2 mois, renouvellement compris" in rules.dispositif_problems(dispositif)[0].message
    )


def test_a_pmsmp_without_an_end_cannot_be_renewed(case, ass):
    dispositif = pmsmp(case, ass, fin=None)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 3, 31))
    assert "Indiquez d'abord les dates de début et de fin" in messages_of(excinfo)


def test_a_pmsmp_does_not_start_without_a_prescriber(case, ass):
    dispositif = pmsmp(case, ass, prescripteur="")
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "Indiquez le prescripteur de la PMSMP" in messages_of(excinfo)


def test_a_pmsmp_needs_a_convention_signed_before_it_starts(case, ass):
    dispositif = pmsmp(case, ass, convention_signee=date(2025, 3, 2))
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "La convention tripartite signée est datée du 02/03/2025" in messages_of(excinfo)


def test_a_pmsmp_during_the_arret_needs_the_cpam_authorisation(case, ass, arret):
    dispositif = pmsmp(case, ass, autorisation_cpam=None)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "L'autorisation de la CPAM est requise" in messages_of(excinfo)
    arret.date_fin_reelle = date(2025, 2, 1)
    arret.save()
    assert start(dispositif, ass).statut == S.EN_COURS  # after the arrêt: not needed


# --- CRPE -------------------------------------------------------------------------------


def crpe(case, user, debut=date(2025, 3, 10), fin=date(2026, 9, 9), **fields):
    values = {
        "entreprise_accueil": "Transports Leroy",
        "convention_signee": BEFORE,
        "inaptitude": "risque",
        **fields,
    }
    return create(case, user, "crpe", date_debut=debut, date_fin=fin, **values)


def test_a_crpe_during_the_arret_is_refused(case, ass):
    dispositif = crpe(case, ass)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "un arrêt de travail est en cours le 10/03/2025" in messages_of(excinfo)


def test_a_crpe_after_the_end_of_the_arret_starts(case, ass, arret):
    arret.date_fin_reelle = date(2025, 2, 28)
    arret.save()
    assert start(crpe(case, ass), ass).statut == S.EN_COURS


def test_a_crpe_without_any_recorded_return_is_refused(ass):
    case = AccompagnementFactory(referent=ass)  # no arrêt at all
    dispositif = crpe(case, ass)
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "aucune reprise (fin réelle d'arrêt) n'est enregistrée" in messages_of(excinfo)


@pytest.mark.parametrize("inaptitude", ["inapte", "risque"])
def test_a_crpe_is_for_a_person_declared_inapte_or_at_risk(case, ass, arret, inaptitude):
    arret.date_fin_reelle = date(2025, 2, 28)
    arret.save()
    dispositif = crpe(case, ass, inaptitude="", statut=S.DEMANDE)
    [problem] = rules.dispositif_problems(dispositif)
    assert problem.code == "crpe_inaptitude_manquante"
    assert problem.blocks(S.ACCORDE) and not problem.blocks(S.DEMANDE)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.ACCORDE)
    assert "déclarée inapte ou en risque d'inaptitude" in messages_of(excinfo)
    with pytest.raises(ValidationError):
        crpe(case, ass, inaptitude="", statut=S.ACCORDE)
    rules.dispositif_update(dispositif=dispositif, acting_user=ass, inaptitude=inaptitude)
    assert start(dispositif, ass).statut == S.EN_COURS
    event = CaseEvent.objects.get(changes__has_key="inaptitude")
    assert event.changes["inaptitude"] == ["", inaptitude]


def test_a_crpe_lasts_at_most_18_months(case, ass):
    crpe(case, ass)  # 10/03/2025 → 09/09/2026
    with pytest.raises(ValidationError) as excinfo:
        crpe(case, ass, fin=date(2026, 9, 10))
    assert "La CRPE dure au plus 18 mois" in messages_of(excinfo)


# --- Formation, bilan de compétences, VAE, TPT, pré-reprise ------------------------------


FORMATION_ACCORDS = {
    "accord_medecin_traitant": BEFORE,
    "accord_medecin_conseil": BEFORE,
    "autorisation_cpam": BEFORE,
}


def test_a_bilan_de_competences_of_24_hours_is_accepted_25_refused(case, ass):
    bilan = create(
        case,
        ass,
        "bilan_competences",
        date_debut=date(2025, 3, 3),
        date_fin=date(2025, 4, 30),
        duree_heures=24,
        **FORMATION_ACCORDS,
    )
    assert start(bilan, ass).statut == S.EN_COURS
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_update(dispositif=bilan, acting_user=ass, duree_heures=25)
    assert "au plus 24 heures (25 heures saisies)" in messages_of(excinfo)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("accord_medecin_traitant", "L'accord du médecin traitant est requis"),
        ("accord_medecin_conseil", "L'accord du médecin conseil est requis"),
        ("autorisation_cpam", "L'autorisation de la CPAM est requise"),
    ],
)
def test_a_formation_does_not_start_without_each_agreement(case, ass, missing, message):
    dispositif = create(
        case,
        ass,
        "formation",
        date_debut=date(2025, 3, 3),
        date_fin=date(2025, 3, 28),
        **{**FORMATION_ACCORDS, missing: None},
    )
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert message in messages_of(excinfo)


def test_a_vae_after_the_arret_is_refused(case, ass, arret):
    arret.date_fin_reelle = date(2025, 3, 10)
    arret.save()
    dispositif = create(
        case,
        ass,
        "vae",
        date_debut=date(2025, 3, 3),
        date_fin=date(2025, 3, 28),
        **FORMATION_ACCORDS,
    )
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "dépasse la fin de l'arrêt" in messages_of(excinfo)


def medical_referral(assure, **decisions):
    return SignalementFactory(
        assure=assure, service=Service.MEDICAL, unit=None, statut="transmis", **decisions
    )


def test_a_tpt_needs_the_decision_the_medecin_conseil_recorded(case, ass, assure):
    dispositif = create(case, ass, "tpt", date_debut=date(2025, 6, 2))
    [problem] = rules.dispositif_problems(dispositif)
    assert problem.code == "tpt_decision_manquante"
    assert problem.blocks(S.ACCORDE) and not problem.blocks(S.DEMANDE)
    rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.DEMANDE)
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.ACCORDE)
    assert "aucune décision n'est enregistrée par le service médical" in messages_of(excinfo)
    # A date typed by the ASS is not a decision of the médecin conseil.
    rules.dispositif_update(
        dispositif=dispositif, acting_user=ass, accord_medecin_conseil=date(2025, 5, 20)
    )
    with pytest.raises(ValidationError):
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.ACCORDE)
    medical_referral(assure, tpt_decision="accorde", tpt_decision_le=date(2025, 5, 20))
    assert start(dispositif, ass).statut == S.EN_COURS
    assert rules.dispositif_notes(dispositif) == [
        "Temps partiel thérapeutique accordé par le médecin conseil le 20/05/2025."
    ]


def test_a_tpt_refused_by_the_medecin_conseil_is_not_granted(case, ass, assure):
    medical_referral(assure, tpt_decision="accorde", tpt_decision_le=date(2025, 4, 1))
    # A later decision on another referral of the person wins.
    medical_referral(assure, tpt_decision="refuse", tpt_decision_le=date(2025, 5, 20))
    with pytest.raises(ValidationError) as excinfo:
        create(case, ass, "tpt", statut=S.ACCORDE, date_debut=date(2025, 6, 2))
    assert "Le médecin conseil a refusé le temps partiel thérapeutique le 20/05/2025" in (
        messages_of(excinfo)
    )
    assert not DispositifMobilise.objects.exists()


def test_a_tpt_does_not_start_before_the_decision(case, ass, assure):
    medical_referral(assure, tpt_decision="accorde", tpt_decision_le=date(2025, 6, 10))
    dispositif = create(case, ass, "tpt", statut=S.ACCORDE, date_debut=date(2025, 6, 2))
    with pytest.raises(ValidationError) as excinfo:
        start(dispositif, ass)
    assert "datée du 10/06/2025, après le début du temps partiel thérapeutique (02/06/2025)" in (
        messages_of(excinfo)
    )


def test_a_decision_recorded_for_someone_else_does_not_count(case, ass):
    medical_referral(AssureFactory(), tpt_decision="accorde", tpt_decision_le=date(2025, 5, 20))
    dispositif = create(case, ass, "tpt", date_debut=date(2025, 6, 2))
    assert [p.code for p in rules.dispositif_problems(dispositif)] == ["tpt_decision_manquante"]


def test_a_visite_de_pre_reprise_needs_an_arret_of_more_than_30_days(case, ass):
    # The arrêt starts on 06/01/2025: day 30 is 04/02, day 31 is 05/02.
    early = create(case, ass, "pre_reprise", date_debut=date(2025, 2, 4))
    with pytest.raises(ValidationError) as excinfo:
        start(early, ass)
    assert "arrêt de plus de 30 jours" in messages_of(excinfo)
    ok = create(case, ass, "pre_reprise", date_debut=date(2025, 2, 5))
    assert start(ok, ass).statut == S.EN_COURS


def test_a_visite_de_pre_reprise_reads_the_medecin_conseil_request(case, ass, assure):
    dispositif = create(case, ass, "pre_reprise", date_debut=date(2025, 2, 10))
    assert rules.dispositif_problems(dispositif) == []  # others may ask for it too
    assert rules.dispositif_notes(dispositif) == []
    medical_referral(assure, visite_pre_reprise_demandee_le=date(2025, 2, 12))
    [problem] = rules.dispositif_problems(dispositif)
    assert problem.code == "pre_reprise_avant_demande"
    assert problem.blocks_from is None
    assert "La visite du 10/02/2025 précède la demande du médecin conseil (12/02/2025)" in (
        problem.message
    )
    assert rules.dispositif_notes(dispositif) == [
        "Visite de pré-reprise demandée par le médecin conseil le 12/02/2025."
    ]
    dispositif = rules.dispositif_update(
        dispositif=dispositif, acting_user=ass, date_debut=date(2025, 2, 14)
    )
    assert rules.dispositif_problems(dispositif) == []
    assert start(dispositif, ass).statut == S.EN_COURS


def test_the_other_dispositifs_are_tracked_without_rules(case, ass):
    dispositif = create(case, ass, "rqth")
    dispositif = start(dispositif, ass)
    dispositif = rules.dispositif_change_status(
        dispositif=dispositif, acting_user=ass, to_status=S.TERMINE
    )
    rules.dispositif_update(dispositif=dispositif, acting_user=ass, resultat="RQTH obtenue")
    dispositif.refresh_from_db()
    assert (dispositif.statut, dispositif.resultat) == (S.TERMINE, "RQTH obtenue")
    with pytest.raises(ValidationError):
        rules.dispositif_renew(dispositif=dispositif, acting_user=ass)


# --- Workflow and events ----------------------------------------------------------------


def test_the_workflow_moves_one_step_at_a_time(case, ass):
    dispositif = create(case, ass, "rqth")
    with pytest.raises(ValidationError) as excinfo:
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.EN_COURS)
    assert "Passage impossible de « Envisagé » à « En cours »" in messages_of(excinfo)


@pytest.mark.parametrize("final", [S.REFUSE, S.ABANDONNE])
def test_refused_or_abandoned_from_any_open_status_then_final(case, ass, final):
    dispositif = essai(case, ass, accord_medecin_travail=None)  # could not start
    rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=final)
    dispositif.refresh_from_db()
    assert dispositif.statut == final
    with pytest.raises(ValidationError):
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.DEMANDE)
    with pytest.raises(ValidationError):
        add(dispositif, ass, date(2025, 3, 24), date(2025, 3, 25))


def test_every_change_writes_a_case_event(case, ass, evaluation):
    dispositif = essai(case, ass, date(2025, 3, 3), date(2025, 3, 8))
    add(dispositif, ass, date(2025, 3, 10), date(2025, 3, 11))
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass)
    start(dispositif, ass)
    rules.dispositif_update(dispositif=dispositif, acting_user=ass, resultat="Reprise prévue")
    events = list(CaseEvent.objects.filter(kind=CaseEvent.Kind.DISPOSITIF).order_by("at", "pk"))
    assert len(events) == 7
    assert all(e.actor == ass and e.changes["dispositif"] == dispositif.pk for e in events)
    assert events[0].summary.startswith("Dispositif mobilisé : Essai encadré (envisagé)")
    assert events[1].changes["periode"] == [None, ["2025-03-10", "2025-03-11"]]
    assert events[2].changes["renouvellements"] == [0, 1]
    assert events[5].changes["statut"] == ["accorde", "en_cours"]
    assert events[6].changes["resultat"] == ["", "Reprise prévue"]


def test_an_unchanged_update_writes_no_event(case, ass):
    dispositif = create(case, ass, "rqth", resultat="x")
    rules.dispositif_update(dispositif=dispositif, acting_user=ass, resultat="x")
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.DISPOSITIF).count() == 1


def test_nothing_changes_in_a_closed_case(case, ass):
    dispositif = create(case, ass, "rqth")
    case.statut = CaseStatus.CLOTURE
    case.date_cloture = date(2025, 6, 1)
    case.save()
    dispositif.accompagnement = case
    with pytest.raises(ValidationError) as excinfo:
        create(case, ass, "rqth")
    assert "L'accompagnement est clôturé" in messages_of(excinfo)
    with pytest.raises(ValidationError):
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.DEMANDE)


def test_the_check_lists_what_blocks_each_step(case, ass):
    dispositif = DispositifMobilise(accompagnement=case, type=dtype("essai_encadre"))
    periodes = [DispositifPeriode(date_debut=date(2025, 3, 3), date_fin=date(2025, 3, 19))]
    problems = {p.code: p for p in rules.dispositif_problems(dispositif, periodes=periodes)}
    assert problems["essai_14_jours"].blocks(S.ENVISAGE)
    assert not problems["evaluation_manquante"].blocks(S.ACCORDE)
    assert problems["evaluation_manquante"].blocks(S.EN_COURS)
    assert not problems["evaluation_manquante"].blocks(S.ABANDONNE)
    assert {"accord_medecin_traitant_manquant", "entreprise_manquante"} <= set(problems)


# --- Not « en cours » before the start ---------------------------------------------------

START_MESSAGE = (
    "Un dispositif ne peut être « en cours » avant sa date de début ; choisissez « accordé »."
)


def on(day):
    """Freeze the clock on ``day`` at 10:00, Paris time."""
    moment = datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo("Europe/Paris"))
    return time_machine.travel(moment, tick=False)


def test_an_essai_encadre_starting_later_cannot_be_created_en_cours(case, ass, evaluation):
    with on(date(2025, 2, 28)):  # the first period starts on Monday 03/03
        with pytest.raises(ValidationError) as excinfo:
            essai(case, ass, statut=S.EN_COURS)
        assert excinfo.value.messages == [START_MESSAGE]
        assert not DispositifMobilise.objects.exists()
        assert essai(case, ass, statut=S.ACCORDE).statut == S.ACCORDE


def test_an_accorde_essai_moves_to_en_cours_on_its_start_date_not_before(case, ass, evaluation):
    with on(date(2025, 3, 2)):
        dispositif = essai(case, ass, statut=S.ACCORDE)
        with pytest.raises(ValidationError) as excinfo:
            rules.dispositif_change_status(
                dispositif=dispositif, acting_user=ass, to_status=S.EN_COURS
            )
        assert excinfo.value.messages == [START_MESSAGE]
        dispositif.refresh_from_db()
        assert dispositif.statut == S.ACCORDE
    with on(date(2025, 3, 3)):
        dispositif = rules.dispositif_change_status(
            dispositif=dispositif, acting_user=ass, to_status=S.EN_COURS
        )
        assert dispositif.statut == S.EN_COURS


def test_any_dispositif_starting_later_cannot_be_en_cours(case, ass):
    with on(date(2025, 2, 28)):
        with pytest.raises(ValidationError) as excinfo:
            pmsmp(case, ass, statut=S.EN_COURS)  # starts 01/03
        assert START_MESSAGE in excinfo.value.messages
        with pytest.raises(ValidationError) as excinfo:
            create(case, ass, "rqth", statut=S.EN_COURS, date_debut=date(2025, 3, 1))
        assert excinfo.value.messages == [START_MESSAGE]
        assert not DispositifMobilise.objects.exists()
        # Starting today, or with no start date to compare with, is fine.
        today = create(case, ass, "rqth", statut=S.EN_COURS, date_debut=date(2025, 2, 28))
        assert today.statut == S.EN_COURS
        assert create(case, ass, "cap_emploi", statut=S.EN_COURS).statut == S.EN_COURS


def test_the_start_of_a_dispositif_en_cours_cannot_be_moved_to_the_future(case, ass):
    with on(date(2025, 3, 5)):
        dispositif = start(pmsmp(case, ass), ass)  # started on 01/03
        with pytest.raises(ValidationError) as excinfo:
            rules.dispositif_update(
                dispositif=dispositif, acting_user=ass, date_debut=date(2025, 3, 10)
            )
        assert excinfo.value.messages == [START_MESSAGE]
        dispositif.refresh_from_db()
        assert dispositif.date_debut == date(2025, 3, 1)


def test_a_later_start_only_blocks_the_start_itself(case, ass):
    with on(date(2025, 2, 28)):
        dispositif = pmsmp(case, ass, statut=S.ACCORDE)
        [problem] = [p for p in rules.dispositif_problems(dispositif) if p.code == "debut_futur"]
    assert problem.message == START_MESSAGE
    assert problem.blocks(S.EN_COURS)
    assert not problem.blocks(S.ACCORDE)
    assert not problem.blocks(S.ABANDONNE)


def test_the_migration_recovers_the_first_period_end_of_a_renewed_pmsmp(case, ass):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "cases.migrations.0010_dispositif_crpe_inaptitude_pmsmp_periods"
    )
    dispositif = pmsmp(case, ass)
    rules.dispositif_renew(dispositif=dispositif, acting_user=ass, date_fin=date(2025, 4, 30))
    untouched = pmsmp(case, ass)
    # As renewed before the field existed: only the renewal's event knows the first end.
    DispositifMobilise.objects.filter(pk=dispositif.pk).update(date_fin_initiale=None)
    migration.fill_first_period_end(apps, None)
    dispositif.refresh_from_db()
    untouched.refresh_from_db()
    assert dispositif.date_fin_initiale == date(2025, 3, 31)
    assert untouched.date_fin_initiale is None
