"""gunicorn's access log without access codes (see `pdp.logging`), nor the load balancer's
health checks (one every few seconds: noise): `logger_class` of `gunicorn.conf.py`."""

from gunicorn.glogging import Logger

from pdp.logging import redact_codes

# The atoms of the access log format that hold the request's path.
_PATH_ATOMS = ("r", "U", "q", "f")
# The health check's path (`pdp.health`, route "health").
HEALTH_PATH = "/sante/"


class RedactingLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return
        super().access(resp, req, environ, request_time)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _PATH_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_codes(atoms[key])
        return atoms
