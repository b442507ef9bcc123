"""PDF files made from Django templates with WeasyPrint (minutes of the cellule PDP, letters).

WeasyPrint is imported only when a PDF is asked for: without it (or without its native Pango
libraries, which it loads at import time and which raise OSError when missing) every other page
of the application keeps working, and the caller gets `PdfUnavailable` with a French message
saying what to install.

Nothing is fetched from the network while rendering: the URL fetcher serves only the project's
static files (`/static/…`, found through the staticfiles finders or in STATIC_ROOT) and
`data:` URLs, and refuses everything else. Fonts are the system's DejaVu fonts, named by
`font-family` in the stylesheet (no @font-face pointing anywhere).
"""

import mimetypes
import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

# The base URL the templates' relative and root-relative links are resolved against: a
# `{% static %}` link « /static/css/x.css » becomes « file:///static/css/x.css », which the
# fetcher maps onto the static files (never onto the machine's file system).
BASE_URL = "file:///"

MISSING_PACKAGE = (
    "WeasyPrint n'est pas installé : pip install -r requirements.txt (paquet weasyprint)."
)
MISSING_LIBRARIES = (
    "Les bibliothèques Pango de WeasyPrint ne sont pas installées : apt-get install"
    " libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core"
)


class PdfUnavailable(Exception):
    """WeasyPrint or its native libraries are missing; the message says what to install."""


class UrlRefused(ValueError):
    """The renderer asked for something that is not one of the project's static files."""


def _static_prefix():
    return "/" + settings.STATIC_URL.strip("/") + "/"


def static_path(url):
    """The file behind a `file:///static/…` URL, or None when it is not a static file."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = unquote(parts.path)
    prefix = _static_prefix()
    if not path.startswith(prefix):
        return None
    relative = posixpath.normpath(path[len(prefix) :])
    if relative.startswith(("..", "/")) or relative == ".":
        return None
    found = finders.find(relative)
    if found:
        return Path(found)
    if settings.STATIC_ROOT:
        root = Path(settings.STATIC_ROOT).resolve()
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
    return None


def _fetcher_class(weasyprint):
    from weasyprint.urls import URLFetcherResponse

    class StaticOnlyFetcher(weasyprint.URLFetcher):
        """Serves the static files and data: URLs; refuses any other URL (no network)."""

        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            path = static_path(url)
            if path is None:
                raise UrlRefused(f"Ressource refusée pendant la création du PDF : {url}")
            mime_type, _ = mimetypes.guess_type(path.name)
            return URLFetcherResponse(
                url,
                body=path.read_bytes(),
                headers={"Content-Type": mime_type or "application/octet-stream"},
            )

    return StaticOnlyFetcher


def _weasyprint():
    try:
        import weasyprint
    except ImportError as exc:
        raise PdfUnavailable(MISSING_PACKAGE) from exc
    except OSError as exc:  # cffi could not load libpango / libgobject / libharfbuzz
        raise PdfUnavailable(MISSING_LIBRARIES) from exc
    return weasyprint


def url_fetcher():
    """The fetcher WeasyPrint renders with (raises PdfUnavailable without WeasyPrint)."""
    return _fetcher_class(_weasyprint())()


def render_pdf(template_name, context):
    """The PDF (bytes) of `template_name` rendered with `context`."""
    weasyprint = _weasyprint()
    html = render_to_string(template_name, context)
    fetcher = _fetcher_class(weasyprint)()
    return weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()
