# The README's commands. Everything runs from a virtualenv in .venv, created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Two-factor login is off in the demo unless asked for (environment, command line or .env).
OTP_REQUIRED ?= $(or $(shell sed -n 's/^OTP_REQUIRED=//p' .env 2>/dev/null),0)

.PHONY: run test quality bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# A local development configuration, written once and never overwritten: with it every
# `manage.py` command works without hand-set variables. Production sets its own (README).
.env:
	@umask 077 && printf '# Local development settings written by make run (never overwritten; not for production).\nDEBUG=1\nSECRET_KEY=%s\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Fichier .env de développement créé (DEBUG=1, SECRET_KEY générée)"

## make run: install, write .env if absent, migrate, seed the demo and serve
## http://127.0.0.1:$(PORT) (development server). SQLite and in-process tasks by default; with
## DATABASE_URL and REDIS_URL set it uses them and also starts a Celery worker and beat
## (honcho + Procfile.dev). Two-factor login is off (OTP_REQUIRED=0) unless OTP_REQUIRED is set,
## and the first line says so. Production uses the Procfile (gunicorn): see the README.
run: install .env
	@case "$(OTP_REQUIRED)" in \
		0|false|False|no|off) echo "Double authentification DÉSACTIVÉE dans cette démo (OTP_REQUIRED=$(OTP_REQUIRED)) : pour l'exiger, lancez « make run OTP_REQUIRED=1 » (ou mettez OTP_REQUIRED=1 dans .env).";; \
		*) echo "Double authentification exigée (OTP_REQUIRED=$(OTP_REQUIRED)) : chaque compte configure une application à sa première connexion.";; \
	esac
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py compute_snapshots
	@if [ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ]; then \
		echo "PostgreSQL + Redis : serveur web, worker et beat Celery (honcho)"; \
		PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=$${DEBUG:-1} OTP_REQUIRED=$(OTP_REQUIRED) PORT=$(PORT) SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} $(BIN)/honcho -f Procfile.dev start; \
	else \
		echo "SQLite, tâches exécutées dans le processus web : http://127.0.0.1:$(PORT)"; \
		DEBUG=$${DEBUG:-1} OTP_REQUIRED=$(OTP_REQUIRED) SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} $(BIN)/python manage.py runserver 127.0.0.1:$(PORT); \
	fi

## make test: install the test dependencies and run the whole suite (PostgreSQL when
## DATABASE_URL is set, else SQLite). Browser tests need Debian's chromium package.
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

quality: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/djlint templates --lint
	$(BIN)/djlint templates --check
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

## make bench: the referral engine benchmark (PostgreSQL only: set DATABASE_URL).
bench: install-dev
	$(BIN)/python manage.py bench_referrals

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles artifacts
