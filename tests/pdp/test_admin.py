"""The Django admin: reference data editable and audited, personal records read-only with their
reads audited, case content absent, French throughout (issue « Structure for growth », item 3)."""

import datetime
import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.forms.models import model_to_dict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from cases import models as cm
from collective import models as colm
from coordination import models as co
from outreach import models as om
from pdp import models as pm
from pdp.access_codes import access_code_issue
from pdp.admin_base import ReadOnlyAdmin, ReferenceDataAdmin
from referrals import models as rm
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    CaseEventFactory,
    CpamFactory,
    EntretienFactory,
    InstanceFactory,
    MembreFactory,
    PartnerFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

AuditLog = pm.AuditLog

REFERENCE_MODELS = [
    pm.Region,
    pm.Unit,
    pm.UnitTerritory,
    pm.CpamOffice,
    pm.Partner,
    pm.PartnerContact,
    pm.User,
    cm.DispositifType,
    cm.Motif,
    co.Instance,
    co.MembreInstance,
    co.TypeDecision,
    colm.ActionType,
    colm.Theme,
    colm.ParticipantStatus,
]
PERSONAL_MODELS = [
    rm.Assure,
    rm.ArretTravail,
    rm.Signalement,
    rm.SignalementEvent,
    rm.ContactAttempt,
    rm.CpamImport,
    rm.ImportRejection,
    pm.AuditLog,
    cm.Accompagnement,
    cm.CaseShare,
    rm.DetectionRun,  # not personal, but written by the job only: read-only like them
    rm.CpamImportCaisse,
    pm.AccessCode,
    pm.Message,
    # A staff member's planning, set through the audited services of the availability page.
    cm.PlageOuverture,
    cm.Absence,
]
CASE_CONTENT_MODELS = [
    cm.CaseEvent,
    cm.EvaluationGlobale,
    cm.Objectif,
    cm.Action,
    cm.Entretien,
    cm.Orientation,
    cm.DispositifMobilise,
    cm.DispositifPeriode,
    cm.Consentement,
    cm.Document,
    cm.Cloture,
    cm.RetentionNotice,  # the retention job's notices: on the dashboards, never edited by hand
    co.Saisine,
    co.Reunion,
    co.Presence,
    co.PointOrdreDuJour,
    co.Decision,
    co.ActionInstance,
    co.Addendum,
    co.ReunionEvent,
    om.Rappel,  # a meeting's reminders: seen with the meeting, never edited by hand
    om.RappelSeance,  # a webinar session's reminders: likewise
    # Surveys: questionnaires are versioned by migrations (frozen per version), invitations
    # name a person, answers are read through the results page only (small-cell rule).
    om.Questionnaire,
    om.SurveyInvitation,
    om.SurveyAnswer,
    # Campaigns: their targets name people; campaigns and channel rules are managed in the
    # application's audited pages only.
    om.Campagne,
    om.CampagneEvent,
    om.RegleCanal,
    om.Cible,
    om.LotCourrier,  # letters with access codes in clear: downloaded from the campaign page
    om.AppelCible,
    # Collective actions: their participants say something about health (the themes); managed
    # in the application's pages only.
    colm.ActionCollective,
    colm.Seance,
    colm.Validation,
    colm.Participant,
    colm.Presence,
    colm.ActionEvent,
]


def _name(model):
    return model.__name__


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def administrateur(db):
    """The « Administrateur » role: staff, not a superuser."""
    return UserFactory(role=pm.Role.ADMIN, unit=None, is_staff=True)


@pytest.fixture(params=["administrateur", "admin_user"])
def any_admin(request):
    """Each test runs for the « Administrateur » role and for a superuser (operations)."""
    return request.getfixturevalue(request.param)


def make_record(model):
    """One row of `model`, with what its admin pages need around it."""
    if model is rm.Assure:
        return AssureFactory()
    if model is rm.ArretTravail:
        return ArretFactory()
    if model is rm.Signalement:
        return SignalementFactory(motif="Reprise difficile")
    if model is rm.SignalementEvent:
        return rm.SignalementEvent.objects.create(
            signalement=SignalementFactory(), kind="status", old_value="nouveau", new_value="x"
        )
    if model is rm.ContactAttempt:
        return rm.ContactAttempt.objects.create(
            signalement=SignalementFactory(), canal="telephone", resultat="joint", note="Rappeler"
        )
    if model is rm.CpamImport:
        return rm.CpamImport.objects.create(
            file_name="extrait.csv", cpam=CpamFactory(), status="processed", rows_read=3
        )
    if model is rm.ImportRejection:
        cpam_import = make_record(rm.CpamImport)
        return rm.ImportRejection.objects.create(
            cpam_import=cpam_import, line_number=3, reason="Clé NIR invalide", raw_line="1;X"
        )
    if model is pm.AuditLog:
        assure = AssureFactory()
        return AuditLog.objects.create(
            user=UserFactory(),
            action=AuditLog.Action.VIEW,
            object_type="referrals.assure",
            object_id=str(assure.pk),
            assure_id=assure.pk,
        )
    if model is cm.Accompagnement:
        return AccompagnementFactory()
    if model is pm.AccessCode:
        row, _code = access_code_issue(
            purpose=pm.AccessCode.Purpose.MANAGE,
            assure_id=AssureFactory().pk,
            expires_at=timezone.now() + datetime.timedelta(days=7),
            object_type="cases.entretien",
            object_id="12",
        )
        return row
    if model is pm.Message:
        return pm.Message.objects.create(
            channel=pm.Message.Channel.SMS,
            template="booking_confirmation",
            recipient="+33612345678",
            assure_id=AssureFactory().pk,
            body="Votre code : ••••••••",
            segments=1,
        )
    if model is rm.CpamImportCaisse:
        return rm.CpamImportCaisse.objects.create(
            cpam_import=make_record(rm.CpamImport), cpam=CpamFactory(), line_count=12
        )
    if model is rm.DetectionRun:
        return rm.DetectionRun.objects.create(day=datetime.date(2026, 3, 1), region=RegionFactory())
    if model is cm.CaseShare:
        case = AccompagnementFactory()
        return cm.CaseShare.objects.create(
            accompagnement=case,
            user=UserFactory(ass=True, unit=case.unit),
            reason="absence",
            date_fin=datetime.date(2099, 1, 1),
            created_by=case.referent,
        )
    if model is cm.Motif:
        return cm.Motif.objects.create(label=f"Motif {cm.Motif.objects.count()}")
    if model is cm.PlageOuverture:
        return cm.PlageOuverture.objects.create(
            ass=UserFactory(ass=True),
            weekday=0,
            heure_debut=datetime.time(9),
            heure_fin=datetime.time(12),
            lieu="Agence de Brest",
            modes=["sur_place"],
        )
    if model is cm.Absence:
        start = datetime.datetime(2026, 3, 2, 8, tzinfo=datetime.UTC)
        return cm.Absence.objects.create(
            ass=UserFactory(ass=True),
            debut=start,
            fin=start + datetime.timedelta(hours=8),
            motif="Formation",
        )
    if model is pm.Region:
        return RegionFactory()
    if model is pm.Unit:
        return UnitFactory()
    if model is pm.UnitTerritory:
        return UnitTerritoryFactory(prefix=str(10 + pm.UnitTerritory.objects.count()))
    if model is pm.CpamOffice:
        return CpamFactory()
    if model is pm.Partner:
        return PartnerFactory()
    if model is pm.PartnerContact:
        return pm.PartnerContact.objects.create(partner=PartnerFactory(), name="Mme Roux")
    if model is pm.User:
        return UserFactory()
    if model is cm.DispositifType:
        return cm.DispositifType.objects.get(code="essai_encadre")
    if model is co.Instance:
        return InstanceFactory(units=[UnitFactory()])
    if model is co.MembreInstance:
        return MembreFactory()
    if model is colm.ActionType:
        n = colm.ActionType.objects.count()
        return colm.ActionType.objects.create(code=f"type{n}", label=f"Type {n}")
    if model is colm.Theme:
        return colm.Theme.objects.create(label=f"Thème {colm.Theme.objects.count()}")
    if model is colm.ParticipantStatus:
        n = colm.ParticipantStatus.objects.count()
        return colm.ParticipantStatus.objects.create(
            code=f"statut{n}", label=f"Statut {n}", classe="positive"
        )
    if model is co.TypeDecision:
        return co.TypeDecision.objects.create(
            code=f"t{co.TypeDecision.objects.count()}", libelle="Autre"
        )
    raise AssertionError(f"no record builder for {model}")


def expected_assure_id(record):
    if isinstance(record, rm.Assure):
        return record.pk
    if isinstance(record, rm.SignalementEvent | rm.ContactAttempt):
        return record.signalement.assure_id
    if isinstance(
        record,
        rm.CpamImport
        | rm.ImportRejection
        | rm.DetectionRun
        | rm.CpamImportCaisse
        | cm.PlageOuverture
        | cm.Absence,
    ):
        return None
    if isinstance(record, cm.CaseShare):
        return record.accompagnement.assure_id
    return record.assure_id


# --- What is in the admin, and how ---------------------------------------------------------


def test_every_domain_model_is_either_reference_data_personal_or_case_content():
    domain = {
        m
        for label in ("pdp", "referrals", "cases", "coordination", "collective", "outreach")
        for m in apps.get_app_config(label).get_models()
    }
    assert domain == {*REFERENCE_MODELS, *PERSONAL_MODELS, *CASE_CONTENT_MODELS}


@pytest.mark.parametrize("model", REFERENCE_MODELS, ids=_name)
def test_reference_data_has_an_audited_editable_admin(model):
    assert isinstance(admin.site._registry[model], ReferenceDataAdmin)


@pytest.mark.parametrize("model", PERSONAL_MODELS, ids=_name)
def test_personal_records_have_a_read_only_admin(model):
    model_admin = admin.site._registry[model]
    assert isinstance(model_admin, ReadOnlyAdmin)
    assert model_admin.actions is None
    for inline in model_admin.inlines:
        assert not inline.can_delete


@pytest.mark.parametrize("model", CASE_CONTENT_MODELS, ids=_name)
def test_case_content_is_not_in_the_admin(model):
    assert model not in admin.site._registry
    with pytest.raises(NoReverseMatch):
        _url(model, "changelist")


def test_django_groups_are_not_in_the_admin():
    from django.contrib.auth.models import Group

    assert Group not in admin.site._registry


# --- Who may enter ---------------------------------------------------------------------------


def test_the_administrateur_role_uses_the_admin_without_being_superuser(client, administrateur):
    client.force_login(administrateur)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Régions (CARSAT)" in page
    assert "Utilisateurs" in page
    assert "Catalogue des dispositifs" in page
    for absent in ("Évaluations globales", "Objectifs", "Entretiens", "Documents", "Clôtures"):
        assert absent not in page


def test_the_admin_is_refused_to_other_roles_even_with_the_staff_flag(client, manager):
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url
    assert client.get(_url(pm.Region, "changelist")).status_code == 302


def test_the_administrateur_role_needs_the_staff_flag(client):
    user = UserFactory(role=pm.Role.ADMIN, unit=None, is_staff=False)
    client.force_login(user)
    assert client.get(reverse("admin:index")).status_code == 302


# --- Personal records: read-only ----------------------------------------------------------


@pytest.mark.parametrize("model", PERSONAL_MODELS, ids=_name)
def test_a_personal_record_cannot_be_added(client, any_admin, model):
    make_record(model)
    before = model.objects.count()
    client.force_login(any_admin)
    assert client.get(_url(model, "add")).status_code == 403
    assert client.post(_url(model, "add"), {}).status_code == 403
    assert model.objects.count() == before


@pytest.mark.parametrize("model", PERSONAL_MODELS, ids=_name)
def test_a_personal_record_cannot_be_changed(client, any_admin, model):
    record = make_record(model)
    before = model_to_dict(record)
    data = {
        field.name: "Modifié"
        for field in model._meta.concrete_fields
        if field.get_internal_type() in ("CharField", "TextField")
    }
    client.force_login(any_admin)
    response = client.post(_url(model, "change", record.pk), data)
    assert response.status_code == 403
    record.refresh_from_db()
    assert model_to_dict(record) == before


@pytest.mark.parametrize("model", PERSONAL_MODELS, ids=_name)
def test_a_personal_record_cannot_be_deleted(client, any_admin, model):
    record = make_record(model)
    client.force_login(any_admin)
    assert client.get(_url(model, "delete", record.pk)).status_code == 403
    assert client.post(_url(model, "delete", record.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=record.pk).exists()


@pytest.mark.parametrize("model", PERSONAL_MODELS, ids=_name)
def test_a_personal_record_has_no_bulk_delete(client, any_admin, model):
    record = make_record(model)
    client.force_login(any_admin)
    page = client.get(_url(model, "changelist")).content.decode()
    assert 'name="action"' not in page
    assert "delete_selected" not in page
    client.post(
        _url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )
    assert model.objects.filter(pk=record.pk).exists()


@pytest.mark.parametrize("model", PERSONAL_MODELS, ids=_name)
def test_the_page_of_a_personal_record_is_read_only_and_its_reading_is_audited(
    client, any_admin, model
):
    record = make_record(model)
    client.force_login(any_admin)
    response = client.get(_url(model, "change", record.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert "<textarea" not in page
    view = AuditLog.objects.get(
        user=any_admin, action=AuditLog.Action.VIEW, object_type=model._meta.label_lower
    )
    assert view.object_id == str(record.pk)
    assert view.assure_id == expected_assure_id(record)


def test_reading_a_person_in_the_admin_is_in_the_access_log(client, administrateur):
    assure = AssureFactory()
    client.force_login(administrateur)
    client.get(_url(rm.Assure, "change", assure.pk))
    assert list(
        AuditLog.objects.filter(assure_id=assure.pk).values_list("user", "action", "object_type")
    ) == [(administrateur.pk, "view", "referrals.assure")]


def test_the_person_list_searches_by_nir(client, admin_user):
    wanted, other = AssureFactory(), AssureFactory()
    client.force_login(admin_user)
    response = client.get(_url(rm.Assure, "changelist"), {"q": wanted.nir})
    assert wanted.nom_naissance in response.content.decode()
    assert other.nir not in response.content.decode()


def test_a_contact_attempt_note_is_not_shown(client, administrateur):
    attempt = make_record(rm.ContactAttempt)
    attempt.note = "Note-libre-confidentielle"
    attempt.save()
    client.force_login(administrateur)
    for url in (
        _url(rm.ContactAttempt, "change", attempt.pk),
        _url(rm.Signalement, "change", attempt.signalement_id),
    ):
        page = client.get(url).content.decode()
        assert "Note-libre-confidentielle" not in page


# --- Case content: absent --------------------------------------------------------------------


@pytest.mark.parametrize("model", CASE_CONTENT_MODELS, ids=_name)
def test_case_content_admin_urls_are_not_found(client, any_admin, model):
    event = CaseEventFactory()
    client.force_login(any_admin)
    base = f"{reverse('admin:index')}{model._meta.app_label}/{model._meta.model_name}/"
    for url in (base, f"{base}add/", f"{base}{event.pk}/change/", f"{base}{event.pk}/delete/"):
        assert client.get(url).status_code == 404, url


def test_the_case_header_shows_no_case_content(client, any_admin):
    case = AccompagnementFactory()
    CaseEventFactory(accompagnement=case, summary="Note-de-suivi-secrete", detail="Détail-secret")
    EntretienFactory(accompagnement=case, note="Entretien-note-secrete")
    cm.EvaluationGlobale.objects.create(
        accompagnement=case,
        version=1,
        contraintes_sante="Contrainte-secrete",
        niveau_risque="eleve",
        created_by=case.referent,
    )
    cm.Objectif.objects.create(accompagnement=case, domaine="emploi", libelle="Objectif-secret")
    cm.Consentement.objects.create(assure=case.assure, portee="spst", recorded_by=case.referent)
    client.force_login(any_admin)
    pages = [
        client.get(_url(cm.Accompagnement, "change", case.pk)).content.decode(),
        client.get(_url(rm.Assure, "change", case.assure_id)).content.decode(),
    ]
    for page in pages:
        for secret in (
            "Note-de-suivi-secrete",
            "Détail-secret",
            "Entretien-note-secrete",
            "Contrainte-secrete",
            "Objectif-secret",
            "Transmission au SPST",
        ):
            assert secret not in page


def test_the_access_log_hides_the_changes_of_personal_records(client, any_admin):
    case = AccompagnementFactory()
    row = AuditLog.objects.create(
        user=case.referent,
        action=AuditLog.Action.UPDATE,
        object_type="cases.accompagnement",
        object_id=str(case.pk),
        assure_id=case.assure_id,
        changes={"event": "note", "summary": "Note : Contenu-du-dossier"},
    )
    client.force_login(any_admin)
    page = client.get(_url(AuditLog, "change", row.pk)).content.decode()
    assert "Contenu-du-dossier" not in page
    assert "Non affichés\u00a0: dossier d&#x27;une personne." in page


def test_the_access_log_shows_the_changes_of_reference_data(client, any_admin):
    region = RegionFactory()
    row = AuditLog.objects.create(
        user=any_admin,
        action=AuditLog.Action.UPDATE,
        object_type="pdp.region",
        object_id=str(region.pk),
        changes={"social_threshold_days": [90, 60]},
    )
    client.force_login(any_admin)
    page = client.get(_url(AuditLog, "change", row.pk)).content.decode()
    assert "<strong>seuil service social (jours, au moins)</strong>\u00a0: 90 → 60" in page


# --- Reference data: editable, every change audited ----------------------------------------


def _region_data(**overrides):
    return {
        "code": "BRE",
        "name": "CARSAT Bretagne",
        "medical_threshold_days": 45,
        "social_threshold_days": 90,
        "first_contact_deadline_day": 120,
        **overrides,
    }


def test_adding_a_region_is_audited(client, any_admin):
    client.force_login(any_admin)
    response = client.post(_url(pm.Region, "add"), _region_data())
    assert response.status_code == 302
    region = pm.Region.objects.get(code="BRE")
    row = AuditLog.objects.get(action=AuditLog.Action.CREATE, object_type="pdp.region")
    assert (row.user, row.object_id, row.assure_id) == (any_admin, str(region.pk), None)
    assert row.changes["name"] == [None, "CARSAT Bretagne"]
    assert row.changes["social_threshold_days"] == [None, 90]


def test_changing_a_threshold_is_audited_with_old_and_new_values(client, any_admin):
    region = pm.Region.objects.create(**_region_data())
    client.force_login(any_admin)
    response = client.post(
        _url(pm.Region, "change", region.pk), _region_data(social_threshold_days=60)
    )
    assert response.status_code == 302
    region.refresh_from_db()
    assert region.social_threshold_days == 60
    row = AuditLog.objects.get(action=AuditLog.Action.UPDATE, object_type="pdp.region")
    assert row.user == any_admin
    assert row.changes == {"social_threshold_days": [90, 60]}


def test_saving_a_region_unchanged_writes_no_audit_row(client, administrateur):
    region = pm.Region.objects.create(**_region_data())
    client.force_login(administrateur)
    client.post(_url(pm.Region, "change", region.pk), _region_data())
    assert not AuditLog.objects.filter(object_type="pdp.region").exists()


def test_a_refused_change_writes_no_audit_row(client, administrateur):
    region = pm.Region.objects.create(**_region_data())
    client.force_login(administrateur)
    response = client.post(
        _url(pm.Region, "change", region.pk), _region_data(first_contact_deadline_day=10)
    )
    assert response.status_code == 200  # the form again, with the constraint's message
    region.refresh_from_db()
    assert region.first_contact_deadline_day == 120
    assert not AuditLog.objects.filter(object_type="pdp.region").exists()


def test_deleting_a_cpam_is_audited_with_its_values(client, any_admin):
    cpam = CpamFactory(code="351", name="CPAM d'Ille-et-Vilaine")
    client.force_login(any_admin)
    response = client.post(_url(pm.CpamOffice, "delete", cpam.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not pm.CpamOffice.objects.filter(pk=cpam.pk).exists()
    row = AuditLog.objects.get(action=AuditLog.Action.DELETE, object_type="pdp.cpamoffice")
    assert (row.user, row.object_id) == (any_admin, str(cpam.pk))
    assert row.changes["code"] == ["351", None]
    assert row.changes["region"] == [cpam.region_id, None]


def test_a_bulk_delete_of_reference_data_audits_each_row(client, administrateur):
    first = PartnerFactory()
    second = PartnerFactory()
    client.force_login(administrateur)
    response = client.post(
        _url(pm.Partner, "changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not pm.Partner.objects.filter(pk__in=[first.pk, second.pk]).exists()
    rows = AuditLog.objects.filter(action=AuditLog.Action.DELETE, object_type="pdp.partner")
    assert sorted(rows.values_list("object_id", flat=True)) == sorted(
        [str(first.pk), str(second.pk)]
    )
    assert {row.changes["name"][0] for row in rows} == {first.name, second.name}


def _unit_data(unit, territories, extra=()):
    """The POST of a unit's page: its fields and the territory inline formset."""
    data = {
        "region": unit.region_id,
        "code": unit.code,
        "name": unit.name,
        "territories-TOTAL_FORMS": len(territories) + len(extra),
        "territories-INITIAL_FORMS": len(territories),
        "territories-MIN_NUM_FORMS": 0,
        "territories-MAX_NUM_FORMS": 1000,
    }
    for i, (territory, prefix, delete) in enumerate(territories):
        data[f"territories-{i}-id"] = territory.pk
        data[f"territories-{i}-unit"] = unit.pk
        data[f"territories-{i}-prefix"] = prefix
        if delete:
            data[f"territories-{i}-DELETE"] = "on"
    for j, prefix in enumerate(extra, start=len(territories)):
        data[f"territories-{j}-unit"] = unit.pk
        data[f"territories-{j}-prefix"] = prefix
    return data


def test_territory_changes_inside_a_unit_are_audited(client, administrateur):
    unit = UnitFactory()
    kept = UnitTerritoryFactory(unit=unit, prefix="76")
    dropped = UnitTerritoryFactory(unit=unit, prefix="27")
    client.force_login(administrateur)
    data = _unit_data(unit, [(kept, "76100", False), (dropped, "27", True)], extra=["14"])
    response = client.post(_url(pm.Unit, "change", unit.pk), data)
    assert response.status_code == 302, response.content.decode()
    assert sorted(unit.territories.values_list("prefix", flat=True)) == ["14", "76100"]
    rows = {
        row.action: row
        for row in AuditLog.objects.filter(object_type="pdp.unitterritory", user=administrateur)
    }
    assert set(rows) == {"create", "update", "delete"}
    assert rows["update"].object_id == str(kept.pk)
    assert rows["update"].changes == {"prefix": ["76", "76100"]}
    assert rows["delete"].object_id == str(dropped.pk)
    assert rows["delete"].changes["prefix"] == ["27", None]
    created = unit.territories.get(prefix="14")
    assert rows["create"].object_id == str(created.pk)
    assert rows["create"].changes == {"unit": [None, unit.pk], "prefix": [None, "14"]}


def test_changing_the_dispositif_catalogue_is_audited(client, administrateur):
    dispositif = cm.DispositifType.objects.get(code="pmsmp")
    client.force_login(administrateur)
    response = client.post(
        _url(cm.DispositifType, "change", dispositif.pk),
        {
            "code": dispositif.code,
            "label": dispositif.label,
            "phase": dispositif.phase,
            "description": dispositif.description,
            # "active" unticked
        },
    )
    assert response.status_code == 302
    dispositif.refresh_from_db()
    assert dispositif.active is False
    row = AuditLog.objects.get(object_type="cases.dispositiftype")
    assert row.changes == {"active": [True, False]}


# --- Users -----------------------------------------------------------------------------------


def test_adding_a_user_is_audited_without_the_password(client, administrateur, unit):
    client.force_login(administrateur)
    response = client.post(
        _url(pm.User, "add"),
        {
            "username": "ass.brest",
            "usable_password": "true",
            "password1": "Un-mot-de-passe-2026",
            "password2": "Un-mot-de-passe-2026",
            "first_name": "Anne",
            "last_name": "Le Goff",
            "email": "",
            "role": pm.Role.ASS,
            "unit": unit.pk,
            "region": "",
        },
    )
    assert response.status_code == 302, response.content.decode()
    user = pm.User.objects.get(username="ass.brest")
    assert (user.role, user.unit, user.is_superuser) == (pm.Role.ASS, unit, False)
    row = AuditLog.objects.get(action=AuditLog.Action.CREATE, object_type="pdp.user")
    assert row.object_id == str(user.pk)
    assert row.changes["username"] == [None, "ass.brest"]
    assert row.changes["role"] == [None, pm.Role.ASS]
    assert row.changes["password"] == [None, "(masqué)"]
    assert "Un-mot-de-passe-2026" not in str(row.changes)
    assert user.password not in str(row.changes)


def _user_data(user, **overrides):
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "role": user.role,
        "unit": user.unit_id or "",
        "region": user.region_id or "",
        "is_active": "on",
        **overrides,
    }


def test_changing_a_role_is_audited(client, administrateur, ass, other_unit):
    old_unit_id = ass.unit_id
    client.force_login(administrateur)
    response = client.post(
        _url(pm.User, "change", ass.pk),
        _user_data(ass, role=pm.Role.MANAGER, unit=other_unit.pk),
    )
    assert response.status_code == 302, response.content.decode()
    ass.refresh_from_db()
    assert (ass.role, ass.unit) == (pm.Role.MANAGER, other_unit)
    row = AuditLog.objects.get(action=AuditLog.Action.UPDATE, object_type="pdp.user")
    assert row.changes == {
        "role": [pm.Role.ASS, pm.Role.MANAGER],
        "unit": [old_unit_id, other_unit.pk],
    }


def test_changing_a_password_in_the_admin_is_audited_masked(client, administrateur, ass):
    client.force_login(administrateur)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[ass.pk]),
        {
            "password1": "Autre-mot-2026-x",
            "password2": "Autre-mot-2026-x",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    ass.refresh_from_db()
    assert ass.check_password("Autre-mot-2026-x")
    row = AuditLog.objects.get(object_type="pdp.user", object_id=str(ass.pk))
    assert (row.user, row.action, row.changes) == (
        administrateur,
        AuditLog.Action.UPDATE,
        {"password": ["(masqué)", "(masqué)"]},
    )


def test_a_refused_password_change_writes_no_audit_row(client, administrateur, ass):
    client.force_login(administrateur)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[ass.pk]),
        {"password1": "Autre-mot-2026-x", "password2": "Différent", "usable_password": "true"},
    )
    assert response.status_code == 200
    assert not AuditLog.objects.filter(object_type="pdp.user").exists()


def test_the_administrateur_role_cannot_make_a_superuser(client, administrateur, ass):
    client.force_login(administrateur)
    client.post(_url(pm.User, "change", ass.pk), _user_data(ass, is_superuser="on", is_staff="on"))
    ass.refresh_from_db()
    assert ass.is_superuser is False


def test_the_administrateur_role_cannot_change_a_superuser(client, administrateur, admin_user):
    client.force_login(administrateur)
    response = client.post(
        _url(pm.User, "change", admin_user.pk), _user_data(admin_user, is_active="")
    )
    assert response.status_code == 403
    password_page = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    assert client.get(password_page).status_code == 403
    assert client.post(_url(pm.User, "delete", admin_user.pk), {"post": "yes"}).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_a_superuser_may_make_a_superuser(client, admin_user, ass):
    client.force_login(admin_user)
    client.post(_url(pm.User, "change", ass.pk), _user_data(ass, is_superuser="on"))
    ass.refresh_from_db()
    assert ass.is_superuser is True
    row = AuditLog.objects.get(object_type="pdp.user", object_id=str(ass.pk))
    assert row.changes == {"is_superuser": [False, True]}


# --- French throughout ------------------------------------------------------------------------


class _ResultHeaders(HTMLParser):
    """Column headers of the changelist's result table."""

    def __init__(self):
        super().__init__()
        self.headers = []
        self._in_table = self._in_header = False
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "result_list") in attrs:
            self._in_table = True
        elif tag == "th" and self._in_table and ("scope", "col") in attrs:
            self._in_header, self._text = True, ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "th" and self._in_header:
            self._in_header = False
            # Without the sort priority digit of a sorted column.
            if text := re.sub(r"^\d+ ", "", " ".join(self._text.split())):
                self.headers.append(text)

    def handle_data(self, data):
        if self._in_header:
            self._text += data


class _VisibleText(HTMLParser):
    """The text a user sees or hears: text nodes and the alt, title and label attributes."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "svg"):
            self._skip += 1
        for name, value in attrs:
            if name in ("alt", "title", "aria-label", "placeholder") and value:
                self.parts.append(value)
            if name == "value" and ("type", "submit") in attrs:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "svg"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _visible_text(page):
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(parser.parts)


# Words of Django's English admin that must not show once translated.
ENGLISH = re.compile(
    r"\b(Select|Search|Filter|Add|Change|Delete|Save|History|Home|Log out|View site|Show all"
    r"|results?|total|By|Yes|No|Unknown|Any date|Today|Past 7 days|This month|This year)\b"
)

# Column headers and filter titles of every changelist, as the admin shows them.
FRENCH_CHANGELISTS = {
    pm.Region: (
        [
            "Code",
            "Nom",
            "Seuil service médical (jours, strictement plus de)",
            "Seuil service social (jours, au moins)",
            "Échéance du premier contact (jour d'arrêt)",
        ],
        [],
    ),
    pm.Unit: (
        ["Code", "Nom", "Région", "Téléphone", "Attribution automatique"],
        ["région", "attribution automatique"],
    ),
    pm.UnitTerritory: (["Département ou code postal", "Unité"], ["unité"]),
    pm.CpamOffice: (["Code caisse", "Nom", "Région"], ["région"]),
    pm.Partner: (["Nom", "Type", "Région", "Téléphone", "E-mail"], ["type", "région"]),
    pm.PartnerContact: (["Nom", "Fonction", "Partenaire", "E-mail"], []),
    pm.User: (
        ["Identifiant", "Nom", "Prénom", "Rôle", "Unité", "Région", "Actif"],
        ["rôle", "unité", "région", "actif", "accès à l'administration"],
    ),
    cm.DispositifType: (["Libellé", "Code", "Quand", "Actif"], ["quand", "actif"]),
    cm.Motif: (
        [
            "Libellé",
            "Durée (minutes)",
            "Délai minimal de réservation (heures)",
            "Délai maximal de réservation (jours)",
            "Actif",
        ],
        ["actif"],
    ),
    cm.PlageOuverture: (["ASS", "Jour", "De", "À", "Lieu", "À partir du"], ["jour"]),
    cm.Absence: (["ASS", "Du", "Au"], []),
    pm.AuditLog: (
        ["Date", "Utilisateur", "Action", "Type d'objet", "Identifiant de l'objet", "Assuré"],
        ["action", "type d'objet"],
    ),
    pm.AccessCode: (
        [
            "Créé le",
            "Usage",
            "Assuré",
            "Type d'objet",
            "Identifiant de l'objet",
            "Expire le",
            "Utilisé le",
            "Révoqué le",
            "Verrouillé le",
        ],
        ["usage"],
    ),
    pm.Message: (
        ["Créé le", "Canal", "Modèle", "Destinataire", "Statut", "Nombre de SMS", "Envoyé le"],
        ["statut", "canal"],
    ),
    rm.Assure: (
        ["Nom de naissance", "Prénoms", "NIR", "Date de naissance", "Code postal", "CPAM"],
        ["CPAM", "régime", "situation d'emploi"],
    ),
    rm.ArretTravail: (
        ["Assuré", "Type", "Début", "Fin prévue", "Fin réelle (reprise)", "CPAM"],
        ["type", "CPAM"],
    ),
    rm.Signalement: (
        [
            "Assuré",
            "Service",
            "Origine",
            "Statut",
            "Unité",
            "Attribué à",
            "Date du signalement",
            "Échéance du premier contact",
        ],
        ["service", "statut", "origine", "unité", "CPAM"],
    ),
    rm.SignalementEvent: (
        ["Date", "Signalement", "Type", "Ancienne valeur", "Nouvelle valeur", "Auteur"],
        ["type"],
    ),
    rm.ContactAttempt: (
        ["Date", "Signalement", "Canal", "Résultat", "Auteur"],
        ["canal", "résultat"],
    ),
    rm.CpamImport: (
        [
            "Date",
            "Date de l'extrait",
            "Fichier",
            "CPAM",
            "Importé par",
            "Statut",
            "Lignes lues",
            "Arrêts créés",
            "Arrêts mis à jour",
            "Lignes ignorées : extrait plus ancien",
            "Lignes rejetées",
        ],
        ["statut", "CPAM"],
    ),
    rm.CpamImportCaisse: (["Import", "CPAM", "Lignes"], ["CPAM"]),
    rm.ImportRejection: (["Import", "Ligne", "Motif"], []),
    cm.Accompagnement: (
        ["Assuré", "Mission", "Statut", "Référent du parcours", "Unité", "Ouvert le"],
        ["statut", "mission", "unité", "CPAM"],
    ),
    rm.DetectionRun: (
        [
            "Début",
            "Jour analysé",
            "Région",
            "Lancée par",
            "Statut",
            "Durée",
            "Arrêts examinés",
            "Signalements au service médical",
            "Signalements au service social",
            "Attribués automatiquement",
            "Laissés à répartir",
            "Arrêts ignorés faute de CPAM",
        ],
        ["statut", "région"],
    ),
    cm.CaseShare: (
        ["Accompagnement", "Partagé avec", "Motif", "À partir du", "Jusqu'au", "Retiré le"],
        ["motif"],
    ),
    co.Instance: (
        [
            "Nom",
            "Type",
            "Région",
            "Périodicité",
            "Quorum : organisations différentes au moins",
            "Active",
        ],
        ["type", "région", "active"],
    ),
    co.MembreInstance: (
        ["Instance", "Compte", "Contact partenaire", "Organisation", "Membre depuis", "Jusqu'au"],
        ["instance", "organisation"],
    ),
    co.TypeDecision: (
        ["Libellé", "Code", "Ordre", "Met fin au suivi en cellule", "À représenter", "Actif"],
        ["actif"],
    ),
    colm.ActionType: (
        [
            "Libellé",
            "Code",
            "Nombre minimal de séances",
            "Validation de l'unité requise",
            "Validation régionale requise",
            "Inscription par la personne avec un code (invitation)",
            "Questionnaire de fin d'action",
            "Actif",
        ],
        ["actif"],
    ),
    colm.Theme: (["Libellé", "Actif"], ["actif"]),
    colm.ParticipantStatus: (["Libellé", "Code", "Classe", "Occupe une place", "Ordre"], []),
}


def test_every_registered_model_has_its_french_headers_listed():
    assert set(FRENCH_CHANGELISTS) == set(admin.site._registry)


@pytest.mark.parametrize("model", list(FRENCH_CHANGELISTS), ids=_name)
def test_each_changelist_and_page_renders_in_french(client, admin_user, model):
    record = make_record(model)
    # A second row of each filtered relation, so that every related filter shows.
    make_record(model)
    client.force_login(admin_user)
    response = client.get(_url(model, "changelist"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    parser = _ResultHeaders()
    parser.feed(page)
    headers, filters = FRENCH_CHANGELISTS[model]
    assert parser.headers == headers
    shown_filters = [
        t.replace("&#x27;", "'") for t in re.findall(r'data-filter-title="([^"]*)"', page)
    ]
    assert set(shown_filters) <= set(filters)
    assert "Par " in page or not shown_filters
    assert not ENGLISH.findall(_visible_text(page))
    assert client.get(_url(model, "change", record.pk)).status_code == 200


@pytest.mark.parametrize("model", REFERENCE_MODELS, ids=_name)
def test_each_reference_add_page_renders(client, administrateur, model):
    client.force_login(administrateur)
    response = client.get(_url(model, "add"))
    assert response.status_code == 200
    assert "Ajout de" in response.content.decode() or "Ajouter" in response.content.decode()


def test_the_user_page_is_in_french(client, administrateur, ass):
    client.force_login(administrateur)
    page = client.get(_url(pm.User, "change", ass.pk), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for label in (
        "Identifiant",
        "Identité",
        "Prénom",
        "Rôle et rattachement",
        "Accès à l&#x27;administration",
        "Actif",
        "Statut super-utilisateur",
        "Dernière connexion",
    ):
        assert label in page, label
    for english in ("Username", "Personal info", "Important dates", "Staff status", "Groups"):
        assert english not in page, english


def test_every_field_of_the_domain_has_a_french_label():
    """No label derived from an English field name (e.g. « created by »)."""
    for label in ("pdp", "referrals", "cases", "coordination", "collective", "outreach"):
        for model in apps.get_app_config(label).get_models():
            for field in model._meta.get_fields():
                if field.auto_created:
                    continue
                assert field._verbose_name is not None or field.name in {
                    # Inherited from AbstractUser: Django's own, translated labels.
                    "password",
                    "last_login",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                    "first_name",
                    "last_name",
                    "email",
                    "is_active",
                    "date_joined",
                }, f"{model.__name__}.{field.name}"


# --- Query counts of the busiest lists --------------------------------------------------------
# (a list of personal records logs its reads in one INSERT: ReadOnlyAdmin.changelist_view)


@pytest.mark.parametrize(
    ("model", "queries"),
    [
        (rm.Assure, 9),
        (rm.Signalement, 10),
        (rm.ContactAttempt, 8),
        (pm.AuditLog, 8),
        (cm.Accompagnement, 10),
        (pm.User, 9),
        (pm.AccessCode, 9),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_a_changelist_does_not_grow_its_queries_with_rows(
    client, administrateur, django_assert_max_num_queries, model, queries
):
    for _ in range(15):
        make_record(model)
    client.force_login(administrateur)
    with django_assert_max_num_queries(queries):
        response = client.get(_url(model, "changelist"))
    assert response.status_code == 200


def test_dates_are_shown_the_french_way(client, administrateur):
    arret = ArretFactory(date_debut=datetime.date(2026, 1, 5))
    client.force_login(administrateur)
    page = client.get(_url(rm.ArretTravail, "changelist")).content.decode()
    assert "5 janvier 2026" in page
    assert arret.assure.nom_naissance in page
