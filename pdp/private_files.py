"""Files kept under PRIVATE_MEDIA_ROOT, which no URL serves (letter batches, right-of-access
archives, uploaded CPAM extracts waiting for the worker)."""

from pathlib import Path

from django.conf import settings


def private_path(relative):
    """The file behind a stored name, refused if it would leave PRIVATE_MEDIA_ROOT."""
    root = Path(settings.PRIVATE_MEDIA_ROOT).resolve()
    path = (root / relative).resolve()
    if not relative or not path.is_relative_to(root):
        raise ValueError(f"not a private file: {relative!r}")
    return path
