"""Load of the public booking page: N clients at once on loopback, each with its own session.

Each client opens the code's link, confirms the birth date (as a person does), then asks for
the free slots of the week R times; prints p50 / p95 / max of those requests and the rate.

    python tests/tools/load_public.py http://127.0.0.1:8000 CODE 1972-03-15 \
        --clients 20 --requests 25

The code is a booking code of the running site (e.g. `manage.py shell`: pdp.access_codes.
access_code_issue); the birth date is the person's.
"""

import argparse
import http.cookiejar
import re
import statistics
import threading
import time
import urllib.parse
import urllib.request


def client(base, code, dob, mode, count, timings, errors):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/r/{code}/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    year, month, day = dob.split("-")
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "jour": int(day), "mois": int(month), "annee": year}
    ).encode()
    request = urllib.request.Request(
        f"{base}/rdv/identification/", data=data, headers={"Referer": f"{base}/rdv/identification/"}
    )
    opener.open(request).read()
    for _ in range(count):
        start = time.perf_counter()
        try:
            with opener.open(f"{base}/rdv/?mode={mode}") as response:
                body = response.read()
                if response.status != 200 or b"cr\xc3\xa9neau" not in body:
                    errors.append(response.status)
        except Exception as exc:  # noqa: BLE001 - counted, not raised
            errors.append(repr(exc))
        timings.append(time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("code")
    parser.add_argument("birth_date")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--mode", default="telephone")
    args = parser.parse_args()
    timings, errors = [], []
    threads = [
        threading.Thread(
            target=client,
            args=(args.base, args.code, args.birth_date, args.mode, args.requests, timings, errors),
        )
        for _ in range(args.clients)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{args.clients} clients × {args.requests} requests: {len(timings)} in {elapsed:.1f} s"
        f" ({len(timings) / elapsed:.0f}/s), p50 {statistics.median(timings) * 1000:.0f} ms,"
        f" p95 {p95 * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms, errors {len(errors)}"
    )


if __name__ == "__main__":
    main()
