"""factory_boy factories. Users have role traits: UserFactory(ass=True), (manager=True)…"""

import datetime

import factory
from django.utils import timezone

from cases import models as cm
from collective import models as colm
from coordination import models as co
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
        partenaire = factory.Trait(role=pm.Role.PARTENAIRE, unit=None)
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


class ConsentementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Consentement

    assure = factory.SubFactory(AssureFactory)
    portee = cm.Consentement.Portee.CELLULE_PDP
    recorded_by = factory.SubFactory(UserFactory, ass=True)


# --- Cellule PDP -----------------------------------------------------------------------------


class PartnerContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.PartnerContact

    partner = factory.SubFactory(PartnerFactory)
    name = factory.Faker("name", locale="fr_FR")
    email = factory.Sequence(lambda n: f"contact{n}@partenaire.example")


class InstanceFactory(factory.django.DjangoModelFactory):
    """An instance; give `units=[unit]` (its territory) and `coordinateurs=[user]`."""

    class Meta:
        model = co.Instance
        skip_postgeneration_save = True

    region = factory.SubFactory(RegionFactory)
    type = co.InstanceType.CELLULE
    nom = factory.Sequence(lambda n: f"Cellule PDP n° {n}")
    quorum_organisations = 3
    quorum_obligatoires = ["service_social", "service_medical"]

    @factory.post_generation
    def units(self, create, extracted, **kwargs):
        if extracted:
            self.units.set(extracted)

    @factory.post_generation
    def coordinateurs(self, create, extracted, **kwargs):
        if extracted:
            self.coordinateurs.set(extracted)


class MembreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = co.MembreInstance

    instance = factory.SubFactory(InstanceFactory)
    user = factory.SubFactory(UserFactory, ass=True)
    organisation = co.Organisation.SERVICE_SOCIAL
    date_debut = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=365))


class SaisineFactory(factory.django.DjangoModelFactory):
    """A submission with its consent (created through the model: services are tested apart)."""

    class Meta:
        model = co.Saisine

    accompagnement = factory.SubFactory(AccompagnementFactory)
    instance = factory.SubFactory(
        InstanceFactory, region=factory.SelfAttribute("..accompagnement.unit.region")
    )
    consentement = factory.SubFactory(
        ConsentementFactory,
        assure=factory.SelfAttribute("..accompagnement.assure"),
        recorded_by=factory.SelfAttribute("..accompagnement.referent"),
    )
    question = "Quel aménagement de poste proposer ?"
    initiales = "A. B."
    tranche_age = co.TrancheAge.A45_54
    limitations = "Port de charges limité à 5 kg."
    submitted_by = factory.SelfAttribute("accompagnement.referent")
    submitted_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=10))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        saisine = super()._create(model_class, *args, **kwargs)
        saisine.instance.units.add(saisine.accompagnement.unit)
        return saisine


class ReunionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = co.Reunion

    instance = factory.SubFactory(InstanceFactory)
    debut = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=7))
    lieu = "Salle du conseil, CARSAT"
    created_by = factory.SubFactory(UserFactory, coordinateur=True)


class ActionCollectiveFactory(factory.django.DjangoModelFactory):
    """An ISIC led by an ASS of a unit, in projet; `type` by code (« isic », « webinaire »…)."""

    class Meta:
        model = colm.ActionCollective
        skip_postgeneration_save = True

    type = factory.LazyFunction(lambda: colm.ActionType.objects.get(code="isic"))
    titre = factory.Sequence(lambda n: f"Groupe n° {n}")
    animateur = factory.SubFactory(UserFactory, ass=True)
    unit = factory.LazyAttribute(lambda o: o.animateur.unit)
    region = factory.LazyAttribute(lambda o: o.animateur.unit.region)
    created_by = factory.LazyAttribute(lambda o: o.animateur)
    capacite = 10


class SeanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = colm.Seance

    action = factory.SubFactory(ActionCollectiveFactory)
    debut = factory.Sequence(
        lambda n: timezone.now().replace(microsecond=0) + datetime.timedelta(days=7 * (n + 1))
    )
    lieu = "Salle de réunion de l'agence"
