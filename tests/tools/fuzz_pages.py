"""Fuzz the running demo as one user: crawl its pages, GET each with hostile query strings and
POST each form with hostile values (years 0001/9999, "²", huge numbers, 6,000 characters, SQL);
print every HTTP 500. Bounded: at most LIMIT pages, only on the address given (loopback).

    .venv/bin/python manage.py runserver 127.0.0.1:8111      # on a seeded demo database
    .venv/bin/python tests/tools/fuzz_pages.py ass.rouen 40 http://127.0.0.1:8111 [/start/]

Uses Debian's chromium through Playwright for the login (django-axes needs a real request)."""

import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

from playwright.sync_api import sync_playwright

BASE = sys.argv[3] if len(sys.argv) > 3 else "http://127.0.0.1:8111"
user = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 60
START = sys.argv[4] if len(sys.argv) > 4 else "/"
HOSTILE_Q = [
    "mois=9999-99",
    "du=0000-00&au=9999-13",
    "questionnaire=%C2%B2",
    "unite=99999999999999999999",
    "q=%00",
    "semaine=9999-W52",
    "page=-1",
    "page=99999999999999999999",
    "o=%C2%B2",
    "vue=%27%22%3E",
    "type=%C2%B2",
    "dispositif=%C2%B2",
    "onglet=xx",
    "ass=abc",
    "statut=zz",
    "mode=zz",
    "kind=zz",
]
VALUES = [
    "9999-12-31",
    "0001-01-01",
    "²",
    "-1",
    "99999999999999999999",
    "x" * 6000,
    "' OR 1=1 --",
    "2026-02-30",
    "25:61",
]


class Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self.cur = None
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            self.cur = {
                "action": a.get("action", ""),
                "method": (a.get("method") or "get").lower(),
                "fields": {},
            }
            self.forms.append(self.cur)
        if self.cur is not None and tag in ("input", "select", "textarea") and a.get("name"):
            self.cur["fields"].setdefault(
                a["name"], a.get("value", "") if a.get("type") != "checkbox" else "on"
            )

    def handle_endtag(self, tag):
        if tag == "form":
            self.cur = None


with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    ctx = b.new_context()
    page = ctx.new_page()
    page.goto(BASE + "/accounts/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "demo-pdp-2026")
    page.click("button[type=submit]")
    seen, queue, errors, n_req = set(), [START, "/"], [], 0
    while queue and len(seen) < limit:
        url = queue.pop(0)
        path = urlparse(url).path
        if (
            path in seen
            or "logout" in path
            or "deconnexion" in path
            or path.startswith("/admin/")
            or path.endswith(".ics")
        ):
            continue
        seen.add(path)
        r = ctx.request.get(BASE + path)
        n_req += 1
        if r.status >= 500:
            errors.append(("GET", path, r.status))
        if "text/html" not in r.headers.get("content-type", ""):
            continue
        parser = Forms()
        parser.feed(r.text())
        for href in parser.links:
            if href.startswith("/") and not href.startswith("//"):
                queue.append(href.split("#")[0])
        for q in HOSTILE_Q:
            rr = ctx.request.get(BASE + path + "?" + q)
            n_req += 1
            if rr.status >= 500:
                errors.append(("GET", path + "?" + q, rr.status))
        for form in parser.forms:
            if form["method"] != "post":
                continue
            action = urljoin(BASE + path, form["action"] or path)
            if "logout" in action or "deconnexion" in action:
                continue
            token = form["fields"].get("csrfmiddlewaretoken", "")
            for v in VALUES:
                data = {k: (token if k == "csrfmiddlewaretoken" else v) for k in form["fields"]}
                rr = ctx.request.post(action, form=data, headers={"Referer": BASE + path})
                n_req += 1
                if rr.status >= 500:
                    errors.append(("POST", urlparse(action).path, v[:20], rr.status))
    print(f"{user}: {len(seen)} pages, {n_req} requests, {len(errors)} errors")
    for e in errors[:40]:
        print("  ", e)
    b.close()
