"""Every page that shows a person's file writes a read row (domain §11), including the forms
that show a record before it is changed."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import dispositifs as rules
from cases import services
from cases.agenda import entretien_schedule
from cases.models import DispositifType
from pdp.models import AuditLog
from tests.factories import AccompagnementFactory


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass)


def _reads(user, obj):
    return AuditLog.objects.filter(
        user=user,
        action=AuditLog.Action.VIEW,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
    )


def test_the_new_evaluation_form_prefilled_with_the_previous_one_is_audited(client, case, ass):
    previous = services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="faible", freins="Transport"
    )
    client.force_login(ass)
    response = client.get(reverse("cases:evaluation_create", args=[case.pk]))
    assert "Transport" in response.content.decode()
    (log,) = _reads(ass, previous)
    assert log.assure_id == case.assure_id
    assert log.changes == {"page": "nouvelle évaluation"}


def test_the_plan_page_is_audited(client, case, ass):
    client.force_login(ass)
    assert client.get(reverse("cases:plan_detail", args=[case.pk])).status_code == 200
    assert _reads(ass, case).filter(changes__page="plan d'aide").count() == 1


def test_the_objective_and_orientation_forms_are_audited(client, case, ass):
    objectif = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="emploi", libelle="Reprise"
    )
    orientation = services.orientation_create(
        accompagnement=case,
        acting_user=ass,
        partner_kind="cap_emploi",
        motif="Bilan",
        accord_assure=True,
    )
    client.force_login(ass)
    client.get(reverse("cases:objectif_update", args=[case.pk, objectif.pk]))
    client.get(reverse("cases:orientation_update", args=[case.pk, orientation.pk]))
    assert _reads(ass, objectif).count() == 1
    assert _reads(ass, orientation).count() == 1


def test_the_meeting_page_and_the_person_edit_form_are_audited(client, case, ass):
    entretien = entretien_schedule(
        accompagnement=case,
        acting_user=ass,
        debut=timezone.now() + datetime.timedelta(days=2),
        mode="telephone",
    )
    client.force_login(ass)
    assert client.get(reverse("cases:entretien_edit", args=[entretien.pk])).status_code == 200
    assert client.get(reverse("cases:assure_edit", args=[case.assure_id])).status_code == 200
    assert _reads(ass, entretien).get().assure_id == case.assure_id
    assert _reads(ass, case.assure).filter(changes__page="modification des coordonnées").exists()


def test_the_dispositif_edit_form_is_audited(client, case, ass):
    dispositif = rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code="bilan_competences"),
    )
    client.force_login(ass)
    response = client.get(reverse("cases:dispositif_edit", args=[case.pk, dispositif.pk]))
    assert response.status_code == 200
    assert _reads(ass, dispositif).filter(changes__page="modification du dispositif").exists()


def test_search_results_write_a_read_row_per_person_listed(client, case, ass):
    client.force_login(ass)
    response = client.post(reverse("cases:search"), {"q": case.assure.nom_naissance}, follow=True)
    assert response.status_code == 200
    logs = AuditLog.objects.filter(user=ass, action="view", changes__page="recherche")
    assert list(logs.values_list("assure_id", flat=True)) == [case.assure_id]


def test_the_inbox_writes_a_read_row_per_referral_listed(client, ass):
    from tests.factories import SignalementFactory

    listed = [SignalementFactory(unit=ass.unit) for _ in range(3)]
    client.force_login(ass)
    assert client.get(reverse("referrals:inbox"), {"vue": "unite"}).status_code == 200
    logs = AuditLog.objects.filter(user=ass, changes__page="liste des signalements")
    assert sorted(logs.values_list("assure_id", flat=True)) == sorted(s.assure_id for s in listed)
