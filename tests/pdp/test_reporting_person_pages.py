"""No page of a person reads the reporting replica (pdp.db; README « Production »): a replica
lags the primary, and a person's page must show what was just written. Walks every page of
PERSON_PAGES (the access-log walk of test_audit_every_page) with the replica configured (the
second alias of pdp/settings_test.py) and counts the queries on it."""

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.pdp.test_audit_every_page import PERSON_PAGES, people  # noqa: F401 (fixture)
from tests.pdp.test_headers_every_page import (  # noqa: F401 (the walker's fixture)
    PATTERNS,
    build_url,
    dataset,
    kwargs_for,
    role_for,
)

pytestmark = pytest.mark.django_db(databases=["default", "reporting"])


def test_no_page_of_a_person_reads_the_replica(people, settings):  # noqa: F811
    """Every page of PERSON_PAGES (the access-log walk), with the replica configured: not one
    query on it (a person's page must show what was just written)."""
    settings.REPORTING_DATABASE_ALIAS = "reporting"
    replica = connections["reporting"]
    data, users = people
    patterns = {key: (pattern, pieces) for key, pattern, pieces in PATTERNS}
    walked, read_there = 0, []
    for key, shows in PERSON_PAGES.items():
        pattern, pieces = patterns[key]
        client = Client()
        if getattr(pattern.callback, "login_required", True) is not False:
            client.force_login(users[shows.role or role_for(key)])
        if shows.before is not None:
            shows.before(client, data)
        kwargs = shows.kwargs(data) if shows.kwargs else kwargs_for(key, pieces, data)
        with CaptureQueriesContext(replica) as on_replica:
            response = client.get(
                build_url(pieces, kwargs), shows.query(data) if shows.query else None
            )
        walked += 1
        assert response.status_code == 200, key
        if on_replica:
            read_there.append(key)
    assert walked == len(PERSON_PAGES) >= 30
    assert not read_there, f"Pages de personnes lues sur le réplica : {read_there}"
