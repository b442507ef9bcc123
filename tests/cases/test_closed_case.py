"""A closed case shows no control whose action the services refuse (issue 8, item 14).

The référent opens each page of a case with content (évaluation, plan d'aide, meetings,
dispositifs, documents); while the case is open the pages offer the actions, once it is closed
none of the refused actions' URLs appears. The server still refuses them (see test_services,
test_dispositif_views, test_documents, test_agenda).
"""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import dispositifs as rules
from cases import services
from cases.models import DispositifType, Document, Entretien
from tests.factories import AccompagnementFactory, ArretFactory


@pytest.fixture
def world(ass):
    """A case with content of every kind, and the URLs of what a closed case refuses."""
    today = timezone.localdate()
    case = AccompagnementFactory(referent=ass, date_ouverture=today - datetime.timedelta(days=40))
    ArretFactory(assure=case.assure, date_debut=today - datetime.timedelta(days=60))
    services.evaluation_create(accompagnement=case, acting_user=ass, niveau_risque="modere")
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="emploi", libelle="Reprendre"
    )
    action = services.action_create(objectif=objectif, acting_user=ass, libelle="Appeler")
    essai = DispositifType.objects.get_or_create(
        code=rules.ESSAI, defaults={"label": "Essai encadré", "phase": "pendant"}
    )[0]
    dispositif = rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=essai,
        statut="envisage",
        date_debut=today + datetime.timedelta(days=7),
        date_fin=today + datetime.timedelta(days=8),
    )
    periode = dispositif.periodes.get()
    document = Document.objects.create(
        accompagnement=case,
        fichier=f"documents/{case.pk}/a.pdf",
        nom="a.pdf",
        content_type="application/pdf",
        taille=10,
        uploaded_by=ass,
    )
    # A meeting that took place and was not recorded yet: still « planifié » after the closure.
    past = Entretien.objects.create(
        accompagnement=case,
        ass=ass,
        debut=timezone.now() - datetime.timedelta(days=1),
        mode="telephone",
    )
    d = [case.pk, dispositif.pk]
    urls = {
        "évaluation": reverse("cases:evaluation_create", args=[case.pk]),
        "orientation": reverse("cases:orientation_create", args=[case.pk]),
        "objectif": reverse("cases:objectif_create", args=[case.pk]),
        "modifier l'objectif": reverse("cases:objectif_update", args=[case.pk, objectif.pk]),
        "action": reverse("cases:action_create", args=[case.pk, objectif.pk]),
        "basculer l'action": reverse("cases:action_toggle", args=[case.pk, action.pk]),
        "partage": reverse("cases:case_share_create", args=[case.pk]),
        "clôture": reverse("cases:cloture_create", args=[case.pk]),
        "suspension": reverse("cases:case_suspend", args=[case.pk]),
        "entretien": reverse("cases:entretien_create", args=[case.pk]),
        "document": reverse("cases:document_upload", args=[case.pk]),
        "supprimer le document": reverse("cases:document_delete", args=[document.pk]),
        "dispositif": reverse("cases:dispositif_create", args=[case.pk]),
        "modifier le dispositif": reverse("cases:dispositif_edit", args=d),
        "statut du dispositif": reverse("cases:dispositif_status", args=d),
        "période": reverse("cases:dispositif_periode_add", args=d),
        "supprimer la période": reverse("cases:dispositif_periode_delete", args=[*d, periode.pk]),
        "renouvellement": reverse("cases:dispositif_renew", args=d),
    }
    # What the page would contain to offer the action: a link or form to its URL, or, for
    # moving a meeting, the form posted to the meeting's own page.
    refused = {name: f'"{target}"' for name, target in urls.items()}
    refused["déplacer l'entretien"] = 'name="action" value="deplacer"'
    pages = {
        "accompagnement": reverse("cases:accompagnement_detail", args=[case.pk]),
        "plan d'aide": reverse("cases:plan_detail", args=[case.pk]),
        "évaluations": reverse("cases:evaluation_list", args=[case.pk]),
        "évaluation": reverse("cases:evaluation_detail", args=[case.pk, 1]),
        "dispositif": reverse("cases:dispositif_detail", args=d),
        "entretien": reverse("cases:entretien_edit", args=[past.pk]),
    }
    return {"case": case, "refused": refused, "pages": pages, "past": past}


PAGES = ["accompagnement", "plan d'aide", "évaluations", "évaluation", "dispositif", "entretien"]


def _offered(client, world, page):
    body = client.get(world["pages"][page]).content.decode()
    return {name for name, needle in world["refused"].items() if needle in body}


@pytest.mark.parametrize("page", PAGES)
def test_a_closed_case_offers_none_of_the_refused_actions(client, ass, world, page):
    client.force_login(ass)
    assert _offered(client, world, page), "the open case must offer some of them"
    services.case_close(
        accompagnement=world["case"],
        acting_user=ass,
        outcome="autre",
        date_cloture=timezone.localdate(),
    )
    response = client.get(world["pages"][page])
    assert response.status_code == 200
    assert _offered(client, world, page) == set()


def test_a_closed_case_still_offers_what_remains_possible(client, ass, world):
    case = world["case"]
    services.case_close(
        accompagnement=case, acting_user=ass, outcome="autre", date_cloture=timezone.localdate()
    )
    client.force_login(ass)
    page = client.get(world["pages"]["accompagnement"]).content.decode()
    for allowed in ("note_create", "consentement_create", "case_reopen"):
        assert reverse(f"cases:{allowed}", args=[case.pk]) in page
    # The meeting that took place is still to be recorded.
    assert reverse("cases:entretien_edit", args=[world["past"].pk]) in page
    detail = client.get(world["pages"]["dispositif"]).content.decode()
    assert "Rouvrez l'accompagnement pour le modifier" in detail


def test_a_conseiller_is_not_offered_to_move_a_meeting_of_a_closed_case(
    client, ass, conseiller, world
):
    services.case_close(
        accompagnement=world["case"],
        acting_user=ass,
        outcome="autre",
        date_cloture=timezone.localdate(),
    )
    client.force_login(conseiller)
    page = client.get(world["pages"]["accompagnement"]).content.decode()
    assert reverse("cases:entretien_edit", args=[world["past"].pk]) not in page


def test_a_cancelled_meeting_offers_no_report(client, ass, world):
    case = world["case"]
    cancelled = Entretien.objects.create(
        accompagnement=case,
        ass=ass,
        debut=timezone.now() + datetime.timedelta(days=3),
        mode="telephone",
        statut="annule",
    )
    client.force_login(ass)
    page = client.get(world["pages"]["accompagnement"]).content.decode()
    assert reverse("cases:entretien_edit", args=[cancelled.pk]) not in page
    assert reverse("cases:entretien_edit", args=[world["past"].pk]) in page
