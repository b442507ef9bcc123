"""A unit manager opens the indicators from « Activité de l'unité », picks a quarter, reads a
chart beside its table, and downloads the XLSX with its definitions."""

import datetime
import io
import re
from pathlib import Path

import openpyxl
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import SignalementFactory, UnitFactory, UserFactory

PASSWORD = "motdepasse-test"


def test_a_manager_reads_a_quarter_and_downloads_the_xlsx(page, live_server):
    unit = UnitFactory(name="Unité de Rouen")
    manager = UserFactory(manager=True, unit=unit, username="responsable")
    year = timezone.localdate().year - 1
    for month, n in ((4, 7), (5, 3), (1, 6)):  # Q2: 10 « seuil »; Q1: 6
        SignalementFactory.create_batch(
            n, unit=unit, origine="seuil_cpam", date_signalement=datetime.date(year, month, 10)
        )

    login(page, live_server, manager.username, PASSWORD)
    with page.expect_navigation():
        page.get_by_role("link", name="Indicateurs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Indicateurs · Unité de Rouen")
    page.get_by_label("Période", exact=True).select_option("trimestre")
    page.get_by_label("Année", exact=True).select_option(str(year))
    page.get_by_label("Trimestre", exact=True).select_option("2")
    with page.expect_navigation():
        page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_text(f"2e trimestre {year}, comparé à 1er trimestre {year}")).to_be_visible()
    section = page.locator(
        "section", has=page.get_by_role("heading", name="Signalements par origine")
    )
    seuil = section.get_by_role("row", name=re.compile(r"^Seuil de durée"))
    expect(seuil.locator("td")).to_have_text(["10", "0", "10", "6", "100,0\u00a0%"])
    chart = section.get_by_role("img", name=re.compile("Graphique"))
    expect(chart).to_be_visible()
    assert chart.bounding_box()["height"] > 100  # drawn by the vendored Chart.js
    assert page.evaluate("typeof window.Chart") == "function"
    screenshot(page, "indicators_manager_quarter")
    check_a11y(page, "indicateurs")

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("XLSX")).click()
    assert download.value.suggested_filename == f"indicateurs_{year}-04-01_{year}-06-30.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert "Définitions" in book.sheetnames
    rows = {r[0]: r for r in book["signalements_origine"].iter_rows(values_only=True) if r[0]}
    assert rows["Seuil de durée (CPAM)"][1:5] == (10, 0, 10, 6)
