"""Pages of the dispositifs: permissions, the change really happening, the htmx check."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import dispositifs as rules
from cases.models import (
    CaseEvent,
    DispositifMobilise,
    DispositifPeriode,
    DispositifStatut,
    DispositifType,
    EvaluationGlobale,
)
from pdp.models import AuditLog
from referrals.models import Service
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    SignalementFactory,
)

S = DispositifStatut
BEFORE = date(2025, 2, 20)


@pytest.fixture
def case(ass):
    assure = AssureFactory(situation_emploi="cdd", employeur_siret="73282932000074")
    ArretFactory(assure=assure, date_debut=date(2025, 1, 6), date_fin_prevue=date(2025, 12, 31))
    return AccompagnementFactory(assure=assure, referent=ass)


@pytest.fixture
def essai(case, ass):
    return rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code="essai_encadre"),
        date_debut=date(2025, 3, 3),
        date_fin=date(2025, 3, 8),
        chez_employeur=True,
        accord_medecin_traitant=BEFORE,
        accord_medecin_conseil=BEFORE,
        accord_medecin_travail=BEFORE,
    )


@pytest.fixture
def pmsmp(case, ass):
    return rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code="pmsmp"),
        date_debut=date(2025, 3, 1),
        date_fin=date(2025, 3, 31),
        entreprise_accueil="Boulangerie Martin",
    )


def url(name, case, dispositif=None, **extra):
    args = [case.pk] if dispositif is None else [case.pk, dispositif.pk]
    return reverse(f"cases:{name}", args=[*args, *extra.values()])


def dispositif_events(case):
    return CaseEvent.objects.filter(accompagnement=case, kind=CaseEvent.Kind.DISPOSITIF)


# --- Create -----------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client, case, essai):
    for target in (
        url("dispositif_create", case),
        url("dispositif_detail", case, essai),
        url("dispositif_edit", case, essai),
    ):
        response = client.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_an_outsider_gets_404_everywhere(client, outsider, case, essai):
    client.force_login(outsider)
    assert client.get(url("dispositif_create", case)).status_code == 404
    assert client.get(url("dispositif_detail", case, essai)).status_code == 404
    assert (
        client.post(url("dispositif_status", case, essai), {"to_status": "demande"}).status_code
        == 404
    )
    assert client.post(url("dispositif_check", case) + "?type=pmsmp", {}).status_code == 404
    essai.refresh_from_db()
    assert essai.statut == S.ENVISAGE


def test_a_dispositif_of_another_case_is_not_found_through_this_case(client, ass, essai):
    other_case = AccompagnementFactory(referent=ass)
    client.force_login(ass)
    response = client.get(reverse("cases:dispositif_detail", args=[other_case.pk, essai.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize("persona", ["colleague", "conseiller"])
def test_read_only_users_cannot_mobilise_a_dispositif(client, request, case, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("dispositif_create", case)).status_code == 403
    response = client.post(url("dispositif_create", case) + "?type=rqth", {"statut": "envisage"})
    assert response.status_code == 403
    assert not DispositifMobilise.objects.exists()


def test_the_referent_chooses_a_type_then_fills_its_form(client, ass, case):
    client.force_login(ass)
    response = client.get(url("dispositif_create", case))
    assert response.status_code == 200
    assert "Essai encadré" in response.content.decode()
    response = client.get(url("dispositif_create", case) + "?type=essai_encadre")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Début de la première période" in html
    assert 'hx-trigger="change"' in html
    assert "prescripteur" not in html  # only the fields of this dispositif


def test_the_referent_mobilises_an_essai_encadre(client, ass, case):
    client.force_login(ass)
    response = client.post(
        url("dispositif_create", case) + "?type=essai_encadre",
        {
            "statut": "envisage",
            "date_debut": "2025-03-03",
            "date_fin": "2025-03-18",
            "chez_employeur": "on",
            "accord_medecin_traitant": "2025-02-20",
        },
    )
    dispositif = DispositifMobilise.objects.get()
    assert response.status_code == 302
    assert response.url == url("dispositif_detail", case, dispositif)
    assert dispositif.type.code == "essai_encadre"
    assert dispositif.accompagnement == case
    assert dispositif.accord_medecin_traitant == BEFORE
    assert list(dispositif.periodes.values_list("date_debut", "date_fin")) == [
        (date(2025, 3, 3), date(2025, 3, 18))
    ]
    event = dispositif_events(case).get()
    assert event.actor == ass
    assert event.changes["dispositif"] == dispositif.pk


def test_a_refused_creation_shows_the_rule_and_keeps_the_input(client, ass, case):
    client.force_login(ass)
    response = client.post(
        url("dispositif_create", case) + "?type=essai_encadre",
        {"statut": "envisage", "date_debut": "2025-03-03", "date_fin": "2025-03-19"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "au plus 14 jours ouvrables avant renouvellement" in html
    assert 'value="2025-03-19"' in html
    assert not DispositifMobilise.objects.exists()
    assert not dispositif_events(case).exists()


def test_a_manager_of_the_unit_may_mobilise(client, manager, case):
    client.force_login(manager)
    response = client.post(url("dispositif_create", case) + "?type=rqth", {"statut": "demande"})
    assert response.status_code == 302
    assert DispositifMobilise.objects.get().statut == S.DEMANDE


# --- Check endpoint (htmx) --------------------------------------------------------------


def test_the_check_endpoint_returns_the_warnings_partial(client, ass, case):
    client.force_login(ass)
    response = client.post(
        url("dispositif_check", case) + "?type=pmsmp",
        {"statut": "envisage", "date_debut": "2025-03-01", "date_fin": "2025-04-01"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Bloquant au statut « Envisagé »" in html
    assert "La PMSMP dure au plus 1 mois" in html
    assert "Indiquez le prescripteur de la PMSMP" in html
    assert "bloque le démarrage" in html
    assert not DispositifMobilise.objects.exists()


def test_the_check_endpoint_warns_about_another_establishment_of_the_employer(client, ass, case):
    client.force_login(ass)
    response = client.post(
        url("dispositif_check", case) + "?type=pmsmp",
        {
            "statut": "envisage",
            "date_debut": "2025-03-01",
            "date_fin": "2025-03-31",
            "entreprise_accueil": "Atelier du même groupe",
            "entreprise_siret": "732 829 320 00025",  # the employer's SIREN, another SIRET
        },
    )
    html = response.content.decode()
    assert "le SIREN de l&#x27;entreprise d&#x27;accueil" in html
    assert "un autre établissement de la même entreprise ne convient pas" in html
    assert not DispositifMobilise.objects.exists()


def test_the_check_endpoint_sees_the_renewal_being_typed(client, ass, case, pmsmp):
    client.force_login(ass)
    target = url("dispositif_check", case) + f"?dispositif={pmsmp.pk}&mode=renouvellement"
    response = client.post(target, {"date_fin": "2025-05-01"})
    assert "Le renouvellement de la PMSMP dure au plus 1 mois" in response.content.decode()
    response = client.post(target, {"date_fin": "2025-04-30"})
    assert "Le renouvellement de la PMSMP" not in response.content.decode()
    pmsmp.refresh_from_db()
    assert (pmsmp.renouvellements, pmsmp.date_fin_initiale) == (0, None)


def test_the_check_endpoint_sees_the_period_being_added(client, ass, case, essai):
    client.force_login(ass)
    target = url("dispositif_check", case) + f"?dispositif={essai.pk}&mode=periode"
    response = client.post(target, {"date_debut": "2025-03-10", "date_fin": "2025-03-18"})
    assert "les périodes en comptent 14" not in response.content.decode()
    response = client.post(target, {"date_debut": "2025-03-10", "date_fin": "2025-03-19"})
    assert "les périodes en comptent 15" in response.content.decode()
    assert essai.periodes.count() == 1


def test_the_check_endpoint_is_for_editors_only(client, colleague, case, essai):
    client.force_login(colleague)
    response = client.post(url("dispositif_check", case) + f"?dispositif={essai.pk}", {})
    assert response.status_code == 403


def test_the_check_endpoint_only_accepts_post(client, ass, case):
    client.force_login(ass)
    assert client.get(url("dispositif_check", case) + "?type=pmsmp").status_code == 405


# --- Detail -----------------------------------------------------------------------------


def test_the_conseiller_cannot_read_a_dispositif(client, conseiller, case, essai):
    client.force_login(conseiller)
    assert client.get(url("dispositif_detail", case, essai)).status_code == 403


def test_a_colleague_reads_the_detail_only_through_a_share(
    client, colleague, case, essai, share_case
):
    client.force_login(colleague)
    assert client.get(url("dispositif_detail", case, essai)).status_code == 403
    share_case(case, colleague)
    response = client.get(url("dispositif_detail", case, essai))
    html = response.content.decode()
    assert response.status_code == 200
    assert "6 / 14 jours ouvrables" in html
    assert AuditLog.objects.filter(
        user=colleague, action=AuditLog.Action.VIEW, object_id=str(essai.pk)
    ).exists()


def test_the_detail_page_shows_periods_history_and_conditions(
    client, ass, case, essai, django_assert_max_num_queries
):
    for day in (10, 12, 14):
        rules.dispositif_add_periode(
            dispositif=essai,
            acting_user=ass,
            date_debut=date(2025, 3, day),
            date_fin=date(2025, 3, day),
        )
    client.force_login(ass)
    with django_assert_max_num_queries(12):
        response = client.get(url("dispositif_detail", case, essai))
    html = response.content.decode()
    assert "9 / 14 jours ouvrables" in html
    assert html.count("Supprimer<span") == 4
    assert "Dispositif mobilisé : Essai encadré" in html
    assert "après une évaluation globale" in html  # what blocks the start
    assert url("dispositif_status", case, essai) in html


# --- Edit, status, periods, renewal -----------------------------------------------------


def test_a_colleague_cannot_edit(client, colleague, case, pmsmp):
    client.force_login(colleague)
    response = client.post(url("dispositif_edit", case, pmsmp), {"prescripteur": "Cap emploi"})
    assert response.status_code == 403
    pmsmp.refresh_from_db()
    assert pmsmp.prescripteur == ""


def test_the_referent_edits_a_pmsmp(client, ass, case, pmsmp):
    client.force_login(ass)
    response = client.get(url("dispositif_edit", case, pmsmp))
    assert response.status_code == 200
    response = client.post(
        url("dispositif_edit", case, pmsmp),
        {
            "date_debut": "2025-03-01",
            "date_fin": "2025-03-31",
            "entreprise_accueil": "Boulangerie Martin",
            "entreprise_siret": "552 100 554 00013",
            "prescripteur": "Cap emploi",
            "convention_signee": "2025-02-25",
            "autorisation_cpam": "",
            "resultat": "",
        },
    )
    assert response.status_code == 302
    pmsmp.refresh_from_db()
    assert (pmsmp.prescripteur, pmsmp.entreprise_siret) == ("Cap emploi", "55210055400013")
    event = dispositif_events(case).latest("at")
    assert event.changes["prescripteur"] == ["", "Cap emploi"]


def test_an_edit_breaking_a_rule_is_refused(client, ass, case, pmsmp):
    client.force_login(ass)
    response = client.post(
        url("dispositif_edit", case, pmsmp),
        {
            "date_debut": "2025-03-01",
            "date_fin": "2025-03-31",
            "entreprise_accueil": "Boulangerie Martin",
            "chez_employeur": "on",
        },
    )
    assert response.status_code == 200
    assert "autre entreprise que l'employeur" in response.content.decode()
    pmsmp.refresh_from_db()
    assert pmsmp.chez_employeur is False
    assert dispositif_events(case).count() == 1


def test_the_referent_changes_the_status(client, ass, case, essai):
    client.force_login(ass)
    response = client.post(
        url("dispositif_status", case, essai), {"to_status": "demande", "motif": "Demande faite"}
    )
    assert response.status_code == 302
    essai.refresh_from_db()
    assert essai.statut == S.DEMANDE
    event = dispositif_events(case).latest("at")
    assert event.changes["statut"] == ["envisage", "demande"]
    assert event.detail == "Demande faite"


def test_a_refused_start_shows_the_reasons(client, ass, case, essai):
    essai.statut = S.ACCORDE
    essai.save()
    client.force_login(ass)
    response = client.post(url("dispositif_status", case, essai), {"to_status": "en_cours"})
    assert response.status_code == 200
    assert "après une évaluation globale" in response.content.decode()
    essai.refresh_from_db()
    assert essai.statut == S.ACCORDE


def test_the_start_is_accepted_once_the_conditions_are_met(client, ass, case, essai):
    evaluation = EvaluationGlobale.objects.create(
        accompagnement=case, version=1, niveau_risque="eleve", created_by=ass
    )
    EvaluationGlobale.objects.filter(pk=evaluation.pk).update(
        created_at=datetime(2025, 2, 20, 10, tzinfo=UTC)
    )
    essai.statut = S.ACCORDE
    essai.save()
    client.force_login(ass)
    response = client.post(url("dispositif_status", case, essai), {"to_status": "en_cours"})
    assert response.status_code == 302
    essai.refresh_from_db()
    assert essai.statut == S.EN_COURS


def rqth(case, ass, statut, **fields):
    return rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code="rqth"),
        statut=statut,
        **fields,
    )


def test_the_status_form_preselects_no_status(client, ass, case):
    dispositif = rqth(case, ass, S.EN_COURS)  # the first choice used to be « Terminé »
    client.force_login(ass)
    for target, name in (
        (url("dispositif_status", case, dispositif), "form"),
        (url("dispositif_detail", case, dispositif), "status_form"),
    ):
        response = client.get(target)
        field = response.context[name].fields["to_status"]
        assert list(field.choices)[0] == ("", "— choisir —")
        assert field.required
        assert '<option value="" selected>— choisir —</option>' in response.content.decode()


def test_a_status_change_without_a_choice_is_refused(client, ass, case):
    dispositif = rqth(case, ass, S.EN_COURS)
    client.force_login(ass)
    response = client.post(
        url("dispositif_status", case, dispositif), {"to_status": "", "motif": "Gardé"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choisissez le nouveau statut." in html
    assert "Gardé" in html
    dispositif.refresh_from_db()
    assert dispositif.statut == S.EN_COURS
    assert dispositif_events(case).count() == 1


def test_a_final_status_offers_no_form(client, ass, case):
    dispositif = rqth(case, ass, S.EN_COURS)
    rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status=S.TERMINE)
    client.force_login(ass)
    response = client.get(url("dispositif_status", case, dispositif))
    html = response.content.decode()
    assert "Ce statut est définitif." in html
    assert "<select" not in html


def test_a_start_before_the_start_date_is_refused_on_the_page(client, ass, case):
    tomorrow = timezone.localdate() + timedelta(days=1)
    dispositif = rqth(case, ass, S.ACCORDE, date_debut=tomorrow)
    client.force_login(ass)
    response = client.post(url("dispositif_status", case, dispositif), {"to_status": "en_cours"})
    assert response.status_code == 200
    assert (
        "Un dispositif ne peut être « en cours » avant sa date de début ; choisissez « accordé »."
        in response.content.decode()
    )
    dispositif.refresh_from_db()
    assert dispositif.statut == S.ACCORDE


def test_a_conseiller_cannot_change_the_status(client, conseiller, case, essai):
    client.force_login(conseiller)
    response = client.post(url("dispositif_status", case, essai), {"to_status": "demande"})
    assert response.status_code == 403


def test_the_referent_adds_and_removes_a_period(client, ass, case, essai):
    client.force_login(ass)
    assert client.get(url("dispositif_periode_add", case, essai)).status_code == 200
    response = client.post(
        url("dispositif_periode_add", case, essai),
        {"date_debut": "2025-03-10", "date_fin": "2025-03-11"},
    )
    assert response.status_code == 302
    periode = essai.periodes.get(date_debut=date(2025, 3, 10))
    essai.refresh_from_db()
    assert essai.date_fin == date(2025, 3, 11)
    response = client.post(
        reverse("cases:dispositif_periode_delete", args=[case.pk, essai.pk, periode.pk])
    )
    assert response.status_code == 302
    assert not DispositifPeriode.objects.filter(pk=periode.pk).exists()
    assert dispositif_events(case).count() == 3


def test_a_period_over_the_limit_is_refused_on_the_page(client, ass, case, essai):
    client.force_login(ass)
    response = client.post(
        url("dispositif_periode_add", case, essai),
        {"date_debut": "2025-03-10", "date_fin": "2025-03-19"},
    )
    assert response.status_code == 200
    assert "les périodes en comptent 15" in response.content.decode()
    assert essai.periodes.count() == 1


def test_a_colleague_cannot_add_a_period(client, colleague, case, essai):
    client.force_login(colleague)
    response = client.post(
        url("dispositif_periode_add", case, essai),
        {"date_debut": "2025-03-10", "date_fin": "2025-03-11"},
    )
    assert response.status_code == 403
    assert essai.periodes.count() == 1


def test_periods_are_for_an_essai_encadre_only(client, ass, case, pmsmp):
    client.force_login(ass)
    assert client.get(url("dispositif_periode_add", case, pmsmp)).status_code == 404


def test_the_referent_renews_a_pmsmp_once(client, ass, case, pmsmp):
    client.force_login(ass)
    target = url("dispositif_renew", case, pmsmp)
    page = client.get(target).content.decode()
    assert "du 01/04/2025 au 30/04/2025 au plus tard" in page
    response = client.post(target, {"date_fin": "2025-04-30"})
    assert response.status_code == 302
    pmsmp.refresh_from_db()
    assert (pmsmp.renouvellements, pmsmp.date_fin) == (1, date(2025, 4, 30))
    assert pmsmp.date_fin_initiale == date(2025, 3, 31)
    detail = client.get(url("dispositif_detail", case, pmsmp)).content.decode()
    assert "Fin de la première période" in detail
    form = client.get(url("dispositif_edit", case, pmsmp)).context["form"]
    assert list(form.fields)[:3] == ["date_debut", "date_fin_initiale", "date_fin"]
    assert form.fields["date_fin"].label == "Fin du renouvellement"
    response = client.post(target, {"date_fin": "2025-04-30"})
    assert response.status_code == 200
    assert "qu&#x27;une seule fois" in response.content.decode()


def test_a_colleague_cannot_renew(client, colleague, case, essai):
    client.force_login(colleague)
    assert client.post(url("dispositif_renew", case, essai)).status_code == 403
    essai.refresh_from_db()
    assert essai.renouvellements == 0


def test_a_crpe_form_asks_for_the_inaptitude(client, ass, case):
    client.force_login(ass)
    response = client.get(url("dispositif_create", case) + "?type=crpe")
    assert "inaptitude" in response.context["form"].fields
    assert "Risque d&#x27;inaptitude" in response.content.decode()
    response = client.post(
        url("dispositif_create", case) + "?type=crpe",
        {"statut": "demande", "date_debut": "2025-03-10", "inaptitude": "inapte"},
    )
    assert response.status_code == 302
    assert DispositifMobilise.objects.get().inaptitude == "inapte"


def test_a_tpt_shows_the_medecin_conseil_decision_instead_of_asking_for_it(client, ass, case):
    client.force_login(ass)
    response = client.get(url("dispositif_create", case) + "?type=tpt")
    assert "accord_medecin_conseil" not in response.context["form"].fields
    assert "aucune décision n&#x27;est enregistrée par le service médical" in (
        response.content.decode()
    )
    response = client.post(
        url("dispositif_create", case) + "?type=tpt",
        {"statut": "accorde", "date_debut": "2025-06-02"},
    )
    assert response.status_code == 200
    assert not DispositifMobilise.objects.exists()
    SignalementFactory(
        assure=case.assure,
        service=Service.MEDICAL,
        unit=None,
        statut="transmis",
        tpt_decision="accorde",
        tpt_decision_le=date(2025, 5, 20),
    )
    response = client.post(
        url("dispositif_create", case) + "?type=tpt",
        {"statut": "accorde", "date_debut": "2025-06-02"},
    )
    dispositif = DispositifMobilise.objects.get()
    assert (response.status_code, dispositif.statut) == (302, S.ACCORDE)
    detail = client.get(url("dispositif_detail", case, dispositif)).content.decode()
    assert "Enregistré par le service médical" in detail
    assert "Temps partiel thérapeutique accordé par le médecin conseil le 20/05/2025." in detail


# --- Section of the accompagnement page -------------------------------------------------


def section(case, *, can_edit=True, can_read_content=True):
    dispositifs = list(case.dispositifs.select_related("type").prefetch_related("periodes"))
    return render_to_string(
        "cases/_dispositifs.html",
        {
            "case": case,
            "dispositifs": dispositifs,
            "can_edit": can_edit,
            "can_read_content": can_read_content,
            "can_schedule": can_edit,
        },
    )


def test_the_section_lists_dispositifs_with_usage_and_a_button(case, essai, pmsmp):
    html = section(case)
    assert "Mobiliser un dispositif" in html
    assert "6 / 14" in html
    assert "PMSMP" in html
    assert url("dispositif_detail", case, essai) in html
    assert "Envisagé" in html


def test_the_section_hides_the_button_and_details_when_not_allowed(case, essai):
    html = section(case, can_edit=False, can_read_content=False)
    assert "Mobiliser un dispositif" not in html
    assert url("dispositif_detail", case, essai) not in html
    assert "réservé au référent" in html


def test_the_accompagnement_page_shows_the_section(client, ass, case, essai):
    client.force_login(ass)
    response = client.get(reverse("cases:accompagnement_detail", args=[case.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dispositifs mobilisés" in html
    assert url("dispositif_detail", case, essai) in html
    assert url("dispositif_create", case) in html


def test_the_accompagnement_section_does_no_query_per_dispositif(case, ass, essai, pmsmp):
    for day in (10, 11, 12):
        rules.dispositif_add_periode(
            dispositif=essai,
            acting_user=ass,
            date_debut=date(2025, 3, day),
            date_fin=date(2025, 3, day),
        )
    dispositifs = list(case.dispositifs.select_related("type").prefetch_related("periodes"))
    with CaptureQueriesContext(connection) as queries:
        html = render_to_string(
            "cases/_dispositifs.html",
            {
                "case": case,
                "dispositifs": dispositifs,
                "can_edit": True,
                "can_read_content": True,
                "can_schedule": True,
            },
        )
    assert len(queries) == 0
    assert "9 / 14" in html


@pytest.mark.parametrize("value", ["%C2%B2", "12a", "-1"])
def test_a_non_ascii_or_bad_dispositif_number_on_the_check_view_is_a_404(client, ass, case, value):
    from urllib.parse import unquote

    client.force_login(ass)
    target = reverse("cases:dispositif_check", args=[case.pk])
    assert client.post(target, QUERY_STRING=f"dispositif={value}").status_code == 404
    assert client.post(f"{target}?dispositif={unquote(value)}").status_code == 404
