"""Indicators of the collective part (issue 13, item 1): see `indicators.definitions`.

- `participations_collectives`: presences at the sessions of collective actions, by type;
- `webinaires_parcours`: the people registered to a webinar (or an information meeting), those
  who attended, those who then asked for an individual meeting;
- `barometre_*`: the barometer's answers to each of its three rated questions;
- `suivi_6m_situation`, `suivi_12m_situation`: the situation 6 and 12 months after a closure,
  by the closure's outcome category.

The survey answers (`SurveyAnswer`) are unlinkable by design: they keep the region, the unit,
the month the questionnaire was sent (the 1st of that month) and, for the follow-up, the
closure's outcome category; no person, case or filterable field — none of the page's filters
applies to them. Nothing is grouped by a member of staff (animateur, ASS) nor by an action's
theme (themes say something about health).
"""

from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    OuterRef,
    Q,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncDate

from collective.models import (
    ActionEvent,
    ActionStatus,
    ActionType,
    Participant,
    Presence,
    PresenceStatus,
    Seance,
)
from indicators.definitions import CASE_FILTERS, FLOW, Indicator, through
from outreach.models import Questionnaire, QuestionType, SurveyAnswer, SurveyKind
from outreach.surveys import CATEGORIES

# --- People supported collectively -------------------------------------------------------------


def _action_types():
    """Every action type, inactive ones included (past presences keep their type)."""
    return list(ActionType.objects.order_by("label").values_list("pk", "label"))


def _types_by_code():
    """The action types people register to with an invitation code (webinars, information
    meetings)."""
    return list(
        ActionType.objects.filter(inscription_par_code=True)
        .order_by("label")
        .values_list("pk", "label")
    )


PARTICIPATIONS = Indicator(
    code="participations_collectives",
    label="Participations aux actions collectives",
    definition=(
        "Présences à une séance d'action collective (ISIC, webinaire, réunion d'information…)"
        " tenue dans la période (date de la séance), par type d'action : chaque présence"
        " notée « présent·e » compte une fois. Ce n'est pas un nombre de personnes"
        " distinctes : une personne venue aux trois séances d'un atelier compte trois fois,"
        " de sorte que les mois s'additionnent. Une action régionale (sans unité, comme la"
        " plupart des webinaires) compte dans la vue de sa région, pas dans celle d'une unité."
        " Les filtres mission et type d'arrêt ne retiennent que les participations liées à un"
        " accompagnement ; le filtre CPAM s'applique à la CPAM de la personne."
    ),
    version=1,
    kind=FLOW,
    model=Presence,
    date_path="seance__debut",
    where=Q(statut=PresenceStatus.PRESENT),
    unit_path="seance__action__unit_id",
    region_path="seance__action__region_id",
    rows=("seance__action__type_id", _action_types, "Type d'action"),
    filter_paths={
        **through("participant__accompagnement", CASE_FILTERS),
        "cpam": "participant__assure__cpam_id",
    },
)


# --- Webinars: registered, present, asking for an individual meeting --------------------------

# The local day of the first session of the participant's action: the date that puts a
# registration in a period (a date, not a datetime: the engine reads an annotation as is).
FIRST_SESSION = TruncDate(
    Subquery(
        Seance.objects.filter(action=OuterRef("action_id"))
        .order_by("debut", "pk")
        .values("debut")[:1]
    )
)
# As `outreach.surveys.attended`: present at a session, or « a participé » (status).
PRESENT_AT_A_SESSION = Exists(
    Presence.objects.filter(participant=OuterRef("pk"), statut=PresenceStatus.PRESENT)
)
# `outreach.webinars.webinar_request_meeting` records the request as an event of the action
# whose `changes` name the participant.
MEETING_REQUEST = Exists(
    ActionEvent.objects.filter(action=OuterRef("action_id"), kind="demande_rdv")
    .annotate(participant_id=Cast(KeyTextTransform("participant", "changes"), BigIntegerField()))
    .filter(participant_id=OuterRef("pk"))
)

WEBINARS = Indicator(
    code="webinaires_parcours",
    label="Webinaires : inscrit·es, présent·es, demandes de rendez-vous individuel",
    definition=(
        "Personnes inscrites à un webinaire ou à une réunion d'information (les types d'action"
        " ouverts à l'inscription par un code d'invitation) dont la première séance tombe dans"
        " la période (date de la première séance), par type d'action ; les actions annulées ne"
        " comptent pas. « Inscrit·es » compte chaque inscription, y compris celles restées en"
        " liste d'attente ou annulées depuis ; « Présent·es », celles notées présentes à une"
        " séance ou « a participé » ; « Demande de rendez-vous individuel », celles qui ont"
        " demandé un rendez-vous avec le service social après la séance (à ce jour). Une action"
        " régionale (sans unité) compte dans la vue de sa région, pas dans celle d'une unité."
    ),
    version=1,
    kind=FLOW,
    model=Participant,
    annotations={
        "premiere_seance": FIRST_SESSION,
        "a_assiste": PRESENT_AT_A_SESSION,
        "demande_rdv": MEETING_REQUEST,
    },
    date_path="premiere_seance",
    where=Q(action__type__inscription_par_code=True) & ~Q(action__statut=ActionStatus.ANNULEE),
    unit_path="action__unit_id",
    region_path="action__region_id",
    rows=("action__type_id", _types_by_code, "Type d'action"),
    stages=(
        ("inscrits", "Inscrit·es", Q()),
        ("presents", "Présent·es", Q(a_assiste=True) | Q(statut__code="present")),
        ("rdv", "Demande de rendez-vous individuel", Q(demande_rdv=True)),
    ),
    filter_paths={"cpam": "assure__cpam_id"},
)


# --- Barometer of satisfaction -----------------------------------------------------------------

NO_ANSWER = ("", "Sans réponse")
YES_NO = [("oui", "Oui"), ("non", "Non")]


def _answer_choices(kind, key):
    """The answers to question `key` in every version of `kind`'s questionnaire, the newest
    version's first (its wording wins), then « Sans réponse » — one query."""

    def choices():
        seen, result = set(), []
        for questions in (
            Questionnaire.objects.filter(kind=kind)
            .order_by("-version")
            .values_list("questions", flat=True)
        ):
            for question in questions:
                if question.get("key") != key:
                    continue
                options = (
                    YES_NO if question.get("type") == QuestionType.YESNO else question["choices"]
                )
                for value, label in options:
                    if value not in seen:
                        seen.add(value)
                        result.append((value, label))
        return [*result, NO_ANSWER]

    return choices


def _answer_to(key):
    """The answer to question `key` ("" when not answered)."""
    return Coalesce(KeyTextTransform(key, "answers"), Value(""), output_field=TextField())


BAROMETER_WHEN = (
    " Le questionnaire est envoyé 7 jours après une clôture (sauf décès, perdu de vue ou"
    " refus) ; les réponses sont anonymes et ne gardent que le mois d'envoi : une réponse"
    " compte dans le mois où le questionnaire a été envoyé (une période en dates choisies"
    " retient les mois dont le 1er y tombe). La colonne « Part » donne le taux de chaque"
    " réponse."
)


def _barometer(*, code, label, key, question):
    return Indicator(
        code=code,
        label=label,
        definition=(
            f"Réponses au baromètre de satisfaction reçues pour les questionnaires envoyés"
            f" dans la période, par réponse à la question « {question} ».{BAROMETER_WHEN}"
        ),
        version=1,
        kind=FLOW,
        model=SurveyAnswer,
        annotations={"reponse": _answer_to(key)},
        annotation_paths=("answers",),
        date_path="month",
        where=Q(questionnaire__kind=SurveyKind.BAROMETRE),
        unit_path="unit_id",
        region_path="region_id",
        rows=("reponse", _answer_choices(SurveyKind.BAROMETRE, key), "Réponse"),
    )


BAROMETER = [
    _barometer(
        code="barometre_satisfaction",
        label="Baromètre : satisfaction globale",
        key="satisfaction",
        question="Dans l'ensemble, êtes-vous satisfait·e du service social ?",
    ),
    _barometer(
        code="barometre_nouvel_appel",
        label="Baromètre : feraient de nouveau appel au service social",
        key="nouvel_appel",
        question="Feriez-vous de nouveau appel au service social ?",
    ),
    _barometer(
        code="barometre_delai",
        label="Baromètre : satisfaction sur le délai de rencontre",
        key="delai",
        question="Êtes-vous satisfait·e du délai proposé pour une rencontre ?",
    ),
]


# --- Situation 6 and 12 months after a closure ------------------------------------------------

# The answers to « Quelle est aujourd'hui votre situation professionnelle ? » counted as at
# work: the question's `positive` values (a test checks they still are).
AT_WORK = ("meme_poste", "meme_employeur_autre_poste", "autre_employeur")
SITUATIONS = [
    ("au_travail", "Au travail"),
    ("formation", "En formation"),
    ("recherche_emploi", "En recherche d'emploi"),
    ("invalidite", "En invalidité"),
    ("autre", "Autre situation ou sans réponse"),
]
SITUATION = Case(
    When(answers__situation__in=AT_WORK, then=Value("au_travail")),
    When(answers__situation="formation", then=Value("formation")),
    When(answers__situation="recherche_emploi", then=Value("recherche_emploi")),
    When(answers__situation="invalidite", then=Value("invalidite")),
    default=Value("autre"),
)


def _follow_up(*, code, kind, months):
    return Indicator(
        code=code,
        label=f"Situation professionnelle {months} mois après la clôture",
        definition=(
            f"Réponses au questionnaire de suivi envoyé {months} mois après une clôture (à"
            " toutes les issues sauf le décès), pour les questionnaires envoyés dans la période,"
            " par catégorie d'issue de la clôture et par situation déclarée : « Au travail »"
            " réunit même poste, même employeur sur un autre poste et autre employeur. Les"
            " réponses sont anonymes et ne gardent que le mois d'envoi : une réponse compte"
            " dans le mois où le questionnaire a été envoyé (une période en dates choisies"
            " retient les mois dont le 1er y tombe). Le suivi à 6 mois et celui à 12 mois sont"
            " deux indicateurs : une même personne peut répondre aux deux."
        ),
        version=1,
        kind=FLOW,
        model=SurveyAnswer,
        annotations={"situation": SITUATION},
        annotation_paths=("answers",),
        date_path="month",
        where=Q(questionnaire__kind=kind),
        unit_path="unit_id",
        region_path="region_id",
        rows=("categorie", CATEGORIES, "Issue de la clôture"),
        columns=("situation", SITUATIONS),
    )


FOLLOW_UPS = [
    _follow_up(code="suivi_6m_situation", kind=SurveyKind.SUIVI_6M, months=6),
    _follow_up(code="suivi_12m_situation", kind=SurveyKind.SUIVI_12M, months=12),
]


INDICATORS = [PARTICIPATIONS, WEBINARS, *BAROMETER, *FOLLOW_UPS]
