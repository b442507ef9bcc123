"""The indicators of collective actions and surveys (issue 13, item 1;
`indicators.catalogue_collective`), each on a hand-made dataset in unit A, March 2026, with the
expected values counted by hand in the fixture's docstring: what counts, the previous period
(February), and records of another unit, of another month or of another kind not counted."""

import datetime
import re
import zoneinfo

import pytest

from collective.models import (
    ActionEvent,
    ActionStatus,
    ActionType,
    Participant,
    ParticipantStatus,
    Presence,
)
from indicators import catalogue, periods, snapshots
from indicators.catalogue_collective import AT_WORK, INDICATORS
from indicators.scope import Scope
from outreach import surveys
from outreach.models import SurveyAnswer, SurveyKind
from tests import reference_data
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)
from tests.indicators.test_indicators import _goes_through_a_user

D = datetime.date
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MARCH = periods.month(2026, 3)
BY_CODE = {indicator.code: indicator for indicator in INDICATORS}

ISIC = "ISIC (intervention sociale d'intérêt collectif)"
INFO = "Réunion d'information collective"
WEBINAR = "Webinaire"


def at(year, month, day, hour=14, minute=0):
    return datetime.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def row(table, label):
    return next(r for r in table.rows if r[0] == label)


@pytest.fixture(autouse=True)
def reference_rows(db):
    """Action types, participant statuses and questionnaires (emptied by a transactional
    test's truncation)."""
    reference_data.reload()


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def units(region):
    return UnitFactory(region=region, name="Unité A"), UnitFactory(region=region, name="Unité B")


def scope_of(unit):
    return Scope("unit", unit.name, unit_id=unit.pk, region_id=unit.region_id)


def action(code, unit, *, region=None, statut=ActionStatus.EN_COURS):
    animateur = UserFactory(ass=True, unit=unit or UnitFactory(region=region))
    return ActionCollectiveFactory(
        type=ActionType.objects.get(code=code),
        animateur=animateur,
        unit=unit,
        region=region or unit.region,
        statut=statut,
        capacite=None,
    )


def participant(action, status="inscrit", *, case=None):
    return Participant.objects.create(
        action=action,
        assure=case.assure if case else AssureFactory(),
        accompagnement=case,
        statut=ParticipantStatus.objects.get(code=status),
        source="code",
    )


def presences(seance, *statuses):
    """One new participant of the séance's action per status (or the given participants)."""
    rows = []
    for status in statuses:
        person, status = status if isinstance(status, tuple) else (None, status)
        person = person or participant(seance.action)
        rows.append(Presence.objects.create(seance=seance, participant=person, statut=status))
    return rows


# --- People supported collectively ----------------------------------------------------------


@pytest.fixture
def sessions(units, region):
    """Unit A, March: an ISIC of three sessions (03/03, 17/03, 31/03), three participants — p1
    present at the three (p1 comes from a case of mission PDP), p2 present at the first and the
    third and absent at the second, p3 excused at the first: 5 presences; an information meeting
    on 1 March at 00:30 Paris (28 February in UTC): 1 present. Previous month (February): another
    ISIC of unit A, 20/02, 2 present. Not counted in unit A: a regional webinar (no unit) on
    10/03, 4 present and 1 absent; an ISIC of unit B on 10/03, 2 present; a fourth session of
    the ISIC on 1 April at 00:30 Paris (31 March in UTC), p1 present.

    Unit A, March: ISIC 5, information meeting 1, webinar 0 — total 6; February 2.
    Region, March: ISIC 5 + 2 = 7, information meeting 1, webinar 4 — total 12; February 2.
    Filtered on mission PDP (participations linked to a case): ISIC 3 (p1's)."""
    a, b = units
    isic = action("isic", a)
    first, second, third = (
        SeanceFactory(action=isic, debut=moment)
        for moment in (at(2026, 3, 3), at(2026, 3, 17), at(2026, 3, 31))
    )
    case = AccompagnementFactory(referent=isic.animateur, mission="pdp")
    p1, p2, p3 = participant(isic, case=case), participant(isic), participant(isic)
    presences(first, (p1, "present"), (p2, "present"), (p3, "excuse"))
    presences(second, (p1, "present"), (p2, "absent"))
    presences(third, (p1, "present"), (p2, "present"))
    info = SeanceFactory(action=action("info_collective", a), debut=at(2026, 3, 1, 0, 30))
    presences(info, "present")
    february = SeanceFactory(action=action("isic", a), debut=at(2026, 2, 20))
    presences(february, "present", "present")
    webinar = SeanceFactory(action=action("webinaire", None, region=region), debut=at(2026, 3, 10))
    presences(webinar, "present", "present", "present", "present", "absent")
    presences(SeanceFactory(action=action("isic", b), debut=at(2026, 3, 10)), "present", "present")
    presences(SeanceFactory(action=isic, debut=at(2026, 4, 1, 0, 30)), (p1, "present"))
    return a


def test_participations_by_action_type(sessions):
    t = catalogue.table(BY_CODE["participations_collectives"], scope_of(sessions), MARCH)
    assert row(t, ISIC)[2:] == [5, 2]
    assert row(t, INFO)[2:] == [1, 0]
    assert row(t, WEBINAR)[2:] == [0, 0]
    assert t.total[1:] == [6, 2]


def test_regional_actions_count_in_the_region(sessions, region):
    scope = Scope("region", region.name, region_id=region.pk)
    t = catalogue.table(BY_CODE["participations_collectives"], scope, MARCH)
    assert [r[2] for r in (row(t, ISIC), row(t, INFO), row(t, WEBINAR))] == [7, 1, 4]
    assert t.total[1:] == [12, 2]


def test_participations_filtered_by_mission_or_cpam(sessions):
    indicator = BY_CODE["participations_collectives"]
    t = catalogue.table(indicator, scope_of(sessions), MARCH, filters={"mission": "pdp"})
    assert row(t, ISIC)[2] == 3 and t.total[1:] == [3, 0]
    elsewhere = CpamFactory(code="141", name="CPAM du Calvados")
    t = catalogue.table(indicator, scope_of(sessions), MARCH, filters={"cpam": elsewhere.pk})
    assert t.total[1:] == [0, 0]


# --- Webinars -----------------------------------------------------------------------------------


def meeting_request(action, participant_id):
    """As `outreach.webinars.webinar_request_meeting` records it."""
    ActionEvent.objects.create(
        action=action,
        kind="demande_rdv",
        summary="Demande de rendez-vous individuel après la séance",
        changes={"participant": participant_id},
    )


@pytest.fixture
def webinars(units):
    """Unit A: a webinar whose first session is on 12/03 (its second on 02/04), five
    registrations — p1 present at a session and asking for a meeting, p2 « a participé »
    (status, no presence row), p3 registered, absent and asking for a meeting, p4 on the
    waiting list, p5 cancelled: 5 registered, 2 present, 2 requests. An event naming nobody
    and one naming a participant of another action do not count. February: an information
    meeting of unit A (25/02), 3 registered, 1 present. Not counted: a cancelled information
    meeting of unit A on 20/03 (2 registered), an ISIC of unit A in March (not by code), a
    webinar of unit B on 12/03 (2 registered), a webinar of unit A on 05/04 (1).

    Unit A, March: webinar [5, 2, 2], total 5, February 0; information meeting [0, 0, 0],
    February 3; total [5, 2, 2], 5, February 3."""
    a, b = units
    webinar = action("webinaire", a, statut=ActionStatus.TERMINEE)
    first = SeanceFactory(action=webinar, debut=at(2026, 3, 12))
    SeanceFactory(action=webinar, debut=at(2026, 4, 2))
    p1, p3 = participant(webinar), participant(webinar)
    participant(webinar, "present")  # p2
    participant(webinar, "liste_attente")
    participant(webinar, "annule")
    presences(first, (p1, "present"), (p3, "absent"))
    meeting_request(webinar, p1.pk)
    meeting_request(webinar, p3.pk)
    meeting_request(webinar, None)
    info = action("info_collective", a, statut=ActionStatus.TERMINEE)
    seance = SeanceFactory(action=info, debut=at(2026, 2, 25))
    presences(seance, "present", "absent", "excuse")
    cancelled = action("info_collective", a, statut=ActionStatus.ANNULEE)
    SeanceFactory(action=cancelled, debut=at(2026, 3, 20))
    participant(cancelled)
    participant(cancelled)
    isic = action("isic", a)
    presences(SeanceFactory(action=isic, debut=at(2026, 3, 5)), "present")
    other = action("webinaire", b)
    SeanceFactory(action=other, debut=at(2026, 3, 12))
    meeting_request(webinar, participant(other).pk)
    participant(other)
    later = action("webinaire", a, statut=ActionStatus.PUBLIEE)
    SeanceFactory(action=later, debut=at(2026, 4, 5))
    participant(later)
    return a


def test_webinar_registered_present_and_asking_for_a_meeting(webinars):
    t = catalogue.table(BY_CODE["webinaires_parcours"], scope_of(webinars), MARCH)
    assert t.column_labels == [
        "Inscrit·es",
        "Présent·es",
        "Demande de rendez-vous individuel",
    ]
    assert [r[0] for r in t.rows] == [INFO, WEBINAR]  # the types open to registration by code
    assert row(t, WEBINAR)[1:] == [[5, 2, 2], 5, 0]
    assert row(t, INFO)[1:] == [[0, 0, 0], 0, 3]
    assert t.total == [[5, 2, 2], 5, 3]


# --- Barometer ----------------------------------------------------------------------------------


def answers(kind, unit, month, *sets, categorie=""):
    questionnaire = surveys.active_questionnaire(kind)
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(
            questionnaire=questionnaire,
            region=unit.region,
            unit=unit,
            month=month,
            categorie=categorie,
            answers=values,
        )
        for values in sets
    )


@pytest.fixture
def barometer(units):
    """Unit A, questionnaires sent in March: 11 answers — satisfaction « très satisfait·e » 4,
    « plutôt satisfait·e » 3, « plutôt pas » 2, « pas du tout » 1, none 1 (a set without the
    question); would call again: oui 8, non 2, none 1; delay: « plutôt satisfait·e » 10, none
    1. February: 3 answers (all « très satisfait·e », oui, « très satisfait·e »). Not counted:
    2 answers of unit B in March, 1 of unit A sent in April, 2 end-of-action answers of unit A
    in March.

    Satisfaction, unit A, March: [4, 3, 2, 1, 1], total 11, February 3 (all « très »)."""
    a, b = units
    march, february = D(2026, 3, 1), D(2026, 2, 1)
    sets = []
    for satisfaction, n in [
        ("tres_satisfait", 4),
        ("plutot_satisfait", 3),
        ("plutot_pas_satisfait", 2),
        ("pas_du_tout_satisfait", 1),
    ]:
        sets += [{"satisfaction": satisfaction} for _ in range(n)]
    for i, values in enumerate(sets):
        values["nouvel_appel"] = "non" if i in (5, 8) else "oui"
        values["delai"] = "plutot_satisfait"
    sets.append({"commentaire": "Merci."})
    answers(SurveyKind.BAROMETRE, a, march, *sets)
    good = {"satisfaction": "tres_satisfait", "nouvel_appel": "oui", "delai": "tres_satisfait"}
    answers(SurveyKind.BAROMETRE, a, february, good, good, good)
    answers(SurveyKind.BAROMETRE, b, march, good, good)
    answers(SurveyKind.BAROMETRE, a, D(2026, 4, 1), good)
    answers(SurveyKind.FIN_ACTION, a, march, {"satisfaction": "tres_satisfait"}, good)
    return a


def test_barometer_overall_satisfaction(barometer):
    t = catalogue.table(BY_CODE["barometre_satisfaction"], scope_of(barometer), MARCH)
    assert t.row_header == "Réponse"
    assert [r[0] for r in t.rows] == [
        "Très satisfait·e",
        "Plutôt satisfait·e",
        "Plutôt pas satisfait·e",
        "Pas du tout satisfait·e",
        "Sans réponse",
    ]
    assert [r[2] for r in t.rows] == [4, 3, 2, 1, 1]
    assert [r[3] for r in t.rows] == [3, 0, 0, 0, 0]
    assert t.total[1:] == [11, 3]


def test_barometer_would_call_again_and_the_delay(barometer):
    again = catalogue.table(BY_CODE["barometre_nouvel_appel"], scope_of(barometer), MARCH)
    assert [(r[0], r[2], r[3]) for r in again.rows] == [
        ("Oui", 8, 3),
        ("Non", 2, 0),
        ("Sans réponse", 1, 0),
    ]
    delay = catalogue.table(BY_CODE["barometre_delai"], scope_of(barometer), MARCH)
    assert row(delay, "Plutôt satisfait·e")[2:] == [10, 0]
    assert row(delay, "Très satisfait·e")[2:] == [0, 3]
    assert row(delay, "Sans réponse")[2] == 1
    assert delay.total[1:] == [11, 3]


# --- Situation 6 and 12 months after a closure --------------------------------------------------


@pytest.fixture
def follow_ups(units):
    """Unit A, follow-up at 6 months sent in March: outcome « maintien » — même poste 3,
    autre employeur 1, recherche d'emploi 1; « emploi » — autre employeur 1, autre 1, a set
    without the question 1; « inaptitude » — recherche d'emploi 2, formation 1, invalidité 1.
    February: « maintien », même poste 2. At 12 months, March: « maintien », même poste 2;
    February: « emploi », formation 1. Not counted: 3 answers at 6 months of unit B in March,
    1 of unit A sent in April.

    6 months, unit A, March (au travail, formation, recherche, invalidité, autre):
    maintien [4, 0, 1, 0, 0] 5 (February 2); emploi [1, 0, 0, 0, 2] 3; inaptitude
    [0, 1, 2, 1, 0] 4; total [5, 1, 3, 1, 2] 12, February 2.
    12 months: maintien [2, 0, 0, 0, 0] 2; emploi 0 (February 1); total 2, February 1."""
    a, b = units
    march, february = D(2026, 3, 1), D(2026, 2, 1)
    six, twelve = SurveyKind.SUIVI_6M, SurveyKind.SUIVI_12M

    def situations(*values):
        return [{"situation": v} if v else {"commentaire": "Rien à ajouter."} for v in values]

    for categorie, values in [
        ("maintien", ["meme_poste"] * 3 + ["autre_employeur", "recherche_emploi"]),
        ("emploi", ["autre_employeur", "autre", None]),
        ("inaptitude", ["recherche_emploi"] * 2 + ["formation", "invalidite"]),
    ]:
        answers(six, a, march, *situations(*values), categorie=categorie)
    answers(six, a, february, *situations("meme_poste", "meme_poste"), categorie="maintien")
    answers(twelve, a, march, *situations("meme_poste", "meme_poste"), categorie="maintien")
    answers(twelve, a, february, *situations("formation"), categorie="emploi")
    answers(six, b, march, *situations("meme_poste", "formation", "autre"), categorie="maintien")
    answers(six, a, D(2026, 4, 1), *situations("meme_poste"), categorie="maintien")
    return a


MAINTIEN = "Maintien dans l'emploi (même employeur)"
EMPLOI = "Maintien en emploi (autre employeur, reconversion, formation)"
INAPTITUDE = "Inaptitude ou licenciement"


def test_situation_six_months_after_by_outcome(follow_ups):
    t = catalogue.table(BY_CODE["suivi_6m_situation"], scope_of(follow_ups), MARCH)
    assert t.row_header == "Issue de la clôture"
    assert t.column_labels == [
        "Au travail",
        "En formation",
        "En recherche d'emploi",
        "En invalidité",
        "Autre situation ou sans réponse",
    ]
    assert row(t, MAINTIEN)[1:] == [[4, 0, 1, 0, 0], 5, 2]
    assert row(t, EMPLOI)[1:] == [[1, 0, 0, 0, 2], 3, 0]
    assert row(t, INAPTITUDE)[1:] == [[0, 1, 2, 1, 0], 4, 0]
    assert row(t, "Retraite")[1:] == [[0, 0, 0, 0, 0], 0, 0]
    assert t.total == [[5, 1, 3, 1, 2], 12, 2]


def test_situation_twelve_months_after_by_outcome(follow_ups):
    t = catalogue.table(BY_CODE["suivi_12m_situation"], scope_of(follow_ups), MARCH)
    assert row(t, MAINTIEN)[1:] == [[2, 0, 0, 0, 0], 2, 0]
    assert row(t, EMPLOI)[1:] == [[0, 0, 0, 0, 0], 0, 1]
    assert t.total == [[2, 0, 0, 0, 0], 2, 1]


def test_at_work_is_what_the_follow_up_questionnaires_count_as_favourable():
    for kind in (SurveyKind.SUIVI_6M, SurveyKind.SUIVI_12M):
        question = surveys.active_questionnaire(kind).question("situation")
        assert set(question["positive"]) == set(AT_WORK)


# --- The definitions ----------------------------------------------------------------------------


def test_the_definitions_are_complete_and_group_by_no_member_of_staff():
    assert len(BY_CODE) == len(INDICATORS) == 7
    for indicator in INDICATORS:
        assert indicator.version == 1 and indicator.label and indicator.definition
        assert indicator.date_path and indicator.unit_path and indicator.region_path
        for path in indicator.grouping_paths:
            assert not _goes_through_a_user(indicator.model, path), (indicator.code, path)
        assert set(indicator.filter_paths) <= {"mission", "cpam", "type_arret"}


def test_the_survey_indicators_take_no_filter():
    """The answers are unlinkable: nothing leads to a case, a person or an arrêt."""
    for code in [
        "barometre_satisfaction",
        "barometre_nouvel_appel",
        "barometre_delai",
        "suivi_6m_situation",
        "suivi_12m_situation",
    ]:
        assert BY_CODE[code].filter_paths == {}


def test_the_texts_keep_french_spacing():
    for indicator in INDICATORS:
        for text in (indicator.label, indicator.definition):
            assert not re.search(r" [;:?!»]|« ", text), (indicator.code, text)


# --- The snapshots give the live figures ------------------------------------------------------


def test_the_snapshots_give_the_same_tables(sessions, webinars, barometer, follow_ups, region):
    """Every indicator of the module, for unit A, the region and a filter: the table read from
    the nightly snapshots (March and February computed on 15 April) is the live one."""
    a = sessions
    cases = [
        (scope_of(a), {}),
        (Scope("region", region.name, region_id=region.pk), {}),
        (scope_of(a), {"mission": "pdp"}),
    ]

    def figures(indicator, scope, filters):
        t = catalogue.table(indicator, scope, MARCH, filters=filters)
        return t and (t.rows, t.total, t.breakdown)

    live = {
        (indicator.code, n): figures(indicator, scope, filters)
        for indicator in INDICATORS
        for n, (scope, filters) in enumerate(cases)
    }
    # The sessions' 6 and 2, plus the webinars' dataset: p1 at the webinar of 12/03 and one
    # present at the ISIC of 05/03; in February, one at the information meeting of 25/02.
    assert live[("participations_collectives", 0)][1] == [[8], 8, 3]
    assert snapshots.compute_region(region.pk, catalogue=INDICATORS, today=D(2026, 4, 15)) > 0
    assert snapshots.covered(scope_of(a), [D(2026, 2, 1), D(2026, 3, 1)])
    for indicator in INDICATORS:
        for n, (scope, filters) in enumerate(cases):
            assert figures(indicator, scope, filters) == live[(indicator.code, n)], (
                indicator.code,
                n,
            )
    Presence.objects.all().delete()  # the figures now come from the snapshots alone
    assert figures(BY_CODE["participations_collectives"], scope_of(a), {})[1] == [[8], 8, 3]
