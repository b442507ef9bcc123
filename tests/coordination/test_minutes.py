"""The minutes of a held meeting: the compte rendu PDF (WeasyPrint, text read back with pypdf),
the relevé de décisions (page and PDF), who may read them, the access log, the redaction of a
situation whose consent was revoked, and the page shown when PDF rendering is unavailable.

The meetings are driven through `coordination.services`, as in test_services.py."""

import builtins
import datetime
import io
import os
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from coordination import services
from coordination.models import Organisation, Presence, Reunion, TypeDecision
from pdp import pdf
from pdp.models import AuditLog
from referrals.models import Assure
from tests.coordination.conftest import FICHE
from tests.factories import (
    AccompagnementFactory,
    AssureFactory,
    ConsentementFactory,
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    UserFactory,
)
from tests.test_typography import RULES, page_text

pytestmark = pytest.mark.django_db

try:
    import weasyprint  # noqa: F401

    WEASYPRINT = True
except (ImportError, OSError):
    WEASYPRINT = False

# CI sets PDP_REQUIRE_PDF=1: there a missing WeasyPrint fails these tests instead of skipping them.
needs_weasyprint = pytest.mark.skipif(
    not WEASYPRINT and not os.environ.get("PDP_REQUIRE_PDF"),
    reason=(
        "WeasyPrint ou ses bibliothèques Pango ne sont pas installés ici"
        " (pip install -r requirements.txt ; apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
    ),
)

PAGES = ["coordination:reunion_minutes_pdf", "coordination:reunion_releve"]
ALL_PAGES = [*PAGES, "coordination:reunion_releve_pdf"]
WITHDRAWN = "retirée à la demande de l'assuré"


# --- A meeting driven through the services -----------------------------------------------------


def _type(code):
    return TypeDecision.objects.get(code=code)


def _case(ass, **identity):
    assure = AssureFactory(**identity)
    case = AccompagnementFactory(referent=ass, assure=assure)
    consent = ConsentementFactory(
        assure=assure,
        recorded_by=ass,
        date_recueil=timezone.localdate() - datetime.timedelta(days=3),
    )
    return case, consent


def _submit(case, instance, ass, question, **fiche):
    return services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=ass,
        question=question,
        **{**FICHE, **fiche},
    )


def _plan(instance, coordinateur, days=7):
    return services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(days=days),
        lieu="CARSAT Normandie, salle Seine",
    )


def _attend(reunion, coordinateur, statuses, default=Presence.Statut.PRESENT):
    """statuses: {membre: statut or (statut, représenté par)}."""
    for presence in reunion.presences.select_related("membre"):
        value = statuses.get(presence.membre, default)
        statut, by = value if isinstance(value, tuple) else (value, "")
        services.presence_set(
            presence=presence, acting_user=coordinateur, statut=statut, represente_par=by
        )


def _validate(reunion, coordinateur):
    services.reunion_submit_minutes(reunion=reunion, acting_user=coordinateur)
    services.reunion_validate_minutes(reunion=reunion, acting_user=coordinateur)


@pytest.fixture
def spst(instance):
    contact = PartnerContactFactory(name="Sophie Vidal")
    return MembreFactory(
        instance=instance,
        user=None,
        contact=contact,
        organisation=Organisation.SPST,
        fonction="Médecin du travail",
    )


@pytest.fixture
def mdph(instance):
    contact = PartnerContactFactory(name="Marc Dupuis")
    return MembreFactory(instance=instance, user=None, contact=contact, organisation="mdph")


@pytest.fixture
def world(instance, coordinateur, ass, membres, spst, mdph):
    """A held meeting of three situations: A (decision, action, synthesis), B (decision and
    action, then the assuré revokes the consent), C (no decision: to be presented again).
    Present: service social and Cap emploi; the service médical is represented; the SPST is
    excused; the MDPH absent. Quorum reached (three organisations, the two required ones)."""
    membre_social, membre_medical, membre_partenaire = membres
    case_a, _ = _case(
        ass,
        nom_naissance="Zwarthoed",
        nom_usage="Vandermeersch",
        prenoms="Ermengarde",
        adresse="17 rue des Capucines",
        code_postal="76210",
        commune="Bolbec",
        telephone="06 12 34 56 78",
        email="ermengarde.z@courriel.example",
    )
    case_b, consent_b = _case(
        ass,
        nom_naissance="Quelennec",
        prenoms="Gwenaëlle",
        adresse="3 impasse des Goélands",
        code_postal="76400",
        commune="Fécamp",
        telephone="07 98 76 54 32",
        email="gq@courriel.example",
    )
    case_c, _ = _case(
        ass,
        nom_naissance="Oyarzabal",
        prenoms="Théodule",
        adresse="8 chemin du Halage",
        code_postal="76480",
        commune="Duclair",
        telephone="02 35 00 11 22",
        email="t.oyarzabal@courriel.example",
    )
    a = _submit(
        case_a,
        instance,
        ass,
        "Quel aménagement du poste de cariste envisager ?",
        initiales="E. Z.",
        poste="Cariste en entrepôt",
        limitations="Port de charges limité à 10 kg.",
        urgence="prioritaire",
    )
    b = _submit(
        case_b,
        instance,
        ass,
        "Une reconversion vers le secrétariat médical est-elle envisageable ?",
        initiales="G. Q.",
        poste="Ambulancière",
        limitations="Station debout impossible au-delà de trente minutes.",
        freins="Éloignement du centre de formation.",
    )
    c = _submit(
        case_c, instance, ass, "Quelle suite après le refus de l'employeur ?", initiales="T. O."
    )
    reunion = _plan(instance, coordinateur)
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    _attend(
        reunion,
        coordinateur,
        {
            membre_medical: (Presence.Statut.REPRESENTE, "Dr Anne Roux"),
            spst: Presence.Statut.EXCUSE,
            mdph: Presence.Statut.ABSENT,
        },
    )
    points = {p.saisine_id: p for p in reunion.points.all()}
    echeance = timezone.localdate() + datetime.timedelta(days=30)
    point_a, point_b = points[a.pk], points[b.pk]
    services.point_update(
        point=point_a,
        acting_user=coordinateur,
        synthese="Échanges sur un poste sans port de charges.",
    )
    services.decision_add(
        point=point_a,
        acting_user=coordinateur,
        type=_type("etude_poste"),
        texte="Étude ergonomique du quai de chargement.",
    )
    services.action_add(
        point=point_a,
        acting_user=coordinateur,
        libelle="Réaliser l'étude de poste",
        responsable=membre_partenaire,
        echeance=echeance,
    )
    services.point_update(
        point=point_b, acting_user=coordinateur, synthese="Projet de formation longue discuté."
    )
    services.decision_add(point=point_b, acting_user=coordinateur, type=_type("reconversion"))
    services.action_add(
        point=point_b,
        acting_user=coordinateur,
        libelle="Organiser un bilan de compétences",
        responsable=spst,
        echeance=echeance,
    )
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    case_services.consentement_revoke(
        consentement=consent_b, accompagnement=case_b, acting_user=ass
    )
    reunion.refresh_from_db()
    return SimpleNamespace(
        reunion=reunion,
        a=a,
        b=b,
        c=c,
        social=membre_social,
        medical=membre_medical,
        partenaire=membre_partenaire,
        spst=spst,
        mdph=mdph,
        echeance=echeance,
    )


def _url(name, reunion):
    return reverse(name, args=[reunion.pk])


def pdf_text(response):
    from pypdf import PdfReader

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def html_text(response):
    assert response.status_code == 200
    return " ".join(page_text(response.content.decode()).split())


def _read(client, user, name, reunion):
    client.force_login(user)
    response = client.get(_url(name, reunion))
    return pdf_text(response) if name.endswith("pdf") else html_text(response)


def identity_found(text):
    """Every identifying detail of every assuré in the database found in `text`."""
    lowered = text.lower()
    compact = re.sub(r"[\s.\-]", "", lowered)
    found = []
    for assure in Assure.objects.all():
        if assure.nir and assure.nir in compact:
            found.append(f"NIR {assure.nir}")
        for label, value in (
            ("nom de naissance", assure.nom_naissance),
            ("nom d'usage", assure.nom_usage),
            ("prénoms", assure.prenoms),
            ("adresse", assure.adresse),
            ("commune", assure.commune),
            ("code postal", assure.code_postal),
            ("e-mail", assure.email),
        ):
            if value and re.search(rf"\b{re.escape(value.lower())}\b", lowered):
                found.append(f"{label} {value}")
        phone = re.sub(r"\D", "", assure.telephone)
        if phone and phone in compact:
            found.append(f"téléphone {assure.telephone}")
    return found


# --- The compte rendu PDF ----------------------------------------------------------------------


@needs_weasyprint
def test_the_minutes_pdf_lists_attendees_quorum_items_decisions_and_actions(
    client, world, coordinateur
):
    text = _read(client, coordinateur, "coordination:reunion_minutes_pdf", world.reunion)
    assert world.reunion.instance.nom in text
    assert "CARSAT Normandie, salle Seine" in text
    # Attendees by status, with their organisation; the representative is named.
    for membre in (world.social, world.partenaire, world.spst, world.mdph, world.medical):
        assert membre.nom in text
    assert "Présents (2)" in text
    assert "Représentés (1)" in text
    assert "représenté·e par Dr Anne Roux" in text
    assert "Excusés (1)" in text
    assert "Sophie Vidal, SPST / médecin du travail (Médecin du travail)" in text
    assert "Absents (1)" in text
    assert "Marc Dupuis, MDPH" in text
    assert "Quorum atteint" in text
    # The readable situations: reference, origin, question, urgency, the whole fiche.
    assert f"Situation n° {world.a.pk} (E. Z.)" in text
    assert f"Situation n° {world.c.pk} (T. O.)" in text
    assert "Nouvelle situation" in text
    assert "Quel aménagement du poste de cariste envisager ?" in text
    assert "urgence : prioritaire" in text
    assert "Cariste en entrepôt" in text
    assert "Port de charges limité à 10 kg." in text
    assert "45 à 54 ans" in text
    assert "250 salariés et plus" in text
    assert "Échanges sur un poste sans port de charges." in text
    # Decisions, actions (owner, due date), and the item to present again.
    assert "Étude de poste / aménagement" in text
    assert "Étude ergonomique du quai de chargement." in text
    assert "Réaliser l'étude de poste" in text
    assert f"{world.partenaire.nom} (Cap emploi)" in text
    assert world.echeance.strftime("%d/%m/%Y") in text
    assert "Situation à représenter à la prochaine réunion." in text
    assert "provisoire" not in text


@needs_weasyprint
@pytest.mark.parametrize("name", ALL_PAGES)
def test_no_file_shows_anything_that_identifies_any_assure(client, world, coordinateur, name):
    text = _read(client, coordinateur, name, world.reunion)
    assert Assure.objects.count() == 3
    assert identity_found(text) == []


def test_the_identity_check_finds_what_it_looks_for(world):
    assure = world.a.accompagnement.assure
    sample = (
        f"{assure.prenoms} {assure.nom_naissance}, {assure.adresse}, 76210 Bolbec, 06.12.34.56.78"
    )
    assert len(identity_found(sample)) == 6
    assert identity_found(f"NIR : {assure.nir[:7]} {assure.nir[7:]}") == [f"NIR {assure.nir}"]
    assert identity_found("Rien à signaler") == []


@needs_weasyprint
@pytest.mark.parametrize("name", ALL_PAGES)
def test_a_withdrawn_situation_shows_only_its_number(client, world, coordinateur, name):
    text = _read(client, coordinateur, name, world.reunion)
    assert f"Situation n° {world.b.pk} {WITHDRAWN}." in text
    for hidden in (
        "G. Q.",
        "secrétariat médical",
        "Ambulancière",
        "trente minutes",
        "Éloignement",
        "Projet de formation",
        "Reconversion professionnelle",
        "bilan de compétences",
    ):
        assert hidden.lower() not in text.lower()
    # The other situations are still there.
    assert f"Situation n° {world.a.pk} (E. Z.)" in text


@needs_weasyprint
@pytest.mark.parametrize("statut", [Reunion.Statut.TENUE, Reunion.Statut.CR_RELECTURE])
def test_minutes_not_validated_are_marked_as_a_draft(client, world, coordinateur, statut):
    if statut == Reunion.Statut.CR_RELECTURE:
        services.reunion_submit_minutes(reunion=world.reunion, acting_user=coordinateur)
    text = _read(client, coordinateur, "coordination:reunion_minutes_pdf", world.reunion)
    assert "PROJET" in text
    assert "non validé" in text
    assert "Compte rendu validé le" not in text
    assert "Addenda" not in text


@needs_weasyprint
def test_validated_minutes_show_who_validated_them_and_the_addenda(client, world, coordinateur):
    _validate(world.reunion, coordinateur)
    services.addendum_add(
        reunion=world.reunion,
        acting_user=coordinateur,
        texte="L'échéance de l'étude de poste est reportée d'une semaine.",
    )
    world.reunion.refresh_from_db()
    text = _read(client, coordinateur, "coordination:reunion_minutes_pdf", world.reunion)
    valide_le = timezone.localtime(world.reunion.valide_le)
    assert f"Compte rendu validé le {valide_le:%-d}" in text
    assert "par Claire Fontaine" in text
    assert "PROJET" not in text
    assert "Addenda" in text
    assert "L'échéance de l'étude de poste est reportée d'une semaine." in text
    # Validated minutes keep a withdrawn situation as withdrawn.
    assert f"Situation n° {world.b.pk} {WITHDRAWN}." in text


@needs_weasyprint
def test_decisions_without_quorum_are_flagged_provisional(
    client, instance, coordinateur, ass, membres
):
    case, _ = _case(ass)
    _submit(case, instance, ass, "Quelle orientation proposer ?")
    reunion = _plan(instance, coordinateur)
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    membre_social = membres[0]
    _attend(reunion, coordinateur, {membre_social: Presence.Statut.PRESENT}, Presence.Statut.ABSENT)
    services.decision_add(
        point=reunion.points.get(), acting_user=coordinateur, type=_type("orientation_partenaire")
    )
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    for name in ALL_PAGES:
        text = _read(client, coordinateur, name, reunion)
        assert "Orientation vers un partenaire (provisoire, prise sans quorum)" in text
        assert "Quorum non atteint" in text or "quorum non atteint" in text


@needs_weasyprint
def test_the_pdf_is_an_attachment_named_after_the_instance_and_date(client, world, coordinateur):
    instance = world.reunion.instance
    instance.nom = "Cellule PDP de Rouen-Élbeuf"
    instance.save(update_fields=["nom"])
    client.force_login(coordinateur)
    day = timezone.localtime(world.reunion.debut).date()
    response = client.get(_url("coordination:reunion_minutes_pdf", world.reunion))
    assert response["Content-Disposition"] == (
        f'attachment; filename="compte-rendu-cellule-pdp-de-rouen-elbeuf-{day:%Y-%m-%d}.pdf"'
    )
    assert "no-store" in response["Cache-Control"]
    response = client.get(_url("coordination:reunion_releve_pdf", world.reunion))
    assert response["Content-Disposition"] == (
        f'attachment; filename="releve-decisions-cellule-pdp-de-rouen-elbeuf-{day:%Y-%m-%d}.pdf"'
    )


# --- The relevé de décisions page --------------------------------------------------------------


def test_the_releve_lists_per_item_decisions_and_actions(client, world, coordinateur):
    client.force_login(coordinateur)
    response = client.get(_url("coordination:reunion_releve", world.reunion))
    text = html_text(response)
    assert f"Situation n° {world.a.pk} (E. Z.)" in text
    assert "Étude de poste / aménagement" in text
    assert "Réaliser l'étude de poste" in text
    assert f"{world.partenaire.nom} (Cap emploi)" in text
    assert world.echeance.strftime("%d/%m/%Y") in text
    assert "Quorum atteint" in text
    assert "PROJET" in text
    # A summary of decisions, not the fiche.
    assert "Port de charges limité" not in text
    body = response.content.decode()
    assert 'class="print-area' in body
    assert "js/print.js" in body
    assert _url("coordination:reunion_minutes_pdf", world.reunion) in body
    assert _url("coordination:reunion_releve_pdf", world.reunion) in body


def test_the_print_stylesheet_hides_the_navbar():
    from django.contrib.staticfiles import finders

    with open(finders.find("css/app.css"), encoding="utf-8") as file:
        css = file.read()
    assert re.search(r"@media print \{[^}]*\}\s*\.navbar,[^{]*\{\s*display: none !important", css)


def test_the_pages_are_in_good_french(client, world, coordinateur, monkeypatch):
    _validate(world.reunion, coordinateur)
    client.force_login(coordinateur)
    pages = [client.get(_url("coordination:reunion_releve", world.reunion)).content.decode()]
    monkeypatch.setattr(pdf, "_weasyprint", _unavailable(pdf.MISSING_LIBRARIES))
    pages.append(
        client.get(_url("coordination:reunion_minutes_pdf", world.reunion)).content.decode()
    )
    for body in pages:
        text = page_text(body)
        faults = [(name, m.group(0)) for name, rule in RULES for m in rule.finditer(text)]
        assert faults == [], text


# --- Who may read them -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, world, name):
    response = client.get(_url(name, world.reunion))
    assert response.status_code == 302
    assert reverse("login") in response.url


@pytest.fixture
def other_coordinator(db, unit):
    user = UserFactory(coordinateur=True)
    InstanceFactory(region=unit.region, units=[unit], coordinateurs=[user])
    return user


@pytest.mark.parametrize("name", ALL_PAGES)
@pytest.mark.parametrize(
    "persona", ["outsider", "other_coordinator", "ass", "colleague", "regional", "admin_user"]
)
def test_people_outside_the_meeting_get_404(client, world, name, persona, request):
    """Another unit, another instance's coordinator, the référent and the unit's staff who are
    not members, the regional level, the administrator: the meeting does not exist for them."""
    client.force_login(request.getfixturevalue(persona))
    assert client.get(_url(name, world.reunion)).status_code == 404
    assert not AuditLog.objects.filter(object_type="coordination.saisine").exists()


@needs_weasyprint
@pytest.mark.parametrize("name", ALL_PAGES)
@pytest.mark.parametrize("persona", ["coordinateur", "manager", "medecin", "partenaire"])
def test_the_coordinator_and_invited_members_read_the_minutes(
    client, world, name, persona, request
):
    """`manager` and `medecin` are the internal members, `partenaire` the Cap emploi member's
    account."""
    text = _read(client, request.getfixturevalue(persona), name, world.reunion)
    assert f"Situation n° {world.a.pk} (E. Z.)" in text


@pytest.mark.parametrize("name", ALL_PAGES)
def test_a_member_whose_membership_ended_no_longer_sees_the_minutes(
    client, world, name, coordinateur, partenaire
):
    services.membre_end(
        membre=world.partenaire,
        acting_user=coordinateur,
        date_fin=timezone.localdate() - datetime.timedelta(days=1),
    )
    client.force_login(partenaire)
    assert client.get(_url(name, world.reunion)).status_code == 404


@pytest.mark.parametrize("name", ALL_PAGES)
@pytest.mark.parametrize("persona", ["coordinateur", "partenaire"])
def test_minutes_of_a_meeting_not_held_are_not_available_yet(
    client, instance, coordinateur, membres, name, persona, request
):
    reunion = _plan(instance, coordinateur)
    client.force_login(request.getfixturevalue(persona))
    for step in range(2):
        if step:
            services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
        response = client.get(_url(name, reunion))
        assert response.status_code == 403
        assert "Le compte rendu n&#x27;est pas encore disponible" in response.content.decode()
    assert not AuditLog.objects.filter(action=AuditLog.Action.VIEW).exists()


# --- The access log ----------------------------------------------------------------------------


@needs_weasyprint
@pytest.mark.parametrize(
    ("name", "fiches_page", "page"),
    [
        ("coordination:reunion_minutes_pdf", "compte rendu", "compte rendu PDF"),
        ("coordination:reunion_releve", "relevé de décisions", "relevé de décisions"),
        ("coordination:reunion_releve_pdf", "relevé de décisions", "relevé de décisions PDF"),
    ],
)
def test_every_read_is_in_the_access_log(client, world, partenaire, name, fiches_page, page):
    before = AuditLog.objects.filter(action=AuditLog.Action.VIEW).count()
    _read(client, partenaire, name, world.reunion)
    rows = AuditLog.objects.filter(action=AuditLog.Action.VIEW, user=partenaire)
    fiches = rows.filter(object_type="coordination.saisine")
    assert sorted(fiches.values_list("object_id", "assure_id")) == sorted(
        (str(s.pk), s.accompagnement.assure_id) for s in (world.a, world.b, world.c)
    )
    assert {row.changes["page"] for row in fiches} == {fiches_page}
    meeting = rows.get(object_type="coordination.reunion")
    assert meeting.object_id == str(world.reunion.pk)
    assert meeting.changes == {"page": page}
    assert AuditLog.objects.filter(action=AuditLog.Action.VIEW).count() == before + 4


# --- Query count -------------------------------------------------------------------------------


def _held_meeting(instance, coordinateur, ass, membres, count):
    saisines = []
    for index in range(count):
        case, consent = _case(ass)
        saisines.append(
            (_submit(case, instance, ass, f"Question n° {index} ?", initiales="A. B."), consent)
        )
    reunion = _plan(instance, coordinateur)
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    _attend(reunion, coordinateur, {})
    echeance = timezone.localdate() + datetime.timedelta(days=15)
    for point in reunion.points.select_related("saisine"):
        services.decision_add(point=point, acting_user=coordinateur, type=_type("etude_poste"))
        services.action_add(
            point=point,
            acting_user=coordinateur,
            libelle="Étude de poste",
            responsable=membres[2],
            echeance=echeance,
        )
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    # One situation withdrawn: the redacted branch is counted too.
    saisine, consent = saisines[0]
    case_services.consentement_revoke(
        consentement=consent, accompagnement=saisine.accompagnement, acting_user=ass
    )
    _validate(reunion, coordinateur)
    services.addendum_add(reunion=reunion, acting_user=coordinateur, texte="Correction.")
    return reunion


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("coordination:reunion_minutes_pdf", marks=needs_weasyprint),
        "coordination:reunion_releve",
    ],
)
def test_the_query_count_does_not_grow_with_the_agenda(
    client, instance, coordinateur, ass, membres, name, django_assert_max_num_queries
):
    small = _held_meeting(instance, coordinateur, ass, membres, 2)
    large = _held_meeting(instance, coordinateur, ass, membres, 30)
    # 30 new situations, and the small meeting's item with an open action back for follow-up.
    assert large.points.count() == 31
    client.force_login(membres[2].user)
    assert _queries(client, _url(name, small)) == _queries(client, _url(name, large))
    with django_assert_max_num_queries(13):
        client.get(_url(name, large))


# --- Without WeasyPrint ------------------------------------------------------------------------


def _unavailable(message):
    def fail():
        raise pdf.PdfUnavailable(message)

    return fail


@pytest.fixture
def no_weasyprint(monkeypatch):
    """`import weasyprint` fails as on a machine without the package."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise ImportError("No module named 'weasyprint'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.fixture
def no_pango(monkeypatch):
    """`import weasyprint` fails as it does when cffi cannot load libpango."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.mark.parametrize(
    ("broken", "missing"),
    [
        ("no_weasyprint", "WeasyPrint n&#x27;est pas installé"),
        ("no_pango", "Les bibliothèques Pango de WeasyPrint ne sont pas installées"),
    ],
)
@pytest.mark.parametrize(
    "name", ["coordination:reunion_minutes_pdf", "coordination:reunion_releve_pdf"]
)
def test_without_weasyprint_a_french_page_says_what_is_missing(
    client, world, coordinateur, broken, missing, name, request
):
    request.getfixturevalue(broken)
    client.force_login(coordinateur)
    response = client.get(_url(name, world.reunion))
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert missing in body
    assert "apt-get install libpango-1.0-0" in body or "pip install" in body
    assert _url("coordination:reunion_releve", world.reunion) in body
    # Nothing of a person was shown: nothing to log.
    assert not AuditLog.objects.filter(action=AuditLog.Action.VIEW).exists()
    # The relevé page does not need WeasyPrint.
    assert client.get(_url("coordination:reunion_releve", world.reunion)).status_code == 200


def test_render_pdf_raises_pdf_unavailable_without_weasyprint(no_weasyprint):
    with pytest.raises(pdf.PdfUnavailable) as error:
        pdf.render_pdf("coordination/minutes_pdf.html", {})
    assert "pip install" in str(error.value)


def test_render_pdf_raises_pdf_unavailable_without_pango(no_pango):
    with pytest.raises(pdf.PdfUnavailable) as error:
        pdf.render_pdf("coordination/minutes_pdf.html", {})
    assert "apt-get install libpango-1.0-0 libpangoft2-1.0-0" in str(error.value)


def test_the_views_module_does_not_import_weasyprint():
    import subprocess
    import sys

    code = (
        "import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'pdp.settings_test';"
        "django.setup(); import coordination.views_minutes, coordination.urls;"
        "print('weasyprint' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


# --- No network while rendering ----------------------------------------------------------------


@needs_weasyprint
@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/static/css/minutes_pdf.css",
        "https://fonts.example.org/dejavu.woff2",
        "ftp://example.org/logo.png",
        "file:///etc/passwd",
        "file:///static/../../../etc/passwd",
        "file:///static/css/absent.css",
        "file://example.org/static/css/minutes_pdf.css",
    ],
)
def test_the_url_fetcher_refuses_anything_but_static_files(url):
    with pytest.raises(pdf.UrlRefused):
        pdf.url_fetcher().fetch(url)


@needs_weasyprint
def test_the_url_fetcher_serves_the_static_files():
    response = pdf.url_fetcher().fetch("file:///static/css/minutes_pdf.css")
    assert b"@page" in response.read()
    assert response.content_type == "text/css"
    response.close()


def test_collected_static_files_are_found_in_static_root(settings, tmp_path):
    """In production `{% static %}` names the collected, hashed file in STATIC_ROOT."""
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "minutes_pdf.0123abcd.css").write_text("@page {}")
    (tmp_path.parent / "secret.txt").write_text("secret")
    settings.STATIC_ROOT = tmp_path
    found = pdf.static_path("file:///static/css/minutes_pdf.0123abcd.css")
    assert found == tmp_path / "css" / "minutes_pdf.0123abcd.css"
    assert pdf.static_path("file:///static/../secret.txt") is None
    assert pdf.static_path("file:///static/css/../../secret.txt") is None
    assert pdf.static_path("file:///static/css/absent.css") is None


@needs_weasyprint
def test_rendering_fetches_nothing_from_the_network(monkeypatch):
    """A template pointing at the network renders without fetching it: the static file is
    served from disk, the http:// image is refused and urllib is never asked."""
    import urllib.request

    asked = []
    real_static_path = pdf.static_path

    def spy(url):
        path = real_static_path(url)
        asked.append((url, path is not None))
        return path

    def no_network(self, *args, **kwargs):
        raise AssertionError("WeasyPrint went to the network")

    monkeypatch.setattr(pdf, "static_path", spy)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    monkeypatch.setattr(
        pdf,
        "render_to_string",
        lambda name, context: (
            '<link rel="stylesheet" href="/static/css/minutes_pdf.css">'
            '<img src="http://example.org/tracker.png" alt=""><p>Bonjour</p>'
        ),
    )
    content = pdf.render_pdf("ignored.html", {})
    assert content.startswith(b"%PDF")
    assert asked == [
        ("file:///static/css/minutes_pdf.css", True),
        ("http://example.org/tracker.png", False),
    ]
