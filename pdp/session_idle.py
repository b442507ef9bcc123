"""Signed-in sessions end SESSION_IDLE_MINUTES after the user's last request (issue 14, item 4).

A signed-in session records when its activity was last noted (TOUCH_KEY, epoch seconds); a
request that comes SESSION_IDLE_MINUTES after it signs the user out (the login middleware then
sends to the login page). The mark is renewed, and the session saved, only when it is
SESSION_TOUCH_SECONDS old: saving on every request (SESSION_SAVE_EVERY_REQUEST) would add an
UPDATE to every page and htmx call. So the session ends between SESSION_IDLE_MINUTES minus
SESSION_TOUCH_SECONDS and SESSION_IDLE_MINUTES after the last request; session-timeout.js is
given the exact time left (seconds_left).

SESSION_COOKIE_AGE (the database row's life) stays longer: the assurés' anonymous sessions of
the public pages (access codes, an hour to answer a survey) must not end after 30 minutes.
"""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in

TOUCH_KEY = "_idle_touch"


def touch(session):
    """Note activity now (and have the session saved): it ends SESSION_IDLE_MINUTES later."""
    session[TOUCH_KEY] = int(time.time())


def idle_seconds():
    return int(settings.SESSION_IDLE_MINUTES * 60)


def seconds_left(session):
    """Seconds before the session ends if no request comes (the whole delay when unknown)."""
    touched = session.get(TOUCH_KEY)
    if touched is None:
        return idle_seconds()
    return max(int(touched + idle_seconds() - time.time()), 0)


def on_login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        touch(request.session)


def connect():
    user_logged_in.connect(on_login, dispatch_uid="pdp.session_idle.on_login")


POLL_HEADER = "X-PDP-Poll"


class SessionIdleMiddleware:
    """Below the authentication middleware, above the login one: a signed-in session idle for
    SESSION_IDLE_MINUTES is ended; one seen SESSION_TOUCH_SECONDS after its mark is renewed.
    Every request of the user counts as activity, except those sent with the POLL_HEADER
    header (an htmx fragment asking for itself again, such as an import's progress bar): they
    may end an idle session, never renew it, so a page left open does not keep it alive."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and request.user.is_authenticated:
            touched = session.get(TOUCH_KEY)
            idle = None if touched is None else time.time() - touched
            if idle is not None and idle >= idle_seconds():
                logout(request)
            elif request.headers.get(POLL_HEADER):
                pass  # not the user's activity
            elif idle is None or idle >= settings.SESSION_TOUCH_SECONDS:
                touch(session)
        return self.get_response(request)
