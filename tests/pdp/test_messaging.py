"""Sending SMS and e-mails (issue 10, item 6): backends, GSM-7, quiet hours, the message log,
delivery on commit only, once, with the access codes masked in the database."""

import contextlib
import datetime
import io
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, transaction
from django.urls import reverse

from pdp import messaging
from pdp.celery import app
from pdp.messaging import MASK, gsm, quiet_hours, send_email, send_sms
from pdp.messaging.backends import (
    BaseSmsBackend,
    ConsoleBackend,
    FileBackend,
    HttpBackend,
    LocmemBackend,
    Sms,
    SmsError,
    get_connection,
)
from pdp.messaging.phone import normalise_phone
from pdp.messaging.tasks import deliver_message
from pdp.models import Message

PARIS = ZoneInfo("Europe/Paris")
CODE = "K7M3PQ9X"


def paris(*args):
    return datetime.datetime(*args, tzinfo=PARIS)


# A Tuesday morning: SMS allowed.
DAYTIME = paris(2026, 3, 10, 10, 0)
# A Saturday evening: SMS deferred to Monday 9 March 2026, 08:00.
SATURDAY_NIGHT = paris(2026, 3, 7, 21, 0)


@pytest.fixture(autouse=True)
def sms_outbox():
    """The locmem SMS outbox, empty for each test (like Django's mail.outbox)."""
    messaging.outbox.clear()
    yield messaging.outbox
    messaging.outbox.clear()


@pytest.fixture
def daytime():
    with time_machine.travel(DAYTIME, tick=True):
        yield


# --- A real HTTP peer on loopback -------------------------------------------------------------


class _Provider(BaseHTTPRequestHandler):
    """A provider API: records each request, answers with the server's configured status."""

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.server.requests.append(
            {
                "path": self.path,
                "headers": dict(self.headers),
                "json": json.loads(self.rfile.read(length)),
            }
        )
        if self.server.delay:
            time.sleep(self.server.delay)
        body = json.dumps(self.server.answer).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout test)
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    server.requests, server.status, server.answer, server.delay = [], 200, {"id": "prov-42"}, 0
    server.url = f"http://127.0.0.1:{server.server_port}/v1/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_settings(settings, provider):
    settings.SMS_BACKEND = "pdp.messaging.backends.HttpBackend"
    settings.SMS_API_URL = provider.url
    settings.SMS_API_KEY = "test-key-123"
    settings.SMS_SENDER = "CARSAT"
    return settings


# --- GSM-7 ------------------------------------------------------------------------------------


def test_french_typography_is_rewritten_in_the_gsm_alphabet():
    text = "Rendez-vous\u00a0: « aujourd’hui » à 10\u202fh – c’est noté… — Œuvre, cœur"
    assert gsm.normalise(text) == (
        "Rendez-vous : \" aujourd'hui \" à 10 h - c'est noté... - OEuvre, coeur"
    )


def test_accents_of_the_gsm_table_are_kept_and_the_others_lose_their_accent():
    assert gsm.normalise("éèùàìòÉÇÄÖÑÜäöñü") == "éèùàìòÉÇÄÖÑÜäöñü"
    assert gsm.normalise("âêîôûëïÿáíóú") == "aeiouei" + "yaiou"
    assert gsm.normalise("ÀÂÈÊËÎÏÔÙÛ") == "AAEEEIIOUU"


def test_the_cedilla_c_is_not_gsm_but_the_capital_is():
    assert not gsm.is_gsm("ç")
    assert gsm.is_gsm("Ç")
    assert gsm.normalise("Ça reçoit") == "Ça recoit"


def test_a_character_with_no_equivalent_becomes_a_question_mark():
    assert gsm.normalise("Merci 🙂") == "Merci ?"


def test_the_extension_characters_are_kept():
    assert gsm.normalise("{[€]}|^~\\") == "{[€]}|^~\\"


def test_any_text_comes_out_in_gsm():
    text = "«\u00a0Œ’‘“”„–—…•·°ÿçâ\t»\u2009x\u00e6ß"
    assert gsm.is_gsm(gsm.normalise(text))


@pytest.mark.parametrize(
    ("length", "expected"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_segments_at_the_boundaries(length, expected):
    assert gsm.segments("a" * length) == expected


def test_extension_characters_count_two_septets():
    assert gsm.septets("€" * 80) == 160
    assert gsm.segments("€" * 80) == 1
    assert gsm.segments("€" * 80 + "a") == 2


def test_an_extension_character_is_not_split_between_two_parts():
    # 306 septets, but the € would straddle the two parts: it starts the second one.
    assert gsm.septets("a" * 152 + "€" + "a" * 152) == 306
    assert gsm.segments("a" * 152 + "€" + "a" * 152) == 3
    assert gsm.segments("a" * 153 + "€" + "a" * 151) == 2


def test_a_text_outside_gsm_is_counted_in_ucs2():
    assert gsm.segments("ê" * 70) == 1
    assert gsm.segments("ê" * 71) == 2
    assert gsm.segments("ê" * 134) == 2
    assert gsm.segments("ê" * 135) == 3


# --- Quiet hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (paris(2026, 3, 7, 19, 59), paris(2026, 3, 7, 19, 59)),  # Saturday, before 20:00
        (paris(2026, 3, 7, 20, 0), paris(2026, 3, 9, 8, 0)),  # Saturday 20:00 → Monday
        (paris(2026, 3, 8, 12, 0), paris(2026, 3, 9, 8, 0)),  # Sunday
        (paris(2026, 3, 9, 7, 59), paris(2026, 3, 9, 8, 0)),  # Monday, too early
        (paris(2026, 3, 9, 8, 0), paris(2026, 3, 9, 8, 0)),  # Monday 08:00 sharp
        (paris(2026, 7, 13, 21, 0), paris(2026, 7, 15, 8, 0)),  # eve of 14 July (Tuesday)
        (paris(2026, 7, 14, 10, 0), paris(2026, 7, 15, 8, 0)),  # 14 July
        (paris(2026, 12, 24, 20, 30), paris(2026, 12, 26, 8, 0)),  # Christmas Eve → Saturday
        (paris(2026, 3, 28, 22, 0), paris(2026, 3, 30, 8, 0)),  # over the change to summer time
        (paris(2026, 5, 23, 20, 0), paris(2026, 5, 26, 8, 0)),  # Sunday, then Whit Monday
    ],
)
def test_next_allowed_moment(moment, expected):
    assert quiet_hours.next_allowed(moment) == expected


def test_a_utc_moment_is_judged_in_paris_time():
    # 19:30 UTC is 20:30 in Paris in winter: quiet.
    moment = datetime.datetime(2026, 3, 10, 19, 30, tzinfo=datetime.UTC)
    assert quiet_hours.next_allowed(moment) == paris(2026, 3, 11, 8, 0)
    assert quiet_hours.is_allowed(datetime.datetime(2026, 3, 10, 18, 59, tzinfo=datetime.UTC))


def test_the_quiet_hours_come_from_the_settings(settings):
    settings.SMS_QUIET_START = "21:00"
    settings.SMS_QUIET_END = "09:30"
    assert quiet_hours.is_allowed(paris(2026, 3, 10, 20, 30))
    assert quiet_hours.next_allowed(paris(2026, 3, 10, 21, 0)) == paris(2026, 3, 11, 9, 30)
    settings.SMS_QUIET_END = "22:00"
    with pytest.raises(ImproperlyConfigured):
        quiet_hours.next_allowed(paris(2026, 3, 10, 21, 0))


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError):
        quiet_hours.next_allowed(datetime.datetime(2026, 3, 10, 10, 0))


# --- Phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("06-12-34-56-78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("07 81 23 45 67", "+33781234567"),
        ("0690 12 34 56", "+590690123456"),  # Guadeloupe
        ("0694 12 34 56", "+594694123456"),  # Guyane
        ("0696 12 34 56", "+596696123456"),  # Martinique
        ("0692 12 34 56", "+262692123456"),  # La Réunion
        ("0639 12 34 56", "+262639123456"),  # Mayotte
        ("+262 692 12 34 56", "+262692123456"),
    ],
)
def test_french_mobile_numbers_are_put_in_e164(value, expected):
    assert normalise_phone(value, mobile=True) == expected


@pytest.mark.parametrize(
    "value", ["", "12345", "06 12 34 56", "06 12 34 56 78 9", "abc", "+33 6 12 34 56", "6123456789"]
)
def test_invalid_numbers_are_refused_in_french(value):
    with pytest.raises(ValidationError, match="Numéro de téléphone invalide"):
        normalise_phone(value)


def test_a_foreign_number_is_refused():
    with pytest.raises(ValidationError, match="numéros français"):
        normalise_phone("+44 7911 123456")


def test_a_landline_is_a_phone_but_not_for_sms():
    assert normalise_phone("02 35 12 34 56") == "+33235123456"
    with pytest.raises(ValidationError, match="pas un numéro de mobile"):
        normalise_phone("02 35 12 34 56", mobile=True)


# --- Backends ---------------------------------------------------------------------------------


def test_the_console_backend_writes_to_stdout(capsys):
    provider_id = ConsoleBackend().send(Sms(to="+33612345678", body="Bonjour", sender="CARSAT"))
    out = capsys.readouterr().out
    assert provider_id in out
    assert "+33612345678" in out
    assert "Bonjour" in out


def test_the_console_backend_writes_to_a_given_stream():
    stream = io.StringIO()
    assert (
        ConsoleBackend(stream=stream).send_messages(
            [Sms("+33612345678", "Un"), Sms("+33612345678", "Deux")]
        )
        == 2
    )
    assert "Un" in stream.getvalue()
    assert "Deux" in stream.getvalue()


def test_the_file_backend_writes_one_file_per_message(settings, tmp_path):
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    backend = FileBackend()
    first = backend.send(Sms(to="+33612345678", body="Premier"))
    backend.send(Sms(to="+33712345678", body="Second"))
    files = sorted((tmp_path / "sms").iterdir())
    assert len(files) == 2
    written = (tmp_path / "sms" / f"{first}.txt").read_text(encoding="utf-8")
    assert "To: +33612345678" in written
    assert "Premier" in written


def test_the_file_backend_needs_a_directory(settings):
    settings.SMS_FILE_PATH = ""
    with pytest.raises(ImproperlyConfigured):
        FileBackend()


def test_the_locmem_backend_fills_the_outbox(sms_outbox):
    LocmemBackend().send(Sms(to="+33612345678", body="Bonjour"))
    assert sms_outbox == [Sms(to="+33612345678", body="Bonjour")]


def test_the_backend_comes_from_the_settings(settings):
    assert isinstance(get_connection(), LocmemBackend)  # the test settings' choice
    settings.SMS_BACKEND = "pdp.messaging.backends.ConsoleBackend"
    assert isinstance(get_connection(), ConsoleBackend)
    assert isinstance(get_connection("pdp.messaging.backends.LocmemBackend"), LocmemBackend)


def test_the_http_backend_posts_json_with_the_bearer_key(http_settings, provider):
    provider_id = get_connection().send(Sms(to="+33612345678", body="Bonjour"))
    assert provider_id == "prov-42"
    [request] = provider.requests
    assert request["path"] == "/v1/sms"
    assert request["headers"]["Authorization"] == "Bearer test-key-123"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {"to": "+33612345678", "sender": "CARSAT", "text": "Bonjour"}


def test_the_http_backend_raises_on_a_server_error(http_settings, provider):
    provider.status, provider.answer = 500, {"error": "boom"}
    with pytest.raises(SmsError, match="HTTP 500"):
        get_connection().send(Sms(to="+33612345678", body="Bonjour"))


def test_the_http_backend_takes_a_2xx_without_id_as_accepted(http_settings, provider):
    provider.status, provider.answer = 202, {"status": "ok"}
    assert get_connection().send(Sms(to="+33612345678", body="Bonjour")) == ""
    assert len(provider.requests) == 1


def test_the_http_backend_raises_on_a_refusal(http_settings, provider):
    provider.status = 401
    with pytest.raises(SmsError, match="HTTP 401"):
        get_connection().send(Sms(to="+33612345678", body="Bonjour"))


def test_the_http_backend_gives_up_after_its_timeout(http_settings, provider):
    provider.delay = 1.5
    started = time.monotonic()
    with pytest.raises(SmsError, match="injoignable"):
        HttpBackend(timeout=0.3).send(Sms(to="+33612345678", body="Bonjour"))
    assert time.monotonic() - started < 1.4


def test_the_http_backend_raises_when_nobody_listens(http_settings, provider):
    url = provider.url
    provider.shutdown()
    provider.server_close()
    with pytest.raises(SmsError, match="injoignable"):
        HttpBackend(url=url).send(Sms(to="+33612345678", body="Bonjour"))


def test_the_http_backend_needs_its_url_and_key(settings):
    settings.SMS_API_URL, settings.SMS_API_KEY = "", ""
    with pytest.raises(ImproperlyConfigured):
        HttpBackend()


# --- send_sms ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_sms_is_logged_and_sent_once_the_transaction_commits(
    daytime, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_sms(
            to="06 12 34 56 78",
            body="Votre rendez-vous « demain » est noté.",
            template="booking_confirmation",
            assure_id=12,
        )
        assert sms_outbox == []  # not before the commit
    message.refresh_from_db()
    assert sms_outbox == [Sms(to="+33612345678", body='Votre rendez-vous " demain " est noté.')]
    assert message.channel == Message.Channel.SMS
    assert message.status == Message.Status.SENT
    assert message.recipient == "+33612345678"
    assert message.provider_id == "locmem-1"
    assert message.segments == 1
    assert message.sent_at is not None
    assert message.send_after is None
    assert message.assure_id == 12
    assert message.template == "booking_confirmation"


@pytest.mark.django_db
def test_nothing_is_sent_when_the_transaction_rolls_back(
    daytime, sms_outbox, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        send_sms(to="0612345678", body="Bonjour", template="t")
        send_email(to="a@example.org", subject="S", body="Bonjour", template="t")
        raise RuntimeError("the caller's service fails")
    assert callbacks == []
    assert sms_outbox == []
    assert mail.outbox == []
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_the_message_says_what_it_is_about(daytime, ass):
    message = send_sms(to="0612345678", body="Bonjour", template="t", obj=ass)
    assert (message.object_type, message.object_id) == ("pdp.user", str(ass.pk))


@pytest.mark.django_db
def test_an_invalid_number_is_refused_and_nothing_is_logged(daytime):
    with pytest.raises(ValidationError):
        send_sms(to="02 35 12 34 56", body="Bonjour", template="t")
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_long_sms_counts_its_segments(daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_sms(to="0612345678", body="é" * 161, template="t")
    message.refresh_from_db()
    assert message.segments == 2


@pytest.mark.django_db
def test_the_code_is_masked_in_the_database_but_sent_in_clear(
    daytime, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_sms(
            to="0612345678",
            body=f"Prenez rendez-vous : https://pdp.example/r/{CODE}",
            template="booking_link",
            secrets=[CODE],
        )
    assert sms_outbox[0].body == f"Prenez rendez-vous : https://pdp.example/r/{CODE}"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.body == f"Prenez rendez-vous : https://pdp.example/r/{MASK}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Message._meta.db_table}")
        rows = cursor.fetchall()
    assert rows
    assert not any(CODE in str(value) for row in rows for value in row)


@pytest.mark.django_db
def test_a_masked_message_without_its_clear_text_is_not_sent_masked(daytime, sms_outbox):
    message = send_sms(to="0612345678", body=f"Code {CODE}", template="t", secrets=[CODE])
    assert deliver_message(message.pk) == "failed"  # a replay without the task's arguments
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "Texte en clair indisponible" in message.error
    assert sms_outbox == []


@pytest.mark.django_db
def test_an_sms_at_night_is_deferred_with_an_eta(monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr(
        deliver_message, "apply_async", lambda *args, **kwargs: calls.append(kwargs)
    )
    with (
        time_machine.travel(SATURDAY_NIGHT, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = send_sms(to="0612345678", body="Rappel", template="reminder")
    assert message.status == Message.Status.DEFERRED
    assert message.send_after == paris(2026, 3, 9, 8, 0)
    assert calls == [{"args": [message.pk], "kwargs": {}, "eta": paris(2026, 3, 9, 8, 0)}]


@pytest.mark.django_db
def test_a_deferred_sms_waits_for_its_time_even_if_the_task_runs_early(
    sms_outbox, django_capture_on_commit_callbacks
):
    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        # The tests' Celery is eager: the task runs at once, ignoring its ETA.
        with django_capture_on_commit_callbacks(execute=True):
            message = send_sms(to="0612345678", body=f"Code {CODE}", template="t", secrets=[CODE])
        message.refresh_from_db()
        assert message.status == Message.Status.DEFERRED
        assert sms_outbox == []
    with time_machine.travel(paris(2026, 3, 9, 8, 0, 5), tick=False):
        assert deliver_message(message.pk, clear={"body": f"Code {CODE}"}) == "sent"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert sms_outbox[0].body == f"Code {CODE}"


@pytest.mark.django_db
def test_the_task_run_twice_sends_once(daytime, sms_outbox):
    message = send_sms(to="0612345678", body="Bonjour", template="t")  # not committed: not run
    assert deliver_message(message.pk) == "sent"
    assert deliver_message(message.pk) == "skipped"
    assert len(sms_outbox) == 1


class SlowLocmemBackend(LocmemBackend):
    def send(self, sms):
        time.sleep(0.3)
        return super().send(sms)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_once(daytime, settings, sms_outbox, monkeypatch):
    settings.SMS_BACKEND = "tests.pdp.test_messaging.SlowLocmemBackend"
    # Committed for real here: keep the eager task from running at the commit.
    monkeypatch.setattr(deliver_message, "apply_async", lambda *args, **kwargs: None)
    message = send_sms(to="0612345678", body="Bonjour", template="t")
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(deliver_message(message.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["sent", "skipped"]
    assert len(sms_outbox) == 1


@pytest.mark.django_db
def test_a_provider_failure_is_recorded_without_raising(
    daytime, http_settings, provider, django_capture_on_commit_callbacks
):
    provider.status = 500
    with django_capture_on_commit_callbacks(execute=True):
        message = send_sms(to="0612345678", body="Bonjour", template="t")
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "HTTP 500" in message.error
    assert message.sent_at is None
    assert deliver_message(message.pk) == "skipped"  # a retry does not send it again
    assert len(provider.requests) == 1


@pytest.mark.django_db
def test_an_sms_through_the_http_provider_records_its_id(
    daytime, http_settings, provider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_sms(to="0612345678", body=f"Code {CODE}", template="t", secrets=[CODE])
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_id == "prov-42"
    assert provider.requests[0]["json"]["text"] == f"Code {CODE}"


class _BrokenBackend(BaseSmsBackend):
    def send(self, sms):
        raise ConnectionResetError("reset by peer")


@pytest.mark.django_db
def test_any_backend_exception_is_recorded(daytime, settings):
    settings.SMS_BACKEND = "tests.pdp.test_messaging._BrokenBackend"
    message = send_sms(to="0612345678", body="Bonjour", template="t")
    assert deliver_message(message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.error) == (Message.Status.FAILED, "reset by peer")


# --- send_email -------------------------------------------------------------------------------


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:rdv-1@pdp\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.django_db
def test_an_email_with_an_ics_file_is_sent_on_commit_with_its_code_masked_in_the_log(
    django_capture_on_commit_callbacks,
):
    with (
        time_machine.travel(SATURDAY_NIGHT, tick=True),  # no quiet hours for e-mail
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = send_email(
            to="personne@example.org",
            subject="Votre rendez-vous",
            body=f"Pour déplacer votre rendez-vous : code {CODE}",
            template="booking_confirmation",
            assure_id=7,
            secrets=[CODE],
            attachments=[("rendez-vous.ics", ICS, "text/calendar")],
        )
        assert mail.outbox == []
    [email] = mail.outbox
    assert email.to == ["personne@example.org"]
    assert email.subject == "Votre rendez-vous"
    assert CODE in email.body
    assert email.attachments[0][0] == "rendez-vous.ics"
    assert "UID:rdv-1@pdp" in email.message().as_string()
    message.refresh_from_db()
    assert message.channel == Message.Channel.EMAIL
    assert message.status == Message.Status.SENT
    assert message.provider_id == email.extra_headers["Message-ID"]
    assert message.segments is None
    assert CODE not in message.body
    assert MASK in message.body


@pytest.mark.django_db
def test_an_email_accepts_binary_attachments(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        send_email(
            to="personne@example.org",
            subject="Courrier",
            body="Ci-joint.",
            template="letter",
            attachments=[("courrier.pdf", b"%PDF-1.4\x00\xff", "application/pdf")],
        )
    assert mail.outbox[0].attachments[0] == ("courrier.pdf", b"%PDF-1.4\x00\xff", "application/pdf")


@pytest.mark.django_db
def test_an_invalid_email_address_is_refused_in_french(daytime):
    with pytest.raises(ValidationError, match="Adresse e-mail invalide"):
        send_email(to="pas-une-adresse", subject="S", body="B", template="t")
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_subject_on_two_lines_is_refused(daytime):
    with pytest.raises(ValidationError, match="une ligne"):
        send_email(to="a@example.org", subject="S\nBcc: x@example.org", body="B", template="t")
    assert not Message.objects.exists()


def test_the_worker_knows_the_delivery_task():
    app.loader.import_default_modules()
    assert "pdp.messaging.tasks.deliver_message" in app.tasks


@pytest.mark.celery_worker
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL absent : pas de broker")
def test_an_sms_goes_through_redis_and_a_real_worker(transactional_db, sms_outbox):
    from celery.contrib.testing.worker import start_worker

    assert not app.conf.task_always_eager
    with (
        time_machine.travel(DAYTIME, tick=True),
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10),
    ):
        message = send_sms(to="0612345678", body=f"Code {CODE}", template="t", secrets=[CODE])
        for _ in range(100):
            message.refresh_from_db()
            if message.status == Message.Status.SENT:
                break
            time.sleep(0.1)
    assert message.status == Message.Status.SENT
    assert [sms.body for sms in sms_outbox] == [f"Code {CODE}"]


@pytest.mark.django_db
def test_a_failing_mail_server_is_recorded(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    with django_capture_on_commit_callbacks(execute=True):
        message = send_email(to="personne@example.org", subject="S", body="B", template="t")
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error


# --- Admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_the_log_but_not_the_text(client, admin_user):
    message = Message.objects.create(
        channel=Message.Channel.SMS,
        template="booking_link",
        recipient="+33612345678",
        body="Texte-du-message-confidentiel",
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:pdp_message_change", args=[message.pk])).content.decode()
    assert "+33612345678" in page
    assert "booking_link" in page
    assert "Texte-du-message-confidentiel" not in page


@pytest.mark.django_db
def test_the_sweep_delivers_a_deferred_message_whose_task_was_lost(sms_outbox):
    from pdp.messaging.tasks import deliver_overdue_messages

    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        plain = send_sms(to="0612345678", body="Rappel de rendez-vous", template="t")
        coded = send_sms(to="0612345679", body=f"Code {CODE}", template="t", secrets=[CODE])
    # Monday 09:00: one hour past the allowed time, the ETA tasks may still come.
    assert deliver_overdue_messages(now=paris(2026, 3, 9, 9, 0)) == {}
    # 10:30: lost. The plain one is sent as stored; the masked one cannot be, and says why.
    with time_machine.travel(paris(2026, 3, 9, 10, 30), tick=False):
        assert deliver_overdue_messages() == {"sent": 1, "failed": 1}
        assert deliver_overdue_messages() == {}  # a second sweep: nothing left, nothing twice
    plain.refresh_from_db()
    coded.refresh_from_db()
    assert plain.status == Message.Status.SENT
    assert coded.status == Message.Status.FAILED and "Texte en clair" in coded.error
    assert [sms.body for sms in sms_outbox] == ["Rappel de rendez-vous"]
