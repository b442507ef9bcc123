"""The authorization matrix: every URL pattern × every role, in and out of scope (issue 14).

For every URL pattern of the project, `tests/pdp/authorization_matrix.py` states the status each
user of the dataset (`tests/pdp/authorization_dataset.py`) gets: the users of unit A's scope (the
ASS référent of the case, another ASS of unit A, an ASS of unit B the case is shared with, the
conseiller and the manager of unit A, the regional manager of region 1, the coordinator and a
partner member of unit A's cellule, the médecin conseil of region 1, the administrator), users out
of its scope (an ASS and the manager of unit A2, another unit of region 1, an ASS and the manager of
unit B, the regional manager of region 2, the coordinator of region 2's cellule, the médecin conseil
of region 2) and anonymous. Each page is requested on the objects of unit A (the URL is built as in
test_headers_every_page), with GET, or for a POST-only view with a POST of empty data: the
permission answer comes before validation, so the wrong people get their 403/404 and the right ones
`OK` (a form error 200, a redirect 302, a 204, or a 400). The users who see no individual record of
unit A (matrix.NO_NAME) must also not find the person's name in what they are shown, lists and CSV
exports included.

The POST of a page whose GET shows a form is refused to the same people, with the same status
(or a 405 where the view takes no POST).

A pattern without an entry fails `test_every_pattern_has_an_entry`, naming it; an entry for a
pattern that no longer exists fails it too. Each pattern is one test (parametrized) that lists
every cell that differs: role, scope, expected, actual. Each request runs in a savepoint rolled
back after it, so that a POST changes nothing for the next cell; the dataset is built once for
the module.

The Django admin's patterns (Django's own, from the ModelAdmins) follow one rule instead of an
entry each: the administrator is let in; any other signed-in user is sent to the admin's login
page, and so is anonymous (or to the site's login page). Its index is requested as every user,
its other pages as the administrator, a manager and anonymous (the admin's one check,
`AdminSite.has_permission`, does not depend on the page).
"""

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import resolve

from tests.pdp import authorization_matrix as matrix
from tests.pdp.authorization_dataset import PERSON_NAME, build
from tests.pdp.test_headers_every_page import ADMIN_ARGS, PATTERNS, build_url, parameters

pytestmark = pytest.mark.django_db

KEYS = [key for key, _, _ in PATTERNS]
PIECES = {key: (pattern, pieces) for key, pattern, pieces in PATTERNS}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The dataset and one signed-in client per user, built once, rolled back at the end."""
    media = override_settings(
        MEDIA_ROOT=str(tmp_path_factory.mktemp("media")),
        # The matrix looks up an unknown access code as every user: not a brute force.
        ACCESS_CODE_RATE_LIMIT=10_000,
    )
    media.enable()
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            data, users = build()
            clients = {}
            for name, user in users.items():
                clients[name] = Client(raise_request_exception=False)
                if user is not None:
                    clients[name].force_login(user)
            yield data, users, clients
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            media.disable()


def url_for(key, data):
    pattern, pieces = PIECES[key]
    names = parameters(pieces)
    if key.startswith("admin:"):
        kwargs = {name: ADMIN_ARGS[name] for name in names}
    else:
        kwargs = matrix.ARGS[key](data) if names else {}
    url = build_url(pieces, kwargs)
    assert resolve(url).func == pattern.callback, f"{key}: {url}"
    return url + matrix.QUERY.get(key, "")


def request_cell(world, key, method, user_key):
    data, users, clients = world
    client = clients[user_key]
    if key in matrix.SIGNS_OUT:
        client = Client(raise_request_exception=False)
        if users[user_key] is not None:
            client.force_login(users[user_key])
    url = url_for(key, data)
    with transaction.atomic():
        response = getattr(client, method)(url)
        transaction.set_rollback(True)
    return url, response


def actual(response, login_url):
    """The status, with a redirect to the login page told apart from any other redirect."""
    if response.status_code == 302 and response.url.startswith(login_url):
        return matrix.LOGIN
    return response.status_code


def shows_the_person(response):
    """The person's name in a page or a CSV (PDFs and streamed files are not read)."""
    if response.streaming or "pdf" in response.headers.get("Content-Type", ""):
        return False
    return PERSON_NAME.encode() in response.content


def test_every_pattern_has_an_entry():
    missing = [key for key in KEYS if not key.startswith("admin:") and key not in matrix.MATRIX]
    assert not missing, (
        "Pages sans entrée dans la matrice des droits : ajoutez-les à MATRIX "
        "(tests/pdp/authorization_matrix.py) : " + ", ".join(missing)
    )
    stale = set(matrix.MATRIX) - set(KEYS)
    assert not stale, f"MATRIX names patterns that no longer exist: {sorted(stale)}"
    with_parameters = {key for key in KEYS if parameters(PIECES[key][1])}
    no_args = {key for key in with_parameters - set(matrix.ARGS) if not key.startswith("admin:")}
    assert not no_args, f"Patterns with parameters missing from ARGS: {sorted(no_args)}"
    assert not set(matrix.ARGS) - with_parameters, "ARGS names an unknown pattern"


def test_every_entry_states_every_user():
    problems = []
    for key, entry in matrix.MATRIX.items():
        missing = set(matrix.USERS) - set(entry.expected)
        unknown = set(entry.expected) - set(matrix.USERS)
        if missing or unknown:
            problems.append(f"{key}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", [key for key in KEYS if not key.startswith("admin:")])
def test_the_page_answers_each_user_as_its_entry_says(world, key):
    entry = matrix.MATRIX.get(key)
    if entry is None:
        pytest.fail(f"{key} has no entry in MATRIX (tests/pdp/authorization_matrix.py)")
    login_url = "/accounts/login/"
    mismatches = []
    for user_key in matrix.USERS:
        expected = entry.expected[user_key]
        url, response = request_cell(world, key, entry.method, user_key)
        found = actual(response, login_url)
        if not matrix.matches(expected, found):
            mismatches.append(
                f"{key} {entry.method.upper()} {url} as {user_key} "
                f"({matrix.SCOPE[user_key]}): expected {expected}, got {found}"
            )
        elif user_key in matrix.NO_NAME and shows_the_person(response):
            mismatches.append(
                f"{key} {entry.method.upper()} {url} as {user_key} "
                f"({matrix.SCOPE[user_key]}): the page shows the person's name"
            )
    assert not mismatches, "\n".join(mismatches)


REFUSALS = {403, 404, matrix.LOGIN}
GET_ENTRIES = [
    key
    for key, entry in matrix.MATRIX.items()
    if entry.method == "get" and REFUSALS & set(entry.expected.values())
]


@pytest.mark.parametrize("key", GET_ENTRIES)
def test_a_post_is_refused_to_whoever_the_get_refuses(world, key):
    """A view that shows a form checks the same rule on its POST: each user its GET refuses
    (403, 404, the login page) gets the same refusal, or a 405 where the view takes no POST,
    from a POST of empty data, never a form error or a change."""
    entry = matrix.MATRIX[key]
    mismatches = []
    for user_key, expected in entry.expected.items():
        if expected not in REFUSALS:
            continue
        url, response = request_cell(world, key, "post", user_key)
        found = actual(response, "/accounts/login/")
        if found not in (expected, 405):
            mismatches.append(
                f"{key} POST {url} as {user_key} ({matrix.SCOPE[user_key]}): "
                f"expected {expected} as its GET, got {found}"
            )
    assert not mismatches, "\n".join(mismatches)


ADMIN_KEYS = [key for key in KEYS if key.startswith("admin:")]
# The admin's login and logout pages are open to everyone.
ADMIN_OPEN = {"admin:login", "admin:logout"}
ADMIN_USERS = ["admin", "manager", "anonymous"]


def admin_cell(world, key, user_key):
    """(ok, message): whether `user_key` gets what the admin's one rule says. The
    administrator is let in (whatever the page then answers on a dummy object, but neither a
    login page nor a 500); a signed-in non-administrator is sent to the admin's login page;
    anonymous to the admin's, or to the site's where LoginRequiredMiddleware answers first."""
    url, response = request_cell(world, key, "get", user_key)
    if user_key == "admin":
        found = response.status_code
        to_a_login = found == 302 and "/login/" in response.url
        ok = found != 500 and not to_a_login
    else:
        found = actual(response, "/admin/login/")
        if user_key == "anonymous" and found != matrix.LOGIN:
            found = actual(response, "/accounts/login/")
        ok = found == matrix.LOGIN
    return ok, f"{key} GET {url} as {user_key} ({matrix.SCOPE[user_key]}): got {found}"


def test_the_admin_index_is_for_administrators_only(world):
    """Every user of the matrix on the admin's index."""
    problems = [
        message
        for ok, message in (admin_cell(world, "admin:index", u) for u in matrix.USERS)
        if not ok
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", [key for key in ADMIN_KEYS if key not in ADMIN_OPEN])
def test_every_admin_page_is_for_administrators_only(world, key):
    """Django's admin lets in by one check (`AdminSite.has_permission`, the same for every
    page and every role): each page is requested as the administrator, a manager and
    anonymous; the index above as every user."""
    problems = [
        message for ok, message in (admin_cell(world, key, u) for u in ADMIN_USERS) if not ok
    ]
    assert not problems, "\n".join(problems)
