"""A unit manager runs a monthly campaign in a browser: from « Activité de l'unité » to
« Campagnes », creates a campaign, simulates it, reads the counts and the capacity, validates
it, launches it (SMS and e-mails leave), prepares the batch of letters; later the campaign's
funnel shows who was sent, reached, opened and booked, and downloads as CSV."""

import csv
import datetime
import io
import re
from pathlib import Path

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Motif, PlageOuverture
from outreach.models import Campagne, Cible, RegleCanal
from pdp.models import Message, UnitTerritory
from referrals.models import ArretTravail
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import AssureFactory, SignalementFactory, UnitFactory, UserFactory

PASSWORD = "motdepasse-test"
RULES = [  # the region's own channel rules (the defaults may be truncated by other tests)
    (10, "Arrêt de 180 jours ou plus : appel", {"duree_min": 180, "contact_connu": "telephone"}),
    (20, "Mobile connu : SMS", {"contact_connu": "mobile"}, "sms"),
    (30, "E-mail connu : e-mail", {"contact_connu": "email"}, "email"),
    (40, "Adresse connue : courrier", {"contact_connu": "adresse"}, "courrier"),
    (50, "Sinon : aucun", {}, "aucun"),
]


def _rules(region):
    for ordre, libelle, conditions, *canal in RULES:
        RegleCanal.objects.create(
            region=region,
            ordre=ordre,
            libelle=libelle,
            canal=canal[0] if canal else "appel",
            **conditions,
        )


def _person(today, n, days=100, born=datetime.date(1980, 4, 2), **fields):
    fields.setdefault("adresse", "")
    assure = AssureFactory(
        nom_naissance=f"Personne{n:02d}", date_naissance=born, code_postal="76000", **fields
    )
    ArretTravail.objects.create(
        assure=assure,
        type_arret="MAL",
        date_debut=today - datetime.timedelta(days=days - 1),
        date_fin_prevue=today + datetime.timedelta(days=30),
        cpam=assure.cpam,
    )
    return assure


def _population(today, unit):
    """20 people on sick leave for 90 days or more: 4 to call, 6 SMS, 4 e-mails, 4 letters,
    one with no contact detail, one already followed (excluded)."""
    people = {"appel": [], "sms": [], "email": [], "courrier": []}
    n = 0
    for i in range(4):
        n += 1
        phone = f"02 35 11 22 {30 + i}"
        people["appel"].append(_person(today, n, days=200 + i * 40, telephone=phone))
    for i in range(6):
        n += 1
        born = datetime.date(1998 - i * 6, 1 + i, 10)
        people["sms"].append(
            _person(today, n, days=90 + i * 10, born=born, telephone=f"06 12 34 56 {i:02d}")
        )
    for _ in range(4):
        n += 1
        people["email"].append(_person(today, n, days=95, email=f"p{n}@example.org"))
    for i in range(4):
        n += 1
        people["courrier"].append(
            _person(today, n, days=120, adresse=f"{i + 1} rue du Gros-Horloge")
        )
    _person(today, 19)  # nothing known: channel « aucun »
    followed = _person(today, 20, email="suivi@example.org")
    SignalementFactory(assure=followed, unit=unit)
    return people


def _sent(people, canal, **fields):
    Cible.objects.filter(assure__in=people, canal=canal).update(**fields)


def test_a_manager_builds_simulates_validates_and_reads_the_funnel(page, live_server):
    today = timezone.localdate()
    unit = UnitFactory(name="Unité de Rouen", telephone="02 35 00 00 00")
    UnitTerritory.objects.create(unit=unit, prefix="76")
    manager = UserFactory(
        manager=True, unit=unit, username="responsable", first_name="Claire", last_name="Martin"
    )
    ass = UserFactory(ass=True, unit=unit, first_name="Agnès", last_name="Dupont")
    Motif.objects.get_or_create(label="Premier rendez-vous", defaults={"duree_minutes": 60})
    for weekday in range(5):
        PlageOuverture.objects.create(
            ass=ass,
            weekday=weekday,
            heure_debut=datetime.time(9, 0),
            heure_fin=datetime.time(12, 0),
            lieu="Agence de Rouen",
            modes=["sur_place", "telephone"],
            premier_jour=today - datetime.timedelta(days=7),
        )
    _rules(unit.region)
    people = _population(today, unit)

    # From « Activité de l'unité » to « Campagnes », then a new campaign.
    login(page, live_server, manager.username, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Activité de l'unité")
    with page.expect_navigation():
        page.get_by_role("link", name="Campagnes de contact de l'unité").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Campagnes")
    with page.expect_navigation():
        page.get_by_role("link", name="Nouvelle campagne").click()
    page.get_by_role("textbox", name=re.compile(r"^Nom\b")).fill("Campagne de décembre")
    expect(page.get_by_label("Date de référence")).to_have_value(today.isoformat())
    check_a11y(page, "nouvelle campagne")
    with page.expect_navigation():
        page.get_by_role("button", name="Créer la campagne").click()
    expect(page.locator(".alert-success", has_text="Campagne créée")).to_be_visible()
    expect(page.locator("h1 ~ .badge")).to_have_text("Brouillon")

    # Simulation: counts per channel and exclusion, capacity.
    with page.expect_navigation():
        page.get_by_role("button", name="Simuler").click()
    expect(page.locator(".alert-success", has_text="Simulation terminée")).to_be_visible()
    expect(page.locator("h1 ~ .badge")).to_have_text("Simulée")
    expect(page.get_by_text("20 personnes dans la population.")).to_be_visible()
    channels = page.locator("table", has=page.locator("caption", has_text="Cibles par canal"))
    for label, n in (
        ("Appel par un conseiller", 4),
        ("SMS", 6),
        ("E-mail", 4),
        ("Courrier avec QR code", 4),
        ("Aucun", 1),
    ):
        expect(channels.get_by_role("row", name=re.compile(f"^{label} {n}$"))).to_be_visible()
    excluded = page.locator("table", has=page.locator("caption", has_text="Personnes écartées"))
    expect(excluded.get_by_role("row", name=re.compile(r"^Déjà suivi .* 1$"))).to_be_visible()
    capacity = page.locator(".alert-success", has_text="réponses attendues")
    expect(capacity).to_contain_text("3 réponses attendues (15\u00a0% de 18)")
    expect(capacity).to_contain_text("(1 ASS)")
    screenshot(page, "campaign_manager_simulated")
    check_a11y(page, "campagne simulée")

    # Validation.
    with page.expect_navigation():
        page.get_by_role("button", name="Valider").click()
    expect(page.locator(".alert-success", has_text="Campagne validée")).to_be_visible()
    expect(page.locator("h1 ~ .badge")).to_have_text("Validée")
    expect(page.get_by_role("button", name="Simuler")).to_have_count(0)
    expect(page.get_by_role("heading", name="Entonnoir")).to_be_visible()
    screenshot(page, "campaign_manager_validated")
    campagne = Campagne.objects.get()
    assert campagne.statut == "validee" and campagne.validee_par == manager

    # Launch: the SMS and e-mails leave (the Celery task runs in-process in tests).
    with page.expect_navigation():
        page.get_by_role("button", name="Lancer la campagne").click()
    expect(page.locator(".alert-success", has_text="Campagne lancée")).to_be_visible()
    expect(page.locator("h1 ~ .badge")).to_have_text("En cours")
    sending = page.locator("#envoi")
    expect(sending).to_contain_text("6\u00a0SMS envoyés")
    expect(sending).to_contain_text("4\u00a0e-mails")
    # The letters: one batch, its PDF and CSV.
    with page.expect_navigation():
        page.get_by_role("button", name="Préparer un lot de 4\u00a0courriers").click()
    page.reload()
    letters_section = page.locator("#courriers")
    expect(letters_section.get_by_role("row", name=re.compile(r"^n° 1 .* 4 Prêt"))).to_be_visible()
    screenshot(page, "campaign_manager_launched")
    campagne = Campagne.objects.get()
    assert Cible.objects.filter(campagne=campagne, envoye_le__isnull=False).count() == 14

    # Later: delivery reports came, people opened their link and booked; the conseillers
    # called (set in the database, as the provider, the public pages and the call lists would).
    now = timezone.now()
    sms, mails, letters, calls = (people[k] for k in ("sms", "email", "courrier", "appel"))
    for i, assure in enumerate(sms[:4]):
        delivery = Message.Delivery.DELIVERED if i < 3 else Message.Delivery.UNDELIVERED
        Message.objects.filter(
            pk=Cible.objects.get(campagne=campagne, assure=assure).message_id
        ).update(delivery_status=delivery, delivery_received_at=now)
    _sent(sms[:2], "sms", ouvert_le=now)
    _sent(sms[:1], "sms", rdv_pris_le=now)
    _sent(mails[:1], "email", ouvert_le=now)
    _sent(letters[:1], "courrier", ouvert_le=now, rdv_pris_le=now)
    _sent(calls[:2], "appel", tentatives=1, dernier_resultat="pas_de_reponse")
    _sent(calls[:1], "appel", tentatives=2, dernier_resultat="rdv", rdv_pris_le=now)

    page.reload()
    expect(page.locator("h1 ~ .badge")).to_have_text("En cours")
    funnel = page.locator("section", has=page.get_by_role("heading", name="Entonnoir"))
    expect(funnel.get_by_role("columnheader")).to_have_text(
        [
            "Étape",
            "Appel par un conseiller",
            "SMS",
            "E-mail",
            "Courrier avec QR code",
            "Total",
            "Part du total",
        ]
    )

    def line(stage):
        return funnel.get_by_role("row", name=re.compile(f"^{stage}"))

    expect(line("Ciblés").locator("td")).to_have_text(["4", "6", "4", "4", "18", ""])
    expect(line("Envoyés").locator("td")).to_have_text(
        ["2 50\u00a0%", "6 100\u00a0%", "4 100\u00a0%", "4 100\u00a0%", "16 88,9\u00a0%", ""]
    )
    expect(line("Délivrés").locator("td").nth(4)).to_have_text("12 66,7\u00a0%")
    expect(line("Lien ouvert").locator("td").first).to_have_text("—")
    expect(line("Lien ouvert").locator("td").nth(4)).to_have_text("4 22,2\u00a0%")
    expect(line("Rendez-vous pris").locator("td").nth(4)).to_have_text("3 16,7\u00a0%")
    expect(line("Accompagnement ouvert").locator("td").nth(4)).to_have_text("0 0\u00a0%")
    screenshot(page, "campaign_manager_funnel")
    check_a11y(page, "entonnoir de la campagne")

    # The CSV export.
    with page.expect_download() as download:
        funnel.get_by_role("link", name="Exporter (CSV)").click()
    assert download.value.suggested_filename.startswith(f"entonnoir_{campagne.pk}_")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["Canal", "Ciblés", "Envoyés"]
    assert rows[-1] == ["Total", "18", "16", "12", "4", "3", "0", "0"]
    assert page.url.split("#")[0].endswith(reverse("outreach:campaign_detail", args=[campagne.pk]))
