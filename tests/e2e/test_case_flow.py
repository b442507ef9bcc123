"""Case work in a browser, the way an ASS does it (issue "Case work").

An ASS logs in, finds a person by name typed without accents, opens her accompagnement,
writes an évaluation globale, adds two objectives to the plan d'aide, schedules a meeting and
records it once held, starts an essai encadré (refused while the médecin du travail's agreement
is missing, accepted once it is recorded), uploads a PDF and closes the case (refused while the
essai is en cours: she ends it from the closure page's list, then closes). Every step is
checked in the page and in the database (the row and its CaseEvent, with the ASS as actor);
every page is checked with axe-core and photographed at 1366×768.

A second test shows the dashboard of a manager (the unit's view) and of a conseiller (no case
content).

Time: each test runs at a fixed hour (next Tuesday, 09:00, Paris) with the clock ticking, so
that the meeting can be planned in the future and then recorded after it took place.
"""

import datetime
import re
from zoneinfo import ZoneInfo

import time_machine
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases import services
from cases.models import (
    Accompagnement,
    CaseEvent,
    CaseStatus,
    Cloture,
    DispositifMobilise,
    DispositifStatut,
    DispositifType,
    Document,
    Entretien,
    EvaluationGlobale,
    Objectif,
)
from pdp.workdays import count_jours_ouvrables
from referrals.models import SituationEmploi
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    ArretFactory,
    AssureFactory,
    EntretienFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
    make_nir,
)

PASSWORD = "motdepasse-test"
PARIS = ZoneInfo("Europe/Paris")
# The smallest file the content check takes for a PDF.
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def _next_tuesday_9am():
    """A working morning close to the real date (cookies set by the server stay valid)."""
    today = datetime.date.today()
    day = today + datetime.timedelta(days=(1 - today.weekday()) % 7 or 7)
    return datetime.datetime.combine(day, datetime.time(9, 0), tzinfo=PARIS)


def _essai_encadre_type():
    # Loaded by a data migration, but emptied by the truncation of earlier live_server tests.
    kind, _ = DispositifType.objects.update_or_create(
        code="essai_encadre",
        defaults={"label": "Essai encadré", "phase": DispositifType.Phase.PENDANT, "active": True},
    )
    return kind


def _events(case, kind):
    return list(CaseEvent.objects.filter(accompagnement=case, kind=kind).order_by("at", "pk"))


def _success(page):
    return page.locator(".alert-success[role=alert]")


def _nav(page, name):
    with page.expect_navigation():
        page.get_by_role("link", name=name, exact=True).first.click()


def _tab(page, name):
    tabs = page.get_by_role("navigation", name="Rubriques de l'activité de l'unité")
    with page.expect_navigation():
        tabs.get_by_role("link", name=name, exact=True).click()


def _logout(page):
    page.locator("#user-menu").click()  # the user menu of the navbar
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()


def test_an_ass_works_a_case_from_search_to_closure(page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The clock jumps 2 h 30 to the end of the meeting: not an idle session (issue 14, item 4).
    settings.SESSION_IDLE_MINUTES = 24 * 60
    start = _next_tuesday_9am()
    with time_machine.travel(start, tick=True) as traveller:
        today = timezone.localdate()
        unit = UnitFactory(name="Unité de Rouen")
        ass = UserFactory(
            ass=True, unit=unit, username="agnes", first_name="Agnès", last_name="Dupont"
        )
        helene = AssureFactory(
            nir=make_nir(501, sex="2"),
            nom_naissance="Dupré",
            prenoms="Hélène",
            sexe="2",
            situation_emploi=SituationEmploi.CDI,
            employeur_nom="Boulangerie du Vieux-Marché",
            poste="Vendeuse",
        )
        ArretFactory(assure=helene, date_debut=today - datetime.timedelta(days=99))
        case = services.case_open(assure=helene, referent=ass, acting_user=ass)
        # Another Hélène the ASS may see: the search must not return her for "helene dupre".
        other = AssureFactory(nir=make_nir(502, sex="2"), nom_naissance="Martin", prenoms="Hélène")
        SignalementFactory(assure=other, unit=unit, assigned_to=ass)
        essai = _essai_encadre_type()
        pdf = tmp_path / "attestation-employeur.pdf"
        pdf.write_bytes(PDF_BYTES)

        # 1. Log in through the login page: the home page is her dashboard.
        login(page, live_server, "agnes", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Mon activité")
        expect(page.locator("#user-menu")).to_contain_text("Agnès")
        expect(page.locator("#h-cases")).to_contain_text("Accompagnements ouverts ou suspendus (1)")
        expect(page.get_by_role("link", name="Dupré Hélène")).to_be_visible()
        check_a11y(page, "tableau de bord (ASS)")
        screenshot(page, "case_01_dashboard_ass")

        # ... finds the person by name, typed without accents; Enter submits the search.
        _nav(page, "Rechercher")
        page.get_by_label("Nom, prénom ou NIR").fill("helene dupre")
        with page.expect_navigation():
            page.get_by_label("Nom, prénom ou NIR").press("Enter")
        expect(page.get_by_role("heading", level=2)).to_have_text(
            "1 résultat pour « helene dupre »"
        )
        assert "helene" not in page.url  # the query was posted, not put in the URL
        results = page.locator("main table tbody tr")
        expect(results).to_have_count(1)
        expect(results).to_contain_text("Accompagnement prévention de la désinsertion")
        expect(page.locator("main")).not_to_contain_text("Martin")
        check_a11y(page, "résultats de recherche")
        screenshot(page, "case_02_search_results")

        # ... opens the person's page (arrêt on its 100th day), then the open case.
        with page.expect_navigation():
            results.get_by_role("link", name="Dupré Hélène").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dupré Hélène")
        expect(page.locator("#h-arret-" + str(helene.arrets.get().pk))).to_contain_text(
            "en cours · jour 100"
        )
        check_a11y(page, "page de l'assurée")
        screenshot(page, "case_03_assure")
        with page.expect_navigation():
            page.get_by_role("link", name="Prévention de la désinsertion professionnelle").click()
        assert page.url == live_server.url + reverse("cases:accompagnement_detail", args=[case.pk])
        expect(page.get_by_role("heading", level=1)).to_contain_text("Accompagnement de")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Ouvert")
        check_a11y(page, "page de l'accompagnement")
        screenshot(page, "case_04_accompagnement")

        # 2. The évaluation globale.
        _nav(page, "Évaluation globale")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Évaluation globale de la situation"
        )
        check_a11y(page, "formulaire d'évaluation globale")
        page.get_by_label("Contraintes de santé et limitations fonctionnelles").fill(
            "Port de charges limité à 5 kg, station debout prolongée difficile."
        )
        page.get_by_label("Emploi (poste, relation avec l'employeur, contrat)").fill(
            "Vendeuse en CDI depuis 2012, bonne relation avec l'employeur."
        )
        page.get_by_label("Compétences et potentiel").fill("Gestion de caisse, accueil client.")
        page.get_by_label("Freins").fill("Crainte de ne pas tenir la journée complète.")
        page.get_by_label("Risque de désinsertion").select_option(label="Élevé")
        screenshot(page, "case_05_evaluation_form")
        with page.expect_navigation():
            page.get_by_role("button", name="Enregistrer l'évaluation").click()
        expect(_success(page)).to_contain_text("Évaluation globale enregistrée (version 1)")
        expect(page.get_by_role("heading", level=1)).to_have_text("Évaluation globale – version 1")
        expect(page.locator("main")).to_contain_text("Port de charges limité à 5 kg")
        screenshot(page, "case_06_evaluation_detail")
        evaluation = EvaluationGlobale.objects.get(accompagnement=case)
        assert (evaluation.version, evaluation.niveau_risque) == (1, "eleve")
        assert evaluation.created_by == ass
        assert evaluation.freins == "Crainte de ne pas tenir la journée complète."
        [event] = _events(case, CaseEvent.Kind.EVALUATION)
        assert event.actor == ass and "risque Élevé" in event.summary

        # 3. Two objectives in the plan d'aide (the second one submitted with Enter).
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^Accompagnement de")).click()
        _nav(page, "Plan d'aide")
        expect(page.get_by_role("heading", level=1)).to_have_text("Plan d'aide")
        _nav(page, "Ajouter un objectif")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ajouter un objectif")
        check_a11y(page, "formulaire d'objectif")
        page.get_by_label("Domaine").select_option(label="Emploi et maintien")
        page.get_by_label("Objectif").fill("Préparer une reprise à temps partiel")
        page.get_by_label("Échéance").fill(f"{today + datetime.timedelta(days=30):%Y-%m-%d}")
        screenshot(page, "case_07_objectif_form")
        with page.expect_navigation():
            page.get_by_role("button", name="Ajouter").click()
        expect(_success(page)).to_contain_text("Objectif ajouté au plan d'aide.")
        _nav(page, "Ajouter un objectif")
        page.get_by_label("Domaine").select_option(label="Accès aux droits")
        page.get_by_label("Objectif").fill("Déposer une demande de RQTH")
        with page.expect_navigation():
            page.get_by_label("Objectif").press("Enter")
        expect(_success(page)).to_contain_text("Objectif ajouté au plan d'aide.")
        expect(page.get_by_role("heading", level=2)).to_have_text(
            ["Préparer une reprise à temps partiel", "Déposer une demande de RQTH"]
        )
        screenshot(page, "case_08_plan")
        assert list(
            Objectif.objects.filter(accompagnement=case)
            .order_by("pk")
            .values_list("libelle", "domaine", "echeance", "statut")
        ) == [
            (
                "Préparer une reprise à temps partiel",
                "emploi",
                today + datetime.timedelta(days=30),
                "en_cours",
            ),
            ("Déposer une demande de RQTH", "droits", None, "en_cours"),
        ]
        events = _events(case, CaseEvent.Kind.OBJECTIVE)
        assert [e.actor for e in events] == [ass, ass]

        # 4. A meeting at 10:00 today, recorded as held once it has taken place.
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^Accompagnement de")).click()
        _nav(page, "Planifier un entretien")
        check_a11y(page, "formulaire de planification d'entretien")
        page.get_by_label("Date").fill(f"{today:%Y-%m-%d}")
        page.get_by_label("Heure").fill("10:00")
        page.get_by_label("Modalité").select_option(label="Consultation sociale sur site")
        expect(page.get_by_label("ASS")).to_have_value(str(ass.pk))
        screenshot(page, "case_09_entretien_form")
        with page.expect_navigation():
            page.get_by_role("button", name="Planifier").click()
        expect(_success(page)).to_contain_text("Entretien planifié.")
        meetings = page.locator("#entretiens tbody tr")
        expect(meetings).to_have_count(1)
        expect(meetings).to_contain_text(f"{today:%d/%m/%Y} 10:00")
        expect(meetings).to_contain_text("Planifié")
        entretien = Entretien.objects.get(accompagnement=case)
        assert entretien.statut == Entretien.Statut.PLANIFIE
        assert timezone.localtime(entretien.debut).replace(tzinfo=None) == datetime.datetime(
            today.year, today.month, today.day, 10, 0
        )
        assert (entretien.ass, entretien.mode, entretien.duree_minutes) == (ass, "sur_place", 60)
        [event] = _events(case, CaseEvent.Kind.ENTRETIEN)
        assert event.actor == ass

        traveller.move_to(start + datetime.timedelta(hours=2, minutes=30), tick=True)  # 11:30
        with page.expect_navigation():
            meetings.get_by_role("link", name=re.compile("Compte rendu")).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Entretien du")
        check_a11y(page, "compte rendu d'entretien")
        page.get_by_label("Réalisé").check()
        page.get_by_label("Note courte").fill(
            "Point sur la reprise ; accord pour un essai encadré."
        )
        screenshot(page, "case_10_entretien_compte_rendu")
        with page.expect_navigation():
            page.get_by_role("button", name="Enregistrer").click()
        expect(_success(page)).to_contain_text("Entretien mis à jour.")
        expect(meetings).to_contain_text("Réalisé")
        expect(meetings).to_contain_text("Point sur la reprise")
        entretien.refresh_from_db()
        assert entretien.statut == Entretien.Statut.REALISE
        assert entretien.note == "Point sur la reprise ; accord pour un essai encadré."
        events = _events(case, CaseEvent.Kind.ENTRETIEN)
        assert len(events) == 2 and events[-1].actor == ass
        assert events[-1].changes["statut"] == ["planifie", "realise"]

        # 5. An essai encadré, started at once: refused without the médecin du travail's
        #    agreement, accepted once it is recorded.
        first_day = today  # this Tuesday → Friday: 4 jours ouvrables unless a holiday falls in
        last_day = today + datetime.timedelta(days=3)
        workdays = count_jours_ouvrables(first_day, last_day)
        _nav(page, "Mobiliser un dispositif")
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^Essai encadré")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Mobiliser – Essai encadré")
        warnings = page.locator("#dispositif-warnings")
        check_a11y(page, "formulaire de dispositif")
        page.get_by_label("Statut").select_option(label="En cours")
        page.get_by_label("Début de la première période").fill(f"{first_day:%Y-%m-%d}")
        page.get_by_label("Fin de la première période").fill(f"{last_day:%Y-%m-%d}")
        page.get_by_label("Accord du médecin traitant").fill(f"{today:%Y-%m-%d}")
        page.get_by_label("Accord du médecin conseil").fill(f"{today:%Y-%m-%d}")
        page.get_by_label("Dans l'entreprise de l'employeur").check()
        # The conditions are re-checked as the form changes (htmx): only the missing
        # agreement still blocks the start.
        expect(warnings).not_to_contain_text("Indiquez l'entreprise d'accueil")
        expect(warnings).to_contain_text("Bloque le démarrage")
        expect(warnings.locator(".alert-danger li")).to_have_text(
            [re.compile("L'accord du médecin du travail est requis")]
        )
        with page.expect_navigation():
            page.get_by_role("button", name="Enregistrer").click()
        form_errors = page.locator("form .alert-danger, form .invalid-feedback")
        expect(form_errors.first).to_contain_text(
            "L'accord du médecin du travail est requis avant le début de l'essai encadré"
        )
        expect(page.get_by_label("Début de la première période")).to_have_value(
            f"{first_day:%Y-%m-%d}"
        )
        check_a11y(page, "formulaire de dispositif (refus)")
        screenshot(page, "case_11_dispositif_refuse")
        assert not DispositifMobilise.objects.filter(accompagnement=case).exists()
        assert not _events(case, CaseEvent.Kind.DISPOSITIF)

        page.get_by_label("Accord du médecin du travail").fill(f"{today:%Y-%m-%d}")
        expect(warnings).not_to_contain_text("médecin du travail")
        with page.expect_navigation():
            page.get_by_role("button", name="Enregistrer").click()
        expect(_success(page)).to_contain_text("Essai encadré : dispositif enregistré.")
        expect(page.get_by_role("heading", level=1)).to_have_text("Essai encadré")
        expect(page.locator("main .badge").first).to_have_text("En cours")
        expect(page.locator("main")).to_contain_text(f"{workdays} / 14 jours ouvrables")
        check_a11y(page, "détail du dispositif")
        screenshot(page, "case_12_dispositif_detail")
        dispositif = DispositifMobilise.objects.get(accompagnement=case)
        assert (dispositif.type, dispositif.statut) == (essai, DispositifStatut.EN_COURS)
        assert (dispositif.date_debut, dispositif.date_fin) == (first_day, last_day)
        assert dispositif.accord_medecin_travail == today and dispositif.chez_employeur
        assert [(p.date_debut, p.date_fin) for p in dispositif.periodes.all()] == [
            (first_day, last_day)
        ]
        [event] = _events(case, CaseEvent.Kind.DISPOSITIF)
        assert event.actor == ass and event.changes["statut"] == [None, "en_cours"]

        # 6. A document (a real PDF).
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^Accompagnement")).first.click()
        _nav(page, "Ajouter un document")
        check_a11y(page, "formulaire de dépôt de document")
        page.get_by_label("Fichier").set_input_files(str(pdf))
        page.get_by_label("Nom du document").fill("Attestation de l'employeur")
        screenshot(page, "case_13_document_form")
        with page.expect_navigation():
            page.get_by_role("button", name="Déposer").click()
        expect(_success(page)).to_contain_text("Document ajouté.")
        expect(page.locator("#documents tbody tr")).to_contain_text("Attestation de l'employeur")
        document = Document.objects.get(accompagnement=case)
        assert (document.nom, document.content_type) == (
            "Attestation de l'employeur",
            "application/pdf",
        )
        assert (document.taille, document.uploaded_by) == (len(PDF_BYTES), ass)
        stored = settings.MEDIA_ROOT / document.fichier.name
        assert stored.read_bytes() == PDF_BYTES
        assert "attestation" not in document.fichier.name  # the stored name is neutral
        [event] = _events(case, CaseEvent.Kind.DOCUMENT)
        assert event.actor == ass

        # 7. The closure. The page lists what is still open: the essai encadré, still en
        #    cours, must be ended first; the objectives stay as they are.
        _nav(page, "Clôturer")
        expect(page.get_by_role("heading", level=1)).to_have_text("Clôturer l'accompagnement")
        open_work = page.locator("#open-work")
        expect(open_work).to_contain_text("à terminer ou abandonner avant la clôture")
        expect(open_work).to_contain_text("Essai encadré")
        expect(open_work).to_contain_text("Préparer une reprise à temps partiel")
        check_a11y(page, "formulaire de clôture")
        # Without an outcome: refused, nothing changes.
        with page.expect_navigation():
            page.get_by_role("button", name="Clôturer").click()
        expect(page.locator("main")).to_contain_text("Choisissez l'issue de l'accompagnement.")
        case.refresh_from_db()
        assert case.statut == CaseStatus.OUVERT
        # With an outcome but the essai still en cours: refused, the essai is named.
        page.get_by_label("Issue de l'accompagnement").select_option(label="Même poste")
        with page.expect_navigation():
            page.get_by_role("button", name="Clôturer").click()
        expect(page.locator("main form .alert-danger")).to_contain_text(
            f"Un dispositif est encore en cours : Essai encadré (depuis le {first_day:%d/%m/%Y})."
            " Terminez-le ou abandonnez-le avant de clôturer l'accompagnement."
        )
        check_a11y(page, "formulaire de clôture (refus)")
        screenshot(page, "case_13b_cloture_refusee")
        case.refresh_from_db()
        assert case.statut == CaseStatus.OUVERT
        # She ends the essai (no status is preselected), then comes back to close.
        with page.expect_navigation():
            open_work.get_by_role("link", name="Essai encadré").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Changer le statut – Essai encadré"
        )
        expect(page.get_by_label("Nouveau statut")).to_have_value("")
        check_a11y(page, "changement de statut du dispositif")
        page.get_by_label("Nouveau statut").select_option(label="Terminé")
        page.get_by_label("Motif ou commentaire").fill("Essai concluant.")
        with page.expect_navigation():
            page.get_by_role("button", name="Valider").click()
        expect(_success(page)).to_contain_text("Essai encadré : terminé.")
        dispositif.refresh_from_db()
        assert dispositif.statut == DispositifStatut.TERMINE
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^Accompagnement")).first.click()
        _nav(page, "Clôturer")
        expect(open_work).not_to_contain_text("Essai encadré")
        page.get_by_label("Issue de l'accompagnement").select_option(label="Même poste")
        expect(page.get_by_label("Date de clôture")).to_have_value(f"{today:%Y-%m-%d}")
        page.get_by_label("Commentaire").fill("Reprise prévue au même poste après l'essai.")
        screenshot(page, "case_14_cloture_form")
        with page.expect_navigation():
            page.get_by_role("button", name="Clôturer").click()
        expect(_success(page)).to_contain_text("Accompagnement clôturé.")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Clôturé")
        expect(page.get_by_role("link", name="Rouvrir")).to_be_visible()
        expect(page.get_by_role("link", name="Planifier un entretien")).to_have_count(0)
        check_a11y(page, "accompagnement clôturé")
        screenshot(page, "case_15_accompagnement_cloture")
        case.refresh_from_db()
        assert (case.statut, case.date_cloture) == (CaseStatus.CLOTURE, today)
        cloture = Cloture.objects.get(accompagnement=case)
        assert (cloture.outcome, cloture.closed_by) == ("maintien_poste", ass)
        [event] = _events(case, CaseEvent.Kind.CLOSED)
        assert event.actor == ass

        # The whole timeline was written by the ASS, in order.
        assert list(
            CaseEvent.objects.filter(accompagnement=case)
            .order_by("at", "pk")
            .values_list("kind", "actor")
        ) == [
            ("opened", ass.pk),
            ("evaluation", ass.pk),
            ("objective", ass.pk),
            ("objective", ass.pk),
            ("entretien", ass.pk),
            ("entretien", ass.pk),
            ("dispositif", ass.pk),
            ("document", ass.pk),
            ("dispositif", ass.pk),
            ("closed", ass.pk),
        ]
        assert not Accompagnement.objects.open().filter(assure=helene).exists()

        # Her dashboard no longer lists the closed case nor its essai encadré.
        _nav(page, "Mon activité")
        expect(page.locator("#h-cases")).to_have_text("Accompagnements ouverts ou suspendus (0)")
        expect(page.locator("#h-dispositifs")).to_have_text(
            "Dispositifs se terminant sous 14 jours (0)"
        )


def test_the_manager_sees_the_unit_and_the_conseiller_no_case_content(page, live_server):
    with time_machine.travel(_next_tuesday_9am(), tick=True):
        today = timezone.localdate()
        unit = UnitFactory(name="Unité du Havre")
        ass = UserFactory(
            ass=True, unit=unit, username="agnes", first_name="Agnès", last_name="Dupont"
        )
        UserFactory(manager=True, unit=unit, username="remi", first_name="Rémi", last_name="Roux")
        conseiller = UserFactory(
            conseiller=True, unit=unit, username="chloe", first_name="Chloé", last_name="Petit"
        )
        helene = AssureFactory(nom_naissance="Dupré", prenoms="Hélène", sexe="2")
        ArretFactory(assure=helene, date_debut=today - datetime.timedelta(days=99))
        case = services.case_open(assure=helene, referent=ass, acting_user=ass)
        services.evaluation_create(
            accompagnement=case,
            acting_user=ass,
            niveau_risque="modere",
            freins="Inquiète à l'idée de retrouver son équipe.",
        )
        EntretienFactory(
            accompagnement=case,
            debut=datetime.datetime.combine(today, datetime.time(14, 0), tzinfo=PARIS),
        )
        marc = AssureFactory(nom_naissance="Lefebvre", prenoms="Marc")
        SignalementFactory(assure=marc, unit=unit, assigned_to=conseiller)
        SignalementFactory(assure=AssureFactory(nom_naissance="Girard"), unit=unit)

        # The manager: the team's load, the unit's cases and the referrals to assign.
        login(page, live_server, "remi", PASSWORD)
        _nav(page, "Mon activité")
        expect(page.get_by_role("heading", level=1)).to_have_text("Activité de l'unité")
        team = page.locator("section[aria-labelledby=h-team] tbody tr")
        expect(team).to_have_count(2)  # the ASS and the conseiller
        # Columns: referrals, overdue, open cases, objectives, dispositifs, meetings today.
        expect(team.filter(has_text="Agnès Dupont").locator("td")).to_have_text(
            ["0", "0", "1", "0", "0", "1"]
        )
        expect(team.filter(has_text="Chloé Petit").locator("td")).to_have_text(
            ["1", "0", "0", "0", "0", "0"]
        )
        check_a11y(page, "tableau de bord (responsable)")
        screenshot(page, "case_20_dashboard_manager")
        # One tab at a time: the referrals to assign, the unit's cases.
        _tab(page, "Signalements")
        expect(page.locator("#h-unassigned")).to_contain_text("à attribuer (1)")
        _tab(page, "Accompagnements")
        expect(page.locator("section[aria-labelledby=h-cases]")).to_contain_text("Dupré Hélène")
        check_a11y(page, "tableau de bord (responsable), accompagnements")
        # ... and one worker's view, kept from tab to tab.
        _tab(page, "Équipe")
        with page.expect_navigation():
            team.get_by_role("link", name="Agnès Dupont", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Activité de l'unité – Agnès Dupont"
        )
        _tab(page, "Entretiens du jour")
        expect(page.locator("#h-meetings")).to_contain_text("Entretiens du jour (1)")
        _logout(page)

        # The conseiller: her referrals and the unit's meetings, no case content.
        login(page, live_server, "chloe", PASSWORD)
        _nav(page, "Mon activité")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mon activité")
        expect(page.locator("#h-referrals")).to_contain_text("signalements en cours (1)")
        expect(page.locator("main")).to_contain_text("Lefebvre Marc")
        expect(page.locator("#h-meetings")).to_contain_text("(1)")
        expect(page.locator("main")).not_to_contain_text("Accompagnements ouverts")
        expect(page.locator("main")).not_to_contain_text("Girard")
        check_a11y(page, "tableau de bord (conseillère)")
        screenshot(page, "case_21_dashboard_conseiller")
        # The meeting leads to the case page, where the content is withheld.
        with page.expect_navigation():
            page.get_by_role("link", name="Dupré Hélène").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Accompagnement de")
        expect(page.locator("main")).to_contain_text("est réservé au référent du parcours")
        expect(page.locator("main")).not_to_contain_text("retrouver son équipe")
        expect(page.locator("#evaluation")).to_have_count(0)
        check_a11y(page, "accompagnement vu par la conseillère")
        screenshot(page, "case_22_accompagnement_conseiller")
