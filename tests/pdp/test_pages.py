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


def test_a_user_logs_in_and_sees_role_and_unit(client, ass):
    response = client.post(
        reverse("login"), {"username": ass.username, "password": "motdepasse-test"}, follow=True
    )
    page = response.content.decode()
    assert "Assistant(e) de service social" in page
    assert ass.unit.name in page


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
    assert [i["label"] for i in nav_items_for(admin)] == ["Administration"]
    assert "Administration" not in [i["label"] for i in nav_items_for(medecin)]
    assert "Mon activité" not in [i["label"] for i in nav_items_for(medecin)]
    assert nav_items_for(regional) == []


def test_the_home_page_links_only_to_existing_sections(client, ass):
    client.force_login(ass)
    page = client.get(reverse("home")).content.decode()
    for item in nav_items_for(ass):
        assert item["url"] in page
    assert reverse("admin:index") not in page
