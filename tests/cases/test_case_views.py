import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import dispositifs as rules
from cases import services
from cases.models import (
    Action,
    CaseEvent,
    CaseStatus,
    Cloture,
    Consentement,
    DispositifMobilise,
    DispositifPeriode,
    DispositifType,
    Document,
    Entretien,
    EvaluationGlobale,
    Objectif,
    Orientation,
)
from pdp.models import AuditLog, PartnerKind
from tests.factories import (
    AccompagnementFactory,
    CaseEventFactory,
    EntretienFactory,
    PartnerFactory,
    SignalementFactory,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass, date_ouverture=TODAY - datetime.timedelta(days=30))


@pytest.fixture
def objectif(case, ass):
    return services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="emploi", libelle="Préparer la reprise"
    )


@pytest.fixture
def action(objectif, ass):
    return services.action_create(
        objectif=objectif, acting_user=ass, libelle="Rencontrer le médecin du travail"
    )


@pytest.fixture
def orientation(case, ass):
    return services.orientation_create(
        accompagnement=case,
        acting_user=ass,
        partner_kind=PartnerKind.MDPH,
        motif="Demande de RQTH",
        accord_assure=False,
    )


@pytest.fixture
def consent(case, ass):
    return services.consentement_record(accompagnement=case, acting_user=ass, portee="spst")


@pytest.fixture
def closed_case(case, ass):
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    return case


def url(name, *args):
    return reverse(f"cases:{name}", args=args)


def new_events(case, kind):
    return case.events.filter(kind=kind).order_by("-pk")


# Every page that changes the case: (url name, extra url args from fixtures, valid POST data).
EDIT_PAGES = [
    ("note_create", [], {"text": "Appel"}),
    ("evaluation_create", [], {"niveau_risque": "eleve"}),
    ("objectif_create", [], {"domaine": "emploi", "libelle": "Reprendre"}),
    ("objectif_update", ["objectif"], {"domaine": "emploi", "libelle": "x", "statut": "atteint"}),
    ("action_create", ["objectif"], {"libelle": "Appeler"}),
    ("action_toggle", ["action"], {}),
    (
        "orientation_create",
        [],
        {"partner_kind": "mdph", "motif": "x", "statut": "proposee", "date_orientation": TODAY},
    ),
    ("orientation_update", ["orientation"], {"statut": "sans_suite"}),
    ("consentement_create", [], {"portee": "cellule_pdp", "date_recueil": TODAY}),
    ("consentement_revoke", ["consent"], {"date_revocation": TODAY}),
    ("cloture_create", [], {"outcome": "autre", "date_cloture": TODAY}),
    ("case_suspend", [], {"reason": ""}),
    ("case_resume", [], {"reason": ""}),
    ("case_reopen", [], {"reason": "x"}),
    ("case_referent", [], {}),
]
READ_PAGES = [
    ("evaluation_list", []),
    ("plan_detail", []),
    ("plan_print", []),
]


def edit_url(request, case, name, extra):
    args = [case.pk] + [request.getfixturevalue(fixture).pk for fixture in extra]
    return url(name, *args)


# --- Access rules common to every page -----------------------------------------------------


@pytest.mark.parametrize("name, extra, data", EDIT_PAGES)
def test_edit_pages_send_anonymous_users_to_the_login_page(
    request, client, case, name, extra, data
):
    target = edit_url(request, case, name, extra)
    response = client.post(target, data)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name, extra, data", EDIT_PAGES)
def test_edit_pages_hide_the_case_from_another_unit(
    request, client, case, outsider, name, extra, data
):
    client.force_login(outsider)
    target = edit_url(request, case, name, extra)
    assert client.post(target, data).status_code == 404
    if name != "action_toggle":
        assert client.get(target).status_code == 404


@pytest.mark.parametrize("role", ["colleague", "conseiller"])
@pytest.mark.parametrize("name, extra, data", EDIT_PAGES)
def test_edit_pages_are_forbidden_to_read_only_staff(
    request, client, case, role, name, extra, data
):
    target = edit_url(request, case, name, extra)
    count = CaseEvent.objects.count()
    client.force_login(request.getfixturevalue(role))
    assert client.post(target, data).status_code == 403
    if name != "action_toggle":
        assert client.get(target).status_code == 403
    assert CaseEvent.objects.count() == count


def test_the_referent_cannot_change_the_referent(client, case, ass):
    client.force_login(ass)
    assert client.get(url("case_referent", case.pk)).status_code == 403


@pytest.mark.parametrize("name, extra", READ_PAGES)
def test_content_pages_follow_the_content_rule(
    client, case, colleague, conseiller, outsider, manager, share_case, name, extra
):
    target = url(name, case.pk)
    assert client.get(target).status_code == 302
    client.force_login(outsider)
    assert client.get(target).status_code == 404
    client.force_login(conseiller)
    assert client.get(target).status_code == 403
    client.force_login(colleague)
    assert client.get(target).status_code == 403
    client.force_login(manager)
    assert client.get(target).status_code == 200
    share_case(case, colleague)
    client.force_login(colleague)
    assert client.get(target).status_code == 200


def test_evaluation_detail_follows_the_content_rule(
    client, case, ass, colleague, conseiller, outsider, share_case
):
    services.evaluation_create(accompagnement=case, acting_user=ass, niveau_risque="faible")
    target = url("evaluation_detail", case.pk, 1)
    assert client.get(target).status_code == 302
    client.force_login(outsider)
    assert client.get(target).status_code == 404
    client.force_login(conseiller)
    assert client.get(target).status_code == 403
    client.force_login(colleague)
    assert client.get(target).status_code == 403
    share_case(case, colleague)
    assert client.get(target).status_code == 200
    assert client.get(url("evaluation_detail", case.pk, 2)).status_code == 404


# --- The accompagnement page ---------------------------------------------------------------


def test_the_case_page_needs_a_login_and_hides_other_units_cases(client, case, outsider, regional):
    target = url("accompagnement_detail", case.pk)
    assert client.get(target).status_code == 302
    for user in (outsider, regional):
        client.force_login(user)
        assert client.get(target).status_code == 404


def test_the_referent_sees_everything_and_the_actions(client, case, ass):
    signalement = SignalementFactory(
        assure=case.assure, unit=case.unit, statut="accompagnement_ouvert"
    )
    case.signalement = signalement
    case.save(update_fields=["signalement"])
    services.case_note_add(accompagnement=case, acting_user=ass, text="Premier appel")
    services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="eleve", emploi="Cariste"
    )
    client.force_login(ass)

    response = client.get(url("accompagnement_detail", case.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert str(case.referent) in page
    assert f"du {signalement.date_signalement:%d/%m/%Y}" in page
    assert "Premier appel" in page
    assert "Cariste" in page
    assert url("cloture_create", case.pk) in page
    assert url("note_create", case.pk) in page
    assert url("case_referent", case.pk) not in page
    assert AuditLog.objects.filter(
        action="view", object_id=str(case.pk), user=ass, assure_id=case.assure_id
    ).exists()


def test_a_colleague_without_a_share_sees_the_header_only(client, case, ass, colleague):
    services.case_note_add(accompagnement=case, acting_user=ass, text="Premier appel")
    EntretienFactory(
        accompagnement=case, ass=ass, debut=NOW + datetime.timedelta(days=2), note="Confidentiel"
    )
    client.force_login(colleague)
    page = client.get(url("accompagnement_detail", case.pk)).content.decode()
    assert str(case.referent) in page
    assert "Prochain entretien" in page and "12 mars 2026" in page
    assert "Premier appel" not in page
    assert "Confidentiel" not in page
    assert 'id="journal"' not in page
    assert url("cloture_create", case.pk) not in page
    assert url("note_create", case.pk) not in page
    assert "demandez un partage" in page


def test_a_colleague_with_a_share_reads_and_writes_but_does_not_close(
    client, case, ass, colleague, share_case
):
    services.case_note_add(accompagnement=case, acting_user=ass, text="Premier appel")
    share_case(case, colleague)
    client.force_login(colleague)
    page = client.get(url("accompagnement_detail", case.pk)).content.decode()
    assert "Premier appel" in page
    assert "Partages en cours" in page and str(colleague) in page
    assert url("note_create", case.pk) in page
    assert url("cloture_create", case.pk) not in page
    assert url("case_share_create", case.pk) not in page
    assert client.get(url("cloture_create", case.pk)).status_code == 403


def test_a_conseiller_sees_the_header_but_no_content(client, case, ass, conseiller):
    services.case_note_add(accompagnement=case, acting_user=ass, text="Confidentiel")
    services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="eleve", freins="Secret"
    )
    client.force_login(conseiller)
    response = client.get(url("accompagnement_detail", case.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert str(case.referent) in page
    assert "Confidentiel" not in page
    assert "Secret" not in page
    assert 'id="journal"' not in page
    assert 'id="entretiens"' in page
    assert url("plan_detail", case.pk) not in page


def test_the_manager_sees_the_change_of_referent_button(client, case, manager):
    client.force_login(manager)
    page = client.get(url("accompagnement_detail", case.pk)).content.decode()
    assert url("case_referent", case.pk) in page


def _fill(case, ass, n_events, n_items):
    """A case with n_events timeline events and n_items of every other record."""
    dispositif_type = DispositifType.objects.get_or_create(
        code="essai_encadre", defaults={"label": "Essai encadré", "phase": "pendant"}
    )[0]
    for i in range(n_items):
        objectif = Objectif.objects.create(
            accompagnement=case, domaine="emploi", libelle=f"Objectif {i}"
        )
        Action.objects.create(objectif=objectif, libelle=f"Action {i}")
        Action.objects.create(objectif=objectif, libelle=f"Autre action {i}", faite=True)
        Orientation.objects.create(
            accompagnement=case,
            partner_kind="cap_emploi",
            partner=PartnerFactory(kind="cap_emploi"),
            motif="x",
        )
        Entretien.objects.create(
            accompagnement=case,
            debut=NOW - datetime.timedelta(days=i + 1),
            ass=ass,
            mode="telephone",
            statut="realise",
        )
        Document.objects.create(
            accompagnement=case,
            fichier=f"documents/{case.pk}/doc{i}.pdf",
            nom=f"doc{i}.pdf",
            content_type="application/pdf",
            taille=10,
            uploaded_by=ass,
        )
        dispositif = DispositifMobilise.objects.create(accompagnement=case, type=dispositif_type)
        DispositifPeriode.objects.create(
            dispositif=dispositif, date_debut=TODAY, date_fin=TODAY + datetime.timedelta(days=3)
        )
        EvaluationGlobale.objects.create(
            accompagnement=case, version=i + 1, niveau_risque="faible", created_by=ass
        )
        Cloture.objects.create(
            accompagnement=case, outcome="autre", date_cloture=TODAY, closed_by=ass
        )
    for portee in list(Consentement.Portee.values)[:n_items]:
        Consentement.objects.create(assure=case.assure, portee=portee, recorded_by=ass)
    CaseEventFactory.create_batch(n_events, accompagnement=case, actor=ass)


# Pinned (measured): session, user, savepoint, case, entretiens, signalements, evaluation,
# timeline count, objectives, actions, orientations, consents, closures, documents,
# dispositifs, periods, audit insert, timeline page, release savepoint; the header's arrêt and
# the notes section. The partials of other features (_entretiens, _dispositifs, _documents)
# must use the prefetched context.
# The cellule PDP panel: its submissions and whether an instance covers the unit (+2).
# Outreach's booking panel: the person's last messages (+1).
DETAIL_MAX_QUERIES = 24


def test_the_case_page_query_count_does_not_grow_with_the_timeline(
    client, ass, django_assert_max_num_queries
):
    small = AccompagnementFactory(referent=ass)
    big = AccompagnementFactory(referent=ass)
    _fill(small, ass, n_events=1, n_items=1)
    _fill(big, ass, n_events=50, n_items=5)
    client.force_login(ass)
    client.get(url("accompagnement_detail", small.pk))  # warm the session

    counts = []
    for case in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url("accompagnement_detail", case.pk))
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    assert response.content.decode().count('class="timeline-item"') == 50

    with django_assert_max_num_queries(DETAIL_MAX_QUERIES):
        client.get(url("accompagnement_detail", big.pk))


def test_the_timeline_is_paginated_newest_first_and_filterable(client, case, ass):
    for i in range(55):
        CaseEventFactory(
            accompagnement=case,
            actor=ass,
            kind=CaseEvent.Kind.STATUS,
            summary=f"Événement {i:02d}",
            at=NOW - datetime.timedelta(hours=55 - i),
        )
    services.case_note_add(accompagnement=case, acting_user=ass, text="La note")
    client.force_login(ass)

    first = client.get(url("accompagnement_detail", case.pk)).content.decode()
    assert first.count('class="timeline-item"') == 50
    assert first.index("La note") < first.index("Événement 54")
    assert "Événement 05" not in first

    second = client.get(url("accompagnement_detail", case.pk), {"page": 2}).content.decode()
    assert second.count('class="timeline-item"') == 6
    assert "Événement 00" in second

    oldest = client.get(url("accompagnement_detail", case.pk), {"o": "at"}).content.decode()
    assert oldest.index("Événement 00") < oldest.index("Événement 01")

    notes = client.get(url("accompagnement_detail", case.pk), {"kind": "note"}).content.decode()
    assert notes.count('class="timeline-item"') == 1


# --- Notes and évaluation ------------------------------------------------------------------


def test_the_referent_adds_a_note(client, case, ass):
    client.force_login(ass)
    response = client.post(url("note_create", case.pk), {"text": "Appel à l'employeur"})
    assert response.status_code == 302
    event = new_events(case, "note").get()
    assert (event.detail, event.actor) == ("Appel à l'employeur", ass)


def test_an_empty_note_shows_an_error_next_to_the_field(client, case, ass):
    client.force_login(ass)
    response = client.post(url("note_create", case.pk), {"text": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["text"]
    assert not case.events.exists()


def test_the_evaluation_form_is_prefilled_from_the_previous_version(client, case, ass):
    services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="modere", logement="HLM au 4e"
    )
    client.force_login(ass)
    response = client.get(url("evaluation_create", case.pk))
    assert response.status_code == 200
    assert "HLM au 4e" in response.content.decode()
    assert "jamais de diagnostic" in response.content.decode().lower()

    response = client.post(
        url("evaluation_create", case.pk),
        {"niveau_risque": "eleve", "logement": "HLM au 4e sans ascenseur"},
    )
    assert response.status_code == 302
    assert response.url == url("evaluation_detail", case.pk, 2)
    assert list(case.evaluations.values_list("version", "logement")) == [
        (2, "HLM au 4e sans ascenseur"),
        (1, "HLM au 4e"),
    ]
    assert new_events(case, "evaluation").first().changes["version"] == [1, 2]


def test_the_evaluation_form_keeps_input_when_the_risk_level_is_missing(client, case, ass):
    client.force_login(ass)
    response = client.post(url("evaluation_create", case.pk), {"freins": "Mobilité réduite"})
    assert response.status_code == 200
    assert response.context["form"].errors["niveau_risque"]
    assert "Mobilité réduite" in response.content.decode()
    assert not EvaluationGlobale.objects.exists()


def test_previous_evaluation_versions_stay_readable(client, case, ass, manager):
    services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="faible", emploi="v1"
    )
    services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="eleve", emploi="v2"
    )
    client.force_login(manager)
    old = client.get(url("evaluation_detail", case.pk, 1)).content.decode()
    assert "v1" in old and "Version antérieure" in old
    listing = client.get(url("evaluation_list", case.pk)).content.decode()
    assert url("evaluation_detail", case.pk, 1) in listing
    assert url("evaluation_detail", case.pk, 2) in listing
    ascending = client.get(url("evaluation_list", case.pk), {"o": "version"}).content.decode()
    assert ascending.index("Version 1") < ascending.index("Version 2")


# --- Plan d'aide -----------------------------------------------------------------------------


def test_the_referent_adds_an_objective_and_an_action(client, case, ass):
    client.force_login(ass)
    response = client.post(
        url("objectif_create", case.pk),
        {"domaine": "droits", "libelle": "Obtenir la RQTH", "echeance": "2026-06-01"},
    )
    assert response.status_code == 302
    objectif = case.objectifs.get()
    assert (objectif.libelle, objectif.echeance) == ("Obtenir la RQTH", datetime.date(2026, 6, 1))

    response = client.post(
        url("action_create", case.pk, objectif.pk), {"libelle": "Dossier MDPH", "porteur": "ASS"}
    )
    assert response.status_code == 302
    assert objectif.actions.get().porteur == "ASS"
    assert new_events(case, "objective").count() == 2


def test_the_referent_changes_an_objective_status(client, case, ass, objectif):
    client.force_login(ass)
    response = client.post(
        url("objectif_update", case.pk, objectif.pk),
        {"domaine": "emploi", "libelle": objectif.libelle, "statut": "abandonne"},
    )
    assert response.status_code == 302
    objectif.refresh_from_db()
    assert objectif.statut == "abandonne"
    assert new_events(case, "objective").first().changes["statut"] == ["en_cours", "abandonne"]


def test_an_objective_of_another_case_is_not_found(client, case, ass):
    other = AccompagnementFactory(referent=ass)
    foreign = Objectif.objects.create(accompagnement=other, domaine="emploi", libelle="x")
    client.force_login(ass)
    assert client.get(url("objectif_update", case.pk, foreign.pk)).status_code == 404


def test_toggling_an_action_with_htmx_returns_the_row(client, case, ass, action):
    client.force_login(ass)
    response = client.post(url("action_toggle", case.pk, action.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="action-{action.pk}"')
    assert 'aria-pressed="true"' in html
    assert "<html" not in html
    assert Action.objects.get(pk=action.pk).faite is True
    assert new_events(case, "objective").first().changes["faite"] == [False, True]


def test_toggling_an_action_without_javascript_redirects_to_the_plan(client, case, ass, action):
    client.force_login(ass)
    response = client.post(url("action_toggle", case.pk, action.pk))
    assert response.status_code == 302
    assert response.url.startswith(url("plan_detail", case.pk))
    assert Action.objects.get(pk=action.pk).faite is True


def test_toggling_is_post_only(client, case, ass, action):
    client.force_login(ass)
    assert client.get(url("action_toggle", case.pk, action.pk)).status_code == 405


def test_the_plan_page_lists_objectives_and_actions(client, case, ass, action, manager):
    services.case_close(accompagnement=case, acting_user=ass, outcome="autre", date_cloture=TODAY)
    client.force_login(manager)
    page = client.get(url("plan_detail", case.pk)).content.decode()
    assert "Préparer la reprise" in page
    assert "Rencontrer le médecin du travail" in page
    assert url("action_toggle", case.pk, action.pk) not in page  # read-only once closed


def test_the_printable_plan_shows_objectives_and_no_nir(client, case, ass, action):
    client.force_login(ass)
    response = client.get(url("plan_print", case.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Plan d&#x27;aide" in page or "Plan d'aide" in page
    assert 'class="print-area"' in page
    assert "data-print" in page
    assert "js/print.js" in page
    assert "onclick" not in page
    assert "Préparer la reprise" in page
    assert "Rencontrer le médecin du travail" in page
    assert case.assure.prenoms in page
    assert str(case.referent) in page
    assert case.assure.nir not in page
    assert case.assure.nir_groupe not in page


# --- Orientations and consents -------------------------------------------------------------


def test_an_orientation_sent_without_agreement_is_refused_next_to_the_field(client, case, ass):
    client.force_login(ass)
    response = client.post(
        url("orientation_create", case.pk),
        {
            "partner_kind": "cap_emploi",
            "motif": "Poste adapté",
            "statut": "envoyee",
            "date_orientation": "2026-03-10",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["accord_assure"]
    assert "Poste adapté" in response.content.decode()
    assert not Orientation.objects.exists()


def test_the_referent_sends_an_orientation_with_agreement(client, case, ass):
    client.force_login(ass)
    response = client.post(
        url("orientation_create", case.pk),
        {
            "partner_kind": "cap_emploi",
            "motif": "Poste adapté",
            "accord_assure": "on",
            "statut": "envoyee",
            "date_orientation": "2026-03-10",
        },
    )
    assert response.status_code == 302
    orientation = case.orientations.get()
    assert (orientation.statut, orientation.accord_assure) == ("envoyee", True)
    assert new_events(case, "orientation").get().actor == ass


def test_the_referent_follows_up_an_orientation(client, case, ass, orientation):
    client.force_login(ass)
    response = client.post(
        url("orientation_update", case.pk, orientation.pk),
        {"statut": "envoyee", "accord_assure": "on", "suivi": "Dossier déposé"},
    )
    assert response.status_code == 302
    orientation.refresh_from_db()
    assert (orientation.statut, orientation.suivi) == ("envoyee", "Dossier déposé")
    assert new_events(case, "orientation").first().changes["statut"] == ["proposee", "envoyee"]


def test_the_referent_records_and_revokes_a_consent(client, case, ass):
    client.force_login(ass)
    response = client.post(
        url("consentement_create", case.pk), {"portee": "cellule_pdp", "date_recueil": "2026-03-09"}
    )
    assert response.status_code == 302
    consent = case.assure.consentements.get()
    assert consent.date_recueil == datetime.date(2026, 3, 9)

    response = client.post(
        url("consentement_create", case.pk), {"portee": "cellule_pdp", "date_recueil": "2026-03-09"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["portee"]

    response = client.post(
        url("consentement_revoke", case.pk, consent.pk), {"date_revocation": "2026-03-10"}
    )
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.date_revocation == TODAY
    assert new_events(case, "consent").count() == 2


# --- Status ----------------------------------------------------------------------------------


def test_the_referent_closes_the_case_with_an_outcome(client, case, ass):
    client.force_login(ass)
    response = client.post(
        url("cloture_create", case.pk),
        {"outcome": "emploi_reconversion", "date_cloture": "2026-03-10", "commentaire": "Bravo"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.statut == CaseStatus.CLOTURE
    assert case.clotures.get().outcome == "emploi_reconversion"
    assert new_events(case, "closed").get().actor == ass


def test_the_closure_form_groups_the_outcomes(client, case, ass):
    client.force_login(ass)
    page = client.get(url("cloture_create", case.pk)).content.decode()
    assert '<optgroup label="Maintien dans l&#x27;emploi (même employeur)">' in page
    assert '<optgroup label="Maintien en emploi (ailleurs)">' in page
    assert page.count("<option") == 15  # the 14 outcomes and the empty choice


@pytest.mark.parametrize(
    "data, field",
    [
        ({"outcome": "", "date_cloture": "2026-03-10", "commentaire": "Gardé"}, "outcome"),
        (
            {"outcome": "autre", "date_cloture": "2026-03-11", "commentaire": "Gardé"},
            "date_cloture",
        ),
        (
            {"outcome": "autre", "date_cloture": "2026-01-01", "commentaire": "Gardé"},
            "date_cloture",
        ),
    ],
)
def test_a_refused_closure_keeps_input_and_changes_nothing(client, case, ass, data, field):
    client.force_login(ass)
    response = client.post(url("cloture_create", case.pk), data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert "Gardé" in response.content.decode()
    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert not Cloture.objects.exists()


def open_dispositif(case, user, code, statut, **fields):
    return rules.dispositif_create(
        accompagnement=case,
        acting_user=user,
        type=DispositifType.objects.get(code=code),
        statut=statut,
        **fields,
    )


def test_the_closure_page_lists_what_is_still_open(
    client, case, ass, objectif, django_assert_max_num_queries
):
    en_cours = open_dispositif(case, ass, "agefiph", "en_cours", date_debut=TODAY)
    accorde = open_dispositif(case, ass, "rqth", "accorde")
    open_dispositif(case, ass, "invalidite", "envisage")
    future = EntretienFactory(accompagnement=case, debut=NOW + datetime.timedelta(days=2))
    past = EntretienFactory(accompagnement=case, debut=NOW - datetime.timedelta(hours=2))
    client.force_login(ass)
    # The open work takes 3, whatever its size; the read of the case is logged (one INSERT).
    with django_assert_max_num_queries(9):
        response = client.get(url("cloture_create", case.pk))
    page = response.content.decode()
    start = page.index('id="open-work"')
    section = page[start : page.index("</section>", start)]
    # A dispositif en cours must be ended first: link to its status page.
    assert url("dispositif_status", case.pk, en_cours.pk) in section
    assert "à terminer ou abandonner avant la clôture" in section
    assert "Aides Agefiph" in section
    # Demandé / accordé: they stay, the user may abandon them.
    assert url("dispositif_detail", case.pk, accorde.pk) in section
    assert "RQTH / MDPH" in section
    assert "Pension d&#x27;invalidité" not in section  # envisagé: not listed
    # Future meetings are cancelled by the closure; past ones are not listed.
    assert "La clôture les annule." in section
    assert url("entretien_edit", future.pk) in section
    assert url("entretien_edit", past.pk) not in section
    # Objectives stay as they are.
    assert "Préparer la reprise" in section
    assert "restent tels quels" in section


def test_the_closure_page_shows_no_warning_when_nothing_is_open(client, case, ass):
    client.force_login(ass)
    page = client.get(url("cloture_create", case.pk)).content.decode()
    assert 'id="open-work"' not in page


def test_a_closure_with_a_dispositif_en_cours_is_refused_on_the_page(client, case, ass):
    en_cours = open_dispositif(case, ass, "agefiph", "en_cours", date_debut=TODAY)
    client.force_login(ass)
    response = client.post(
        url("cloture_create", case.pk),
        {"outcome": "autre", "date_cloture": "2026-03-10", "commentaire": "Gardé"},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Un dispositif est encore en cours : Aides Agefiph (depuis le 10/03/2026). "
        "Terminez-le ou abandonnez-le avant de clôturer l'accompagnement."
    ]
    assert "Gardé" in response.content.decode()
    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert not Cloture.objects.exists()
    en_cours.refresh_from_db()
    assert en_cours.statut == "en_cours"


def test_closing_from_the_page_cancels_the_future_meetings(client, case, ass):
    future = EntretienFactory(accompagnement=case, debut=NOW + datetime.timedelta(days=2))
    client.force_login(ass)
    response = client.post(
        url("cloture_create", case.pk),
        {"outcome": "autre", "date_cloture": "2026-03-10"},
        follow=True,
    )
    assert "Accompagnement clôturé. L&#x27;entretien à venir a été annulé." in (
        response.content.decode()
    )
    future.refresh_from_db()
    assert future.statut == Entretien.Statut.ANNULE
    assert new_events(case, "closed").get().changes["entretiens_annules"] == [future.pk]


def test_the_referent_reopens_a_closed_case(client, closed_case, ass):
    client.force_login(ass)
    response = client.post(url("case_reopen", closed_case.pk), {"reason": "Rechute"})
    assert response.status_code == 302
    closed_case.refresh_from_db()
    assert closed_case.statut == CaseStatus.OUVERT
    assert closed_case.clotures.count() == 1
    assert new_events(closed_case, "reopened").get().detail == "Rechute"


def test_reopening_shows_why_it_is_refused_when_another_case_is_open(client, closed_case, ass):
    services.case_open(assure=closed_case.assure, referent=ass, acting_user=ass)
    client.force_login(ass)
    response = client.post(url("case_reopen", closed_case.pk), {"reason": "Rechute"})
    assert response.status_code == 200
    assert "déjà ouvert" in response.content.decode()
    closed_case.refresh_from_db()
    assert closed_case.statut == CaseStatus.CLOTURE


def test_the_referent_suspends_and_resumes(client, case, ass):
    client.force_login(ass)
    assert client.post(url("case_suspend", case.pk), {"reason": ""}).status_code == 302
    case.refresh_from_db()
    assert case.statut == CaseStatus.SUSPENDU
    assert client.post(url("case_resume", case.pk), {"reason": "Retour"}).status_code == 302
    case.refresh_from_db()
    assert case.statut == CaseStatus.OUVERT
    assert new_events(case, "status").count() == 2


def test_the_manager_changes_the_referent(client, case, manager, colleague, outsider):
    client.force_login(manager)
    response = client.post(url("case_referent", case.pk), {"referent": outsider.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["referent"]

    response = client.post(url("case_referent", case.pk), {"referent": colleague.pk})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.referent == colleague
    assert new_events(case, "referent").get().actor == manager


def test_objectives_without_a_due_date_come_last_on_every_database(client, case, ass):
    undated = services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="droits", libelle="Sans échéance"
    )
    dated = services.objectif_create(
        accompagnement=case,
        acting_user=ass,
        domaine="emploi",
        libelle="Avec échéance",
        echeance=TODAY + datetime.timedelta(days=10),
    )
    client.force_login(ass)
    assert client.get(url("plan_detail", case.pk)).context["objectifs"] == [dated, undated]
    assert client.get(url("accompagnement_detail", case.pk)).context["objectifs"] == [
        dated,
        undated,
    ]
