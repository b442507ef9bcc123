"""Page benchmark on a real server (issue 15, item 1), on PostgreSQL only.

    DATABASE_URL=postgres://… manage.py bench_pages [--seconds 10] [--clients 1,8,32]
        [--workers N] [--pages inbox,case…] [--keep] [--queries-only] [--profile N]

Run it on `generate_volume`'s data (then `compute_snapshots`, as the nightly job would). It
never writes to the configured database: it copies it (`CREATE DATABASE <name>_bench TEMPLATE
<name>`, which needs no other session on it) and works in the copy, dropped at the end
(`--keep` leaves it). In the copy it picks the unit with the most open cases, its ASS with the
most open cases, her case with the most meetings and its assuré, the unit's manager and the
region's manager; it adds what the generated data lacks: a coordinator and a cellule PDP over
the unit with a planned meeting whose agenda holds a dozen situations (submitted through the
services with their consent), opening hours for the unit's ASS and a booking code for one of
its open referrals. It signs the users in as a browser would after the password and the second
factor (a Django session with a confirmed TOTP device, as django-otp's login stores it), and
goes through the booking code's entry and birth-date pages for the public page.

Then, for each page, it counts the SQL queries of one request in-process (Django's test client
on the copy, the second request of the session), starts gunicorn on 127.0.0.1 (`DEBUG=0`,
two-factor on, `--workers` = 2 × cores + 1 by default, settings `indicators.bench_settings`:
the project's plus a trivial view), checks that each page answers 200 with its marker, warms
up, and drives each page with wrk for `--seconds` at each number of `--clients`, the trivial
view first at each level. The person search is a POST whose query the session keeps (README
« No NIR in a URL »): the bench posts it once per session and measures the results page (the
GET that runs the search). Before each run the sessions' idle mark (pdp/session_idle.py) and
the booking code's hand-off are renewed, so none ends during the run.
"""

import datetime
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from http.client import HTTPConnection
from unittest import mock
from urllib.parse import quote

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count, Q
from django.template.base import Template
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import availability
from cases import services as case_services
from cases.models import Accompagnement, CaseStatus, Consentement, Entretien, PlageOuverture
from coordination import services as coordination_services
from coordination.decision_types import ensure_decision_types
from coordination.models import Instance, InstanceType, MembreInstance, Organisation, TypeDecision
from indicators.bench_pages import (
    TARGET_CLIENTS,
    TARGET_FACTOR,
    parse_wrk,
    ratio,
    verdict,
    wrk_script,
)
from indicators.bench_urls import TRIVIAL_BODY, TRIVIAL_PATH
from outreach import booking
from pdp import access_codes, session_idle
from pdp.models import AccessCode, Role, User
from referrals.models import Assure, Service, Signalement

CELLULE_NAME = "Cellule PDP du banc de mesure"
CELLULE_SITUATIONS = 12
QUESTION = "Quelles solutions proposer pour un maintien dans l'emploi ?"


class Page:
    def __init__(self, key, label, user, path, marker):
        self.key, self.label, self.user, self.path, self.marker = key, label, user, path, marker
        self.session_key = None
        self.queries = None
        self.results = {}

    def found_in(self, body):
        return self.marker in body or escape(self.marker) in body


def _unaccented(text):
    return "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    ).lower()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command(BaseCommand):
    help = "Mesure les pages sur un vrai serveur (gunicorn, wrk) contre une vue triviale."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=int, default=10, help="Durée de chaque mesure.")
        parser.add_argument(
            "--clients", default="1,8,32", help="Clients simultanés, séparés par des virgules."
        )
        parser.add_argument(
            "--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="Workers gunicorn."
        )
        parser.add_argument("--pages", default="", help="Pages à mesurer (clés), toutes sinon.")
        parser.add_argument(
            "--conn-max-age",
            type=int,
            default=None,
            help="CONN_MAX_AGE du serveur (0 : une connexion par requête), des réglages sinon.",
        )
        parser.add_argument("--keep", action="store_true", help="Garder la base <nom>_bench.")
        parser.add_argument(
            "--profile",
            type=int,
            default=0,
            metavar="N",
            help="Chronométrer N requêtes par page en processus : SQL, gabarits, reste.",
        )
        parser.add_argument(
            "--queries-only",
            action="store_true",
            help="Compter les requêtes SQL par page seulement (sans serveur ni wrk).",
        )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "Le banc d'essai exige PostgreSQL : définissez DATABASE_URL=postgres://…"
            )
        wrk = shutil.which("wrk")
        if wrk is None and not (options["queries_only"] or options["profile"]):
            raise CommandError(
                "wrk est absent : installez-le (apt-get install -y wrk), "
                "ou lancez --queries-only pour ne compter que les requêtes SQL."
            )
        try:
            clients = [int(c) for c in options["clients"].split(",") if c.strip()]
        except ValueError:
            raise CommandError("--clients : des entiers séparés par des virgules.") from None
        if not clients or min(clients) < 1 or options["seconds"] < 1 or options["workers"] < 1:
            raise CommandError("--clients, --seconds et --workers doivent être ≥ 1.")
        self.options = options
        source = connection.settings_dict["NAME"]
        bench = f"{source}_bench"
        self._copy_database(source, bench)
        server = None
        try:
            with override_settings(
                ALLOWED_HOSTS=["*"],
                ROOT_URLCONF="indicators.bench_urls",
                STORAGES={
                    **settings.STORAGES,
                    "staticfiles": {
                        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
                    },
                },
            ):
                pages = self._pages()
                wanted = {k for k in options["pages"].split(",") if k}
                unknown = wanted - {p.key for p in pages}
                if unknown:
                    raise CommandError(
                        f"Pages inconnues : {', '.join(sorted(unknown))} ; "
                        f"connues : {', '.join(p.key for p in pages)}."
                    )
                if wanted:
                    pages = [p for p in pages if p.key == "trivial" or p.key in wanted]
                for page in pages:
                    self._count_queries(page)
                if options["queries_only"] or options["profile"]:
                    self._print_queries(pages)
                    if options["profile"]:
                        self._profile(pages, options["profile"])
                    return
            port = _free_port()
            server = self._start_server(bench, port)
            for page in pages:
                self._check(port, page)
            self.stdout.write("Chauffe…")
            for page in pages:
                self._refresh_sessions(pages)
                self._wrk(wrk, port, page, min(8, options["workers"] * 2), 2)
                self._drain(port)
            for count in clients:
                for page in pages:
                    self._refresh_sessions(pages)
                    page.results[count] = self._wrk(wrk, port, page, count, options["seconds"])
                    self._drain(port)
                    r = page.results[count]
                    self.stdout.write(
                        f"  {page.key} × {count} : p95 {r['p95']:.1f} ms, {r['rps']:.0f} req/s"
                    )
            self._print(pages, clients)
            self.stdout.write(f"Charge de la machine à la fin : {os.getloadavg()[0]:.1f}.")
        finally:
            if server is not None:
                self._stop_server(server)
                os.unlink(self.log_path)  # its tail is in any error above
            connection.close()
            if options["keep"]:
                self.stdout.write(f"Base {bench} conservée (--keep).")
            else:
                self._drop_database(bench)
            connection.settings_dict["NAME"] = source
            settings.DATABASES["default"]["NAME"] = source

    # --- the throwaway copy ------------------------------------------------------------------

    def _copy_database(self, source, bench):
        connection.close()
        started = time.perf_counter()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{bench}" WITH (FORCE)')
            try:
                cursor.execute(f'CREATE DATABASE "{bench}" TEMPLATE "{source}" STRATEGY FILE_COPY')
            except Exception as exc:
                raise CommandError(
                    f"Copie de {source} impossible ({exc}). Aucune autre session ne doit être"
                    f" ouverte sur {source} (serveur, worker, psql)."
                ) from exc
        connection.settings_dict["NAME"] = bench
        settings.DATABASES["default"]["NAME"] = bench
        self.stdout.write(f"Copie {bench} de {source} en {time.perf_counter() - started:.1f} s.")

    def _drop_database(self, bench):
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{bench}" WITH (FORCE)')

    # --- what is measured --------------------------------------------------------------------

    def _pages(self):
        today = timezone.localdate()
        unit_id = (
            Accompagnement.objects.filter(statut=CaseStatus.OUVERT)
            .values("unit_id")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .values_list("unit_id", flat=True)
            .first()
        )
        if unit_id is None:
            raise CommandError("Base vide : lancez d'abord generate_volume (ou seed_demo).")
        ass = (
            User.objects.filter(unit_id=unit_id, role=Role.ASS, is_active=True)
            .annotate(
                n=Count("accompagnements", filter=Q(accompagnements__statut=CaseStatus.OUVERT))
            )
            .order_by("-n", "pk")
            .first()
        )
        unit = ass.unit
        manager = User.objects.filter(unit=unit, role=Role.MANAGER, is_active=True).first()
        regional = User.objects.filter(
            region=unit.region, role=Role.REGIONAL, is_active=True
        ).first()
        if manager is None or regional is None:
            raise CommandError("L'unité choisie n'a pas de responsable ou sa région d'encadrant.")
        case = (
            Accompagnement.objects.filter(referent=ass, statut=CaseStatus.OUVERT)
            .annotate(n=Count("entretiens"))
            .order_by("-n", "pk")
            .select_related("assure")
            .first()
        )
        assure = case.assure
        # The search by name: the start of the commonest accented surname the ASS sees, typed
        # without its accent (the hardest search a user makes: the most people to sort out).
        common = (
            Assure.objects.visible_to(ass, as_set=True)
            .filter(nom_naissance__iregex="[éèêëàâîïôöûüç]")
            .values("nom_naissance")
            .annotate(n=Count("pk"))
            .order_by("-n", "nom_naissance")
            .values_list("nom_naissance", flat=True)
            .first()
        )
        accented = (
            Assure.objects.visible_to(ass).filter(nom_naissance=common).order_by("pk").first()
            or assure
        )
        name_query = _unaccented(accented.nom_naissance)[: max(4, len(accented.nom_naissance) - 2)]
        reunion = self._cellule(unit, manager)
        code, birth_date, mode = self._booking(unit, manager)
        self.stdout.write(
            f"Unité {unit.name} ; ASS {ass.username} ({ass.n} accompagnements ouverts) ;"
            f" responsable {manager.username} ; région {regional.username} ;"
            f" accompagnement n° {case.pk} ({case.n} entretiens) ; recherche « {name_query} »"
            f" ({accented.nom_naissance}) et NIR de l'assuré n° {assure.pk}."
        )
        pages = [
            Page("trivial", "vue triviale (connectée)", ass, TRIVIAL_PATH, TRIVIAL_BODY),
            Page("inbox", "signalements (ASS)", ass, "/signalements/", "Signalements"),
            Page("dashboard", "tableau de bord ASS", ass, "/activite/", "Mon activité"),
            Page(
                "dashboard_manager",
                "tableau de bord responsable",
                manager,
                "/activite/",
                "Activité de l'unité",
            ),
            Page(
                "search_name",
                "recherche par nom",
                ass,
                "/recherche/",
                accented.nom_naissance,
            ),
            Page("search_nir", "recherche par NIR", ass, "/recherche/", assure.nom_naissance),
            Page("assure", "page de l'assuré", ass, f"/assures/{assure.pk}/", assure.nom_naissance),
            Page(
                "case",
                "page de l'accompagnement",
                ass,
                f"/accompagnements/{case.pk}/",
                assure.nom_naissance,
            ),
            Page("agenda", "agenda (ASS)", ass, "/agenda/", "Agenda – semaine"),
            Page(
                "cellule",
                "réunion de cellule PDP",
                reunion.instance.coordinateurs.get(),
                f"/cellule/reunions/{reunion.pk}/",
                CELLULE_NAME,
            ),
            Page(
                "indicators",
                "indicateurs (région)",
                regional,
                f"/indicateurs/?periode=annee&annee={today.year}",
                "Indicateurs",
            ),
            Page(
                "booking",
                "prise de rendez-vous (public)",
                None,
                f"/rdv/?mode={mode}",
                "Choisissez un créneau",
            ),
        ]
        for page in pages:
            if page.user is not None:
                page.session_key = self._session(page.user)
        for page in pages:
            if page.key == "search_name":
                self._search(page, name_query)
            elif page.key == "search_nir":
                self._search(page, assure.nir)
            elif page.key == "booking":
                page.session_key = self._public_session(code, birth_date)
        self.today = today
        return pages

    def _cellule(self, unit, manager):
        """A cellule PDP over the unit, a coordinator, members, and a planned meeting whose
        agenda holds CELLULE_SITUATIONS situations submitted with their consent."""
        ensure_decision_types(TypeDecision)
        coordinator = User.objects.create_user(
            "bench.coordinateur",
            role=Role.COORDINATEUR,
            region=unit.region,
            first_name="Claire",
            last_name="Banc",
        )
        medecin = User.objects.create_user(
            "bench.medecin", role=Role.MEDECIN, region=unit.region, last_name="Mesure"
        )
        instance = Instance.objects.create(
            nom=CELLULE_NAME,
            region=unit.region,
            type=InstanceType.CELLULE,
            quorum_organisations=3,
            quorum_obligatoires=[Organisation.SERVICE_SOCIAL, Organisation.SERVICE_MEDICAL],
        )
        instance.units.set([unit])
        instance.coordinateurs.set([coordinator])
        since = timezone.localdate() - datetime.timedelta(days=400)
        for user, organisation in (
            (manager, Organisation.SERVICE_SOCIAL),
            (medecin, Organisation.SERVICE_MEDICAL),
        ):
            MembreInstance.objects.create(
                instance=instance, user=user, organisation=organisation, date_debut=since
            )
        cases = (
            Accompagnement.objects.filter(unit=unit, statut=CaseStatus.OUVERT)
            .exclude(assure__consentements__portee=Consentement.Portee.CELLULE_PDP)
            .select_related("assure", "referent", "unit", "signalement")
            .order_by("pk")[:CELLULE_SITUATIONS]
        )
        for case in cases:
            case_services.consentement_record(
                accompagnement=case,
                acting_user=case.referent,
                portee=Consentement.Portee.CELLULE_PDP,
                date_recueil=timezone.localdate(),
            )
            fiche = coordination_services.fiche_initiale(case)
            fiche["secteur_employeur"] = fiche["secteur_employeur"] or "Non renseigné"
            fiche["limitations"] = fiche["limitations"] or "Port de charges à éviter."
            coordination_services.saisine_submit(
                accompagnement=case,
                instance=instance,
                acting_user=case.referent,
                question=QUESTION,
                **fiche,
            )
        day = timezone.localdate() + datetime.timedelta(days=10)
        return coordination_services.reunion_plan(
            instance=instance,
            acting_user=coordinator,
            debut=timezone.make_aware(datetime.datetime.combine(day, datetime.time(14))),
            lieu="Salle du banc de mesure",
        )

    def _booking(self, unit, manager):
        """Opening hours for the unit's ASS who have none (weekdays 9–12 and 14–17) and a
        booking code for an open social referral of the unit whose person has no open case."""
        modes = list(Entretien.Mode.values)
        without = User.objects.filter(unit=unit, role=Role.ASS, is_active=True).exclude(
            pk__in=PlageOuverture.objects.values("ass_id")
        )
        for ass in without:  # the demo's ASS have theirs
            for weekday in range(5):
                for start, end in ((9, 12), (14, 17)):
                    availability.plage_create(
                        acting_user=manager,
                        ass=ass,
                        weekday=weekday,
                        heure_debut=datetime.time(start),
                        heure_fin=datetime.time(end),
                        modes=modes,
                        lieu="Agence du service social",
                    )
        referral = (
            Signalement.objects.open()
            .filter(unit=unit, service=Service.SOCIAL, rdv_debut__isnull=True)
            .exclude(assure__accompagnements__statut__in=[CaseStatus.OUVERT, CaseStatus.SUSPENDU])
            .select_related("assure")
            .order_by("pk")
            .first()
        )
        if referral is None:
            raise CommandError("Aucun signalement ouvert sans accompagnement dans l'unité.")
        row, code = access_codes.access_code_issue(
            purpose=AccessCode.Purpose.BOOKING,
            assure_id=referral.assure_id,
            expires_at=timezone.now() + datetime.timedelta(days=30),
            object_type=booking.SIGNALEMENT,
            object_id=referral.pk,
        )
        context = booking.booking_context(code_row=row)
        modes = booking.booking_modes(context)
        if not modes:
            raise CommandError("Le code de rendez-vous n'ouvre aucun mode.")
        return code, referral.assure.date_naissance, modes[0]

    # --- sessions ----------------------------------------------------------------------------

    def _session(self, user):
        """A session as after the password and the second factor: django-otp's login stores the
        verified device's persistent id in the session."""
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="banc", confirmed=True)
        client = Client()
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return session.session_key

    def _client(self, page):
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = page.session_key
        return client

    def _search(self, page, query):
        response = self._client(page).post("/recherche/", {"q": query}, secure=True)
        if response.status_code != 302:
            raise CommandError(f"La recherche « {query} » répond {response.status_code}.")

    def _public_session(self, code, birth_date):
        client = Client()
        response = client.get(f"/r/{code}/", secure=True)
        assert response.status_code == 302, response.status_code
        response = client.post(
            "/rdv/identification/",
            {"jour": birth_date.day, "mois": birth_date.month, "annee": birth_date.year},
            secure=True,
        )
        if response.status_code != 302 or "identification" in response["Location"]:
            raise CommandError("La date de naissance n'a pas ouvert la prise de rendez-vous.")
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    def _refresh_sessions(self, pages):
        """Renew each session's idle mark and the booking code's ten-minute hand-off, so that a
        long run does not end them (the server would answer 302)."""
        for key in {p.session_key for p in pages if p.session_key}:
            session = SessionStore(session_key=key)
            if session.get("_auth_user_id"):
                session_idle.touch(session)
            entry = session.get(access_codes.SESSION_KEY)
            if isinstance(entry, dict):
                lifetime = access_codes.SESSION_LIFETIME
                entry["until"] = (timezone.now() + lifetime).timestamp()
                session[access_codes.SESSION_KEY] = entry
            session.save()

    # --- in-process query count --------------------------------------------------------------

    def _count_queries(self, page):
        client = self._client(page)
        client.get(page.path, secure=True)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(page.path, secure=True)
        body = response.content.decode()
        if response.status_code != 200 or not page.found_in(body):
            raise CommandError(
                f"{page.key} ({page.path}) : réponse {response.status_code}"
                f" sans « {page.marker} » en test client."
            )
        page.queries = len(captured)

    def _profile(self, pages, count):
        """Each page `count` times in-process after its warm-up: the time of the request, of
        its SQL (as the database driver saw it), of its templates (the outermost render, less
        the SQL run inside it) and the rest (middleware, view, ORM), minimum and median:
        where a page's server time goes."""
        self.stdout.write(
            f"\nEn processus, {count} requêtes par page (min / médiane, ms) :"
            f"\n  {'page':18s} {'total':>15s} {'SQL':>15s} {'gabarits':>15s} {'reste':>15s}"
        )
        state = {"sql": 0.0, "sql_in_template": 0.0, "template": 0.0, "depth": 0}

        def timed_sql(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                elapsed = time.perf_counter() - started
                state["sql"] += elapsed
                if state["depth"]:
                    state["sql_in_template"] += elapsed

        render = Template._render

        def timed_render(template, context):
            state["depth"] += 1
            started = time.perf_counter()
            try:
                return render(template, context)
            finally:
                state["depth"] -= 1
                if not state["depth"]:
                    state["template"] += time.perf_counter() - started

        for page in pages:
            client = self._client(page)
            columns = {"total": [], "sql": [], "template": [], "rest": []}
            for _ in range(count):
                state.update(sql=0.0, sql_in_template=0.0, template=0.0, depth=0)
                with (
                    connection.execute_wrapper(timed_sql),
                    mock.patch.object(Template, "_render", timed_render),
                ):
                    started = time.perf_counter()
                    response = client.get(page.path, secure=True)
                    total = time.perf_counter() - started
                if response.status_code != 200:
                    raise CommandError(
                        f"{page.key} ({page.path}) : réponse {response.status_code}."
                    )
                template = state["template"] - state["sql_in_template"]
                for key, value in (
                    ("total", total),
                    ("sql", state["sql"]),
                    ("template", template),
                    ("rest", total - state["sql"] - template),
                ):
                    columns[key].append(value * 1000)
            cells = (f"{min(v):6.1f} / {statistics.median(v):6.1f}" for v in columns.values())
            self.stdout.write(f"  {page.key:18s} " + " ".join(f"{c:>15s}" for c in cells))

    # --- the server and wrk ------------------------------------------------------------------

    def _server_env(self, bench):
        db = connection.settings_dict
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or "5432"
        extra = {}
        if self.options["conn_max_age"] is not None:
            extra["BENCH_CONN_MAX_AGE"] = str(self.options["conn_max_age"])
        return {
            **os.environ,
            **extra,
            "DJANGO_SETTINGS_MODULE": "indicators.bench_settings",
            "DATABASE_URL": f"postgres://{auth}{host}:{port}/{bench}",
            "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY,  # the sessions and codes made here
            "OTP_REQUIRED": "1",
            "ALLOWED_HOSTS": "127.0.0.1",
            "ENV_FILE": os.devnull,
            # gunicorn.conf.py replaces each worker after about 1,000 requests: a worker's boot
            # (a second or so, requests queued behind it) then lands in whichever run is under
            # way, most often the trivial view's, the fastest. The bench measures the pages in
            # their steady state.
            "WEB_MAX_REQUESTS": "0",
        }

    def _start_server(self, bench, port):
        workers = self.options["workers"]
        handle, self.log_path = tempfile.mkstemp(prefix="bench_pages_gunicorn_", suffix=".log")
        os.close(handle)
        bind = f"127.0.0.1:{port}"
        command = [sys.executable, "-m", "gunicorn", "pdp.wsgi", "--bind", bind, "--workers",
                   str(workers), "--timeout", "120", "--log-level", "warning"]  # fmt: skip
        config = settings.BASE_DIR / "gunicorn.conf.py"
        if config.exists():  # production's configuration (Procfile), bind and workers overridden
            command += ["-c", str(config)]
        with open(self.log_path, "w") as log:
            server = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=self._server_env(bench),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError("gunicorn s'est arrêté :\n" + self._log_tail())
            try:
                status, _body = self._get(port, TRIVIAL_PATH, None)
            except OSError:
                time.sleep(0.3)
                continue
            if status in (200, 302):
                break
        else:
            self._stop_server(server)
            raise CommandError("gunicorn ne répond pas :\n" + self._log_tail())
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        age = self.options["conn_max_age"]
        self.stdout.write(
            f"gunicorn sur 127.0.0.1:{port}, {workers} workers, DEBUG=0, PostgreSQL {version},"
            + (f" CONN_MAX_AGE={age}," if age is not None else "")
            + f" {os.cpu_count()} cœurs, wrk sur la même machine ; charge"
            f" {os.getloadavg()[0]:.1f} avant la mesure."
        )
        return server

    def _log_tail(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def _stop_server(self, server):
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    def _headers(self, port, page):
        headers = {"Host": f"127.0.0.1:{port}", "X-Forwarded-Proto": "https"}
        if page.session_key:
            headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={page.session_key}"
        return headers

    def _get(self, port, path, page, timeout=60):
        http = HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            headers = self._headers(port, page) if page else {"X-Forwarded-Proto": "https"}
            http.request("GET", path, headers=headers)
            response = http.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            http.close()

    def _drain(self, port):
        """Wait until the requests wrk left behind are served: gunicorn's sync workers go on
        with the connections already accepted after wrk has closed them (32 slow pages are
        many seconds of work), and the next run would wait behind them. One request sent now
        is answered after every connection queued before it."""
        started = time.perf_counter()
        self._get(port, TRIVIAL_PATH, None, timeout=600)
        waited = time.perf_counter() - started
        if waited > 1:
            self.stdout.write(f"    (le serveur a fini les requêtes en attente en {waited:.1f} s)")

    def _check(self, port, page):
        status, body = self._get(port, page.path, page)
        if status != 200 or not page.found_in(body):
            raise CommandError(
                f"{page.key} ({page.path}) : le serveur répond {status}"
                f" sans « {page.marker} » ; rien n'est mesuré.\n{self._log_tail()}"
            )

    def _wrk(self, wrk, port, page, count, seconds):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(wrk_script(self._headers(port, page)))
        try:
            run = subprocess.run(
                [
                    wrk,
                    "-t",
                    str(min(count, 2)),
                    "-c",
                    str(count),
                    "-d",
                    f"{seconds}s",
                    "--timeout",
                    "60s",
                    "-s",
                    script.name,
                    f"http://127.0.0.1:{port}{page.path}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            os.unlink(script.name)
        try:
            return parse_wrk(run.stdout)
        except ValueError as exc:
            raise CommandError(f"wrk ({page.key}) : {exc}\n{run.stderr}") from exc

    # --- report ------------------------------------------------------------------------------

    def _print_queries(self, pages):
        self.stdout.write("Requêtes SQL par page (une requête HTTP, test client) :")
        for page in pages:
            self.stdout.write(f"  {page.key:18s} {page.queries:4d}  {page.label} ({page.path})")

    def _print(self, pages, clients):
        trivial = pages[0]
        self.stdout.write(
            f"\n{'page':18s} {'clients':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}"
            f" {'req/s':>7s} {'non-200':>7s} {'p95/triv':>8s} {'SQL':>4s}  cible"
        )
        missed = []
        for page in pages:
            for count in clients:
                r = page.results[count]
                base = trivial.results[count]
                mark = ""
                if not r["requests"]:
                    mark = "aucune réponse"
                if count == TARGET_CLIENTS and page is not trivial:
                    ok = verdict(r, base)
                    mark = "tenue" if ok else f"MANQUÉE {mark}".strip()
                    if not ok:
                        missed.append(page.key)
                self.stdout.write(
                    f"{page.key:18s} {count:7d} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f}"
                    f" {r['rps']:7.1f} {r['non_200'] + r['errors']:7d}"
                    f" {ratio(r['p95'], base['p95']):8.2f} {page.queries:4d}  {mark}"
                )
        self.stdout.write(
            f"\nCible : p95 ≤ {TARGET_FACTOR:g} × la vue triviale à {TARGET_CLIENTS} clients."
            + (f" Manquée : {', '.join(missed)}." if missed else " Tenue pour chaque page.")
            if TARGET_CLIENTS in clients
            else ""
        )
