"""The reporting replica (pdp.db, pdp.db_router; README « Production »), tested with a second
alias: `reporting` is a mirror of the test database (pdp/settings_test.py), a second connection
outside the test's transaction — like a replica, it does not see what the test has just
written and not committed. So a page that reads there shows the replica's figures, not the
primary's, and its queries are counted on that connection."""

import io

import openpyxl
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from indicators.models import Snapshot
from pdp.db import reporting_alias
from pdp.db_router import PrimaryRouter
from pdp.models import Region
from tests.factories import UserFactory
from tests.indicators.test_indicators import dataset, region, units  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(databases=["default", "reporting"])

MARCH = {"periode": "mois", "annee": "2026", "mois": "3"}


@pytest.fixture
def replica(settings):
    settings.REPORTING_DATABASE_ALIAS = "reporting"
    return connections["reporting"]


def test_without_a_replica_everything_reads_the_primary(client, dataset):  # noqa: F811
    assert reporting_alias() == "default"
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    with CaptureQueriesContext(connections["reporting"]) as on_replica:
        page = client.get(reverse("indicators:index"), MARCH)
    assert page.status_code == 200
    assert len(on_replica) == 0


def test_the_indicators_page_reads_its_figures_on_the_replica(
    client,
    dataset,  # noqa: F811
    replica,
    settings,
):
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    url = reverse("indicators:index")
    with CaptureQueriesContext(replica) as on_replica:
        csv = client.get(url, {**MARCH, "format": "csv"}).content.decode("utf-8")
    tables = {query["sql"].split(" FROM ")[1].split()[0].strip('"') for query in on_replica}
    assert {"referrals_signalement", "indicators_snapshotmonth"} <= tables
    assert not tables & {"django_session", "pdp_user"}  # the session and the user: primary
    # The replica does not hold the test's uncommitted referrals: 0 where the primary has 6.
    seuil = next(line for line in csv.splitlines() if line.startswith("Seuil de durée (CPAM)"))
    assert seuil.split(";")[1] == "0"
    # The same page without the replica counts them.
    settings.REPORTING_DATABASE_ALIAS = "default"
    csv = client.get(url, {**MARCH, "format": "csv"}).content.decode("utf-8")
    seuil = next(line for line in csv.splitlines() if line.startswith("Seuil de durée (CPAM)"))
    assert seuil.split(";")[1] == "6"


def test_the_page_and_the_xlsx_export_query_only_the_replica_for_the_figures(
    client,
    dataset,  # noqa: F811
    replica,
):
    a, _b = dataset
    client.force_login(UserFactory(manager=True, unit=a))
    url = reverse("indicators:index")
    for params in (MARCH, {**MARCH, "format": "xlsx"}):
        with CaptureQueriesContext(replica) as on_replica:
            response = client.get(url, params)
        assert response.status_code == 200
        assert len(on_replica) >= 20  # every indicator's counts
        assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in on_replica)
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert "signalements_origine" in book.sheetnames


def test_the_router_writes_and_migrates_only_on_the_primary():
    router = PrimaryRouter()
    assert router.db_for_read(Snapshot) is None  # nothing sent to the replica implicitly
    assert router.db_for_write(Snapshot) == "default"
    assert router.allow_migrate("default", "indicators") is True
    assert router.allow_migrate("reporting", "indicators") is False


def test_an_object_read_on_the_replica_is_saved_on_the_primary(replica):
    read = Region.objects.create(code="99", name="Région du test")
    read._state.db = "reporting"  # as if read with .using("reporting")
    read.name = "Renommée"
    with CaptureQueriesContext(replica) as on_replica:
        read.save()
    assert len(on_replica) == 0
    assert Region.objects.get(pk=read.pk).name == "Renommée"
