"""A cellule PDP meeting in a browser, from the agenda to validated minutes (issue « Cellule
PDP »), then what the référent sees of it on the case.

The coordinator logs in (her home is the cellule's page), plans a meeting — the situation the
référent submitted with the person's consent is on its agenda —, freezes the agenda, records
each member's attendance (htmx rows; the quorum turns « atteint »), a decision and an action
for the situation, marks the meeting held, submits the minutes for review and validates them
(confirm dialog), downloads the minutes PDF, whose text holds the decision and the initials but
no NIR, name or address. The référent then finds the decision and the action on the case page.
Each step is checked in the page and in the database; pages are checked with axe-core and
photographed.
"""

import datetime
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from cases import services as case_services
from cases.models import CaseEvent, Consentement
from coordination import services
from coordination.decision_types import ensure_decision_types
from coordination.models import (
    ActionInstance,
    Decision,
    Organisation,
    Presence,
    Reunion,
    TypeDecision,
)
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    AssureFactory,
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    UnitFactory,
    UserFactory,
    make_nir,
)

PASSWORD = "motdepasse-test"
PARIS = ZoneInfo("Europe/Paris")


def _next_tuesday_9am():
    today = datetime.date.today()
    day = today + datetime.timedelta(days=(1 - today.weekday()) % 7 or 7)
    return datetime.datetime.combine(day, datetime.time(9, 0), tzinfo=PARIS)


def _logout(page):
    page.locator("#user-menu").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()


def _step(page, label):
    with page.expect_navigation():
        page.get_by_role("button", name=label, exact=True).click()
    expect(page.locator(".alert-success[role=alert]").first).to_be_visible()


def _world():
    unit = UnitFactory(name="Unité de Rouen")
    agnes = UserFactory(
        ass=True, unit=unit, username="agnes", first_name="Agnès", last_name="Dupont"
    )
    isabelle = UserFactory(
        manager=True, unit=unit, username="isabelle", first_name="Isabelle", last_name="Moreau"
    )
    medecin = UserFactory(
        medecin=True, region=unit.region, username="roussel", first_name="Paul", last_name="Roussel"
    )
    claire = UserFactory(
        coordinateur=True, username="claire", first_name="Claire", last_name="Fontaine"
    )
    lambert = UserFactory(
        partenaire=True, username="lambert", first_name="Paul", last_name="Lambert"
    )
    instance = InstanceFactory(
        region=unit.region,
        units=[unit],
        coordinateurs=[claire],
        nom="Cellule PDP de Seine-Maritime",
    )
    MembreFactory(instance=instance, user=isabelle, organisation=Organisation.SERVICE_SOCIAL)
    MembreFactory(instance=instance, user=medecin, organisation=Organisation.SERVICE_MEDICAL)
    cap_emploi = MembreFactory(
        instance=instance,
        user=lambert,
        contact=PartnerContactFactory(name="Paul Lambert"),
        organisation=Organisation.CAP_EMPLOI,
        fonction="Chargé de maintien dans l'emploi",
    )
    helene = AssureFactory(
        nir=make_nir(601, sex="2"),
        nom_naissance="Dupré",
        prenoms="Hélène",
        sexe="2",
        adresse="12 rue des Lilas",
        commune="Rouen",
        poste="Vendeuse",
    )
    case = case_services.case_open(assure=helene, referent=agnes, acting_user=agnes)
    case_services.consentement_record(
        accompagnement=case, acting_user=agnes, portee=Consentement.Portee.CELLULE_PDP
    )
    fiche = services.fiche_initiale(case)
    fiche["limitations"] = "Station debout prolongée impossible ; port de charges limité."
    saisine = services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=agnes,
        question="Quel aménagement de poste proposer à l'employeur ?",
        **fiche,
    )
    return instance, case, saisine, cap_emploi


def test_a_coordinator_runs_a_meeting_and_the_referent_sees_the_decision(page, live_server):
    # The browser tests' truncation empties what the migration loaded.
    ensure_decision_types(TypeDecision)
    with time_machine.travel(_next_tuesday_9am(), tick=True):
        instance, case, saisine, cap_emploi = _world()
        meeting_day = timezone.localdate() + datetime.timedelta(days=14)

        # 1. The coordinator's home is the cellule: the situation waits for a meeting.
        login(page, live_server, "claire", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Cellule PDP")
        expect(page.get_by_text(f"n° {saisine.pk} (H. D.)")).to_be_visible()
        check_a11y(page, "accueil de la coordination")
        screenshot(page, "cellule_01_home")

        # 2. She plans a meeting: the situation is on its agenda.
        with page.expect_navigation():
            page.get_by_role("link", name="Planifier une réunion").first.click()
        page.get_by_label("Date").fill(meeting_day.isoformat())
        page.get_by_label("Heure").fill("14:00")
        page.get_by_label("Lieu").fill("CARSAT, salle Seine")
        with page.expect_navigation():
            page.get_by_role("button", name="Planifier").click()
        reunion = Reunion.objects.get(instance=instance)
        assert reunion.statut == Reunion.Statut.PLANIFIEE
        expect(page.locator("#ordre-du-jour")).to_contain_text(f"Situation n° {saisine.pk} (H. D.)")
        expect(page.locator("#ordre-du-jour")).to_contain_text("Station debout prolongée")
        expect(page.locator("body")).not_to_contain_text("Dupré")
        check_a11y(page, "réunion planifiée")

        # 3. She freezes the agenda.
        _step(page, "Arrêter l'ordre du jour")
        reunion.refresh_from_db()
        assert reunion.statut == Reunion.Statut.ODJ_ARRETE

        # 4. Attendance, row by row (htmx): everyone present, the quorum is reached.
        presences = list(reunion.presences.select_related("membre__user", "membre__contact"))
        assert len(presences) == 3
        for presence in presences:
            row = page.locator(f"#presence-{presence.pk}")
            row.locator("select").select_option("present")
            row.get_by_role(
                "button", name=f"Enregistrer la présence de {presence.membre.nom}"
            ).click()
            expect(page.locator(f"#presence-{presence.pk} [role=status]")).to_be_visible()
        assert set(reunion.presences.values_list("statut", flat=True)) == {Presence.Statut.PRESENT}
        expect(page.get_by_text("Quorum atteint").first).to_be_visible()

        # 5. A decision and an action for the situation (htmx item card).
        point = reunion.points.get()
        card = page.locator(f"#point-{point.pk}")
        card.get_by_label("Décision ou recommandation").select_option(
            label="Étude de poste / aménagement"
        )
        card.get_by_label("Précisions").fill("Étude ergonomique avec le SPST.")
        card.get_by_role(
            "button", name=f"Ajouter la décision pour la situation n° {saisine.pk}"
        ).click()
        expect(page.locator(f"#point-{point.pk}")).to_contain_text(
            "Étude ergonomique avec le SPST."
        )
        decision = Decision.objects.get(point=point)
        assert not decision.provisoire
        card = page.locator(f"#point-{point.pk}")
        card.get_by_label("Action").fill("Contacter l'employeur pour l'étude de poste")
        card.get_by_label("Confiée à").select_option(str(cap_emploi.pk))
        card.get_by_label("Échéance").fill((meeting_day + datetime.timedelta(days=21)).isoformat())
        card.get_by_role(
            "button", name=f"Ajouter l'action pour la situation n° {saisine.pk}"
        ).click()
        expect(page.locator(f"#point-{point.pk}")).to_contain_text("Contacter l'employeur")
        action = ActionInstance.objects.get(point=point)
        assert action.responsable == cap_emploi
        page.reload()
        check_a11y(page, "réunion en cours")
        screenshot(page, "cellule_02_meeting_live")

        # 6. Held, minutes for review, validated (a confirm dialog asks first).
        _step(page, "Marquer la réunion comme tenue")
        _step(page, "Soumettre le compte rendu à la relecture")
        page.once("dialog", lambda dialog: dialog.accept())
        _step(page, "Valider le compte rendu")
        reunion.refresh_from_db()
        assert reunion.statut == Reunion.Statut.CR_VALIDE
        assert reunion.valide_par.username == "claire"
        expect(page.get_by_text("Ajouter la décision")).to_have_count(0)
        screenshot(page, "cellule_03_minutes_validated")

        # 7. The minutes PDF: the decision and the initials, never the person's identity.
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Compte rendu (PDF)").click()
        content = Path(download_info.value.path()).read_bytes()
        assert content.startswith(b"%PDF")
        text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages)
        text = " ".join(text.split())
        assert "Étude de poste / aménagement" in text
        assert "H. D." in text
        for secret in ("Dupré", "Hélène", "12 rue des Lilas", case.assure.nir):
            assert secret not in text
        _logout(page)

        # 8. The référent sees the decision and the action on the case.
        login(page, live_server, "agnes", PASSWORD)
        page.goto(live_server.url + f"/accompagnements/{case.pk}/")
        panel = page.locator("#cellule")
        expect(panel).to_contain_text("Étude de poste / aménagement")
        expect(panel).to_contain_text("Contacter l'employeur pour l'étude de poste")
        expect(panel).to_contain_text("Compte rendu validé")
        check_a11y(page, "accompagnement avec passage en cellule")
        screenshot(page, "cellule_04_case_panel")
        assert CaseEvent.objects.filter(
            accompagnement=case, kind=CaseEvent.Kind.CELLULE, summary__contains="Étude de poste"
        ).exists()
