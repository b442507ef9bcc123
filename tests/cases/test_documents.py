import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.documents import (
    DOC,
    DOCX,
    ODS,
    ODT,
    PDF,
    PNG,
    XLSX,
    document_delete,
    document_upload,
)
from cases.models import CaseEvent, Document
from pdp.models import AuditLog
from tests.factories import AccompagnementFactory


def real_pdf():
    """A small but complete PDF 1.4 (one empty page), with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def zip_bytes(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def ole2_bytes(stream_name):
    header = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504
    return header + stream_name.encode("utf-16-le") + b"\x00" * 100


def upload(name, content):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass)


@pytest.fixture
def document(case, ass):
    return document_upload(
        accompagnement=case,
        acting_user=ass,
        uploaded_file=upload("bilan.pdf", real_pdf()),
        nom="Bilan de compétences",
    )


def upload_url(case):
    return reverse("cases:document_upload", args=[case.pk])


def download_url(document):
    return reverse("cases:document_download", args=[document.pk])


def delete_url(document):
    return reverse("cases:document_delete", args=[document.pk])


# --- Content checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("courrier.pdf", real_pdf(), PDF),
        ("photo.png", PNG_BYTES, PNG),
        (
            "cv.docx",
            zip_bytes({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w/>"}),
            DOCX,
        ),
        (
            "budget.xlsx",
            zip_bytes({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": ""}),
            XLSX,
        ),
        (
            "lettre.odt",
            zip_bytes({"mimetype": "application/vnd.oasis.opendocument.text", "c.xml": ""}),
            ODT,
        ),
        (
            "tableau.ods",
            zip_bytes({"mimetype": "application/vnd.oasis.opendocument.spreadsheet"}),
            ODS,
        ),
        ("ancien.doc", ole2_bytes("WordDocument"), DOC),
    ],
)
def test_accepted_types_are_recognised_from_their_content(
    case, ass, media, name, content, expected
):
    document = document_upload(
        accompagnement=case, acting_user=ass, uploaded_file=upload(name, content)
    )
    assert document.content_type == expected
    assert document.nom == name
    assert document.taille == len(content)
    stored = media / document.fichier.name
    assert stored.read_bytes() == content
    assert name not in document.fichier.name  # the person's file name is not reused on disk


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("facture.pdf", EXE_BYTES, "Type de fichier refusé"),
        ("archive.docx", zip_bytes({"readme.txt": "x"}), "Type de fichier refusé"),
        (
            "diapo.docx",
            zip_bytes({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": ""}),
            "Type de fichier refusé",
        ),
        ("macro.doc", ole2_bytes("Autre"), "Type de fichier refusé"),
        ("texte.pdf", b"juste du texte", "Type de fichier refusé"),
        ("photo.pdf", PNG_BYTES, "ne correspond pas au contenu"),
        ("vide.pdf", b"", "vide"),
    ],
)
def test_other_contents_are_refused(case, ass, name, content, message):
    with pytest.raises(ValidationError, match=message):
        document_upload(accompagnement=case, acting_user=ass, uploaded_file=upload(name, content))
    assert not Document.objects.exists()
    assert not CaseEvent.objects.exists()


def test_a_file_over_the_size_limit_is_refused(case, ass, settings):
    settings.DOCUMENT_MAX_SIZE = 1024
    content = real_pdf() + b"%" * 2048
    with pytest.raises(ValidationError, match="taille maximale est de 1,0"):
        document_upload(
            accompagnement=case, acting_user=ass, uploaded_file=upload("gros.pdf", content)
        )
    assert not Document.objects.exists()


# --- Upload page -----------------------------------------------------------------------------


def test_the_upload_page_sends_anonymous_visitors_to_the_login_page(client, case):
    response = client.get(upload_url(case))
    assert response.status_code == 302
    assert reverse("login") in response.url


def test_another_unit_gets_404_on_upload(client, outsider, case):
    client.force_login(outsider)
    assert client.get(upload_url(case)).status_code == 404


@pytest.mark.parametrize("persona", ["colleague", "conseiller"])
def test_staff_who_do_not_hold_the_case_may_not_upload(client, persona, request, case):
    client.force_login(request.getfixturevalue(persona))
    response = client.post(upload_url(case), {"fichier": upload("a.pdf", real_pdf())})
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_the_referent_uploads_a_real_pdf(client, ass, case, media):
    client.force_login(ass)
    assert client.get(upload_url(case)).status_code == 200
    response = client.post(
        upload_url(case), {"fichier": upload("avis.pdf", real_pdf()), "nom": "Avis SPST"}
    )
    assert response.status_code == 302
    document = Document.objects.get()
    assert (document.nom, document.content_type, document.uploaded_by) == ("Avis SPST", PDF, ass)
    assert (media / document.fichier.name).exists()
    event = CaseEvent.objects.get(kind="document")
    assert event.actor == ass
    assert event.summary == "Document ajouté : Avis SPST"


def test_an_exe_renamed_pdf_is_refused_with_a_message_next_to_the_field(client, ass, case, media):
    client.force_login(ass)
    response = client.post(upload_url(case), {"fichier": upload("facture.pdf", EXE_BYTES)})
    assert response.status_code == 200
    assert "Type de fichier refusé" in response.content.decode()
    assert not Document.objects.exists()
    assert not any(media.rglob("*.pdf"))


def test_an_oversize_upload_is_refused_by_the_page(client, ass, case, settings):
    settings.DOCUMENT_MAX_SIZE = 1024
    client.force_login(ass)
    response = client.post(upload_url(case), {"fichier": upload("gros.pdf", real_pdf() * 10)})
    assert "taille maximale" in response.content.decode()
    assert not Document.objects.exists()


# --- Download --------------------------------------------------------------------------------


def test_download_sends_anonymous_visitors_to_the_login_page(client, document):
    response = client.get(download_url(document))
    assert response.status_code == 302


def test_another_unit_gets_404_on_download(client, outsider, document):
    client.force_login(outsider)
    assert client.get(download_url(document)).status_code == 404


def test_a_conseiller_gets_403_on_download(client, conseiller, document):
    client.force_login(conseiller)
    assert client.get(download_url(document)).status_code == 403
    assert not AuditLog.objects.filter(action="export").exists()


@pytest.mark.parametrize("persona", ["ass", "colleague", "manager"])
def test_case_content_readers_download_the_file_and_it_is_audited(
    client, persona, request, document, share_case
):
    user = request.getfixturevalue(persona)
    if persona == "colleague":
        client.force_login(user)
        assert client.get(download_url(document)).status_code == 403
        share_case(document.accompagnement, user)
    client.force_login(user)
    response = client.get(download_url(document))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == real_pdf()
    assert response["Content-Type"] == PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert "Bilan" in response["Content-Disposition"]
    assert ".pdf" in response["Content-Disposition"]
    log = AuditLog.objects.get(action="export")
    assert (log.user, log.object_type, log.object_id) == (user, "cases.document", str(document.pk))
    assert log.assure_id == document.accompagnement.assure_id


def test_a_missing_file_gives_404(client, ass, document, media):
    (media / document.fichier.name).unlink()
    client.force_login(ass)
    assert client.get(download_url(document)).status_code == 404


def test_documents_are_not_under_a_public_url(document, settings):
    assert not settings.MEDIA_URL or settings.MEDIA_URL in ("/", "")
    assert str(settings.STATIC_ROOT) not in str(document.fichier.path)


# --- Delete ----------------------------------------------------------------------------------


def test_delete_sends_anonymous_visitors_to_the_login_page(client, document):
    assert client.post(delete_url(document)).status_code == 302
    assert Document.objects.exists()


def test_another_unit_gets_404_on_delete(client, outsider, document):
    client.force_login(outsider)
    assert client.post(delete_url(document)).status_code == 404


@pytest.mark.parametrize("persona", ["colleague", "conseiller"])
def test_staff_who_do_not_hold_the_case_may_not_delete(client, persona, request, document):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(delete_url(document)).status_code == 403
    assert Document.objects.filter(pk=document.pk).exists()


def test_the_referent_deletes_a_document_and_its_file(
    client, ass, document, media, django_capture_on_commit_callbacks
):
    path = media / document.fichier.name
    client.force_login(ass)
    assert client.get(delete_url(document)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete_url(document))
    assert response.status_code == 302
    assert not Document.objects.exists()
    assert not path.exists()
    assert CaseEvent.objects.filter(
        kind="document", summary__startswith="Document supprimé"
    ).exists()


def close(case, user):
    services.case_close(
        accompagnement=case,
        acting_user=user,
        outcome="autre",
        date_cloture=timezone.localdate(),
    )


def test_the_documents_of_a_closed_case_cannot_be_deleted(case, ass, document, media):
    close(case, ass)
    path = media / document.fichier.name
    with pytest.raises(ValidationError) as exc:
        document_delete(document=document, acting_user=ass)
    assert exc.value.messages == [
        "L'accompagnement est clôturé : ses documents ne peuvent plus être supprimés "
        "(rouvrez-le si nécessaire)."
    ]
    assert Document.objects.filter(pk=document.pk).exists()
    assert path.exists()
    assert not CaseEvent.objects.filter(summary__startswith="Document supprimé").exists()


def test_the_delete_page_of_a_closed_case_refuses_and_changes_nothing(
    client, ass, case, document, media, django_capture_on_commit_callbacks
):
    close(case, ass)
    path = media / document.fichier.name
    client.force_login(ass)
    page = client.get(delete_url(document)).content.decode()
    assert "ses documents ne peuvent plus être supprimés" in page
    assert "btn btn-danger" not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete_url(document))
    assert response.status_code == 200
    assert "ses documents ne peuvent plus être supprimés" in response.content.decode()
    assert Document.objects.filter(pk=document.pk).exists()
    assert path.exists()
    assert not CaseEvent.objects.filter(summary__startswith="Document supprimé").exists()


# --- The section of the accompagnement page ------------------------------------------------


def section(case, user, documents, **flags):
    context = {
        "case": case,
        "documents": documents,
        "can_edit": flags.get("can_edit", False),
        "can_read_content": flags.get("can_read_content", False),
        "user": user,
    }
    return render_to_string("cases/_documents.html", context)


def test_the_section_lists_documents_for_content_readers(case, ass, document):
    html = section(case, ass, [document], can_edit=True, can_read_content=True)
    assert "Bilan de compétences" in html
    assert download_url(document) in html
    assert delete_url(document) in html
    assert str(ass) in html


def test_the_section_of_a_closed_case_offers_no_deletion(case, ass, document):
    close(case, ass)
    case.refresh_from_db()
    html = section(case, ass, [document], can_edit=True, can_read_content=True)
    assert download_url(document) in html
    assert delete_url(document) not in html
    assert "Supprimer" not in html
    assert reverse("cases:document_upload", args=[case.pk]) not in html


def test_the_section_hides_documents_from_conseillers(case, conseiller, document):
    html = section(case, conseiller, [document])
    assert "Bilan de compétences" not in html
    assert download_url(document) not in html


def test_the_accompagnement_page_shows_the_documents_and_meetings(client, ass, document, case):
    client.force_login(ass)
    response = client.get(reverse("cases:accompagnement_detail", args=[case.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert download_url(document) in html
    assert reverse("cases:entretien_create", args=[case.pk]) in html
