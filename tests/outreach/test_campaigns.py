"""Outreach campaigns, first step: channel rules at their edges, exclusions, re-simulation,
constant number of statements, capacity check, validation, pages (404 / 403)."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Motif, PlageOuverture
from outreach import campaigns
from outreach.models import Campagne, CampagneEvent, Cible, RegleCanal
from pdp.models import AuditLog, CpamOffice, Region, UnitTerritory
from referrals.models import (
    ArretTravail,
    Assure,
    ContactAttempt,
    CpamImport,
    CpamImportCaisse,
    Statut,
)
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
    make_nir,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
DAY = datetime.date(2027, 3, 1)  # a Monday
NOW = datetime.datetime(2027, 3, 1, 8, 0, tzinfo=PARIS)
MOBILE = "06 12 34 56 78"


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def unit(region):
    unit = UnitFactory(region=region, telephone="02 35 00 00 00")
    UnitTerritory.objects.create(unit=unit, prefix="76")
    return unit


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


@pytest.fixture
def rules(region):
    """The region's own rules (the defaults are then ignored)."""
    specs = [
        (10, {"age_max": 29}, "sms"),
        (20, {"duree_min": 180}, "appel"),
        (30, {"ij_min": Decimal("60.00")}, "webinaire"),
        (40, {"contact_connu": "email"}, "email"),
        (50, {"contact_connu": "adresse"}, "courrier"),
        (60, {}, "aucun"),
    ]
    return [
        RegleCanal.objects.create(region=region, ordre=o, libelle=f"Règle {o}", canal=c, **cond)
        for o, cond, c in specs
    ]


def years_before(day, years):
    return day.replace(year=day.year - years)


def person(days=100, born=datetime.date(1985, 5, 12), ij=None, cp="76000", **fields):
    """A person with one arrêt lasting `days` days on DAY (start day counted)."""
    fields.setdefault("adresse", "")
    assure = AssureFactory(date_naissance=born, code_postal=cp, **fields)
    ArretTravail.objects.create(
        assure=assure,
        type_arret="MAL",
        date_debut=DAY - datetime.timedelta(days=days - 1),
        date_fin_prevue=DAY + datetime.timedelta(days=30),
        cpam=assure.cpam,
        montant_ij=ij,
    )
    return assure


def campagne_for(manager, **fields):
    return campaigns.campagne_create(
        acting_user=manager, nom="Campagne de mars", date_reference=DAY, **fields
    )


def simulate(campagne, manager):
    return campaigns.campagne_simulate(campagne=campagne, acting_user=manager, now=NOW)


def target(campagne, assure):
    return Cible.objects.get(campagne=campagne, assure=assure)


# --- Rules at their edges --------------------------------------------------------------------


def test_age_29_gets_the_young_rule_and_30_does_not(manager, rules):
    young = person(born=years_before(DAY, 30) + datetime.timedelta(days=1), telephone=MOBILE)
    thirty = person(born=years_before(DAY, 30), telephone=MOBILE, email="a@example.org")
    c = simulate(campagne_for(manager), manager)
    assert target(c, young).canal == "sms"
    assert target(c, young).regle == rules[0]
    assert target(c, thirty).canal == "email"
    assert target(c, thirty).regle == rules[3]


def test_duration_edges_population_and_rule(manager, rules):
    short = person(days=89, email="a@example.org")
    ninety = person(days=90, email="b@example.org")
    d179 = person(days=179, telephone="02 35 11 22 33", email="c@example.org")
    d180 = person(days=180, telephone="02 35 11 22 33")
    c = simulate(campagne_for(manager), manager)
    assert not Cible.objects.filter(campagne=c, assure=short).exists()
    assert target(c, ninety).canal == "email"
    assert target(c, d179).canal == "email"
    assert target(c, d180).canal == "appel"
    assert target(c, d180).exclusion == ""


def test_ij_amount_edges_and_unknown_amount(manager, rules):
    below = person(ij=Decimal("59.99"), email="a@example.org")
    at = person(ij=Decimal("60.00"), email="b@example.org")
    unknown = person(ij=None, email="c@example.org")
    c = simulate(campagne_for(manager), manager)
    assert target(c, below).canal == "email"
    assert target(c, at).canal == "webinaire"
    assert target(c, unknown).canal == "email"


def test_contact_known_or_not(manager, rules):
    with_mail = person(email="a@example.org", adresse="1 rue Jeanne d'Arc")
    with_address = person(adresse="1 rue Jeanne d'Arc")
    nothing = person()
    c = simulate(campagne_for(manager), manager)
    assert target(c, with_mail).canal == "email"
    assert target(c, with_address).canal == "courrier"
    assert target(c, nothing).canal == "aucun"
    assert target(c, nothing).regle == rules[-1]
    assert target(c, nothing).exclusion == ""


def test_default_rules_apply_when_the_region_has_none(manager):
    assert not RegleCanal.objects.filter(region=manager.unit.region).exists()
    if not RegleCanal.objects.filter(region__isnull=True).exists():
        pytest.skip("default rules truncated")
    mobile = person(telephone=MOBILE)
    c = simulate(campagne_for(manager), manager)
    assert target(c, mobile).canal == "sms"
    assert target(c, mobile).regle.region_id is None


def test_inactive_rule_is_skipped(manager, rules):
    campaigns.regle_set_active(regle=rules[0], acting_user=manager, active=False)
    young = person(born=years_before(DAY, 25), email="a@example.org")
    c = simulate(campagne_for(manager), manager)
    assert target(c, young).canal == "email"


# --- Exclusions ------------------------------------------------------------------------------


def test_each_exclusion_reason(manager, rules, unit):
    followed = person(email="a@example.org")
    SignalementFactory(assure=followed, unit=unit)
    in_case = person(email="b@example.org")
    AccompagnementFactory(assure=in_case, referent=UserFactory(ass=True, unit=unit))
    refused = person(email="c@example.org")
    SignalementFactory(assure=refused, unit=unit, statut=Statut.REFUS)
    outside = person(email="d@example.org", cp="14000")  # no territory for Calvados
    recent = person(email="e@example.org")
    closed = SignalementFactory(assure=recent, unit=unit, statut=Statut.SANS_REPONSE)
    ContactAttempt.objects.create(
        signalement=closed, canal="telephone", resultat="pas_de_reponse", at=NOW
    )
    no_mobile = person(born=years_before(DAY, 25), telephone="02 35 11 22 33")
    fine = person(email="f@example.org")
    c = simulate(campagne_for(manager), manager)
    assert target(c, followed).exclusion == "suivi"
    assert target(c, in_case).exclusion == "suivi"
    assert target(c, refused).exclusion == "opposition"
    assert target(c, outside).exclusion == "hors_territoire"
    assert target(c, recent).exclusion == "contact_recent"
    assert target(c, no_mobile).exclusion == "sans_contact"
    assert target(c, no_mobile).canal == "sms"
    assert target(c, fine).exclusion == ""
    figures = c.simulation
    assert figures["exclusions"] == {
        "suivi": 2,
        "opposition": 1,
        "sans_contact": 1,
        "hors_territoire": 1,
        "contact_recent": 1,
    }
    assert figures["canaux"]["email"] == 1
    assert figures["total"] == 7


def test_old_contact_and_old_refusal_do_not_exclude(manager, rules, unit):
    old = person(email="a@example.org")
    sig = SignalementFactory(assure=old, unit=unit, statut=Statut.REFUS)
    type(sig).objects.filter(pk=sig.pk).update(updated_at=NOW - datetime.timedelta(days=400))
    ContactAttempt.objects.create(
        signalement=sig, canal="telephone", resultat="joint", at=NOW - datetime.timedelta(days=61)
    )
    c = simulate(campagne_for(manager), manager)
    assert target(c, old).exclusion == ""


def test_target_of_another_validated_campaign_is_recent_contact(manager, rules):
    p = person(email="a@example.org")
    first = simulate(campagne_for(manager), manager)
    campaigns.campagne_validate(campagne=first, acting_user=manager, now=NOW)
    draft = simulate(campagne_for(manager), manager)  # a draft contacts nobody
    second = simulate(campagne_for(manager), manager)
    assert target(second, p).exclusion == "contact_recent"
    assert target(draft, p).exclusion == "contact_recent"
    # the draft itself does not count for a third campaign: only the validated one does
    Campagne.objects.filter(pk=first.pk).delete()
    third = simulate(campagne_for(manager), manager)
    assert target(third, p).exclusion == ""


def test_person_of_another_unit_is_not_in_a_unit_campaign(manager, rules, region):
    other = UnitFactory(region=region)
    UnitTerritory.objects.create(unit=other, prefix="27")
    theirs = person(email="a@example.org", cp="27000")
    c = simulate(campagne_for(manager), manager)
    assert not Cible.objects.filter(campagne=c, assure=theirs).exists()
    regional = UserFactory(regional=True, region=region)
    rc = campaigns.campagne_create(acting_user=regional, nom="Région", date_reference=DAY)
    rc = campaigns.campagne_simulate(campagne=rc, acting_user=regional, now=NOW)
    assert target(rc, theirs).exclusion == ""


def test_other_region_cpam_is_not_in_the_population(manager, rules):
    other_region = Region.objects.create(code="BRE", name="CARSAT Bretagne")
    cpam = CpamFactory(code="351", region=other_region, name="CPAM d'Ille-et-Vilaine")
    theirs = person(email="a@example.org", cpam=cpam)
    c = simulate(campagne_for(manager), manager)
    assert not Cible.objects.filter(campagne=c, assure=theirs).exists()


def test_population_of_one_cpam_import(manager, rules):
    inside = person(email="a@example.org")
    imp = CpamImport.objects.create(file_name="x.csv", status="processed", user=manager)
    CpamImportCaisse.objects.create(cpam_import=imp, cpam=inside.cpam, line_count=1)
    person(email="b@example.org")
    ArretTravail.objects.filter(assure=inside).update(last_import=imp)
    c = simulate(campagne_for(manager, cpam_import=imp), manager)
    assert list(Cible.objects.filter(campagne=c).values_list("assure", flat=True)) == [inside.pk]


# --- Re-simulation, statements, capacity, validation -----------------------------------------


def test_resimulation_replaces_targets(manager, rules):
    p = person(email="a@example.org")
    c = simulate(campagne_for(manager), manager)
    first_ids = set(Cible.objects.filter(campagne=c).values_list("pk", flat=True))
    person(email="b@example.org")
    c = simulate(c, manager)
    assert Cible.objects.filter(campagne=c).count() == 2
    assert Cible.objects.filter(campagne=c, assure=p).count() == 1
    assert not first_ids & set(Cible.objects.filter(campagne=c).values_list("pk", flat=True))
    assert c.statut == "simulee"
    assert CampagneEvent.objects.filter(campagne=c, kind="simulated").count() == 2


def test_unique_target_per_person(manager, rules):
    from django.db import IntegrityError, transaction

    p = person(email="a@example.org")
    c = simulate(campagne_for(manager), manager)
    t = target(c, p)
    with pytest.raises(IntegrityError), transaction.atomic():
        Cible.objects.create(campagne=c, assure=p, arret_id=t.arret_id, canal="sms", created_at=NOW)


def _population(n, offset):
    cpam = CpamOffice.objects.get(code="761")
    people = Assure.objects.bulk_create(
        Assure(
            nir=make_nir(offset + i),
            nom_naissance="Martin",
            prenoms="Jean",
            date_naissance=datetime.date(1970 + i % 40, 1, 1),
            code_postal="76000",
            commune="Rouen",
            adresse="1 rue de la Paix" if i % 3 else "",
            telephone=MOBILE if i % 2 else "",
            email="x@example.org" if i % 5 == 0 else "",
            cpam=cpam,
        )
        for i in range(n)
    )
    ArretTravail.objects.bulk_create(
        ArretTravail(
            assure=a,
            type_arret="MAL",
            date_debut=DAY - datetime.timedelta(days=90 + i % 200),
            date_fin_prevue=DAY + datetime.timedelta(days=10),
            cpam=cpam,
        )
        for i, a in enumerate(people)
    )


def _statements(manager, n, offset):
    _population(n, offset)
    c = campagne_for(manager)
    with CaptureQueriesContext(connection) as ctx:
        simulate(c, manager)
    assert Cible.objects.filter(campagne=c).count() >= n
    return len(ctx.captured_queries)


def test_statement_count_does_not_depend_on_population(manager, rules):
    AssureFactory()  # the CPAM row
    small = _statements(manager, 10, 100_000)
    large = _statements(manager, 1000, 200_000)
    assert small == large
    assert large <= 18


def test_capacity_warning(manager, rules, unit):
    motif, _ = Motif.objects.get_or_create(
        label="Premier rendez-vous", defaults={"duree_minutes": 60}
    )
    ass = UserFactory(ass=True, unit=unit)
    PlageOuverture.objects.create(
        ass=ass,
        weekday=1,
        heure_debut=datetime.time(9, 0),
        heure_fin=datetime.time(11, 0),
        lieu="Agence",
        modes=["sur_place", "telephone"],
        premier_jour=datetime.date(2027, 1, 1),
    )
    for i in range(7):
        person(email=f"p{i}@example.org")
    # 7 e-mails × 15 % → 2 answers expected; Tuesdays 9–11 in 10 days: 2 × 2 = 4 slots or fewer
    c = simulate(campagne_for(manager), manager)
    cap = c.simulation["capacite"]
    assert cap["reponses_attendues"] == 2
    assert cap["ass"] == 1
    assert 0 < cap["creneaux_libres"] <= 4
    assert cap["alerte"] is False
    c = campaigns.campagne_update(campagne=c, acting_user=manager, taux_reponse=100)
    assert c.statut == "brouillon"
    c = simulate(c, manager)
    assert c.simulation["capacite"]["reponses_attendues"] == 7
    assert c.simulation["capacite"]["alerte"] is True


def test_validation_freezes_figures_and_locks(manager, rules):
    person(email="a@example.org")
    c = campagne_for(manager)
    with pytest.raises(ValidationError):
        campaigns.campagne_validate(campagne=c, acting_user=manager, now=NOW)
    c = simulate(c, manager)
    c = campaigns.campagne_validate(campagne=c, acting_user=manager, now=NOW)
    assert c.statut == "validee" and c.validee_par == manager
    event = CampagneEvent.objects.get(campagne=c, kind="validated")
    assert event.data["canaux"]["email"] == 1
    with pytest.raises(ValidationError):
        simulate(c, manager)
    with pytest.raises(ValidationError):
        campaigns.campagne_update(campagne=c, acting_user=manager, nom="Autre")
    assert AuditLog.objects.filter(object_type="outreach.campagne", object_id=str(c.pk)).exists()


def test_only_the_units_manager_simulates_and_validates(manager, rules, unit, region):
    c = simulate(campagne_for(manager), manager)
    for user in (
        UserFactory(ass=True, unit=unit),
        UserFactory(manager=True, unit=UnitFactory(region=region)),
        UserFactory(regional=True, region=region),
    ):
        with pytest.raises(PermissionDenied):
            campaigns.campagne_validate(campagne=c, acting_user=user, now=NOW)
        with pytest.raises(PermissionDenied):
            simulate(c, user)


def test_rules_copy_move_and_audit(manager):
    region_id = manager.unit.region_id
    if not RegleCanal.objects.filter(region__isnull=True).exists():
        pytest.skip("default rules truncated")
    regle = campaigns.regle_create(
        acting_user=manager,
        libelle="Intérim : webinaire",
        situation_emploi="interim",
        canal="webinaire",
    )
    own = list(RegleCanal.objects.filter(region_id=region_id).order_by("ordre"))
    assert len(own) == RegleCanal.objects.filter(region__isnull=True).count() + 1
    assert own[-1] == regle
    campaigns.regle_move(regle=regle, acting_user=manager, up=True)
    own = list(RegleCanal.objects.filter(region_id=region_id).order_by("ordre"))
    assert own[-2] == regle
    assert len({r.ordre for r in own}) == len(own)
    assert AuditLog.objects.filter(object_type="outreach.reglecanal").count() >= len(own) + 1
    default = RegleCanal.objects.filter(region__isnull=True).first()
    with pytest.raises(PermissionDenied):
        campaigns.regle_update(regle=default, acting_user=manager, libelle="x")


# --- Pages -----------------------------------------------------------------------------------


def test_pages_404_other_region_403_others(client, manager, rules, unit):
    c = campagne_for(manager)
    other_region = Region.objects.create(code="BRE", name="CARSAT Bretagne")
    stranger = UserFactory(manager=True, unit=UnitFactory(region=other_region))
    ass = UserFactory(ass=True, unit=unit)
    urls = [
        reverse("outreach:campaign_detail", args=[c.pk]),
        reverse("outreach:campaign_edit", args=[c.pk]),
    ]
    client.force_login(stranger)
    for url in urls:
        assert client.get(url).status_code == 404
    assert client.post(reverse("outreach:campaign_simulate", args=[c.pk])).status_code == 404
    client.force_login(ass)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(reverse("outreach:campaign_simulate", args=[c.pk])).status_code == 403
    assert client.get(reverse("outreach:campaign_list")).status_code == 403
    assert client.get(reverse("outreach:campaign_rules")).status_code == 403


def test_the_new_rule_form_is_for_managers_only(client, manager, unit):
    # It used to render for any signed-in user (only its POST was refused by the service).
    client.force_login(UserFactory(ass=True, unit=unit))
    assert client.get(reverse("outreach:campaign_rule_create")).status_code == 403
    client.force_login(UserFactory(partenaire=True))
    assert client.post(reverse("outreach:campaign_rule_create")).status_code == 403
    client.force_login(manager)
    assert client.get(reverse("outreach:campaign_rule_create")).status_code == 200


def test_manager_builds_simulates_validates_through_pages(
    client, manager, rules, django_assert_max_num_queries
):
    for i in range(3):
        person(email=f"p{i}@example.org")
    client.force_login(manager)
    response = client.post(
        reverse("outreach:campaign_create"),
        {
            "nom": "Campagne de mars",
            "date_reference": "2027-03-01",
            "duree_min_jours": "90",
            "contact_recent_jours": "60",
            "validite_sms_jours": "10",
            "validite_email_jours": "10",
            "validite_courrier_jours": "21",
            "taux_reponse": "15",
            "relance_jours": "3",
            "tentatives_max": "3",
            "reservation_jours": "2",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    c = Campagne.objects.get()
    response = client.post(reverse("outreach:campaign_simulate", args=[c.pk]))
    assert response.status_code == 302
    with django_assert_max_num_queries(12):
        page = client.get(reverse("outreach:campaign_detail", args=[c.pk]))
    text = page.content.decode()
    assert "Simulée" in text and "E-mail" in text
    response = client.post(reverse("outreach:campaign_validate", args=[c.pk]))
    assert response.status_code == 302
    c.refresh_from_db()
    assert c.statut == "validee"
    with django_assert_max_num_queries(10):
        assert client.get(reverse("outreach:campaign_list")).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("outreach:campaign_rules")).status_code == 200


def test_bad_input_is_refused_with_a_message(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("outreach:campaign_create"),
        {"nom": "", "date_reference": "pas une date", "taux_reponse": "250"},
    )
    assert response.status_code == 200
    assert not Campagne.objects.exists()
    assert "Ce champ est obligatoire" in response.content.decode()


def test_excluded_target_of_a_validated_campaign_was_not_contacted(manager, rules):
    no_mobile = person(born=years_before(DAY, 25), telephone="02 35 11 22 33")
    nothing = person()  # channel « aucun »
    first = simulate(campagne_for(manager), manager)
    assert target(first, no_mobile).exclusion == "sans_contact"
    campaigns.campagne_validate(campagne=first, acting_user=manager, now=NOW)
    second = simulate(campagne_for(manager), manager)
    assert target(second, no_mobile).exclusion == "sans_contact"
    assert target(second, nothing).exclusion == ""


def test_create_page_with_an_import_and_hostile_values(client, manager):
    inside = person(email="a@example.org")
    imp = CpamImport.objects.create(file_name="x.csv", status="processed", user=manager)
    CpamImportCaisse.objects.create(cpam_import=imp, cpam=inside.cpam, line_count=1)
    client.force_login(manager)
    data = {
        "nom": "Import de mars",
        "date_reference": "2027-03-01",
        "duree_min_jours": "90",
        "cpam_import": str(imp.pk),
        "contact_recent_jours": "60",
        "validite_sms_jours": "10",
        "validite_email_jours": "10",
        "validite_courrier_jours": "21",
        "taux_reponse": "15",
        "relance_jours": "3",
        "tentatives_max": "3",
        "reservation_jours": "2",
    }
    for field, value in (
        ("duree_min_jours", "99999999"),
        ("date_reference", "9999-12-31"),
        ("cpam_import", "999999"),
    ):
        response = client.post(reverse("outreach:campaign_create"), {**data, field: value})
        assert response.status_code == 200, field
    assert not Campagne.objects.exists()
    assert client.post(reverse("outreach:campaign_create"), data).status_code == 302
    assert Campagne.objects.get().cpam_import == imp


def test_rule_form_refuses_bad_ranges_and_changes_nothing(client, manager):
    client.force_login(manager)
    before = RegleCanal.objects.count()
    response = client.post(
        reverse("outreach:campaign_rule_create"),
        {"libelle": "x", "age_min": "40", "age_max": "30", "ij_min": "1e400", "canal": "sms"},
    )
    assert response.status_code == 200
    assert "L&#x27;âge minimal dépasse" in response.content.decode()
    assert RegleCanal.objects.count() == before
