"""Settings of the page benchmark's server only (`manage.py bench_pages` starts gunicorn with
DJANGO_SETTINGS_MODULE=indicators.bench_settings): the project's settings, plus a URLconf with
a trivial view. Production never loads this module, so the trivial view is not reachable there.
"""

import os

from pdp.settings import *  # noqa: F403

ROOT_URLCONF = "indicators.bench_urls"
# The pages' HTML only names static files (wrk does not fetch them): no collectstatic needed.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# `bench_pages --conn-max-age N`: another connection lifetime than the settings' (0: one
# PostgreSQL connection per request, as behind PgBouncer in transaction mode).
if "BENCH_CONN_MAX_AGE" in os.environ:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_CONN_MAX_AGE"])  # noqa: F405
