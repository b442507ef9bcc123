"""Settings for PDP. Everything that differs between machines comes from the environment."""

import datetime
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` file (written by `make run` for development) fills in what the environment lacks;
# ENV_FILE names another file (the tests' subprocesses use os.devnull to ignore it).
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-not-for-production")
else:
    SECRET_KEY = env("SECRET_KEY")  # mandatory when DEBUG is off
# Former keys, still accepted while what they signed lives on (sessions, access codes sent
# by SMS or letter: keep an old key here until the codes issued under it have expired).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "pdp",
    "referrals",
    "cases",
    "coordination",
    "collective",
    "outreach",
    "indicators",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below whitenoise: static files keep their long cache and get none of these headers.
    "csp.middleware.CSPMiddleware",
    "pdp.middleware.PrivacyHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session's second factor (pdp.two_factor).
    "django_otp.middleware.OTPMiddleware",
    "pdp.middleware.RejectNulBytesMiddleware",
    "pdp.session_idle.SessionIdleMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Below the login one: a signed-in user who has not given their code yet is sent to it.
    "pdp.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a lockout flagged by the axes backend into the French lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pdp.urls"
WSGI_APPLICATION = "pdp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pdp.context_processors.navigation",
                "pdp.context_processors.session_timeout",
            ],
        },
    },
]

# Databases (README « Production »). Each process has a role, PDP_PROCESS_ROLE — `web`
# (gunicorn.conf.py sets it), `worker` (the Procfile's Celery workers) or `command` (anything
# else: manage.py, beat) — that chooses its PostgreSQL timeouts: a web request is short and
# must not wait behind a lock, a job's statement may run for minutes, an operator's command
# (migrate, generate_volume) is watched and has no statement limit. Seconds, 0 for none;
# DB_STATEMENT_TIMEOUT and DB_LOCK_TIMEOUT override them.
PROCESS_TIMEOUTS = {"web": (10, 5), "worker": (600, 150), "command": (0, 150)}
PROCESS_ROLE = env("PDP_PROCESS_ROLE", default="command")
if PROCESS_ROLE not in PROCESS_TIMEOUTS:
    raise ImproperlyConfigured(f"PDP_PROCESS_ROLE must be one of {', '.join(PROCESS_TIMEOUTS)}")
DB_STATEMENT_TIMEOUT = env.int("DB_STATEMENT_TIMEOUT", default=PROCESS_TIMEOUTS[PROCESS_ROLE][0])
DB_LOCK_TIMEOUT = env.int("DB_LOCK_TIMEOUT", default=PROCESS_TIMEOUTS[PROCESS_ROLE][1])
# PGBOUNCER=1: the URLs lead to PgBouncer in transaction mode, where consecutive transactions
# of one connection may run on different server connections. Then no server-side cursor
# (they outlive a transaction), no startup `options` (PgBouncer refuses them: the timeouts
# and jit=off are set on the database roles instead, README) and no persistent connection
# by default (PgBouncer holds the pool).
PGBOUNCER = env.bool("PGBOUNCER", default=False)


def database(url_variable, default=None):
    """The settings of one database from its URL, as every alias of PDP needs them."""
    db = env.db(url_variable, default=default)
    db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if PGBOUNCER else 60)
    db["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    if db["ENGINE"] != "django.db.backends.postgresql":
        return db
    db["DISABLE_SERVER_SIDE_CURSORS"] = PGBOUNCER
    options = db.setdefault("OPTIONS", {})
    # An unreachable server fails the request (or the health check) quickly.
    options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    if not PGBOUNCER:
        # No JIT compilation: on this application's queries (a page's, the indicators'
        # grouped counts) it costs 100–200 ms of compiling for queries that run in less
        # (measured, issue 13); PostgreSQL's own advice for short queries.
        options.setdefault(
            "options",
            f"-c jit=off -c statement_timeout={DB_STATEMENT_TIMEOUT}s "
            f"-c lock_timeout={DB_LOCK_TIMEOUT}s",
        )
    return db


DATABASES = {"default": database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
# A reporting replica (a streaming standby of the primary): only the code that asks for it
# reads there — the indicators page and its exports, through `pdp.db.reporting_alias()`;
# nothing is routed to it implicitly and nothing is written or migrated there
# (`pdp.db_router`); no transaction per request there either.
if env("REPORTING_DATABASE_URL", default=""):
    DATABASES["reporting"] = database("REPORTING_DATABASE_URL")
REPORTING_DATABASE_ALIAS = "reporting" if "reporting" in DATABASES else "default"
DATABASE_ROUTERS = ["pdp.db_router.PrimaryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "pdp.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Brute-force protection (django-axes): an account is locked after AXES_FAILURE_LIMIT failed
# logins from anywhere, and so is an address after as many failures on any accounts, for
# AXES_COOLOFF_MINUTES. The axes backend comes first: it refuses a locked login before the
# password is even checked. A success does not wipe the failures (it would let anyone with an
# account reset the counter of the address they attack from). Unlock with
# `manage.py axes_reset_username <identifiant>` or `axes_reset_ip <adresse>`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_COOLOFF_MESSAGE = (
    "Compte ou poste verrouillé après trop de tentatives de connexion : réessayez plus tard."
)
AXES_CLIENT_IP_CALLABLE = "pdp.middleware.client_ip"
# Behind a reverse proxy, the client's address is in X-Forwarded-For: the number of proxies we
# run in front of Django says which entry of it to trust (0: none, REMOTE_ADDR is the client).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_DISABLE_ACCESS_LOG = True  # failures only: no table of every login to purge
AXES_ENABLE_ADMIN = False  # the admin is for reference data and users (pdp/admin_base.py)
AXES_VERBOSE = False  # no start-up banner; failures and lockouts are still logged (masked)
# The code of the verification page is masked too where axes records a failure.
AXES_SENSITIVE_PARAMETERS = ["otp_token"]

# Two-factor login (pdp.two_factor, issue 14): every account can see personal data, so with
# OTP_REQUIRED every signed-in user gives a code of their authenticator app (TOTP) or a
# recovery code after the password, and enrols at their first login. `make run` turns it off
# for the demo unless OTP_REQUIRED is set. A wrong code counts as a failed login for axes (the
# one lockout rule): django-otp's own growing delays are off.
OTP_REQUIRED = env.bool("OTP_REQUIRED", default=True)
OTP_TOTP_ISSUER = "PDP Service social"
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0

# Look-ups of access codes (pdp.access_codes) allowed per client address and minute.
ACCESS_CODE_RATE_LIMIT = env.int("ACCESS_CODE_RATE_LIMIT", default=30)

LANGUAGE_CODE = "fr-fr"
# French only: otherwise LocaleMiddleware follows a browser that asks for English and Django's
# own texts (the admin, form errors) come out in English.
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Uploaded documents hold personal data: they live outside the web root and are only
# served by permission-checked views (never through MEDIA_URL).
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Files the application writes for staff only (the campaign letter batches, which hold clear
# booking codes): never under a served directory, downloaded through permission-checked views.
PRIVATE_MEDIA_ROOT = env.path("PRIVATE_MEDIA_ROOT", default=BASE_DIR / "var" / "private")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Redis: Celery broker, results and cache. Without it, tasks run eagerly in-process.
REDIS_URL = env("REDIS_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task modules that autodiscovery (`<app>.tasks`) does not find.
CELERY_IMPORTS = ("privacy.tasks_archive",)
# Queues by latency, each consumed by its own workers (Procfile), so that a long import or
# the nightly statistics never delay a notice or an SMS: `interactif` (short jobs a user or a
# minute-level schedule waits for), `envois` (SMS and e-mails, bounded by the providers),
# `imports` (long jobs started by a user: CPAM imports, detection scans, letter batches,
# access archives), `stats` (nightly heavy jobs: snapshots, retention, purges). Every task is
# named here (tests/pdp/test_production.py fails on a task without a route).
CELERY_TASK_QUEUES = [Queue(name) for name in ("interactif", "envois", "imports", "stats")]
CELERY_TASK_DEFAULT_QUEUE = "interactif"
CELERY_TASK_ROUTES = {
    name: {"queue": queue}
    for queue, names in {
        "interactif": (
            "pdp.tasks.health_check",
            "collective.tasks.expire_participants",
        ),
        "envois": (
            "pdp.messaging.tasks.deliver_message",
            "pdp.messaging.tasks.deliver_messages",
            "pdp.messaging.tasks.deliver_overdue_messages",
            "coordination.tasks.send_convocations",
            "coordination.tasks.send_action_notice",
            "outreach.tasks.send_reminders",
            "outreach.tasks.send_webinar_messages",
            "outreach.tasks.send_surveys",
            "outreach.tasks.send_pending_surveys",
            "outreach.tasks.send_campaign_invitations",
            "outreach.tasks.send_campaign_pending",
            "outreach.tasks.campaigns_daily",
        ),
        "imports": (
            "referrals.tasks.import_cpam_extract_task",
            "referrals.tasks.scan_arrets_task",
            "outreach.tasks.build_letter_batch",
            "privacy.tasks_archive.build_access_archive",
        ),
        "stats": (
            "pdp.tasks.ensure_monthly_partitions",
            "indicators.tasks.snapshot_all",
            "indicators.tasks.snapshot_region",
            "privacy.tasks.retention_nightly",
            "privacy.tasks_archive.purge_expired_access_archives",
        ),
    }.items()
    for name in names
}
# A worker reserves one task at a time beyond those it runs: a long job does not hold back
# tasks that another worker of the queue could run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DOCUMENT_MAX_SIZE = env.int("DOCUMENT_MAX_SIZE", default=10 * 1024 * 1024)

# E-mail (convocations and actions of the cellule PDP: a link, never case content). Without
# EMAIL_URL the messages are written to the console (development).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="PDP Service social <pdp@localhost>")
# SMS (pdp.messaging): the backend class, like EMAIL_BACKEND. Console by default; the HTTP
# provider adapter (pdp.messaging.backends.HttpBackend) POSTs JSON to SMS_API_URL with
# SMS_API_KEY as a Bearer token. No SMS between SMS_QUIET_START and SMS_QUIET_END (Europe/Paris),
# nor on Sundays and public holidays: they wait for the next allowed moment.
SMS_BACKEND = env("SMS_BACKEND", default="pdp.messaging.backends.ConsoleBackend")
SMS_FILE_PATH = env("SMS_FILE_PATH", default=str(BASE_DIR / "sms-messages"))
SMS_API_URL = env("SMS_API_URL", default="")
SMS_API_KEY = env("SMS_API_KEY", default="")
SMS_SENDER = env("SMS_SENDER", default="")
SMS_QUIET_START = env("SMS_QUIET_START", default="20:00")
SMS_QUIET_END = env("SMS_QUIET_END", default="08:00")
# The SMS provider's delivery reports (pdp.messaging.reports), POSTed to /messagerie/accuses/
# signed with HMAC-SHA256 of the body under SMS_REPORT_SECRET (empty: the endpoint answers
# 503). A running campaign warns when no report has come for DELIVERY_REPORT_STALE_HOURS
# while its SMS have been sent for that long.
SMS_REPORT_SECRET = env("SMS_REPORT_SECRET", default="")
DELIVERY_REPORT_STALE_HOURS = env.int("DELIVERY_REPORT_STALE_HOURS", default=4)
# The address of this site, for the links e-mails carry.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# How long a booking link sent by SMS, e-mail or letter stays valid (days).
BOOKING_LINK_DAYS = env.int("BOOKING_LINK_DAYS", default=30)
# Satisfaction surveys (outreach.surveys): the barometer goes SURVEY_DELAY_DAYS after a
# closure, one reminder SURVEY_REMINDER_DAYS after it if not answered, the link is valid
# SURVEY_LINK_DAYS.
SURVEY_DELAY_DAYS = env.int("SURVEY_DELAY_DAYS", default=7)
SURVEY_REMINDER_DAYS = env.int("SURVEY_REMINDER_DAYS", default=7)
SURVEY_LINK_DAYS = env.int("SURVEY_LINK_DAYS", default=30)
# Right of access (privacy.archive): an archive's download links work ACCESS_ARCHIVE_DAYS after
# it is ready; the nightly purge then removes its files.
ACCESS_ARCHIVE_DAYS = env.int("ACCESS_ARCHIVE_DAYS", default=7)

# Retention (privacy.retention, nightly at 03:30): a person without any contact for
# RETENTION_INACTIVITY_DAYS is anonymised, warned RETENTION_WARNING_DAYS before on the
# dashboards; message receipts are blanked after RETENTION_MESSAGE_DAYS and deleted after
# RETENTION_MESSAGE_DELETE_DAYS (whole months dropped as partitions; a system check keeps it at
# least RETENTION_INACTIVITY_DAYS, so that no person's last activity loses a message);
# access-log rows are removed after RETENTION_AUDIT_DAYS; RETENTION_BATCH people per
# transaction. The indicator snapshots recompute a stored month only while it is one of the
# last INDICATORS_RECOMPUTE_MONTHS (a system check keeps the inactivity longer than that
# window).
RETENTION_INACTIVITY_DAYS = env.int("RETENTION_INACTIVITY_DAYS", default=730)
RETENTION_WARNING_DAYS = env.int("RETENTION_WARNING_DAYS", default=30)
RETENTION_MESSAGE_DAYS = env.int("RETENTION_MESSAGE_DAYS", default=183)
RETENTION_MESSAGE_DELETE_DAYS = env.int("RETENTION_MESSAGE_DELETE_DAYS", default=730)
RETENTION_AUDIT_DAYS = env.int("RETENTION_AUDIT_DAYS", default=365)
RETENTION_BATCH = env.int("RETENTION_BATCH", default=200)
INDICATORS_RECOMPUTE_MONTHS = env.int("INDICATORS_RECOMPUTE_MONTHS", default=13)
# The indicators page keeps the figures it computed for a scope, filters and period this many
# seconds in the cache (0: none), and says when they were counted (README « Indicators at
# national volume »).
INDICATORS_CACHE_SECONDS = env.int("INDICATORS_CACHE_SECONDS", default=300)

# Signed-in sessions end after SESSION_IDLE_MINUTES without a request (issue 14, item 4):
# pdp.session_idle notes the activity (saving the session when its mark is SESSION_TOUCH_SECONDS
# old, not on every request) and signs out an idle session; static/js/session-timeout.js warns
# SESSION_WARNING_MINUTES before and offers « Rester connecté » (/session/prolonger/).
# SESSION_COOKIE_AGE, the stored session's life, stays 8 h for the assurés' anonymous sessions of
# the public pages (an hour to answer a survey). Sessions also end when the browser closes.
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
SESSION_WARNING_MINUTES = env.int("SESSION_WARNING_MINUTES", default=5)
SESSION_TOUCH_SECONDS = 60
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): only this site's own files; no inline script or style
# anywhere (templates use classes of static/css/app.css, behaviours live in static/js/).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Bootstrap draws its icons as data: SVG in its CSS
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (pdp.middleware): no page needs any of these browser features.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The load balancer probes the health check over plain HTTP (pdp.health).
    SECURE_REDIRECT_EXEMPT = [r"^sante/$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # No access code in any log line (pdp/logging.py).
    "filters": {"redact_codes": {"()": "pdp.logging.RedactAccessCodes"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_codes"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_codes"],
        },
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Failed logins and lockouts are warnings; every successful login at INFO is noise.
        "axes": {"level": "WARNING"},
        # Filtered on the loggers too: whatever handler a record reaches, it is already masked.
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_codes"],
        },
        "django.request": {"filters": ["redact_codes"]},
    },
}
