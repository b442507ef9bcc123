"""Access codes stay out of the server's logs.

A link `/r/<code>/` carries a person's access code in its path: the entry view moves it into
the session at once, but the request line itself is what web servers log. Every log line
written by this project's processes goes through `redact_codes`: the development server's
request log and Django's request warnings through the `RedactAccessCodes` filter (settings
`LOGGING`), gunicorn's access log through `pdp.gunicorn_logging.RedactingLogger` (`Procfile`).
"""

import logging
import re

# /r/<code>/ as the public entry point writes it, and a mistyped one.
_CODE_PATH = re.compile(r"(/r/)[^/\s?\"']+")
MASK = "••••••••"


def redact_codes(text):
    return _CODE_PATH.sub(lambda m: m.group(1) + MASK, text)


class RedactAccessCodes(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        redacted = redact_codes(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
