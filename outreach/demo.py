"""Demo data of outreach: opening hours for the Rouen ASS, so that a booking link sent from the
demo (`make run`) finds free slots. Called by `seed_demo` after the users exist.

Idempotent: a range already there (same ASS, weekday and start) is left alone.
"""

import datetime
from decimal import Decimal

from django.utils import timezone

from cases.availability import plage_create
from cases.demo import ascii_name
from cases.models import Entretien, PlageOuverture
from collective import participants, services
from collective.models import ActionCollective, ActionType, ParticipantSource, Seance, Theme
from outreach import webinars
from pdp.access_codes import access_code_issue, code_url
from pdp.identifiers import nir_key
from referrals.models import ArretTravail, Assure, TypeArret, build_search_name

DEMO_ASS = ["ass.rouen", "ass2.rouen"]
WEEKS = 8
# Monday to Friday, 9–12 and 14–17.
RANGES = [(datetime.time(9), datetime.time(12)), (datetime.time(14), datetime.time(17))]
MODES = [Entretien.Mode.SUR_PLACE, Entretien.Mode.TELEPHONE, Entretien.Mode.VISIO]


def seed_outreach(users):
    """Opening ranges over the next WEEKS weeks for DEMO_ASS (`users`: username → User).
    Returns how many ranges were created."""
    today = timezone.localdate()
    last_day = today + datetime.timedelta(weeks=WEEKS)
    created = 0
    for username in DEMO_ASS:
        ass = users.get(username)
        if ass is None:
            continue
        existing = set(PlageOuverture.objects.filter(ass=ass).values_list("weekday", "heure_debut"))
        for weekday in range(5):
            for start, end in RANGES:
                if (weekday, start) in existing:
                    continue
                plage_create(
                    acting_user=ass,
                    ass=ass,
                    weekday=weekday,
                    heure_debut=start,
                    heure_fin=end,
                    modes=MODES,
                    lieu=f"{ass.unit.name}, accueil du service social" if ass.unit else "",
                    premier_jour=today,
                    dernier_jour=last_day,
                )
                created += 1
    return created


# --- Survey answers (issue 11) ---------------------------------------------------------------

# 40 barometer answers for Rouen over the last ten months, shaped like the 2022 barometer
# (92.2 % satisfied, 93.6 % would call again, 89.6 % satisfied with the delay): 37, 37 and 36
# favourable answers of 40.
BAROMETER_ANSWERS = 40
# Six-month follow-up of Rouen: (outcome category, answers, at work).
FOLLOW_UP_6M = [("maintien", 14, 12), ("emploi", 11, 8), ("invalidite", 6, 0), ("inaptitude", 5, 2)]
AT_WORK = ["meme_poste", "meme_employeur_autre_poste", "autre_employeur"]
NOT_AT_WORK = ["recherche_emploi", "formation", "invalidite", "autre"]


def _barometer(i):
    """The i-th demo barometer answer: 37, 37 and 36 favourable answers of 40."""

    def level(favourable):
        if favourable:
            return "tres_satisfait" if i % 3 else "plutot_satisfait"
        return "plutot_pas_satisfait" if i % 2 else "pas_du_tout_satisfait"

    answers = {
        "satisfaction": level(i < 37),
        "nouvel_appel": "non" if i in (5, 38, 39) else "oui",
        "delai": level(i not in (2, 12, 37, 39)),
    }
    if i % 7 == 0:
        answers["commentaire"] = "Écoute et conseils précieux, merci."
    return answers


def seed_survey_answers(units):
    """Answers for the Rouen unit (`units`: code → Unit): the barometer's three rates and the
    six-month follow-up by outcome category, over the months before this one. Idempotent: done
    once (a unit that has barometer answers is left alone). Returns how many were created."""
    from outreach.models import SurveyAnswer, SurveyKind
    from outreach.surveys import active_questionnaire, month_start, months_before

    unit = units.get("ROUEN")
    barometer = active_questionnaire(SurveyKind.BAROMETRE)
    follow_up = active_questionnaire(SurveyKind.SUIVI_6M)
    if unit is None or barometer is None or follow_up is None:
        return 0
    if SurveyAnswer.objects.filter(questionnaire__kind=SurveyKind.BAROMETRE, unit=unit).exists():
        return 0
    this_month = month_start(timezone.localdate())
    rows = [
        SurveyAnswer(
            questionnaire=barometer,
            region_id=unit.region_id,
            unit=unit,
            month=months_before(this_month, 1 + i % 10),
            answers=_barometer(i),
        )
        for i in range(BAROMETER_ANSWERS)
    ]
    for categorie, count, at_work in FOLLOW_UP_6M:
        for i in range(count):
            situation = AT_WORK[i % 3] if i < at_work else NOT_AT_WORK[i % 4]
            if categorie == "invalidite" and i >= at_work:
                situation = "invalidite" if i % 2 else "autre"
            rows.append(
                SurveyAnswer(
                    questionnaire=follow_up,
                    region_id=unit.region_id,
                    unit=unit,
                    month=months_before(this_month, 1 + i % 8),
                    categorie=categorie,
                    answers={"situation": situation},
                )
            )
    SurveyAnswer.objects.bulk_create(rows)
    return len(rows)


PAST_WEBINAR_TITLE = "Webinaire régional : préparer sa reprise (session passée)"
# Two people who attended the past webinar, followed by nobody yet: one of them asks for an
# individual meeting in the demo (a referral of origin « webinaire » is created).
WEBINAR_PEOPLE = [
    ("Lefèvre", "Nadia", datetime.date(1981, 6, 14), "8 rue Jeanne d'Arc", "76000", "Rouen"),
    ("Marchand", "Olivier", datetime.date(1976, 2, 3), "21 quai de Paris", "76000", "Rouen"),
]


def _webinar_nir(i):
    body = f"{2 - i % 2}{81 - 5 * i:02d}0{6 - 4 * i}76{900 + i:03d}{500 + i:03d}"
    return body + nir_key(body)


def seed_past_webinar(users):
    """A regional webinar held two days ago, with two people registered by their invitation,
    and for the first of them the « merci » link the periodic job sends after the session
    (the demo has no beat without Redis). Returns (link, birth date) for the summary, or None
    when it already exists."""
    regional = users["regional"]
    region = regional.region
    if ActionCollective.objects.filter(region=region, titre=PAST_WEBINAR_TITLE).exists():
        return None
    people = []
    for i, (nom, prenom, birth, adresse, cp, commune) in enumerate(WEBINAR_PEOPLE):
        person, _ = Assure.objects.get_or_create(
            nir=_webinar_nir(i),
            defaults={
                "nom_naissance": nom.upper(),
                "prenoms": prenom,
                "date_naissance": birth,
                "adresse": adresse,
                "code_postal": cp,
                "commune": commune,
                "email": f"{ascii_name(prenom)}.{ascii_name(nom)}@exemple.fr",
            },
        )
        people.append(person)
    webinar = services.action_create(
        acting_user=regional,
        type=ActionType.objects.get(code="webinaire"),
        theme=Theme.objects.get(label="Reprise du travail après un arrêt long"),
        titre=PAST_WEBINAR_TITLE,
        description="Une heure sur les étapes et les aides qui préparent la reprise du travail.",
        capacite=100,
        lien_visio="https://visio.assurance-maladie.example/webinaire-reprise-novembre",
    )
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    seance = services.seance_add(
        action=webinar,
        acting_user=regional,
        debut=timezone.make_aware(datetime.datetime.combine(tomorrow, datetime.time(14, 30))),
        duree_minutes=60,
    )
    services.action_publish(action=webinar, acting_user=regional)
    for person in people:
        participants.participant_register(
            action=webinar, assure=person, source=ParticipantSource.CODE
        )
    services.action_start(action=webinar, acting_user=regional)
    held = timezone.make_aware(
        datetime.datetime.combine(
            timezone.localdate() - datetime.timedelta(days=2), datetime.time(14, 30)
        )
    )
    Seance.objects.filter(pk=seance.pk).update(debut=held)
    services.action_finish(action=webinar, acting_user=regional)
    _row, code = access_code_issue(
        purpose=webinars.PURPOSE,
        assure_id=people[0].pk,
        expires_at=timezone.now() + datetime.timedelta(days=webinars.MERCI_CODE_DAYS),
        object_type=webinars.ACTION_LABEL,
        object_id=webinar.pk,
    )
    return code_url(code), people[0].date_naissance


# --- Campaign population (issue 12) ------------------------------------------------------------

CAMPAIGN_PEOPLE = 60
_CAMPAIGN_NAMES = [
    ("1", "Lemaire", "Yannick"),
    ("2", "Girard", "Mélanie"),
    ("1", "Bonnet", "Cédric"),
    ("2", "François", "Élodie"),
    ("1", "Mercier", "Hervé"),
    ("2", "Blanchard", "Océane"),
    ("1", "Guérin", "Frédéric"),
    ("2", "Boyer", "Maëlle"),
    ("1", "Chevalier", "Rémi"),
    ("2", "Perrin", "Bérénice"),
]
_CAMPAIGN_PLACES = [
    ("76000", "Rouen"),
    ("76100", "Rouen"),
    ("76500", "Elbeuf"),
    ("76200", "Dieppe"),
    ("27000", "Évreux"),
]


def _campaign_nir(i):
    sex = _CAMPAIGN_NAMES[i % len(_CAMPAIGN_NAMES)][0]
    body = f"{sex}{60 + (i * 7) % 38:02d}{1 + i % 12:02d}76451{i:03d}"
    return body + nir_key(body)


def seed_campaign_population(cpam):
    """People of the Rouen unit's territory on sick leave for 90 days or more, whom nobody
    follows yet: the population of a monthly outreach campaign on the demo (issue 12). Their
    contact details vary so that the default channel rules give every channel: a landline
    only and a long arrêt (call), a mobile (SMS), an e-mail only, a postal address only
    (letter). Idempotent: nothing is created when they exist. Returns how many were."""
    nirs = [_campaign_nir(i) for i in range(CAMPAIGN_PEOPLE)]
    if Assure.objects.filter(nir__in=nirs).exists():
        return 0
    today = timezone.localdate()
    people, arrets = [], []
    for i, nir in enumerate(nirs):
        sex, last, first = _CAMPAIGN_NAMES[i % len(_CAMPAIGN_NAMES)]
        postal_code, commune = _CAMPAIGN_PLACES[i % len(_CAMPAIGN_PLACES)]
        profile = i % 4  # 0: call, 1: SMS, 2: e-mail, 3: letter
        days = 185 + (i * 11) % 150 if profile == 0 else 95 + (i * 7) % 80
        person = Assure(
            nir=nir,
            nom_naissance=last.upper(),
            prenoms=first,
            date_naissance=datetime.date(1900 + int(nir[1:3]), int(nir[3:5]), 1 + i % 28),
            sexe=sex,
            adresse=f"{3 + i} rue des Tilleuls",
            code_postal=postal_code,
            commune=commune,
            telephone={
                0: f"02 35 {10 + i:02d} 44 {i:02d}",
                1: f"07 {20 + i:02d} 18 {i:02d} 52",
            }.get(profile, ""),
            email=(
                f"{ascii_name(first)}.{ascii_name(last)}{i}@exemple.fr" if profile in (1, 2) else ""
            ),
            cpam=cpam,
            situation_emploi=["cdi", "cdd", "interim", "cdi"][i % 4],
        )
        person.search_name = build_search_name(person.nom_naissance, person.prenoms)
        people.append(person)
    Assure.objects.bulk_create(people)
    by_nir = dict(Assure.objects.filter(nir__in=nirs).values_list("nir", "pk"))
    for i, nir in enumerate(nirs):
        profile = i % 4
        days = 185 + (i * 11) % 150 if profile == 0 else 95 + (i * 7) % 80
        start = today - datetime.timedelta(days=days - 1)
        arrets.append(
            ArretTravail(
                assure_id=by_nir[nir],
                type_arret=TypeArret.MALADIE if i % 5 else TypeArret.AT,
                date_debut=start,
                date_fin_prevue=today + datetime.timedelta(days=20 + i % 40),
                montant_ij=Decimal("28.50") + i,
                cpam=cpam,
            )
        )
    ArretTravail.objects.bulk_create(arrets)
    return len(people)
