"""gunicorn's access log without access codes (see `pdp.logging`): `--logger-class
pdp.gunicorn_logging.RedactingLogger` (the `Procfile` passes it)."""

from gunicorn.glogging import Logger

from pdp.logging import redact_codes

# The atoms of the access log format that hold the request's path.
_PATH_ATOMS = ("r", "U", "q", "f")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _PATH_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_codes(atoms[key])
        return atoms
