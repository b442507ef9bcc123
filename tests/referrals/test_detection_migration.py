"""The data migration that fills Signalement.region on the rows that existed before it."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("referrals", "0007_signalement_region")]
FILLED = [("referrals", "0008_fill_signalement_region")]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def old_apps():
    """The models as they were before the fill; the database is migrated back to the latest
    state at the end."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _world(apps):
    Region = apps.get_model("pdp", "Region")
    nor, bre, idf = (Region.objects.create(code=code, name=code) for code in ("NOR", "BRE", "IDF"))
    cpam = apps.get_model("pdp", "CpamOffice")
    cpam_nor = cpam.objects.create(region=nor, code="761", name="CPAM 761")
    cpam_bre = cpam.objects.create(region=bre, code="291", name="CPAM 291")
    unit_bre = apps.get_model("pdp", "Unit").objects.create(region=bre, code="BRE1", name="Brest")
    User = apps.get_model("pdp", "User")
    worker_bre = User.objects.create(username="ass.brest", role="ass", unit=unit_bre)
    medecin_idf = User.objects.create(username="medecin.idf", role="medecin_conseil", region=idf)
    return nor, bre, idf, cpam_nor, cpam_bre, unit_bre, worker_bre, medecin_idf


def _person(apps, n, cpam):
    return apps.get_model("referrals", "Assure").objects.create(
        nir=f"18505760060{n:02d}", nom_naissance=f"Nom{n}", prenoms="Prénom", cpam=cpam
    )


def _referral(apps, person, **kwargs):
    kwargs.setdefault("service", "social")
    kwargs.setdefault("statut", "refus")  # closed: several per person are allowed
    return apps.get_model("referrals", "Signalement").objects.create(
        assure=person, origine="spst", **kwargs
    )


def test_the_migration_fills_the_region_with_the_rule_of_the_creation_paths(old_apps):
    apps = old_apps
    nor, bre, idf, cpam_nor, cpam_bre, unit_bre, worker_bre, medecin_idf = _world(apps)
    Arret = apps.get_model("referrals", "ArretTravail")
    in_nor = _person(apps, 1, cpam_nor)
    no_cpam = _person(apps, 2, None)
    arret_bre = Arret.objects.create(
        assure=in_nor, type_arret="MAL", date_debut="2026-01-05", date_fin_prevue="2026-06-01",
        cpam=cpam_bre,
    )  # fmt: skip
    arret_without_cpam = Arret.objects.create(
        assure=in_nor, type_arret="MAL", date_debut="2025-01-05", date_fin_prevue="2025-06-01"
    )
    expected = {
        # the arrêt's CPAM wins over the person's
        _referral(apps, in_nor, arret=arret_bre, service="medical", statut="transmis").pk: bre,
        # else the person's CPAM
        _referral(apps, in_nor, arret=arret_without_cpam).pk: nor,
        # else the unit
        _referral(apps, no_cpam, unit=unit_bre).pk: bre,
        # else the creator's unit, else the creator's own region
        _referral(apps, no_cpam, created_by=worker_bre).pk: bre,
        _referral(apps, no_cpam, created_by=medecin_idf).pk: idf,
    }
    medical = _referral(apps, no_cpam, service="medical", statut="transmis", created_by=medecin_idf)
    forwarded = _referral(apps, no_cpam, forwarded_from=medical)  # nothing else to go by
    expected.update({medical.pk: idf, forwarded.pk: idf})

    executor = MigrationExecutor(connection)
    executor.migrate(FILLED)

    Signalement = executor.loader.project_state(FILLED).apps.get_model("referrals", "Signalement")
    assert dict(Signalement.objects.values_list("pk", "region_id")) == {
        pk: region.pk for pk, region in expected.items()
    }


def test_the_migration_stops_on_a_referral_it_cannot_place(old_apps):
    _world(old_apps)
    lost = _referral(old_apps, _person(old_apps, 3, None))
    migration = importlib.import_module("referrals.migrations.0008_fill_signalement_region")

    with pytest.raises(RuntimeError, match=rf"first ids: \[{lost.pk}\]"):
        migration.fill_region(old_apps, None)

    lost.delete()
