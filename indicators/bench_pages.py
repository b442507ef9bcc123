"""The pure parts of the page benchmark (`manage.py bench_pages`, issue 15, item 1): the wrk
script that prints its report as JSON, the reading of that report, and the target.

wrk drives the pages; its Lua hooks count every answer that is not a 200 (a page answering 302
to the login page would be a false fast result: wrk itself counts only 4xx and 5xx) and `done`
prints one line `BENCH_PAGES_JSON {…}` with the request count, the duration, the latency
percentiles (microseconds) and the errors.
"""

import json
import math

# Target (issue 15): at TARGET_CLIENTS concurrent clients, a page's p95 is at most
# TARGET_FACTOR times the p95 of the trivial view measured in the same run.
TARGET_FACTOR = 3.0
TARGET_CLIENTS = 8
MARK = "BENCH_PAGES_JSON "

_LUA = """
wrk.method = "GET"
%(headers)s
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  other = 0
end
function response(status, headers, body)
  if status ~= 200 then
    other = other + 1
  end
end
function done(summary, latency, requests)
  local non_200 = 0
  for _, thread in ipairs(threads) do
    non_200 = non_200 + (thread:get("other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "non_200": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, non_200, e.connect, e.read, e.write, e.timeout))
end
"""


def lua_string(value):
    """A Lua string literal for a header name or value (printable ASCII only: cookies and
    host names; anything else is refused rather than escaped wrongly)."""
    if not all(32 <= ord(c) < 127 for c in value):
        raise ValueError(f"not printable ASCII: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(headers):
    """The Lua script of one wrk run: GET with these headers, the report as one JSON line."""
    lines = "\n".join(
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in sorted(headers.items())
    )
    return _LUA % {"headers": lines, "mark": MARK}


def parse_wrk(output):
    """The figures of one wrk run from its standard output: milliseconds, requests per second,
    the answers that were not 200 and the socket errors. Raises ValueError when the report
    line is missing (wrk failed, or the script did not run)."""
    for line in output.splitlines():
        if line.startswith(MARK):
            raw = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError("no report line in wrk's output:\n" + output[-2000:])
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "seconds": seconds,
        "rps": raw["requests"] / seconds if seconds > 0 else 0.0,
        "p50": raw["p50_us"] / 1000,
        "p95": raw["p95_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "max": raw["max_us"] / 1000,
        "non_200": raw["non_200"],
        "errors": errors,
    }


def ratio(p95, trivial_p95):
    """The page's p95 over the trivial view's (infinite when the trivial one is 0)."""
    return p95 / trivial_p95 if trivial_p95 > 0 else math.inf


def verdict(result, trivial, factor=TARGET_FACTOR):
    """Whether a page run meets the target against the trivial view's run: every answer a 200,
    no socket error, some requests, and p95 ≤ factor × the trivial view's p95."""
    if not result["requests"] or result["non_200"] or result["errors"]:
        return False
    return ratio(result["p95"], trivial["p95"]) <= factor
