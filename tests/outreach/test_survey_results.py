"""The survey results page: who sees what (404/403), the three barometer rates, the
follow-up per outcome category, the small-cell rule, bad filters, a constant number of
queries."""

import datetime
import html
import zoneinfo

import pytest
import time_machine

from outreach import surveys
from outreach.models import SurveyAnswer, SurveyKind
from tests.factories import RegionFactory, UnitFactory, UserFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2027, 3, 15, 11, 0, tzinfo=PARIS)
URL = "/enquetes/resultats/"
HIDDEN = "moins de 10 réponses\u00a0: non affiché"
PASSWORD = "motdepasse-test"


@pytest.fixture(autouse=True)
def questionnaires(db):
    from tests.outreach.test_surveys import seed_questionnaires

    seed_questionnaires()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rouen(db):
    return UnitFactory(name="Unité de Rouen")


@pytest.fixture
def caen(rouen):
    return UnitFactory(name="Unité de Caen", region=rouen.region)


def barometer(unit, count, *, satisfied=None, month=datetime.date(2027, 2, 1)):
    questionnaire = surveys.active_questionnaire(SurveyKind.BAROMETRE)
    satisfied = count if satisfied is None else satisfied
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(
            questionnaire=questionnaire,
            region=unit.region,
            unit=unit,
            month=month,
            answers={
                "satisfaction": "tres_satisfait" if i < satisfied else "pas_du_tout_satisfait",
                "nouvel_appel": "oui" if i % 10 else "non",
                "delai": "plutot_satisfait",
            },
        )
        for i in range(count)
    )


def follow_up(unit, kind, categorie, count, at_work):
    questionnaire = surveys.active_questionnaire(kind)
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(
            questionnaire=questionnaire,
            region=unit.region,
            unit=unit,
            month=datetime.date(2027, 1, 1),
            categorie=categorie,
            answers={"situation": "meme_poste" if i < at_work else "recherche_emploi"},
        )
        for i in range(count)
    )


def text(response):
    return html.unescape(response.content.decode())


def test_the_manager_sees_the_three_rates_of_the_unit(client, rouen):
    barometer(rouen, 40, satisfied=37)
    client.force_login(UserFactory(manager=True, unit=rouen))
    response = client.get(URL)
    assert response.status_code == 200
    page = text(response)
    assert "Satisfaction globale" in page and "Feraient de nouveau appel" in page
    assert "92,5\u00a0%" in page and "(37 sur 40)" in page  # overall satisfied
    assert "90,0\u00a0%" in page  # would call again: 36 of 40
    assert "100,0\u00a0%" in page  # delay
    assert HIDDEN not in page


def test_fewer_than_ten_answers_show_no_figure(client, rouen):
    barometer(rouen, 9, satisfied=8)
    client.force_login(UserFactory(manager=True, unit=rouen))
    page = text(client.get(URL))
    assert HIDDEN in page
    assert "88,9" not in page and "(8 sur 9)" not in page
    barometer(rouen, 1, month=datetime.date(2027, 3, 1))
    page = text(client.get(URL))
    assert HIDDEN not in page and "(9 sur 10)" in page


def test_the_period_filters_by_month(client, rouen):
    barometer(rouen, 12, month=datetime.date(2026, 1, 1))
    client.force_login(UserFactory(manager=True, unit=rouen))
    assert HIDDEN in text(client.get(URL))  # the last twelve months by default
    page = text(client.get(URL, {"du": "2026-01", "au": "2026-01", "questionnaire": "barometre"}))
    assert "(12 sur 12)" in page


def test_the_regional_manager_sees_each_unit_and_the_region(client, rouen, caen):
    barometer(rouen, 12)
    barometer(caen, 10)
    client.force_login(UserFactory(regional=True, region=rouen.region, unit=None))
    page = text(client.get(URL))
    assert "Unité de Rouen" in page and "Unité de Caen" in page and "Région" in page
    assert "(12 sur 12)" in page and "(22 sur 22)" in page  # Rouen, then the region
    assert HIDDEN not in page


def test_a_total_that_would_give_a_hidden_unit_away_is_hidden(client, rouen, caen):
    barometer(rouen, 12)
    barometer(caen, 4)
    client.force_login(UserFactory(regional=True, region=rouen.region, unit=None))
    page = text(client.get(URL))
    assert "(12 sur 12)" in page and "(16 sur 16)" not in page  # 16 − 12 would give Caen
    assert page.count(HIDDEN) == 2
    unit_page = client.get(f"{URL}unite/{caen.pk}/")
    assert unit_page.status_code == 200 and HIDDEN in text(unit_page)


def test_the_follow_up_counts_the_people_at_work_per_outcome_category(client, rouen):
    follow_up(rouen, SurveyKind.SUIVI_6M, "maintien", 12, 9)
    follow_up(rouen, SurveyKind.SUIVI_6M, "invalidite", 5, 0)
    follow_up(rouen, SurveyKind.SUIVI_12M, "maintien", 10, 10)
    client.force_login(UserFactory(manager=True, unit=rouen))
    page = text(client.get(URL, {"du": "2026-06", "au": "2027-03", "questionnaire": "suivi"}))
    assert "6 mois après la clôture" in page and "12 mois après la clôture" in page
    assert "(9 sur 12)" in page and "(10 sur 10)" in page
    assert "Invalidité" in page and HIDDEN in page
    assert "(0 sur 5)" not in page


def test_the_response_rate_counts_the_invitations_sent_in_the_period(client, rouen):
    from cases.models import Outcome
    from outreach.models import SurveyInvitation
    from tests.outreach.test_surveys import closed

    for _ in range(20):
        cloture = closed(rouen, outcome=Outcome.AUTRE, day=datetime.date(2027, 2, 1))
        SurveyInvitation.objects.create(
            kind=SurveyKind.BAROMETRE,
            assure=cloture.accompagnement.assure,
            cloture=cloture,
            region=rouen.region,
            unit=rouen,
            sent_at=datetime.datetime(2027, 2, 8, 10, 15, tzinfo=PARIS),
        )
    barometer(rouen, 10)
    client.force_login(UserFactory(manager=True, unit=rouen))
    assert "50\u00a0% " in text(client.get(URL))


@pytest.mark.parametrize(
    "data",
    [
        {"du": "2027-13", "au": "2027-03", "questionnaire": "barometre"},
        {"du": "mars", "au": "2027-03", "questionnaire": "barometre"},
        {"du": "2027-03", "au": "2026-03", "questionnaire": "barometre"},
        {"du": "2020-01", "au": "2027-03", "questionnaire": "barometre"},
        {"du": "2026-03", "au": "2027-03", "questionnaire": "inconnu"},
    ],
)
def test_a_bad_filter_is_said_in_french(client, rouen, data):
    barometer(rouen, 12)
    client.force_login(UserFactory(manager=True, unit=rouen))
    response = client.get(URL, data)
    assert response.status_code == 400
    page = text(response)
    assert any(
        message in page
        for message in (
            "Ce mois n'existe pas.",
            "Indiquez un mois sous la forme AAAA-MM",
            "Le mois de début doit précéder le mois de fin.",
            "Choisissez une période de 36 mois au plus.",
            "Sélectionnez un choix valide.",
        )
    )
    assert "(12 sur 12)" not in page


@pytest.mark.parametrize("role", ["ass", "conseiller", "medecin", "coordinateur", "admin"])
def test_other_roles_are_refused(client, rouen, role):
    user = UserFactory(**{role: True}, unit=rouen if role in ("ass", "conseiller") else None)
    if user.region_id is None and role != "admin":
        user.region = rouen.region
        user.save()
    client.force_login(user)
    assert client.get(URL).status_code == 403
    # The administrator sees no unit's records at all: 404.
    assert client.get(f"{URL}unite/{rouen.pk}/").status_code == (404 if role == "admin" else 403)


def test_a_manager_sees_only_their_unit_and_nothing_of_another_region(client, rouen, caen):
    elsewhere = UnitFactory(region=RegionFactory(code="AUTRE", name="Autre région"))
    client.force_login(UserFactory(manager=True, unit=rouen))
    assert client.get(f"{URL}unite/{rouen.pk}/").status_code == 200
    assert client.get(f"{URL}unite/{caen.pk}/").status_code == 403
    assert client.get(f"{URL}unite/{elsewhere.pk}/").status_code == 404
    assert client.get(f"{URL}unite/{10**30}/").status_code == 404
    regional = UserFactory(regional=True, region=rouen.region, unit=None)
    client.force_login(regional)
    assert client.get(f"{URL}unite/{elsewhere.pk}/").status_code == 404


def test_the_anonymous_visitor_goes_to_the_login(client, rouen):
    assert client.get(URL).status_code == 302


@pytest.mark.parametrize("kind", ["barometre", "fin_action", "suivi"])
def test_a_constant_number_of_queries(client, rouen, caen, django_assert_max_num_queries, kind):
    for unit in (rouen, caen, UnitFactory(region=rouen.region)):
        barometer(unit, 11)
        follow_up(unit, SurveyKind.SUIVI_6M, "maintien", 11, 5)
    client.force_login(UserFactory(regional=True, region=rouen.region, unit=None))
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"du": "2026-06", "au": "2027-03", "questionnaire": kind})
    assert response.status_code == 200
