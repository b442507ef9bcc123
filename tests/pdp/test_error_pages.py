"""The production error pages: French, in the site's layout, with a way back home."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.pdp.urls_errors")]

BRAND = "PDP · Service social"


def assert_error_page(response, status, heading):
    assert response.status_code == status
    page = response.content.decode()
    assert BRAND in page
    assert f'<h1 class="h3">{heading}</h1>' in page
    assert f'href="{reverse("home")}">Retour à l\'accueil</a>' in page
    assert "no-store" in response.headers["Cache-Control"]
    assert "Content-Security-Policy" in response.headers
    return page


def test_an_unknown_page_answers_a_french_404(client, ass):
    client.force_login(ass)
    page = assert_error_page(client.get("/pas-de-page-ici/"), 404, "Page introuvable")
    assert "Not Found" not in page
    assert ass.get_role_display() in page  # the signed-in layout (menu, account)


def test_a_record_of_another_unit_answers_the_same_404(client, outsider):
    from tests.factories import AccompagnementFactory

    case = AccompagnementFactory()
    client.force_login(outsider)
    response = client.get(reverse("cases:accompagnement_detail", args=[case.pk]))
    assert_error_page(response, 404, "Page introuvable")


def test_a_forbidden_action_answers_a_french_403_with_the_reason(client, regional):
    client.force_login(regional)
    page = assert_error_page(client.get(reverse("cases:search")), 403, "Accès refusé")
    assert "La recherche de personnes ne vous est pas ouverte." in page
    assert_error_page(client.get("/test-erreurs/403/"), 403, "Accès refusé")


def test_a_bad_request_answers_a_french_400(client, ass):
    client.force_login(ass)
    assert_error_page(client.get("/test-erreurs/400/"), 400, "Requête incorrecte")


def test_a_server_error_answers_a_french_500_without_any_context(client, ass):
    # Django renders 500.html without a request: the strict-variables fixture of conftest
    # fails the test if the page used a variable it does not get.
    client.force_login(ass)
    client.raise_request_exception = False
    page = assert_error_page(client.get("/test-erreurs/500/"), 500, "Erreur du serveur")
    assert "Server Error" not in page
    assert "signalez-la à votre administrateur" in page


def test_an_expired_form_answers_a_french_403(ass):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(ass)
    response = csrf_client.post(reverse("cases:search"), {"q": "x"})
    page = assert_error_page(response, 403, "Formulaire expiré")
    assert "CSRF verification failed" not in page
    assert "Rien n'a été enregistré" in page
