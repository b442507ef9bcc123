"""Settings for the test suite: the production settings with test-only defaults."""

import os

# Set before the settings read `.env`, whose development values (DEBUG=1…) must not leak in.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # live_server speaks plain HTTP

from pdp.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# No collectstatic before tests: serve static files from the finders, unhashed.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
SMS_BACKEND = "pdp.messaging.backends.LocmemBackend"  # pdp.messaging.outbox
# The suite signs users in with force_login: the second factor is off unless a test turns it
# on (tests/pdp/test_two_factor.py); production's default is on (OTP_REQUIRED).
OTP_REQUIRED = False
# A second alias for the reporting replica, a mirror of the test database (Django opens a
# second connection to it, outside the test's transaction). Unused unless a test sets
# REPORTING_DATABASE_ALIAS = "reporting" and allows the alias
# (tests/pdp/test_reporting_database.py): the suite otherwise runs as without
# REPORTING_DATABASE_URL.
DATABASES["reporting"] = {  # noqa: F405
    **DATABASES["default"],  # noqa: F405
    "ATOMIC_REQUESTS": False,
    "TEST": {"MIRROR": "default"},
}
REPORTING_DATABASE_ALIAS = "default"
# The suite's figures change from one test to the next: the indicators page computes them
# every time unless a test turns the cache on (tests/indicators/test_indicators.py).
INDICATORS_CACHE_SECONDS = 0
