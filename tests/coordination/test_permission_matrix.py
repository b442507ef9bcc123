"""Every page of the cellule × every persona, in one table (the issue's permission matrix).

The personas: anonymous; an ASS of another unit (outsider); an internal member of the instance
(the médecin conseil); the instance's coordinator; the coordinator of another instance; the
référent of the case submitted; the unit's manager (not a member); the partner account (Cap
emploi, member). Expected codes: 200 shown, 302 redirected (anonymous → login; a member's
« / » of the cellule → « mes réunions »), 403 visible but not allowed, 404 not visible.
The per-page test modules check what each page shows and that changes really happen; this one
proves nobody reaches what they must not, page by page.
"""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Consentement
from coordination import services
from coordination.models import Organisation, Presence, TypeDecision
from tests.coordination.conftest import FICHE
from tests.factories import (
    AccompagnementFactory,
    ConsentementFactory,
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    UnitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PERSONAS = [
    "anonymous",
    "outsider",
    "member",
    "coordinator",
    "other_coordinator",
    "referent",
    "manager",
    "partner",
]


@pytest.fixture
def world(db):
    unit = UnitFactory()
    referent = UserFactory(ass=True, unit=unit)
    manager = UserFactory(manager=True, unit=unit)
    coordinator = UserFactory(coordinateur=True)
    medecin = UserFactory(medecin=True, region=unit.region)
    partner = UserFactory(partenaire=True)
    instance = InstanceFactory(region=unit.region, units=[unit], coordinateurs=[coordinator])
    InstanceFactory(
        region=unit.region, units=[unit], coordinateurs=[other := UserFactory(coordinateur=True)]
    )
    MembreFactory(instance=instance, user=medecin, organisation=Organisation.SERVICE_MEDICAL)
    MembreFactory(
        instance=instance, user=UserFactory(ass=True, unit=unit), organisation="service_social"
    )
    membre_partner = MembreFactory(
        instance=instance,
        user=partner,
        contact=PartnerContactFactory(),
        organisation=Organisation.CAP_EMPLOI,
    )
    case = AccompagnementFactory(referent=referent)
    ConsentementFactory(
        assure=case.assure,
        recorded_by=referent,
        portee=Consentement.Portee.CELLULE_PDP,
        date_recueil=timezone.localdate() - datetime.timedelta(days=2),
    )
    saisine = services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=referent,
        question="Quelle suite ?",
        **FICHE,
    )
    held = services.reunion_plan(
        instance=instance,
        acting_user=coordinator,
        debut=timezone.now() + datetime.timedelta(days=1),
        lieu="Salle 1",
    )
    services.reunion_freeze_agenda(reunion=held, acting_user=coordinator)
    for presence in held.presences.all():
        services.presence_set(
            presence=presence, acting_user=coordinator, statut=Presence.Statut.PRESENT
        )
    point = held.points.get()
    decision = services.decision_add(
        point=point, acting_user=coordinator, type=TypeDecision.objects.get(code="etude_poste")
    )
    action = services.action_add(
        point=point,
        acting_user=coordinator,
        libelle="Étude de poste",
        responsable=membre_partner,
        echeance=timezone.localdate() + datetime.timedelta(days=20),
    )
    services.reunion_mark_held(reunion=held, acting_user=coordinator)
    planned = services.reunion_plan(
        instance=instance,
        acting_user=coordinator,
        debut=timezone.now() + datetime.timedelta(days=30),
        lieu="Salle 2",
    )
    users = {
        "anonymous": None,
        "outsider": UserFactory(ass=True, unit=UnitFactory(region=unit.region)),
        "member": medecin,
        "coordinator": coordinator,
        "other_coordinator": other,
        "referent": referent,
        "manager": manager,
        "partner": partner,
    }
    ids = {
        "instance": instance.pk,
        "held": held.pk,
        "planned": planned.pk,
        "case": case.pk,
        "saisine": saisine.pk,
        "action": action.pk,
        "point": point.pk,
        "decision": decision.pk,
        "presence": planned.presences.first().pk,
        "membre": membre_partner.pk,
    }
    return users, ids


def _get_pages(ids):
    return {
        "home": reverse("coordination:home"),
        "instance_detail": reverse("coordination:instance_detail", args=[ids["instance"]]),
        "mes_actions": reverse("coordination:mes_actions"),
        "mes_reunions": reverse("coordination:mes_reunions"),
        "reunion_create": reverse("coordination:reunion_create", args=[ids["instance"]]),
        "reunion_detail": reverse("coordination:reunion_detail", args=[ids["held"]]),
        "reunion_edit": reverse("coordination:reunion_edit", args=[ids["planned"]]),
        "reunion_minutes_pdf": reverse("coordination:reunion_minutes_pdf", args=[ids["held"]]),
        "reunion_releve": reverse("coordination:reunion_releve", args=[ids["held"]]),
        "reunion_releve_pdf": reverse("coordination:reunion_releve_pdf", args=[ids["held"]]),
        "saisine_create": reverse("coordination:saisine_create", args=[ids["case"]]),
        "saisine_list_unit": reverse("coordination:saisine_list_unit"),
        "saisine_detail": reverse("coordination:saisine_detail", args=[ids["saisine"]]),
    }


def _post_pages(ids):
    held, planned = ids["held"], ids["planned"]
    return {
        "membre_create": reverse("coordination:membre_create", args=[ids["instance"]]),
        "membre_end": reverse("coordination:membre_end", args=[ids["instance"], ids["membre"]]),
        "action_report": reverse("coordination:action_report", args=[ids["action"]]),
        "reunion_step": reverse("coordination:reunion_step", args=[planned, "actualiser-odj"]),
        "reunion_presence_update": reverse(
            "coordination:reunion_presence_update", args=[planned, ids["presence"]]
        ),
        "reunion_point_update": reverse(
            "coordination:reunion_point_update", args=[held, ids["point"]]
        ),
        "reunion_decision_create": reverse(
            "coordination:reunion_decision_create", args=[held, ids["point"]]
        ),
        "reunion_decision_delete": reverse(
            "coordination:reunion_decision_delete", args=[held, ids["point"], ids["decision"]]
        ),
        "reunion_action_create": reverse(
            "coordination:reunion_action_create", args=[held, ids["point"]]
        ),
        "reunion_addendum_create": reverse("coordination:reunion_addendum_create", args=[held]),
    }


# page: codes for anonymous, outsider, member, coordinator, other_coordinator, référent,
# manager, partner.
GET_MATRIX = {
    "home": (302, 403, 302, 200, 200, 403, 403, 302),
    "instance_detail": (302, 404, 200, 200, 404, 404, 404, 200),
    "mes_actions": (302, 403, 200, 200, 200, 403, 403, 200),
    "mes_reunions": (302, 403, 200, 200, 200, 403, 403, 200),
    "reunion_create": (302, 404, 403, 200, 404, 404, 404, 403),
    "reunion_detail": (302, 404, 200, 200, 404, 404, 404, 200),
    "reunion_edit": (302, 404, 403, 200, 404, 404, 404, 403),
    "reunion_minutes_pdf": (302, 404, 200, 200, 404, 404, 404, 200),
    "reunion_releve": (302, 404, 200, 200, 404, 404, 404, 200),
    "reunion_releve_pdf": (302, 404, 200, 200, 404, 404, 404, 200),
    "saisine_create": (302, 404, 404, 404, 404, 200, 200, 404),
    "saisine_list_unit": (302, 200, 403, 403, 403, 200, 200, 403),
    "saisine_detail": (302, 404, 404, 200, 404, 200, 200, 404),
}
# For POSTs, "ok" is any answer of an allowed user (a form error 200, a redirect 302).
OK = "ok"
POST_MATRIX = {
    "membre_create": (302, 404, 403, OK, 404, 404, 404, 403),
    "membre_end": (302, 404, 403, OK, 404, 404, 404, 403),
    "action_report": (302, 404, 404, OK, 404, 404, 404, OK),
    "reunion_step": (302, 404, 403, OK, 404, 404, 404, 403),
    "reunion_presence_update": (302, 404, 403, OK, 404, 404, 404, 403),
    "reunion_point_update": (302, 404, 403, OK, 404, 404, 404, 403),
    "reunion_decision_create": (302, 404, 403, OK, 404, 404, 404, 403),
    "reunion_decision_delete": (302, 404, 403, OK, 404, 404, 404, 403),
    "reunion_action_create": (302, 404, 403, OK, 404, 404, 404, 403),
    "reunion_addendum_create": (302, 404, 403, OK, 404, 404, 404, 403),
}


def _status(client, user, method, url):
    client.logout()
    if user is not None:
        client.force_login(user)
    response = getattr(client, method)(url)
    return response


def test_every_page_of_the_cellule_is_in_the_matrix(world):
    from coordination.urls import urlpatterns

    _, ids = world
    names = {p.name for p in urlpatterns}
    assert names == set(GET_MATRIX) | set(POST_MATRIX)


@pytest.mark.parametrize("page", list(GET_MATRIX))
def test_get_matrix(client, world, page):
    users, ids = world
    url = _get_pages(ids)[page]
    found = {}
    for persona in PERSONAS:
        response = _status(client, users[persona], "get", url)
        found[persona] = response.status_code
        if persona == "anonymous":
            assert response.url.startswith(reverse("login")), page
    assert found == dict(zip(PERSONAS, GET_MATRIX[page], strict=True))


@pytest.mark.parametrize("page", list(POST_MATRIX))
def test_post_matrix(client, world, page):
    users, ids = world
    url = _post_pages(ids)[page]
    found = {}
    for persona, expected in zip(PERSONAS, POST_MATRIX[page], strict=True):
        code = _status(client, users[persona], "post", url).status_code
        found[persona] = OK if expected == OK and code in (200, 302) else code
    assert found == dict(zip(PERSONAS, POST_MATRIX[page], strict=True))
