"""French typography and grammar of the rendered pages (issue 8, item 17).

Each role logs in on a small data set and opens its main pages; the text a user reads (tags
stripped, plus the attributes read aloud or shown: aria-label, title, placeholder, alt) must
contain none of the patterns below: Django's « --------- » in selects, a space before a period
or a comma, a missing elision (« que assistant », « de unité »), « de le » / « à les », « Pdp »,
English words, or a French « : ; ? ! » glued to the word before it (« Motif: »).
"""

import datetime
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from cases.models import DispositifType, Objectif
from cases.views_activity import MANAGER_TABS
from pdp.models import PartnerKind
from referrals.models import Service, Statut
from tests.factories import (
    AccompagnementFactory,
    ArretFactory,
    AssureFactory,
    EntretienFactory,
    PartnerFactory,
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
    make_nir,
)

PRONOUN_VERBS = (
    "abandonner|accompagner|ajouter|attribuer|classer|compléter|consulter|contacter|déplacer"
    "|démarrer|enregistrer|faire|joindre|lire|modifier|orienter|partager|planifier|recevoir"
    "|renouveler|retirer|révoquer|rouvrir|supprimer|terminer|traiter|transmettre|voir"
)

# (name, compiled pattern). Patterns look at the text as read, one space between words.
VOWEL = "aeiouyéèêëàâîïôûAEIOUYÉÈÊÀÂÎÔÛ"
LOWER_VOWEL = "aeiouyéèêëàâîïôû"
RULES = [
    ("tirets de Django dans une liste", re.compile(r"-{5,}")),
    ("espace avant un point ou une virgule", re.compile(r"\w[ \u00a0\u202f]+[.,](?=\s|$)")),
    ("élision manquante (que)", re.compile(rf"\b[Qq]ue [{VOWEL}]", re.UNICODE)),
    (
        "élision manquante (de, le, la, ne, si il)",
        re.compile(rf"\b(?:[Dd]e|[Ll][ea]|[NnJjSs]e) (?!ou\b)[{LOWER_VOWEL}]|\b[Ss]i il"),
    ),
    # « de le » / « à les » are wrong before a noun (du, aux), right before a verb whose object
    # the pronoun is: « avant de le démarrer ».
    ("« de le », « à les »", re.compile(rf"\b(?:de|à) (?:le|les) (?!(?:{PRONOUN_VERBS})\b)")),
    ("« Pdp » au lieu de « PDP »", re.compile(r"\bPdp\b")),
    (
        "mot anglais",
        re.compile(
            r"\b(?:Search|Save|Delete|Yes|No|Cancel|Submit|Edit|Close|None|True|False"
            r"|Previous|Next|Today|Loading)\b"
        ),
    ),
    ("pas d'espace avant « : ; ? ! »", re.compile(r"[A-Za-zÀ-ÿ)»][:;?!](?=\s|$)")),
    ("guillemets sans espace", re.compile(r"«(?=\w)|(?<=\w)»")),
]

INLINE = "a|abbr|b|bdi|code|del|em|i|ins|kbd|mark|q|s|small|span|strong|sub|sup|time|u"
READ_ATTRS = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"')


def page_text(body):
    """What a user reads: inline tags vanish, block tags separate words; plus read attributes."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    attrs = " | ".join(READ_ATTRS.findall(body))
    body = re.sub(rf"</?(?:{INLINE})\b[^>]*>", "", body, flags=re.I)
    body = re.sub(r"<[^>]+>", " ", body)
    return " ".join(html.unescape(f"{body} | {html.unescape(attrs)}").split())


def problems(text):
    found = []
    for name, pattern in RULES:
        for match in pattern.finditer(text):
            found.append(f"{name} : …{text[max(0, match.start() - 40) : match.end() + 30]}…")
    return found


def check_pages(client, user, urls):
    client.force_login(user)
    report = []
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, f"{user.username} {url} → {response.status_code}"
        report += [f"{url} {p}" for p in problems(page_text(response.content.decode()))]
    assert not report, f"{len(report)} faute(s) :\n" + "\n".join(report)


# --- The checker itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Domaine --------- Santé",
        "Unité de Rouen .",
        "en retard , puis",
        "connecté·e en tant que Assistant(e)",
        "ne peut être que annulé",
        "Ajout de utilisateur",
        "la assurée",
        "les documents de le dossier",
        "aux accompagnements à les personnes",
        "Cellule Pdp",
        "Search",
        "Yes",
        "Motif: absence",
        "Supprimer?",
        "«accordé»",
    ],
)
def test_the_checker_flags_each_fault(text):
    assert problems(text)


@pytest.mark.parametrize(
    "text",
    [
        "Choisir…",
        "Rendez-vous à 14:00, 1,5 jour, fichier .csv",
        "Motif : absence · « accordé » · Supprimer ?",
        "qu'assistant(e), qu'annulé, d'utilisateur, l'unité de Caen, que Rouen",
        "avant de le démarrer, de les supprimer",
        "Seul·e le ou la référent·e",
        "Cellule PDP, Non, Nom",
    ],
)
def test_the_checker_accepts_correct_french(text):
    assert problems(text) == []


def test_page_text_keeps_inline_markup_inside_words_and_reads_attributes():
    body = (
        '<p>Bienvenue, <strong>Alice</strong>.</p><button aria-label="Search">x</button>'
        "<script>var a = 'Yes';</script><td>Signalé le</td><td>Attribué à</td>"
    )
    text = page_text(body)
    assert "Alice." in text
    assert "Search" in text and "Yes" not in text
    assert "Signalé le Attribué à" in text


# --- The pages -----------------------------------------------------------------------------------


@pytest.fixture
def world(db):
    """A unit of Rouen and one of Caen, each role, and the records their pages show."""
    today = timezone.localdate()
    region = RegionFactory()
    rouen = UnitFactory(region=region, name="Unité de Rouen")
    caen = UnitFactory(region=region, name="Unité de Caen")
    UnitTerritoryFactory(unit=rouen, prefix="76")
    UnitTerritoryFactory(unit=caen, prefix="14")
    names = {"first_name": "Camille", "last_name": "Durand"}
    ass = UserFactory(ass=True, unit=rouen, **names)
    colleague = UserFactory(ass=True, unit=rouen, first_name="Bruno", last_name="Petit")
    conseiller = UserFactory(conseiller=True, unit=rouen, first_name="Karim", last_name="Benali")
    manager = UserFactory(manager=True, unit=rouen, first_name="Sophie", last_name="Martin")
    medecin = UserFactory(medecin=True, region=region, first_name="Paul", last_name="Roux")
    admin = UserFactory(admin=True, first_name="Claire", last_name="Morel")
    PartnerFactory(kind=PartnerKind.CAP_EMPLOI, region=region, name="Cap emploi Seine-Maritime")

    assure = AssureFactory(nom_naissance="Bernard", prenoms="Lucie", telephone="06 12 34 56 78")
    arret = ArretFactory(assure=assure, date_debut=today - datetime.timedelta(days=100))
    referral = SignalementFactory(
        assure=assure,
        arret=arret,
        unit=rouen,
        assigned_to=ass,
        statut=Statut.CONTACT_EN_COURS,
    )
    case = case_services.case_open_from_signalement(
        signalement=referral, acting_user=ass, referent=ass
    )
    case_services.case_note_add(accompagnement=case, acting_user=ass, text="Premier échange.")
    Objectif.objects.create(
        accompagnement=case, domaine="emploi", libelle="Reprendre à mi-temps", echeance=today
    )
    EntretienFactory(accompagnement=case, debut=timezone.now() + datetime.timedelta(days=1))
    closed = AccompagnementFactory(referent=ass, assure=AssureFactory(nom_naissance="Lefort"))
    case_services.case_close(
        accompagnement=closed, acting_user=ass, outcome="autre", date_cloture=today
    )
    call = SignalementFactory(
        assure=AssureFactory(nom_naissance="Garnier"),
        unit=rouen,
        assigned_to=conseiller,
        arret=None,
    )
    SignalementFactory(unit=rouen, assigned_to=None, assure=AssureFactory(nom_naissance="Moreau"))
    medical = SignalementFactory(
        assure=assure,
        arret=arret,
        service=Service.MEDICAL,
        statut=Statut.NOUVEAU,
        unit=None,
        region=region,
        date_echeance=None,
    )
    DispositifType.objects.get_or_create(
        code="essai_encadre", defaults={"label": "Essai encadré", "phase": "pendant"}
    )
    return {
        "ass": ass,
        "colleague": colleague,
        "conseiller": conseiller,
        "manager": manager,
        "medecin": medecin,
        "admin": admin,
        "assure": assure,
        "referral": referral,
        "call": call,
        "case": case,
        "closed": closed,
        "medical": medical,
        "caen": caen,
    }


def _unit_pages(w):
    case, assure = w["case"], w["assure"]
    return [
        reverse("home"),
        reverse("cases:dashboard"),
        reverse("referrals:inbox"),
        reverse("cases:agenda"),
        reverse("cases:search") + "?q=Bernard",
        reverse("cases:assure_detail", args=[assure.pk]),
        reverse("cases:accompagnement_detail", args=[case.pk]),
    ]


def test_the_ass_pages_are_in_good_french(client, world):
    w = world
    case = w["case"]
    urls = [
        *_unit_pages(w),
        reverse("referrals:signalement_detail", args=[w["referral"].pk]),
        reverse("cases:accompagnement_detail", args=[w["closed"].pk]),
        reverse("cases:plan_detail", args=[case.pk]),
        reverse("cases:evaluation_create", args=[case.pk]),
        reverse("cases:objectif_create", args=[case.pk]),
        reverse("cases:orientation_create", args=[case.pk]),
        reverse("cases:entretien_create", args=[case.pk]),
        reverse("cases:dispositif_create", args=[case.pk]) + "?type=essai_encadre",
        reverse("referrals:signalement_create"),
    ]
    check_pages(client, w["ass"], urls)


def test_the_conseiller_pages_are_in_good_french(client, world):
    w = world
    urls = [*_unit_pages(w), reverse("referrals:signalement_detail", args=[w["call"].pk])]
    check_pages(client, w["conseiller"], urls)


def test_the_manager_pages_are_in_good_french(client, world):
    w = world
    urls = [
        *_unit_pages(w),
        *(reverse("cases:dashboard") + f"?onglet={tab}" for tab in MANAGER_TABS),
        reverse("referrals:signalement_detail", args=[w["referral"].pk]),
        reverse("cases:case_referent", args=[w["case"].pk]),
        reverse("referrals:import_list"),
    ]
    check_pages(client, w["manager"], urls)


def test_the_medecin_pages_are_in_good_french(client, world):
    w = world
    urls = [
        reverse("home"),
        reverse("referrals:medical_list"),
        reverse("referrals:signalement_detail", args=[w["medical"].pk]),
        reverse("referrals:signalement_forward", args=[w["medical"].pk]),
        reverse("cases:search") + "?q=Bernard",
    ]
    check_pages(client, w["medecin"], urls)


def test_the_admin_pages_are_in_good_french(client, world):
    urls = [
        reverse("home"),
        reverse("admin:index"),
        reverse("admin:pdp_user_changelist"),
        reverse("admin:pdp_user_add"),
        reverse("admin:pdp_unit_add"),
        reverse("admin:pdp_partner_changelist"),
        reverse("admin:pdp_partner_add"),
        reverse("admin:cases_dispositiftype_changelist"),
        reverse("admin:referrals_signalement_changelist"),
        reverse("admin:referrals_assure_change", args=[world["assure"].pk]),
        reverse("admin:pdp_user_change", args=[world["ass"].pk]),
        reverse("admin:cases_accompagnement_change", args=[world["case"].pk]),
    ]
    check_pages(client, world["admin"], urls)


@pytest.mark.parametrize("persona", ["regional", "coordinateur"])
def test_the_home_page_of_staff_without_records_is_in_good_french(client, world, persona):
    user = UserFactory(**{persona: True}, first_name="Hélène", last_name="Dubois")
    check_pages(client, user, [reverse("home")])


def test_a_referral_sent_to_another_unit_says_so_with_an_article(client, world):
    client.force_login(world["ass"])
    response = client.post(
        reverse("referrals:signalement_create"),
        {
            "nir": make_nir(901, sex="2", dept="14"),
            "nom": "Leroy",
            "prenom": "Anne",
            "date_naissance": "1985-05-12",
            "code_postal": "14000",
            "commune": "Caen",
            "origine": "assure",
            "motif": "Appel de la personne.",
        },
        follow=True,
    )
    text = page_text(response.content.decode())
    assert "orienté vers l'unité de Caen" in text
    assert problems(text) == []
