"""Documents of an accompagnement: upload with a content check, deletion.

Files hold personal data: they are stored by the default storage under MEDIA_ROOT (outside the
static root, never served by a public URL) and only downloaded through a permission-checked
view. The type is decided from the content, not from the name or the browser's claim.
"""

import os
import zipfile

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from cases.models import CaseEvent, CaseStatus, Document
from cases.services import case_event_add

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"

# content type → (label, accepted file extensions; the first one is used on download)
ACCEPTED = {
    PDF: ("PDF", (".pdf",)),
    PNG: ("image PNG", (".png",)),
    JPEG: ("image JPEG", (".jpg", ".jpeg")),
    DOC: ("document Word", (".doc",)),
    XLS: ("classeur Excel", (".xls",)),
    DOCX: ("document Word", (".docx",)),
    XLSX: ("classeur Excel", (".xlsx",)),
    ODT: ("document OpenDocument", (".odt",)),
    ODS: ("classeur OpenDocument", (".ods",)),
}
ACCEPTED_EXTENSIONS = sorted({ext for _, exts in ACCEPTED.values() for ext in exts})

MSG_TYPE = (
    "Type de fichier refusé : seuls les PDF, images PNG ou JPEG et documents bureautiques "
    "(Word, Excel, OpenDocument) sont acceptés."
)

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_MAGIC = b"PK\x03\x04"
# Stream names in an OLE2 directory are UTF-16LE.
OLE_WORD_STREAM = "WordDocument".encode("utf-16-le")
OLE_EXCEL_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))


def _read_all(uploaded_file):
    uploaded_file.seek(0)
    data = uploaded_file.read()
    uploaded_file.seek(0)
    return data


def _zip_type(uploaded_file):
    uploaded_file.seek(0)
    try:
        with zipfile.ZipFile(uploaded_file) as archive:
            names = archive.namelist()
            if "[Content_Types].xml" in names:  # Office Open XML
                if any(n.startswith("word/") for n in names):
                    return DOCX
                if any(n.startswith("xl/") for n in names):
                    return XLSX
                return None
            if "mimetype" in names:  # OpenDocument: the first entry names the type
                with archive.open("mimetype") as entry:
                    mimetype = entry.read(100).decode("ascii", "replace").strip()
                return mimetype if mimetype in (ODT, ODS) else None
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        return None
    finally:
        uploaded_file.seek(0)
    return None


def _ole2_type(data):
    if OLE_WORD_STREAM in data:
        return DOC
    if any(stream in data for stream in OLE_EXCEL_STREAMS):
        return XLS
    return None


def detect_content_type(uploaded_file):
    """The accepted content type of `uploaded_file`, judged from its bytes; None otherwise."""
    uploaded_file.seek(0)
    head = uploaded_file.read(8192)
    uploaded_file.seek(0)
    if head.startswith(ZIP_MAGIC):
        return _zip_type(uploaded_file)
    if head.startswith(OLE2_MAGIC):
        return _ole2_type(_read_all(uploaded_file))
    kind = filetype.guess(head)
    if kind is not None and kind.mime in (PDF, PNG, JPEG):
        return kind.mime
    return None


def validate_upload(uploaded_file, name):
    """Return the content type of an acceptable file, or raise a French ValidationError."""
    max_size = settings.DOCUMENT_MAX_SIZE
    if uploaded_file.size == 0:
        raise ValidationError({"fichier": "Le fichier est vide."})
    if uploaded_file.size > max_size:
        raise ValidationError(
            {
                "fichier": (
                    f"Le fichier pèse {filesizeformat(uploaded_file.size)} : "
                    f"la taille maximale est de {filesizeformat(max_size)}."
                )
            }
        )
    content_type = detect_content_type(uploaded_file)
    if content_type is None:
        raise ValidationError({"fichier": MSG_TYPE})
    label, extensions = ACCEPTED[content_type]
    extension = os.path.splitext(name)[1].lower()
    if extension not in extensions:
        raise ValidationError(
            {
                "fichier": (
                    f"L'extension « {extension or 'aucune'} » ne correspond pas au contenu du "
                    f"fichier ({label}). Renommez-le en « {extensions[0]} »."
                )
            }
        )
    return content_type


def download_name(document):
    """The document's name with the extension of its type (for the download)."""
    extensions = ACCEPTED.get(document.content_type, ("", ()))[1]
    name = document.nom
    if extensions and not name.lower().endswith(extensions):
        name += extensions[0]
    return name


@transaction.atomic
def document_upload(*, accompagnement, acting_user, uploaded_file, nom=""):
    if accompagnement.statut == CaseStatus.CLOTURE:
        raise ValidationError(
            "L'accompagnement est clôturé : aucun document ne peut y être ajouté."
        )
    original_name = os.path.basename(uploaded_file.name or "")
    content_type = validate_upload(uploaded_file, original_name)
    nom = (nom or "").strip() or original_name
    uploaded_file.seek(0)
    document = Document(
        accompagnement=accompagnement,
        nom=nom[:255],
        content_type=content_type,
        taille=uploaded_file.size,
        uploaded_by=acting_user,
    )
    # The stored name does not reuse the person's file name (it may hold their name).
    extension = ACCEPTED[content_type][1][0]
    document.fichier.save(f"document{extension}", uploaded_file, save=False)
    document.save()
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.DOCUMENT,
        summary=f"Document ajouté : {document.nom}",
        changes={"document": document.pk, "taille": document.taille},
    )
    return document


DELETE_CLOSED_MESSAGE = (
    "L'accompagnement est clôturé : ses documents ne peuvent plus être supprimés "
    "(rouvrez-le si nécessaire)."
)


@transaction.atomic
def document_delete(*, document, acting_user):
    accompagnement = document.accompagnement
    if accompagnement.statut == CaseStatus.CLOTURE:
        raise ValidationError(DELETE_CLOSED_MESSAGE)
    storage, stored_name = document.fichier.storage, document.fichier.name
    nom, pk = document.nom, document.pk
    document.delete()
    case_event_add(
        accompagnement=accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.DOCUMENT,
        summary=f"Document supprimé : {nom}",
        changes={"document": pk},
    )
    # The file goes only once the row is gone for good.
    transaction.on_commit(lambda: storage.delete(stored_name))
