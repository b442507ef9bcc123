"""The authorization matrix's table: for every URL pattern, the status each user gets.

See test_authorization_matrix.py for how it is checked. A value is:
- an HTTP status (200, 403, 404, 405…);
- LOGIN: a redirect to the login page (anonymous on a private page);
- OK: what an allowed user gets from a POST of empty data (200 form error, 204, 302 redirect
  or 400), as opposed to a refusal (403, 404), a 405 or a 500.
Visible records of another's scope answer 404 (the record's existence is not revealed); visible
but not allowed, 403 (README, « Every page checks who may see it »).
"""

from dataclasses import dataclass

from tests.pdp.test_headers_every_page import _d

LOGIN = "login"
OK = "ok"
OK_STATUSES = {200, 204, 302, 400}


def matches(expected, found):
    if expected == OK:
        return found in OK_STATUSES
    return expected == found


# The columns, with the scope each user stands in for the dataset's objects (all of unit A).
SCOPE = {
    "ass_referent": "in scope: référent of the case",
    "ass_other": "in scope: another ASS of unit A",
    "ass_shared": "in scope by a share: ASS of unit B the case is shared with",
    "conseiller": "in scope: conseiller of unit A",
    "manager": "in scope: manager of unit A",
    "regional": "in scope: regional manager of region 1",
    "coordinateur": "in scope: coordinator of unit A's cellule",
    "partenaire": "in scope: partner member of unit A's cellule",
    "medecin": "in scope: médecin conseil of region 1, member of the cellule",
    "admin": "administrator",
    "ass_region": "out of scope: ASS of unit A2, region 1",
    "manager_region": "out of scope: manager of unit A2, region 1",
    "ass_out": "out of scope: ASS of unit B",
    "manager_out": "out of scope: manager of unit B",
    "regional_out": "out of scope: regional manager of region 2",
    "coordinateur_out": "out of scope: coordinator of region 2's cellule",
    "medecin_out": "out of scope: médecin conseil of region 2",
    "anonymous": "anonymous",
}
USERS = list(SCOPE)

# Users who see no individual record of unit A (out of scope, or roles that see only
# aggregates or the cellule's anonymised fiches): the person's name is in none of the pages they
# are shown, lists included.
NO_NAME = {
    "ass_region",
    "manager_region",
    "regional",
    "coordinateur",
    "partenaire",
    "admin",
    "ass_out",
    "manager_out",
    "regional_out",
    "coordinateur_out",
    "medecin_out",
    "anonymous",
}

# Pages that sign the user out: requested with a fresh client, not the shared signed-in one.
SIGNS_OUT = {"logout"}


@dataclass
class Entry:
    expected: dict
    method: str = "get"


def page(profile, *, method="get", **overrides):
    """An entry: a named profile, then per-user overrides (`ass_shared=403`)."""
    unknown = set(overrides) - set(SCOPE)
    assert not unknown, unknown
    return Entry(expected={**profile, **overrides}, method=method)


def post(profile, **overrides):
    """The entry of a POST-only view (its GET answers 405): a POST of empty data."""
    return page(profile, method="post", **overrides)


def every(status, **overrides):
    return {**dict.fromkeys(USERS, status), **overrides}


def allowed(base, status, *users):
    return {**base, **dict.fromkeys(users, status)}


UNIT_A = ("ass_referent", "ass_other", "conseiller", "manager")
UNIT_B = ("ass_region", "manager_region", "ass_out", "ass_shared", "manager_out")
UNIT_STAFF = (*UNIT_A, *UNIT_B)
MANAGERS = ("manager", "manager_region", "manager_out", "regional", "regional_out")

# --- The named profiles ------------------------------------------------------------------------

# Public pages (login_not_required): the same answer whoever asks. Without a code or a
# registration in the session, the assuré's pages send back to the code form (302).
PUBLIC = every(200)
PUBLIC_REDIRECT = every(302)
# Every signed-in user; anonymous to the login page.
SIGNED_IN = every(200, anonymous=LOGIN)
# A record nobody of the dataset sees: 404 (not revealed) for everyone signed in.
NOBODY = every(404, anonymous=LOGIN)
# A page of a role: 403 for the other roles (no record in it is revealed by the refusal).
ROLE_ONLY = every(403, anonymous=LOGIN)
# The pages of the unit roles (ASS, conseiller, manager), whatever their unit: their own lists.
UNIT_PAGE = allowed(ROLE_ONLY, 200, *UNIT_STAFF)
# The person's file (domain §11). Its header (that the case exists, référent, status, meetings
# without notes): the unit's staff and the ASS it is shared with; everyone else 404.
CASE_HEADER = allowed(NOBODY, 200, *UNIT_A, "ass_shared")
# Its content (évaluations, notes, plan, documents, dispositifs, orientations, consents): the
# référent, the manager and the ASS it is shared with; the unit's other staff 403.
CASE_CONTENT = allowed(CASE_HEADER, 403, "ass_other", "conseiller")
CASE_CONTENT_POST = allowed(CASE_CONTENT, OK, "ass_referent", "ass_shared", "manager")
# What the beneficiary of a share does not do (close, suspend, reopen, share onwards):
# the référent and the manager.
CASE_MANAGE = allowed(CASE_CONTENT, 403, "ass_shared")
CASE_MANAGE_POST = allowed(CASE_MANAGE, OK, "ass_referent", "manager")
# Meetings of the case: the content's readers and the conseiller (who books meetings).
CASE_MEETINGS = allowed(CASE_CONTENT, 200, "conseiller")
# The person: who sees one of their cases or referrals, and the médecin conseil of the
# region (their medical referral).
PERSON = allowed(CASE_HEADER, 200, "medecin")
# A social referral of unit A: its staff (a share is of the case, not of the referral).
REFERRAL = allowed(NOBODY, 200, *UNIT_A)
# Working it: the ASS it is assigned to and the manager; the unit's others 403.
REFERRAL_WORK = allowed(REFERRAL, 403, "ass_other", "conseiller")
REFERRAL_WORK_POST = allowed(REFERRAL_WORK, OK, "ass_referent", "manager")
# A medical referral of region 1: its médecin conseil only.
MEDICAL = allowed(NOBODY, 200, "medecin")
# The unit managers' own pages (any unit); the others 403.
MANAGER_PAGE = allowed(ROLE_ONLY, 200, "manager", "manager_region", "manager_out")
MANAGER_POST = allowed(ROLE_ONLY, OK, "manager", "manager_region", "manager_out")
IMPORT = allowed(NOBODY, 200, "conseiller", "manager", "manager_region", "admin")
# The cellule PDP of unit A: its coordinator and its members (the médecin, the partner) see
# its meetings; only the coordinator runs them (members 403); everyone else 404.
CELLULE = allowed(NOBODY, 200, "coordinateur", "partenaire", "medecin")
CELLULE_RUN = allowed(allowed(CELLULE, 403, "partenaire", "medecin"), 200, "coordinateur")
CELLULE_RUN_POST = allowed(CELLULE_RUN, OK, "coordinateur")
# The cellule's own lists: coordinators and members; other roles 403.
CELLULE_PAGE = allowed(ROLE_ONLY, 200, "coordinateur", "coordinateur_out", "partenaire", "medecin")
# Availability (opening hours, absences): an ASS declares her own; the référent's are hers and
# her manager's (unit A's other staff 403, other units' 404); the other roles are refused
# (403) before any lookup, whatever the id, so the refusal reveals nothing.
AVAILABILITY_NEW = allowed(UNIT_PAGE, 403, "conseiller", "manager", "manager_region", "manager_out")
AVAILABILITY = allowed(allowed(ROLE_ONLY, 404, *UNIT_B), 200, "ass_referent", "manager")
AVAILABILITY_POST = allowed(AVAILABILITY, OK, "ass_referent", "manager")
# A collective action of unit A led by the référent: seen by region 1's unit staff (the
# region's offer, where any unit orients people) and its regional manager; run by its
# animateur and the unit's manager (the others 403); 404 elsewhere.
REGION_1_STAFF = (*UNIT_A, "ass_region", "manager_region")
ACTION = allowed(NOBODY, 200, *REGION_1_STAFF, "regional")
ACTION_RUN = allowed(
    allowed(ACTION, 403, *REGION_1_STAFF, "regional"), 200, "ass_referent", "manager"
)
ACTION_RUN_POST = allowed(ACTION_RUN, OK, "ass_referent", "manager")
# The lists of collective actions: the unit roles and the regional managers.
COLLECTIVE_PAGE = allowed(UNIT_PAGE, 200, "regional", "regional_out")
# Campaigns: the managers and regional managers; a campaign of unit A: its manager runs it,
# region 1's regional manager reads it, region 1's other staff 403 (campaigns are seen by
# region, outreach.campaigns.campaigns_visible_to), other regions and roles 404.
CAMPAIGN_PAGE = allowed(ROLE_ONLY, 200, *MANAGERS)
CAMPAIGN = allowed(allowed(NOBODY, 403, *REGION_1_STAFF), 200, "manager", "regional")
RULES_POST = allowed(ROLE_ONLY, OK, *MANAGERS)
CAMPAIGN_RUN = allowed(CAMPAIGN, 403, "regional")
CAMPAIGN_RUN_POST = allowed(CAMPAIGN_RUN, OK, "manager")

CASE = _d(pk="case")

ARGS = {
    "privacy:archive_list": _d(pk="assure"),
    "privacy:archive_generate": _d(pk="assure"),
    "privacy:archive_row": _d(archive_id="archive"),
    "privacy:archive_pdf": _d(archive_id="archive"),
    "privacy:archive_json": _d(archive_id="archive"),
    # referrals
    "referrals:signalement_detail": _d(pk="signalement"),
    "referrals:signalement_contact_add": _d(pk="signalement"),
    "referrals:signalement_status": _d(pk="signalement"),
    "referrals:signalement_assign": _d(pk="signalement"),
    "referrals:signalement_hand_over": _d(pk="signalement"),
    "referrals:signalement_forward": _d(pk="signalement_medical"),
    "referrals:signalement_classify": _d(pk="signalement_medical"),
    "referrals:signalement_medical_record": _d(pk="signalement_medical"),
    "referrals:arret_detail": _d(pk="arret"),
    "referrals:import_detail": _d(pk="import"),
    "referrals:import_rejections_csv": _d(pk="import"),
    "referrals:import_progress": _d(pk="import"),
    # cases
    "cases:signalement_open_case": _d(pk="signalement"),
    "cases:accompagnement_detail": CASE,
    "cases:note_create": CASE,
    "cases:evaluation_list": CASE,
    "cases:evaluation_create": CASE,
    "cases:evaluation_detail": _d(pk="case", version=1),
    "cases:plan_detail": CASE,
    "cases:plan_print": CASE,
    "cases:objectif_create": CASE,
    "cases:objectif_update": _d(pk="case", objectif_pk="objectif"),
    "cases:action_create": _d(pk="case", objectif_pk="objectif"),
    "cases:action_toggle": _d(pk="case", action_pk="action_plan"),
    "cases:orientation_create": CASE,
    "cases:orientation_update": _d(pk="case", orientation_pk="orientation"),
    "cases:consentement_create": CASE,
    "cases:consentement_revoke": _d(pk="case", consentement_pk="consentement"),
    "cases:cloture_create": CASE,
    "cases:case_reopen": CASE,
    "cases:case_suspend": CASE,
    "cases:case_resume": CASE,
    "cases:case_referent": CASE,
    "cases:case_share_create": CASE,
    "cases:case_share_revoke": _d(pk="case", share_pk="share"),
    "cases:assure_detail": _d(pk="assure"),
    "cases:assure_edit": _d(pk="assure"),
    "cases:assure_access_history": _d(pk="assure"),
    "cases:entretien_create": CASE,
    "cases:entretien_edit": _d(pk="entretien"),
    "cases:agenda_ics": _d(token="jeton-inconnu"),
    "cases:document_upload": CASE,
    "cases:document_download": _d(pk="document"),
    "cases:document_delete": _d(pk="document"),
    "cases:dispositif_create": CASE,
    "cases:dispositif_check": CASE,
    "cases:dispositif_detail": _d(pk="case", dpk="dispositif"),
    "cases:dispositif_edit": _d(pk="case", dpk="dispositif"),
    "cases:dispositif_status": _d(pk="case", dpk="dispositif"),
    "cases:dispositif_periode_add": _d(pk="case", dpk="dispositif"),
    "cases:dispositif_periode_delete": _d(pk="case", dpk="dispositif", ppk="periode"),
    "cases:dispositif_renew": _d(pk="case", dpk="dispositif"),
    "cases:availability_plage_edit": _d(pk="plage"),
    "cases:availability_plage_delete": _d(pk="plage"),
    "cases:availability_absence_delete": _d(pk="absence"),
    # coordination (cellule PDP)
    "coordination:instance_detail": _d(pk="instance"),
    "coordination:membre_create": _d(pk="instance"),
    "coordination:membre_end": _d(pk="instance", membre_pk="membre"),
    "coordination:action_report": _d(pk="action_cellule"),
    "coordination:reunion_create": _d(pk="instance"),
    "coordination:reunion_detail": _d(pk="reunion"),
    "coordination:reunion_edit": _d(pk="reunion_planned"),
    "coordination:reunion_step": _d(pk="reunion_planned", step="actualiser-odj"),
    "coordination:reunion_presence_update": _d(pk="reunion_planned", presence_pk="presence"),
    "coordination:reunion_point_update": _d(pk="reunion", point_pk="point"),
    "coordination:reunion_decision_create": _d(pk="reunion", point_pk="point"),
    "coordination:reunion_decision_delete": _d(
        pk="reunion", point_pk="point", decision_pk="decision"
    ),
    "coordination:reunion_action_create": _d(pk="reunion", point_pk="point"),
    "coordination:reunion_addendum_create": _d(pk="reunion"),
    "coordination:saisine_create": _d(case_pk="case"),
    "coordination:saisine_detail": _d(pk="saisine"),
    "coordination:reunion_minutes_pdf": _d(pk="reunion"),
    "coordination:reunion_releve": _d(pk="reunion"),
    "coordination:reunion_releve_pdf": _d(pk="reunion"),
    # collective actions
    "collective:validation_decide": _d(validation_pk="validation", decision="approuver"),
    "collective:action_detail": _d(pk="action"),
    "collective:action_edit": _d(pk="action"),
    "collective:action_step": _d(pk="action", step="publier"),
    "collective:validation_request": _d(pk="action", niveau="region"),
    "collective:seance_create": _d(pk="action"),
    "collective:seance_edit": _d(pk="action", seance_pk="seance"),
    "collective:seance_delete": _d(pk="action", seance_pk="seance"),
    "collective:participants": _d(pk="action"),
    "collective:participant_add": _d(pk="action"),
    "collective:participant_cancel": _d(pk="action", participant_pk="participant"),
    "collective:participant_confirm": _d(pk="action", participant_pk="participant"),
    "collective:attendance": _d(pk="action"),
    "collective:attendance_import": _d(pk="action", seance_pk="seance"),
    # outreach
    "outreach:code_entry": _d(code="CODEINCONNU"),
    "outreach:send_link_signalement": _d(pk="signalement"),
    "outreach:book_for_signalement": _d(pk="signalement"),
    "outreach:send_link_case": CASE,
    "outreach:webinar_invite": _d(pk="action"),
    "outreach:survey_results_unit": _d(unit_pk="unit"),
    "outreach:campaign_detail": _d(pk="campagne"),
    "outreach:campaign_edit": _d(pk="campagne"),
    "outreach:campaign_simulate": _d(pk="campagne"),
    "outreach:campaign_validate": _d(pk="campagne"),
    "outreach:campaign_rule_edit": _d(pk="regle"),
    "outreach:campaign_rule_move": _d(pk="regle"),
    "outreach:campaign_rule_toggle": _d(pk="regle"),
    "outreach:campaign_launch": _d(pk="campagne"),
    "outreach:campaign_send_pending": _d(pk="campagne"),
    "outreach:campaign_close": _d(pk="campagne"),
    "outreach:campaign_letters_prepare": _d(pk="campagne"),
    "outreach:campaign_letters_pdf": _d(pk="campagne", numero=1),
    "outreach:campaign_letters_csv": _d(pk="campagne", numero=1),
    "outreach:calls_reserve": _d(pk="campagne"),
    "outreach:call_record": _d(pk="cible"),
    "outreach:call_release": _d(pk="cible"),
    "outreach:campaign_funnel_csv": _d(pk="campagne"),
}

# A query string some pages need to answer at all (an htmx partial told what it checks).
QUERY = {"cases:dispositif_check": "?type=essai_encadre"}

# The right of access (RGPD art. 15): the manager of the person's unit answers it; those who see
# the person otherwise get 403, the others 404 (cases.permissions.can_request_access_archive).
ARCHIVE = allowed(
    allowed(PERSON, 403, "ass_referent", "ass_other", "conseiller", "ass_shared", "medecin"),
    200,
    "manager",
)
ARCHIVE_POST = allowed(ARCHIVE, OK, "manager")

MATRIX: dict[str, Entry] = {
    # --- the platform ---
    # Each role is sent to its own first page.
    "home": page(every(302, anonymous=LOGIN)),
    "login": page(PUBLIC),
    # Signs out, then the login page, for everyone (requested with a fresh client).
    "logout": post(every(LOGIN)),
    "password_change": page(SIGNED_IN),
    "password_change_done": page(SIGNED_IN),
    "session_keepalive": post(every(204, anonymous=LOGIN)),
    # The end of an idle session: a session still alive (another tab kept it) goes back to
    # the page (302); without a session, the login page with its message.
    "session_expired": page(every(302, anonymous=LOGIN)),
    # The load balancer's health check: no login, the same answer for everyone.
    "health": page(PUBLIC),
    # Two-factor login (the test settings do not require it: every signed-in user may manage
    # their own second factor). The QR code and the codes exist only during an enrolment.
    "two_factor": page(SIGNED_IN),
    "two_factor_verify": page(every(302, anonymous=LOGIN)),
    "two_factor_enrol": page(SIGNED_IN),
    "two_factor_qr": page(NOBODY),
    "two_factor_codes": page(every(302, anonymous=LOGIN)),
    "two_factor_recovery_codes": post(every(OK, anonymous=LOGIN)),
    # --- referrals ---
    "referrals:inbox": page(UNIT_PAGE),
    "referrals:signalement_create": page(UNIT_PAGE),
    "referrals:detection_run": post(MANAGER_POST),
    "referrals:unit_auto_assign": post(MANAGER_POST),
    "referrals:signalement_detail": page(REFERRAL),
    "referrals:signalement_contact_add": post(REFERRAL_WORK_POST),
    "referrals:signalement_status": post(REFERRAL_WORK_POST),
    # The manager assigns.
    "referrals:signalement_assign": post(REFERRAL_WORK_POST, ass_referent=403),
    # The conseiller the referral is assigned to hands it over; this one is the référent's.
    "referrals:signalement_hand_over": post(REFERRAL_WORK_POST, ass_referent=403, manager=403),
    "referrals:medical_list": page(ROLE_ONLY, medecin=200, medecin_out=200),
    "referrals:signalement_forward": page(MEDICAL),
    "referrals:signalement_classify": page(MEDICAL),
    "referrals:signalement_medical_record": page(MEDICAL),
    "referrals:arret_detail": page(PERSON),
    # CPAM imports: managers, conseillers and administrators (referrals.views_import.can_import);
    # an import of region 1 is not shown to unit B.
    "referrals:import_list": page(MANAGER_PAGE, conseiller=200, admin=200),
    # An import of CPAM 761 (region 1): a CPAM's extract covers several units, so the
    # importers of the whole region see it (imports_visible_to); region 2's do not.
    "referrals:import_detail": page(IMPORT),
    "referrals:import_rejections_csv": page(IMPORT),
    "referrals:import_progress": page(IMPORT),
    # --- cases ---
    # Opening the case: its GET sends the allowed ones to the form's page (302).
    "cases:signalement_open_case": page(REFERRAL_WORK, ass_referent=302, manager=302),
    "cases:accompagnement_detail": page(CASE_HEADER),
    "cases:note_create": page(CASE_CONTENT),
    "cases:evaluation_list": page(CASE_CONTENT),
    "cases:evaluation_create": page(CASE_CONTENT),
    "cases:evaluation_detail": page(CASE_CONTENT),
    "cases:plan_detail": page(CASE_CONTENT),
    "cases:plan_print": page(CASE_CONTENT),
    "cases:objectif_create": page(CASE_CONTENT),
    "cases:objectif_update": page(CASE_CONTENT),
    "cases:action_create": page(CASE_CONTENT),
    "cases:action_toggle": post(CASE_CONTENT_POST),
    "cases:orientation_create": page(CASE_CONTENT),
    "cases:orientation_update": page(CASE_CONTENT),
    "cases:consentement_create": page(CASE_CONTENT),
    "cases:consentement_revoke": page(CASE_CONTENT),
    "cases:cloture_create": page(CASE_MANAGE),
    "cases:case_reopen": page(CASE_MANAGE),
    "cases:case_suspend": page(CASE_MANAGE),
    "cases:case_resume": page(CASE_MANAGE),
    # The manager changes the référent (README, « Least privilege on case content »).
    "cases:case_referent": page(CASE_MANAGE, ass_referent=403),
    "cases:case_share_create": page(CASE_MANAGE),
    "cases:case_share_revoke": post(CASE_MANAGE_POST),
    "cases:dashboard": page(UNIT_PAGE),
    "cases:search": page(UNIT_PAGE, medecin=200, medecin_out=200),
    "cases:assure_detail": page(PERSON),
    # The unit's staff who see the person correct their details (cases.permissions.can_edit_assure);
    # the médecin sees them but does not edit.
    "cases:assure_edit": page(CASE_HEADER, medecin=403),
    "cases:entretien_create": page(CASE_MEETINGS),
    "cases:entretien_edit": page(CASE_MEETINGS),
    "cases:agenda": page(UNIT_PAGE),
    "cases:agenda_ics_manage": page(UNIT_PAGE),
    # Public (a calendar client has no session), reached by a secret token: an unknown one is
    # 404 for everyone.
    "cases:agenda_ics": page(every(404)),
    "cases:document_upload": page(CASE_CONTENT),
    "cases:document_download": page(CASE_CONTENT),
    "cases:document_delete": page(CASE_CONTENT),
    "cases:dispositif_create": page(CASE_CONTENT),
    "cases:dispositif_check": post(CASE_CONTENT_POST),
    "cases:dispositif_detail": page(CASE_CONTENT),
    "cases:dispositif_edit": page(CASE_CONTENT),
    "cases:dispositif_status": page(CASE_CONTENT),
    "cases:dispositif_periode_add": page(CASE_CONTENT),
    "cases:dispositif_periode_delete": post(CASE_CONTENT_POST),
    "cases:dispositif_renew": page(CASE_CONTENT),
    # Availability: the ASS for herself, the manager for the unit's ASS (AVAILABILITY).
    "cases:availability": page(UNIT_PAGE, conseiller=403),
    "cases:availability_plage_create": page(AVAILABILITY_NEW),
    "cases:availability_plage_edit": page(AVAILABILITY),
    "cases:availability_plage_delete": post(AVAILABILITY_POST),
    "cases:availability_absence_create": page(AVAILABILITY_NEW),
    "cases:availability_absence_delete": post(AVAILABILITY_POST),
    # « Qui a consulté ce dossier »: the référent and the manager (can_see_access_history).
    "cases:assure_access_history": page(CASE_MANAGE, medecin=403),
    # --- coordination (cellule PDP) ---
    # A member's « / » of the cellule is « mes réunions ».
    "coordination:home": page(CELLULE_PAGE, partenaire=302, medecin=302),
    "coordination:instance_detail": page(CELLULE),
    "coordination:membre_create": post(CELLULE_RUN_POST),
    "coordination:membre_end": post(CELLULE_RUN_POST),
    "coordination:mes_actions": page(CELLULE_PAGE),
    # The action's responsable (the partner) and the coordinator report on it.
    "coordination:action_report": post(NOBODY, coordinateur=OK, partenaire=OK),
    "coordination:mes_reunions": page(CELLULE_PAGE),
    "coordination:reunion_create": page(CELLULE_RUN),
    "coordination:reunion_detail": page(CELLULE),
    "coordination:reunion_edit": page(CELLULE_RUN),
    "coordination:reunion_step": post(CELLULE_RUN_POST),
    "coordination:reunion_presence_update": post(CELLULE_RUN_POST),
    "coordination:reunion_point_update": post(CELLULE_RUN_POST),
    "coordination:reunion_decision_create": post(CELLULE_RUN_POST),
    "coordination:reunion_decision_delete": post(CELLULE_RUN_POST),
    "coordination:reunion_action_create": post(CELLULE_RUN_POST),
    "coordination:reunion_addendum_create": post(CELLULE_RUN_POST),
    # Submitting to the cellule (shares outside the care team): the référent and the manager.
    "coordination:saisine_create": page(CASE_MANAGE),
    "coordination:saisine_list_unit": page(UNIT_PAGE, conseiller=403),
    # The fiche: the case's content readers and the coordinator; the members read what the
    # meeting shows of it, not this page (tests/coordination/test_permission_matrix.py).
    "coordination:saisine_detail": page(CASE_CONTENT, coordinateur=200),
    "coordination:reunion_minutes_pdf": page(CELLULE),
    "coordination:reunion_releve": page(CELLULE),
    "coordination:reunion_releve_pdf": page(CELLULE),
    # --- collective actions ---
    "collective:action_list": page(COLLECTIVE_PAGE),
    "collective:action_create": page(COLLECTIVE_PAGE, conseiller=403),
    "collective:calendar": page(COLLECTIVE_PAGE),
    # Validations: managers (unit level) and regional managers (region level).
    "collective:validation_queue": page(CAMPAIGN_PAGE),
    # The unit-level validation of unit A: its manager; region 1's regional manager sees it (403).
    "collective:validation_decide": post(CAMPAIGN_RUN_POST),
    "collective:action_detail": page(ACTION),
    "collective:action_edit": page(ACTION_RUN),
    "collective:action_step": post(ACTION_RUN_POST),
    "collective:validation_request": post(ACTION_RUN_POST),
    "collective:seance_create": page(ACTION_RUN),
    "collective:seance_edit": page(ACTION_RUN),
    "collective:seance_delete": post(ACTION_RUN_POST),
    "collective:participants": page(ACTION_RUN),
    "collective:participant_add": page(ACTION_RUN),
    "collective:participant_cancel": page(ACTION_RUN),
    "collective:participant_confirm": post(ACTION_RUN_POST),
    "collective:attendance": page(ACTION_RUN),
    "collective:attendance_import": page(ACTION_RUN),
    # --- outreach: the assuré's public pages, then the staff's ---
    "outreach:code_form": page(PUBLIC),
    "outreach:code_entry": page(PUBLIC_REDIRECT),
    "outreach:code_invalid": page(PUBLIC),
    "outreach:identify": page(PUBLIC_REDIRECT),
    "outreach:booking": page(PUBLIC_REDIRECT),
    "outreach:confirmation": page(PUBLIC_REDIRECT),
    "outreach:campaign_refuse": page(PUBLIC_REDIRECT),
    "outreach:ics": page(PUBLIC_REDIRECT),
    "outreach:manage": page(PUBLIC_REDIRECT),
    "outreach:cancel": post(PUBLIC_REDIRECT),
    "outreach:move": page(PUBLIC_REDIRECT),
    "outreach:reminders_toggle": post(PUBLIC_REDIRECT),
    # On the referral (not shared): the ASS it is assigned to and the manager.
    "outreach:send_link_signalement": page(REFERRAL_WORK),
    "outreach:book_for_signalement": page(REFERRAL_WORK),
    "outreach:send_link_case": page(CASE_MEETINGS),
    "outreach:webinar_invite": page(ACTION_RUN),
    "outreach:webinar": page(PUBLIC_REDIRECT),
    "outreach:webinar_register": post(PUBLIC_REDIRECT),
    "outreach:webinar_cancel": post(PUBLIC_REDIRECT),
    "outreach:webinar_confirm": post(PUBLIC_REDIRECT),
    "outreach:webinar_request": post(PUBLIC_REDIRECT),
    "outreach:survey": page(PUBLIC_REDIRECT),
    "outreach:survey_thanks": page(PUBLIC_REDIRECT),
    "outreach:survey_results": page(CAMPAIGN_PAGE),
    # Aggregated answers of unit A: its manager and region 1's; the médecin is refused by role.
    "outreach:survey_results_unit": page(CAMPAIGN, medecin=403),
    "outreach:campaign_list": page(CAMPAIGN_PAGE),
    "outreach:campaign_create": page(CAMPAIGN_PAGE),
    "outreach:campaign_detail": page(CAMPAIGN),
    "outreach:campaign_edit": page(CAMPAIGN_RUN),
    "outreach:campaign_simulate": post(CAMPAIGN_RUN_POST),
    "outreach:campaign_validate": post(CAMPAIGN_RUN_POST),
    "outreach:campaign_rules": page(CAMPAIGN_PAGE),
    # The channel rules are the region's: any of its managers and its regional manager.
    "outreach:campaign_rules_copy": post(RULES_POST),
    # Used to render for any signed-in user (fixed: the rules' own check).
    "outreach:campaign_rule_create": page(CAMPAIGN_PAGE),
    # A rule of region 1: region 2's managers 404.
    "outreach:campaign_rule_edit": page(CAMPAIGN_PAGE, manager_out=404, regional_out=404),
    "outreach:campaign_rule_move": post(RULES_POST, manager_out=404, regional_out=404),
    "outreach:campaign_rule_toggle": post(RULES_POST, manager_out=404, regional_out=404),
    "outreach:campaign_launch": post(CAMPAIGN_RUN_POST),
    "outreach:campaign_send_pending": post(CAMPAIGN_RUN_POST),
    "outreach:campaign_close": post(CAMPAIGN_RUN_POST),
    "outreach:campaign_letters_prepare": post(CAMPAIGN_RUN_POST),
    # No letter batch n° 1 in the dataset: 404 for its manager too.
    "outreach:campaign_letters_pdf": page(CAMPAIGN_RUN, manager=404),
    "outreach:campaign_letters_csv": page(CAMPAIGN_RUN, manager=404),
    # The call list: conseillers and managers of the units.
    "outreach:calls": page(MANAGER_PAGE, conseiller=200),
    # The unit's conseillers reserve calls of its campaign too.
    "outreach:calls_reserve": post(CAMPAIGN_RUN_POST, conseiller=OK),
    # A target of unit A's campaign: the unit's conseillers and manager, who are sent back to
    # their call list while they have not reserved it (302).
    "outreach:call_record": page(CAMPAIGN_RUN, conseiller=302, manager=302),
    "outreach:call_release": post(CAMPAIGN_RUN_POST, conseiller=OK),
    "outreach:campaign_funnel_csv": page(CAMPAIGN),
    # Aggregates only (no individual record): managers, regional managers, coordinators, admin.
    # --- indicators ---
    "indicators:index": page(CAMPAIGN_PAGE, coordinateur=200, admin=200, coordinateur_out=200),
    # The SMS provider's signed reports: no user account involved; without SMS_REPORT_SECRET
    # (the tests' settings) the endpoint answers 503 to everyone.
    "delivery_reports": post(every(503)),
    # --- privacy (data protection) ---
    "privacy:archive_list": page(ARCHIVE),
    "privacy:archive_generate": post(ARCHIVE_POST),
    "privacy:archive_row": page(ARCHIVE),
    # The dataset's archive is past its expiry: 410 with its French page for the manager.
    "privacy:archive_pdf": page(ARCHIVE, manager=410),
    "privacy:archive_json": page(ARCHIVE, manager=410),
    # Administrators only (the page of the retention job's runs and rules).
    "privacy:retention": page(ROLE_ONLY, admin=200),
}
