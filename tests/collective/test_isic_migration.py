"""The ISIC dispositifs of the cases become participations in one « reprise » action per unit
(collective/migrations/0003_isic_history), and the ISIC dispositif can no longer be
mobilised. The migration's function is called on rows made here."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from cases import dispositifs as rules
from cases.models import CaseEvent, DispositifMobilise, DispositifType
from collective.models import ActionCollective, ActionEvent, Participant
from pdp.models import AuditLog
from tests.factories import AccompagnementFactory, AssureFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("collective.migrations.0003_isic_history")
TODAY = timezone.localdate()


@pytest.fixture
def isic():
    """The type as before the migration: active."""
    DispositifType.objects.filter(code="isic").update(active=True)
    return DispositifType.objects.get(code="isic")


def dispositif(case, isic, statut, created_days_ago=60, **dates):
    row = DispositifMobilise.objects.create(accompagnement=case, type=isic, statut=statut, **dates)
    created = timezone.now() - datetime.timedelta(days=created_days_ago)
    DispositifMobilise.objects.filter(pk=row.pk).update(created_at=created)
    row.created_at = created
    return row


def test_the_migration_deactivated_the_isic_dispositif_on_this_database():
    assert DispositifType.objects.get(code="isic").active is False


def test_isic_dispositifs_become_participants_of_one_action_per_unit(isic, ass, colleague):
    other_unit = UnitFactory(region=ass.unit.region)
    far_ass = UserFactory(ass=True, unit=other_unit)
    done = dispositif(AccompagnementFactory(referent=ass), isic, "termine", created_days_ago=90)
    running = dispositif(
        AccompagnementFactory(referent=colleague),
        isic,
        "en_cours",
        date_debut=TODAY - datetime.timedelta(days=10),
        date_fin=TODAY + datetime.timedelta(days=30),
    )
    ended = dispositif(
        AccompagnementFactory(referent=ass),
        isic,
        "en_cours",
        date_debut=TODAY - datetime.timedelta(days=60),
        date_fin=TODAY - datetime.timedelta(days=5),
    )
    dropped = dispositif(AccompagnementFactory(referent=ass), isic, "abandonne")
    elsewhere = dispositif(AccompagnementFactory(referent=far_ass), isic, "termine")
    other_kind = DispositifMobilise.objects.create(
        accompagnement=AccompagnementFactory(referent=ass),
        type=DispositifType.objects.get(code="pmsmp"),
        statut="envisage",
    )

    migration.migrate_isic(apps, None)

    actions = ActionCollective.objects.filter(titre=migration.TITLE).order_by("pk")
    assert [(a.unit_id, a.type.code) for a in actions] == [
        (ass.unit_id, "isic"),
        (other_unit.pk, "isic"),
    ]
    rouen, far = actions
    assert rouen.animateur == ass  # the référent of the unit's first case, an ASS of the unit
    assert far.animateur == far_ass and far.statut == "terminee"
    assert rouen.statut == "en_cours"  # one participation still running
    status_of = {
        row.accompagnement_id: row.statut.code
        for row in Participant.objects.select_related("statut")
    }
    assert status_of == {
        done.accompagnement_id: "present",
        running.accompagnement_id: "inscrit",
        ended.accompagnement_id: "present",
        dropped.accompagnement_id: "annule",
        elsewhere.accompagnement_id: "present",
    }
    assert other_kind.accompagnement_id not in status_of
    rouen.refresh_from_db()
    assert rouen.places_prises == 3 and rouen.capacite is None
    first = Participant.objects.get(accompagnement=done.accompagnement)
    assert first.accord_le == done.created_at and first.inscrit_le == done.created_at
    assert first.accord_par == ass and first.source == "ass"
    assert CaseEvent.objects.filter(
        accompagnement=done.accompagnement, kind="collective", changes__dispositif=done.pk
    ).exists()
    assert ActionEvent.objects.filter(action=rouen, kind="reprise").exists()
    assert AuditLog.objects.filter(
        object_type="collective.participant", object_id=str(first.pk)
    ).exists()
    # The dispositif rows stay, the type cannot be mobilised any more.
    assert DispositifMobilise.objects.filter(type=isic).count() == 5
    isic.refresh_from_db()
    assert isic.active is False
    with pytest.raises(ValidationError, match="plus proposé"):
        rules.dispositif_create(
            accompagnement=AccompagnementFactory(referent=ass), acting_user=ass, type=isic
        )


def test_a_person_with_two_isic_in_a_unit_is_one_participant_and_a_rerun_adds_nothing(isic, ass):
    person = AssureFactory()
    case = AccompagnementFactory(referent=ass, assure=person)
    dispositif(case, isic, "termine", created_days_ago=200)
    dispositif(case, isic, "envisage", created_days_ago=20)
    migration.migrate_isic(apps, None)
    migration.migrate_isic(apps, None)
    assert Participant.objects.count() == 1
    assert Participant.objects.get().statut.code == "present"
    assert ActionCollective.objects.filter(titre=migration.TITLE).count() == 1
    assert CaseEvent.objects.filter(accompagnement=case, kind="collective").count() == 2


def test_the_reverse_restores_the_dispositif_and_removes_the_reprise(isic, ass):
    dispositif(AccompagnementFactory(referent=ass), isic, "termine")
    migration.migrate_isic(apps, None)
    migration.restore_isic(apps, None)
    assert not ActionCollective.objects.filter(titre=migration.TITLE).exists()
    assert DispositifType.objects.get(code="isic").active is True


def test_the_catalogue_no_longer_offers_isic(client, ass):
    case = AccompagnementFactory(referent=ass)
    client.force_login(ass)
    url = reverse("cases:dispositif_create", args=[case.pk])
    text = client.get(url).content.decode()
    assert "PMSMP" in text or "Essai encadré" in text
    assert "ISIC" not in text
    assert client.get(url, {"type": "isic"}).status_code == 404
