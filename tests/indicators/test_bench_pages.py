"""The page benchmark's pure parts (`indicators/bench_pages.py`): the wrk script and its report,
the target; and that its trivial view is not reachable through the project's URLs. The bench
itself (gunicorn, wrk, a copy of a national database) is not run here."""

import http.server
import math
import shutil
import subprocess
import threading

import pytest
from django.core.management import CommandError, call_command
from django.urls import Resolver404, resolve

from indicators.bench_pages import (
    MARK,
    lua_string,
    parse_wrk,
    ratio,
    verdict,
    wrk_script,
)
from indicators.bench_urls import TRIVIAL_PATH

REPORT = (
    "Running 10s test @ http://127.0.0.1:8000/signalements/\n"
    "  2 threads and 8 connections\n"
    f'{MARK}{{"requests": 1500, "duration_us": 10000000, "p50_us": 40500, "p95_us": 61000,'
    ' "p99_us": 88000, "max_us": 120000, "non_200": 3, "connect": 0, "read": 1, "write": 0,'
    ' "timeout": 2}\n'
)


def run(p95, trivial_p95=10.0, non_200=0, errors=0, requests=100):
    return (
        {"requests": requests, "p95": p95, "non_200": non_200, "errors": errors},
        {"requests": 100, "p95": trivial_p95, "non_200": 0, "errors": 0},
    )


def test_it_reads_the_report_line_of_wrk():
    result = parse_wrk(REPORT)
    assert result["requests"] == 1500
    assert result["seconds"] == 10.0
    assert result["rps"] == 150.0
    assert (result["p50"], result["p95"], result["p99"], result["max"]) == (40.5, 61, 88, 120)
    assert result["non_200"] == 3
    assert result["errors"] == 3  # read + timeout


def test_it_refuses_an_output_without_report():
    with pytest.raises(ValueError, match="no report line"):
        parse_wrk("unable to connect to 127.0.0.1:8000 Connection refused\n")


def test_the_target_is_three_times_the_trivial_p95():
    assert verdict(*run(30.0)) is True
    assert verdict(*run(30.1)) is False
    assert ratio(30.0, 10.0) == 3.0
    assert ratio(5.0, 0.0) == math.inf


def test_a_page_with_other_answers_than_200_or_errors_misses_the_target():
    assert verdict(*run(1.0, non_200=1)) is False  # a 302 to the login page is not fast
    assert verdict(*run(1.0, errors=1)) is False
    assert verdict(*run(1.0, requests=0)) is False


def test_the_script_sets_the_headers_and_prints_the_report():
    script = wrk_script({"Cookie": "sessionid=abc", "X-Forwarded-Proto": "https"})
    assert 'wrk.headers["Cookie"] = "sessionid=abc"' in script
    assert 'wrk.headers["X-Forwarded-Proto"] = "https"' in script
    assert MARK in script and "function done(summary, latency, requests)" in script


def test_lua_strings_are_escaped_or_refused():
    assert lua_string('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(ValueError):
        lua_string("é")
    with pytest.raises(ValueError):
        lua_string("a\nb")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 302)
        if self.path != "/ok":
            self.send_header("Location", "/accounts/login/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk absent (apt-get install -y wrk; .ci/run does it)."
)
@pytest.mark.parametrize(("path", "all_200"), [("/ok", True), ("/redirect", False)])
def test_the_script_counts_the_answers_that_are_not_200_with_a_real_wrk(tmp_path, path, all_200):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = tmp_path / "bench.lua"
    script.write_text(wrk_script({"X-Forwarded-Proto": "https"}))
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                "2",
                "-d",
                "1s",
                "-s",
                str(script),
                f"http://127.0.0.1:{server.server_port}{path}",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    finally:
        server.shutdown()
        server.server_close()
    result = parse_wrk(output)
    assert result["requests"] > 0
    assert result["errors"] == 0
    assert (result["non_200"] == 0) is all_200
    if not all_200:
        assert result["non_200"] == result["requests"]
    assert 0 < result["p50"] <= result["p95"] <= result["p99"] <= result["max"]


def test_the_trivial_view_is_not_in_the_project_urls():
    with pytest.raises(Resolver404):
        resolve(TRIVIAL_PATH)  # pdp.urls: production never has it
    assert resolve(TRIVIAL_PATH, urlconf="indicators.bench_urls").func.__name__ == "trivial"


@pytest.mark.postgres
def test_the_command_says_when_wrk_is_missing(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(CommandError, match="wrk est absent.*apt-get install -y wrk"):
        call_command("bench_pages")
