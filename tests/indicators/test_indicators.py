"""Indicators, first step: periods and their previous period, the small-cell rule, each
indicator on a hand-made dataset (expected values counted by hand below), scopes per role
(404 / 403), no grouping by a member of staff, the page in a constant number of queries, the
CSV export."""

import datetime
import io
import zoneinfo

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Accompagnement, Cloture, DispositifMobilise, DispositifType, Entretien
from indicators import catalogue, cells, periods, snapshots
from indicators.scope import Scope
from outreach.models import AppelCible, Campagne, Cible
from pdp.models import Region
from referrals.models import ArretTravail, ContactAttempt, Signalement
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

D = datetime.date
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TODAY = D(2026, 12, 2)


# --- Periods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "start", "end", "label", "prev_start", "prev_end"),
    [
        ({}, D(2026, 12, 1), D(2026, 12, 31), "décembre 2026", D(2026, 11, 1), D(2026, 11, 30)),
        (
            {"periode": "mois", "annee": "2026", "mois": "1"},
            D(2026, 1, 1),
            D(2026, 1, 31),
            "janvier 2026",
            D(2025, 12, 1),
            D(2025, 12, 31),
        ),
        (
            {"periode": "trimestre", "annee": "2026", "trimestre": "1"},
            D(2026, 1, 1),
            D(2026, 3, 31),
            "1er trimestre 2026",
            D(2025, 10, 1),
            D(2025, 12, 31),
        ),
        (
            {"periode": "annee", "annee": "2024"},
            D(2024, 1, 1),
            D(2024, 12, 31),
            "année 2024",
            D(2023, 1, 1),
            D(2023, 12, 31),
        ),
        (
            {"periode": "perso", "du": "2026-03-10", "au": "2026-03-19"},
            D(2026, 3, 10),
            D(2026, 3, 19),
            "du 10\u00a0mars 2026 au 19\u00a0mars 2026",
            D(2026, 2, 28),
            D(2026, 3, 9),
        ),
    ],
)
def test_periods_and_the_period_before(params, start, end, label, prev_start, prev_end):
    period, error = periods.period_from(params, TODAY)
    assert error is None
    assert (period.start, period.end, period.label) == (start, end, label)
    assert (period.previous().start, period.previous().end) == (prev_start, prev_end)


@pytest.mark.parametrize(
    "params",
    [
        {"periode": "semaine"},
        {"periode": "mois", "mois": "13"},
        {"periode": "annee", "annee": "1850"},
        {"periode": "perso", "du": "2026-03-10", "au": "2026-02-01"},
        {"periode": "perso", "du": "pas une date", "au": "2026-02-01"},
        {"periode": "perso", "du": "2019-01-01", "au": "2026-01-01"},
    ],
)
def test_bad_periods_fall_back_to_this_month_with_a_french_message(params):
    period, error = periods.period_from(params, TODAY)
    assert period == periods.month(2026, 12)
    assert error and "mois en cours" in error


# --- Small cells -------------------------------------------------------------------------------


def test_small_counts_and_rates_over_few_people_are_hidden():
    assert [cells.count_cell(n) for n in (0, 1, 4, 5, 1234)] == [
        "0",
        "< 5",
        "< 5",
        "5",
        "1\u202f234",
    ]
    assert cells.rate_cell(5, 9) == "—"  # fewer than 10 people
    assert cells.rate_cell(3, 100) == "—"  # the count itself is hidden
    assert cells.rate_cell(5, 10) == "50,0\u00a0%"
    assert cells.rate_cell(0, 40) == "0,0\u00a0%"


# --- The indicators on a hand-made dataset -----------------------------------------------------


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def units(region):
    return UnitFactory(region=region, name="Unité A"), UnitFactory(region=region, name="Unité B")


@pytest.fixture
def dataset(units):
    """March 2026 in unit A: 6 referrals « seuil » to the social service, 2 « SPST », 1 to the
    medical service; February: 3. Unit B in March: 2. Cases of A: opened 10/01 (closed 15/03,
    « maintien poste »), 05/03 (open), 20/03 (open), 02/04 (open); of B: 12/03 (open)."""
    a, b = units
    for day, origine, service, unit, n in [
        (D(2026, 3, 3), "seuil_cpam", "social", a, 6),
        (D(2026, 3, 31), "spst", "social", a, 2),
        (D(2026, 3, 15), "seuil_cpam", "medical", a, 1),
        (D(2026, 2, 28), "seuil_cpam", "social", a, 3),
        (D(2026, 3, 1), "seuil_cpam", "social", b, 2),
    ]:
        for _ in range(n):
            SignalementFactory(date_signalement=day, origine=origine, service=service, unit=unit)
    ass_a, ass_b = UserFactory(ass=True, unit=a), UserFactory(ass=True, unit=b)
    cases = [
        AccompagnementFactory(referent=ass_a, date_ouverture=D(2026, 1, 10)),
        AccompagnementFactory(referent=ass_a, date_ouverture=D(2026, 3, 5)),
        AccompagnementFactory(referent=ass_a, date_ouverture=D(2026, 3, 20)),
        AccompagnementFactory(referent=ass_a, date_ouverture=D(2026, 4, 2)),
        AccompagnementFactory(referent=ass_b, date_ouverture=D(2026, 3, 12)),
    ]
    Accompagnement.objects.filter(pk=cases[0].pk).update(
        statut="cloture", date_cloture=D(2026, 3, 15)
    )
    Cloture.objects.create(
        accompagnement=cases[0],
        outcome="maintien_poste",
        date_cloture=D(2026, 3, 15),
        closed_by=ass_a,
    )
    return a, b


def row(table, label):
    return next(r for r in table.rows if r[0] == label)


MARCH = periods.month(2026, 3)


def test_referrals_by_origin_and_service(dataset):
    a, _b = dataset
    scope = Scope("unit", a.name, unit_id=a.pk, region_id=a.region_id)
    t = catalogue.table(catalogue.BY_CODE["signalements_origine"], scope, MARCH)
    assert t.column_labels == ["Service social", "Service médical"]
    assert row(t, "Seuil de durée (CPAM)")[1:] == [[6, 1], 7, 3]
    assert row(t, "SPST / médecin du travail")[1:] == [[2, 0], 2, 0]
    assert t.total == [[8, 1], 9, 3]
    assert t.breakdown is None


def test_the_region_sees_the_breakdown_by_unit(dataset, region):
    a, b = dataset
    scope = Scope("region", region.name, region_id=region.pk)
    t = catalogue.table(
        catalogue.BY_CODE["signalements_origine"],
        scope,
        MARCH,
        names=catalogue.breakdown_names(scope),
    )
    assert t.total[1] == 11
    assert t.breakdown == [("Unité A", 9, 3), ("Unité B", 2, 0)]


def test_new_cases_open_caseload_and_outcomes(dataset):
    a, _b = dataset
    scope = Scope("unit", a.name, unit_id=a.pk, region_id=a.region_id)
    new = catalogue.table(catalogue.BY_CODE["accompagnements_ouverts"], scope, MARCH)
    assert new.total[1:] == [2, 0]  # 05/03 and 20/03; none in February
    caseload = catalogue.table(catalogue.BY_CODE["file_active"], scope, MARCH)
    assert caseload.total[1:] == [2, 1]  # 31/03: the two of March; 28/02: the one of January
    outcomes = catalogue.table(catalogue.BY_CODE["issues_cloture"], scope, MARCH)
    assert row(outcomes, "Maintien dans l'emploi – même poste")[2] == 1
    assert outcomes.total[1] == 1


# --- No figure per social worker ---------------------------------------------------------------


def _goes_through_a_user(model, path):
    user_model = get_user_model()
    for name in path.split("__"):
        name = name.removesuffix("_id") if name.endswith("_id") else name
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            field = model._meta.get_field(name + "_id")
        if field.is_relation:
            if field.related_model is user_model:
                return True
            model = field.related_model
    return False


def test_no_indicator_groups_by_a_member_of_staff():
    for indicator in catalogue.CATALOGUE:
        for path in indicator.grouping_paths:
            assert not _goes_through_a_user(indicator.model, path), (indicator.code, path)
    # The check itself can fail: a grouping by referent would be caught.
    assert _goes_through_a_user(Accompagnement, "referent_id")
    assert _goes_through_a_user(Signalement, "assigned_to__unit_id")


# --- The page: who, queries, export ------------------------------------------------------------


def test_who_sees_the_page(client, dataset, region):
    a, b = dataset
    url = reverse("indicators:index")
    other = UnitFactory(region=Region.objects.create(code="BRE", name="CARSAT Bretagne"))
    manager = UserFactory(manager=True, unit=a)
    client.force_login(manager)
    assert client.get(url).status_code == 200
    assert client.get(url, {"unite": b.pk}).status_code == 404
    regional = UserFactory(regional=True, region=region)
    client.force_login(regional)
    page = client.get(url, {"unite": b.pk})
    assert page.status_code == 200 and "Unité B" in page.content.decode()
    assert client.get(url, {"unite": other.pk}).status_code == 404
    assert client.get(url, {"unite": "x"}).status_code == 404
    for role in ("ass", "conseiller"):
        client.force_login(UserFactory(**{role: True}, unit=a))
        assert client.get(url).status_code == 403
    client.force_login(UserFactory(role="admin"))
    assert "France entière" in client.get(url).content.decode()
    client.logout()
    assert client.get(url).status_code == 302


def test_the_page_in_a_constant_number_of_queries(client, dataset, region):
    client.force_login(UserFactory(regional=True, region=region))
    march = {"periode": "mois", "annee": "2026", "mois": "3"}

    def queries():
        with CaptureQueriesContext(connection) as captured:
            page = client.get(reverse("indicators:index"), march)
        assert page.status_code == 200
        return len(captured), page.content.decode()

    before, html = queries()
    assert "Mars 2026" in html and "Nouveaux accompagnements" in html
    assert "File régionale" not in html  # every referral of the dataset has a unit
    a, b = dataset
    for unit in (a, b, UnitFactory(region=region)):
        SignalementFactory.create_batch(5, date_signalement=D(2026, 3, 9), unit=unit)
    assert queries()[0] == before <= 70


def test_the_page_keeps_its_figures_a_few_minutes_until_the_next_snapshot_run(
    client, dataset, region, settings
):
    settings.INDICATORS_CACHE_SECONDS = 300
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "indicators-figures-test",
        }
    }
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    march = {"periode": "mois", "annee": "2026", "mois": "3", "format": "csv"}

    def seuil(params):
        with CaptureQueriesContext(connection) as captured:
            text = client.get(reverse("indicators:index"), params).content.decode()
        line = next(line for line in text.splitlines() if line.startswith("Seuil de durée"))
        return line.split(";")[1], len(captured)

    counted, queries = seuil(march)
    assert counted == "6"
    page = {**march, "format": ""}
    html = client.get(reverse("indicators:index"), page).content.decode()
    SignalementFactory.create_batch(
        5, date_signalement=D(2026, 3, 9), origine="seuil_cpam", service="social", unit=a
    )
    kept, fewer = seuil(march)
    assert kept == "6" and fewer < queries - 10
    again = client.get(reverse("indicators:index"), page).content.decode()
    assert "Chiffres à jour à " in again
    assert again.split("Sommaire des indicateurs")[1] == html.split("Sommaire des indicateurs")[1]
    snapshots.compute_region(region.pk)
    assert seuil(march)[0] == "11"


def test_the_csv_export_applies_the_small_cell_rule(client, dataset):
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    response = client.get(
        reverse("indicators:index"),
        {"periode": "mois", "annee": "2026", "mois": "3", "format": "csv"},
    )
    assert response["Content-Type"] == "text/csv"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text.splitlines()
    seuil = next(line for line in lines if line.startswith("Seuil de durée (CPAM)"))
    assert seuil.split(";") == ["Seuil de durée (CPAM)", "6", "< 5", "7", "< 5", "—"]
    assert any(line.startswith("Nombre de signalements reçus") for line in lines)


def test_the_xlsx_has_a_sheet_per_indicator_numbers_and_the_definitions(client, dataset):
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    response = client.get(
        reverse("indicators:index"),
        {"periode": "mois", "annee": "2026", "mois": "3", "format": "xlsx"},
    )
    assert response["Content-Disposition"].endswith('_2026-03-01_2026-03-31.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [i.code for i in catalogue.CATALOGUE] + ["Définitions"]
    sheet = book["signalements_origine"]
    assert sheet["A1"].value == "Signalements par origine et service"
    assert sheet["B2"].value == datetime.datetime(2026, 3, 1)
    assert sheet["B2"].number_format == "dd/mm/yyyy"
    rows = {r[0]: r[1:] for r in sheet.iter_rows(min_row=5, values_only=True) if r[0]}
    # Seuil: 6 social (a number), 1 medical (hidden), total 7, February 3 (hidden), share of
    # 7 / 9 people: fewer than 10, not shown.
    assert rows["Seuil de durée (CPAM)"][:5] == (6, "< 5", 7, "< 5", "—")
    assert rows["Total"][:4] == (8, "< 5", 9, "< 5")
    definitions = book["Définitions"]
    assert definitions["A2"].value == "signalements_origine"
    assert definitions["C2"].value.startswith("Nombre de signalements reçus")
    assert definitions["D2"].value == 1


def test_delays_to_the_first_attempt_and_the_first_contact(db):
    """12 referrals of 2 March 2026: first attempts 1, 2, …, 8, 20 and 70 days later, two never
    tried; the first five attempts reached the person, the others did not."""
    unit = UnitFactory(name="Unité C")
    delays = [1, 2, 3, 4, 5, 6, 7, 8, 20, 70]
    day = D(2026, 3, 2)
    for i, delay in enumerate(delays):
        referral = SignalementFactory(unit=unit, date_signalement=day)
        ContactAttempt.objects.create(
            signalement=referral,
            at=datetime.datetime(2026, 3, 2, 12, tzinfo=PARIS) + datetime.timedelta(days=delay),
            canal="telephone",
            resultat="joint" if i < 5 else "pas_de_reponse",
        )
    SignalementFactory.create_batch(2, unit=unit, date_signalement=day)
    scope = Scope("unit", unit.name, unit_id=unit.pk, region_id=unit.region_id)
    tried = catalogue.table(catalogue.BY_CODE["delai_premiere_tentative"], scope, MARCH)
    assert [r[2] for r in tried.rows] == [7, 1, 1, 0, 1, 2]
    assert tried.total[1] == 12
    reached = catalogue.table(catalogue.BY_CODE["delai_premier_contact"], scope, MARCH)
    assert [r[2] for r in reached.rows] == [5, 0, 0, 0, 0, 7]
    if connection.vendor == "postgresql":
        # percentile_cont over 1…8, 20, 70: median (5 + 6) / 2, 80th 8 + 0.2 × (20 − 8).
        assert tried.stats == [("Médiane (jours)", 5.5, 10), ("80e centile (jours)", 10.4, 10)]
        # Over 5 people reached: computed, but not shown (fewer than 10).
        assert reached.stats[0] == ("Médiane (jours)", 3.0, 5)
        assert cells.days_cell(3.0, 5) == "—" and cells.days_cell(5.5, 10) == "5,5"


def test_people_reached_by_campaigns_per_channel(units):
    """A campaign of unit A: 5 SMS sent in March (2 opened the link, 1 booked), 1 letter sent in
    February; 3 people called in March (1 booked), 1 on the call list never called."""
    a, _b = units
    manager = UserFactory(manager=True, unit=a)
    campagne = Campagne.objects.create(
        region=a.region, unit=a, nom="Mars", date_reference=D(2026, 3, 1), created_by=manager
    )
    march = datetime.datetime(2026, 3, 10, 10, tzinfo=PARIS)

    def target(canal, **fields):
        assure = AssureFactory()
        arret = ArretTravail.objects.create(
            assure=assure,
            type_arret="MAL",
            date_debut=D(2025, 11, 1),
            date_fin_prevue=D(2026, 6, 1),
        )
        return Cible.objects.create(
            campagne=campagne, assure=assure, arret=arret, canal=canal, created_at=march, **fields
        )

    for i in range(5):
        target(
            "sms",
            envoye_le=march,
            ouvert_le=march if i < 2 else None,
            rdv_pris_le=march if i == 0 else None,
        )
    target("courrier", envoye_le=march - datetime.timedelta(days=30))
    for i in range(3):
        called = target("appel", tentatives=1, rdv_pris_le=march if i == 0 else None)
        AppelCible.objects.create(cible=called, at=march, conseiller=manager, resultat="message")
    target("appel")
    scope = Scope("unit", a.name, unit_id=a.pk, region_id=a.region_id)
    t = catalogue.table(catalogue.BY_CODE["campagnes_canal"], scope, MARCH)
    assert t.column_labels == ["Contactées", "Lien ouvert", "Rendez-vous pris"]
    assert row(t, "SMS")[1:] == [[5, 2, 1], 5, 0]
    assert row(t, "Appel par un conseiller")[1:] == [[3, 0, 1], 3, 0]
    assert row(t, "Courrier avec QR code")[1:] == [[0, 0, 0], 0, 1]
    assert t.total == [[8, 2, 2], 8, 1]


def test_meetings_held_by_mode_and_dispositifs_by_type_and_status(units):
    """Unit A in March: 3 meetings held on site, 1 by phone, 1 cancelled, 1 held in April;
    dispositifs: 2 PMSMP started in March (1 accordé, 1 refusé), 1 started in February."""
    a, _b = units
    ass = UserFactory(ass=True, unit=a)
    case = AccompagnementFactory(referent=ass, date_ouverture=D(2026, 1, 5))
    for day, mode, statut in [
        (3, "sur_place", "realise"),
        (4, "sur_place", "realise"),
        (5, "sur_place", "realise"),
        (6, "telephone", "realise"),
        (7, "sur_place", "annule"),
    ]:
        Entretien.objects.create(
            accompagnement=case,
            ass=ass,
            mode=mode,
            statut=statut,
            debut=datetime.datetime(2026, 3, day, 10, tzinfo=PARIS),
        )
    Entretien.objects.create(
        accompagnement=case,
        ass=ass,
        mode="sur_place",
        statut="realise",
        debut=datetime.datetime(2026, 4, 1, 10, tzinfo=PARIS),
    )
    pmsmp = DispositifType.objects.create(code="pmsmp-test", label="PMSMP (test)", phase="pendant")
    for start, statut in [
        (D(2026, 3, 2), "accorde"),
        (D(2026, 3, 9), "refuse"),
        (D(2026, 2, 1), "accorde"),
    ]:
        DispositifMobilise.objects.create(
            accompagnement=case, type=pmsmp, statut=statut, date_debut=start
        )
    scope = Scope("unit", a.name, unit_id=a.pk, region_id=a.region_id)
    meetings = catalogue.table(catalogue.BY_CODE["entretiens_realises"], scope, MARCH)
    assert row(meetings, "Consultation sociale sur site")[2] == 3
    assert row(meetings, "Téléphone")[2] == 1
    assert meetings.total[1] == 4
    dispositifs = catalogue.table(catalogue.BY_CODE["dispositifs"], scope, MARCH)
    line = row(dispositifs, "PMSMP (test)")
    statuts = dispositifs.column_labels
    assert line[1][statuts.index("Accordé")] == 1 and line[1][statuts.index("Refusé")] == 1
    assert line[2:] == [2, 1]


def test_filters_mission_cpam_and_not_applicable(client, dataset):
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    url = reverse("indicators:index")
    march = {"periode": "mois", "annee": "2026", "mois": "3"}
    # Every case of the dataset is « PDP »: « Sécurisation des parcours » counts none.
    page = client.get(url, {**march, "mission": "securisation"}).content.decode()
    assert "Non applicable avec les filtres choisis." in page  # the referrals have no mission
    scope = Scope("unit", a.name, unit_id=a.pk, region_id=a.region_id)
    new = catalogue.table(
        catalogue.BY_CODE["accompagnements_ouverts"], scope, MARCH, filters={"mission": "pdp"}
    )
    assert new.total[1] == 2
    other = catalogue.table(
        catalogue.BY_CODE["accompagnements_ouverts"],
        scope,
        MARCH,
        filters={"mission": "securisation"},
    )
    assert other.total[1] == 0
    assert (
        catalogue.table(
            catalogue.BY_CODE["signalements_origine"], scope, MARCH, filters={"mission": "pdp"}
        )
        is None
    )
    # The referrals of the dataset have no arrêt: an arrêt type keeps none of them.
    typed = catalogue.table(
        catalogue.BY_CODE["signalements_origine"], scope, MARCH, filters={"type_arret": "AT"}
    )
    assert typed.total[1] == 0
    response = client.get(url, {**march, "cpam": "999999", "type_arret": "XX"})
    assert response.status_code == 200
    assert "Filtre inconnu (CPAM, Type d&#x27;arrêt) : il est ignoré." in response.content.decode()
