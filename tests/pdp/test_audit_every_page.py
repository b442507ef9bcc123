"""Every page that shows a person writes an access-log row (issue 14, item 1; domain §11).

The test walks every URL pattern of the project (the walker of test_headers_every_page: its
PATTERNS, ARGS and dataset, extended here by `people`) and sorts each one into:

- PERSON_PAGES: the page shows or exports one or several persons (a file, a form opened on a
  record — opening it is a read —, a list or search results with names, an inbox, a CSV, a PDF,
  an ICS, a document, a cellule fiche, an attendee or call list…). It is requested by a user
  allowed to see it, on a dataset where the person appears, and must answer 200 and write at
  least one AuditLog row with that user and the assuré's id of each person shown (for a list:
  each person listed).
- NO_PERSON_PAGES: the page shows no person (configuration, reference data, aggregated
  figures, a blank creation form, a public page without personal data…), with the reason.
- PUBLIC_PERSON_PAGES: public pages showing the identified assuré their own data (below).
- CHECKED_IN_THEIR_TESTS: person pages whose data need a whole campaign (targets, codes, letter
  batches, reservations), with the test that checks their access log.
- POST-only: the GET answers 405, found by the walk itself. They change data through a
  service, which writes its own audit row (spot-checked at the end of this file).

A pattern in none of them fails `test_every_pattern_is_classified`, naming it, so that a new page
cannot forget its access log. The admin's patterns are sorted by one rule (`admin_kind`): its
pages of personal records (ReadOnlyAdmin) log their reads — change page and list — and are
checked on the person models; the others hold reference data and users.

Public pages that an assuré reaches without an account show the person their own data after
they identified themselves (code and birth date): those pages write a row with no user
(`user=None`, action « consultation »), checked by `test_public_pages_log_the_assure`.
"""

import datetime
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases import agenda
from cases import dispositifs as dispositif_rules
from cases import services as case_services
from cases.documents import document_upload
from cases.models import DispositifType
from collective.models import ActionStatus, ActionType
from collective.participants import participant_add_from_case
from coordination import services as cellule_services
from coordination.models import Presence
from outreach.views_public import DONE
from pdp import access_codes
from pdp.admin_base import ReadOnlyAdmin
from pdp.models import AccessCode, AuditLog
from referrals.models import Service, Statut
from tests.cases.test_documents import real_pdf
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    AssureFactory,
    EntretienFactory,
    SaisineFactory,
    SeanceFactory,
    SignalementFactory,
    UserFactory,
)
from tests.pdp.test_headers_every_page import (  # noqa: F401 (dataset: the walker's fixture)
    PATTERNS,
    build_url,
    dataset,
    kwargs_for,
    role_for,
)

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Shows:
    """What the page shows: `who` names the dataset's persons (keys of `people`, each an Assure)
    whose reading must be logged. `role` overrides the walker's role (ROLE_BY_PREFIX);
    `kwargs(data)` builds its URL's parameters when the walker's ARGS entry does not fit (a
    dummy id, NOT_FOUND, or another object); `before(client, data)` prepares the request (the
    search posts its query first); `query(data)` is its query string (the agenda's week)."""

    who: tuple = ("assure",)
    role: str | None = None
    kwargs: object = None
    before: object = None
    query: object = None


def _k(**spec):
    """kwargs from the dataset: name=key (its pk) or a literal."""

    def build(data):
        return {
            name: (data[value].pk if isinstance(value, str) and value in data else value)
            for name, value in spec.items()
        }

    return build


def _week_of(moment):
    day = timezone.localtime(moment).date()
    return agenda.week_param(day - datetime.timedelta(days=day.weekday()))


def _search(client, data):
    client.post(reverse("cases:search"), {"q": data["assure"].nom_naissance})


PERSON_PAGES = {
    # privacy (the right-of-access page lists the person's archives)
    "privacy:archive_list": Shows(role="manager"),
    # referrals
    "referrals:inbox": Shows(),
    "referrals:signalement_detail": Shows(),
    "referrals:medical_list": Shows(role="medecin"),
    "referrals:signalement_forward": Shows(role="medecin", kwargs=_k(pk="medical")),
    "referrals:signalement_classify": Shows(role="medecin", kwargs=_k(pk="medical")),
    "referrals:signalement_medical_record": Shows(role="medecin", kwargs=_k(pk="medical")),
    "referrals:arret_detail": Shows(),
    # cases
    "cases:accompagnement_detail": Shows(),
    "cases:note_create": Shows(),
    "cases:evaluation_list": Shows(),
    "cases:evaluation_create": Shows(),
    "cases:evaluation_detail": Shows(kwargs=_k(pk="case", version=1)),
    "cases:plan_detail": Shows(),
    "cases:plan_print": Shows(),
    "cases:objectif_create": Shows(),
    "cases:objectif_update": Shows(kwargs=_k(pk="case", objectif_pk="objectif")),
    "cases:action_create": Shows(kwargs=_k(pk="case", objectif_pk="objectif")),
    "cases:orientation_create": Shows(),
    "cases:orientation_update": Shows(kwargs=_k(pk="case", orientation_pk="orientation")),
    "cases:consentement_create": Shows(),
    "cases:consentement_revoke": Shows(kwargs=_k(pk="case", consentement_pk="consentement")),
    "cases:cloture_create": Shows(role="manager"),
    "cases:case_reopen": Shows(role="manager"),
    "cases:case_suspend": Shows(role="manager"),
    "cases:case_resume": Shows(role="manager"),
    "cases:case_referent": Shows(),
    "cases:case_share_create": Shows(),
    "cases:dashboard": Shows(),
    "cases:search": Shows(before=_search),
    "cases:assure_detail": Shows(),
    "cases:assure_edit": Shows(),
    "cases:assure_access_history": Shows(),
    "cases:entretien_create": Shows(),
    "cases:entretien_edit": Shows(),
    # The week of the dataset's meeting (two days ahead: next week from Saturday on).
    "cases:agenda": Shows(query=lambda data: {"semaine": _week_of(data["entretien"].debut)}),
    "cases:agenda_ics": Shows(kwargs=lambda data: {"token": data["ics_token"]}),
    "cases:document_upload": Shows(),
    "cases:document_download": Shows(kwargs=_k(pk="document")),
    "cases:document_delete": Shows(kwargs=_k(pk="document")),
    "cases:dispositif_create": Shows(),
    "cases:dispositif_detail": Shows(kwargs=_k(pk="case", dpk="dispositif")),
    "cases:dispositif_edit": Shows(kwargs=_k(pk="case", dpk="dispositif")),
    "cases:dispositif_status": Shows(kwargs=_k(pk="case", dpk="dispositif")),
    "cases:dispositif_periode_add": Shows(kwargs=_k(pk="case", dpk="essai")),
    "cases:dispositif_renew": Shows(kwargs=_k(pk="case", dpk="dispositif")),
    # coordination (cellule PDP): the fiches are pseudonymous, their reading is logged with the
    # assuré's id all the same
    "coordination:home": Shows(who=("waiting",)),
    "coordination:reunion_detail": Shows(kwargs=_k(pk="held")),
    "coordination:saisine_create": Shows(),
    "coordination:mes_actions": Shows(role="manager"),
    "coordination:saisine_list_unit": Shows(role="manager"),
    "coordination:saisine_detail": Shows(),
    "coordination:reunion_minutes_pdf": Shows(kwargs=_k(pk="held")),
    "coordination:reunion_releve": Shows(kwargs=_k(pk="held")),
    "coordination:reunion_releve_pdf": Shows(kwargs=_k(pk="held")),
    # collective actions
    "collective:action_detail": Shows(),
    "collective:participants": Shows(),
    "collective:participant_add": Shows(),
    "collective:participant_cancel": Shows(kwargs=_k(pk="action", participant_pk="participant")),
    "collective:attendance": Shows(),
    # outreach
    "outreach:send_link_signalement": Shows(),
    "outreach:book_for_signalement": Shows(),
    "outreach:send_link_case": Shows(),
    "outreach:webinar_invite": Shows(kwargs=_k(pk="webinar")),
}

NO_PERSON_PAGES = {
    "two_factor": "double authentification de l'utilisateur connecté",
    "two_factor_verify": "saisie du code de connexion",
    "two_factor_enrol": "enrôlement de l'application d'authentification",
    "two_factor_qr": "QR code du secret de l'utilisateur connecté",
    "two_factor_codes": "codes de secours de l'utilisateur connecté",
    "privacy:retention": "page d'administration : règles, exécutions et totaux anonymes",
    "privacy:archive_row": "statut d'une archive (en préparation, prête), rien de la personne",
    "home": "redirige vers la page d'accueil du rôle",
    "login": "formulaire de connexion",
    "password_change": "mot de passe de l'utilisateur",
    "password_change_done": "confirmation du changement de mot de passe",
    "session_expired": "page de fin de session",
    "health": "état de la base et de Redis pour le répartiteur de charge, aucune donnée",
    "referrals:signalement_create": "formulaire vierge d'un nouveau signalement",
    "referrals:import_list": "liste des fichiers importés (caisse, date, comptes), aucune personne",
    "referrals:import_detail": "comptes d'un import ; ses lignes rejetées (NIR, noms) sont "
    "journalisées par la vue (objet cpamimport, aucun assuré enregistré : lignes non importées)",
    "referrals:import_rejections_csv": "lignes rejetées d'un import, sans assuré enregistré ; "
    "l'export est journalisé (objet cpamimport)",
    "referrals:import_progress": "avancement d'un import (lignes lues, total), aucune personne",
    "cases:signalement_open_case": "redirige vers l'accompagnement (journalisé) ou le signalement",
    "cases:agenda_ics_manage": "abonnement à l'agenda (jeton), aucune personne",
    "cases:availability": "plages d'ouverture et absences de l'ASS, aucune personne",
    "cases:availability_plage_create": "formulaire de plage d'ouverture",
    "cases:availability_plage_edit": "plage d'ouverture de l'ASS",
    "cases:availability_absence_create": "formulaire d'absence de l'ASS",
    "coordination:instance_detail": "instance et ses membres (professionnels), aucune situation",
    "coordination:mes_reunions": "réunions de la cellule (date, lieu), aucune situation",
    "coordination:reunion_create": "formulaire de date et lieu d'une réunion",
    "coordination:reunion_edit": "formulaire de date et lieu d'une réunion",
    "collective:action_list": "actions collectives (titre, dates, places), aucun participant",
    "collective:action_create": "formulaire d'action collective",
    "collective:calendar": "calendrier des séances, aucun participant",
    "collective:validation_queue": "actions à valider, aucun participant",
    "collective:action_edit": "formulaire de l'action, aucun participant",
    "collective:seance_create": "formulaire de séance",
    "collective:seance_edit": "formulaire de séance",
    "collective:attendance_import": "formulaire d'import d'un fichier ; le rapport (POST) nomme "
    "les personnes pointées, dont la présence est journalisée par attendance.attendance_record",
    "outreach:code_form": "page publique de saisie du code",
    "outreach:code_entry": "entrée du code : redirige vers l'identification",
    "outreach:code_invalid": "page publique : téléphones des unités",
    "outreach:identify": "page publique : la date de naissance est demandée, rien n'est montré",
    "outreach:booking": "page publique : créneaux libres, rien de la personne",
    "outreach:campaign_refuse": "page publique : demande de confirmation, rien de la personne",
    "outreach:move": "page publique : créneaux libres pour déplacer le rendez-vous",
    "outreach:webinar": "page publique : sessions du webinaire, rien de la personne",
    "outreach:survey": "page publique : questionnaire anonyme, rien de la personne",
    "outreach:survey_thanks": "page publique de remerciement",
    "outreach:survey_results": "résultats agrégés du baromètre de satisfaction",
    "outreach:survey_results_unit": "résultats agrégés du baromètre d'une unité",
    "outreach:campaign_list": "liste des campagnes (nom, statut, comptes)",
    "outreach:campaign_create": "formulaire de campagne",
    "outreach:campaign_edit": "formulaire de campagne",
    "outreach:campaign_detail": "campagne : règles, comptes par canal, par étape et par lot, "
    "aucune personne",
    "outreach:campaign_rules": "règles de canal de la région (configuration)",
    "outreach:campaign_rule_create": "formulaire de règle de canal (configuration)",
    "outreach:campaign_rule_edit": "formulaire de règle de canal (configuration)",
    "outreach:campaign_funnel_csv": "entonnoir agrégé d'une campagne (comptes par étape)",
    "indicators:index": "indicateurs agrégés, aucune personne",
}

# Public pages that show the identified assuré their own appointment: logged with user None.
PUBLIC_PERSON_PAGES = {"outreach:confirmation", "outreach:ics", "outreach:manage"}

# Person pages checked elsewhere because their data need a whole campaign (targets, codes,
# letter batches, call reservations): each has a test of its access log in tests/outreach/.
CHECKED_IN_THEIR_TESTS = {
    "privacy:archive_pdf": "tests/privacy/test_archive.py::"
    "test_a_download_is_an_attachment_not_cached_and_logged_as_an_export",
    "privacy:archive_json": "tests/privacy/test_archive.py::"
    "test_a_download_is_an_attachment_not_cached_and_logged_as_an_export",
    "outreach:campaign_letters_pdf": "tests/outreach/test_campaign_letters.py::"
    "test_the_manager_downloads_a_ready_batch_audited",
    "outreach:campaign_letters_csv": "tests/outreach/test_campaign_letters.py::"
    "test_the_manager_downloads_a_ready_batch_audited",
    "outreach:calls": "tests/outreach/test_campaign_calls.py::"
    "test_the_list_page_has_constant_queries_and_audits_each_person_shown",
    "outreach:call_record": "tests/outreach/test_campaign_calls.py::"
    "test_reserve_then_record_through_the_pages",
}


def admin_kind(key, pattern):
    """The admin's patterns: a ReadOnlyAdmin (personal records) logs its change page and its
    list; everything else there is reference data, users, or Django's own pages."""
    model_admin = getattr(pattern.callback, "model_admin", None)
    if model_admin is None:
        return "no person", "page de l'administration sans données personnelles"
    if not isinstance(model_admin, ReadOnlyAdmin) or not model_admin.audit_assure_id:
        return "no person", "données de référence ou utilisateurs"
    if key.endswith("_change"):
        return "person", "ReadOnlyAdmin.render_change_form"
    if key.endswith("_changelist") and model_admin.audit_list_reads:
        return "person", "ReadOnlyAdmin.changelist_view"
    if key.endswith("_changelist"):
        return "no person", "la liste du journal lui-même (audit_list_reads = False)"
    return "no person", "ajout, suppression ou historique refusés (ReadOnlyAdmin)"


def _last_id():
    return AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def people(dataset, settings, tmp_path):  # noqa: F811 (the imported fixture)
    """The walker's dataset, and what person pages need to render on it: a referral of the
    service médical, a plan d'aide, an orientation, a consent, an évaluation, a document, a
    dispositif, a participant of the collective action, a held cellule meeting with the
    situation on its agenda, and the ASS's agenda feed."""
    settings.MEDIA_ROOT = tmp_path
    data, users = dataset
    ass, manager, coordinateur = users["ass"], users["manager"], users["coordinateur"]
    case, assure, unit = data["case"], data["assure"], data["unit"]
    data["medical"] = SignalementFactory(
        assure=assure,
        service=Service.MEDICAL,
        statut=Statut.NOUVEAU,
        unit=None,
        region=unit.region,
    )
    data["objectif"] = case_services.objectif_create(
        accompagnement=case, acting_user=ass, domaine="emploi", libelle="Reprise"
    )
    data["orientation"] = case_services.orientation_create(
        accompagnement=case,
        acting_user=ass,
        partner_kind="cap_emploi",
        motif="Bilan",
        accord_assure=True,
    )
    data["consentement"] = data["saisine"].consentement
    case_services.evaluation_create(
        accompagnement=case, acting_user=ass, niveau_risque="faible", freins="Transport"
    )
    data["document"] = document_upload(
        accompagnement=case,
        acting_user=ass,
        uploaded_file=SimpleUploadedFile("bilan.pdf", real_pdf(), content_type="application/pdf"),
        nom="Bilan",
    )
    today = timezone.localdate()
    data["dispositif"] = dispositif_rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code="pmsmp"),
        date_debut=today + datetime.timedelta(days=10),
        date_fin=today + datetime.timedelta(days=20),
        entreprise_accueil="Boulangerie Martin",
    )
    data["essai"] = dispositif_rules.dispositif_create(
        accompagnement=case,
        acting_user=ass,
        type=DispositifType.objects.get(code="essai_encadre"),
        date_debut=today + datetime.timedelta(days=3),
        date_fin=today + datetime.timedelta(days=8),
        chez_employeur=True,
        accord_medecin_traitant=today,
        accord_medecin_conseil=today,
        accord_medecin_travail=today,
    )
    data["webinar"] = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"), animateur=ass, statut=ActionStatus.PUBLIEE
    )
    SeanceFactory(action=data["webinar"])
    data["participant"] = participant_add_from_case(
        action=data["action"], accompagnement=case, accord=True, acting_user=ass
    )
    # A meeting held with the situation on its agenda.
    membre = data["membre"]
    membre.user = manager
    membre.save()
    reunion = cellule_services.reunion_plan(
        instance=data["instance"],
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=3),
        lieu="Salle Seine",
    )
    cellule_services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    point = reunion.points.get(saisine=data["saisine"])
    cellule_services.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Contacter le médecin du travail",
        responsable=membre,
        echeance=today + datetime.timedelta(days=30),
    )
    for presence in reunion.presences.all():
        cellule_services.presence_set(
            presence=presence, acting_user=coordinateur, statut=Presence.Statut.PRESENT
        )
    cellule_services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    assert reunion.points.filter(saisine=data["saisine"]).exists()
    data["held"] = reunion
    # A situation submitted since, waiting for the next meeting (the cellule's home lists it).
    waiting = SaisineFactory(
        accompagnement=AccompagnementFactory(referent=ass), instance=data["instance"]
    )
    data["waiting"] = waiting.accompagnement.assure
    ass.ics_token = "jeton-de-l-ass-du-jeu-de-donnees"
    ass.save(update_fields=["ics_token"])
    data["ics_token"] = ass.ics_token
    return data, users


def test_every_pattern_is_classified(dataset):  # noqa: F811 (the imported fixture)
    """Each pattern is a person page, a page without person, or POST-only (GET → 405)."""
    data, users = dataset
    clients = {None: Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    missing, both = [], []
    for key, pattern, pieces in PATTERNS:
        if key.startswith("admin:"):
            continue
        lists = [
            name
            for name, keys in (
                ("PERSON_PAGES", PERSON_PAGES),
                ("NO_PERSON_PAGES", NO_PERSON_PAGES),
                ("PUBLIC_PERSON_PAGES", PUBLIC_PERSON_PAGES),
                ("CHECKED_IN_THEIR_TESTS", CHECKED_IN_THEIR_TESTS),
            )
            if key in keys
        ]
        if len(lists) > 1:
            both.append(f"{key} ({', '.join(lists)})")
        if lists:
            continue
        url = build_url(pieces, kwargs_for(key, pieces, data))
        public = getattr(pattern.callback, "login_required", True) is False
        if clients[None if public else role_for(key)].get(url).status_code != 405:
            missing.append(key)
    assert not both, "Pages classées deux fois : " + ", ".join(both)
    assert not missing, (
        "Pages ni dans PERSON_PAGES (avec ce que la vue doit journaliser), ni dans "
        "NO_PERSON_PAGES (avec la raison), ni POST seulement "
        "(tests/pdp/test_audit_every_page.py) : " + ", ".join(missing)
    )
    known = {key for key, _, _ in PATTERNS}
    stale = (
        set(PERSON_PAGES) | set(NO_PERSON_PAGES) | PUBLIC_PERSON_PAGES | set(CHECKED_IN_THEIR_TESTS)
    ) - known
    assert not stale, f"Pages inconnues : {sorted(stale)}"


def test_every_person_page_logs_who_saw_whom(people):
    data, users = people
    failures, walked = [], 0
    patterns = {key: (pattern, pieces) for key, pattern, pieces in PATTERNS}
    for key, shows in PERSON_PAGES.items():
        pattern, pieces = patterns[key]
        role = shows.role or role_for(key)
        user = users[role]
        client = Client()
        public = getattr(pattern.callback, "login_required", True) is False
        if not public:
            client.force_login(user)
        if shows.before is not None:
            shows.before(client, data)
        kwargs = shows.kwargs(data) if shows.kwargs else kwargs_for(key, pieces, data)
        url = build_url(pieces, kwargs)
        last = _last_id()
        response = client.get(url, shows.query(data) if shows.query else None)
        walked += 1
        if response.status_code != 200:
            failures.append(f"{key} ({url}) as {role}: {response.status_code}")
            continue
        rows = AuditLog.objects.filter(pk__gt=last)
        # The agenda's ICS feed (no login, a token) logs under the token's owner: `user` too.
        seen = set(rows.filter(user=user).values_list("assure_id", flat=True))
        wanted = {data[name].pk for name in shows.who}
        if not wanted <= seen:
            failures.append(
                f"{key} ({url}) as {role}: no access-log row for assuré {sorted(wanted - seen)} "
                f"(rows: {list(rows.values_list('user__username', 'object_type', 'assure_id'))})"
            )
    assert not failures, "\n".join(failures)
    assert walked == len(PERSON_PAGES)


def test_the_admin_pages_of_personal_records_log_their_reads(people):
    """The rule of `admin_kind` on the person models: their change page and their list."""
    data, users = people
    client = Client()
    client.force_login(users["admin"])
    kinds = {}
    for key, pattern, _pieces in PATTERNS:
        if key.startswith("admin:"):
            kinds[key] = admin_kind(key, pattern)[0]
    person_keys = sorted(key for key, kind in kinds.items() if kind == "person")
    assert "admin:referrals_assure_changelist" in person_keys
    assert "admin:cases_accompagnement_change" in person_keys
    failures, checked = [], []
    for key in person_keys:
        model_admin = next(p.callback.model_admin for k, p, _ in PATTERNS if k == key)
        model = model_admin.model
        lookup = model_admin.audit_assure_id.replace(".", "__")
        obj = model.objects.filter(**{lookup: data["assure"].pk}).first()
        if obj is None:
            continue
        url = reverse(key, args=[obj.pk]) if key.endswith("_change") else reverse(key)
        last = _last_id()
        response = client.get(url)
        assure_ids = set(
            AuditLog.objects.filter(pk__gt=last, user=users["admin"]).values_list(
                "assure_id", flat=True
            )
        )
        checked.append(key)
        if response.status_code != 200 or data["assure"].pk not in assure_ids:
            failures.append(f"{key} ({url}): {response.status_code}, rows {assure_ids}")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 8, checked


def test_public_pages_log_the_assure(unit):
    """An assuré enters the code that manages their meeting and their birth date: the pages
    that show their appointment (the management page, its ICS, the confirmation after a
    booking) each write one row with no user — the person themself — and their assuré's id."""
    ass = UserFactory(ass=True, unit=unit)
    assure = AssureFactory(date_naissance=datetime.date(1985, 5, 12))
    meeting = EntretienFactory(accompagnement=AccompagnementFactory(assure=assure, referent=ass))
    _row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.MANAGE,
        assure_id=assure.pk,
        expires_at=timezone.now() + datetime.timedelta(days=30),
        object_type="cases.entretien",
        object_id=meeting.pk,
    )
    client = Client()
    client.get(f"/r/{code}/")
    identified = client.post(reverse("outreach:identify"), {"jour": 12, "mois": 5, "annee": 1985})
    assert identified.status_code == 302
    # After a booking the session names the meeting the confirmation shows.
    session = client.session
    session[DONE] = {"kind": "cases.entretien", "pk": meeting.pk, "assure_id": assure.pk}
    session.save()
    for name in sorted(PUBLIC_PERSON_PAGES):
        last = _last_id()
        assert client.get(reverse(name)).status_code == 200, name
        rows = AuditLog.objects.filter(pk__gt=last)
        assert list(rows.values_list("user", "action", "object_id", "assure_id")) == [
            (None, AuditLog.Action.VIEW, str(meeting.pk), assure.pk)
        ], name


def test_post_only_views_write_their_audit_rows_through_their_services(people):
    """Spot-check of the POST-only views (not walked above): the change they make is logged by
    their service, with the user and the person."""
    data, users = people
    ass, case = users["ass"], data["case"]
    client = Client()
    client.force_login(ass)
    action = case_services.action_create(
        objectif=data["objectif"], acting_user=ass, libelle="Appeler l'employeur"
    )
    share = case_services.case_share(
        accompagnement=case,
        acting_user=ass,
        user=UserFactory(ass=True, unit=data["unit"]),
        reason="absence",
        date_fin=timezone.localdate() + datetime.timedelta(days=10),
    )
    posts = [
        (
            reverse("referrals:signalement_contact_add", args=[data["signalement"].pk]),
            {
                "contact-at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
                "contact-canal": "telephone",
                "contact-resultat": "pas_de_reponse",
            },
        ),
        (reverse("cases:action_toggle", args=[case.pk, action.pk]), {}),
        (reverse("cases:case_share_revoke", args=[case.pk, share.pk]), {}),
    ]
    for url, payload in posts:
        assert client.get(url).status_code == 405, url
        last = _last_id()
        response = client.post(url, payload)
        assert response.status_code == 302, url
        rows = AuditLog.objects.filter(pk__gt=last, user=ass, assure_id=case.assure_id)
        assert rows.exclude(action=AuditLog.Action.VIEW).exists(), url
