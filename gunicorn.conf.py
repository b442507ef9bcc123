"""gunicorn's configuration for the web process (`Procfile`: `gunicorn pdp.wsgi -c
gunicorn.conf.py`; README « Production »). Each value can be changed from the environment."""

import multiprocessing
import os

# This process serves web requests: PostgreSQL timeouts of the web (pdp/settings.py,
# PROCESS_TIMEOUTS: 10 s per statement, 5 s waiting for a lock).
os.environ.setdefault("PDP_PROCESS_ROLE", "web")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Synchronous workers, the usual 2 × cores + 1: the pages wait on PostgreSQL, not on the CPU,
# and the reverse proxy in front buffers slow clients. WEB_THREADS > 1 turns them into threaded
# workers (gthread), each thread with its own database connection.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", 1))
# A request still running after `timeout` seconds is killed with its worker: 120 s, for the
# simulation of a CPAM extract of up to 50 MB, which still runs in the request (the imports
# themselves run in the worker). On a restart or a deploy, requests under way get
# `graceful_timeout` to finish.
timeout = int(os.environ.get("WEB_TIMEOUT", 120))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", 30))
keepalive = 5
# Each worker is replaced after about 1,000 requests (± 100, so that they do not all restart
# at once): whatever memory a request leaks or fragments is given back.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", 1000))
max_requests_jitter = int(os.environ.get("WEB_MAX_REQUESTS_JITTER", 100))
# The proxies whose X-Forwarded-Proto gunicorn believes (the local one by default); Django
# reads the client's address with TRUSTED_PROXY_COUNT.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The access log on stdout, without access codes nor the health checks (pdp.gunicorn_logging).
accesslog = "-"
logger_class = "pdp.gunicorn_logging.RedactingLogger"
