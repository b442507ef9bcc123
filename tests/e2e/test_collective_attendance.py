"""Participants and attendance of an ISIC in a browser, the way an ASS does it.

A published ISIC led by the ASS, with three sessions already held (past dates) and two seats:
she opens its participants, adds two people from her unit's accompagnements (refused first
without the person's agreement), a third goes to the waiting list, then she records the
attendance of the three sessions in one save. Every step is checked in the page and in the
database; every page is checked with axe-core and photographed at 1366×768.
"""

import datetime

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import CaseEvent
from collective.models import ActionStatus, Participant, Presence
from tests.collective.test_participants import load_reference_data
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    AssureFactory,
    SeanceFactory,
    UnitFactory,
    UserFactory,
)

PASSWORD = "motdepasse-test"


def test_an_ass_adds_participants_from_cases_and_records_attendance(page, live_server):
    load_reference_data()
    unit = UnitFactory(name="Unité de Rouen")
    ass = UserFactory(
        ass=True, unit=unit, username="ass.isic", first_name="Sophie", last_name="Marchand"
    )
    colleague = UserFactory(ass=True, unit=unit, first_name="Marc", last_name="Leroy")
    people = [
        AssureFactory(nom_naissance="Durand", prenoms="Hélène"),
        AssureFactory(nom_naissance="Lefèvre", prenoms="Karim"),
        AssureFactory(nom_naissance="Petit", prenoms="Julie"),
    ]
    cases = [
        AccompagnementFactory(referent=ass, assure=people[0]),
        AccompagnementFactory(referent=colleague, assure=people[1]),
        AccompagnementFactory(referent=ass, assure=people[2]),
    ]
    action = ActionCollectiveFactory(
        animateur=ass,
        titre="Reprendre le travail après un arrêt long",
        capacite=2,
        statut=ActionStatus.PUBLIEE,
    )
    now = timezone.now().replace(second=0, microsecond=0)
    seances = [
        SeanceFactory(action=action, debut=now - datetime.timedelta(days=days, hours=2))
        for days in (15, 8, 1)
    ]

    login(page, live_server, "ass.isic", PASSWORD)
    page.goto(live_server.url + reverse("collective:participants", args=[action.pk]))
    expect(page.locator("#participants-compteurs")).to_contain_text("0\u00a0/\u00a02")
    page.get_by_role("link", name="Ajouter une personne accompagnée").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ajouter une personne accompagnée")
    check_a11y(page, "ajout d'un participant")
    screenshot(page, "collective_participant_add")

    # Without the person's agreement: refused, nobody added.
    page.get_by_label("Rechercher par nom").fill("durand")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_label("Durand Hélène", exact=False).check()
    page.get_by_role("button", name="Inscrire la personne").click()
    expect(page.locator("#erreur-accord")).to_contain_text("sans son accord")
    assert not Participant.objects.exists()

    page.get_by_label("Durand Hélène", exact=False).check()
    page.get_by_label("La personne a donné son accord pour participer").check()
    page.get_by_role("button", name="Inscrire la personne").click()
    expect(page.locator(".alert-success")).to_contain_text("une place lui est réservée")

    # A colleague's case, found by a name typed without its accent.
    page.get_by_label("Rechercher par nom").fill("lefevre")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_label("Lefèvre Karim", exact=False).check()
    page.get_by_label("La personne a donné son accord pour participer").check()
    page.get_by_role("button", name="Inscrire la personne").click()
    expect(page.locator(".alert-success")).to_contain_text("est inscrit·e")

    # The action is full: the third goes to the waiting list, and the page says so.
    page.get_by_label("Rechercher par nom").fill("petit")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_label("Petit Julie", exact=False).check()
    page.get_by_label("La personne a donné son accord pour participer").check()
    page.get_by_role("button", name="Inscrire la personne").click()
    expect(page.locator(".alert-success")).to_contain_text("liste d'attente (position 1)")

    page.get_by_role("link", name="Voir les participant·es").click()
    expect(page.locator("#participants-compteurs")).to_contain_text("2\u00a0/\u00a02")
    expect(page.locator("#participants-compteurs")).to_contain_text("Liste d'attente\u00a0: 1")
    check_a11y(page, "participants")
    screenshot(page, "collective_participants")
    added = {row.assure_id: row for row in Participant.objects.select_related("statut")}
    assert [added[person.pk].statut.code for person in people] == [
        "inscrit",
        "inscrit",
        "liste_attente",
    ]
    assert all(row.accord_par == ass and row.accord_le for row in added.values())

    # Attendance: one row per counted participant, one column per past session.
    page.get_by_role("link", name="Présences aux séances").click()
    grid = page.locator("#grille-presences")
    expect(grid.locator("tbody tr")).to_have_count(2)
    expect(grid.locator("thead th")).to_have_count(4)
    first, second = (added[people[0].pk], added[people[1].pk])
    for seance in seances:
        page.select_option(f"select[name=p{first.pk}_s{seance.pk}]", "present")
    page.select_option(f"select[name=p{second.pk}_s{seances[0].pk}]", "present")
    page.select_option(f"select[name=p{second.pk}_s{seances[1].pk}]", "excuse")
    page.select_option(f"select[name=p{second.pk}_s{seances[2].pk}]", "absent")
    check_a11y(page, "grille des présences")
    page.get_by_role("button", name="Enregistrer les présences").click()
    expect(page.locator(".alert-success")).to_contain_text("6 modification(s)")
    expect(page.locator(f"select[name=p{second.pk}_s{seances[1].pk}]")).to_have_value("excuse")
    screenshot(page, "collective_attendance")
    assert Presence.objects.filter(participant=first, statut="present").count() == 3
    assert dict(Presence.objects.filter(participant=second).values_list("seance_id", "statut")) == {
        seances[0].pk: "present",
        seances[1].pk: "excuse",
        seances[2].pk: "absent",
    }
    summaries = list(
        CaseEvent.objects.filter(accompagnement=cases[1], kind=CaseEvent.Kind.COLLECTIVE)
        .order_by("at", "pk")
        .values_list("summary", flat=True)
    )
    assert summaries[0].endswith(": inscription")
    assert any("absent·e excusé·e à la séance du" in s for s in summaries)

    # The case page shows it in the timeline.
    page.goto(live_server.url + reverse("cases:accompagnement_detail", args=[cases[0].pk]))
    expect(page.locator("#journal")).to_contain_text("présent·e à la séance du")
