"""Indicators of the cellule PDP (issue 13): each one on a hand-made dataset, the expected
values counted by hand below; the coordinators' scope (their instances, one of them, 404 for
another, 403 for the other roles of the cellule) and their page, which shows the cellule
indicators only."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from coordination.models import (
    ActionInstance,
    Decision,
    InstanceType,
    Organisation,
    PointOrdreDuJour,
    Reunion,
    TypeDecision,
)
from indicators import catalogue, periods, snapshots
from indicators.catalogue_cellule import INDICATORS
from indicators.scope import Scope, scope_for
from pdp.context_processors import nav_items_for
from tests.factories import (
    AccompagnementFactory,
    InstanceFactory,
    MembreFactory,
    RegionFactory,
    ReunionFactory,
    SaisineFactory,
    UnitFactory,
    UserFactory,
)
from tests.indicators.test_indicators import _goes_through_a_user
from tests.test_typography import check_pages

D = datetime.date
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MARCH = periods.month(2026, 3)
BY_CODE = {indicator.code: indicator for indicator in INDICATORS}
Origine = PointOrdreDuJour.Origine
R = Reunion.Statut
A = ActionInstance.Statut


def at(month, day, hour=10, minute=0):
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=PARIS)


def row(table, label):
    return next(r for r in table.rows if r[0] == label)


@pytest.fixture
def cellule(db):
    """Region NOR, units A and B. The coordinator coordinates « Cellule du Havre » (a cellule
    PDP, unit A) and « Instance de Rouen » (an instance de coordination, unit B); another
    coordinator « Cellule de Caen » (unit A).

    Situations presented (urgency): s1 02/03 Havre urgente, s2 10/03 Havre normale,
    s3 01/04 00 h 30 (Paris) Havre normale, s4 20/02 Havre prioritaire, s5 05/03 Rouen
    prioritaire, s7 31/03 23 h 30 (Paris) Rouen normale (a case « sécurisation des
    parcours »), s6 06/03 Caen urgente. Cases of s1–s4 and s6 in unit A, s5 and s7 in B.

    Meetings: R0 Havre 26/02 (minutes validated): s4 new; R1 Havre 12/03 (validated): s1 and
    s2 new, s4 follow-up; R2 Havre 26/03 (held): s1 follow-up, s4 « représentée »; R3 Havre
    09/04 (planned): s2; R4 Rouen 19/03 (agenda frozen, never closed): s5 new; R6 Caen 13/03
    (held): s6 new."""
    region = RegionFactory()
    unit_a = UnitFactory(region=region, name="Unité A")
    unit_b = UnitFactory(region=region, name="Unité B")
    ass_a, ass_b = UserFactory(ass=True, unit=unit_a), UserFactory(ass=True, unit=unit_b)
    coordinator = UserFactory(coordinateur=True)
    other = UserFactory(coordinateur=True)
    havre = InstanceFactory(
        region=region, nom="Cellule du Havre", units=[unit_a], coordinateurs=[coordinator]
    )
    rouen = InstanceFactory(
        region=region,
        nom="Instance de Rouen",
        type=InstanceType.COORDINATION,
        units=[unit_b],
        coordinateurs=[coordinator],
    )
    caen = InstanceFactory(
        region=region, nom="Cellule de Caen", units=[unit_a], coordinateurs=[other]
    )

    def saisine(instance, ass, when, urgence, **case):
        return SaisineFactory(
            instance=instance,
            accompagnement=AccompagnementFactory(referent=ass, **case),
            submitted_at=when,
            urgence=urgence,
        )

    s = {
        1: saisine(havre, ass_a, at(3, 2), "urgente"),
        2: saisine(havre, ass_a, at(3, 10), "normale"),
        3: saisine(havre, ass_a, at(4, 1, 0, 30), "normale"),
        4: saisine(havre, ass_a, at(2, 20), "prioritaire"),
        5: saisine(rouen, ass_b, at(3, 5), "prioritaire"),
        6: saisine(caen, ass_a, at(3, 6), "urgente"),
        7: saisine(rouen, ass_b, at(3, 31, 23, 30), "normale", mission="securisation"),
    }

    def reunion(instance, when, statut, points):
        meeting = ReunionFactory(
            instance=instance, debut=when, statut=statut, created_by=coordinator
        )
        return meeting, {
            n: PointOrdreDuJour.objects.create(reunion=meeting, saisine=s[n], origine=o, ordre=i)
            for i, (n, o) in enumerate(points)
        }

    meetings = {
        0: reunion(havre, at(2, 26, 14), R.CR_VALIDE, [(4, Origine.NOUVELLE)]),
        1: reunion(
            havre,
            at(3, 12, 14),
            R.CR_VALIDE,
            [(1, Origine.NOUVELLE), (2, Origine.NOUVELLE), (4, Origine.SUIVI)],
        ),
        2: reunion(havre, at(3, 26, 14), R.TENUE, [(1, Origine.SUIVI), (4, Origine.REPRESENTEE)]),
        3: reunion(havre, at(4, 9, 14), R.PLANIFIEE, [(2, Origine.SUIVI)]),
        4: reunion(rouen, at(3, 19, 14), R.ODJ_ARRETE, [(5, Origine.NOUVELLE)]),
        6: reunion(caen, at(3, 13, 14), R.TENUE, [(6, Origine.NOUVELLE)]),
    }
    return {
        "region": region,
        "units": (unit_a, unit_b),
        "coordinator": coordinator,
        "other": other,
        "instances": (havre, rouen, caen),
        "saisines": s,
        "points": {k: points for k, (_m, points) in meetings.items()},
    }


def coordinator_scope(data, *instances):
    instances = instances or data["instances"][:2]
    return Scope("instances", "Mes cellules PDP", instance_ids=tuple(i.pk for i in instances))


# --- The indicators ----------------------------------------------------------------------------


def test_situations_presented_by_urgency_and_instance_type(cellule):
    t = catalogue.table(BY_CODE["cellule_saisines"], coordinator_scope(cellule), MARCH)
    assert t.column_labels == ["Cellule PDP", "Instance de coordination PDP"]
    # s2 (Havre), s7 (Rouen, 31/03 at 23 h 30 in Paris); s3 is of April (local date).
    assert row(t, "Normale")[1:] == [[1, 1], 2, 0]
    assert row(t, "Prioritaire")[1:] == [[0, 1], 1, 1]  # s5; February: s4
    assert row(t, "Urgente (risque de rupture imminent)")[1:] == [[1, 0], 1, 0]  # s1, not s6
    assert t.total == [[2, 2], 4, 1]
    assert t.breakdown is None
    havre = catalogue.table(
        BY_CODE["cellule_saisines"], coordinator_scope(cellule, cellule["instances"][0]), MARCH
    )
    assert havre.total == [[2, 0], 2, 1]


def test_situations_presented_by_unit_and_region_and_the_mission_filter(cellule):
    unit_a, _b = cellule["units"]
    region = cellule["region"]
    indicator = BY_CODE["cellule_saisines"]
    unit = Scope("unit", unit_a.name, unit_id=unit_a.pk, region_id=region.pk)
    assert catalogue.table(indicator, unit, MARCH).total[1:] == [3, 1]  # s1, s2, s6; s4
    whole = Scope("region", region.name, region_id=region.pk)
    t = catalogue.table(indicator, whole, MARCH, names=catalogue.breakdown_names(whole))
    assert t.total[1:] == [5, 1]  # all but s3
    # By the unit of the case presented: s1, s2, s6 (and s4 in February) in A; s5, s7 in B.
    assert t.breakdown == [("Unité A", 3, 1), ("Unité B", 2, 0)]
    pdp = catalogue.table(indicator, coordinator_scope(cellule), MARCH, filters={"mission": "pdp"})
    assert pdp.total[1] == 3  # s7's case is « sécurisation des parcours »


def test_situations_examined_at_meetings_held(cellule):
    t = catalogue.table(BY_CODE["cellule_situations_examinees"], coordinator_scope(cellule), MARCH)
    assert t.column_labels == ["Normale", "Prioritaire", "Urgente (risque de rupture imminent)"]
    # R1: s1 (urgente) and s2 (normale) new, s4 (prioritaire) follow-up; R2: s1 follow-up,
    # s4 « représentée ». R4 was never closed, R3 is in April, R6 is Caen's. February: R0.
    assert row(t, "Nouvelle situation")[1:] == [[1, 0, 1], 2, 1]
    assert row(t, "Suivi (action en cours)")[1:] == [[0, 1, 1], 2, 0]
    assert row(t, "Représentée")[1:] == [[0, 1, 0], 1, 0]
    assert t.total == [[1, 2, 2], 5, 1]


def _decide(point, code, by, provisoire=False):
    Decision.objects.create(
        point=point, type=TypeDecision.objects.get(code=code), provisoire=provisoire, created_by=by
    )


def test_decisions_by_type_final_or_provisional(cellule):
    """R1: s1 « étude de poste » and « visite de pré-reprise », s2 « orientation » (without
    quorum); R2: s1 « étude de poste », s4 « à représenter »; R4 (19/03, not closed yet): s5
    « compléments » (without quorum); R0 (February): s4 « étude de poste »; R6 (Caen): s6
    « fin du suivi »."""
    points, by = cellule["points"], cellule["coordinator"]
    _decide(points[1][1], "etude_poste", by)
    _decide(points[1][1], "visite_pre_reprise", by)
    _decide(points[1][2], "orientation_partenaire", by, provisoire=True)
    _decide(points[2][1], "etude_poste", by)
    _decide(points[2][4], "a_representer", by)
    _decide(points[4][5], "complement_information", by, provisoire=True)
    _decide(points[0][4], "etude_poste", by)
    _decide(points[6][6], "fin_suivi", cellule["other"])
    t = catalogue.table(BY_CODE["cellule_decisions"], coordinator_scope(cellule), MARCH)
    assert t.column_labels == ["Définitive", "Provisoire (sans quorum)"]
    assert row(t, "Étude de poste / aménagement")[1:] == [[2, 0], 2, 1]
    assert row(t, "Visite de pré-reprise")[1:] == [[1, 0], 1, 0]
    assert row(t, "Orientation vers un partenaire")[1:] == [[0, 1], 1, 0]
    assert row(t, "À représenter")[1:] == [[1, 0], 1, 0]
    assert row(t, "Demande de compléments d'information")[1:] == [[0, 1], 1, 0]
    assert row(t, "Fin du suivi en cellule")[1:] == [[0, 0], 0, 0]
    assert t.total == [[4, 2], 6, 1]


@pytest.fixture
def actions(cellule):
    """Actions due in March of Havre's R1 and Rouen's R4 (the state on 20/03 in brackets):
    a1 due 15/03 done 15/03 18 h (on time), a2 due 15/03 done 16/03 0 h 30 in Paris (late:
    the local date), a3 due 10/03 open (overdue), a4 due 25/03 open (not yet due), a5 due
    31/03 abandoned, a6 due 05/03 done 01/03 (on time), a10 (Rouen) due 20/03 open (not yet
    due: due today). Not counted: a7 due 10/04; a8 due 27/02, done 02/03 (February); a9 of
    Caen due 15/03."""
    points = cellule["points"]
    havre, rouen, caen = cellule["instances"]
    by = cellule["coordinator"]
    members = {
        instance.pk: MembreFactory(
            instance=instance, user=UserFactory(partenaire=True), organisation=Organisation.SPST
        )
        for instance in (havre, rouen, caen)
    }

    def action(point, due, statut=A.OUVERTE, closed=None):
        ActionInstance.objects.create(
            point=point,
            libelle="Étude de poste avec l'employeur",
            responsable=members[point.reunion.instance_id],
            echeance=due,
            statut=statut,
            closed_at=closed,
            created_by=by,
        )

    p = points[1][1]
    action(p, D(2026, 3, 15), A.FAITE, at(3, 15, 18))  # a1
    action(p, D(2026, 3, 15), A.FAITE, at(3, 16, 0, 30))  # a2
    action(p, D(2026, 3, 10))  # a3
    action(p, D(2026, 3, 25))  # a4
    action(points[1][2], D(2026, 3, 31), A.ABANDONNEE, at(3, 18))  # a5
    action(points[1][2], D(2026, 3, 5), A.FAITE, at(3, 1))  # a6
    action(points[1][2], D(2026, 4, 10))  # a7
    action(points[0][4], D(2026, 2, 27), A.FAITE, at(3, 2))  # a8
    action(points[6][6], D(2026, 3, 15))  # a9
    action(points[4][5], D(2026, 3, 20))  # a10


def states(table):
    return {label: total for label, _counts, total, _before in table.rows}


def test_actions_due_in_the_period_by_their_state_today(actions, cellule):
    indicator = BY_CODE["cellule_actions_echeance"]
    with time_machine.travel(at(3, 20, 12), tick=False):
        t = catalogue.table(indicator, coordinator_scope(cellule), MARCH)
    assert states(t) == {
        "Faite à l'échéance ou avant": 2,  # a1, a6
        "Faite après l'échéance": 1,  # a2
        "Non faite, échéance dépassée": 1,  # a3
        "Non faite, pas encore échue": 2,  # a4, a10
        "Abandonnée": 1,  # a5
    }
    assert t.total[1:] == [7, 1]  # February: a8
    # Later, a4 and a10 are overdue (the state « à ce jour »).
    with time_machine.travel(at(4, 2, 12), tick=False):
        later = catalogue.table(indicator, coordinator_scope(cellule), MARCH)
    assert states(later)["Non faite, échéance dépassée"] == 3
    assert states(later)["Non faite, pas encore échue"] == 0


def test_the_snapshots_of_a_region_give_the_live_cellule_figures(actions, cellule):
    """The unit and region pages read March from the nightly snapshots: the same figures."""
    points, by = cellule["points"], cellule["coordinator"]
    _decide(points[1][1], "etude_poste", by)
    _decide(points[4][5], "complement_information", by, provisoire=True)
    region = cellule["region"]
    snapshots.compute_region(region.pk, today=D(2026, 5, 15))
    unit_a, _b = cellule["units"]
    for scope in (
        Scope("region", region.name, region_id=region.pk),
        Scope("unit", unit_a.name, unit_id=unit_a.pk, region_id=region.pk),
    ):
        names = catalogue.breakdown_names(scope)
        coverage = snapshots.covered(scope, catalogue._candidate_months(MARCH))
        assert coverage
        for indicator in INDICATORS:
            read = catalogue.table(indicator, scope, MARCH, names=names, coverage=coverage)
            live = catalogue.table(indicator, scope, MARCH, names=names, coverage={})
            assert read == live, (indicator.code, scope.level)
            assert read.total[1] > 0, (indicator.code, scope.level)


def test_every_cellule_indicator_is_seen_by_instance_and_never_by_a_member_of_staff():
    assert len(BY_CODE) == len(INDICATORS)
    for indicator in INDICATORS:
        assert indicator.instance_path and indicator.version == 1
        for path in indicator.grouping_paths:
            assert not _goes_through_a_user(indicator.model, path), (indicator.code, path)
        assert set(indicator.filter_paths) <= {"mission", "cpam", "type_arret"}


# --- The coordinators' scope and page ----------------------------------------------------------


def test_a_coordinator_sees_the_instances_they_coordinate_or_one_of_them(cellule):
    havre, rouen, caen = cellule["instances"]
    coordinator = cellule["coordinator"]
    scope = scope_for(coordinator, {})
    assert scope == Scope("instances", "Mes cellules PDP", instance_ids=(havre.pk, rouen.pk))
    assert scope.breakdown is None
    one = scope_for(coordinator, {"instance": str(rouen.pk)})
    assert (one.label, one.instance_ids) == ("Instance de Rouen", (rouen.pk,))
    for params in (
        {"instance": str(caen.pk)},  # another coordinator's
        {"instance": "999999"},
        {"instance": "x"},
        {"unite": str(cellule["units"][0].pk)},
        {"region": str(cellule["region"].pk)},
    ):
        with pytest.raises(Http404):
            scope_for(coordinator, params)
    for role in ("partenaire", "medecin", "ass"):
        with pytest.raises(PermissionDenied):
            scope_for(UserFactory(**{role: True}), {})


def test_the_coordinators_page_shows_the_cellule_indicators_only(client, cellule):
    url = reverse("indicators:index")
    client.force_login(cellule["coordinator"])
    assert ("Indicateurs", url) in [
        (i["label"], i["url"]) for i in nav_items_for(cellule["coordinator"])
    ]
    march = {"periode": "mois", "annee": "2026", "mois": "3"}
    page = client.get(url, march)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Indicateurs · Mes cellules PDP" in html
    for indicator in INDICATORS:
        assert f'id="ind-{indicator.code}"' in html
    others = [i for i in catalogue.CATALOGUE if i.code not in BY_CODE]
    assert others and not any(f'id="ind-{i.code}"' in html for i in others)
    assert "Toutes mes instances" in html and "Cellule de Caen" not in html
    havre, _rouen, caen = cellule["instances"]
    one = client.get(url, {**march, "instance": havre.pk})
    assert one.status_code == 200 and "Indicateurs · Cellule du Havre" in one.content.decode()
    assert client.get(url, {**march, "instance": caen.pk}).status_code == 404
    assert client.get(url, {**march, "instance": "x"}).status_code == 404
    assert client.get(url, {**march, "format": "csv"}).status_code == 200
    check_pages(client, cellule["coordinator"], [f"{url}?periode=mois&annee=2026&mois=3"])


def test_partners_and_staff_of_the_cellule_get_403_a_coordinator_without_instance_a_sentence(
    client, cellule
):
    url = reverse("indicators:index")
    for role in ("partenaire", "medecin", "ass"):
        client.force_login(UserFactory(**{role: True}))
        assert client.get(url).status_code == 403
    alone = UserFactory(coordinateur=True)
    check_pages(client, alone, [url])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Vous ne coordonnez aucune instance PDP pour l'instant" in html
    assert not any(f'id="ind-{i.code}"' in html for i in catalogue.CATALOGUE)
    for kind in ("csv", "xlsx"):  # the exports hold no table either
        assert client.get(url, {"format": kind}).status_code == 200
