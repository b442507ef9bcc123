"""The headers of test_security_headers hold on every page, not only on the few pages that test
opens: the Content-Security-Policy (no inline script or style) and `Cache-Control: no-store`.

The test walks every URL pattern of the project (`get_resolver().url_patterns`, includes and
namespaces too), builds a URL for each, requests it with GET and checks the headers of the
response, whatever its status (a 404 or a 403 shows the site's pages too, and must not be
cached either). Pages that need no login (`login_not_required`: the assuré's booking pages
reached with a code, the survey, the webinar, the agenda feed…) are requested anonymously; the
others as a signed-in user of the role that uses them, on objects of a small dataset. The POST-only
views answer the GET with a 405, whose headers are checked the same way. Every HTML page that
renders (200) is also scanned for what the policy would block (inline script or style, event
handler attributes), widgets and the admin's own templates included. A second walk opens the
booking site's public pages as an assuré who entered a code and their birth date.

A pattern whose route has a parameter must have an entry in ARGS (the kwargs to build its URL
from the dataset, or NOT_FOUND for a dummy id whose 404 is enough): a new page added without one
fails `test_every_pattern_with_parameters_has_an_entry`, naming the pattern. The admin's patterns
are Django's own and are built by one rule (ADMIN_ARGS).
"""

import datetime
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from cases.models import Motif, PlageOuverture
from pdp import access_codes
from pdp.models import AccessCode
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    ArretFactory,
    AssureFactory,
    EntretienFactory,
    InstanceFactory,
    MembreFactory,
    ReunionFactory,
    SaisineFactory,
    SeanceFactory,
    SignalementFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DUMMY = 999_999  # no object has this id: the page answers 404 (or 403), with the same headers

# Pages whose response may be kept by a browser cache: none today. PrivacyHeadersMiddleware
# sends `no-store` on every response of the application (personal or not, to keep the rule
# simple); only the static files, served by whitenoise above it, keep their long cache (checked
# by test_security_headers.test_static_files_keep_their_cache). A page listed here must show no
# personal data, and say why in a comment.
NO_STORE_EXEMPT: set[str] = set()


# The entry of a page whose 404 (or 403) is enough to check its headers: a dummy id for every
# parameter (no object of the dataset would make it render).
NOT_FOUND = "not found"


def _d(**spec):
    """kwargs taken from the dataset: name=key of the dataset (a model instance, its pk is used)
    or name=literal value (an int or a str)."""

    def build(data):
        return {
            name: (data[value].pk if isinstance(value, str) and value in data else value)
            for name, value in spec.items()
        }

    return build


CASE = _d(pk="case")

# Every pattern with a parameter in its route (its namespaced name, or its route when unnamed).
ARGS = {
    # referrals
    "referrals:signalement_detail": _d(pk="signalement"),
    "referrals:signalement_contact_add": _d(pk="signalement"),
    "referrals:signalement_status": _d(pk="signalement"),
    "referrals:signalement_assign": _d(pk="signalement"),
    "referrals:signalement_hand_over": _d(pk="signalement"),
    "referrals:signalement_forward": _d(pk="signalement"),
    "referrals:signalement_classify": _d(pk="signalement"),
    "referrals:signalement_medical_record": _d(pk="signalement"),
    "referrals:arret_detail": _d(pk="arret"),
    "referrals:import_detail": NOT_FOUND,
    "referrals:import_rejections_csv": NOT_FOUND,
    "referrals:import_progress": NOT_FOUND,
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
    "cases:objectif_update": _d(pk="case", objectif_pk=DUMMY),
    "cases:action_create": _d(pk="case", objectif_pk=DUMMY),
    "cases:action_toggle": _d(pk="case", action_pk=DUMMY),
    "cases:orientation_create": CASE,
    "cases:orientation_update": _d(pk="case", orientation_pk=DUMMY),
    "cases:consentement_create": CASE,
    "cases:consentement_revoke": _d(pk="case", consentement_pk=DUMMY),
    "cases:cloture_create": CASE,
    "cases:case_reopen": CASE,
    "cases:case_suspend": CASE,
    "cases:case_resume": CASE,
    "cases:case_referent": CASE,
    "cases:case_share_create": CASE,
    "cases:case_share_revoke": _d(pk="case", share_pk=DUMMY),
    "cases:assure_detail": _d(pk="assure"),
    "cases:assure_edit": _d(pk="assure"),
    "cases:assure_access_history": _d(pk="assure"),
    "cases:entretien_create": CASE,
    "cases:entretien_edit": _d(pk="entretien"),
    "cases:agenda_ics": _d(token="jeton-inconnu"),
    "cases:document_upload": CASE,
    "cases:document_download": NOT_FOUND,
    "cases:document_delete": NOT_FOUND,
    "cases:dispositif_create": CASE,
    "cases:dispositif_check": CASE,
    "cases:dispositif_detail": _d(pk="case", dpk=DUMMY),
    "cases:dispositif_edit": _d(pk="case", dpk=DUMMY),
    "cases:dispositif_status": _d(pk="case", dpk=DUMMY),
    "cases:dispositif_periode_add": _d(pk="case", dpk=DUMMY),
    "cases:dispositif_periode_delete": _d(pk="case", dpk=DUMMY, ppk=DUMMY),
    "cases:dispositif_renew": _d(pk="case", dpk=DUMMY),
    "cases:availability_plage_edit": NOT_FOUND,
    "cases:availability_plage_delete": NOT_FOUND,
    "cases:availability_absence_delete": NOT_FOUND,
    # coordination (cellule PDP)
    "coordination:instance_detail": _d(pk="instance"),
    "coordination:membre_create": _d(pk="instance"),
    "coordination:membre_end": _d(pk="instance", membre_pk="membre"),
    "coordination:action_report": NOT_FOUND,
    "coordination:reunion_create": _d(pk="instance"),
    "coordination:reunion_detail": _d(pk="reunion"),
    "coordination:reunion_edit": _d(pk="reunion"),
    "coordination:reunion_step": _d(pk="reunion", step="etape-inconnue"),
    "coordination:reunion_presence_update": _d(pk="reunion", presence_pk=DUMMY),
    "coordination:reunion_point_update": _d(pk="reunion", point_pk=DUMMY),
    "coordination:reunion_decision_create": _d(pk="reunion", point_pk=DUMMY),
    "coordination:reunion_decision_delete": _d(pk="reunion", point_pk=DUMMY, decision_pk=DUMMY),
    "coordination:reunion_action_create": _d(pk="reunion", point_pk=DUMMY),
    "coordination:reunion_addendum_create": _d(pk="reunion"),
    "coordination:saisine_create": _d(case_pk="case"),
    "coordination:saisine_detail": _d(pk="saisine"),
    "coordination:reunion_minutes_pdf": _d(pk="reunion"),
    "coordination:reunion_releve": _d(pk="reunion"),
    "coordination:reunion_releve_pdf": _d(pk="reunion"),
    # collective actions
    "collective:validation_decide": _d(validation_pk=DUMMY, decision="valider"),
    "collective:action_detail": _d(pk="action"),
    "collective:action_edit": _d(pk="action"),
    "collective:action_step": _d(pk="action", step="etape-inconnue"),
    "collective:validation_request": _d(pk="action", niveau="niveau-inconnu"),
    "collective:seance_create": _d(pk="action"),
    "collective:seance_edit": _d(pk="action", seance_pk="seance"),
    "collective:seance_delete": _d(pk="action", seance_pk="seance"),
    "collective:participants": _d(pk="action"),
    "collective:participant_add": _d(pk="action"),
    "collective:participant_cancel": _d(pk="action", participant_pk=DUMMY),
    "collective:participant_confirm": _d(pk="action", participant_pk=DUMMY),
    "collective:attendance": _d(pk="action"),
    "collective:attendance_import": _d(pk="action", seance_pk="seance"),
    # outreach (booking links, webinars, surveys, campaigns)
    "outreach:code_entry": _d(code="CODEINCONNU"),
    "outreach:send_link_signalement": _d(pk="signalement"),
    "outreach:book_for_signalement": _d(pk="signalement"),
    "outreach:send_link_case": CASE,
    "outreach:webinar_invite": _d(pk="action"),
    "outreach:survey_results_unit": _d(unit_pk="unit"),
    "outreach:campaign_detail": NOT_FOUND,
    "outreach:campaign_edit": NOT_FOUND,
    "outreach:campaign_simulate": NOT_FOUND,
    "outreach:campaign_validate": NOT_FOUND,
    "outreach:campaign_rule_edit": NOT_FOUND,
    "outreach:campaign_rule_move": NOT_FOUND,
    "outreach:campaign_rule_toggle": NOT_FOUND,
    "outreach:campaign_launch": NOT_FOUND,
    "outreach:campaign_send_pending": NOT_FOUND,
    "outreach:campaign_close": NOT_FOUND,
    "outreach:campaign_letters_prepare": NOT_FOUND,
    "outreach:campaign_letters_pdf": NOT_FOUND,
    "outreach:campaign_letters_csv": NOT_FOUND,
    "outreach:calls_reserve": NOT_FOUND,
    "outreach:call_record": NOT_FOUND,
    "outreach:call_release": NOT_FOUND,
    "outreach:campaign_funnel_csv": NOT_FOUND,
    # right of access
    "privacy:archive_list": _d(pk="assure"),
    "privacy:archive_generate": _d(pk="assure"),
    "privacy:archive_row": _d(archive_id="00000000-0000-0000-0000-000000000000"),
    "privacy:archive_pdf": _d(archive_id="00000000-0000-0000-0000-000000000000"),
    "privacy:archive_json": _d(archive_id="00000000-0000-0000-0000-000000000000"),
}

# The admin's patterns come from its ModelAdmins: one rule fills their parameters by name.
ADMIN_ARGS = {
    "object_id": DUMMY,
    "id": DUMMY,
    "content_type_id": DUMMY,
    "app_label": "pdp",
    "url": "page-inconnue/",
}

# The role a signed-in page is requested as, by the start of its name (the longest match wins);
# every other page is requested as the ASS who is the référent of the dataset's case.
ROLE_BY_PREFIX = {
    "admin:": "admin",
    "referrals:medical_list": "medecin",
    "referrals:signalement_forward": "medecin",
    "referrals:signalement_classify": "medecin",
    "referrals:signalement_medical_record": "medecin",
    "referrals:import_": "manager",
    "referrals:unit_auto_assign": "manager",
    "cases:case_referent": "manager",
    "coordination:": "coordinateur",
    "coordination:saisine_create": "ass",
    "coordination:mes_actions": "ass",
    "collective:validation_": "manager",
    "outreach:campaign_": "manager",
    "outreach:survey_results": "manager",
    "indicators:": "manager",
    "privacy:archive_": "manager",
}


def walk(patterns, prefix=(), namespace=""):
    """(key, pattern, route pieces) of every URLPattern, depth first."""
    for pattern in patterns:
        pieces = (*prefix, pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}{pattern.namespace}:"
            yield from walk(pattern.url_patterns, pieces, inner)
        else:
            assert isinstance(pattern, URLPattern)
            route = "".join(str(piece) for piece in pieces)
            yield f"{namespace}{pattern.name or route}", pattern, pieces


PATTERNS = list(walk(get_resolver().url_patterns))

CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def parameters(pieces):
    names = []
    for piece in pieces:
        text = str(piece)
        names += [m["name"] for m in CONVERTER.finditer(text)]
        names += [m["name"] for m in REGEX_GROUP.finditer(text)]
    return names


def build_url(pieces, kwargs):
    url = ""
    for piece in pieces:
        text = str(piece)
        if text.startswith("^"):
            text = text.removeprefix("^").removesuffix("$").removesuffix("\\Z")
            text = REGEX_GROUP.sub(lambda m: str(kwargs[m["name"]]), text)
            text = text.replace("\\", "")
        else:
            text = CONVERTER.sub(lambda m: str(kwargs[m["name"]]), text)
        url += text
    return "/" + url


def kwargs_for(key, pieces, data):
    names = parameters(pieces)
    if not names:
        return {}
    if key.startswith("admin:"):
        return {name: ADMIN_ARGS[name] for name in names}
    if key not in ARGS:
        return None  # reported by test_every_pattern_with_parameters_has_an_entry
    if ARGS[key] == NOT_FOUND:
        return dict.fromkeys(names, DUMMY)
    return ARGS[key](data)


def role_for(key):
    matches = [prefix for prefix in ROLE_BY_PREFIX if key.startswith(prefix)]
    return ROLE_BY_PREFIX[max(matches, key=len)] if matches else "ass"


def directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def header_problems(key, url, response):
    where = f"{key} ({url}, {response.status_code})"
    problems = []
    if "Content-Security-Policy" not in response.headers:
        return [f"{where}: no Content-Security-Policy"]
    csp = directives(response)
    for directive in ("default-src", "script-src", "style-src"):
        if csp.get(directive) != ["'self'"]:
            problems.append(f"{where}: {directive} {csp.get(directive)}")
    policy = response.headers["Content-Security-Policy"]
    if "'unsafe-inline'" in policy or "'unsafe-eval'" in policy:
        problems.append(f"{where}: unsafe source in {policy}")
    if key not in NO_STORE_EXEMPT:
        cache_control = response.headers.get("Cache-Control", "")
        if "no-store" not in cache_control or "private" not in cache_control:
            problems.append(f"{where}: Cache-Control {cache_control!r}")
    return problems


# What the policy would block in a rendered page (test_security_headers scans the templates; this
# scans what the pages render, widgets and the admin's templates included). json_script's
# `<script type="application/json">` is data, not a script: the policy lets it be.
INLINE = [
    (re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style[\s>]", re.I), "<style> element"),
    (
        re.compile(r'<script(?![^>]*\s(?:src=|type="application/json"))[^>]*>', re.I),
        "inline script",
    ),
    (re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I), "on… event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def inline_problems(key, url, response):
    if response.status_code != 200 or "text/html" not in response.headers.get("Content-Type", ""):
        return []
    text = response.content.decode()
    return [f"{key} ({url}): {what}" for pattern, what in INLINE if pattern.search(text)]


def test_the_walker_finds_every_app_and_the_admin():
    keys = [key for key, _, _ in PATTERNS]
    assert len(keys) == len(set(keys)), "two patterns share a name"
    for namespace in (
        "admin",
        "referrals",
        "cases",
        "coordination",
        "collective",
        "outreach",
        "indicators",
    ):
        assert any(key.startswith(f"{namespace}:") for key in keys), namespace
    assert {"home", "login", "delivery_reports"} <= set(keys)
    assert len(keys) > 300


def test_every_pattern_with_parameters_has_an_entry():
    missing = []
    for key, _, pieces in PATTERNS:
        names = parameters(pieces)
        if not names:
            continue
        if key.startswith("admin:"):
            missing += [f"{key} ({name})" for name in names if name not in ADMIN_ARGS]
        elif key not in ARGS:
            missing.append(key)
    assert not missing, (
        "Pages dont le test des en-têtes ne sait pas construire l'adresse : ajoutez-les à ARGS "
        "(tests/pdp/test_headers_every_page.py) : " + ", ".join(missing)
    )
    stale = set(ARGS) - {key for key, _, _ in PATTERNS}
    assert not stale, f"ARGS names patterns that no longer exist: {sorted(stale)}"
    assert not NO_STORE_EXEMPT - {key for key, _, _ in PATTERNS}, (
        "NO_STORE_EXEMPT names an unknown page"
    )


@pytest.fixture
def dataset(unit):
    ass = UserFactory(ass=True, unit=unit)
    assure_case = AccompagnementFactory(referent=ass)
    signalement = SignalementFactory(assure=assure_case.assure, unit=unit)
    coordinateur = UserFactory(coordinateur=True)
    instance = InstanceFactory(region=unit.region, units=[unit], coordinateurs=[coordinateur])
    action = ActionCollectiveFactory(animateur=ass)
    data = {
        "unit": unit,
        "case": assure_case,
        "assure": assure_case.assure,
        "signalement": signalement,
        "arret": ArretFactory(assure=assure_case.assure),
        "entretien": EntretienFactory(accompagnement=assure_case),
        "instance": instance,
        "membre": MembreFactory(instance=instance),
        "reunion": ReunionFactory(instance=instance),
        "saisine": SaisineFactory(accompagnement=assure_case, instance=instance),
        "action": action,
        "seance": SeanceFactory(action=action),
    }
    users = {
        "ass": ass,
        "manager": UserFactory(manager=True, unit=unit),
        "medecin": UserFactory(medecin=True, region=unit.region),
        "coordinateur": coordinateur,
        "admin": UserFactory(admin=True),
    }
    return data, users


def test_every_page_carries_the_policy_and_no_store(dataset):
    data, users = dataset
    clients = {None: Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    problems, statuses = [], {}
    for key, pattern, pieces in PATTERNS:
        kwargs = kwargs_for(key, pieces, data)
        if kwargs is None:
            continue
        url = build_url(pieces, kwargs)
        match = resolve(url)
        assert match.func == pattern.callback, f"{key}: {url} resolves to {match.view_name}"
        public = getattr(pattern.callback, "login_required", True) is False
        response = clients[None if public else role_for(key)].get(url)
        statuses[key] = response.status_code
        problems += header_problems(key, url, response)
        problems += inline_problems(key, url, response)
    assert not problems, "\n".join(problems)
    # The dataset makes the walk reach real pages, not only 404s and redirects.
    rendered = [key for key, status in statuses.items() if status == 200]
    assert len(rendered) > 100, statuses


def test_the_public_pages_of_an_identified_assure_carry_them_too(unit):
    """The walk above reaches the booking pages without a code (they redirect); here an assuré
    enters a code and their birth date, then opens every public page of the booking site: the
    pages that show their appointment and their name."""
    Motif.objects.get_or_create(label="Premier rendez-vous", defaults={"duree_minutes": 60})
    PlageOuverture.objects.create(
        ass=UserFactory(ass=True, unit=unit),
        weekday=1,
        heure_debut=datetime.time(9, 0),
        heure_fin=datetime.time(12, 0),
        lieu="Agence de Rouen",
        modes=["sur_place"],
        premier_jour=timezone.localdate() - datetime.timedelta(days=30),
    )
    assure = AssureFactory(date_naissance=datetime.date(1985, 5, 12))
    referral = SignalementFactory(assure=assure, unit=unit)
    _row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.BOOKING,
        assure_id=assure.pk,
        expires_at=timezone.now() + datetime.timedelta(days=30),
        object_type="referrals.signalement",
        object_id=referral.pk,
    )
    client = Client()
    client.get(f"/r/{code}/")
    identified = client.post(reverse("outreach:identify"), {"jour": 12, "mois": 5, "annee": 1985})
    assert identified.status_code == 302
    assert client.get(reverse("outreach:booking")).status_code == 200
    problems, walked = [], 0
    for key, pattern, pieces in PATTERNS:
        public = getattr(pattern.callback, "login_required", True) is False
        if public and key.startswith("outreach:") and not parameters(pieces):
            url = build_url(pieces, {})
            problems += header_problems(key, url, client.get(url))
            walked += 1
    assert not problems, "\n".join(problems)
    assert walked > 15


def test_the_rendered_page_check_catches_what_it_looks_for():
    samples = [
        '<p class="x" style="color: red">',
        "<style>p {}</style>",
        "<script>alert(1)</script>",
        '<a href="#" onclick="x()">',
        '<a href="javascript:x()">',
    ]
    for sample, (pattern, _) in zip(samples, INLINE, strict=True):
        assert pattern.search(sample), sample
    allowed = '<script src="/static/js/app.js"></script><script type="application/json" id="d">'
    assert not any(pattern.search(allowed) for pattern, _ in INLINE)
