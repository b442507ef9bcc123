"""The national-volume generator (`indicators/management/commands/generate_volume.py`)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Q

from cases.models import Accompagnement, Cloture, Entretien
from outreach.models import Cible
from pdp.identifiers import nir_normalize
from pdp.models import Region, Role, User
from referrals.models import ArretTravail, Assure, Signalement

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,  # COPY, setval and ANALYZE all run inside the test transaction
]

SCALE = 0.0005


def run(*args):
    out = io.StringIO()
    call_command("generate_volume", "--scale", str(SCALE), "--seed", "7", *args, stdout=out)
    return out.getvalue()


def test_it_fills_the_tables_in_proportion_to_the_scale():
    output = run()

    assert Assure.objects.count() == 1000
    assert ArretTravail.objects.count() == 1500
    assert Signalement.objects.count() == 300
    assert Accompagnement.objects.exclude(statut="cloture").count() == 100
    assert Accompagnement.objects.filter(statut="cloture").count() == 200
    assert Cloture.objects.count() == 200
    assert Region.objects.count() == 16
    assert User.objects.filter(role=Role.REGIONAL).count() == 16
    assert "referrals_assure" in output and "Volume généré en" in output


def test_the_rows_respect_the_models_rules():
    run()

    for nir in Assure.objects.values_list("nir", flat=True):
        assert nir_normalize(nir) == nir
    open_pairs = (
        Accompagnement.objects.exclude(statut="cloture")
        .values("assure", "mission")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not open_pairs.exists()
    assert not Accompagnement.objects.exclude(region=F("unit__region")).exists()
    assert not ArretTravail.objects.filter(assure__isnull=True).exists()
    assert not ArretTravail.objects.filter(date_fin_prevue__lt=F("date_debut")).exists()
    assert not Accompagnement.objects.filter(
        Q(statut="cloture", date_cloture__isnull=True)
        | (~Q(statut="cloture") & Q(date_cloture__isnull=False))
    ).exists()
    meetings = Entretien.objects.values("accompagnement").annotate(n=Count("id"))
    assert all(1 <= m["n"] <= 9 for m in meetings)  # 1–8 held, maybe one planned
    assert (
        not Cible.objects.values("campagne", "assure")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    durations = [(a.date_fin_prevue - a.date_debut).days + 1 for a in ArretTravail.objects.all()]
    assert sum(d <= 14 for d in durations) > len(durations) / 3
    assert any(d > 180 for d in durations)


def test_the_sequences_follow_the_copied_ids():
    run()

    assure = Assure.objects.create(nir="185057800608436", nom_naissance="Suite", prenoms="Test")

    assert assure.pk > Assure.objects.exclude(pk=assure.pk).order_by("-pk").first().pk


def test_a_second_run_is_refused_without_force():
    run()

    with pytest.raises(CommandError, match="La base contient déjà des assurés"):
        run()
    assert Assure.objects.count() == 1000


def test_force_adds_a_second_volume():
    run()

    run("--force")

    assert Assure.objects.count() == 2000
    assert Region.objects.count() == 16


def test_it_refuses_a_database_other_than_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")

    with pytest.raises(CommandError, match="exige PostgreSQL"):
        run()
