"""Database constraints of the domain records (domain §3)."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from cases.models import Accompagnement, Cloture, Consentement, Orientation
from referrals.models import ArretTravail, Assure, Signalement
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    SignalementFactory,
    UserFactory,
    make_nir,
)

pytestmark = pytest.mark.django_db
D = datetime.date(2026, 3, 1)


def _refused(**create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create.pop("model").objects.create(**create)


def test_a_nir_is_unique():
    person = AssureFactory()
    _refused(model=Assure, nir=person.nir, nom_naissance="X", prenoms="Y")


def test_an_episode_is_unique_per_person_and_start_date():
    arret = ArretFactory(date_debut=D)
    _refused(
        model=ArretTravail,
        assure=arret.assure,
        type_arret="MAL",
        date_debut=D,
        date_fin_prevue=D + datetime.timedelta(days=10),
    )


def test_the_same_start_date_is_allowed_for_another_person():
    ArretFactory(date_debut=D)
    assert ArretFactory(date_debut=D).pk


@pytest.mark.parametrize("field", ["date_fin_prevue", "date_fin_reelle"])
def test_an_end_before_the_start_is_refused(field):
    values = {"date_fin_prevue": D + datetime.timedelta(days=5), field: D - datetime.timedelta(1)}
    _refused(model=ArretTravail, assure=AssureFactory(), type_arret="MAL", date_debut=D, **values)


def test_an_end_on_the_start_day_is_allowed():
    arret = ArretFactory(date_debut=D, date_fin_prevue=D, date_fin_reelle=D)
    assert arret.duree_au(D) == 1


def test_one_open_accompagnement_per_person_and_mission(ass):
    case = AccompagnementFactory(referent=ass)
    _refused(model=Accompagnement, assure=case.assure, referent=ass, unit=ass.unit, mission="pdp")


def test_another_mission_or_a_closed_case_does_not_block(ass):
    case = AccompagnementFactory(referent=ass, statut="cloture", date_cloture=D)
    AccompagnementFactory(assure=case.assure, referent=ass)
    assert AccompagnementFactory(assure=case.assure, referent=ass, mission="securisation").pk


def test_a_closed_case_needs_a_closure_date(ass):
    _refused(
        model=Accompagnement,
        assure=AssureFactory(),
        referent=ass,
        unit=ass.unit,
        statut="cloture",
    )


def test_a_closure_requires_an_outcome(ass):
    case = AccompagnementFactory(referent=ass)
    _refused(model=Cloture, accompagnement=case, outcome="", date_cloture=D, closed_by=ass)


def test_a_referral_is_raised_once_per_arret_and_service(unit):
    arret = ArretFactory()
    SignalementFactory(assure=arret.assure, arret=arret, service="medical", unit=None)
    _refused(
        model=Signalement,
        assure=arret.assure,
        arret=arret,
        service="medical",
        origine="seuil_cpam",
    )


def test_one_open_social_referral_per_person(unit):
    first = SignalementFactory(unit=unit)
    _refused(
        model=Signalement, assure=first.assure, service="social", origine="spst", statut="nouveau"
    )
    first.statut = "refus"
    first.save()
    assert SignalementFactory(assure=first.assure, unit=unit).pk


def test_medical_statuses_are_refused_on_a_social_referral(unit):
    _refused(
        model=Signalement,
        assure=AssureFactory(),
        service="social",
        origine="spst",
        statut="transmis",
    )


def test_an_orientation_is_sent_only_with_the_persons_agreement(ass):
    case = AccompagnementFactory(referent=ass)
    _refused(
        model=Orientation,
        accompagnement=case,
        partner_kind="cap_emploi",
        motif="Bilan",
        statut="envoyee",
        accord_assure=False,
    )


def test_one_active_consent_per_scope(ass):
    person = AssureFactory()
    Consentement.objects.create(assure=person, portee="cellule_pdp", recorded_by=ass)
    _refused(model=Consentement, assure=person, portee="cellule_pdp", recorded_by=ass)


def test_a_unit_role_needs_a_unit():
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(ass=True, unit=None)


def test_no_model_has_a_diagnosis_field():
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.get_fields():
            assert "diagnos" not in field.name.lower(), f"{model.__name__}.{field.name}"


def test_factories_make_valid_nirs():
    from pdp.identifiers import nir_normalize

    assert nir_normalize(make_nir(42)) == make_nir(42)
