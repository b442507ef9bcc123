"""The staff pages of collective actions: 404 (not visible) and 403 (visible, not allowed) for
each page, the changes really made, bad input refused with a French message, and a constant
number of queries on the list, the detail, the queue and the calendar."""

import datetime
import html
import itertools

import pytest
from django.urls import reverse
from django.utils import timezone

from collective import services
from collective.models import ActionCollective, ActionStatus, ActionType, Seance, ValidationStatus
from tests.factories import (
    ActionCollectiveFactory,
    PartnerContactFactory,
    RegionFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

S = ActionStatus


def future(days, hour=14):
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


@pytest.fixture
def action(ass):
    return ActionCollectiveFactory(animateur=ass, titre="Groupe du jeudi")


@pytest.fixture
def stranger(db):
    """Staff of another region: sees none of this region's actions."""
    return UserFactory(ass=True, unit=UnitFactory(region=RegionFactory(code="ARA")))


DAYS = itertools.count(1)


def with_sessions(action, n=3):
    for _ in range(n):
        SeanceFactory(action=action, debut=future(next(DAYS) % 600 + 1))
    return action


def text(response):
    return html.unescape(response.content.decode())


def ask(action, level="unite"):
    return services.validation_request(action=action, acting_user=action.animateur, niveau=level)


# --- Who reaches what ----------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login(client, action):
    for url in (
        reverse("collective:action_list"),
        reverse("collective:action_detail", args=[action.pk]),
        reverse("collective:calendar"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


@pytest.mark.parametrize("name", ["action_detail", "action_edit", "seance_create"], ids=lambda n: n)
def test_an_action_of_another_region_is_not_found(client, action, stranger, name):
    client.force_login(stranger)
    assert client.get(reverse(f"collective:{name}", args=[action.pk])).status_code == 404


def test_roles_outside_the_regions_staff_get_404_on_an_action_and_403_on_the_lists(
    client, action, medecin, admin_user
):
    for user in (medecin, admin_user, UserFactory(coordinateur=True)):
        client.force_login(user)
        assert client.get(reverse("collective:action_detail", args=[action.pk])).status_code == 404
        assert client.get(reverse("collective:action_list")).status_code == 403
        assert client.get(reverse("collective:calendar")).status_code == 403
        assert client.get(reverse("collective:validation_queue")).status_code == 403


def test_a_colleague_reads_the_action_but_may_not_change_it(client, action, colleague):
    client.force_login(colleague)
    page = client.get(reverse("collective:action_detail", args=[action.pk]))
    assert page.status_code == 200
    assert "Modifier l'action" not in text(page)
    seance = SeanceFactory(action=action)
    for url in (
        reverse("collective:action_edit", args=[action.pk]),
        reverse("collective:seance_create", args=[action.pk]),
        reverse("collective:seance_edit", args=[action.pk, seance.pk]),
    ):
        assert client.get(url).status_code == 403
    for url in (
        reverse("collective:seance_delete", args=[action.pk, seance.pk]),
        reverse("collective:action_step", args=[action.pk, "publier"]),
        reverse("collective:action_step", args=[action.pk, "annuler"]),
        reverse("collective:validation_request", args=[action.pk, "unite"]),
    ):
        assert client.post(url, {"reason": "x"}).status_code == 403
    action.refresh_from_db()
    assert action.statut == S.PROJET and Seance.objects.filter(pk=seance.pk).exists()


def test_an_ass_has_no_queue_and_a_validation_is_decided_by_its_validator_only(
    client, action, ass, colleague, manager, regional
):
    with_sessions(action)
    validation = ask(action)
    client.force_login(ass)
    assert client.get(reverse("collective:validation_queue")).status_code == 403
    url = reverse("collective:validation_decide", args=[validation.pk, "approuver"])
    assert client.post(url).status_code == 403
    client.force_login(regional)  # the region's, not the unit's
    assert client.post(url).status_code == 403
    client.force_login(
        UserFactory(manager=True, unit=UnitFactory(region=RegionFactory(code="ARA")))
    )
    assert client.post(url).status_code == 404
    validation.refresh_from_db()
    assert validation.statut == ValidationStatus.DEMANDEE


# --- The list -----------------------------------------------------------------------------------


def test_the_list_shows_the_users_own_first_and_filters(
    client, ass, colleague, other_unit, django_assert_max_num_queries
):
    ActionCollectiveFactory(animateur=colleague, titre="Celle de la collègue")
    mine = ActionCollectiveFactory(animateur=colleague, titre="Co-animée")
    mine.co_animateurs.add(ass)
    for _ in range(5):
        with_sessions(ActionCollectiveFactory(animateur=UserFactory(ass=True, unit=other_unit)), 2)
    ActionCollectiveFactory(
        animateur=UserFactory(ass=True, unit=UnitFactory(region=RegionFactory(code="ARA"))),
        titre="Ailleurs",
    )
    client.force_login(ass)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("collective:action_list"))
    actions = list(response.context["actions"])
    assert actions[0] == mine and len(actions) == 7
    assert "Ailleurs" not in text(response)
    response = client.get(reverse("collective:action_list"), {"unit": str(other_unit.pk)})
    assert len(response.context["actions"]) == 5
    response = client.get(reverse("collective:action_list"), {"statut": "publiee"})
    assert len(response.context["actions"]) == 0
    response = client.get(reverse("collective:action_list"), {"type": "pas-un-nombre"})
    assert response.status_code == 200 and len(response.context["actions"]) == 7


def test_the_list_query_count_does_not_grow_with_the_actions(
    client, ass, django_assert_max_num_queries
):
    client.force_login(ass)
    for _ in range(3):
        with_sessions(ActionCollectiveFactory(animateur=ass), 3)
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("collective:action_list"))
    for _ in range(15):
        with_sessions(ActionCollectiveFactory(animateur=ass), 3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("collective:action_list"))


# --- Create and edit -----------------------------------------------------------------------------


def test_an_ass_creates_an_action_from_the_form(client, ass, colleague):
    contact = PartnerContactFactory()
    client.force_login(ass)
    page = client.get(reverse("collective:action_create"))
    assert page.status_code == 200
    assert "aucune information de santé" in text(page)
    response = client.post(
        reverse("collective:action_create"),
        {
            "type": ActionType.objects.get(code="isic").pk,
            "titre": "Groupe cancer et travail",
            "description": "Un groupe pour échanger sur la reprise.",
            "co_animateurs": [colleague.pk],
            "partenaires": [contact.pk],
            "capacite": "8",
            "liste_attente": "on",
            "delai_confirmation_heures": "48",
        },
    )
    action = ActionCollective.objects.get(titre="Groupe cancer et travail")
    assert response.status_code == 302 and response.url == reverse(
        "collective:action_detail", args=[action.pk]
    )
    assert (action.animateur, action.unit, action.capacite) == (ass, ass.unit, 8)
    assert list(action.co_animateurs.all()) == [colleague]
    assert list(action.partenaires.all()) == [contact]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"titre": ""}, "titre"),
        ({"capacite": "0"}, "capacite"),
        ({"capacite": "beaucoup"}, "capacite"),
        ({"delai_confirmation_heures": "1000"}, "delai_confirmation_heures"),
        ({"inscription_debut": "2027-03-10", "inscription_fin": "2027-03-01"}, "inscription_fin"),
        ({"lien_visio": "pas une adresse"}, "lien_visio"),
        ({"type": "999999"}, "type"),
    ],
)
def test_bad_input_on_the_form_is_refused_in_french(client, ass, data, field):
    client.force_login(ass)
    post = {
        "type": ActionType.objects.get(code="isic").pk,
        "titre": "Groupe",
        "delai_confirmation_heures": "48",
        **data,
    }
    response = client.post(reverse("collective:action_create"), post)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not ActionCollective.objects.exists()


def test_editing_a_validated_action_keeps_its_validated_content(client, action, ass, manager):
    with_sessions(action)
    services.validation_approve(validation=ask(action), acting_user=manager)
    client.force_login(ass)
    page = client.get(reverse("collective:action_edit", args=[action.pk]))
    assert page.status_code == 200 and page.context["form"].fields["titre"].disabled
    response = client.post(
        reverse("collective:action_edit", args=[action.pk]),
        {
            "type": action.type_id,
            "titre": "Titre changé en douce",
            "capacite": "15",
            "delai_confirmation_heures": "24",
        },
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert (action.titre, action.capacite, action.delai_confirmation_heures) == (
        "Groupe du jeudi",
        15,
        24,
    )


# --- Sessions ---------------------------------------------------------------------------------


def test_sessions_are_added_moved_and_deleted_from_the_pages(client, action, ass):
    client.force_login(ass)
    day = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
    response = client.post(
        reverse("collective:seance_create", args=[action.pk]),
        {"date": day, "heure": "14:30", "duree_minutes": "90", "lieu": "Agence de Rouen"},
    )
    assert response.status_code == 302
    seance = action.seances.get()
    assert timezone.localtime(seance.debut).strftime("%H:%M") == "14:30"
    page = text(client.get(reverse("collective:action_detail", args=[action.pk])))
    assert "14 h 30 – 16 h 00" in page
    response = client.post(
        reverse("collective:seance_edit", args=[action.pk, seance.pk]),
        {"date": day, "heure": "09:00", "duree_minutes": "90", "lieu": "Salle 2"},
    )
    assert response.status_code == 302
    seance.refresh_from_db()
    assert seance.lieu == "Salle 2"
    response = client.post(reverse("collective:seance_delete", args=[action.pk, seance.pk]))
    assert response.status_code == 302 and not action.seances.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"date": "2020-01-01", "heure": "14:00", "duree_minutes": "60", "lieu": "Agence"},
        {"date": "pas une date", "heure": "14:00", "duree_minutes": "60", "lieu": "Agence"},
        {"date": "2099-01-01", "heure": "25:00", "duree_minutes": "60", "lieu": "Agence"},
        {"date": "2099-01-01", "heure": "14:00", "duree_minutes": "5", "lieu": "Agence"},
        {"heure": "14:00", "duree_minutes": "60", "lieu": ""},
    ],
)
def test_a_bad_session_is_refused_and_nothing_changes(client, action, ass, data):
    client.force_login(ass)
    data = {"date": (timezone.localdate() + datetime.timedelta(days=3)).isoformat(), **data}
    response = client.post(reverse("collective:seance_create", args=[action.pk]), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not action.seances.exists()


def test_a_session_of_another_action_is_not_found(client, action, ass):
    other = SeanceFactory(action=ActionCollectiveFactory(animateur=ass))
    client.force_login(ass)
    url = reverse("collective:seance_edit", args=[action.pk, other.pk])
    assert client.get(url).status_code == 404


# --- The detail page, validations and steps ----------------------------------------------------


def test_the_detail_page_has_a_constant_number_of_queries(
    client, action, ass, colleague, django_assert_max_num_queries
):
    client.force_login(ass)
    with_sessions(action, 3)
    action.co_animateurs.add(colleague)
    ask(action)
    with django_assert_max_num_queries(30) as few:
        response = client.get(reverse("collective:action_detail", args=[action.pk]))
    assert response.status_code == 200
    with_sessions(action, 5)
    action.co_animateurs.add(UserFactory(ass=True, unit=ass.unit))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("collective:action_detail", args=[action.pk]))


def test_the_whole_path_through_the_pages(client, action, ass, manager, regional):
    with_sessions(action, 3)
    client.force_login(ass)
    page = text(client.get(reverse("collective:action_detail", args=[action.pk])))
    assert "Demander la validation de l'unité" in page
    client.post(reverse("collective:validation_request", args=[action.pk, "unite"]))
    validation = action.validations.get()
    client.force_login(manager)
    queue = client.get(reverse("collective:validation_queue"))
    assert list(queue.context["pending"]) == [validation]
    prefix = f"v{validation.pk}"
    response = client.post(
        reverse("collective:validation_decide", args=[validation.pk, "approuver"]),
        {"retour": "file", f"{prefix}-commentaire": ""},
    )
    assert response.status_code == 302 and response.url == reverse("collective:validation_queue")
    # The unit's approval asked the region's.
    region = action.validations.get(niveau="region", statut=ValidationStatus.DEMANDEE)
    client.force_login(regional)
    home = client.get(reverse("home"))
    assert home.url == reverse("collective:validation_queue")
    assert list(client.get(home.url).context["pending"]) == [region]
    # A refusal without a comment: refused in French, nothing changed.
    response = client.post(
        reverse("collective:validation_decide", args=[region.pk, "refuser"]),
        {"retour": "file", f"v{region.pk}-commentaire": "  "},
    )
    assert response.status_code == 400
    assert "obligatoire" in text(response)
    region.refresh_from_db()
    assert region.statut == ValidationStatus.DEMANDEE
    client.post(
        reverse("collective:validation_decide", args=[region.pk, "approuver"]),
        {"retour": "file"},
    )
    client.force_login(ass)
    response = client.post(reverse("collective:action_step", args=[action.pk, "publier"]))
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.statut == S.PUBLIEE
    # On the regional calendar now.
    client.force_login(regional)
    month = timezone.localtime(action.seances.first().debut).strftime("%Y-%m")
    calendar = client.get(reverse("collective:calendar"), {"mois": month})
    assert "Groupe du jeudi" in text(calendar)


def test_publishing_too_early_says_why(client, action, ass):
    client.force_login(ass)
    response = client.post(
        reverse("collective:action_step", args=[action.pk, "publier"]), follow=True
    )
    action.refresh_from_db()
    assert action.statut == S.PROJET
    page = text(response)
    assert "cette étape n'est pas possible" in page or "ajoutez-en 3" in page
    assert (
        client.post(reverse("collective:action_step", args=[action.pk, "voler"])).status_code == 404
    )


def test_cancelling_without_a_reason_is_refused_then_with_one_done(client, action, ass):
    client.force_login(ass)
    url = reverse("collective:action_step", args=[action.pk, "annuler"])
    response = client.post(url, {"reason": ""})
    assert response.status_code == 400
    assert "Dites pourquoi l'action est annulée." in text(response)
    action.refresh_from_db()
    assert action.statut == S.PROJET
    assert client.post(url, {"reason": "Salle indisponible"}).status_code == 302
    action.refresh_from_db()
    assert action.statut == S.ANNULEE


# --- Queue and calendar ---------------------------------------------------------------------------


def test_the_queue_and_the_calendar_have_a_constant_number_of_queries(
    client, ass, manager, regional, django_assert_max_num_queries
):
    def batch(n):
        for _ in range(n):
            action = with_sessions(ActionCollectiveFactory(animateur=ass), 3)
            ask(action)
            published = with_sessions(ActionCollectiveFactory(animateur=ass), 2)
            ActionCollective.objects.filter(pk=published.pk).update(statut=S.PUBLIEE)

    batch(2)
    counts = {}
    for user, name in ((manager, "validation_queue"), (regional, "calendar")):
        client.force_login(user)
        with django_assert_max_num_queries(15) as few:
            assert client.get(reverse(f"collective:{name}")).status_code == 200
        counts[name] = len(few.captured_queries)
    batch(8)
    for user, name in ((manager, "validation_queue"), (regional, "calendar")):
        client.force_login(user)
        with django_assert_max_num_queries(counts[name]):
            client.get(reverse(f"collective:{name}"))


def test_the_calendar_groups_the_month_by_week_and_reads_a_bad_month(client, ass, regional):
    action = ActionCollectiveFactory(animateur=ass, titre="Webinaire de rentrée", statut=S.PUBLIEE)
    projet = ActionCollectiveFactory(animateur=ass, titre="Encore en projet")
    start = timezone.make_aware(datetime.datetime(2027, 3, 16, 14, 30))  # a Tuesday
    SeanceFactory(action=action, debut=start)
    SeanceFactory(action=action, debut=start + datetime.timedelta(days=7))
    SeanceFactory(action=projet, debut=start)
    client.force_login(regional)
    response = client.get(reverse("collective:calendar"), {"mois": "2027-03"})
    page = text(response)
    assert len(response.context["weeks"]) == 2
    assert "Semaine du lundi 15 mars au dimanche 21 mars 2027" in page
    assert "Mardi 16 mars" in page and "14 h 30" in page
    assert "Encore en projet" not in page
    response = client.get(reverse("collective:calendar"), {"mois": "mars"}, follow=True)
    assert response.status_code == 200
    assert "Mois illisible" in text(response)


def test_the_navigation_offers_collective_actions_to_the_regions_staff(client, ass, regional):
    from pdp.context_processors import nav_items_for

    for user in (ass, regional):
        assert "Actions collectives" in [i["label"] for i in nav_items_for(user)]
    assert "Actions collectives" not in [
        i["label"] for i in nav_items_for(UserFactory(coordinateur=True))
    ]


def test_a_decision_on_an_answered_validation_or_a_step_on_a_closed_action_says_so(
    client, action, ass, manager
):
    with_sessions(action)
    validation = ask(action)
    services.validation_approve(validation=validation, acting_user=manager)
    client.force_login(manager)
    response = client.post(
        reverse("collective:validation_decide", args=[validation.pk, "refuser"]),
        {"retour": "file", f"v{validation.pk}-commentaire": "Trop tard"},
        follow=True,
    )
    assert "déjà reçu une réponse" in text(response)
    validation.refresh_from_db()
    assert validation.statut == ValidationStatus.APPROUVEE
    services.action_cancel(action=action, acting_user=ass, reason="Abandon")
    client.force_login(ass)
    response = client.post(
        reverse("collective:action_step", args=[action.pk, "annuler"]),
        {"reason": "Encore"},
        follow=True,
    )
    assert "terminée ou annulée" in text(response)
