"""Campaign letters: a batch claims the waiting letters once (two lots never share a target, a
second run of the task does nothing), issues their codes, writes one PDF (one page per
person, the code on each, only the name and the address in the envelope's window, no health
word) and a CSV for a mail house; failures roll everything back; constant statements; the
pages (404 / 403) and audited downloads."""

import csv
import datetime
import io
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from outreach import campaign_letters
from outreach.campaign_letters import lot_build, lot_create
from outreach.models import Campagne, CampagneEvent, Cible, LotCourrier
from pdp.models import AccessCode, AuditLog, Unit, UnitTerritory
from pdp.pdf import MISSING_PACKAGE, PdfUnavailable
from tests.factories import (
    ArretFactory,
    AssureFactory,
    RegionFactory,
    UnitFactory,
    UserFactory,
)

HEALTH_WORDS = [
    "maladie",
    "arrêt",
    "santé",
    "médical",
    "médecin",
    "handicap",
    "invalidité",
    "diagnostic",
    "pathologie",
    "soins",
]
CODE_RE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")
# The envelope window (DL, window on the right): 110 mm from the left, 45 to 90 mm from the top.
WINDOW = (110, 200, 45, 90)


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.SITE_URL = "https://pdp.example.org"


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def unit(region):
    unit = UnitFactory(region=region, name="Unité de Rouen", telephone="02 35 00 00 00")
    UnitTerritory.objects.create(unit=unit, prefix="76")
    return unit


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


@pytest.fixture
def campagne(unit, manager):
    return Campagne.objects.create(
        region=unit.region,
        unit=unit,
        nom="Campagne de mars",
        date_reference=timezone.localdate(),
        created_by=manager,
        statut=Campagne.Statut.EN_COURS,
    )


def letter_target(campagne, canal="courrier", **fields):
    fields.setdefault("adresse", "12 rue des Carmes")
    assure = AssureFactory(**fields)
    arret = ArretFactory(assure=assure)
    return Cible.objects.create(
        campagne=campagne, assure=assure, arret=arret, canal=canal, created_at=timezone.now()
    )


def fake_pdf(**_kwargs):
    return b"%PDF-1.7 fake"


@pytest.fixture
def no_render(monkeypatch):
    """Most tests need the claims, codes and files, not WeasyPrint's few seconds."""
    monkeypatch.setattr(campaign_letters, "render_letters", fake_pdf)


def build(campagne, manager):
    lot = LotCourrier.objects.create(campagne=campagne, numero=1, created_by=manager)
    return lot_build(lot_id=lot.pk) or LotCourrier.objects.get(pk=lot.pk)


def read_csv(lot):
    raw = campaign_letters.private_path(lot.csv).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def pdf_pages(content):
    """Each page: its pieces of text with their position from the top-left corner, in mm."""
    from pypdf import PdfReader

    assert content.startswith(b"%PDF")
    pages = []
    for page in PdfReader(io.BytesIO(content)).pages:
        height = float(page.mediabox.height)
        pieces = []

        def visit(text, cm, tm, _font, _size, pieces=pieces, height=height):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                pieces.append((text.strip(), x * 25.4 / 72, (height - y) * 25.4 / 72))

        page.extract_text(visitor_text=visit)
        pages.append(pieces)
    return pages


def in_window(pieces):
    left, right, top, bottom = WINDOW
    return [t for t, x, y in pieces if left <= x <= right and top <= y <= bottom]


# --- The batch ---------------------------------------------------------------------------------


def test_a_batch_claims_the_waiting_letters_only(campagne, manager, no_render):
    waiting = [letter_target(campagne) for _ in range(3)]
    sms = letter_target(campagne, canal="sms")
    excluded = letter_target(campagne)
    Cible.objects.filter(pk=excluded.pk).update(exclusion="sans_contact")
    answered = letter_target(campagne)
    Cible.objects.filter(pk=answered.pk).update(rdv_pris_le=timezone.now())
    refused = letter_target(campagne)
    Cible.objects.filter(pk=refused.pk).update(refus_le=timezone.now())
    expired = letter_target(campagne)
    Cible.objects.filter(pk=expired.pk).update(expire_le=timezone.now(), expiration="close")

    lot = build(campagne, manager)

    assert lot.statut == LotCourrier.Statut.PRET
    assert lot.nombre == 3
    assert lot.pret_le is not None
    claimed = Cible.objects.filter(lot=lot)
    assert {c.pk for c in claimed} == {t.pk for t in waiting}
    assert all(c.envoye_le is not None and c.code_id is not None for c in claimed)
    for other in (sms, excluded, answered, refused, expired):
        other.refresh_from_db()
        assert other.lot_id is None and other.envoye_le is None and other.code_id is None
    codes = AccessCode.objects.filter(pk__in=[c.code_id for c in claimed])
    assert codes.count() == 3
    last_day = timezone.localdate() + datetime.timedelta(days=campagne.validite_courrier_jours)
    for code, target in zip(
        codes.order_by("object_id"), sorted(claimed, key=lambda c: str(c.pk)), strict=True
    ):
        assert code.purpose == AccessCode.Purpose.BOOKING
        assert (code.object_type, code.object_id) == ("outreach.cible", str(target.pk))
        assert code.assure_id == target.assure_id
        # Valid through the last day, expired at the midnight after it.
        assert timezone.localtime(code.expires_at).date() == last_day + datetime.timedelta(days=1)
        assert timezone.localtime(code.expires_at).time() == datetime.time.min
    event = CampagneEvent.objects.get(campagne=campagne, kind=CampagneEvent.Kind.LETTERS)
    assert event.data == {"lot": 1, "statut": "pret", "nombre": 3}
    audits = AuditLog.objects.filter(object_type="outreach.cible", user=manager)
    assert sorted(a.assure_id for a in audits) == sorted(t.assure_id for t in waiting)
    assert campaign_letters.private_path(lot.pdf).read_bytes() == fake_pdf()
    assert lot.pdf.startswith(f"lots/{campagne.pk}/1-") and lot.pdf.endswith(".pdf")


def test_running_the_task_twice_gives_one_set_of_codes(campagne, manager, no_render):
    for _ in range(2):
        letter_target(campagne)
    lot = build(campagne, manager)
    codes = list(Cible.objects.filter(lot=lot).values_list("code_id", flat=True))

    assert lot_build(lot_id=lot.pk) is None  # no longer « en préparation »: nothing done

    assert sorted(Cible.objects.filter(lot=lot).values_list("code_id", flat=True)) == sorted(codes)
    assert AccessCode.objects.count() == 2
    assert CampagneEvent.objects.filter(kind=CampagneEvent.Kind.LETTERS).count() == 1
    assert LotCourrier.objects.get(pk=lot.pk).statut == LotCourrier.Statut.PRET


def test_two_lots_do_not_share_a_target(campagne, manager, no_render):
    first = [letter_target(campagne) for _ in range(2)]
    lot1 = build(campagne, manager)
    second = [letter_target(campagne) for _ in range(3)]
    lot2 = LotCourrier.objects.create(campagne=campagne, numero=2, created_by=manager)
    lot3 = LotCourrier.objects.create(campagne=campagne, numero=3, created_by=manager)

    lot_build(lot_id=lot2.pk)
    lot_build(lot_id=lot3.pk)

    assert {c.pk for c in Cible.objects.filter(lot=lot1)} == {t.pk for t in first}
    assert {c.pk for c in Cible.objects.filter(lot=lot2)} == {t.pk for t in second}
    lot3.refresh_from_db()
    assert lot3.statut == LotCourrier.Statut.ECHEC
    assert lot3.erreur == campaign_letters.EMPTY
    assert AccessCode.objects.count() == 5


def test_a_failure_claims_nothing_issues_no_code_and_marks_the_lot(
    campagne, manager, monkeypatch, settings
):
    targets = [letter_target(campagne) for _ in range(2)]

    def missing(**_kwargs):
        raise PdfUnavailable(MISSING_PACKAGE)

    monkeypatch.setattr(campaign_letters, "render_letters", missing)
    lot = build(campagne, manager)

    assert lot.statut == LotCourrier.Statut.ECHEC
    assert lot.erreur == MISSING_PACKAGE
    assert lot.nombre == 0 and lot.pdf == "" and lot.csv == ""
    for target in targets:
        target.refresh_from_db()
        assert (target.envoye_le, target.lot_id, target.code_id) == (None, None, None)
    assert not AccessCode.objects.exists()
    assert not AuditLog.objects.filter(object_type="outreach.cible").exists()
    assert not list(settings.PRIVATE_MEDIA_ROOT.rglob("*.*"))
    event = CampagneEvent.objects.get(kind=CampagneEvent.Kind.LETTERS)
    assert event.data["statut"] == "echec"
    # The letters are still waiting for the next batch.
    assert campaign_letters.letters_waiting(campagne).count() == 2


def test_an_unexpected_failure_after_the_files_removes_them(campagne, manager, monkeypatch):
    letter_target(campagne)
    monkeypatch.setattr(campaign_letters, "render_letters", fake_pdf)

    create = CampagneEvent.objects.create

    def broken(**kwargs):
        if kwargs["data"]["statut"] == LotCourrier.Statut.PRET:
            raise RuntimeError("database on fire")
        return create(**kwargs)

    monkeypatch.setattr(CampagneEvent.objects, "create", broken)
    lot = build(campagne, manager)

    assert lot.statut == LotCourrier.Statut.ECHEC
    assert lot.erreur == campaign_letters.FAILED
    assert not list(campaign_letters.private_path("lots").rglob("*.*"))
    assert not AccessCode.objects.exists()


def test_the_statements_do_not_depend_on_the_number_of_letters(campagne, manager, unit, no_render):
    def statements(campagne, n):
        for _ in range(n):
            letter_target(campagne)
        lot = LotCourrier.objects.create(campagne=campagne, numero=1, created_by=manager)
        with CaptureQueriesContext(connection) as queries:
            lot_build(lot_id=lot.pk)
        assert LotCourrier.objects.get(pk=lot.pk).nombre == n
        return len(queries)

    other = Campagne.objects.create(
        region=unit.region,
        unit=unit,
        nom="Autre",
        date_reference=timezone.localdate(),
        created_by=manager,
        statut=Campagne.Statut.EN_COURS,
    )
    few, many = statements(campagne, 3), statements(other, 30)
    assert few == many
    assert many <= 16


def test_no_clear_code_is_stored_anywhere(campagne, manager, no_render):
    for _ in range(3):
        letter_target(campagne)
    lot = build(campagne, manager)
    codes = [row[8] for row in read_csv(lot)[1:]]
    assert len(codes) == 3 and all(CODE_RE.fullmatch(c) for c in codes)
    stored = " ".join(
        [
            *(str(a.changes) for a in AuditLog.objects.all()),
            *(str(e.data) for e in CampagneEvent.objects.all()),
            *(f"{c.digest} {c.object_id}" for c in AccessCode.objects.all()),
            str(list(LotCourrier.objects.values())),
        ]
    )
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored


# --- The letter and the CSV --------------------------------------------------------------------


def test_the_pdf_has_a_page_per_person_with_the_code_and_only_the_address_in_the_window(
    campagne, manager
):
    people = [
        letter_target(
            campagne,
            prenoms="Claire",
            nom_naissance="Martin",
            sexe="2",
            adresse="12 rue des Carmes",
            code_postal="76000",
            commune="Rouen",
        ),
        letter_target(
            campagne,
            prenoms="Paul",
            nom_naissance="Durand",
            sexe="1",
            adresse="3 place du Marché",
            code_postal="76100",
            commune="Rouen",
        ),
    ]
    lot = build(campagne, manager)
    assert lot.statut == LotCourrier.Statut.PRET, lot.erreur
    pages = pdf_pages(campaign_letters.private_path(lot.pdf).read_bytes())
    rows = read_csv(lot)[1:]

    assert len(pages) == 2
    windows = [in_window(p) for p in pages]
    # Sorted by postal code, as the CSV: the same person on page n and CSV row n.
    assert windows == [
        ["Madame Claire MARTIN", "12 rue des Carmes", "76000 Rouen"],
        ["Monsieur Paul DURAND", "3 place du Marché", "76100 Rouen"],
    ]
    for pieces, row in zip(pages, rows, strict=True):
        text = " ".join(t for t, _x, _y in pieces)
        assert row[8] in text  # the code as typed, « ABCD-EFGH »
        assert "https://pdp.example.org/r/" in text
        assert "02 35 00 00 00" in text
        assert "Lot 1 · pli" in text
        window = " ".join(in_window(pieces)).lower()
        assert not [w for w in HEALTH_WORDS if w in window]
        # Nowhere on the letter beyond the institution's name.
        body = text.lower().replace("assurance maladie", "")
        assert not [w for w in HEALTH_WORDS if w in body]
    assert len({row[8] for row in rows}) == 2
    assert {p.assure.nom_naissance.upper() for p in people} == {row[3] for row in rows}


def test_a_batch_rendered_by_parts_is_one_pdf_in_the_csv_order(campagne, manager, monkeypatch):
    monkeypatch.setattr(campaign_letters, "RENDER_PART", 2)
    for n in range(5):
        letter_target(campagne, nom_naissance=f"Nom{n}", code_postal=f"7600{n}", commune="Rouen")
    lot = build(campagne, manager)
    assert lot.statut == LotCourrier.Statut.PRET, lot.erreur
    pages = pdf_pages(campaign_letters.private_path(lot.pdf).read_bytes())
    rows = read_csv(lot)[1:]
    assert len(pages) == len(rows) == 5
    for pli, (pieces, row) in enumerate(zip(pages, rows, strict=True), start=1):
        text = " ".join(t for t, _x, _y in pieces)
        assert row[8] in text and f"pli {pli}" in text and row[3] in text


def test_the_csv_has_the_mail_house_columns(campagne, manager, no_render):
    target = letter_target(
        campagne,
        prenoms="Claire",
        nom_naissance="Martin",
        sexe="2",
        adresse="12 rue des Carmes\nBâtiment B",
        code_postal="76000",
        commune="Rouen",
    )
    lot = build(campagne, manager)
    header, row = read_csv(lot)

    assert header == campaign_letters.CSV_HEADER
    last_day = timezone.localdate() + datetime.timedelta(days=campagne.validite_courrier_jours)
    assert row[:8] == [
        "1",
        "1",
        "Madame",
        "MARTIN",
        "Claire",
        "12 rue des Carmes, Bâtiment B",
        "76000",
        "Rouen",
    ]
    assert CODE_RE.fullmatch(row[8])
    assert row[9] == f"https://pdp.example.org/r/{row[8].replace('-', '')}/"
    assert row[10:] == [last_day.strftime("%d/%m/%Y"), "02 35 00 00 00"]
    target.refresh_from_db()
    assert target.code.digest not in row[8]


def test_a_csv_cell_cannot_become_a_formula(campagne, manager, no_render):
    """The mail-house CSV goes through pdp.exports.safe_cell, the rule of every export: even
    « -1+… » or a phone number « +33 … » is kept as text."""
    letter_target(campagne, nom_naissance="=HYPERLINK(1)", prenoms="-1+SUM(A1)")
    Unit.objects.filter(pk=campagne.unit_id).update(telephone="+33 2 35 00 00 00")
    [row] = read_csv(build(campagne, manager))[1:]
    assert row[3] == "'=HYPERLINK(1)" and row[4] == "'-1+SUM(A1)"
    assert row[11] == "'+33 2 35 00 00 00"


def test_a_region_wide_campaign_signs_with_the_unit_of_the_person(
    region, unit, no_render, monkeypatch
):
    other = UnitFactory(region=region, name="Unité du Havre", telephone="02 32 00 00 00")
    UnitTerritory.objects.create(unit=other, prefix="766")
    regional = UserFactory(regional=True, region=region)
    campagne = Campagne.objects.create(
        region=region,
        nom="Campagne régionale",
        date_reference=timezone.localdate(),
        created_by=regional,
        statut=Campagne.Statut.EN_COURS,
    )
    letter_target(campagne, code_postal="76600", commune="Le Havre")
    letter_target(campagne, code_postal="76000", commune="Rouen")
    lot = build(campagne, regional)

    phones = {row[7]: row[11] for row in read_csv(lot)[1:]}
    assert phones == {"Le Havre": "02 32 00 00 00", "Rouen": "02 35 00 00 00"}


# --- Asking for a batch ------------------------------------------------------------------------


def test_the_manager_asks_for_a_batch_built_on_commit(
    campagne, manager, no_render, django_capture_on_commit_callbacks
):
    letter_target(campagne)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lot = lot_create(campagne=campagne, acting_user=manager)
    assert len(callbacks) == 1
    lot.refresh_from_db()
    assert (lot.numero, lot.statut, lot.nombre) == (1, LotCourrier.Statut.PRET, 1)
    assert AuditLog.objects.filter(object_type="outreach.lotcourrier", user=manager).exists()


def test_a_batch_is_refused_when_not_running_empty_or_already_preparing(campagne, manager):
    with pytest.raises(ValidationError, match="Aucun courrier en attente"):
        lot_create(campagne=campagne, acting_user=manager)
    letter_target(campagne)
    LotCourrier.objects.create(campagne=campagne, numero=1, created_by=manager)
    with pytest.raises(ValidationError, match="déjà en préparation"):
        lot_create(campagne=campagne, acting_user=manager)
    Campagne.objects.filter(pk=campagne.pk).update(statut=Campagne.Statut.VALIDEE)
    with pytest.raises(ValidationError, match="campagne en cours"):
        lot_create(campagne=campagne, acting_user=manager)
    assert LotCourrier.objects.count() == 1


def test_a_lost_batch_does_not_block_the_next_one(campagne, manager, no_render):
    letter_target(campagne)
    stale = LotCourrier.objects.create(campagne=campagne, numero=1, created_by=manager)
    LotCourrier.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=1)
    )
    assert lot_create(campagne=campagne, acting_user=manager).numero == 2


def test_only_the_campaign_manager_asks_for_a_batch(campagne, unit):
    letter_target(campagne)
    for user in (UserFactory(ass=True, unit=unit), UserFactory(regional=True, region=unit.region)):
        with pytest.raises(PermissionDenied):
            lot_create(campagne=campagne, acting_user=user)
    assert not LotCourrier.objects.exists()


# --- Pages -------------------------------------------------------------------------------------


def prepare_url(campagne):
    return reverse("outreach:campaign_letters_prepare", args=[campagne.pk])


def test_the_prepare_button_makes_a_batch(
    client, campagne, manager, no_render, django_capture_on_commit_callbacks
):
    letter_target(campagne)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(prepare_url(campagne))
    assert response.status_code == 302
    assert response["Location"].endswith("#courriers")
    lot = LotCourrier.objects.get(campagne=campagne)
    assert lot.statut == LotCourrier.Statut.PRET  # eager Celery in tests
    page = client.get(reverse("outreach:campaign_detail", args=[campagne.pk]))
    assert "Lot n°\u00a01 en préparation" in page.content.decode()


def test_a_refused_batch_shows_a_french_message(client, campagne, manager):
    client.force_login(manager)
    response = client.post(prepare_url(campagne), follow=True)
    assert response.status_code == 200
    assert "Aucun courrier en attente pour cette campagne." in response.content.decode()
    assert not LotCourrier.objects.exists()


def test_the_prepare_page_permissions(client, campagne, unit):
    letter_target(campagne)
    assert client.post(prepare_url(campagne)).status_code == 302  # anonymous → login
    client.force_login(UserFactory(ass=True, unit=unit))
    assert client.post(prepare_url(campagne)).status_code == 403
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    client.force_login(UserFactory(manager=True, unit=elsewhere))
    assert client.post(prepare_url(campagne)).status_code == 404
    assert not LotCourrier.objects.exists()


@pytest.mark.parametrize("kind", ["pdf", "csv"])
def test_the_manager_downloads_a_ready_batch_audited(client, campagne, manager, no_render, kind):
    letter_target(campagne)
    lot = build(campagne, manager)
    client.force_login(manager)
    response = client.get(
        reverse(f"outreach:campaign_letters_{kind}", args=[campagne.pk, lot.numero])
    )
    assert response.status_code == 200
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="courriers-campagne-de-mars-lot-1.{kind}"'
    )
    body = b"".join(response.streaming_content)
    assert body == campaign_letters.private_path(getattr(lot, kind)).read_bytes()
    row = AuditLog.objects.get(object_type="outreach.lotcourrier", action=AuditLog.Action.VIEW)
    assert row.user == manager
    assert row.object_id == str(lot.pk)
    assert row.changes["download"] == [None, kind]
    # …and each person the file names.
    listed = AuditLog.objects.filter(
        object_type="outreach.cible", user=manager, action=AuditLog.Action.VIEW
    )
    assert sorted(listed.values_list("assure_id", flat=True)) == sorted(
        lot.cibles.values_list("assure_id", flat=True)
    )
    assert listed.exists()


def test_downloads_permissions(client, campagne, manager, unit, no_render):
    letter_target(campagne)
    lot = build(campagne, manager)
    url = reverse("outreach:campaign_letters_pdf", args=[campagne.pk, lot.numero])
    client.force_login(UserFactory(regional=True, region=unit.region))
    assert client.get(url).status_code == 403  # sees the campaign, may not download
    client.force_login(UserFactory(ass=True, unit=unit))
    assert client.get(url).status_code == 403
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    client.force_login(UserFactory(manager=True, unit=elsewhere))
    assert client.get(url).status_code == 404
    client.force_login(manager)
    assert (
        client.get(reverse("outreach:campaign_letters_pdf", args=[campagne.pk, 9])).status_code
        == 404
    )
    LotCourrier.objects.filter(pk=lot.pk).update(statut=LotCourrier.Statut.ECHEC)
    assert client.get(url).status_code == 404
    assert not AuditLog.objects.filter(action=AuditLog.Action.VIEW).exists()


def test_a_tampered_file_name_is_not_served(client, campagne, manager, no_render):
    letter_target(campagne)
    lot = build(campagne, manager)
    LotCourrier.objects.filter(pk=lot.pk).update(pdf="../../etc/passwd")
    client.force_login(manager)
    url = reverse("outreach:campaign_letters_pdf", args=[campagne.pk, lot.numero])
    assert client.get(url).status_code == 404


def make_lots(campagne, manager, n):
    LotCourrier.objects.bulk_create(
        LotCourrier(
            campagne=campagne,
            numero=i,
            created_by=manager,
            statut=LotCourrier.Statut.PRET if i % 3 else LotCourrier.Statut.ECHEC,
            nombre=10,
            pdf=f"lots/{campagne.pk}/{i}.pdf",
            csv=f"lots/{campagne.pk}/{i}.csv",
            erreur="" if i % 3 else campaign_letters.FAILED,
        )
        for i in range(1, n + 1)
    )


def test_the_campaign_page_lists_the_batches(client, campagne, manager):
    letter_target(campagne)
    letter_target(campagne)
    make_lots(campagne, manager, 3)
    client.force_login(manager)
    html = client.get(reverse("outreach:campaign_detail", args=[campagne.pk])).content.decode()
    assert "2&nbsp;courriers en attente" in html
    assert "Préparer un lot de 2&nbsp;courriers" in html
    assert reverse("outreach:campaign_letters_pdf", args=[campagne.pk, 2]) in html
    assert reverse("outreach:campaign_letters_csv", args=[campagne.pk, 1]) in html
    assert reverse("outreach:campaign_letters_pdf", args=[campagne.pk, 3]) not in html  # échec
    assert campaign_letters.FAILED.replace("'", "&#x27;") in html


def test_the_campaign_page_says_a_batch_is_being_prepared(client, campagne, manager):
    letter_target(campagne)
    LotCourrier.objects.create(campagne=campagne, numero=1, created_by=manager)
    client.force_login(manager)
    html = client.get(reverse("outreach:campaign_detail", args=[campagne.pk])).content.decode()
    assert "Un lot est en préparation." in html
    assert "Préparer un lot" not in html


def test_a_reader_sees_the_batches_without_links_or_button(client, campagne, manager, unit):
    letter_target(campagne)
    make_lots(campagne, manager, 2)
    client.force_login(UserFactory(regional=True, region=unit.region))
    html = client.get(reverse("outreach:campaign_detail", args=[campagne.pk])).content.decode()
    assert "n°&nbsp;2" in html
    assert "Préparer un lot" not in html
    assert reverse("outreach:campaign_letters_pdf", args=[campagne.pk, 1]) not in html


def test_the_campaign_page_runs_constant_queries(client, campagne, manager, unit):
    def queries_for(campagne, n):
        for _ in range(n):
            letter_target(campagne)
        make_lots(campagne, manager, n)
        url = reverse("outreach:campaign_detail", args=[campagne.pk])
        client.get(url)  # warm the session
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    other = Campagne.objects.create(
        region=unit.region,
        unit=unit,
        nom="Autre",
        date_reference=timezone.localdate(),
        created_by=manager,
        statut=Campagne.Statut.EN_COURS,
    )
    client.force_login(manager)
    assert queries_for(campagne, 2) == queries_for(other, 20)
