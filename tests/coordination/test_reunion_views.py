"""The meeting pages: planning, the page where the meeting is run live (status steps,
attendance, agenda items with their fiche, synthèse, decisions and actions, addenda), their
permissions for every persona, htmx partials, the consent gate, the lock of validated minutes,
the access log and the page's query count."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from coordination import services
from coordination.models import (
    ActionInstance,
    Addendum,
    Decision,
    MembreInstance,
    Organisation,
    PointOrdreDuJour,
    Presence,
    Reunion,
    ReunionEvent,
    Saisine,
    TypeDecision,
)
from pdp.models import AuditLog
from tests.coordination.conftest import FICHE
from tests.factories import (
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    ReunionFactory,
    SaisineFactory,
    UserFactory,
)
from tests.test_typography import page_text, problems

pytestmark = pytest.mark.django_db

QUESTION = "Quel aménagement de poste envisager ?"
HX = {"HX-Request": "true"}


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def saisine(case, instance, ass, consent):
    return services.saisine_submit(
        accompagnement=case, instance=instance, acting_user=ass, question=QUESTION, **FICHE
    )


@pytest.fixture
def reunion(saisine, instance, coordinateur, membres):
    """Planned in a week, with the situation on its agenda and the three members invited."""
    return services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=7),
        lieu="CARSAT, salle 2",
    )


@pytest.fixture
def ouverte(reunion, coordinateur):
    """The agenda frozen: attendance, decisions and actions may be recorded."""
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    return reunion


@pytest.fixture
def point(ouverte):
    return ouverte.points.get()


@pytest.fixture
def decision(point, coordinateur):
    return services.decision_add(
        point=point, acting_user=coordinateur, type=TypeDecision.objects.get(code="etude_poste")
    )


@pytest.fixture
def other_coordinator(unit):
    """The coordinator of another instance (covering the same unit)."""
    user = UserFactory(coordinateur=True)
    InstanceFactory(region=unit.region, units=[unit], coordinateurs=[user])
    return user


def _all_present(reunion, coordinateur):
    for presence in reunion.presences.select_related("membre"):
        services.presence_set(presence=presence, acting_user=coordinateur, statut="present")


def _validated(reunion, coordinateur):
    _all_present(reunion, coordinateur)
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    services.reunion_submit_minutes(reunion=reunion, acting_user=coordinateur)
    services.reunion_validate_minutes(reunion=reunion, acting_user=coordinateur)
    return reunion


def detail_url(reunion):
    return reverse("coordination:reunion_detail", args=[reunion.pk])


def _events(reunion):
    return ReunionEvent.objects.filter(reunion=reunion).count()


# --- The POST endpoints, for the permission matrix --------------------------------------------


def _post_targets(reunion, point, decision):
    presence = reunion.presences.first()
    membre = MembreInstance.objects.filter(instance=reunion.instance).first()
    echeance = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
    type_pk = TypeDecision.objects.get(code="visite_pre_reprise").pk
    return {
        "step": (
            reverse("coordination:reunion_step", args=[reunion.pk, "tenue"]),
            {},
        ),
        "presence": (
            reverse("coordination:reunion_presence_update", args=[reunion.pk, presence.pk]),
            {f"presence-{presence.pk}-statut": "present"},
        ),
        "point": (
            reverse("coordination:reunion_point_update", args=[reunion.pk, point.pk]),
            {f"point-{point.pk}-synthese": "Échanges."},
        ),
        "decision": (
            reverse("coordination:reunion_decision_create", args=[reunion.pk, point.pk]),
            {f"decision-{point.pk}-type": type_pk},
        ),
        "decision_delete": (
            reverse(
                "coordination:reunion_decision_delete", args=[reunion.pk, point.pk, decision.pk]
            ),
            {},
        ),
        "action": (
            reverse("coordination:reunion_action_create", args=[reunion.pk, point.pk]),
            {
                f"action-{point.pk}-libelle": "Appeler l'employeur",
                f"action-{point.pk}-responsable": membre.pk,
                f"action-{point.pk}-echeance": echeance,
            },
        ),
        "addendum": (
            reverse("coordination:reunion_addendum_create", args=[reunion.pk]),
            {"texte": "Correction."},
        ),
        "edit": (
            reverse("coordination:reunion_edit", args=[reunion.pk]),
            {"date": "2030-01-01", "heure": "10:00", "lieu": "Ailleurs"},
        ),
    }


TARGETS = [
    "step",
    "presence",
    "point",
    "decision",
    "decision_delete",
    "action",
    "addendum",
    "edit",
]


def _snapshot(reunion):
    reunion.refresh_from_db()
    return (
        reunion.statut,
        reunion.debut,
        _events(reunion),
        Decision.objects.count(),
        ActionInstance.objects.count(),
        Addendum.objects.count(),
        list(reunion.presences.values_list("statut", flat=True)),
        list(reunion.points.values_list("synthese", flat=True)),
    )


@pytest.mark.parametrize("target", TARGETS)
def test_changes_send_anonymous_users_to_the_login_page(client, ouverte, point, decision, target):
    url, data = _post_targets(ouverte, point, decision)[target]
    before = _snapshot(ouverte)
    response = client.post(url, data)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert _snapshot(ouverte) == before


@pytest.mark.parametrize("persona", ["outsider", "other_coordinator"])
@pytest.mark.parametrize("target", TARGETS)
def test_changes_hide_the_meeting_from_outsiders(
    request, client, ouverte, point, decision, target, persona
):
    url, data = _post_targets(ouverte, point, decision)[target]
    before = _snapshot(ouverte)
    client.force_login(request.getfixturevalue(persona))
    assert client.post(url, data).status_code == 404
    assert client.post(url, data, headers=HX).status_code == 404
    assert _snapshot(ouverte) == before


@pytest.mark.parametrize("persona", ["partenaire", "medecin", "manager"])
@pytest.mark.parametrize("target", TARGETS)
def test_changes_are_forbidden_to_invited_members(
    request, client, ouverte, point, decision, target, persona
):
    url, data = _post_targets(ouverte, point, decision)[target]
    before = _snapshot(ouverte)
    client.force_login(request.getfixturevalue(persona))
    assert client.post(url, data).status_code == 403
    assert client.post(url, data, headers=HX).status_code == 403
    assert _snapshot(ouverte) == before


@pytest.mark.parametrize(
    "target", ["step", "presence", "point", "decision", "decision_delete", "action", "addendum"]
)
def test_changes_are_post_only(client, coordinateur, ouverte, point, decision, target):
    url, _data = _post_targets(ouverte, point, decision)[target]
    client.force_login(coordinateur)
    assert client.get(url).status_code == 405


# --- The meeting page: who sees it, and how -----------------------------------------------------


def test_the_meeting_page_needs_a_login(client, reunion):
    response = client.get(detail_url(reunion))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["outsider", "other_coordinator", "ass", "admin_user"])
def test_the_meeting_page_is_hidden_from_whoever_is_not_invited(request, client, reunion, persona):
    # The référent (ass) reads the outcome on the case page, not the committee's page.
    client.force_login(request.getfixturevalue(persona))
    assert client.get(detail_url(reunion)).status_code == 404


def test_a_member_whose_membership_ended_no_longer_sees_the_meeting(
    client, reunion, membre_partenaire, partenaire
):
    MembreInstance.objects.filter(pk=membre_partenaire.pk).update(
        date_debut=timezone.localdate() - datetime.timedelta(days=30),
        date_fin=timezone.localdate() - datetime.timedelta(days=1),
    )
    client.force_login(partenaire)
    assert client.get(detail_url(reunion)).status_code == 404


def test_the_coordinator_runs_the_meeting_from_its_page(client, coordinateur, point, membres):
    client.force_login(coordinateur)
    response = client.get(detail_url(point.reunion))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ordre du jour arrêté" in body
    assert "Marquer la réunion comme tenue" in body
    assert "CARSAT, salle 2" in body
    # The quorum rule and its state; the README's choice without quorum.
    assert "Au moins 3 organisations différentes, dont Service social" in body
    assert "Quorum non atteint" in body
    assert "provisoires" in body
    # The attendance table, with a form per member.
    for membre in membres:
        assert membre.nom in body
        assert f'id="presence-{membre.presences.get().pk}"' in body
    assert f'name="presence-{membre.presences.get().pk}-statut"' in body
    # The item: its origin, its fiche, the question, and its forms.
    assert f'id="point-{point.pk}"' in body
    assert "Nouvelle situation" in body
    assert "Quel aménagement de poste envisager" in body
    assert "Aide-soignante" in body
    assert "Port de charges limité" in body
    assert "250 salariés et plus" in body
    assert f'name="point-{point.pk}-synthese"' in body
    assert f'name="decision-{point.pk}-type"' in body
    assert f'name="action-{point.pk}-responsable"' in body
    # The meeting's history, for the coordinator.
    assert "Ordre du jour arrêté (1 situation(s))" in body


def test_the_page_never_shows_the_persons_identity(client, coordinateur, point, case):
    client.force_login(coordinateur)
    body = client.get(detail_url(point.reunion)).content.decode()
    assure = case.assure
    assert assure.nir not in body
    assert assure.nom_naissance not in body
    assert assure.prenoms not in body


@pytest.mark.parametrize("persona", ["partenaire", "medecin"])
def test_invited_members_read_the_page_without_any_form(request, client, point, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(detail_url(point.reunion))
    assert response.status_code == 200
    body = response.content.decode()
    assert "lecture seule" in body
    assert "Aide-soignante" in body  # the fiche, while the consent holds
    for marker in (
        'name="point-',
        'name="decision-',
        'name="action-',
        'name="presence-',
        "Marquer la réunion comme tenue",
        "Modifier la date",
        "Historique de la réunion",
    ):
        assert marker not in body


def test_the_page_writes_the_access_log_for_the_fiches_shown(client, partenaire, point):
    client.force_login(partenaire)
    client.get(detail_url(point.reunion))
    row = AuditLog.objects.get(user=partenaire, object_type="coordination.saisine")
    assert row.object_id == str(point.saisine_id)
    assert row.assure_id == point.saisine.accompagnement.assure_id
    assert row.action == AuditLog.Action.VIEW
    assert row.changes == {"page": "réunion"}


def test_a_withdrawn_situation_shows_its_number_and_nothing_else(
    client, coordinateur, partenaire, point, case, consent, ass
):
    _all_present(point.reunion, coordinateur)
    services.reunion_mark_held(reunion=point.reunion, acting_user=coordinateur)
    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    last = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for user in (coordinateur, partenaire):
        client.force_login(user)
        body = client.get(detail_url(point.reunion)).content.decode()
        assert f"Situation n° {point.saisine_id} retirée à la demande de l" in body
        for fiche_value in ("Aide-soignante", "Port de charges", "aménagement de poste", "J. D."):
            assert fiche_value not in body
        # No form for it either.
        assert f'name="decision-{point.pk}-type"' not in body
    # No fiche shown, no read of it logged.
    assert not AuditLog.objects.filter(pk__gt=last, object_type="coordination.saisine").exists()


def test_nothing_is_added_to_a_withdrawn_situation(client, coordinateur, point, case, consent, ass):
    _all_present(point.reunion, coordinateur)
    services.reunion_mark_held(reunion=point.reunion, acting_user=coordinateur)
    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_decision_create", args=[point.reunion_id, point.pk])
    type_pk = TypeDecision.objects.get(code="etude_poste").pk
    response = client.post(url, {f"decision-{point.pk}-type": type_pk}, headers=HX)
    assert response.status_code == 200
    assert "elle ne peut plus être modifiée" in response.content.decode()
    assert not Decision.objects.exists()
    response = client.post(url, {f"decision-{point.pk}-type": type_pk}, follow=True)
    assert "elle ne peut plus être modifiée" in response.content.decode()
    assert not Decision.objects.exists()


def test_follow_ups_show_their_earlier_decisions_and_actions(
    client, coordinateur, point, membre_partenaire, instance
):
    first = point.reunion
    _all_present(first, coordinateur)
    services.decision_add(
        point=point, acting_user=coordinateur, type=TypeDecision.objects.get(code="etude_poste")
    )
    action = services.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Étude de poste par Cap emploi",
        responsable=membre_partenaire,
        echeance=timezone.localdate() + datetime.timedelta(days=20),
    )
    services.reunion_mark_held(reunion=first, acting_user=coordinateur)
    ActionInstance.objects.filter(pk=action.pk).update(
        echeance=timezone.localdate() - datetime.timedelta(days=2)
    )
    second = services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=40),
        lien_visio="https://visio.example/cellule",
    )
    back = second.points.get()
    assert back.origine == PointOrdreDuJour.Origine.SUIVI
    client.force_login(coordinateur)
    body = client.get(detail_url(second)).content.decode()
    assert "Suivi (action en cours)" in body
    assert "Examens précédents" in body
    assert f"Réunion du {timezone.localtime(first.debut):%d/%m/%Y}" in body
    assert "Étude de poste par Cap emploi" in body
    assert "En retard" in body
    assert "https://visio.example/cellule" in body


# --- Planning and editing a meeting --------------------------------------------------------


def test_planning_a_meeting_needs_a_login_and_the_instance(
    client, instance, outsider, other_coordinator, partenaire, membre_partenaire
):
    url = reverse("coordination:reunion_create", args=[instance.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    for user in (outsider, other_coordinator):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert (
            client.post(url, {"date": "2030-01-01", "heure": "10:00", "lieu": "x"}).status_code
            == 404
        )
    client.force_login(partenaire)  # a member sees the instance, but does not plan
    assert client.get(url).status_code == 403
    assert (
        client.post(url, {"date": "2030-01-01", "heure": "10:00", "lieu": "x"}).status_code == 403
    )
    assert not Reunion.objects.exists()


def test_the_coordinator_plans_a_meeting(client, coordinateur, instance, saisine, membres):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_create", args=[instance.pk])
    assert client.get(url).status_code == 200
    day = timezone.localdate() + datetime.timedelta(days=14)
    response = client.post(
        url,
        {
            "date": day.isoformat(),
            "heure": "14:30",
            "lieu": "",
            "lien_visio": "https://v.example/a",
        },
    )
    reunion = Reunion.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(reunion)
    assert timezone.localtime(reunion.debut).date() == day
    assert timezone.localtime(reunion.debut).strftime("%H:%M") == "14:30"
    assert reunion.lien_visio == "https://v.example/a"
    assert reunion.created_by == coordinateur
    assert reunion.presences.count() == len(membres)
    assert reunion.points.get().saisine == saisine
    assert ReunionEvent.objects.filter(reunion=reunion, actor=coordinateur).exists()


def test_planning_needs_a_place_or_a_link_and_a_future_date(client, coordinateur, instance):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_create", args=[instance.pk])
    day = timezone.localdate() + datetime.timedelta(days=14)
    response = client.post(url, {"date": day.isoformat(), "heure": "14:30"})
    assert response.status_code == 200
    assert "Indiquez un lieu ou un lien de visioconférence." in response.content.decode()
    past = timezone.localdate() - datetime.timedelta(days=3)
    response = client.post(url, {"date": past.isoformat(), "heure": "14:30", "lieu": "Salle"})
    assert response.status_code == 200
    assert "Une réunion se planifie dans le futur." in response.content.decode()
    assert not Reunion.objects.exists()


def test_the_coordinator_moves_a_meeting_not_held(client, coordinateur, reunion):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_edit", args=[reunion.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "CARSAT, salle 2" in response.content.decode()
    day = timezone.localdate() + datetime.timedelta(days=21)
    response = client.post(url, {"date": day.isoformat(), "heure": "09:15", "lieu": "Salle 4"})
    assert response.status_code == 302
    reunion.refresh_from_db()
    assert reunion.lieu == "Salle 4"
    assert timezone.localtime(reunion.debut).date() == day
    assert ReunionEvent.objects.filter(reunion=reunion, summary__contains="modifiés").exists()


def test_a_held_meeting_is_not_moved(client, coordinateur, ouverte):
    _all_present(ouverte, coordinateur)
    services.reunion_mark_held(reunion=ouverte, acting_user=coordinateur)
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_edit", args=[ouverte.pk])
    response = client.post(url, {"date": "2030-01-01", "heure": "10:00", "lieu": "Ailleurs"})
    assert response.status_code == 302
    ouverte.refresh_from_db()
    assert ouverte.lieu == "CARSAT, salle 2"
    response = client.get(detail_url(ouverte))
    assert "sa date et son lieu ne changent plus" in response.content.decode()


# --- Status steps --------------------------------------------------------------------------


def test_the_meeting_goes_through_its_steps_to_validated_minutes(
    client, coordinateur, reunion, case, ass, instance
):
    client.force_login(coordinateur)

    def step(slug):
        response = client.post(reverse("coordination:reunion_step", args=[reunion.pk, slug]))
        assert response.status_code == 302
        assert response.url == detail_url(reunion)
        reunion.refresh_from_db()
        return client.get(detail_url(reunion)).content.decode()

    body = step("actualiser-odj")
    assert reunion.statut == Reunion.Statut.PLANIFIEE
    body = step("arreter-odj")
    assert reunion.statut == Reunion.Statut.ODJ_ARRETE
    assert "Ordre du jour arrêté." in body
    assert ReunionEvent.objects.filter(reunion=reunion, summary__startswith="Ordre du jour arrêté")

    # Attendance missing: refused with the service's message, nothing changes.
    body = step("tenue")
    assert reunion.statut == Reunion.Statut.ODJ_ARRETE
    assert "Renseignez la présence de chaque membre" in body

    _all_present(reunion, coordinateur)
    body = step("tenue")
    assert reunion.statut == Reunion.Statut.TENUE
    assert "Soumettre le compte rendu à la relecture" in body
    body = step("relecture")
    assert reunion.statut == Reunion.Statut.CR_RELECTURE
    assert "data-confirm=" in body  # validation asks first
    body = step("valider")
    assert reunion.statut == Reunion.Statut.CR_VALIDE
    assert reunion.valide_par == coordinateur
    assert "Compte rendu validé et verrouillé." in body
    assert ReunionEvent.objects.filter(reunion=reunion, summary__contains="verrouillé").exists()
    # A step out of order is refused.
    body = step("arreter-odj")
    assert reunion.statut == Reunion.Statut.CR_VALIDE
    assert "cette action n" in body


def test_refreshing_the_agenda_adds_a_new_submission(client, coordinateur, reunion, instance, unit):
    other = SaisineFactory(instance=instance, accompagnement__unit=unit)
    Saisine.objects.filter(pk=other.pk).update(submitted_at=timezone.now())
    client.force_login(coordinateur)
    client.post(reverse("coordination:reunion_step", args=[reunion.pk, "actualiser-odj"]))
    assert reunion.points.filter(saisine=other).exists()
    body = client.get(detail_url(reunion)).content.decode()
    assert "1 ajoutée(s), 0 retirée(s)" in body


def test_an_unknown_step_is_not_found(client, coordinateur, reunion):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_step", args=[reunion.pk, "effacer"])
    assert client.post(url).status_code == 404


# --- Attendance ------------------------------------------------------------------------------


def test_attendance_is_saved_with_htmx_and_returns_the_row(
    client, coordinateur, ouverte, membre_medical
):
    presence = ouverte.presences.get(membre=membre_medical)
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_presence_update", args=[ouverte.pk, presence.pk])
    response = client.post(
        url,
        {
            f"presence-{presence.pk}-statut": "represente",
            f"presence-{presence.pk}-represente_par": "Dr Martin",
        },
        headers=HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<tr id="presence-{presence.pk}">' in body
    assert "<html" not in body
    assert 'id="quorum" hx-swap-oob="true"' in body
    assert "Présence enregistrée." in body
    presence.refresh_from_db()
    assert presence.statut == Presence.Statut.REPRESENTE
    assert presence.represente_par == "Dr Martin"
    assert ReunionEvent.objects.filter(
        reunion=ouverte, actor=coordinateur, changes__presence=presence.pk
    ).exists()


def test_attendance_without_javascript_redirects_to_the_row(client, coordinateur, ouverte):
    presence = ouverte.presences.first()
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_presence_update", args=[ouverte.pk, presence.pk])
    response = client.post(url, {f"presence-{presence.pk}-statut": "excuse"})
    assert response.status_code == 302
    assert response.url == detail_url(ouverte) + f"#presence-{presence.pk}"
    presence.refresh_from_db()
    assert presence.statut == Presence.Statut.EXCUSE


def test_the_quorum_follows_the_attendance(client, coordinateur, ouverte):
    client.force_login(coordinateur)
    _all_present(ouverte, coordinateur)
    body = client.get(detail_url(ouverte)).content.decode()
    assert "Quorum atteint" in body
    assert "3 organisation(s) représentée(s), 3 requises" in body


def test_a_represented_member_needs_a_name(client, coordinateur, ouverte):
    presence = ouverte.presences.first()
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_presence_update", args=[ouverte.pk, presence.pk])
    data = {f"presence-{presence.pk}-statut": "represente"}
    response = client.post(url, data, headers=HX)
    assert response.status_code == 200
    assert "Indiquez qui représente ce membre." in response.content.decode()
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Indiquez qui représente ce membre." in response.content.decode()
    presence.refresh_from_db()
    assert presence.statut == Presence.Statut.INVITE


def test_attendance_is_not_recorded_before_the_agenda_is_frozen(client, coordinateur, reunion):
    presence = reunion.presences.first()
    client.force_login(coordinateur)
    body = client.get(detail_url(reunion)).content.decode()
    assert f'name="presence-{presence.pk}-statut"' not in body
    url = reverse("coordination:reunion_presence_update", args=[reunion.pk, presence.pk])
    response = client.post(url, {f"presence-{presence.pk}-statut": "present"}, headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Arrêtez d" in body
    assert f'name="presence-{presence.pk}-statut"' not in body
    response = client.post(url, {f"presence-{presence.pk}-statut": "present"}, follow=True)
    assert "Arrêtez d" in response.content.decode()
    presence.refresh_from_db()
    assert presence.statut == Presence.Statut.INVITE


# --- Agenda items ------------------------------------------------------------------------------


def _is_item_partial(body, point):
    """The agenda item alone: its card, not a whole page."""
    return bool(re.search(rf'<article[^>]*\sid="point-{point.pk}"', body)) and "<html" not in body


def test_the_synthesis_is_saved_with_htmx(client, coordinateur, point):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_point_update", args=[point.reunion_id, point.pk])
    response = client.post(
        url,
        {
            f"point-{point.pk}-synthese": "Piste d'aménagement.",
            f"point-{point.pk}-a_representer": "on",
        },
        headers=HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert _is_item_partial(body, point)
    assert "Synthèse enregistrée." in body
    # The partial shows the fiche again: its read is logged too.
    assert AuditLog.objects.filter(
        user=coordinateur, object_type="coordination.saisine", object_id=str(point.saisine_id)
    ).exists()
    point.refresh_from_db()
    assert point.synthese == "Piste d'aménagement."
    assert point.a_representer
    assert ReunionEvent.objects.filter(reunion=point.reunion, changes__point=point.pk).exists()


def test_the_synthesis_without_javascript_redirects_to_the_item(client, coordinateur, point):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_point_update", args=[point.reunion_id, point.pk])
    response = client.post(url, {f"point-{point.pk}-synthese": "Vu."})
    assert response.status_code == 302
    assert response.url == detail_url(point.reunion) + f"#point-{point.pk}"
    point.refresh_from_db()
    assert point.synthese == "Vu."


def test_a_decision_without_quorum_is_provisional(client, coordinateur, point, case):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_decision_create", args=[point.reunion_id, point.pk])
    type_ = TypeDecision.objects.get(code="etude_poste")
    response = client.post(
        url,
        {f"decision-{point.pk}-type": type_.pk, f"decision-{point.pk}-texte": "Avec le SPST"},
        headers=HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert _is_item_partial(body, point)
    decision = Decision.objects.get(point=point)
    assert decision.type == type_
    assert decision.texte == "Avec le SPST"
    assert decision.provisoire
    assert decision.created_by == coordinateur
    assert "Provisoire" in body
    assert "provisoire (sans quorum)" in body
    assert ReunionEvent.objects.filter(
        reunion=point.reunion, changes__decision=decision.pk
    ).exists()
    assert case.events.filter(kind="cellule", changes__decision=decision.pk).exists()


def test_a_decision_with_quorum_is_final(client, coordinateur, point):
    _all_present(point.reunion, coordinateur)
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_decision_create", args=[point.reunion_id, point.pk])
    type_ = TypeDecision.objects.get(code="etude_poste")
    response = client.post(url, {f"decision-{point.pk}-type": type_.pk})
    assert response.status_code == 302
    assert not Decision.objects.get(point=point).provisoire


def test_a_decision_needs_an_active_type(client, coordinateur, point):
    type_ = TypeDecision.objects.get(code="etude_poste")
    TypeDecision.objects.filter(pk=type_.pk).update(actif=False)
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_decision_create", args=[point.reunion_id, point.pk])
    response = client.post(url, {f"decision-{point.pk}-type": type_.pk}, headers=HX)
    assert response.status_code == 200
    assert "Sélectionnez un choix valide" in response.content.decode()
    response = client.post(url, {f"decision-{point.pk}-type": ""})
    assert response.status_code == 200
    assert not Decision.objects.exists()


def test_a_decision_is_removed_while_editable(client, coordinateur, point, decision):
    client.force_login(coordinateur)
    url = reverse(
        "coordination:reunion_decision_delete", args=[point.reunion_id, point.pk, decision.pk]
    )
    response = client.post(url, headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert _is_item_partial(body, point)
    assert "Décision retirée." in body
    assert not Decision.objects.exists()
    assert ReunionEvent.objects.filter(reunion=point.reunion, summary__contains="retirée").exists()


def test_an_action_is_given_to_a_member_active_at_the_meeting(
    client, coordinateur, point, membre_partenaire, instance
):
    former = MembreFactory(
        instance=instance,
        user=None,
        contact=PartnerContactFactory(name="Ancien Membre"),
        organisation=Organisation.MDPH,
        date_debut=timezone.localdate() - datetime.timedelta(days=400),
        date_fin=timezone.localdate() - datetime.timedelta(days=10),
    )
    client.force_login(coordinateur)
    body = client.get(detail_url(point.reunion)).content.decode()
    assert f'<option value="{membre_partenaire.pk}">Paul Cap (Cap emploi)</option>' in body
    assert f'<option value="{former.pk}">' not in body
    url = reverse("coordination:reunion_action_create", args=[point.reunion_id, point.pk])
    echeance = timezone.localdate() + datetime.timedelta(days=15)
    prefix = f"action-{point.pk}"
    response = client.post(
        url,
        {
            f"{prefix}-libelle": "Étude de poste",
            f"{prefix}-responsable": former.pk,
            f"{prefix}-echeance": echeance.isoformat(),
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert not ActionInstance.objects.exists()
    response = client.post(
        url,
        {
            f"{prefix}-libelle": "Étude de poste",
            f"{prefix}-responsable": membre_partenaire.pk,
            f"{prefix}-echeance": echeance.isoformat(),
        },
        headers=HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert _is_item_partial(body, point)
    action = ActionInstance.objects.get()
    assert action.responsable == membre_partenaire
    assert action.echeance == echeance
    assert action.created_by == coordinateur
    assert "Étude de poste" in body
    assert "Paul Cap (Cap emploi)" in body
    assert echeance.strftime("%d/%m/%Y") in body
    assert ReunionEvent.objects.filter(reunion=point.reunion, changes__action=action.pk).exists()


def test_an_action_needs_a_plausible_due_date(client, coordinateur, point, membre_partenaire):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_action_create", args=[point.reunion_id, point.pk])
    prefix = f"action-{point.pk}"
    response = client.post(
        url,
        {
            f"{prefix}-libelle": "Étude de poste",
            f"{prefix}-responsable": membre_partenaire.pk,
            f"{prefix}-echeance": "9999-12-31",
        },
    )
    assert response.status_code == 200
    assert "Vérifiez l" in response.content.decode()
    assert not ActionInstance.objects.exists()


# --- Validated minutes: locked, addenda ---------------------------------------------------


def test_validated_minutes_are_read_only_and_take_addenda(
    client, coordinateur, partenaire, point, decision
):
    reunion = _validated(point.reunion, coordinateur)
    client.force_login(coordinateur)
    body = client.get(detail_url(reunion)).content.decode()
    assert "Étude de poste" in body  # the decision, read-only
    for marker in (
        'name="point-',
        'name="decision-',
        'name="action-',
        'name="presence-',
        "Retirer",
    ):
        assert marker not in body
    assert 'name="texte"' in body  # the addendum form
    # Changes are refused with the service's message.
    url = reverse("coordination:reunion_decision_create", args=[reunion.pk, point.pk])
    type_pk = TypeDecision.objects.get(code="visite_pre_reprise").pk
    response = client.post(url, {f"decision-{point.pk}-type": type_pk}, headers=HX)
    assert response.status_code == 200
    assert "ajoutez un addendum" in response.content.decode()
    response = client.post(url, {f"decision-{point.pk}-type": type_pk}, follow=True)
    assert "ajoutez un addendum" in response.content.decode()
    assert Decision.objects.count() == 1
    url = reverse("coordination:reunion_point_update", args=[reunion.pk, point.pk])
    client.post(url, {f"point-{point.pk}-synthese": "Changé"})
    point.refresh_from_db()
    assert point.synthese == ""
    # The addendum.
    url = reverse("coordination:reunion_addendum_create", args=[reunion.pk])
    response = client.post(url, {"texte": "Le SPST était représenté."})
    assert response.status_code == 302
    addendum = Addendum.objects.get()
    assert addendum.reunion == reunion
    assert addendum.created_by == coordinateur
    assert ReunionEvent.objects.filter(reunion=reunion, changes__addendum=addendum.pk).exists()
    # Members read it, without the form.
    client.force_login(partenaire)
    body = client.get(detail_url(reunion)).content.decode()
    assert "Le SPST était représenté." in body
    assert 'name="texte"' not in body


def test_an_addendum_needs_text_and_validated_minutes(client, coordinateur, ouverte):
    client.force_login(coordinateur)
    url = reverse("coordination:reunion_addendum_create", args=[ouverte.pk])
    response = client.post(url, {"texte": "Trop tôt"}, follow=True)
    assert "pas encore validé" in response.content.decode()
    assert not Addendum.objects.exists()
    _validated(ouverte, coordinateur)
    response = client.post(url, {"texte": "  "})
    assert response.status_code == 200
    assert "Ce champ est obligatoire." in response.content.decode()
    assert not Addendum.objects.exists()


# --- The minutes links (another feature's views) -----------------------------------------


def test_the_minutes_links_wait_for_their_views(client, coordinateur, ouverte):
    from django.urls import NoReverseMatch

    _validated(ouverte, coordinateur)
    client.force_login(coordinateur)
    body = client.get(detail_url(ouverte)).content.decode()
    try:
        pdf = reverse("coordination:reunion_minutes_pdf", args=[ouverte.pk])
    except NoReverseMatch:
        assert "Compte rendu (PDF)" not in body
    else:
        assert pdf in body


# --- French, and the query count -------------------------------------------------------------


def test_the_meeting_pages_are_in_good_french(client, coordinateur, partenaire, point, decision):
    pages = [
        detail_url(point.reunion),
        reverse("coordination:reunion_create", args=[point.reunion.instance_id]),
        reverse("coordination:reunion_edit", args=[point.reunion_id]),
    ]
    for user, urls in ((coordinateur, pages), (partenaire, pages[:1])):
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200
            assert problems(page_text(response.content.decode())) == []


def _big_meeting(instance, coordinateur, unit, items):
    """A meeting with `items` follow-ups on its agenda, each with a decision and an action, and
    an earlier meeting where each was first examined (with a decision and an action too)."""
    for index in range(5):
        MembreFactory(
            instance=instance,
            user=None,
            contact=PartnerContactFactory(),
            organisation=Organisation.SPST,
            fonction=f"Médecin du travail {index}",
        )
    membres = list(MembreInstance.objects.filter(instance=instance))
    type_ = TypeDecision.objects.get(code="etude_poste")
    earlier = ReunionFactory(
        instance=instance,
        created_by=coordinateur,
        debut=timezone.now() - datetime.timedelta(days=30),
        statut=Reunion.Statut.CR_VALIDE,
    )
    reunion = ReunionFactory(instance=instance, created_by=coordinateur, statut="odj_arrete")
    Presence.objects.bulk_create([Presence(reunion=reunion, membre=m) for m in membres])
    for index in range(items):
        saisine = SaisineFactory(instance=instance, accompagnement__unit=unit)
        for meeting in (earlier, reunion):
            point = PointOrdreDuJour.objects.create(
                reunion=meeting, saisine=saisine, ordre=index, origine="suivi"
            )
            Decision.objects.create(point=point, type=type_, created_by=coordinateur)
            ActionInstance.objects.create(
                point=point,
                libelle=f"Action {index}",
                responsable=membres[index % len(membres)],
                echeance=timezone.localdate() + datetime.timedelta(days=index - 3),
                created_by=coordinateur,
            )
    return reunion


@pytest.mark.parametrize("persona", ["coordinateur", "partenaire"])
def test_the_meeting_page_makes_a_fixed_number_of_queries(
    request, client, django_assert_max_num_queries, instance, coordinateur, unit, membres, persona
):
    reunion = _big_meeting(instance, coordinateur, unit, items=30)
    assert reunion.presences.count() == 8
    user = request.getfixturevalue(persona)
    client.force_login(user)
    with django_assert_max_num_queries(18):
        response = client.get(detail_url(reunion))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="card mb-3"') == 30
    assert "En retard" in body
    assert AuditLog.objects.filter(user=user, object_type="coordination.saisine").count() == 30
