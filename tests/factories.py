"""factory_boy factories. Users have role traits: UserFactory(ass=True), (manager=True)…"""

import datetime

import factory
from django.utils import timezone

from cases import models as cm
from pdp import models as pm
from pdp.identifiers import nir_key
from referrals import models as rm


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Region
        django_get_or_create = ["code"]

    code = "NOR"
    name = "CARSAT Normandie"


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Unit

    region = factory.SubFactory(RegionFactory)
    code = factory.Sequence(lambda n: f"U{n:03d}")
    name = factory.Sequence(lambda n: f"Unité {n}")


class UnitTerritoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.UnitTerritory

    unit = factory.SubFactory(UnitFactory)
    prefix = "76"


class CpamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.CpamOffice
        django_get_or_create = ["code"]

    region = factory.SubFactory(RegionFactory)
    code = "761"
    name = "CPAM de Rouen-Elbeuf-Dieppe"


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Partner

    kind = pm.PartnerKind.CAP_EMPLOI
    name = factory.Sequence(lambda n: f"Partenaire {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="fr_FR")
    last_name = factory.Faker("last_name", locale="fr_FR")
    role = pm.Role.ASS
    unit = factory.SubFactory(UnitFactory)
    password = factory.PostGenerationMethodCall("set_password", "motdepasse-test")

    class Params:
        ass = factory.Trait(role=pm.Role.ASS)
        conseiller = factory.Trait(role=pm.Role.CONSEILLER)
        manager = factory.Trait(role=pm.Role.MANAGER)
        regional = factory.Trait(
            role=pm.Role.REGIONAL, unit=None, region=factory.SubFactory(RegionFactory)
        )
        medecin = factory.Trait(
            role=pm.Role.MEDECIN, unit=None, region=factory.SubFactory(RegionFactory)
        )
        coordinateur = factory.Trait(role=pm.Role.COORDINATEUR, unit=None)
        admin = factory.Trait(role=pm.Role.ADMIN, unit=None, is_staff=True, is_superuser=True)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_nir(n, sex="1", year="85", month="05", dept="76"):
    """A valid NIR whose order number derives from n (unique for n < 1000 * 1000)."""
    commune = f"{(n // 1000) % 1000:03d}"
    order = f"{n % 1000:03d}"
    body = f"{sex}{year}{month}{dept}{commune}{order}"
    return body + nir_key(body)


class AssureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = rm.Assure

    nir = factory.Sequence(lambda n: make_nir(n + 1))
    nom_naissance = factory.Faker("last_name", locale="fr_FR")
    prenoms = factory.Faker("first_name", locale="fr_FR")
    date_naissance = datetime.date(1985, 5, 12)
    sexe = "1"
    code_postal = "76000"
    commune = "Rouen"
    cpam = factory.SubFactory(CpamFactory)


class ArretFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = rm.ArretTravail

    assure = factory.SubFactory(AssureFactory)
    type_arret = rm.TypeArret.MALADIE
    date_debut = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=100))
    date_fin_prevue = factory.LazyAttribute(lambda o: o.date_debut + datetime.timedelta(days=180))
    cpam = factory.SelfAttribute("assure.cpam")


def _referral_region(o):
    """As the creation paths do: the arrêt's CPAM, the person's, the unit's, else a region."""
    cpam = (o.arret.cpam if o.arret is not None else None) or o.assure.cpam
    if cpam is not None:
        return cpam.region
    return o.unit.region if o.unit is not None else RegionFactory()


class SignalementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = rm.Signalement

    assure = factory.SubFactory(AssureFactory)
    arret = None
    service = rm.Service.SOCIAL
    origine = rm.Origine.SEUIL_CPAM
    statut = rm.Statut.A_CONTACTER
    unit = factory.SubFactory(UnitFactory)
    region = factory.LazyAttribute(_referral_region)
    date_echeance = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=20))


class AccompagnementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Accompagnement

    assure = factory.SubFactory(AssureFactory)
    referent = factory.SubFactory(UserFactory, ass=True)
    unit = factory.SelfAttribute("referent.unit")
    mission = cm.Mission.PDP


class CaseEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.CaseEvent

    accompagnement = factory.SubFactory(AccompagnementFactory)
    kind = cm.CaseEvent.Kind.NOTE
    summary = "Note"


class EntretienFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Entretien

    accompagnement = factory.SubFactory(AccompagnementFactory)
    ass = factory.SelfAttribute("accompagnement.referent")
    # One hour apart for each new meeting: planned meetings of one ASS never overlap (database).
    debut = factory.Sequence(lambda n: timezone.now() + datetime.timedelta(days=2, hours=n))
    duree_minutes = 60
    mode = cm.Entretien.Mode.SUR_PLACE
    statut = cm.Entretien.Statut.PLANIFIE
