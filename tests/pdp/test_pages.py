import pytest
from django.urls import reverse

from pdp.context_processors import nav_items_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_login_page_is_public_and_in_french(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "Connexion" in response.content.decode()


def test_a_user_logs_in_and_lands_on_their_working_page_with_their_role(client, ass):
    response = client.post(
        reverse("login"), {"username": ass.username, "password": "motdepasse-test"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("cases:dashboard")
    page = response.content.decode()
    assert "Assistant(e) de service social" in page
    assert str(ass) in page


def test_a_wrong_password_is_refused_in_french(client, ass):
    response = client.post(reverse("login"), {"username": ass.username, "password": "x"})
    assert response.status_code == 200
    # The username field is labelled « identifiant » (pdp.models.User.username).
    assert "Saisissez un identifiant et un mot de passe valides" in response.content.decode()


def test_logout_is_a_post_and_ends_the_session(client, ass):
    client.force_login(ass)
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_password_change_works(client, ass):
    client.force_login(ass)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "motdepasse-test",
            "new_password1": "Un-nouveau-mot-2026",
            "new_password2": "Un-nouveau-mot-2026",
        },
    )
    assert response.status_code == 302
    ass.refresh_from_db()
    assert ass.check_password("Un-nouveau-mot-2026")


def test_navigation_shows_each_role_only_what_it_can_use(unit):
    admin = UserFactory(admin=True)
    medecin = UserFactory(medecin=True)
    regional = UserFactory(regional=True)
    assert [i["label"] for i in nav_items_for(admin)] == [
        "Indicateurs",
        "Administration",
        "Conservation",
    ]
    assert "Administration" not in [i["label"] for i in nav_items_for(medecin)]
    assert "Mon activité" not in [i["label"] for i in nav_items_for(medecin)]
    assert [i["label"] for i in nav_items_for(regional)] == [
        "Actions collectives",
        "Enquêtes",
        "Campagnes",
        "Indicateurs",
    ]


# --- The home page is the role's working page --------------------------------------------


@pytest.mark.parametrize(
    "persona, target",
    [
        ("ass", "cases:dashboard"),
        ("conseiller", "cases:dashboard"),
        ("manager", "cases:dashboard"),
        ("medecin", "referrals:medical_list"),
        ("admin_user", "admin:index"),
        ("coordinateur", "coordination:home"),
        ("partenaire", "coordination:mes_reunions"),
        ("regional", "collective:validation_queue"),
    ],
)
def test_the_home_page_opens_the_roles_working_page(client, request, persona, target):
    if persona in ("coordinateur", "partenaire"):
        client.force_login(UserFactory(**{persona: True}))
    else:
        client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url == reverse(target)
    assert client.get(response.url).status_code == 200


@pytest.mark.parametrize("persona", ["regional"])
def test_staff_without_individual_records_get_a_page_saying_what_is_coming(client, unit, persona):
    # A regional manager without a region has no validation queue yet.
    user = UserFactory(**{persona: True}, region=None)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert user.get_role_display() in page
    assert "arrivera ici" in page or "arriveront ici" in page
    assert "list-group" not in page  # no list of links repeating the menu


def test_an_administrator_without_staff_access_is_not_sent_to_the_admin(client, db):
    user = UserFactory(role="admin", unit=None, is_staff=False)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
