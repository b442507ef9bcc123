"""The retention catalogue classifies every field of every model, and nothing else."""

import pytest
from django.apps import apps
from django.db import models

from privacy import catalogue
from privacy.catalogue import AGGREGATE, ANONYMISE, CATALOGUE, DELETE, KEEP, Table


def test_every_model_and_field_of_the_project_is_classified():
    assert catalogue.problems() == []


def test_an_unclassified_field_is_named(monkeypatch):
    table = CATALOGUE["referrals.Assure"]
    fields = dict(table.fields)
    del fields["nir"]
    monkeypatch.setitem(CATALOGUE, "referrals.Assure", Table(fields=fields, person="pk"))
    assert any(
        "Champ non classé" in p and "referrals.Assure.nir" in p for p in catalogue.problems()
    )


def test_an_unclassified_model_is_named(monkeypatch):
    monkeypatch.delitem(CATALOGUE, "pdp.Region")
    assert any("pdp.Region" in p and "non classé" in p for p in catalogue.problems())


def test_a_stale_field_or_model_is_named(monkeypatch):
    table = CATALOGUE["pdp.Region"]
    monkeypatch.setitem(
        CATALOGUE, "pdp.Region", Table(fields={**table.fields, "ancien_champ": KEEP})
    )
    monkeypatch.setitem(CATALOGUE, "referrals.Disparu", Table(fields={"id": KEEP}))
    found = catalogue.problems()
    assert any("pdp.Region.ancien_champ" in p and "n'existe plus" in p for p in found)
    assert any("referrals.Disparu" in p and "n'existe plus" in p for p in found)


def test_a_deleted_field_needs_a_path_to_the_person(monkeypatch):
    table = CATALOGUE["pdp.Region"]
    monkeypatch.setitem(CATALOGUE, "pdp.Region", Table(fields={**table.fields, "name": DELETE}))
    assert any("pdp.Region" in p and "chemin" in p for p in catalogue.problems())


def test_the_identifying_fields_of_a_person_are_not_kept():
    assure = CATALOGUE["referrals.Assure"].fields
    for name in ("nir", "nom_naissance", "prenoms", "telephone", "email", "adresse"):
        assert assure[name] == DELETE
    assert assure["date_naissance"] == AGGREGATE
    message = CATALOGUE["pdp.Message"].fields
    assert {message["recipient"], message["body"], message["subject"]} == {ANONYMISE}
    assert message["status"] == message["sent_at"] == message["channel"] == KEEP
    assert CATALOGUE["pdp.AuditLog"].fields["changes"] == ANONYMISE


def test_every_person_path_resolves_to_the_assure():
    from referrals.models import Assure

    for label, table in CATALOGUE.items():
        model = apps.get_model(label)
        for path in table.person_paths:
            if path in ("pk", "assure_id"):
                continue
            target = model
            for part in path.split("__"):
                target = target._meta.get_field(part).related_model
            assert target is Assure, label


@pytest.mark.django_db
def test_the_deletion_order_puts_each_model_before_those_it_protects():
    order = [model for model, _table in catalogue.deletion_order()]
    position = {model: i for i, model in enumerate(order)}
    for model in order:
        for field in model._meta.concrete_fields:
            if (
                field.is_relation
                and field.related_model in position
                and field.related_model is not model
            ) and field.remote_field.on_delete in (models.PROTECT, models.RESTRICT):
                assert position[model] < position[field.related_model], model
