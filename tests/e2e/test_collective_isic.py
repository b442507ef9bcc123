"""An ISIC in a browser, from the project to its publication (issue 11): the ASS creates the
group « Cancer et travail » with three sessions and asks the unit's validation; the unit's
manager approves it from her queue, which forwards it to the region; the regional manager —
whose home is the regional queue — approves it; the ASS publishes it, and it appears on the
regional calendar. Each step is checked in the page and in the database; pages are checked with
axe-core and photographed. (The participants and their attendance: test_collective_attendance.)
"""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from collective.models import ActionCollective, ActionStatus, ValidationStatus
from tests import reference_data
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import UnitFactory, UserFactory

PASSWORD = "motdepasse-test"


def _logout(page):
    page.locator("#user-menu").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()


_reference_data = reference_data.reload  # an earlier browser test may have emptied them


def test_an_isic_goes_from_project_to_published(page, live_server):
    _reference_data()
    unit = UnitFactory(name="Unité de Rouen")
    ass = UserFactory(
        ass=True, unit=unit, username="camille", first_name="Camille", last_name="Durand"
    )
    UserFactory(ass=True, unit=unit, first_name="Julien", last_name="Lefèvre")
    UserFactory(
        manager=True, unit=unit, username="isabelle", first_name="Isabelle", last_name="Moreau"
    )
    UserFactory(
        regional=True,
        region=unit.region,
        username="helene",
        first_name="Hélène",
        last_name="Garnier",
    )

    # The ASS creates the group.
    login(page, live_server, "camille", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("link", name="Actions collectives").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Nouvelle action").click()
    page.get_by_label("Type d'action").select_option(
        label="ISIC (intervention sociale d'intérêt collectif)"
    )
    page.get_by_label("Thème").select_option(label="Cancer et travail")
    page.get_by_label("Titre").fill("Groupe « Cancer et travail » – printemps")
    page.get_by_label("Présentation").fill(
        "Un groupe de quelques personnes pour échanger sur le retour à l'emploi."
    )
    page.get_by_label("Julien Lefèvre (Unité de Rouen)").check()
    page.get_by_label("Nombre de places").fill("8")
    check_a11y(page, "nouvelle action collective")
    screenshot(page, "collective_isic_create")
    with page.expect_navigation():
        page.get_by_role("button", name="Créer l'action").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancer et travail")
    action = ActionCollective.objects.get()
    assert action.statut == ActionStatus.PROJET and action.animateur == ass

    # Three sessions, two weeks apart.
    first = timezone.localdate() + datetime.timedelta(days=14)
    for week in range(3):
        with page.expect_navigation():
            page.get_by_role("link", name="Ajouter une séance").click()
        day = first + datetime.timedelta(days=14 * week)
        page.get_by_label("Date").fill(day.isoformat())
        page.get_by_label("Heure de début").fill("14:00")
        page.get_by_label("Lieu", exact=True).fill("Agence de Rouen, salle 2")
        if week == 0:
            check_a11y(page, "ajouter une séance")
        with page.expect_navigation():
            page.get_by_role("button", name="Ajouter la séance").click()
        expect(page.get_by_text("Séance ajoutée.")).to_be_visible()
    expect(page.get_by_role("heading", name="Séances (3)")).to_be_visible()
    expect(page.get_by_role("cell", name="14 h 00 – 16 h 00").first).to_be_visible()

    # She asks the unit's validation.
    with page.expect_navigation():
        page.get_by_role("button", name="Demander la validation de l'unité").click()
    expect(page.get_by_text("Validation de l'unité demandée.")).to_be_visible()
    expect(page.get_by_text("En attente de la validation de l'unité.")).to_be_visible()
    check_a11y(page, "action en attente de validation")
    screenshot(page, "collective_isic_asked")
    _logout(page)

    # The unit's manager approves it from her queue.
    login(page, live_server, "isabelle", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("link", name="Actions collectives").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Validations à traiter").click()
    expect(page.get_by_role("heading", name="Validations de l'unité à traiter (1)")).to_be_visible()
    check_a11y(page, "file de validation de l'unité")
    screenshot(page, "collective_queue_unit")
    page.get_by_label("Commentaire (facultatif)").fill("Programme complet, partenaire à confirmer.")
    with page.expect_navigation():
        page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("Validation de l'unité accordée")).to_be_visible()
    action.refresh_from_db()
    assert action.statut == ActionStatus.VALIDEE_UNITE
    assert action.validations.get(niveau="region").statut == ValidationStatus.DEMANDEE
    _logout(page)

    # The regional manager lands on the regional queue and approves it.
    login(page, live_server, "helene", PASSWORD)
    expect(page.get_by_role("heading", name="Validations régionales à traiter (1)")).to_be_visible()
    expect(
        page.get_by_role("link", name="Groupe « Cancer et travail » – printemps")
    ).to_be_visible()
    check_a11y(page, "file de validation régionale")
    screenshot(page, "collective_queue_region")
    with page.expect_navigation():
        page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("Validation de la région accordée")).to_be_visible()
    expect(page.get_by_text("Aucune validation en attente.")).to_be_visible()
    action.refresh_from_db()
    assert action.statut == ActionStatus.VALIDEE_REGION
    _logout(page)

    # The ASS publishes it.
    login(page, live_server, "camille", PASSWORD)
    page.goto(f"{live_server.url}/actions-collectives/{action.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Publier l'action").click()
    expect(page.get_by_text("Action publiée.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Publiée")
    check_a11y(page, "action publiée")
    screenshot(page, "collective_isic_published")
    action.refresh_from_db()
    assert action.statut == ActionStatus.PUBLIEE
    assert list(action.events.values_list("summary", flat=True)[:1]) == ["Action publiée"]

    # On the regional calendar of its month.
    page.goto(f"{live_server.url}/actions-collectives/calendrier/?mois={first:%Y-%m}")
    expect(
        page.get_by_role("link", name="Groupe « Cancer et travail » – printemps").first
    ).to_be_visible()
    check_a11y(page, "calendrier régional")
    screenshot(page, "collective_calendar")
