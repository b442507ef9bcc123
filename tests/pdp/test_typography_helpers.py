import pytest
from django.template import Context, Template
from django.urls import reverse

from pdp.models import Unit
from pdp.typography import de, unit_with_article
from tests.factories import AccompagnementFactory, AssureFactory


@pytest.mark.parametrize(
    "noun, expected",
    [
        ("unité", "d'unité"),
        ("Évreux", "d'Évreux"),
        ("ANDRÉ Jérôme", "d'ANDRÉ Jérôme"),
        ("utilisateur", "d'utilisateur"),
        ("partenaire", "de partenaire"),
        ("Bernard Lucie", "de Bernard Lucie"),
    ],
)
def test_de_elides_before_a_vowel(noun, expected):
    assert de(noun) == expected
    assert Template("{% load french %}{{ noun|de }}").render(Context({"noun": noun})) == (
        expected.replace("'", "&#x27;")
    )


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Unité de Caen", "l'unité de Caen"),
        ("Unité du Havre", "l'unité du Havre"),
        ("Antenne de Dieppe", "l'unité Antenne de Dieppe"),
    ],
)
def test_a_unit_after_a_preposition_takes_its_article(name, expected):
    assert unit_with_article(Unit(name=name)) == expected


def test_the_case_page_elides_before_the_persons_name(client, ass):
    case = AccompagnementFactory(
        referent=ass, assure=AssureFactory(nom_naissance="André", prenoms="Jérôme")
    )
    client.force_login(ass)
    page = client.get(reverse("cases:accompagnement_detail", args=[case.pk])).content.decode()
    assert "Accompagnement d&#x27;<a" in page
    plan = client.get(reverse("cases:plan_detail", args=[case.pk])).content.decode()
    assert "Accompagnement d&#x27;André Jérôme" in plan
