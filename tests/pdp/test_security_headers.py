"""Response headers: a strict Content-Security-Policy, Permissions-Policy, no caching of the
pages (they show personal data), and templates the policy does not break."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import AccompagnementFactory, AssureFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def person_page(client, ass):
    assure = AssureFactory(nom_naissance="Dupré", prenoms="Hélène")
    AccompagnementFactory(assure=assure, referent=ass)
    client.force_login(ass)
    response = client.get(reverse("cases:assure_detail", args=[assure.pk]))
    assert response.status_code == 200
    assert "Dupré" in response.content.decode()
    return response


def directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_pages_carry_a_strict_content_security_policy(person_page):
    csp = directives(person_page)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in person_page.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in person_page.headers["Content-Security-Policy"]


def test_pages_showing_personal_data_are_never_stored_by_a_cache(person_page):
    cache_control = person_page.headers["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control


def test_pages_deny_browser_features_and_send_no_referrer_outside(person_page):
    policy = person_page.headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy
    assert person_page.headers["Referrer-Policy"] == "same-origin"
    assert person_page.headers["X-Frame-Options"] == "DENY"
    assert person_page.headers["X-Content-Type-Options"] == "nosniff"


def test_the_login_page_and_the_admin_carry_the_headers_too(client, admin_user):
    login = client.get(LOGIN)
    assert "no-store" in login.headers["Cache-Control"]
    assert "Content-Security-Policy" in login.headers
    client.force_login(admin_user)
    admin = client.get(reverse("admin:index"))
    assert admin.status_code == 200
    assert "no-store" in admin.headers["Cache-Control"]
    assert directives(admin)["script-src"] == ["'self'"]


def test_static_files_keep_their_cache(client, ass):
    client.force_login(ass)
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_htmx_is_told_not_to_inject_its_style_element(person_page):
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in (
        person_page.content.decode()
    )


INLINE = [
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style[\s>]", re.I), "<style> element"),
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "on… event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_has_inline_script_or_style_that_the_policy_would_block():
    offenders = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        text = re.sub(r"{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.S)
        for pattern, what in INLINE:
            if pattern.search(text):
                offenders.append(f"{path.relative_to(TEMPLATES_DIR)}: {what}")
    assert offenders == []


def test_the_inline_check_catches_what_it_looks_for():
    samples = [
        '<p style="color: red">',
        "<style>p {}</style>",
        "<script>alert(1)</script>",
        '<a onclick="x()">',
        '<a href="javascript:x()">',
    ]
    for sample, (pattern, _) in zip(samples, INLINE, strict=True):
        assert pattern.search(sample)
    assert not INLINE[2][0].search('<script src="/static/js/app.js"></script>')
