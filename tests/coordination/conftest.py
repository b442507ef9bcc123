"""A small cellule: an instance covering the unit, its coordinator, members of the service
social, the service médical and Cap emploi (a partner with an account), and a case of `ass`
with the consent « Présentation à la cellule PDP »."""

import datetime

import pytest
from django.utils import timezone

from coordination.models import Organisation
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    ConsentementFactory,
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    UserFactory,
)


@pytest.fixture
def coordinateur(db):
    return UserFactory(coordinateur=True, first_name="Claire", last_name="Fontaine")


@pytest.fixture
def instance(unit, coordinateur):
    return InstanceFactory(region=unit.region, units=[unit], coordinateurs=[coordinateur])


@pytest.fixture
def membre_social(instance, manager):
    return MembreFactory(instance=instance, user=manager, organisation=Organisation.SERVICE_SOCIAL)


@pytest.fixture
def membre_medical(instance, medecin):
    return MembreFactory(instance=instance, user=medecin, organisation=Organisation.SERVICE_MEDICAL)


@pytest.fixture
def partenaire(db):
    return UserFactory(partenaire=True, first_name="Paul", last_name="Cap")


@pytest.fixture
def membre_partenaire(instance, partenaire):
    contact = PartnerContactFactory(name="Paul Cap")
    return MembreFactory(
        instance=instance, user=partenaire, contact=contact, organisation=Organisation.CAP_EMPLOI
    )


@pytest.fixture
def membres(membre_social, membre_medical, membre_partenaire):
    return [membre_social, membre_medical, membre_partenaire]


@pytest.fixture
def case(ass):
    # Names no member or page text can hold by chance (the tests look for them in pages).
    person = AssureFactory(
        nom_naissance="Quesnel-Tarrade",
        prenoms="Ombeline",
        telephone="0611223344",
        adresse="7 impasse des Glycines",
    )
    return AccompagnementFactory(referent=ass, assure=person)


@pytest.fixture
def consent(case, ass):
    return ConsentementFactory(
        assure=case.assure,
        recorded_by=ass,
        date_recueil=timezone.localdate() - datetime.timedelta(days=3),
    )


FICHE = {
    "initiales": "J. D.",
    "tranche_age": "45-54",
    "sexe": "Femme",
    "situation_emploi": "CDI",
    "poste": "Aide-soignante",
    "secteur_employeur": "Santé",
    "taille_employeur": "ge",
    "arret": "Maladie, 150 jours (en cours)",
    "limitations": "Port de charges limité, station debout prolongée impossible.",
    "freins": "Crainte de perdre son poste.",
    "pistes": "",
    "dispositifs": "",
    "urgence": "normale",
}
