import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.search import nir_query, search_assures
from pdp.identifiers import nir_format
from referrals.models import Service, Statut
from tests.factories import AccompagnementFactory, AssureFactory, SignalementFactory

URL = reverse("cases:search")


def followed_by(unit, **assure_fields):
    """A person with an open referral in `unit` (so its staff see them)."""
    assure = AssureFactory(**assure_fields)
    SignalementFactory(assure=assure, unit=unit)
    return assure


@pytest.fixture
def helene(unit):
    return followed_by(unit, nom_naissance="Dupré", prenoms="Hélène Marie")


def search(client, q, **params):
    """Post the query as the form does, then open the results page (GET, no query in it)."""
    posted = client.post(URL, {"q": q})
    assert posted.status_code == 302
    assert posted.url == URL
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def results(client, q, **params):
    page = search(client, q, **params).context["page"]
    return [] if page is None else list(page.object_list)


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, method):
    response = getattr(client, method)(URL, {"q": "x"} if method == "post" else None)
    assert response.status_code == 302
    assert reverse("login") in response.url


@pytest.mark.parametrize("persona", ["regional", "admin_user"])
def test_regional_staff_and_administrators_may_not_search_people(client, persona, request, helene):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(URL, {"q": "helene"}).status_code == 403
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("query", ["Helene", "hélène", "HÉLÈNE", "HELENE dupre", "dupré hél"])
def test_a_name_is_found_whatever_the_accents_and_case(client, ass, helene, query):
    client.force_login(ass)
    assert results(client, query) == [helene]


def test_a_name_typed_with_accents_finds_a_name_stored_in_capitals(client, ass, unit):
    capitals = followed_by(unit, nom_naissance="HÉLÈNE", prenoms="JOSÉ")
    client.force_login(ass)
    assert results(client, "Hélène José") == [capitals]
    assert results(client, "helene jose") == [capitals]


def test_every_word_must_match(client, ass, helene, unit):
    followed_by(unit, nom_naissance="Martin", prenoms="Hélène")
    client.force_login(ass)
    assert len(results(client, "helene")) == 2
    assert results(client, "helene dup") == [helene]
    assert results(client, "helene durand") == []


def test_the_usage_name_is_searched_too(client, ass, unit):
    married = followed_by(unit, nom_naissance="Leroy", nom_usage="Lefèvre", prenoms="Anne")
    client.force_login(ass)
    assert results(client, "lefevre") == [married]


def test_a_nir_is_found_with_or_without_spaces_and_by_prefix(client, ass, helene, unit):
    neighbour = followed_by(unit)  # same sex, birth month and place: a common prefix
    client.force_login(ass)
    grouped = nir_format(helene.nir)  # "1 85 05 76 000 001 xx"
    assert " " in grouped
    assert results(client, grouped) == [helene]
    assert results(client, helene.nir) == [helene]
    assert results(client, grouped[:18]) == [helene]  # without the key
    assert results(client, helene.nir[:13]) == [helene]
    assert set(results(client, grouped[:10])) == {helene, neighbour}


def test_a_too_short_nir_prefix_is_explained(client, ass, helene):
    client.force_login(ass)
    response = search(client, "1 8")
    assert response.context["page"] is None
    assert "au moins 3 caractères" in response.content.decode()


def test_people_of_another_unit_are_not_found(client, ass, outsider, helene):
    stranger = AssureFactory(nom_naissance="Dupré", prenoms="Hélène")
    AccompagnementFactory(assure=stranger, referent=outsider)
    client.force_login(ass)
    assert results(client, "helene") == [helene]
    assert results(client, stranger.nir) == []
    client.force_login(outsider)
    assert results(client, "helene") == [stranger]


def test_the_medecin_conseil_finds_people_of_the_service_medical_only(client, medecin, unit):
    medical = AssureFactory(nom_naissance="Dupré", prenoms="Hélène")
    SignalementFactory(assure=medical, unit=None, service=Service.MEDICAL, statut=Statut.NOUVEAU)
    followed_by(unit, nom_naissance="Dupré", prenoms="Hélène")
    client.force_login(medecin)
    assert results(client, "helene") == [medical]
    assert results(client, medical.nir[:8]) == [medical]


def test_results_show_birth_date_commune_and_links_to_open_case_and_referral(
    client, ass, helene, unit
):
    case = AccompagnementFactory(assure=helene, referent=ass)
    referral = helene.signalements.get()
    client.force_login(ass)
    html = search(client, "helene").content.decode()
    assert "12/05/1985" in html
    assert "Rouen" in html
    assert reverse("cases:accompagnement_detail", args=[case.pk]) in html
    assert reverse("referrals:signalement_detail", args=[referral.pk]) in html
    assert reverse("cases:assure_detail", args=[helene.pk]) in html
    assert nir_format(helene.nir) in html


def test_results_are_paginated_and_sortable(client, ass, unit):
    for i in range(30):
        followed_by(unit, nom_naissance=f"Durand{i:02d}", prenoms="Paul")
    client.force_login(ass)
    first = results(client, "durand")
    assert len(first) == 25
    assert first[0].nom_naissance == "Durand00"
    assert len(results(client, "durand", page=2)) == 5
    assert results(client, "durand", o="-nom")[0].nom_naissance == "Durand29"


def test_search_queries_do_not_grow_with_the_number_of_results(
    client, ass, unit, django_assert_max_num_queries
):
    def make(n):
        for _ in range(n):
            person = followed_by(unit, nom_naissance="Durand", prenoms="Paul")
            AccompagnementFactory(assure=person, referent=ass)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert len(client.get(URL).context["page"].object_list) >= 1
        return len(ctx.captured_queries)

    client.force_login(ass)
    client.post(URL, {"q": "durand"})
    make(3)
    small = count()
    make(22)
    assert count() == small
    with django_assert_max_num_queries(9):
        client.get(URL)


def test_nir_query_recognises_a_nir_but_not_a_name():
    assert nir_query("1 85 05 2A 006") == "185052A006"
    assert nir_query("1.85.05") == "18505"
    assert nir_query("Hélène") is None
    assert nir_query("") is None


def test_an_empty_query_finds_nobody(ass, helene):
    assert list(search_assures(ass, "   ")) == []


def test_the_query_is_posted_and_never_put_in_a_url(client, ass, unit):
    for i in range(30):
        followed_by(unit, nom_naissance=f"Durand{i:02d}", prenoms="Paul")
    person = followed_by(unit, nom_naissance="Durand", prenoms="Zoé")
    client.force_login(ass)
    form = client.get(URL).content.decode()
    assert 'method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    for q in ["durand", nir_format(person.nir)]:
        posted = client.post(URL, {"q": q, "o": "-nom"})
        assert posted.status_code == 302
        assert posted.url == f"{URL}?o=-nom"
        html = client.get(posted.url).content.decode()
        assert f"pour « {q} »" in html
        hrefs = re.findall(r'href="([^"]*)"', html)
        assert [h for h in hrefs if h.startswith("?")], "sort and page links are there"
        assert not [h for h in hrefs if "q=" in h or person.nir[:5] in h]


def test_a_query_in_the_url_is_dropped_without_being_searched(client, ass, helene):
    client.force_login(ass)
    response = client.get(URL, {"q": helene.nir})
    assert response.status_code == 302
    assert response.url == URL
    page = client.get(URL)
    assert page.context["page"] is None
    assert helene.nir not in page.content.decode()


def test_the_last_query_is_kept_for_the_back_button_and_an_empty_one_clears_it(client, ass, helene):
    client.force_login(ass)
    search(client, "helene")
    assert list(client.get(URL).context["page"].object_list) == [helene]
    assert results(client, "   ") == []
    assert client.get(URL).context["page"] is None


def test_the_search_needs_the_csrf_token(ass, helene):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(ass)
    assert csrf_client.post(URL, {"q": "helene"}).status_code == 403


def test_a_too_long_query_is_refused_on_the_form(client, ass):
    client.force_login(ass)
    response = client.post(URL, {"q": "x" * 101})
    assert response.status_code == 200
    assert response.context["form"].errors["q"]
