"""Submitting a situation from the case (the consent gate in the page), reading it (référent
always, coordinators while the consent holds), the unit's list and the case panel."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from cases.models import CaseEvent, Consentement
from coordination import services
from coordination.models import ActionInstance, Organisation, Presence, Saisine, TypeDecision
from pdp.models import AuditLog
from tests.coordination.conftest import FICHE
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    ConsentementFactory,
    InstanceFactory,
    MembreFactory,
    SaisineFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

QUESTION = "Quel aménagement de poste envisager avec l'employeur ?"


def create_url(case):
    return reverse("coordination:saisine_create", args=[case.pk])


def detail_url(saisine):
    return reverse("coordination:saisine_detail", args=[saisine.pk])


LIST_URL = "/cellule/situations/unite/"


def _post_data(instance, **extra):
    return {"instance": instance.pk, "question": QUESTION, **FICHE, **extra}


def _submit(case, instance, user, **extra):
    return services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=user,
        question=QUESTION,
        **{**FICHE, **extra},
    )


def _examine(saisine, coordinateur, responsable, *, echeance_days=20, decision="etude_poste"):
    """Plan a meeting, hold it with everyone present, record a decision and an action."""
    reunion = services.reunion_plan(
        instance=saisine.instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=7),
        lieu="CARSAT, salle 2",
    )
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    for presence in reunion.presences.select_related("membre"):
        services.presence_set(
            presence=presence, acting_user=coordinateur, statut=Presence.Statut.PRESENT
        )
    point = reunion.points.get(saisine=saisine)
    services.point_update(
        point=point, acting_user=coordinateur, synthese="Échange sur les postes possibles."
    )
    services.decision_add(
        point=point, acting_user=coordinateur, type=TypeDecision.objects.get(code=decision)
    )
    action = services.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Étude de poste avec l'employeur",
        responsable=responsable,
        echeance=timezone.localdate() + datetime.timedelta(days=echeance_days),
    )
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    return reunion, point, action


def _revoke(case, consent, user):
    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=user)


@pytest.fixture
def assure():
    return AssureFactory(
        nom_naissance="Bernardin",
        prenoms="Lucie",
        telephone="06 12 34 56 78",
        adresse="12 rue des Lilas",
    )


@pytest.fixture
def case(ass, assure):
    """The conftest's case, with a known name and an arrêt for the pre-filled fiche."""
    ArretFactory(assure=assure)
    return AccompagnementFactory(referent=ass, assure=assure)


@pytest.fixture
def saisine(case, instance, ass, consent):
    return _submit(case, instance, ass)


@pytest.fixture
def other_coordinateur(unit):
    other = UserFactory(coordinateur=True)
    InstanceFactory(region=unit.region, units=[unit], coordinateurs=[other])
    return other


# --- Creating: the consent gate in the page -----------------------------------------------------


def test_create_without_consent_says_so_before_the_form_and_links_to_the_consent_form(
    client, case, instance, ass
):
    client.force_login(ass)
    response = client.get(create_url(case))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Consentement de l'assuré requis" in body
    assert 'id="saisine-form"' not in body
    link = reverse("cases:consentement_create", args=[case.pk])
    assert f"{link}?portee=cellule_pdp&amp;next=%2Fcellule%2Faccompagnements%2F{case.pk}" in body
    assert "Recueillir le consentement" in body


def test_create_without_consent_refuses_the_post_and_creates_nothing(client, case, instance, ass):
    client.force_login(ass)
    response = client.post(create_url(case), _post_data(instance))
    assert response.status_code == 200
    assert "Recueillez ce consentement" in response.content.decode()
    assert services.CONSENT_MISSING in response.context["form"].non_field_errors()
    assert not Saisine.objects.exists()
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.CELLULE).exists()


def test_create_after_the_consent_was_revoked_is_refused_the_same_way(
    client, case, instance, ass, consent
):
    _revoke(case, consent, ass)
    client.force_login(ass)
    body = client.get(create_url(case)).content.decode()
    assert "Consentement de l'assuré requis" in body
    response = client.post(create_url(case), _post_data(instance))
    assert "Recueillez ce consentement" in response.content.decode()
    assert not Saisine.objects.exists()


def test_create_prefills_the_fiche_with_initials_never_the_name(
    client, case, instance, ass, consent, assure
):
    client.force_login(ass)
    response = client.get(create_url(case))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["initiales"] == "L. B."
    assert form.initial["instance"] == instance.pk  # the only instance covering the unit
    assert "Maladie" in form.initial["arret"]
    form_html = response.content.decode().split('id="saisine-form"')[1]
    assert 'value="L. B."' in form_html
    for identity in (assure.nom_naissance, assure.prenoms, assure.nir, "06 12 34 56 78"):
        assert identity not in form_html
    assert "ni nom, ni NIR, ni adresse" in form_html


def test_create_writes_a_read_row_in_the_access_log(client, case, instance, ass, consent):
    client.force_login(ass)
    client.get(create_url(case))
    row = AuditLog.objects.get(action=AuditLog.Action.VIEW, changes__page="saisine_create")
    assert row.user == ass
    assert row.assure_id == case.assure_id


def test_the_referent_submits_and_lands_on_the_situation(client, case, instance, ass, consent):
    client.force_login(ass)
    response = client.post(create_url(case), _post_data(instance))
    saisine = Saisine.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(saisine)
    assert saisine.question == QUESTION
    assert saisine.consentement == consent
    assert saisine.submitted_by == ass
    assert saisine.initiales == "J. D."
    assert CaseEvent.objects.filter(
        accompagnement=case, kind=CaseEvent.Kind.CELLULE, summary__contains="présentée"
    ).exists()


def test_the_manager_submits_too(client, case, instance, manager, consent):
    client.force_login(manager)
    assert client.get(create_url(case)).status_code == 200
    response = client.post(create_url(case), _post_data(instance))
    assert response.status_code == 302
    assert Saisine.objects.get().submitted_by == manager


def test_the_question_is_mandatory(client, case, instance, ass, consent):
    client.force_login(ass)
    response = client.post(create_url(case), _post_data(instance, question=""))
    assert response.status_code == 200
    assert "question" in response.context["form"].errors
    assert not Saisine.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("limitations", "Mme {nom} ne peut plus porter de charges", "le nom"),
        ("freins", "NIR {nir}", "le NIR"),
        ("pistes", "Joindre au 06 12 34 56 78", "le téléphone"),
    ],
)
def test_a_fiche_that_identifies_the_person_is_refused_and_nothing_is_created(
    client, case, instance, ass, consent, assure, field, value, label
):
    client.force_login(ass)
    value = value.format(nom=assure.nom_naissance, nir=assure.nir)
    response = client.post(create_url(case), _post_data(instance, **{field: value}))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].non_field_errors())
    assert "pseudonyme" in errors and label in errors
    assert "La fiche est pseudonyme" in response.content.decode()
    assert not Saisine.objects.exists()


def test_only_the_instances_covering_the_unit_are_offered(
    client, case, instance, ass, consent, other_unit
):
    elsewhere = InstanceFactory(region=other_unit.region, units=[other_unit])
    client.force_login(ass)
    response = client.get(create_url(case))
    assert list(response.context["form"].fields["instance"].queryset) == [instance]
    response = client.post(create_url(case), _post_data(elsewhere))
    assert "instance" in response.context["form"].errors
    assert not Saisine.objects.exists()


def test_a_closed_case_shows_why_and_no_form(client, case, instance, ass, consent):
    case_services.case_close(
        accompagnement=case, acting_user=ass, outcome="autre", date_cloture=timezone.localdate()
    )
    client.force_login(ass)
    body = client.get(create_url(case)).content.decode()
    assert "clôturé" in body
    assert 'id="saisine-form"' not in body


def test_create_requires_login(client, case):
    response = client.get(create_url(case))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    "persona", ["outsider", "coordinateur", "partenaire", "medecin", "regional", "admin_user"]
)
def test_create_is_404_for_who_does_not_see_the_case(client, case, instance, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(create_url(case)).status_code == 404


@pytest.mark.parametrize("persona", ["colleague", "conseiller"])
def test_create_is_403_for_a_colleague_of_the_unit(
    client, case, instance, consent, persona, request
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(create_url(case)).status_code == 403
    assert client.post(create_url(case), _post_data(instance)).status_code == 403
    assert not Saisine.objects.exists()


# --- The consent form: scope preselected, back to a same-site page ------------------------------


def test_the_consent_form_preselects_the_scope_and_comes_back_to_the_submission(
    client, case, instance, ass
):
    client.force_login(ass)
    url = reverse("cases:consentement_create", args=[case.pk])
    query = f"?portee=cellule_pdp&next={create_url(case)}"
    response = client.get(url + query)
    assert response.context["form"].initial["portee"] == "cellule_pdp"
    response = client.post(
        url + query, {"portee": "cellule_pdp", "date_recueil": timezone.localdate().isoformat()}
    )
    assert response.status_code == 302
    assert response.url == create_url(case)
    assert Consentement.objects.get(assure=case.assure).portee == "cellule_pdp"
    # Back on the submission page: the form is there.
    assert 'id="saisine-form"' in client.get(response.url).content.decode()


@pytest.mark.parametrize(
    "target", ["https://evil.example/phish", "//evil.example/", "javascript:alert(1)"]
)
def test_the_consent_form_ignores_an_external_next(client, case, ass, target):
    client.force_login(ass)
    url = reverse("cases:consentement_create", args=[case.pk])
    response = client.post(
        url + "?" + f"portee=spst&next={target}",
        {"portee": "spst", "date_recueil": timezone.localdate().isoformat()},
    )
    assert response.status_code == 302
    assert response.url == reverse("cases:accompagnement_detail", args=[case.pk]) + "#consentements"


def test_the_consent_form_ignores_an_unknown_scope(client, case, ass):
    client.force_login(ass)
    url = reverse("cases:consentement_create", args=[case.pk])
    response = client.get(url + "?portee=nimporte")
    assert "portee" not in response.context["form"].initial


# --- Detail ------------------------------------------------------------------------------------


def test_detail_requires_login(client, saisine):
    response = client.get(detail_url(saisine))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    "persona",
    ["outsider", "other_coordinateur", "partenaire", "medecin", "regional", "admin_user"],
)
def test_detail_is_404_for_who_may_not_know_of_it(client, saisine, membres, persona, request):
    # `partenaire` and `medecin` are members of the instance: they read fiches on the
    # meeting page, not here.
    client.force_login(request.getfixturevalue(persona))
    assert client.get(detail_url(saisine)).status_code == 404


@pytest.mark.parametrize("persona", ["colleague", "conseiller"])
def test_detail_is_403_for_a_colleague_of_the_unit(client, saisine, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(detail_url(saisine)).status_code == 403


def test_the_referent_reads_the_fiche_the_meetings_decisions_and_actions(
    client, saisine, ass, coordinateur, membres, membre_partenaire, django_assert_max_num_queries
):
    _examine(saisine, coordinateur, membre_partenaire)
    client.force_login(ass)
    # Session, user, savepoint, situation, meetings, decisions, actions, access log, its
    # author, release.
    with django_assert_max_num_queries(11):  # +1: the menu asks whether the user is a member
        response = client.get(detail_url(saisine))
    assert response.status_code == 200
    body = response.content.decode()
    assert QUESTION.replace("'", "&#x27;") in body
    assert "Port de charges limité" in body
    assert "Échange sur les postes possibles." in body
    assert "Étude de poste" in body
    assert "Paul Cap" in body
    assert str(saisine.accompagnement.assure) in body  # the référent sees whose case it is


def test_the_manager_reads_it(client, saisine, manager):
    client.force_login(manager)
    assert client.get(detail_url(saisine)).status_code == 200


def test_the_coordinator_reads_the_fiche_but_never_the_name(client, saisine, coordinateur, assure):
    client.force_login(coordinateur)
    response = client.get(detail_url(saisine))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Port de charges limité" in body
    assert "Fiche de présentation" in body
    for identity in (assure.nom_naissance, assure.prenoms, assure.nir):
        assert identity not in body


def test_after_revocation_the_coordinator_sees_only_the_reference_and_dates(
    client, case, saisine, consent, ass, coordinateur, membres, membre_partenaire
):
    _examine(saisine, coordinateur, membre_partenaire)
    _revoke(case, consent, ass)
    client.force_login(coordinateur)
    response = client.get(detail_url(saisine))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Retirée à la demande de l'assuré le" in body
    assert saisine.reference in body
    for hidden in (
        "Port de charges",
        "aménagement de poste",
        "Fiche de présentation",
        "Échange sur les postes",
        "Étude de poste",
    ):
        assert hidden not in body
    row = AuditLog.objects.get(
        user=coordinateur, object_type="coordination.saisine", object_id=str(saisine.pk)
    )
    assert row.changes == {"page": "saisine_detail", "fiche": False}


def test_after_revocation_the_referent_keeps_the_whole_history_with_a_banner(
    client, case, saisine, consent, ass, coordinateur, membres, membre_partenaire
):
    _examine(saisine, coordinateur, membre_partenaire)
    _revoke(case, consent, ass)
    client.force_login(ass)
    body = client.get(detail_url(saisine)).content.decode()
    today = timezone.localdate().strftime("%d/%m/%Y")
    assert f"Retirée à la demande de l'assuré le {today}" in body
    assert "Vous en gardez tout" in body
    assert "Port de charges limité" in body
    assert "Étude de poste" in body
    assert "Abandonnée" in body  # the open action was abandoned by the withdrawal


def test_detail_writes_the_access_log(client, saisine, coordinateur, ass):
    client.force_login(coordinateur)
    client.get(detail_url(saisine))
    client.force_login(ass)
    client.get(detail_url(saisine))
    rows = AuditLog.objects.filter(
        action=AuditLog.Action.VIEW, object_type="coordination.saisine", object_id=str(saisine.pk)
    )
    assert {(r.user, r.assure_id) for r in rows} == {
        (coordinateur, saisine.accompagnement.assure_id),
        (ass, saisine.accompagnement.assure_id),
    }


# --- The unit's list ---------------------------------------------------------------------------


def test_list_requires_login(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_list_url_name():
    assert reverse("coordination:saisine_list_unit") == LIST_URL


@pytest.mark.parametrize(
    "persona", ["coordinateur", "partenaire", "conseiller", "medecin", "regional", "admin_user"]
)
def test_list_is_403_for_other_roles(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(LIST_URL).status_code == 403


def test_the_manager_lists_the_units_submissions_only(
    client, saisine, manager, colleague, outsider
):
    mine = SaisineFactory(accompagnement=AccompagnementFactory(referent=colleague))
    elsewhere = SaisineFactory(accompagnement=AccompagnementFactory(referent=outsider))
    client.force_login(manager)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    assert {s.pk for s in response.context["saisines"]} == {saisine.pk, mine.pk}
    assert elsewhere.pk not in {s.pk for s in response.context["saisines"]}
    rows = AuditLog.objects.filter(user=manager, changes__page="saisine_list_unit")
    assert {r.object_id for r in rows} == {str(saisine.pk), str(mine.pk)}


def test_an_ass_lists_the_submissions_of_her_own_cases(client, saisine, ass, colleague):
    SaisineFactory(accompagnement=AccompagnementFactory(referent=colleague))
    client.force_login(ass)
    response = client.get(LIST_URL)
    assert [s.pk for s in response.context["saisines"]] == [saisine.pk]
    client.force_login(colleague)
    assert saisine.pk not in {s.pk for s in client.get(LIST_URL).context["saisines"]}


def test_the_list_shows_the_last_meeting_and_its_decisions_and_filters_by_status(
    client, saisine, manager, ass, coordinateur, membres, membre_partenaire
):
    reunion, _, _ = _examine(saisine, coordinateur, membre_partenaire)
    waiting = SaisineFactory(accompagnement=AccompagnementFactory(referent=ass))
    client.force_login(manager)
    body = client.get(LIST_URL).content.decode()
    assert timezone.localtime(reunion.debut).strftime("%d/%m/%Y") in body
    assert TypeDecision.objects.get(code="etude_poste").libelle in body
    response = client.get(LIST_URL + "?statut=soumise")
    assert [s.pk for s in response.context["saisines"]] == [waiting.pk]
    response = client.get(LIST_URL + "?statut=en_cours")
    assert {s.pk for s in response.context["saisines"]} == {saisine.pk, waiting.pk}
    response = client.get(LIST_URL + "?statut=retiree")
    assert list(response.context["saisines"]) == []
    assert "Aucune situation présentée avec ce statut" in response.content.decode()
    response = client.get(LIST_URL + "?statut=nimporte")
    assert response.context["statut"] == ""


def test_the_list_query_count_does_not_grow_with_its_rows(
    client,
    manager,
    ass,
    instance,
    coordinateur,
    membres,
    membre_partenaire,
    django_assert_max_num_queries,
):
    for _ in range(6):
        case = AccompagnementFactory(referent=ass)
        SaisineFactory(accompagnement=case, instance=instance)
    reunion = services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=7),
        lieu="CARSAT",
    )
    assert reunion.points.count() == 6
    client.force_login(manager)
    client.get(LIST_URL)  # warm the session
    # Session, user, savepoint, count, page, meetings, decisions, access log, release.
    with django_assert_max_num_queries(10):  # +1: the menu asks whether the user is a member
        response = client.get(LIST_URL)
    assert len(response.context["saisines"]) == 6


# --- The panel on the case page ----------------------------------------------------------------


def case_url(case):
    return reverse("cases:accompagnement_detail", args=[case.pk])


def test_the_panel_offers_to_submit_to_the_referent(client, case, instance, ass):
    client.force_login(ass)
    body = client.get(case_url(case)).content.decode()
    assert "Présenter à une cellule PDP" in body
    assert create_url(case) in body


def test_the_panel_shows_decisions_provisional_flag_and_overdue_actions(
    client, case, saisine, ass, coordinateur, membres, membre_partenaire, membre_medical
):
    reunion, point, action = _examine(saisine, coordinateur, membre_partenaire)
    # An earlier action, now overdue.
    ActionInstance.objects.filter(pk=action.pk).update(
        echeance=timezone.localdate() - datetime.timedelta(days=2)
    )
    # A provisional decision at a second meeting without the service médical.
    second = services.reunion_plan(
        instance=saisine.instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=30),
        lieu="CARSAT",
    )
    services.reunion_freeze_agenda(reunion=second, acting_user=coordinateur)
    for presence in second.presences.select_related("membre"):
        absent = presence.membre.organisation == Organisation.SERVICE_MEDICAL
        services.presence_set(
            presence=presence, acting_user=coordinateur, statut="excuse" if absent else "present"
        )
    services.decision_add(
        point=second.points.get(),
        acting_user=coordinateur,
        type=TypeDecision.objects.get(code="fin_suivi"),
    )
    client.force_login(ass)
    body = client.get(case_url(case)).content.decode()
    panel = body.split('id="cellule"')[1].split("</section>")[0]
    assert detail_url(saisine) in panel
    assert saisine.instance.nom in panel
    assert TypeDecision.objects.get(code="etude_poste").libelle in panel
    assert "Provisoire" in panel
    assert "Étude de poste avec l" in panel
    assert "Paul Cap" in panel
    assert "En retard" in panel
    assert re.search(r"Examinée, suivie par l(&#x27;|')instance", panel)


def test_the_panel_is_hidden_from_a_colleague_who_does_not_read_the_content(
    client, case, saisine, colleague
):
    client.force_login(colleague)
    body = client.get(case_url(case)).content.decode()
    assert 'id="cellule"' not in body


def test_the_panel_shows_a_withdrawn_situation_to_the_referent(client, case, saisine, consent, ass):
    _revoke(case, consent, ass)
    client.force_login(ass)
    panel = client.get(case_url(case)).content.decode().split('id="cellule"')[1]
    assert "Retirée à la demande de l" in panel


def test_the_panel_query_count_does_not_grow_with_submissions(
    client, ass, instance, coordinateur, membres, membre_partenaire, unit
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for n in (1, 4):
        case = AccompagnementFactory(referent=ass)
        consent = ConsentementFactory(assure=case.assure, recorded_by=ass)
        for _ in range(n):
            other = InstanceFactory(region=unit.region, units=[unit], coordinateurs=[coordinateur])
            MembreFactory(instance=other, user=membre_partenaire.user, organisation="cap_emploi")
            saisine = SaisineFactory(accompagnement=case, instance=other, consentement=consent)
            _examine(saisine, coordinateur, other.membres.get())
        client.force_login(ass)
        client.get(case_url(case))
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(case_url(case))
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


# --- French typography of these pages ----------------------------------------------------------


def test_the_pages_read_as_correct_french(
    client, case, saisine, consent, ass, manager, coordinateur, membres, membre_partenaire
):
    from tests.test_typography import page_text, problems

    _examine(saisine, coordinateur, membre_partenaire)
    without = AccompagnementFactory(referent=ass)
    pages = {
        ass: [
            create_url(without),
            case_url(case),
            detail_url(saisine),
            LIST_URL,
            reverse("cases:consentement_create", args=[case.pk]) + "?portee=cellule_pdp",
        ],
        manager: [LIST_URL, detail_url(saisine)],
        coordinateur: [detail_url(saisine)],
    }
    report = []
    for user, urls in pages.items():
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            report += [f"{url} {p}" for p in problems(page_text(response.content.decode()))]
    # The submission form of a case with consent (a second open submission is refused on
    # POST only: the page still shows).
    client.force_login(ass)
    report += problems(page_text(client.get(create_url(case)).content.decode()))
    _revoke(case, consent, ass)
    for user in (ass, coordinateur):
        client.force_login(user)
        report += problems(page_text(client.get(detail_url(saisine)).content.decode()))
    assert not report, "\n".join(report)
