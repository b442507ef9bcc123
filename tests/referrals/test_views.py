"""Inbox, referral detail and its actions (contact, status, assignment, opening the case)."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse

from cases.models import Accompagnement
from pdp.models import AuditLog
from referrals import detection
from referrals.models import (
    ContactAttempt,
    DetectionRun,
    Origine,
    Signalement,
    SignalementEvent,
    Statut,
)
from referrals.tasks import scan_arrets_task
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    CpamFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 10)
NOW = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=datetime.UTC)
S = Statut


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def referral(unit, ass):
    arret = ArretFactory(date_debut=TODAY - datetime.timedelta(days=99))
    return SignalementFactory(
        assure=arret.assure,
        arret=arret,
        unit=unit,
        assigned_to=ass,
        statut=S.A_CONTACTER,
        date_echeance=TODAY + datetime.timedelta(days=20),
    )


def _login_url(url):
    return f"{reverse('login')}?next={url}"


# --- Inbox -------------------------------------------------------------------------------------


INBOX = reverse("referrals:inbox")


def test_the_inbox_requires_login(client):
    response = client.get(INBOX)
    assert response.status_code == 302
    assert response.url == _login_url(INBOX)


@pytest.mark.parametrize("role", ["regional", "medecin", "coordinateur", "admin_user"])
def test_the_inbox_is_refused_to_other_roles(client, role, request, unit):
    user = (
        UserFactory(coordinateur=True) if role == "coordinateur" else request.getfixturevalue(role)
    )
    client.force_login(user)
    assert client.get(INBOX).status_code == 403


def test_an_ass_sees_her_referrals_and_the_unassigned_ones_to_handle(
    client, unit, ass, colleague, outsider, referral
):
    unassigned = SignalementFactory(unit=unit, assigned_to=None)
    colleagues = SignalementFactory(unit=unit, assigned_to=colleague)
    elsewhere = SignalementFactory(unit=outsider.unit)
    closed = SignalementFactory(unit=unit, assigned_to=ass, statut=S.REFUS)
    client.force_login(ass)

    shown = list(client.get(INBOX).context["page_obj"])
    assert set(shown) == {referral, unassigned}

    assert list(client.get(INBOX, {"vue": "mes"}).context["page_obj"]) == [referral]
    assert list(client.get(INBOX, {"vue": "non_attribues"}).context["page_obj"]) == [unassigned]
    whole_unit = set(client.get(INBOX, {"vue": "unite"}).context["page_obj"])
    assert whole_unit == {referral, unassigned, colleagues}
    assert elsewhere not in whole_unit
    every_status = set(client.get(INBOX, {"vue": "mes", "statut": ""}).context["page_obj"])
    assert every_status == {referral, closed}


def test_a_manager_sees_the_unit_and_the_regional_queue(client, unit, manager, referral):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    other_region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    far_queue = SignalementFactory(
        unit=None,
        assure__cpam=CpamFactory(code="291", region=other_region),
    )
    client.force_login(manager)
    assert list(client.get(INBOX).context["page_obj"]) == [referral]
    response = client.get(INBOX, {"vue": "a_repartir"})
    assert list(response.context["page_obj"]) == [queued]
    assert far_queue not in response.context["page_obj"]
    assert "Lancer la détection" in response.content.decode()


def test_the_inbox_filters_by_origin_overdue_cpam_and_worker(
    client, unit, manager, ass, colleague, referral
):
    late = SignalementFactory(
        unit=unit,
        assigned_to=colleague,
        origine=Origine.SPST,
        date_echeance=TODAY - datetime.timedelta(days=1),
    )
    client.force_login(manager)

    def shown(**params):
        return set(client.get(INBOX, params).context["page_obj"])

    assert shown(origine=Origine.SPST) == {late}
    assert shown(en_retard="on") == {late}
    assert shown(assigned_to=ass.pk) == {referral}
    assert shown(cpam=referral.assure.cpam_id) == {referral, late}
    assert shown(statut=S.A_CONTACTER) == {referral, late}
    assert shown(statut=S.REFUS) == set()


def test_the_worker_filter_is_for_managers_only(client, ass, referral):
    client.force_login(ass)
    response = client.get(INBOX)
    assert "assigned_to" not in response.context["filter"].form.fields


def test_the_inbox_puts_overdue_first_then_by_due_date(client, unit, ass, referral):
    later = SignalementFactory(unit=unit, date_echeance=TODAY + datetime.timedelta(days=50))
    overdue = SignalementFactory(unit=unit, date_echeance=TODAY - datetime.timedelta(days=3))
    client.force_login(ass)
    response = client.get(INBOX)
    assert list(response.context["page_obj"]) == [overdue, referral, later]
    page = response.content.decode()
    assert "badge-overdue" in page
    assert page.count("· dépassée") == 1
    assert list(client.get(INBOX, {"o": "-echeance"}).context["page_obj"]) == [
        later,
        referral,
        overdue,
    ]


def test_the_inbox_shows_the_arret_day_count(client, ass, referral):
    client.force_login(ass)
    response = client.get(INBOX)
    (row,) = response.context["rows"]
    assert row["jours"] == 100  # started 99 days ago: today is day 100
    assert "100 j" in response.content.decode()


def test_the_inbox_is_paginated_by_25(client, unit, ass):
    SignalementFactory.create_batch(27, unit=unit)
    client.force_login(ass)
    response = client.get(INBOX)
    assert len(response.context["page_obj"]) == 25
    assert len(client.get(INBOX, {"page": 2}).context["page_obj"]) == 2


def _make_referrals(unit, worker, count):
    for _ in range(count):
        arret = ArretFactory()
        SignalementFactory(assure=arret.assure, arret=arret, unit=unit, assigned_to=worker)


# Session, user, savepoint + release (ATOMIC_REQUESTS), the manager's unit (regional queue),
# count, page of referrals (with person, arrêt, worker, unit), last detection run (with who
# launched it), CPAM and worker choices.
INBOX_QUERIES = (
    10  # the page with its total, its counts, one INSERT of the listed people's read rows
)


@pytest.mark.parametrize("count", [3, 30])
def test_the_inbox_query_count_does_not_grow_with_the_referrals(
    client, unit, manager, ass, count, django_assert_num_queries
):
    _make_referrals(unit, ass, count)
    DetectionRun.objects.create(
        day=TODAY, region=unit.region, launched_by=manager, status="termine", finished_at=NOW
    )
    client.force_login(manager)
    with django_assert_num_queries(INBOX_QUERIES):
        response = client.get(INBOX)
    assert len(response.context["rows"]) == min(count, 25)


# --- Detection --------------------------------------------------------------------------------


DETECTION = reverse("referrals:detection_run")


def _text(response):
    """The page with its runs of spaces and newlines (not its non-breaking spaces) collapsed."""
    return re.sub(r"[ \n]+", " ", response.content.decode())


def _in_other_region(days_ago):
    """An arrêt of a person of the CPAM 291, CARSAT Bretagne."""
    cpam = CpamFactory(code="291", region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    return ArretFactory(
        assure=AssureFactory(cpam=cpam, code_postal="29200"),
        date_debut=TODAY - datetime.timedelta(days=days_ago),
    )


def test_a_manager_runs_the_detection_of_their_region_from_the_inbox(
    client, unit, manager, django_capture_on_commit_callbacks
):
    arret = ArretFactory(date_debut=TODAY - datetime.timedelta(days=95))
    elsewhere = _in_other_region(95)
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DETECTION)

    assert response.status_code == 302
    assert response.url == INBOX
    social = Signalement.objects.get(arret=arret, service="social")
    assert (social.statut, social.region) == (S.A_CONTACTER, unit.region)
    assert not Signalement.objects.filter(arret=elsewhere).exists()
    run = DetectionRun.objects.get()
    assert (run.region, run.launched_by, run.day, run.status) == (
        unit.region,
        manager,
        TODAY,
        "termine",
    )
    assert (run.medical, run.social) == (1, 1)
    entry = AuditLog.objects.get(object_type="pdp.region")
    assert (entry.user, entry.action, entry.object_id) == (manager, "create", str(unit.region_id))
    assert entry.changes == {"detection": "lancée", "jour": TODAY.isoformat()}

    page = _text(client.get(INBOX))
    assert "Détection lancée pour CARSAT Normandie\N{NO-BREAK SPACE}:" in page
    assert f"(par {manager})" in page
    assert "2 signalements créés (1 au service social, 1 au service médical)" in page


def test_the_detection_is_enqueued_after_commit_with_ids(
    client, unit, manager, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(scan_arrets_task, "delay", lambda *a, **kw: calls.append((a, kw)))
    client.force_login(manager)

    with django_capture_on_commit_callbacks() as callbacks:
        client.post(DETECTION)
        assert calls == []  # not before the request's transaction commits

    assert len(callbacks) == 1
    callbacks[0]()
    assert calls == [((TODAY.isoformat(),), {"region_id": unit.region_id, "user_id": manager.pk})]


def test_a_failing_detection_is_recorded_and_the_inbox_says_so(
    client, unit, manager, monkeypatch, django_capture_on_commit_callbacks
):
    ArretFactory(date_debut=TODAY - datetime.timedelta(days=95))

    def boom(*args, **kwargs):
        raise RuntimeError("base indisponible")

    monkeypatch.setattr(detection, "_route_counts", boom)
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DETECTION)

    assert response.status_code == 302
    run = DetectionRun.objects.get()
    assert (run.status, run.launched_by) == ("echec", manager)
    assert not Signalement.objects.exists()
    page = client.get(INBOX).content.decode()
    assert "— échec, aucun signalement créé" in page


def test_only_managers_run_the_detection(
    client, ass, conseiller, manager, django_capture_on_commit_callbacks
):
    ArretFactory(date_debut=TODAY - datetime.timedelta(days=95))
    for user in (ass, conseiller, UserFactory(medecin=True), UserFactory(admin=True)):
        client.force_login(user)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(DETECTION).status_code == 403
    client.logout()
    assert client.post(DETECTION).status_code == 302
    client.force_login(manager)
    assert client.get(DETECTION).status_code == 405
    assert not Signalement.objects.exists()
    assert not DetectionRun.objects.exists()
    assert not AuditLog.objects.filter(object_type="pdp.region").exists()


def test_the_inbox_says_when_no_detection_was_recorded(client, ass):
    client.force_login(ass)
    response = client.get(INBOX)
    assert response.context["last_run"] is None
    assert "Aucune détection enregistrée." in response.content.decode()


def test_the_inbox_shows_the_last_scheduled_run_of_the_users_region(client, unit, ass):
    DetectionRun.objects.create(
        day=TODAY - datetime.timedelta(days=1),
        region=unit.region,
        started_at=NOW - datetime.timedelta(days=1),
        finished_at=NOW - datetime.timedelta(days=1),
        status="termine",
        medical=40,
    )
    last = DetectionRun.objects.create(
        day=TODAY,
        region=unit.region,
        started_at=datetime.datetime(2026, 3, 10, 4, 30, tzinfo=datetime.UTC),  # 05:30 in Paris
        finished_at=NOW,
        status="termine",
        arrets_examines=340,
        sans_cpam=3,
        medical=9,
        social=3,
        attribues_auto=2,
        a_repartir=1,
    )
    other_region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    DetectionRun.objects.create(day=TODAY, region=other_region, started_at=NOW, medical=99)
    client.force_login(ass)

    response = client.get(INBOX)

    assert response.context["last_run"] == last
    text = _text(response)
    assert (
        "Dernière détection&nbsp;: 10/03/2026 à 05:30 (planifiée) — 12 signalements créés "
        "(3 au service social, 9 au service médical), 2 attribués automatiquement, "
        "1 à répartir, sur 340 arrêts examinés (dont 3 ignorés faute de CPAM)."
    ) in text


def test_the_inbox_shows_a_run_in_progress_and_who_launched_it(client, unit, ass, manager):
    DetectionRun.objects.create(day=TODAY, region=unit.region, launched_by=manager, started_at=NOW)
    client.force_login(ass)

    text = _text(client.get(INBOX))

    assert f"Dernière détection&nbsp;: 10/03/2026 à 10:00 (par {manager}) — en cours…" in text


# --- Detail -----------------------------------------------------------------------------------


# Session, user, savepoint + release, unit, referral (with person, arrêt, unit, worker), audit
# insert, CPAM + region (thresholds of the markers), events, contact attempts, and the
# manager's assignment form (workers, units), the person's last messages (outreach's panel).
DETAIL_QUERIES = 14


def _detail(referral):
    return reverse("referrals:signalement_detail", args=[referral.pk])


def test_the_detail_requires_login(client, referral):
    response = client.get(_detail(referral))
    assert response.url == _login_url(_detail(referral))


@pytest.mark.parametrize("who", ["outsider", "regional", "medecin"])
def test_the_detail_is_hidden_from_other_units_and_roles(client, who, request, referral):
    client.force_login(request.getfixturevalue(who))
    assert client.get(_detail(referral)).status_code == 404


def test_a_stored_nir_that_is_not_valid_still_renders_as_it_is(client, ass, referral):
    # Written outside the validated paths (a script): the page shows it rather than failing.
    type(referral.assure).objects.filter(pk=referral.assure_id).update(nir="2650576123456")
    client.force_login(ass)
    response = client.get(_detail(referral))
    assert response.status_code == 200
    assert "2650576123456" in response.content.decode()


def test_the_assigned_ass_sees_everything_and_the_forms(client, ass, referral):
    ContactAttempt.objects.create(
        signalement=referral, canal="sms", resultat="message", user=ass, at=NOW
    )
    client.force_login(ass)
    response = client.get(_detail(referral))
    page = response.content.decode()
    assert response.status_code == 200
    assert referral.assure.nir_groupe in page
    assert "Message laissé" in page
    assert "signalement au service social" in page  # arrêt markers
    assert [m.day for m in response.context["markers"]] == [31, 46, 60, 90, 120]
    assert response.context["contact_form"] is not None
    assert response.context["status_form"] is not None
    assert response.context["assign_form"] is None  # managers only
    assert response.context["can_open"] is False  # nobody reached yet
    assert AuditLog.objects.filter(
        action="view", object_type="referrals.signalement", object_id=str(referral.pk)
    ).exists()


def test_a_colleague_reads_the_referral_without_any_form(client, colleague, referral):
    client.force_login(colleague)
    response = client.get(_detail(referral))
    assert response.status_code == 200
    assert response.context["can_open"] is False
    for name in ("contact_form", "status_form", "assign_form"):
        assert response.context[name] is None
    assert "Consultation seule" in response.content.decode()


def test_the_manager_gets_the_assignment_form(client, manager, referral):
    client.force_login(manager)
    response = client.get(_detail(referral))
    assert response.context["assign_form"] is not None
    assert response.context["contact_form"] is not None


# --- Contact attempt --------------------------------------------------------------------------


def _contact_url(referral):
    return reverse("referrals:signalement_contact_add", args=[referral.pk])


def _contact_data(**overrides):
    data = {
        "contact-at": "2026-03-10T09:30",
        "contact-canal": "telephone",
        "contact-resultat": "pas_de_reponse",
        "contact-note": "Répondeur",
    }
    data.update(overrides)
    return data


def test_contact_attempts_need_login_and_rights(client, referral, outsider, colleague):
    url = _contact_url(referral)
    assert client.post(url, _contact_data()).url == _login_url(url)
    client.force_login(outsider)
    assert client.post(url, _contact_data()).status_code == 404
    client.force_login(colleague)
    assert client.post(url, _contact_data()).status_code == 403
    assert not ContactAttempt.objects.exists()


def test_the_ass_records_a_contact_attempt(client, ass, referral):
    client.force_login(ass)
    response = client.post(_contact_url(referral), _contact_data())
    assert response.status_code == 302
    assert response.url == _detail(referral)
    attempt = ContactAttempt.objects.get(signalement=referral)
    assert (attempt.canal, attempt.resultat, attempt.note, attempt.user) == (
        "telephone",
        "pas_de_reponse",
        "Répondeur",
        ass,
    )
    assert attempt.at == datetime.datetime(2026, 3, 10, 8, 30, tzinfo=datetime.UTC)  # Paris
    referral.refresh_from_db()
    assert referral.statut == S.CONTACT_EN_COURS
    assert SignalementEvent.objects.filter(signalement=referral, kind="contact").exists()


def test_a_refused_contact_attempt_shows_the_error_and_changes_nothing(client, ass, referral):
    client.force_login(ass)
    response = client.post(
        _contact_url(referral), _contact_data(**{"contact-propose_meeting": "on"})
    )
    assert response.status_code == 200
    assert "personne jointe" in response.content.decode()
    assert response.context["contact_form"].errors
    assert not ContactAttempt.objects.exists()


# --- Status ------------------------------------------------------------------------------------


def _status_url(referral):
    return reverse("referrals:signalement_status", args=[referral.pk])


def test_status_changes_need_login_and_rights(client, referral, outsider, colleague):
    url = _status_url(referral)
    data = {"statut-to_status": S.HORS_CRITERES, "statut-reason": "x", "statut-from_status": "a"}
    assert client.post(url, data).url == _login_url(url)
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    client.force_login(colleague)
    assert client.post(url, data).status_code == 403
    referral.refresh_from_db()
    assert referral.statut == S.A_CONTACTER


def test_the_ass_changes_the_status_with_a_reason(client, ass, referral):
    client.force_login(ass)
    response = client.post(
        _status_url(referral),
        {
            "statut-to_status": S.HORS_CRITERES,
            "statut-reason": "Retraite au 1er avril",
            "statut-from_status": S.A_CONTACTER,
        },
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.statut == S.HORS_CRITERES
    event = SignalementEvent.objects.get(signalement=referral, kind="status")
    assert (event.actor, event.reason) == (ass, "Retraite au 1er avril")


def test_the_status_form_offers_only_the_allowed_next_statuses(client, ass, referral):
    client.force_login(ass)
    form = client.get(_detail(referral)).context["status_form"]
    assert [value for value, _ in form.fields["to_status"].choices] == [
        "",
        S.HORS_CRITERES,
        S.DOUBLON,
    ]
    response = client.post(
        _status_url(referral),
        {"statut-to_status": S.REFUS, "statut-reason": "x", "statut-from_status": S.A_CONTACTER},
    )
    assert response.status_code == 200
    assert response.context["status_form"].errors
    referral.refresh_from_db()
    assert referral.statut == S.A_CONTACTER


def test_a_status_change_without_the_required_reason_is_refused(client, ass, referral):
    client.force_login(ass)
    response = client.post(
        _status_url(referral),
        {"statut-to_status": S.DOUBLON, "statut-reason": "", "statut-from_status": S.A_CONTACTER},
    )
    assert response.status_code == 200
    assert "Indiquez le motif" in response.content.decode()
    referral.refresh_from_db()
    assert referral.statut == S.A_CONTACTER


def test_a_status_change_on_a_page_out_of_date_is_refused(client, ass, referral):
    client.force_login(ass)
    response = client.post(
        _status_url(referral),
        {"statut-to_status": S.DOUBLON, "statut-reason": "x", "statut-from_status": S.NOUVEAU},
    )
    assert response.status_code == 200
    assert "vient d&#x27;être modifié" in response.content.decode()
    referral.refresh_from_db()
    assert referral.statut == S.A_CONTACTER


# --- Assignment --------------------------------------------------------------------------------


def _assign_url(referral):
    return reverse("referrals:signalement_assign", args=[referral.pk])


def test_assignment_is_for_the_manager(client, referral, ass, colleague, outsider):
    url = _assign_url(referral)
    data = {"attribution-unit": referral.unit_id, "attribution-assigned_to": colleague.pk}
    assert client.post(url, data).url == _login_url(url)
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    client.force_login(ass)
    assert client.post(url, data).status_code == 403
    referral.refresh_from_db()
    assert referral.assigned_to == ass


def test_the_manager_assigns_a_referral_with_a_reason(client, manager, colleague, referral):
    client.force_login(manager)
    response = client.post(
        _assign_url(referral),
        {
            "attribution-unit": referral.unit_id,
            "attribution-assigned_to": colleague.pk,
            "attribution-reason": "Rééquilibrage",
        },
    )
    assert response.status_code == 302
    assert response.url == _detail(referral)
    referral.refresh_from_db()
    assert referral.assigned_to == colleague
    event = SignalementEvent.objects.get(signalement=referral, kind="assigned")
    assert (event.actor, event.reason) == (manager, "Rééquilibrage")


def test_the_manager_cannot_assign_to_someone_of_another_unit(client, manager, outsider, referral):
    client.force_login(manager)
    response = client.post(
        _assign_url(referral),
        {"attribution-unit": referral.unit_id, "attribution-assigned_to": outsider.pk},
    )
    assert response.status_code == 200
    assert response.context["assign_form"].errors["assigned_to"]
    referral.refresh_from_db()
    assert referral.assigned_to != outsider


def test_the_manager_sends_a_queued_referral_to_another_unit(client, manager, other_unit):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    client.force_login(manager)
    response = client.post(
        _assign_url(queued), {"attribution-unit": other_unit.pk, "attribution-reason": "Domicile"}
    )
    assert response.status_code == 302
    assert response.url == INBOX  # no longer visible to this manager
    queued.refresh_from_db()
    assert queued.unit == other_unit


def test_the_regional_queue_is_scoped_by_the_referrals_region(client, unit, manager):
    other_region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    without_cpam = SignalementFactory(
        unit=None, statut=S.NOUVEAU, assure=AssureFactory(cpam=None), region=unit.region
    )
    other_cpam = SignalementFactory(
        unit=None,
        statut=S.NOUVEAU,
        assure=AssureFactory(cpam=CpamFactory(code="291", region=other_region)),
        region=unit.region,
    )
    # The person's CPAM is in the manager's region, the referral is not.
    foreign = SignalementFactory(unit=None, statut=S.NOUVEAU, region=other_region)
    client.force_login(manager)

    shown = set(client.get(INBOX, {"vue": "a_repartir"}).context["page_obj"])

    assert shown == {without_cpam, other_cpam}
    assert client.get(_detail(without_cpam)).status_code == 200
    assert client.get(_detail(foreign)).status_code == 404


def test_a_manager_of_another_region_does_not_see_the_queue(client):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    region = RegionFactory(code="BRE", name="CARSAT Bretagne")
    stranger = UserFactory(manager=True, unit=UnitFactory(region=region))
    client.force_login(stranger)
    assert client.get(_detail(queued)).status_code == 404


# --- Opening the case --------------------------------------------------------------------------


def _open_url(referral):
    return reverse("cases:signalement_open_case", args=[referral.pk])


@pytest.fixture
def reached(referral):
    Signalement.objects.filter(pk=referral.pk).update(statut=S.RENCONTRE_PROPOSEE)
    referral.refresh_from_db()
    return referral


def test_opening_a_case_needs_login_and_rights(
    client, reached, outsider, colleague, conseiller, ass
):
    url = _open_url(reached)
    data = {"referent": ass.pk, "mission": "pdp"}
    assert client.post(url, data).url == _login_url(url)
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    assert client.get(url).status_code == 404
    for user in (colleague, conseiller):
        client.force_login(user)
        assert client.post(url, data).status_code == 403
        assert client.get(url).status_code == 403
    assert not Accompagnement.objects.exists()


def test_the_ass_opens_the_case_and_lands_on_it(client, ass, reached):
    client.force_login(ass)
    assert _open_url(reached) in client.get(_detail(reached)).content.decode()
    form = client.get(_open_url(reached)).context["form"]
    assert form.initial["referent"] == ass.pk
    response = client.post(_open_url(reached), {"referent": ass.pk, "mission": "pdp"})
    case = Accompagnement.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("cases:accompagnement_detail", args=[case.pk])
    reached.refresh_from_db()
    assert reached.statut == S.ACCOMPAGNEMENT_OUVERT
    assert case.signalement == reached
    assert case.referent == ass
    # The referral page now links to the case, through the same address.
    assert client.get(_open_url(reached)).url == response.url


def test_opening_a_second_case_shows_an_error(client, ass, colleague, reached):
    AccompagnementFactory(assure=reached.assure, referent=colleague)
    client.force_login(ass)
    response = client.post(_open_url(reached), {"referent": ass.pk, "mission": "pdp"})
    assert response.status_code == 200
    assert "déjà ouvert" in response.content.decode()
    reached.refresh_from_db()
    assert reached.statut == S.RENCONTRE_PROPOSEE


# --- Arrêt page --------------------------------------------------------------------------------


def _arret_url(arret):
    return reverse("referrals:arret_detail", args=[arret.pk])


def test_the_arret_page_follows_the_visibility_of_the_person(
    client, referral, ass, outsider, regional
):
    url = _arret_url(referral.arret)
    assert client.get(url).url == _login_url(url)
    for user in (outsider, regional):
        client.force_login(user)
        assert client.get(url).status_code == 404
    client.force_login(ass)
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Jour 120" in page
    assert "jour 100 aujourd" in page
    assert AuditLog.objects.filter(action="view", object_type="referrals.arrettravail").exists()


@pytest.mark.parametrize("attempts", [1, 10])
def test_the_detail_query_count_does_not_grow_with_the_history(
    client, manager, ass, referral, attempts, django_assert_num_queries
):
    for _ in range(attempts):
        ContactAttempt.objects.create(
            signalement=referral, canal="sms", resultat="message", user=ass, at=NOW
        )
        SignalementEvent.objects.create(signalement=referral, actor=ass, kind="contact")
    client.force_login(manager)
    with django_assert_num_queries(DETAIL_QUERIES):
        client.get(_detail(referral))
