"""Attendance per session (the service, the grid page), « A participé » once the action is
finished, and the attendance import of a webinar from real CSV bytes (UTF-8 and Windows-1252,
`;` and `,`): every line gets an outcome."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cases.models import CaseEvent
from collective import attendance
from collective import participants as p
from collective.attendance import Outcome, attendance_import, attendance_record
from collective.models import ActionEvent, ActionStatus, ActionType, Presence, PresenceStatus
from collective.signals import action_finished
from pdp import access_codes
from pdp.models import AccessCode, AuditLog
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    AssureFactory,
    SeanceFactory,
)

pytestmark = pytest.mark.django_db

PRESENT, EXCUSE, ABSENT = PresenceStatus.PRESENT, PresenceStatus.EXCUSE, PresenceStatus.ABSENT


def past(days):
    return timezone.now().replace(microsecond=0) - datetime.timedelta(days=days)


@pytest.fixture
def action(ass):
    return ActionCollectiveFactory(animateur=ass, capacite=10, statut=ActionStatus.EN_COURS)


@pytest.fixture
def seances(action):
    return [SeanceFactory(action=action, debut=past(days)) for days in (21, 14, 7)]


def add(action, **assure):
    case = AccompagnementFactory(referent=action.animateur, assure=AssureFactory(**assure))
    return p.participant_add_from_case(
        action=action, accompagnement=case, accord=True, acting_user=action.animateur
    )


# --- The service -----------------------------------------------------------------------------


def test_recording_a_session_writes_rows_one_event_audit_and_timeline(action, seances, ass):
    first, second, third = add(action), add(action), add(action)
    seance = seances[0]
    changed = attendance_record(
        seance=seance,
        statuses={first.pk: PRESENT, second.pk: EXCUSE, third.pk: ""},
        acting_user=ass,
    )
    assert changed == 2
    assert dict(seance.presences.values_list("participant_id", "statut")) == {
        first.pk: PRESENT,
        second.pk: EXCUSE,
    }
    events = ActionEvent.objects.filter(action=action, kind="presence")
    assert events.count() == 1
    assert "1 présent·e(s), 1 excusé·e(s), 0 absent·e(s)" in events.get().summary
    assert str(first.assure) not in events.get().summary  # the action's history names nobody
    assert (
        AuditLog.objects.filter(
            object_type="collective.participant", changes__seance=seance.pk
        ).count()
        == 2
    )
    day = attendance.french_day(seance.debut)
    timeline = CaseEvent.objects.get(accompagnement=first.accompagnement, changes__seance=seance.pk)
    assert timeline.kind == CaseEvent.Kind.COLLECTIVE
    assert timeline.summary.endswith(f"présent·e à la séance du {day}")
    assert day.split()[0] in {
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
    }
    # The same again changes nothing and writes nothing.
    assert attendance_record(seance=seance, statuses={first.pk: PRESENT}, acting_user=ass) == 0
    assert events.count() == 1
    # A change, then a clear.
    assert (
        attendance_record(
            seance=seance, statuses={first.pk: ABSENT, second.pk: ""}, acting_user=ass
        )
        == 2
    )
    assert dict(seance.presences.values_list("participant_id", "statut")) == {first.pk: ABSENT}


def test_refusals_change_nothing(action, seances, ass):
    first = add(action)
    waiting_action = ActionCollectiveFactory(animateur=ass, capacite=1)
    future = SeanceFactory(action=action)
    with pytest.raises(ValidationError, match="pas encore eu lieu"):
        attendance_record(seance=future, statuses={first.pk: PRESENT}, acting_user=ass)
    with pytest.raises(ValidationError, match="Présence inconnue"):
        attendance_record(seance=seances[0], statuses={first.pk: "venu"}, acting_user=ass)
    other = add(waiting_action)
    with pytest.raises(ValidationError, match="pas \\(ou plus\\) inscrit"):
        attendance_record(
            seance=seances[0], statuses={first.pk: PRESENT, other.pk: PRESENT}, acting_user=ass
        )
    p.participant_cancel(participant=first, acting_user=ass, reason="Parti")
    with pytest.raises(ValidationError):
        attendance_record(seance=seances[0], statuses={first.pk: PRESENT}, acting_user=ass)
    assert not Presence.objects.exists()


def test_attended_once_becomes_a_participe_when_the_action_finishes(action, seances, ass):
    came, never = add(action), add(action)
    attendance_record(
        seance=seances[0], statuses={came.pk: PRESENT, never.pk: ABSENT}, acting_user=ass
    )
    came.refresh_from_db()
    assert came.statut.code == p.INSCRIT  # not before the end
    action.statut = ActionStatus.TERMINEE
    action.save()
    action_finished.send(sender=type(action), action=action, acting_user=ass)
    came.refresh_from_db()
    never.refresh_from_db()
    assert (came.statut.code, never.statut.code) == (p.PRESENT, p.INSCRIT)
    assert CaseEvent.objects.filter(
        accompagnement=came.accompagnement, summary__endswith="a participé à l'action"
    ).exists()
    # Corrected after the end: the statuses follow.
    attendance_record(
        seance=seances[0], statuses={came.pk: EXCUSE, never.pk: PRESENT}, acting_user=ass
    )
    came.refresh_from_db()
    never.refresh_from_db()
    assert (came.statut.code, never.statut.code) == (p.INSCRIT, p.PRESENT)


# --- The grid page ---------------------------------------------------------------------------


def grid_url(action):
    return reverse("collective:attendance", args=[action.pk])


def test_the_grid_saves_every_session_in_one_post(client, action, seances, ass):
    SeanceFactory(action=action)  # a future session: no column
    people = [add(action) for _ in range(3)]
    client.force_login(ass)
    text = client.get(grid_url(action)).content.decode()
    assert text.count("<select") == 3 * 3
    data = {f"p{people[0].pk}_s{s.pk}": PRESENT for s in seances}
    data[f"p{people[1].pk}_s{seances[1].pk}"] = EXCUSE
    response = client.post(grid_url(action), data, follow=True)
    assert "Présences enregistrées (4 modification(s))." in response.content.decode()
    assert Presence.objects.count() == 4
    assert ActionEvent.objects.filter(action=action, kind="presence").count() == 3
    text = client.get(grid_url(action)).content.decode()
    assert text.count("selected>Présent·e</option>") == 3


def test_a_bad_value_in_the_grid_saves_nothing(client, action, seances, ass):
    people = [add(action) for _ in range(2)]
    client.force_login(ass)
    data = {
        f"p{people[0].pk}_s{seances[0].pk}": PRESENT,
        f"p{people[1].pk}_s{seances[2].pk}": "n'importe quoi",
    }
    response = client.post(grid_url(action), data)
    assert response.status_code == 200
    assert "Présence inconnue" in response.content.decode()
    assert not Presence.objects.exists()


def test_the_grid_has_a_constant_number_of_queries(
    client, action, seances, ass, django_assert_max_num_queries
):
    client.force_login(ass)
    for _ in range(2):
        add(action)
    client.get(grid_url(action))
    for person in [add(action) for _ in range(6)]:
        attendance_record(seance=seances[0], statuses={person.pk: PRESENT}, acting_user=ass)
    with django_assert_max_num_queries(12):
        assert client.get(grid_url(action)).status_code == 200


def test_no_past_session_says_so(client, action, ass):
    SeanceFactory(action=action)
    client.force_login(ass)
    assert "Aucune séance n'a encore eu lieu" in client.get(grid_url(action)).content.decode()
    response = client.post(grid_url(action), {})
    assert response.status_code == 200


# --- The attendance import -------------------------------------------------------------------


@pytest.fixture
def webinar(ass):
    action = ActionCollectiveFactory(
        animateur=ass,
        type=ActionType.objects.get(code="webinaire"),
        capacite=2,
        statut=ActionStatus.EN_COURS,
        lien_visio="https://visio.example.org/webinaire",
    )
    return action


@pytest.fixture
def session(webinar):
    return SeanceFactory(action=webinar, debut=past(1))


def code_for(participant):
    row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.WEBINAR,
        assure_id=participant.assure_id,
        expires_at=timezone.now() + datetime.timedelta(days=10),
        object_type="collective.participant",
        object_id=participant.pk,
    )
    return code


def outcomes(report):
    return [(line.number, line.outcome) for line in report.lines]


def test_import_utf8_semicolons_every_line_gets_an_outcome(webinar, session, ass):
    anne = add(webinar, email="anne.martin@example.org")
    bruno = add(webinar, email="bruno@example.org")
    waiting = add(webinar, email="claire@example.org")  # capacity 2: waitlisted
    shared_1 = p.participant_register(
        action=ActionCollectiveFactory(animateur=ass), assure=AssureFactory(), source="code"
    )
    assert waiting.statut.code == p.LISTE_ATTENTE and shared_1
    code = access_codes.display(code_for(bruno))
    data = (
        "\ufeffNom;Adresse e-mail;Code d'inscription;Durée\r\n"
        "Anne Martin;ANNE.MARTIN@example.org;;55 min\r\n"  # 2: by e-mail, any case
        f"Bruno;;{code.lower()};50 min\r\n"  # 3: by code, typed in lower case
        "Anne (reconnexion);anne.martin@example.org;;5 min\r\n"  # 4: duplicate
        "Inconnu;personne@example.org;;12 min\r\n"  # 5: unknown
        "Claire;claire@example.org;;40 min\r\n"  # 6: waitlisted, not marked
        "Sans rien;;;3 min\r\n"  # 7: no identifier
        ";;;\r\n"  # 8: blank, counted
        "Faux code;;ZZZZ-ZZZZ;1 min\r\n"  # 9: unknown code
    ).encode()
    report = attendance_import(seance=session, data=data, acting_user=ass)
    assert (report.encoding, report.delimiter) == ("UTF-8", "point-virgule")
    assert outcomes(report) == [
        (2, Outcome.PRESENT),
        (3, Outcome.PRESENT),
        (4, Outcome.DOUBLON),
        (5, Outcome.INCONNU),
        (6, Outcome.NON_INSCRIT),
        (7, Outcome.SANS_IDENTIFIANT),
        (9, Outcome.INCONNU),
    ]
    assert report.blank_lines == 1
    assert set(session.presences.values_list("participant_id", flat=True)) == {anne.pk, bruno.pk}
    assert session.presences.filter(statut=PRESENT).count() == 2
    event = ActionEvent.objects.get(action=webinar, kind="presence")
    assert event.summary.startswith("Import des présences")
    assert code.replace("-", "") not in str(report.lines)  # codes are masked in the report


def test_import_windows_1252_commas_and_an_ambiguous_email(webinar, session, ass):
    one = add(webinar, email="famille@example.org", nom_naissance="Lefèvre")
    two = add(webinar, email="Famille@example.org", nom_naissance="Lefèvre")
    data = (
        "Prénom et nom,Adresse électronique,Durée (minutes)\r\n"
        "Hélène Lefèvre,famille@example.org,45\r\n"
        "Gérard Noël,gerard@example.org,30\r\n"
    ).encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    report = attendance_import(seance=session, data=data, acting_user=ass)
    assert (report.encoding, report.delimiter) == ("Windows-1252", "virgule")
    assert report.columns == ["Adresse électronique"]
    assert outcomes(report) == [(2, Outcome.AMBIGU), (3, Outcome.INCONNU)]
    assert not Presence.objects.exists() and one and two


def test_import_of_an_invitation_code_bound_to_the_action(webinar, session, ass):
    person = add(webinar)
    _row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.WEBINAR,
        assure_id=person.assure_id,
        expires_at=timezone.now() + datetime.timedelta(days=1),
        object_type="collective.actioncollective",
        object_id=webinar.pk,
    )
    report = attendance_import(seance=session, data=f"code\n{code}\n".encode(), acting_user=ass)
    assert outcomes(report) == [(2, Outcome.PRESENT)]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "vide"),
        (b"Nom;Dur\xe9e\nAnne;3\n", "colonne «\u00a0e-mail\u00a0»"),
        (b"\x00\x01\x02PK\x03\x04", "pas un fichier CSV"),
        (b"\n\n", "ligne d'en-tête"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_in_french(webinar, session, ass, data, message):
    with pytest.raises(ValidationError) as refused:
        attendance_import(seance=session, data=data, acting_user=ass)
    assert message in " ".join(refused.value.messages)
    assert not Presence.objects.exists()


def import_url(action, seance):
    return reverse("collective:attendance_import", args=[action.pk, seance.pk])


def test_the_import_page_shows_the_report(client, webinar, session, ass):
    add(webinar, email="anne@example.org")
    client.force_login(ass)
    assert client.get(import_url(webinar, session)).status_code == 200
    upload = SimpleUploadedFile(
        "presences.csv", b"Email;Nom\nanne@example.org;Anne\ninconnu@example.org;X\n"
    )
    response = client.post(import_url(webinar, session), {"fichier": upload})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Rapport d'import" in text and "Pointé·e présent·e" in text and "Inconnu·e" in text
    assert Presence.objects.filter(seance=session, statut=PRESENT).count() == 1
    bad = SimpleUploadedFile("x.csv", b"Nom;Prenom\nA;B\n")
    response = client.post(import_url(webinar, session), {"fichier": bad})
    assert response.status_code == 200
    assert "colonne «\u00a0e-mail\u00a0»" in response.content.decode()
    response = client.post(import_url(webinar, session), {})
    assert response.status_code == 200
    # A future session: refused, nothing read.
    future = SeanceFactory(action=webinar)
    upload = SimpleUploadedFile("presences.csv", b"Email\nanne@example.org\n")
    response = client.post(import_url(webinar, future), {"fichier": upload})
    assert response.status_code == 200
    assert not Presence.objects.filter(seance=future).exists()


def test_a_cell_missing_from_the_post_is_left_as_is(client, action, seances, ass):
    known = add(action)
    attendance_record(seance=seances[0], statuses={known.pk: PRESENT}, acting_user=ass)
    client.force_login(ass)
    response = client.post(grid_url(action), {f"p{known.pk}_s{seances[1].pk}": ABSENT})
    assert response.status_code == 302
    assert dict(Presence.objects.values_list("seance_id", "statut")) == {
        seances[0].pk: PRESENT,
        seances[1].pk: ABSENT,
    }
