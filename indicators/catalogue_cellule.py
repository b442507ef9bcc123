"""Indicators of the cellule part (issue 13, item 1): see `indicators.definitions`.

The activity of the cellules PDP: the situations submitted to an instance, the situations
examined at its meetings, the decisions taken there and what became of the actions decided.
Each has an `instance_path`, so a coordinator sees them for the instances they coordinate. Their
region is the instance's; their unit is that of the case presented (an instance covers several
units: its territory), so a unit's manager sees the cellule activity of their unit's cases.
Nothing of the fiche is counted but its urgency: no health data, never a diagnosis.
"""

from django.db.models import Case, CharField, DateField, F, Q, Value, When
from django.db.models.expressions import Expression
from django.db.models.functions import TruncDate
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from coordination.models import (
    ActionInstance,
    Decision,
    InstanceType,
    PointOrdreDuJour,
    Reunion,
    Saisine,
    TypeDecision,
    Urgence,
)
from indicators.definitions import CASE_FILTERS, FLOW, Indicator, through


class Today(Expression):
    """Today's local date, read when the query is compiled (not when this module is imported),
    as a parameter: the state of an action « à ce jour »."""

    output_field = DateField()

    def as_sql(self, compiler, connection):
        return "%s", [timezone.localdate()]


def _decision_types():
    """Every type of decision, active or not (old decisions keep theirs), in the pick list's
    order (one query)."""
    return list(TypeDecision.objects.order_by("ordre", "libelle").values_list("pk", "libelle"))


# A meeting is held once the coordinator closed it: « tenue », then its minutes.
HELD = ~Q(reunion__statut__in=Reunion.NOT_HELD)

POINT_ORIGINS = PointOrdreDuJour.Origine.choices

DECISION_KINDS = [(False, "Définitive"), (True, "Provisoire (sans quorum)")]

ACTION_STATES = [
    ("a_temps", "Faite à l'échéance ou avant"),
    ("faite_en_retard", "Faite après l'échéance"),
    ("en_retard", "Non faite, échéance dépassée"),
    ("a_venir", "Non faite, pas encore échue"),
    ("abandonnee", "Abandonnée"),
]
S = ActionInstance.Statut
ACTION_STATE = Case(
    When(Q(statut=S.ABANDONNEE), then=Value("abandonnee")),
    # Soldée (a local date) after the due date; a « faite » without a date counts on time.
    When(
        Q(statut=S.FAITE) & GreaterThan(TruncDate("closed_at"), F("echeance")),
        then=Value("faite_en_retard"),
    ),
    When(Q(statut=S.FAITE), then=Value("a_temps")),
    When(Q(echeance__lt=Today()), then=Value("en_retard")),
    default=Value("a_venir"),
    output_field=CharField(),
)

INDICATORS = [
    Indicator(
        code="cellule_saisines",
        label="Situations présentées à la cellule PDP",
        definition=(
            "Situations présentées à une instance (cellule PDP ou instance de coordination)"
            " dans la période — date de présentation —, par urgence indiquée sur la fiche et"
            " par type d'instance, quel que soit leur statut aujourd'hui, y compris celles"
            " retirées depuis à la demande de l'assuré. Une même situation présentée à deux"
            " instances compte deux fois."
        ),
        version=1,
        model=Saisine,
        kind=FLOW,
        date_path="submitted_at",
        unit_path="accompagnement__unit_id",
        region_path="instance__region_id",
        instance_path="instance_id",
        rows=("urgence", Urgence.choices, "Urgence"),
        columns=("instance__type", InstanceType.choices),
        filter_paths=through("accompagnement", CASE_FILTERS),
    ),
    Indicator(
        code="cellule_situations_examinees",
        label="Situations examinées en réunion",
        definition=(
            "Passages d'une situation à l'ordre du jour d'une réunion tenue dans la période"
            " (date de la réunion\u00a0; réunion déclarée tenue, compte rendu validé ou non), par"
            " origine du point — nouvelle situation, suivi, représentée — et par urgence"
            " indiquée sur la fiche. Une situation examinée à deux réunions de la période"
            " compte deux fois\u00a0; les réunions seulement planifiées ne comptent pas."
        ),
        version=1,
        model=PointOrdreDuJour,
        kind=FLOW,
        date_path="reunion__debut",
        where=HELD,
        unit_path="saisine__accompagnement__unit_id",
        region_path="reunion__instance__region_id",
        instance_path="reunion__instance_id",
        rows=("origine", POINT_ORIGINS, "Point de l'ordre du jour"),
        columns=("saisine__urgence", Urgence.choices),
        filter_paths=through("saisine__accompagnement", CASE_FILTERS),
    ),
    Indicator(
        code="cellule_decisions",
        label="Décisions et préconisations de la cellule PDP",
        definition=(
            "Décisions et préconisations enregistrées pour les réunions dont la date tombe dans"
            " la période (date de la réunion, non date de saisie), par type de décision, et"
            " selon qu'elles sont définitives ou provisoires (prises sans quorum, à"
            " confirmer). Un point peut porter plusieurs décisions\u00a0: chacune compte."
        ),
        version=1,
        model=Decision,
        kind=FLOW,
        date_path="point__reunion__debut",
        unit_path="point__saisine__accompagnement__unit_id",
        region_path="point__reunion__instance__region_id",
        instance_path="point__reunion__instance_id",
        rows=("type_id", _decision_types, "Décision"),
        columns=("provisoire", DECISION_KINDS),
        filter_paths=through("point__saisine__accompagnement", CASE_FILTERS),
    ),
    Indicator(
        code="cellule_actions_echeance",
        label="Actions des instances arrivant à échéance, par état",
        definition=(
            "Actions confiées à un membre par une instance dont l'échéance tombe dans la"
            " période (date d'échéance), par état à ce jour\u00a0: faite à l'échéance ou avant"
            " (soldée le jour de l'échéance au plus tard), faite après l'échéance, non faite"
            " et échéance dépassée, non faite et pas encore échue, abandonnée (dont les"
            " actions des situations retirées à la demande de l'assuré). L'état est celui du"
            " jour du calcul\u00a0: une action en retard passe en «\u00a0faite après"
            " l'échéance\u00a0» quand elle est soldée."
        ),
        version=1,
        model=ActionInstance,
        kind=FLOW,
        date_path="echeance",
        unit_path="point__saisine__accompagnement__unit_id",
        region_path="point__reunion__instance__region_id",
        instance_path="point__reunion__instance_id",
        rows=("etat", ACTION_STATES, "État"),
        annotations={"etat": ACTION_STATE},
        annotation_paths=("statut", "closed_at", "echeance"),
        filter_paths=through("point__saisine__accompagnement", CASE_FILTERS),
    ),
]
