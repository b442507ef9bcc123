"""Dispositifs mobilised in an accompagnement: the rules of domain §5 and the services.

One function, ``dispositif_problems``, lists everything that is wrong or missing for a
dispositif (saved or not). The form pages show its result as the user types (htmx), and the
services below refuse a change when one of these problems blocks the target status, so the
warnings shown and the refusals cannot drift apart.

When a problem blocks (``Problem.blocks_from``):

- ``ALWAYS``: limits that make a plan impossible whatever its status (essai encadré
  14 / 28 jours ouvrables, PMSMP at another company — another SIREN — with each period, the
  first and the renewal, 1 month at most, CRPE 18 months, bilan 24 h, one renewal). Nothing
  over a limit can be recorded.
- ``accorde``: timing against the arrêt de travail and eligibility, once dates are known
  (essai encadré / formation during the arrêt, CRPE after it, pré-reprise beyond day 30,
  essai encadré only for salariés, intérimaires, apprentis, stagiaires of the régime
  général, CRPE only for a person declared inapte or at risk of inaptitude, TPT only with a
  favourable decision the médecin conseil recorded on one of the person's service médical
  referrals).
- ``en_cours``: what must exist before it starts: dates, the medical agreements and CPAM
  authorisation dated on or before the start, an évaluation globale dated on or before the
  start of an essai encadré, prescriber, convention, the médecin conseil's TPT decision
  dated on or before the start; and the start itself must have come (a dispositif starting
  later stays « accordé »).
- ``None``: a warning only (e.g. the assuré's job situation is not filled in, a visite de
  pré-reprise dated before the médecin conseil's request).

What the médecin conseil recorded on the person's service médical referrals
(``referrals.models.Signalement.tpt_decision`` / ``visite_pre_reprise_demandee_le``) is read
here, never typed again by the ASS; ``dispositif_notes`` says it on the dispositif's pages.

A status change to accordé or en cours enforces every problem blocking that status. Other
changes (editing fields, adding a period, renewing) may not *introduce* a blocking problem;
problems that already existed (e.g. an arrêt shortened by a later CPAM import) do not prevent
recording the rest. Refusing, abandoning and ending are always possible.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cached_property

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import (
    ESSAI_JOURS_MAX,
    ESSAI_JOURS_PAR_OCTROI,
    CaseEvent,
    CaseStatus,
    DispositifMobilise,
    DispositifPeriode,
    DispositifStatut,
)
from cases.services import case_event_add, case_lock
from pdp.identifiers import IdentifierError, siret_normalize
from pdp.workdays import count_jours_ouvrables
from referrals.models import (
    ArretTravail,
    DecisionTpt,
    Regime,
    Service,
    Signalement,
    SituationEmploi,
)

S = DispositifStatut

ESSAI = "essai_encadre"
PMSMP = "pmsmp"
CRPE = "crpe"
FORMATION = "formation"
BILAN = "bilan_competences"
VAE = "vae"
TPT = "tpt"
PRE_REPRISE = "pre_reprise"

MAX_RENOUVELLEMENTS = 1
PMSMP_MOIS = 1
CRPE_MOIS_MAX = 18
BILAN_HEURES_MAX = 24
PRE_REPRISE_JOURS_MIN = 30  # the arrêt must have lasted more than this on the visit date
SIREN_LENGTH = 9  # the company is the SIRET's first 9 digits; the rest is the establishment

RENEWABLE = frozenset({ESSAI, PMSMP})
ESSAI_SITUATIONS = frozenset(
    {
        SituationEmploi.CDI,
        SituationEmploi.CDD,
        SituationEmploi.INTERIM,
        SituationEmploi.APPRENTI,
        SituationEmploi.STAGIAIRE,
    }
)

# "… avant le début de l'essai encadré"
_OF_TYPE = {
    ESSAI: "de l'essai encadré",
    PMSMP: "de la PMSMP",
    CRPE: "de la CRPE",
    FORMATION: "de la formation",
    BILAN: "du bilan de compétences",
    VAE: "de la VAE",
    TPT: "du temps partiel thérapeutique",
    PRE_REPRISE: "de la visite de pré-reprise",
}

ALWAYS = "toujours"
_RANK = {S.ENVISAGE: 0, S.DEMANDE: 1, S.ACCORDE: 2, S.EN_COURS: 3, S.TERMINE: 4}

FINAL_STATUSES = frozenset({S.TERMINE, S.REFUSE, S.ABANDONNE})
CREATION_STATUSES = (S.ENVISAGE, S.DEMANDE, S.ACCORDE, S.EN_COURS)
TRANSITIONS = {
    S.ENVISAGE: (S.DEMANDE, S.REFUSE, S.ABANDONNE),
    S.DEMANDE: (S.ACCORDE, S.REFUSE, S.ABANDONNE),
    S.ACCORDE: (S.EN_COURS, S.REFUSE, S.ABANDONNE),
    S.EN_COURS: (S.TERMINE, S.REFUSE, S.ABANDONNE),
}
# Statuses whose entry re-checks every rule (the others can always be reached).
_CHECKED_ON_ENTRY = frozenset({S.ACCORDE, S.EN_COURS})

EDITABLE_FIELDS = (
    "date_debut",
    "date_fin",
    "entreprise_accueil",
    "entreprise_siret",
    "chez_employeur",
    "prescripteur",
    "accord_medecin_traitant",
    "accord_medecin_conseil",
    "accord_medecin_travail",
    "autorisation_cpam",
    "convention_signee",
    "date_fin_initiale",
    "inaptitude",
    "duree_heures",
    "resultat",
)


@dataclass(frozen=True)
class Problem:
    """Something wrong or missing. ``code`` is stable; ``message`` is shown to the user."""

    code: str
    message: str
    blocks_from: str | None = None

    def blocks(self, statut):
        if self.blocks_from is None:
            return False
        if self.blocks_from == ALWAYS:
            return True
        rank = _RANK.get(statut)
        return rank is not None and rank >= _RANK[self.blocks_from]

    @property
    def when(self):
        """When the problem stops the dispositif, in French, for the warnings list."""
        return {
            None: "à vérifier",
            ALWAYS: "bloquant",
            S.ACCORDE: "bloque l'accord",
            S.EN_COURS: "bloque le démarrage",
        }[self.blocks_from]


def _d(day):
    return f"{day:%d/%m/%Y}"


def months_end(start, months):
    """Last day of a duration of ``months`` months starting on ``start`` (start = day 1).

    01/03 + 1 month → 31/03. When the same day does not exist in the target month
    (31/01 + 1 month), the duration ends on the last day of that month (28 or 29/02).
    """
    end = start + relativedelta(months=months)
    if end.day != start.day:  # clamped to the end of a shorter month
        return end
    return end - datetime.timedelta(days=1)


class _Facts:
    """What the rules look at, each loaded once."""

    def __init__(self, dispositif, periodes):
        self.dispositif = dispositif
        self.code = dispositif.type.code
        self.case = dispositif.accompagnement
        self.assure = self.case.assure
        self.periodes = sorted(periodes, key=lambda p: (p.date_debut, p.date_fin))
        self.of_type = _OF_TYPE.get(self.code, "du dispositif")

    @cached_property
    def arrets(self):
        return list(ArretTravail.objects.filter(assure_id=self.assure.pk).order_by("date_debut"))

    @property
    def start(self):
        if self.code == ESSAI:
            return self.periodes[0].date_debut if self.periodes else None
        return self.dispositif.date_debut

    def arret_on(self, day):
        """The arrêt ongoing on ``day`` (domain §4), if any."""
        for arret in self.arrets:
            if arret.date_debut <= day <= arret.date_fin:
                return arret
        return None

    def outside_arret(self, start, end, what):
        """Problem message if [start, end] is not inside one arrêt, else None."""
        arret = self.arret_on(start)
        if arret is None:
            return (
                f"Aucun arrêt de travail n'est en cours le {_d(start)} : {what} se déroule "
                "pendant l'arrêt."
            )
        if end > arret.date_fin:
            fin = "fin de l'arrêt" if arret.date_fin_reelle else "fin prévue de l'arrêt"
            return (
                f"La période du {_d(start)} au {_d(end)} dépasse la {fin} "
                f"({_d(arret.date_fin)}) : {what} se déroule pendant l'arrêt."
            )
        return None

    def overlaps_arret(self, start, end):
        return any(a.date_debut <= end and start <= a.date_fin for a in self.arrets)

    @cached_property
    def first_evaluation_day(self):
        """Day of the case's first évaluation globale, or None."""
        first = (
            self.case.evaluations.order_by("created_at").values_list("created_at", flat=True)
        ).first()
        return timezone.localdate(first) if first else None

    @cached_property
    def medical(self):
        return medical_record(self.assure.pk)


@dataclass(frozen=True)
class MedicalRecord:
    """What the médecin conseil recorded on a person's service médical referrals: the latest
    TPT decision (``tpt``: DecisionTpt value or "", ``tpt_le``) and the visite de pré-reprise
    requests (``pre_reprise``: their dates, oldest first)."""

    tpt: str = ""
    tpt_le: datetime.date | None = None
    pre_reprise: tuple = ()


def medical_record(assure_id):
    """One query over the person's service médical referrals that carry a decision."""
    rows = (
        Signalement.objects.filter(assure_id=assure_id, service=Service.MEDICAL)
        .exclude(tpt_decision="", visite_pre_reprise_demandee_le__isnull=True)
        .values_list("tpt_decision", "tpt_decision_le", "visite_pre_reprise_demandee_le", "pk")
    )
    rows = list(rows)
    decisions = sorted((le, pk, decision) for decision, le, _, pk in rows if decision)
    requests = tuple(sorted(day for _, _, day, _ in rows if day))
    if not decisions:
        return MedicalRecord(pre_reprise=requests)
    tpt_le, _, tpt = decisions[-1]
    return MedicalRecord(tpt=tpt, tpt_le=tpt_le, pre_reprise=requests)


# (field, noun, feminine ending) for dated agreements.
_AGREEMENTS = {
    "accord_medecin_traitant": ("L'accord du médecin traitant", ""),
    "accord_medecin_conseil": ("L'accord du médecin conseil", ""),
    "accord_medecin_travail": ("L'accord du médecin du travail", ""),
    "autorisation_cpam": ("L'autorisation de la CPAM", "e"),
    "convention_signee": ("La convention tripartite signée", "e"),
}


def _agreement(facts, field):
    noun, e = _AGREEMENTS[field]
    value = getattr(facts.dispositif, field)
    start = facts.start
    if value is None:
        yield Problem(
            f"{field}_manquant",
            f"{noun} est requis{e} avant le début {facts.of_type} : enregistrez sa date.",
            S.EN_COURS,
        )
    elif start is not None and value > start:
        yield Problem(
            f"{field}_apres_debut",
            f"{noun} est daté{e} du {_d(value)}, après le début {facts.of_type} ({_d(start)}).",
            S.EN_COURS,
        )


def _dates_required(facts):
    d = facts.dispositif
    if d.date_debut is None or d.date_fin is None:
        yield Problem(
            "dates_manquantes",
            f"Indiquez les dates de début et de fin {facts.of_type} avant de le démarrer.",
            S.EN_COURS,
        )


def _during_arret(facts, what):
    d = facts.dispositif
    if d.date_debut is None:
        return
    message = facts.outside_arret(d.date_debut, d.date_fin or d.date_debut, what)
    if message:
        yield Problem("hors_arret", message, S.ACCORDE)


START_IN_FUTURE = (
    "Un dispositif ne peut être « en cours » avant sa date de début ; choisissez « accordé »."
)


def _rules_common(facts):
    d = facts.dispositif
    if d.date_debut and d.date_fin and d.date_fin < d.date_debut:
        yield Problem("fin_avant_debut", "La date de fin précède la date de début.", ALWAYS)
    if facts.start is not None and facts.start > timezone.localdate():
        yield Problem("debut_futur", START_IN_FUTURE, S.EN_COURS)
    if d.renouvellements and facts.code not in RENEWABLE:
        yield Problem("non_renouvelable", "Ce dispositif ne se renouvelle pas.", ALWAYS)
    elif d.renouvellements > MAX_RENOUVELLEMENTS:
        yield Problem(
            "renouvellements", "Le renouvellement n'est possible qu'une seule fois.", ALWAYS
        )


def _rules_essai(facts):
    d = facts.dispositif
    initial = total = 0
    previous = None
    for p in facts.periodes:
        if p.date_fin < p.date_debut:
            yield Problem(
                f"periode_inversee:{p.date_debut}",
                f"La période commençant le {_d(p.date_debut)} finit avant de commencer.",
                ALWAYS,
            )
            continue
        days = count_jours_ouvrables(p.date_debut, p.date_fin)
        if days == 0:
            yield Problem(
                f"periode_vide:{p.date_debut}",
                f"La période du {_d(p.date_debut)} au {_d(p.date_fin)} ne compte aucun jour "
                "ouvrable (dimanche ou jour férié).",
                ALWAYS,
            )
        if previous is not None and p.date_debut <= previous.date_fin:
            yield Problem(
                f"periodes_chevauchent:{p.date_debut}",
                f"Les périodes du {_d(previous.date_debut)} au {_d(previous.date_fin)} et du "
                f"{_d(p.date_debut)} au {_d(p.date_fin)} se chevauchent.",
                ALWAYS,
            )
        previous = p
        total += days
        if not p.renouvellement:
            initial += days
        message = facts.outside_arret(p.date_debut, p.date_fin, "l'essai encadré")
        if message:
            yield Problem(f"hors_arret:{p.date_debut}:{p.date_fin}", message, S.ACCORDE)
    if initial > ESSAI_JOURS_PAR_OCTROI:
        yield Problem(
            "essai_14_jours",
            f"L'essai encadré compte au plus {ESSAI_JOURS_PAR_OCTROI} jours ouvrables avant "
            f"renouvellement : les périodes en comptent {initial}.",
            ALWAYS,
        )
    if d.renouvellements and total > ESSAI_JOURS_MAX:
        yield Problem(
            "essai_28_jours",
            f"L'essai encadré compte au plus {ESSAI_JOURS_MAX} jours ouvrables, renouvellement "
            f"compris : les périodes en comptent {total}.",
            ALWAYS,
        )

    situation = facts.assure.situation_emploi
    if not situation:
        yield Problem(
            "situation_inconnue",
            "La situation d'emploi de l'assuré n'est pas renseignée : l'essai encadré est "
            "réservé aux salariés, intérimaires, apprentis et stagiaires de la formation "
            "professionnelle.",
        )
    elif situation not in ESSAI_SITUATIONS:
        yield Problem(
            "situation_non_eligible",
            "L'essai encadré est réservé aux salariés, intérimaires, apprentis et stagiaires "
            "de la formation professionnelle (situation de l'assuré : "
            f"{SituationEmploi(situation).label}).",
            S.ACCORDE,
        )

    regime = facts.assure.regime
    if regime != Regime.GENERAL:
        label = Regime(regime).label if regime in Regime.values else regime or "non renseigné"
        yield Problem(
            "essai_regime",
            "L'essai encadré est réservé aux assurés du régime général (régime de "
            f"l'assuré\N{NO-BREAK SPACE}: {label}).",
            S.ACCORDE,
        )

    if not facts.periodes:
        yield Problem(
            "periodes_manquantes",
            "Ajoutez au moins une période (début et fin) avant de démarrer l'essai encadré.",
            S.EN_COURS,
        )
    evaluated = facts.first_evaluation_day
    if evaluated is None:
        yield Problem(
            "evaluation_manquante",
            "L'essai encadré se décide après une évaluation globale : aucune n'est enregistrée "
            "dans cet accompagnement.",
            S.EN_COURS,
        )
    elif facts.start is not None and evaluated > facts.start:
        yield Problem(
            "evaluation_apres_debut",
            "L'essai encadré se décide après une évaluation globale\N{NO-BREAK SPACE}: la "
            f"première est datée du {_d(evaluated)}, après le début de l'essai encadré "
            f"({_d(facts.start)}).",
            S.EN_COURS,
        )
    for field in ("accord_medecin_traitant", "accord_medecin_conseil", "accord_medecin_travail"):
        yield from _agreement(facts, field)
    if not d.chez_employeur and not d.entreprise_accueil:
        yield Problem(
            "entreprise_manquante",
            "Indiquez l'entreprise d'accueil, ou cochez « dans l'entreprise de l'employeur ».",
            S.EN_COURS,
        )


def _rules_pmsmp(facts):
    d = facts.dispositif
    employeur_siret = facts.assure.employeur_siret
    if d.chez_employeur:
        yield Problem(
            "pmsmp_chez_employeur",
            "La PMSMP se déroule dans une autre entreprise que l'employeur de l'assuré "
            "(chez l'employeur : essai encadré).",
            ALWAYS,
        )
    elif (
        d.entreprise_siret
        and employeur_siret
        and d.entreprise_siret[:SIREN_LENGTH] == employeur_siret[:SIREN_LENGTH]
    ):
        yield Problem(
            "pmsmp_chez_employeur",
            "La PMSMP se déroule dans une autre entreprise que l'employeur\N{NO-BREAK SPACE}: "
            "le SIREN de l'entreprise d'accueil (9 premiers chiffres du SIRET) est celui de "
            "l'employeur de l'assuré\N{NO-BREAK SPACE}; un autre établissement de la même "
            "entreprise ne convient pas.",
            ALWAYS,
        )
    yield from _pmsmp_periods(facts)
    yield from _dates_required(facts)
    if not d.prescripteur:
        yield Problem(
            "prescripteur_manquant",
            "Indiquez le prescripteur de la PMSMP (France Travail, Cap emploi, Mission locale…).",
            S.EN_COURS,
        )
    if not d.entreprise_accueil:
        yield Problem(
            "entreprise_manquante", "Indiquez l'entreprise d'accueil de la PMSMP.", S.EN_COURS
        )
    yield from _agreement(facts, "convention_signee")
    if d.date_debut and facts.overlaps_arret(d.date_debut, d.date_fin or d.date_debut):
        yield from _agreement(facts, "autorisation_cpam")


def _pmsmp_periods(facts):
    """Each period of a PMSMP lasts 1 month at most: the first from ``date_debut`` (to
    ``date_fin``, or to ``date_fin_initiale`` once renewed), the renewal from the day after
    the first period's end to ``date_fin``."""
    d = facts.dispositif
    if d.date_fin_initiale and not d.renouvellements:
        yield Problem(
            "pmsmp_fin_initiale",
            "La fin de la première période ne s'indique que pour une PMSMP renouvelée.",
            ALWAYS,
        )
        return
    if not (d.date_debut and d.date_fin):
        return
    first_end = d.date_fin_initiale if d.renouvellements else d.date_fin
    if d.renouvellements and first_end is None:
        # Renewed before the first period's end was recorded: only the total is known.
        latest = months_end(d.date_debut, PMSMP_MOIS * (1 + MAX_RENOUVELLEMENTS))
        if d.date_fin > latest:
            yield Problem(
                "pmsmp_duree",
                "La PMSMP dure au plus 2 mois, renouvellement compris\N{NO-BREAK SPACE}: "
                f"commencée le {_d(d.date_debut)}, elle finit au plus tard le {_d(latest)}.",
                ALWAYS,
            )
        return
    if d.renouvellements and not d.date_debut <= first_end < d.date_fin:
        yield Problem(
            "pmsmp_fin_initiale",
            f"La fin de la première période ({_d(first_end)}) doit suivre le début de la PMSMP "
            f"({_d(d.date_debut)}) et précéder la fin du renouvellement ({_d(d.date_fin)}).",
            ALWAYS,
        )
        return
    latest = months_end(d.date_debut, PMSMP_MOIS)
    if first_end > latest:
        what = "La première période de la PMSMP" if d.renouvellements else "La PMSMP"
        yield Problem(
            "pmsmp_duree",
            f"{what} dure au plus 1 mois\N{NO-BREAK SPACE}: commencée le {_d(d.date_debut)}, "
            f"elle finit au plus tard le {_d(latest)}.",
            ALWAYS,
        )
    if d.renouvellements:
        renewal_start = first_end + datetime.timedelta(days=1)
        latest = months_end(renewal_start, PMSMP_MOIS)
        if d.date_fin > latest:
            yield Problem(
                "pmsmp_duree_renouvellement",
                f"Le renouvellement de la PMSMP dure au plus 1 mois\N{NO-BREAK SPACE}: commencé le "
                f"{_d(renewal_start)}, il finit au plus tard le {_d(latest)}.",
                ALWAYS,
            )


def _rules_crpe(facts):
    d = facts.dispositif
    if d.date_debut and d.date_fin:
        latest = months_end(d.date_debut, CRPE_MOIS_MAX)
        if d.date_fin > latest:
            yield Problem(
                "crpe_duree",
                f"La CRPE dure au plus {CRPE_MOIS_MAX} mois : commencée le {_d(d.date_debut)}, "
                f"elle finit au plus tard le {_d(latest)}.",
                ALWAYS,
            )
    if d.date_debut:
        start = d.date_debut
        ongoing = facts.arret_on(start)
        earlier = [a for a in facts.arrets if a.date_debut < start]
        if ongoing is not None:
            yield Problem(
                "crpe_pendant_arret",
                f"La CRPE commence après la fin de l'arrêt : un arrêt de travail est en cours "
                f"le {_d(start)} (fin {'réelle' if ongoing.date_fin_reelle else 'prévue'} le "
                f"{_d(ongoing.date_fin)}).",
                S.ACCORDE,
            )
        elif not earlier or earlier[-1].date_fin_reelle is None:
            yield Problem(
                "crpe_sans_fin_arret",
                "La CRPE commence après la fin de l'arrêt : aucune reprise (fin réelle d'arrêt) "
                f"n'est enregistrée avant le {_d(start)}.",
                S.ACCORDE,
            )
    if not d.inaptitude:
        yield Problem(
            "crpe_inaptitude_manquante",
            "La CRPE s'adresse à une personne déclarée inapte ou en risque "
            "d'inaptitude\N{NO-BREAK SPACE}: indiquez laquelle.",
            S.ACCORDE,
        )
    yield from _dates_required(facts)
    yield from _agreement(facts, "convention_signee")


def _rules_formation(facts):
    d = facts.dispositif
    if facts.code == BILAN:
        if d.duree_heures is None:
            yield Problem(
                "bilan_duree_inconnue",
                f"Indiquez la durée du bilan de compétences ({BILAN_HEURES_MAX} heures au plus "
                "pendant l'arrêt).",
            )
        elif d.duree_heures > BILAN_HEURES_MAX:
            yield Problem(
                "bilan_duree",
                f"Le bilan de compétences pendant l'arrêt dure au plus {BILAN_HEURES_MAX} "
                f"heures ({d.duree_heures} heures saisies).",
                ALWAYS,
            )
    what = {FORMATION: "la formation", BILAN: "le bilan de compétences", VAE: "la VAE"}
    yield from _during_arret(facts, what[facts.code])
    yield from _dates_required(facts)
    for field in ("accord_medecin_traitant", "accord_medecin_conseil", "autorisation_cpam"):
        yield from _agreement(facts, field)


def _rules_tpt(facts):
    """Decided by the médecin conseil: their decision recorded on one of the person's service
    médical referrals (the latest one counts), not a date typed by the ASS."""
    medical = facts.medical
    if not medical.tpt:
        yield Problem(
            "tpt_decision_manquante",
            "Le temps partiel thérapeutique est décidé par le médecin "
            "conseil\N{NO-BREAK SPACE}: aucune décision n'est enregistrée par le service médical "
            "pour cette personne.",
            S.ACCORDE,
        )
    elif medical.tpt == DecisionTpt.REFUSE:
        yield Problem(
            "tpt_decision_refus",
            f"Le médecin conseil a refusé le temps partiel thérapeutique le {_d(medical.tpt_le)}.",
            S.ACCORDE,
        )
    elif facts.start is not None and medical.tpt_le > facts.start:
        yield Problem(
            "tpt_decision_apres_debut",
            f"La décision du médecin conseil est datée du {_d(medical.tpt_le)}, après le début "
            f"du temps partiel thérapeutique ({_d(facts.start)}).",
            S.EN_COURS,
        )


def _rules_pre_reprise(facts):
    d = facts.dispositif
    if d.date_debut is None:
        yield Problem(
            "date_visite_manquante", "Indiquez la date de la visite de pré-reprise.", S.EN_COURS
        )
        return
    arret = facts.arret_on(d.date_debut)
    if arret is None or arret.duree_au(d.date_debut) <= PRE_REPRISE_JOURS_MIN:
        yield Problem(
            "pre_reprise_30_jours",
            f"La visite de pré-reprise a lieu pendant un arrêt de plus de "
            f"{PRE_REPRISE_JOURS_MIN} jours : ce n'est pas le cas le {_d(d.date_debut)}.",
            S.ACCORDE,
        )
    # The assuré, the médecin traitant or the médecin du travail may ask for the visit too:
    # the médecin conseil's request is read, not required.
    requests = facts.medical.pre_reprise
    if requests and d.date_debut < requests[0]:
        yield Problem(
            "pre_reprise_avant_demande",
            f"La visite du {_d(d.date_debut)} précède la demande du médecin conseil "
            f"({_d(requests[0])})\N{NO-BREAK SPACE}: vérifiez la date.",
        )


_RULES = {
    ESSAI: _rules_essai,
    PMSMP: _rules_pmsmp,
    CRPE: _rules_crpe,
    FORMATION: _rules_formation,
    BILAN: _rules_formation,
    VAE: _rules_formation,
    TPT: _rules_tpt,
    PRE_REPRISE: _rules_pre_reprise,
}


def dispositif_problems(dispositif, *, periodes=None):
    """Every problem of ``dispositif`` (saved or not), in display order.

    ``periodes``: the essai encadré periods to consider (objects with ``date_debut``,
    ``date_fin``, ``renouvellement``); by default the saved ones.
    """
    if periodes is None:
        periodes = list(dispositif.periodes.all()) if dispositif.pk else []
    facts = _Facts(dispositif, periodes)
    problems = list(_rules_common(facts))
    rules = _RULES.get(facts.code)
    if rules is not None:
        problems.extend(rules(facts))
    return problems


def dispositif_notes(dispositif):
    """What the médecin conseil recorded that this dispositif relies on, in French, for its
    pages (the rules above read the same record)."""
    code = dispositif.type.code
    if code not in (TPT, PRE_REPRISE):
        return []
    medical = medical_record(dispositif.accompagnement.assure_id)
    if code == TPT and medical.tpt:
        label = DecisionTpt(medical.tpt).label.lower()
        return [
            f"Temps partiel thérapeutique {label} par le médecin conseil le {_d(medical.tpt_le)}."
        ]
    if code == PRE_REPRISE and medical.pre_reprise:
        days = ", ".join(_d(day) for day in medical.pre_reprise)
        return [f"Visite de pré-reprise demandée par le médecin conseil le {days}."]
    return []


def split_problems(problems, statut):
    """(blocking at ``statut``, the others) — what the warnings partial shows."""
    blocking = [p for p in problems if p.blocks(statut)]
    others = [p for p in problems if not p.blocks(statut)]
    return blocking, others


def essai_usage(periodes, renouvellements):
    """(jours ouvrables used, jours ouvrables allowed) for an essai encadré."""
    used = sum(count_jours_ouvrables(p.date_debut, p.date_fin) for p in periodes)
    allowed = ESSAI_JOURS_MAX if renouvellements else ESSAI_JOURS_PAR_OCTROI
    return used, allowed


# --- Services -----------------------------------------------------------------------------


def _refuse_if_blocked(dispositif, statut, *, periodes=None, before=None):
    """Raise a ValidationError listing the problems that block ``statut``.

    With ``before`` (the problems before the change), only new problems refuse the change.
    """
    blocking = [p for p in dispositif_problems(dispositif, periodes=periodes) if p.blocks(statut)]
    if before is not None:
        known = {p.code for p in before if p.blocks(statut)}
        blocking = [p for p in blocking if p.code not in known]
    if blocking:
        raise ValidationError([p.message for p in blocking])


def _ensure_case_open(accompagnement):
    """Lock the case (a closure waits, or is waited for) and check it is still open."""
    if CaseStatus.CLOTURE in (case_lock(accompagnement), accompagnement.statut):
        raise ValidationError(
            "L'accompagnement est clôturé : rouvrez-le pour modifier ses dispositifs."
        )


def _ensure_not_final(dispositif):
    if dispositif.statut in FINAL_STATUSES:
        raise ValidationError(
            f"Le dispositif est {dispositif.get_statut_display().lower()} : il ne peut plus "
            "être modifié ainsi."
        )


def _clean_fields(fields):
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Champs non modifiables : {', '.join(sorted(unknown))}")
    siret = fields.get("entreprise_siret")
    if siret:
        try:
            fields["entreprise_siret"] = siret_normalize(siret)
        except IdentifierError as exc:
            raise ValidationError(f"SIRET de l'entreprise d'accueil : {exc.message}") from exc
    for name in (
        "entreprise_accueil",
        "entreprise_siret",
        "prescripteur",
        "inaptitude",
        "resultat",
    ):
        if name in fields and fields[name] is None:
            fields[name] = ""
    return fields


def _jsonable(value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _event(dispositif, acting_user, summary, detail="", **changes):
    payload = {"dispositif": dispositif.pk, "type": dispositif.type.code}
    payload.update({k: _jsonable(v) for k, v in changes.items()})
    return case_event_add(
        accompagnement=dispositif.accompagnement,
        acting_user=acting_user,
        kind=CaseEvent.Kind.DISPOSITIF,
        summary=summary,
        detail=detail,
        changes=payload,
    )


def _lock(dispositif):
    """Re-read the dispositif under a row lock (two users adding periods at once)."""
    return (
        DispositifMobilise.objects.select_for_update(of=("self",))
        .select_related("type", "accompagnement__assure")
        .get(pk=dispositif.pk)
    )


def _sync_essai_dates(dispositif):
    """An essai encadré runs from its first period's start to its last period's end."""
    periodes = list(dispositif.periodes.all())
    dispositif.date_debut = min((p.date_debut for p in periodes), default=None)
    dispositif.date_fin = max((p.date_fin for p in periodes), default=None)
    dispositif.save(update_fields=["date_debut", "date_fin"])


@transaction.atomic
def dispositif_create(*, accompagnement, acting_user, type, statut=S.ENVISAGE, **fields):
    """Mobilise a dispositif. For an essai encadré, the dates given are its first period."""
    _ensure_case_open(accompagnement)
    if statut not in CREATION_STATUSES:
        raise ValidationError("Un dispositif se crée envisagé, demandé, accordé ou en cours.")
    if not type.active:
        raise ValidationError("Ce dispositif n'est plus proposé.")
    fields = _clean_fields(dict(fields))
    dispositif = DispositifMobilise(
        accompagnement=accompagnement, type=type, statut=statut, **fields
    )
    periodes = []
    if type.code == ESSAI and (dispositif.date_debut or dispositif.date_fin):
        if not (dispositif.date_debut and dispositif.date_fin):
            raise ValidationError(
                "Pour un essai encadré, indiquez le début et la fin de la première période "
                "(ou aucune date)."
            )
        periodes = [
            DispositifPeriode(date_debut=dispositif.date_debut, date_fin=dispositif.date_fin)
        ]
    _refuse_if_blocked(dispositif, statut, periodes=periodes)
    dispositif.save()
    for periode in periodes:
        periode.dispositif = dispositif
        periode.save()
    summary = f"Dispositif mobilisé : {type.label} ({dispositif.get_statut_display().lower()})"
    if dispositif.date_debut:
        summary += f", du {_d(dispositif.date_debut)}"
        if dispositif.date_fin:
            summary += f" au {_d(dispositif.date_fin)}"
    _event(
        dispositif,
        acting_user,
        summary,
        statut=[None, statut],
        **{k: [None, v] for k, v in fields.items() if v not in (None, "", False)},
    )
    return dispositif


@transaction.atomic
def dispositif_update(*, dispositif, acting_user, **fields):
    """Change the recorded fields. A change may not introduce a blocking problem."""
    _ensure_case_open(dispositif.accompagnement)
    fields = _clean_fields(dict(fields))
    dispositif = _lock(dispositif)
    if dispositif.type.code == ESSAI:
        for name in ("date_debut", "date_fin"):
            if name in fields and fields.pop(name) != getattr(dispositif, name):
                raise ValidationError(
                    "Les dates d'un essai encadré sont celles de ses périodes : ajoutez ou "
                    "supprimez une période."
                )
    before = dispositif_problems(dispositif)
    changed = {}
    for name, value in fields.items():
        old = getattr(dispositif, name)
        if old != value:
            changed[name] = [old, value]
            setattr(dispositif, name, value)
    if not changed:
        return dispositif
    _refuse_if_blocked(dispositif, dispositif.statut, before=before)
    dispositif.save(update_fields=list(changed))
    labels = ", ".join(str(DispositifMobilise._meta.get_field(n).verbose_name) for n in changed)
    _event(dispositif, acting_user, f"{dispositif.type.label} modifié : {labels}", **changed)
    return dispositif


@transaction.atomic
def dispositif_add_periode(*, dispositif, acting_user, date_debut, date_fin):
    """Add a period to an essai encadré (within 14 jours ouvrables, 28 once renewed)."""
    _ensure_case_open(dispositif.accompagnement)
    dispositif = _lock(dispositif)
    if dispositif.type.code != ESSAI:
        raise ValidationError("Seul un essai encadré se fractionne en périodes.")
    _ensure_not_final(dispositif)
    if date_fin < date_debut:
        raise ValidationError("La fin de la période précède son début.")
    existing = list(dispositif.periodes.all())
    periode = DispositifPeriode(
        dispositif=dispositif,
        date_debut=date_debut,
        date_fin=date_fin,
        renouvellement=dispositif.renouvellements > 0,
    )
    before = dispositif_problems(dispositif, periodes=existing)
    _refuse_if_blocked(dispositif, dispositif.statut, periodes=[*existing, periode], before=before)
    periode.save()
    _sync_essai_dates(dispositif)
    used, allowed = essai_usage([*existing, periode], dispositif.renouvellements)
    _event(
        dispositif,
        acting_user,
        f"Essai encadré : période du {_d(date_debut)} au {_d(date_fin)} ajoutée "
        f"({periode.jours_ouvrables} jours ouvrables ; {used} / {allowed} utilisés)",
        periode=[None, [date_debut, date_fin]],
        jours_ouvrables=[None, used],
    )
    return periode


@transaction.atomic
def dispositif_remove_periode(*, periode, acting_user):
    dispositif = periode.dispositif
    _ensure_case_open(dispositif.accompagnement)
    dispositif = _lock(dispositif)
    _ensure_not_final(dispositif)
    periode = dispositif.periodes.get(pk=periode.pk)
    dates = [periode.date_debut, periode.date_fin]
    periode.delete()
    _sync_essai_dates(dispositif)
    _event(
        dispositif,
        acting_user,
        f"Essai encadré : période du {_d(dates[0])} au {_d(dates[1])} supprimée",
        periode=[dates, None],
    )


@transaction.atomic
def dispositif_renew(*, dispositif, acting_user, date_fin=None):
    """Renew once: an essai encadré may reach 28 jours ouvrables, a PMSMP 2 months.

    For a PMSMP, ``date_fin`` (the new end) is required.
    """
    _ensure_case_open(dispositif.accompagnement)
    dispositif = _lock(dispositif)
    code = dispositif.type.code
    if code not in RENEWABLE:
        raise ValidationError(f"{dispositif.type.label} : ce dispositif ne se renouvelle pas.")
    _ensure_not_final(dispositif)
    if dispositif.renouvellements >= MAX_RENOUVELLEMENTS:
        raise ValidationError(
            f"{dispositif.type.label} : le renouvellement n'est possible qu'une seule fois, "
            "il a déjà été accordé."
        )
    before = dispositif_problems(dispositif)
    summary = f"{dispositif.type.label} renouvelé"
    if code == PMSMP:
        if date_fin is None:
            raise ValidationError("Indiquez la nouvelle date de fin de la PMSMP.")
        if dispositif.date_debut is None or dispositif.date_fin is None:
            raise ValidationError(
                "Indiquez d'abord les dates de début et de fin de la première période de la PMSMP."
            )
        if date_fin <= dispositif.date_fin:
            raise ValidationError(
                f"La nouvelle fin doit suivre la fin actuelle ({_d(dispositif.date_fin)})."
            )
        summary += f" du {_d(dispositif.date_fin + datetime.timedelta(days=1))} au {_d(date_fin)}"
    else:
        summary += f" (jusqu'à {ESSAI_JOURS_MAX} jours ouvrables au total)"
    changes = apply_renewal(dispositif, date_fin=date_fin)
    _refuse_if_blocked(dispositif, dispositif.statut, before=before)
    dispositif.save(update_fields=list(changes))
    _event(dispositif, acting_user, summary, **changes)
    return dispositif


def apply_renewal(dispositif, *, date_fin=None):
    """Renew ``dispositif`` in memory (the service saves it, the check page only shows its
    problems); returns the changes, {field: [old, new]}. A PMSMP's first period ends on its
    current end; the renewal runs from the next day to ``date_fin``."""
    changes = {"renouvellements": [dispositif.renouvellements, dispositif.renouvellements + 1]}
    dispositif.renouvellements += 1
    if dispositif.type.code == PMSMP and date_fin is not None:
        changes["date_fin_initiale"] = [dispositif.date_fin_initiale, dispositif.date_fin]
        changes["date_fin"] = [dispositif.date_fin, date_fin]
        dispositif.date_fin_initiale = dispositif.date_fin
        dispositif.date_fin = date_fin
    return changes


def allowed_transitions(dispositif):
    return TRANSITIONS.get(dispositif.statut, ())


@transaction.atomic
def dispositif_change_status(*, dispositif, acting_user, to_status, motif=""):
    """Move along envisagé → demandé → accordé → en cours → terminé (or refusé / abandonné).

    Entering accordé or en cours enforces every rule blocking that status.
    """
    _ensure_case_open(dispositif.accompagnement)
    dispositif = _lock(dispositif)
    old = dispositif.statut
    if to_status not in allowed_transitions(dispositif):
        raise ValidationError(
            f"Passage impossible de « {S(old).label} » à « {S(to_status).label} »."
            if to_status in S.values
            else "Statut inconnu."
        )
    if to_status in _CHECKED_ON_ENTRY:
        _refuse_if_blocked(dispositif, to_status)
    dispositif.statut = to_status
    dispositif.save(update_fields=["statut"])
    _event(
        dispositif,
        acting_user,
        f"{dispositif.type.label} : {S(old).label} → {S(to_status).label}",
        detail=motif,
        statut=[old, to_status],
    )
    return dispositif
