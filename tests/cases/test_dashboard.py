import datetime
import zoneinfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import DispositifMobilise, DispositifType, Entretien, Objectif
from cases.views_activity import SECTION_SIZE
from referrals.models import ContactAttempt, Statut
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    EntretienFactory,
    SignalementFactory,
    UserFactory,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 3, 11, 9, 0, tzinfo=PARIS)  # a Wednesday
TODAY = NOW.date()
URL = reverse("cases:dashboard")


def at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


def days(n):
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def dispositif_type():
    return DispositifType.objects.get_or_create(
        code="pmsmp", defaults={"label": "PMSMP", "phase": "pendant"}
    )[0]


def objectif(case, echeance, statut="en_cours", libelle="Objectif"):
    return Objectif.objects.create(
        accompagnement=case, domaine="emploi", libelle=libelle, echeance=echeance, statut=statut
    )


def dispositif(case, date_fin, statut="en_cours"):
    return DispositifMobilise.objects.create(
        accompagnement=case,
        type=dispositif_type(),
        statut=statut,
        date_debut=days(-30),
        date_fin=date_fin,
    )


def caseload(worker, n):
    """n open cases of `worker`, each with meetings, objectives, a dispositif and a referral.
    Planned meetings take the next free hours (one ASS's planned meetings never overlap)."""
    first = Entretien.objects.filter(ass=worker, statut="planifie").count()
    for i in range(n):
        case = AccompagnementFactory(referent=worker)
        EntretienFactory(accompagnement=case, debut=at(days(-7), 10), statut="realise")
        slot = first + i
        EntretienFactory(accompagnement=case, debut=at(days(3 + slot // 9), 8 + slot % 9))
        objectif(case, days(1))
        dispositif(case, days(5))
        SignalementFactory(unit=worker.unit, assigned_to=worker, date_echeance=days(i - 2))
    EntretienFactory(accompagnement=case, debut=at(TODAY, 15 + first % 3))


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response.url


@pytest.mark.parametrize("persona", ["regional", "medecin", "admin_user"])
def test_it_is_refused_to_people_outside_a_unit(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 403


def test_an_ass_sees_their_referrals_overdue_first_and_not_a_colleagues(client, ass, colleague):
    later = SignalementFactory(unit=ass.unit, assigned_to=ass, date_echeance=days(10))
    overdue = SignalementFactory(unit=ass.unit, assigned_to=ass, date_echeance=days(-3))
    SignalementFactory(unit=ass.unit, assigned_to=colleague, date_echeance=days(-5))
    SignalementFactory(unit=ass.unit, assigned_to=ass, date_echeance=days(-9), statut=Statut.REFUS)
    client.force_login(ass)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["referrals"]["rows"] == [overdue, later]
    assert "en retard" in response.content.decode()
    assert reverse("referrals:signalement_detail", args=[overdue.pk]) in response.content.decode()


def test_an_ass_sees_their_open_cases_with_next_meeting_and_last_contact(client, ass, colleague):
    case = AccompagnementFactory(referent=ass)
    EntretienFactory(accompagnement=case, debut=at(days(-20), 10), statut="realise")
    EntretienFactory(accompagnement=case, debut=at(days(-6), 10), statut="realise")
    EntretienFactory(accompagnement=case, debut=at(days(-2), 10), statut="absent")
    EntretienFactory(accompagnement=case, debut=at(days(9), 14))
    EntretienFactory(accompagnement=case, debut=at(days(2), 11))
    EntretienFactory(accompagnement=case, debut=at(days(1), 11), statut="annule")
    unseen = AccompagnementFactory(referent=ass)
    AccompagnementFactory(referent=colleague)
    AccompagnementFactory(referent=ass, statut="cloture", date_cloture=days(-1))
    client.force_login(ass)
    rows = client.get(URL).context["cases"]["rows"]
    assert rows == [unseen, case]  # never seen first
    assert rows[1].next_meeting == at(days(2), 11)
    assert rows[1].last_contact == at(days(-6), 10)
    assert rows[0].next_meeting is None and rows[0].last_contact is None


def test_objectives_due_this_week_include_overdue_ones_in_progress(client, ass):
    case = AccompagnementFactory(referent=ass)
    overdue = objectif(case, days(-2), libelle="En retard")
    sunday = objectif(case, days(4), libelle="Dimanche")
    objectif(case, days(5), libelle="Semaine prochaine")
    objectif(case, days(1), statut="atteint", libelle="Atteint")
    closed = AccompagnementFactory(referent=ass, statut="cloture", date_cloture=days(-1))
    objectif(closed, days(1), libelle="Clos")
    client.force_login(ass)
    assert client.get(URL).context["objectives"]["rows"] == [overdue, sunday]


def test_dispositifs_ending_within_fourteen_days_are_listed(client, ass):
    case = AccompagnementFactory(referent=ass)
    today = dispositif(case, TODAY)
    accorded = dispositif(case, days(14), statut="accorde")
    dispositif(case, days(15))
    dispositif(case, days(-1))
    dispositif(case, days(5), statut="termine")
    client.force_login(ass)
    assert client.get(URL).context["dispositifs"]["rows"] == [today, accorded]


def test_meetings_today_are_only_todays_and_the_workers(client, ass, colleague):
    case = AccompagnementFactory(referent=ass)
    afternoon = EntretienFactory(accompagnement=case, debut=at(TODAY, 14))
    morning = EntretienFactory(accompagnement=case, debut=at(TODAY, 8, 30), statut="realise")
    EntretienFactory(accompagnement=case, debut=at(days(1), 0, 10))
    EntretienFactory(accompagnement=case, debut=at(days(-1), 23, 50))
    EntretienFactory(accompagnement=AccompagnementFactory(referent=colleague), debut=at(TODAY, 10))
    client.force_login(ass)
    response = client.get(URL)
    assert response.context["meetings"]["rows"] == [morning, afternoon]
    assert "14:00" in response.content.decode()


def test_a_manager_sees_the_unit_per_worker_and_the_unassigned_queue(
    client, manager, ass, colleague, outsider
):
    SignalementFactory(unit=ass.unit, assigned_to=ass, date_echeance=days(-1))
    SignalementFactory(unit=ass.unit, assigned_to=ass, date_echeance=days(4))
    SignalementFactory(unit=ass.unit, assigned_to=colleague, date_echeance=days(4))
    unassigned = SignalementFactory(unit=ass.unit, assigned_to=None)
    SignalementFactory(unit=None, assigned_to=None)  # regional "à répartir" queue
    SignalementFactory(unit=None, assigned_to=None)
    SignalementFactory(unit=outsider.unit, assigned_to=outsider)
    AccompagnementFactory(referent=ass)
    client.force_login(manager)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["tab"] == "equipe"
    counts = {w.pk: (w.n_referrals, w.n_overdue, w.n_cases) for w in response.context["workers"]}
    assert counts[ass.pk] == (2, 1, 1)
    assert counts[colleague.pk] == (1, 0, 0)
    assert outsider.pk not in counts
    assert "referrals" not in response.context  # each tab runs its own queries only

    response = client.get(URL, {"onglet": "signalements"})
    assert len(response.context["referrals"]["rows"]) == 3
    assert response.context["unassigned"]["rows"] == [unassigned]
    assert response.context["regional_queue_count"] == 2
    assert "workers" not in response.context


@pytest.mark.parametrize(
    "tab, section", [("accompagnements", "cases"), ("echeances", "objectives")]
)
def test_each_manager_tab_shows_its_own_lists(client, manager, ass, tab, section):
    case = AccompagnementFactory(referent=ass)
    objectif(case, days(1))
    client.force_login(manager)
    response = client.get(URL, {"onglet": tab})
    assert response.status_code == 200
    assert len(response.context[section]["rows"]) == 1
    page = response.content.decode()
    assert f'href="?onglet={tab}" aria-current="page"' in " ".join(page.split())


def test_an_unknown_tab_shows_the_team(client, manager):
    client.force_login(manager)
    response = client.get(URL, {"onglet": "<script>"})
    assert response.status_code == 200
    assert response.context["tab"] == "equipe"


def test_a_manager_can_filter_the_dashboard_on_one_worker(client, manager, ass, colleague):
    mine = SignalementFactory(unit=ass.unit, assigned_to=ass)
    SignalementFactory(unit=ass.unit, assigned_to=colleague)
    case = AccompagnementFactory(referent=ass)
    AccompagnementFactory(referent=colleague)
    client.force_login(manager)
    response = client.get(URL, {"ass": ass.pk, "onglet": "signalements"})
    assert response.context["worker"] == ass
    assert response.context["referrals"]["rows"] == [mine]
    response = client.get(URL, {"ass": ass.pk, "onglet": "accompagnements"})
    assert response.context["cases"]["rows"] == [case]
    # The other tabs keep the filter.
    assert f"?onglet=echeances&amp;ass={ass.pk}" in response.content.decode()


def test_a_manager_cannot_filter_on_another_units_worker(client, manager, outsider):
    client.force_login(manager)
    assert client.get(URL, {"ass": outsider.pk}).status_code == 404
    assert client.get(URL, {"ass": "abc"}).status_code == 404


def test_a_conseiller_sees_their_referrals_and_the_units_meetings_today(
    client, conseiller, ass, outsider
):
    mine = SignalementFactory(unit=ass.unit, assigned_to=conseiller)
    SignalementFactory(unit=ass.unit, assigned_to=ass)
    meeting = EntretienFactory(
        accompagnement=AccompagnementFactory(referent=ass), debut=at(TODAY, 11)
    )
    EntretienFactory(accompagnement=AccompagnementFactory(referent=outsider), debut=at(TODAY, 11))
    client.force_login(conseiller)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["referrals"]["rows"] == [mine]
    assert response.context["meetings"]["rows"] == [meeting]
    assert "cases" not in response.context


def _queries(client, user, params=None):
    client.force_login(user)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL, params or {}).status_code == 200
    return len(ctx.captured_queries)


# (persona, tab, pinned maximum). Session, user, savepoint + release, then the tab's lists; the
# manager's page loads only the tab shown; one query reads the retention notices and one INSERT
# logs the people listed (none on « equipe », whose six counts are six grouped queries over the
# unit, whatever the number of workers).
DASHBOARD_QUERIES = [
    ("ass", None, 11),
    ("manager", "equipe", 13),
    ("manager", "signalements", 10),
    ("manager", "accompagnements", 8),
    ("manager", "echeances", 9),
    ("manager", "entretiens", 8),
]


@pytest.mark.parametrize("persona, tab, maximum", DASHBOARD_QUERIES)
def test_the_dashboard_query_count_does_not_grow_with_the_caseload(
    client, persona, tab, maximum, request, unit, django_assert_max_num_queries
):
    user = request.getfixturevalue(persona)
    worker = user if persona == "ass" else UserFactory(ass=True, unit=unit)
    params = {"onglet": tab} if tab else {}
    caseload(worker, 3)
    small = _queries(client, user, params)
    caseload(worker, 27)
    assert AssureFactory._meta.model.objects.count() >= 60
    assert Entretien.objects.filter(ass=worker).count() >= 61
    large = _queries(client, user, params)
    assert large == small
    with django_assert_max_num_queries(maximum):
        client.get(URL, params)


def test_dispositifs_of_closed_cases_are_not_listed(client, ass):
    closed = AccompagnementFactory(referent=ass, statut="cloture", date_cloture=days(-1))
    dispositif(closed, days(5))
    client.force_login(ass)
    response = client.get(URL)
    assert response.context["dispositifs"]["rows"] == []


# --- The conseiller's call list -----------------------------------------------------------------


def call(referral, user, when, resultat="pas_de_reponse"):
    return ContactAttempt.objects.create(
        signalement=referral, canal="telephone", resultat=resultat, user=user, at=when
    )


def test_a_conseillers_call_list_is_overdue_first_with_what_a_call_needs(
    client, conseiller, ass, outsider
):
    arret = ArretFactory(date_debut=days(-129))  # day 130 today
    late = SignalementFactory(
        assure=AssureFactory(telephone="06 12 34 56 78"),
        arret=arret,
        unit=conseiller.unit,
        assigned_to=conseiller,
        date_echeance=days(-10),
    )
    arret.assure = late.assure
    arret.save()
    just_late = SignalementFactory(
        unit=conseiller.unit, assigned_to=conseiller, date_echeance=days(-1)
    )
    upcoming = SignalementFactory(
        unit=conseiller.unit, assigned_to=conseiller, date_echeance=days(6)
    )
    no_due = SignalementFactory(unit=conseiller.unit, assigned_to=conseiller, date_echeance=None)
    SignalementFactory(unit=conseiller.unit, assigned_to=conseiller, statut=Statut.REFUS)
    SignalementFactory(unit=conseiller.unit, assigned_to=ass, date_echeance=days(-20))
    SignalementFactory(unit=conseiller.unit, assigned_to=None, date_echeance=days(-20))
    call(late, conseiller, at(days(-3), 10))
    call(late, conseiller, at(days(-1), 16, 15), resultat="message")
    client.force_login(conseiller)
    response = client.get(URL)
    assert response.status_code == 200
    rows = response.context["referrals"]["rows"]
    assert rows == [late, just_late, upcoming, no_due]
    first = rows[0]
    assert (first.n_attempts, first.jours, first.tel) == (2, 130, "0612345678")
    assert first.last_attempt_at == at(days(-1), 16, 15)
    assert first.last_attempt_label == "Message laissé"
    assert rows[1].n_attempts == 0 and rows[1].last_attempt_at is None
    page = " ".join(response.content.decode().split())
    assert 'href="tel:0612345678"' in page
    assert "10/03/2026 16:15 · Message laissé" in page
    assert reverse("referrals:signalement_detail", args=[late.pk]) in page
    assert page.count('badge-overdue">en retard') == 2


def test_the_call_list_pages_like_the_other_sections(client, conseiller):
    referrals = SignalementFactory.create_batch(
        SECTION_SIZE + 3, unit=conseiller.unit, assigned_to=conseiller, date_echeance=days(1)
    )
    client.force_login(conseiller)
    response = client.get(URL)
    first = response.context["referrals"]
    assert len(first["rows"]) == SECTION_SIZE and first["total"] == SECTION_SIZE + 3
    page = " ".join(response.content.decode().split())
    assert f"signalements en cours ({SECTION_SIZE + 3})" in page
    assert f"1 à {SECTION_SIZE} sur {SECTION_SIZE + 3}" in page
    assert first["next_url"] == "?p_referrals=2#h-referrals"
    assert first["next_url"].replace("&", "&amp;") in page
    second = client.get(URL, {"p_referrals": 2}).context["referrals"]
    assert len(second["rows"]) == 3 and second["previous_url"] == "?p_referrals=1#h-referrals"
    assert {r.pk for r in first["rows"] + second["rows"]} == {r.pk for r in referrals}
    # Each section keeps its own page: paging the call list leaves the other parameters.
    other = client.get(URL, {"p_referrals": 2, "p_meetings": 1}).context["referrals"]
    assert other["previous_url"] == "?p_referrals=1&p_meetings=1#h-referrals"


def test_a_section_page_past_the_end_shows_its_last_page(client, ass):
    for _ in range(SECTION_SIZE + 1):
        AccompagnementFactory(referent=ass, unit=ass.unit)
    client.force_login(ass)
    for number in ("9", "abc", "0"):
        response = client.get(URL, {"p_cases": number})
        assert response.status_code == 200
        cases = response.context["cases"]
        expected = 1 if number == "abc" else 2
        assert cases["page"].number == expected, number


def call_list(conseiller, ass, n):
    for i in range(n):
        referral = SignalementFactory(
            arret=ArretFactory(),
            unit=conseiller.unit,
            assigned_to=conseiller,
            date_echeance=days(i % 7 - 3),
        )
        call(referral, conseiller, at(days(-2), 9))
        call(referral, ass, at(days(-1), 9), resultat="message")


def test_the_call_list_query_count_does_not_grow_with_the_list(
    client, conseiller, ass, django_assert_max_num_queries
):
    call_list(conseiller, ass, 3)
    small = _queries(client, conseiller)
    call_list(conseiller, ass, 27)
    assert ContactAttempt.objects.count() == 60
    large = _queries(client, conseiller)
    assert large == small
    section = client.get(URL).context["referrals"]
    assert section["total"] == 30 and len(section["rows"]) == SECTION_SIZE
    # Session, user, savepoint + release, the call list (attempts as subqueries), meetings,
    # the menu's cellule membership (a conseiller may be a member of an instance), the access
    # log of the people listed (one INSERT).
    with django_assert_max_num_queries(8):
        client.get(URL)
