"""Six months of the service's life for `seed_demo`.

The people and their arrêts are planned first, so that every referral comes from an arrêt that
crossed the threshold on its date (the social one on day 90, the medical one on day 46); then the
real detection job runs for every day of the period; then each referral lives its life through
the real services, day after day: the manager's assignment, the contact attempts of the ASS or
the conseiller, the accompagnement with its meetings (held, missed, cancelled, upcoming), its
évaluation globale, plan d'aide, orientations, dispositifs, consents, suspension and closure.

The services date what they write "now". While the demo replays a past moment, `_Clock` notes
every row they create and, at the end, writes that moment on them (events, audit rows, creation
dates). Where a service refuses the past (a meeting is planned in the future, a hand-over too),
the rows are written directly with their timeline event. Every draw comes from seeded random
generators, one per person: the demo is the same for the same day.
"""

import dataclasses
import datetime
import logging
import random
import unicodedata
from collections import defaultdict
from contextlib import contextmanager, suppress

from django.db import connection, transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save
from django.utils import timezone

from cases import agenda, dispositifs
from cases import services as case_services
from cases.dispositifs import months_end
from cases.models import (
    Accompagnement,
    CaseEvent,
    Cloture,
    DispositifMobilise,
    DispositifType,
    Domaine,
    Entretien,
    EvaluationGlobale,
    Mission,
    Objectif,
    Orientation,
    Outcome,
)
from pdp.models import AUDIT_TRIGGER, AuditLog, Partner, PartnerKind, Role, User
from pdp.workdays import add_jours_ouvrables, is_jour_ouvrable
from referrals import routing
from referrals import services as referral_services
from referrals.detection import scan_arrets
from referrals.models import (
    ArretTravail,
    Assure,
    ContactAttempt,
    DetectionRun,
    ModeRencontre,
    Origine,
    Signalement,
    SignalementEvent,
    TypeArret,
    build_search_name,
)

HISTORY_DAYS = 183  # social referrals over the last six months
MEDICAL_LEAD_DAYS = 44  # the medical referral (day 46) comes 44 days before the social one
MEDICAL_DAY = 46  # default thresholds: more than 45 days, at least 90 days
SOCIAL_DAY = 90
SCANNED_DAYS = HISTORY_DAYS + MEDICAL_LEAD_DAYS  # the detection runs of the demo

# Share of each kind of person (the rest are "fresh": an arrêt too short for any referral).
KINDS = [
    ("detected", 0.62),  # crossed 90 days in the period: a detection referral
    ("forwarded", 0.027),  # forwarded by the médecin conseil before day 90
    ("manual", 0.047),  # referred by a partner or the person
    ("short", 0.093),  # 46 to 89 days today: a medical referral only
    ("returned", 0.083),  # back at work before day 90
]
PREVIOUS_EPISODE_SHARE = 0.15
QUEUE_DAYS = 20  # referrals of the regional queue younger than this are still waiting there
UNASSIGNED_DAYS = 6  # Rouen referrals this recent may still wait for the manager
SECURISATION_EVERY = 15  # one case in fifteen is « sécurisation des parcours en santé »

Resultat = ContactAttempt.Resultat
ES = Entretien.Statut

# Conseiller.rouen's part of the Rouen referrals: (role, count, ages allowed).
CONSEILLER_SHARE = [
    ("overdue", 4, (35, 100)),  # still open, first contact overdue
    ("recent", 6, (7, 25)),  # still open, not overdue
    ("handover_now", 1, (7, 14)),  # reached, handed over to ass.rouen with a first meeting
    ("past_case", 5, (40, 170)),  # reached and handed over, the ASS opened the case
    ("closed", 2, (35, 170)),  # refused or never answered
]

MEETING_TIMES = [(9, 0), (9, 30), (10, 0), (10, 30), (11, 0), (14, 0), (14, 30), (15, 0), (16, 0)]
# A held meeting is followed by its recording (5 to 25 minutes after its end), then, at the
# first one, the évaluation and the plan d'aide (up to 25 minutes later); the story stops 5
# minutes before now (`_Demo.limit`). A past slot ends this long before now, so that all of
# that has happened: else the meeting would stay « planifié » in the past.
PAST_MEETING_FOLLOW_UP = datetime.timedelta(hours=1)


def fr(text):
    """French typography: a no-break space before « : ; ? ! »."""
    for mark in ":;?!":
        text = text.replace(f" {mark}", f"\N{NO-BREAK SPACE}{mark}")
    return text


def _frs(texts):
    return [fr(t) for t in texts]


# --- Texts -------------------------------------------------------------------------------

EVALUATION_TEXTS = {
    "contraintes_sante": _frs(
        [
            "Port de charges lourdes déconseillé ; station debout prolongée limitée.",
            "Fatigabilité importante ; pas de travail de nuit pendant plusieurs mois.",
            "Gestes répétitifs du membre supérieur droit à éviter.",
            "Conduite de véhicule déconseillée pour l'instant ; déplacements longs difficiles.",
            "Station assise prolongée difficile ; pauses régulières nécessaires.",
            "Exposition au stress et aux horaires décalés à limiter.",
            "Travail en hauteur exclu ; port de charges limité à 5 kg.",
        ]
    ),
    "emploi": _frs(
        [
            "CDI depuis douze ans, relation correcte avec l'employeur ; poste physique.",
            "CDD jusqu'en juin ; l'employeur n'envisage pas de renouvellement sans aménagement.",
            "Mission d'intérim interrompue par l'arrêt ; l'agence peut proposer d'autres missions.",
            "Apprentissage en deuxième année ; maître d'apprentissage à l'écoute.",
            "Relations tendues avec l'encadrement depuis une réorganisation du service.",
        ]
    ),
    "droits": _frs(
        [
            "IJ en cours ; RQTH à demander.",
            "IJ en cours, complément employeur jusqu'à la fin du mois ; pas de RQTH.",
            "Reconnaissance en accident du travail ; rente à l'étude.",
            "Droits à la prévoyance à vérifier auprès de l'employeur.",
        ]
    ),
    "ressources": _frs(
        [
            "Baisse de revenus depuis l'arrêt ; loyer et crédit automobile à payer.",
            "Revenus stables grâce au conjoint ; pas de difficulté financière signalée.",
            "Retard de paiement des IJ en début d'arrêt, régularisé depuis.",
            "Dettes de loyer ; orientation vers un conseiller budgétaire envisagée.",
        ]
    ),
    "vie_sociale": _frs(
        [
            "Vit en couple, deux enfants scolarisés ; entourage soutenant.",
            "Vit seul, peu d'entourage à proximité.",
            "Parent isolé d'un enfant de huit ans.",
            "Aidant familial d'un parent âgé.",
        ]
    ),
    "logement": _frs(
        [
            "Locataire d'un appartement au troisième étage sans ascenseur.",
            "Propriétaire d'une maison, logement adapté.",
            "Hébergé temporairement chez un proche.",
        ]
    ),
    "competences": _frs(
        [
            "Permis B, CACES 3 ; expérience de chef d'équipe.",
            "Bonne maîtrise de l'informatique ; envie de se former à la comptabilité.",
            "Vingt ans d'expérience dans le métier, savoir-faire reconnu.",
            "CAP cuisine ; intérêt pour un poste d'accueil.",
        ]
    ),
    "freins": _frs(
        [
            "Crainte du retour au poste ; peu d'information sur les aménagements possibles.",
            "Difficultés de mobilité : pas de transport en commun direct vers le site.",
            "Inquiétude sur le maintien du contrat à l'issue de l'arrêt.",
            "Manque de confiance en ses capacités de reconversion.",
        ]
    ),
}
RISKS = ["faible", "modere", "modere", "eleve"]

# (domain, objective, [(action, who)])
OBJECTIVES = [
    (
        Domaine.EMPLOI,
        "Préparer la visite de pré-reprise avec le médecin du travail",
        [
            ("Prendre rendez-vous avec le médecin du travail", "L'assuré"),
            ("Transmettre les coordonnées du SPST", "L'ASS"),
        ],
    ),
    (
        Domaine.EMPLOI,
        "Étudier un aménagement du poste avec l'employeur",
        [
            ("Organiser un rendez-vous de liaison avec l'employeur", "L'ASS"),
            ("Lister les tâches compatibles avec les restrictions", "L'assuré"),
        ],
    ),
    (
        Domaine.FORMATION,
        "Construire un projet de reconversion",
        [
            ("Réaliser un bilan de compétences", "L'assuré"),
            ("Rencontrer le conseiller Cap emploi", "L'assuré"),
        ],
    ),
    (
        Domaine.DROITS,
        "Déposer une demande de RQTH",
        [
            ("Compléter le formulaire MDPH", "L'assuré"),
            ("Obtenir le certificat du médecin traitant", "L'assuré"),
        ],
    ),
    (
        Domaine.DROITS,
        "Vérifier les droits à la prévoyance",
        [("Demander le contrat de prévoyance à l'employeur", "L'assuré")],
    ),
    (
        Domaine.RESSOURCES,
        "Stabiliser le budget pendant l'arrêt",
        [
            ("Demander une aide financière exceptionnelle", "L'ASS"),
            ("Rencontrer la conseillère en économie sociale et familiale", "L'assuré"),
        ],
    ),
    (
        Domaine.LOGEMENT,
        "Trouver un logement adapté",
        [("Déposer une demande de logement social", "L'assuré")],
    ),
    (
        Domaine.SANTE,
        "Faciliter l'accès aux soins de rééducation",
        [("Rechercher un kinésithérapeute proche du domicile", "L'assuré")],
    ),
    (
        Domaine.VIE_SOCIALE,
        "Rompre l'isolement",
        [("Présenter l'atelier collectif du centre social", "L'ASS")],
    ),
    (
        Domaine.SANTE,
        "Organiser la reprise en temps partiel thérapeutique",
        [
            ("En parler au médecin traitant", "L'assuré"),
            ("Informer l'employeur des démarches", "L'ASS"),
        ],
    ),
]

FIRST_MEETING_NOTE = fr("Premier entretien : présentation du service et recueil de la situation.")
LAST_MEETING_NOTE = "Entretien de bilan avant la clôture de l'accompagnement."
MEETING_NOTES = _frs(
    [
        "Point sur l'évolution de la situation ; l'assuré reste mobilisé sur son projet.",
        "Échange sur les démarches engagées auprès de l'employeur.",
        "Préparation de la visite de pré-reprise.",
        "Bilan des actions du plan d'aide ; prochaine étape fixée.",
        "Entretien en présence du conjoint, à la demande de la personne.",
        "Point sur les ressources et les droits ; dossier de prévoyance complété.",
    ]
)
ABSENT_NOTE = fr("Absent sans prévenir ; nouveau rendez-vous proposé par courrier.")
CASE_NOTES = _frs(
    [
        "Appel du médecin du travail : visite de pré-reprise fixée.",
        "Appel de l'employeur : ouvert à un aménagement des horaires.",
        "Courrier de la CPAM reçu : IJ versées jusqu'à la fin du mois.",
        "Message de la personne : souhaite avancer le prochain rendez-vous.",
    ]
)
CLOSURE_COMMENTS = {
    Outcome.MAINTIEN_MEME_POSTE: "Reprise sur le même poste après la visite de reprise.",
    Outcome.MAINTIEN_POSTE_AMENAGE: "Reprise sur poste aménagé (horaires et port de charges).",
    Outcome.MAINTIEN_AUTRE_POSTE: "Reclassement sur un poste administratif chez le même employeur.",
    Outcome.MAINTIEN_TPT: "Reprise en temps partiel thérapeutique accordé par le médecin conseil.",
    Outcome.EMPLOI_NOUVEL_EMPLOYEUR: "Embauche en CDI chez un nouvel employeur.",
    Outcome.EMPLOI_RECONVERSION: "Reconversion engagée vers un poste de conseiller clientèle.",
    Outcome.EMPLOI_FORMATION: "Entrée en formation qualifiante après le bilan de compétences.",
    Outcome.INVALIDITE: "Pension d'invalidité de catégorie 1 ; activité à temps partiel envisagée.",
    Outcome.INAPTITUDE: "Inaptitude prononcée par le médecin du travail, licenciement ; relais "
    "France Travail.",
    Outcome.RETRAITE: "Départ en retraite anticipée au titre du handicap.",
    Outcome.REFUS: "La personne ne souhaite pas poursuivre l'accompagnement.",
    Outcome.PERDU_DE_VUE: "Sans nouvelles malgré deux rendez-vous manqués et un courrier.",
    Outcome.DECES: "Décès de la personne ; condoléances adressées à la famille.",
    Outcome.AUTRE: "Déménagement hors de la région ; le service social d'arrivée est prévenu.",
}
CLOSURE_COMMENTS = {k: fr(v) for k, v in CLOSURE_COMMENTS.items()}
# Outcomes after which the person went back to work (or left the arrêt otherwise).
OUTCOMES_ENDING_ARRET = {
    Outcome.MAINTIEN_MEME_POSTE,
    Outcome.MAINTIEN_POSTE_AMENAGE,
    Outcome.MAINTIEN_AUTRE_POSTE,
    Outcome.MAINTIEN_TPT,
    Outcome.EMPLOI_NOUVEL_EMPLOYEUR,
    Outcome.EMPLOI_RECONVERSION,
    Outcome.EMPLOI_FORMATION,
    Outcome.INVALIDITE,
    Outcome.INAPTITUDE,
    Outcome.RETRAITE,
    Outcome.DECES,
}
OUTCOME_WEIGHTS = {
    Outcome.MAINTIEN_MEME_POSTE: 3,
    Outcome.MAINTIEN_POSTE_AMENAGE: 3,
    Outcome.MAINTIEN_AUTRE_POSTE: 1,
    Outcome.MAINTIEN_TPT: 2,
    Outcome.EMPLOI_NOUVEL_EMPLOYEUR: 1,
    Outcome.EMPLOI_RECONVERSION: 1,
    Outcome.EMPLOI_FORMATION: 1,
    Outcome.INVALIDITE: 1,
    Outcome.INAPTITUDE: 2,
    Outcome.RETRAITE: 0.5,
    Outcome.REFUS: 1.5,
    Outcome.PERDU_DE_VUE: 1.5,
    Outcome.DECES: 0.2,
    Outcome.AUTRE: 1,
}

REFUSAL_REASONS = _frs(
    [
        "La personne ne souhaite pas être accompagnée : reprise prévue avec son employeur.",
        "Refus de l'accompagnement proposé ; coordonnées du service laissées.",
    ]
)
NO_ANSWER_REASON = "Trois tentatives sans réponse et un courrier resté sans suite."
DUPLICATE_REASON = fr(
    "Signalement en double : la personne est déjà connue du service (signalement du "
    "médecin du travail)."
)
MEDICAL_CLOSING_REASONS = [
    "Situation suivie par le service social au titre du seuil de 90 jours.",
    "Reprise annoncée à court terme, pas de risque identifié.",
    "Pas de risque de désinsertion repéré à ce stade.",
]
FORWARD_MOTIF = fr(
    "Difficultés de reprise du poste exprimées lors de l'examen : rencontre avec le service "
    "social conseillée."
)
MANUAL_MOTIFS = {
    Origine.SPST: "Le médecin du travail signale des difficultés de maintien au poste.",
    Origine.MEDECIN_TRAITANT: "Le médecin traitant s'inquiète de la reprise du travail.",
    Origine.ASSURE: "La personne appelle le service : elle s'inquiète pour son emploi.",
    Origine.CAP_EMPLOI: "Cap emploi oriente la personne pour un accompagnement social.",
    Origine.MDPH: "Demande de RQTH en cours ; la MDPH conseille le service social.",
    Origine.PARTENAIRE: "Le CCAS signale des difficultés financières liées à l'arrêt.",
}
MANUAL_MOTIFS = {k: fr(v) for k, v in MANUAL_MOTIFS.items()}
MANUAL_ORIGINS = [
    Origine.SPST,
    Origine.MEDECIN_TRAITANT,
    Origine.ASSURE,
    Origine.CAP_EMPLOI,
    Origine.SPST,
    Origine.MDPH,
    Origine.PARTENAIRE,
]
# (kind, motif, consent scope it needs)
ORIENTATIONS = [
    (PartnerKind.SPST, "Préparer la visite de pré-reprise et l'étude du poste.", "spst"),
    (PartnerKind.CAP_EMPLOI, "Recherche d'un emploi compatible avec les restrictions.", None),
    (PartnerKind.MDPH, "Demande de reconnaissance de la qualité de travailleur handicapé.", None),
    (PartnerKind.FRANCE_TRAVAIL, "Inscription et accompagnement vers un nouvel emploi.", None),
    (PartnerKind.MEDECIN_TRAITANT, "Demande de temps partiel thérapeutique à étudier.", None),
    (PartnerKind.CPAM, "Point sur les droits aux IJ et à l'invalidité.", None),
    (PartnerKind.AGEFIPH, "Aide à l'aménagement du poste de travail.", None),
]
HOST_COMPANY = ("Résidence Les Tilleuls", "41305295200012")  # PMSMP host (valid SIRET)


# --- Days and moments ----------------------------------------------------------------------


def _days(n):
    return datetime.timedelta(days=n)


def _is_workday(day):
    return day.weekday() < 5 and is_jour_ouvrable(day)


def _workday(day):
    """The first working day (Monday to Friday, not a public holiday) on or after `day`."""
    while not _is_workday(day):
        day += _days(1)
    return day


def _aware(day, hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def _moment(rng, day, start=9, end=17):
    """A moment of office hours on the first working day on or after `day`."""
    minutes = rng.randrange(start * 60, end * 60)
    return _aware(_workday(day), minutes // 60, minutes % 60)


def _label(moment):
    return f"{timezone.localtime(moment):%d/%m/%Y à %H:%M}"


class _Clock:
    """The moment the demo replays, and the rows written while it was set.

    The services write `timezone.now()`; `write()` gives every row they created at a moment
    (events, audit entries, creation dates) that moment instead."""

    DATED = {
        CaseEvent: ("at",),
        SignalementEvent: ("at",),
        AuditLog: ("at",),
        Signalement: ("created_at",),
        Accompagnement: ("created_at",),
        EvaluationGlobale: ("created_at",),
        Objectif: ("created_at",),
        DispositifMobilise: ("created_at",),
        Cloture: ("created_at",),
    }

    def __init__(self):
        self.moment = None
        self.rows = defaultdict(dict)

    def _created(self, sender, instance, created, **kwargs):
        if created and self.moment is not None and sender in self.DATED:
            self.rows[sender].setdefault(instance.pk, self.moment)

    @contextmanager
    def recording(self):
        post_save.connect(self._created, dispatch_uid="demo-clock")
        try:
            yield self
        finally:
            post_save.disconnect(dispatch_uid="demo-clock")
            self.moment = None

    def write(self):
        """One prepared UPDATE per table, run for every row noted (`executemany`).

        The access log is append-only in the database (a trigger on PostgreSQL): the demo,
        and it alone, turns the trigger off around its own UPDATE of `at`, inside one
        transaction, so that no other session ever sees the table unguarded. PostgreSQL alters
        a table only without pending trigger events: the foreign keys' deferred checks of the
        rows just written are run first (SET CONSTRAINTS ALL IMMEDIATE), then deferred again
        as Django declares them (every deferrable constraint of the project is initially
        deferred)."""
        ops = connection.ops
        with transaction.atomic(), connection.cursor() as cursor:
            for model, rows in self.rows.items():
                table = ops.quote_name(model._meta.db_table)
                guarded = model is AuditLog and connection.vendor == "postgresql"
                if guarded:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {AUDIT_TRIGGER}")
                columns = [model._meta.get_field(name).column for name in self.DATED[model]]
                assignments = ", ".join(f"{ops.quote_name(c)} = %s" for c in columns)
                sql = (
                    f"UPDATE {table} SET {assignments} "
                    f"WHERE {ops.quote_name(model._meta.pk.column)} = %s"
                )
                params = [
                    [ops.adapt_datetimefield_value(moment)] * len(columns) + [pk]
                    for pk, moment in rows.items()
                ]
                cursor.executemany(sql, params)
                if guarded:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {AUDIT_TRIGGER}")
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class _Agenda:
    """The meetings of each ASS (held or planned, cases or first meetings proposed), so that
    none overlaps another."""

    def __init__(self, now):
        self.now = now
        self.busy = defaultdict(list)

    def book(self, ass, day, rng, minutes=60, *, past):
        """The first free slot of `ass` from `day` on: `past` wants one ended long enough before
        now to be recorded (`PAST_MEETING_FOLLOW_UP`), else one starting in the future. None if
        there is none (past slots run out at today)."""
        today = timezone.localdate(self.now)
        for offset in range(60):
            current = day + _days(offset)
            if past and current > today:
                return None
            if not _is_workday(current):
                continue
            times = MEETING_TIMES[:]
            rng.shuffle(times)
            for hour, minute in times:
                start = _aware(current, hour, minute)
                end = start + datetime.timedelta(minutes=minutes)
                if past and end > self.now - PAST_MEETING_FOLLOW_UP:
                    continue
                if not past and start <= self.now + datetime.timedelta(minutes=30):
                    continue
                taken = self.busy[(ass.pk, current)]
                if any(s < end and start < e for s, e in taken):
                    continue
                taken.append((start, end))
                return start
        return None


# --- The plan: who is who, and the dates that the arrêts must respect ----------------------


@dataclasses.dataclass
class CasePlan:
    first_day: datetime.date  # first meeting, when the case opens
    mission: str = Mission.PDP
    status: str = "ouvert"  # at the end: ouvert, suspendu or cloture
    close_day: datetime.date | None = None
    outcome: str | None = None
    suspend_day: datetime.date | None = None
    resume_day: datetime.date | None = None
    dispositif: tuple | None = None  # (type code, status it reaches)
    dispositif_days: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Plan:
    index: int
    rng: random.Random
    kind: str
    unit: object  # the unit the person is routed to, None: the regional queue
    today: datetime.date
    start: datetime.date = None  # of the current arrêt
    actual_end: datetime.date | None = None
    expected_end: datetime.date | None = None
    previous: tuple | None = None  # an earlier episode: (start, end)
    referral_day: datetime.date | None = None  # of the social referral
    origin: str = Origine.SEUIL_CPAM
    link_arret: bool = True
    mission: str = Mission.PDP
    outcome: str | None = None  # what became of the social referral
    route: str = "ass"  # ass, conseiller, unassigned, queue, from_queue
    conseiller: str | None = None  # the conseiller's part, see CONSEILLER_SHARE
    joint_day: datetime.date | None = None  # the person was reached
    case: CasePlan | None = None

    @property
    def age(self):
        return (self.today - self.referral_day).days


def _draw(rng, table):
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def _referral_outcome(rng, age):
    if age <= 4:
        table = [("a_contacter", 7), ("contact_en_cours", 3)]
    elif age <= 20:
        table = [
            ("a_contacter", 1),
            ("contact_en_cours", 3),
            ("rencontre_proposee", 2),
            ("case", 3),
            ("refus", 1),
            ("hors_criteres", 1),
        ]
    elif age <= 40:
        table = [
            ("contact_en_cours", 1),
            ("rencontre_proposee", 1),
            ("case", 6),
            ("refus", 1),
            ("sans_reponse", 1),
            ("hors_criteres", 0.6),
            ("doublon", 0.3),
        ]
    else:
        table = [
            ("a_contacter", 0.1),
            ("contact_en_cours", 0.2),
            ("case", 6.5),
            ("refus", 1.2),
            ("sans_reponse", 1.1),
            ("hors_criteres", 0.6),
            ("doublon", 0.3),
        ]
    return _draw(rng, table)


def make_plans(rng, units, today):
    """One plan per person: the kind of story, what becomes of the referral and the case,
    and the arrêt's dates that fit it. `units[i]` is the unit person i is routed to."""
    n = len(units)
    kinds = [kind for kind, share in KINDS for _ in range(round(n * share))]
    kinds += ["fresh"] * (n - len(kinds))
    rng.shuffle(kinds)
    seed = rng.randrange(2**32)
    plans = [
        Plan(index=i, rng=random.Random(seed + i), kind=kinds[i], unit=units[i], today=today)
        for i in range(n)
    ]
    detected = [p for p in plans if p.kind == "detected"]
    ages = [round(k * (HISTORY_DAYS - 1) / max(len(detected) - 1, 1)) for k in range(len(detected))]
    rng.shuffle(ages)
    for plan, age in zip(detected, ages, strict=True):
        plan.referral_day = today - _days(age)
        plan.start = plan.referral_day - _days(SOCIAL_DAY - 1)
        plan.outcome = _referral_outcome(plan.rng, age)
    for plan in plans:
        _plan_other_kinds(plan, today)
    _share_with_conseiller(plans)
    referred = [p for p in plans if p.outcome is not None]
    for plan in referred:
        _plan_route(plan)
    _keep_some_in_queue(referred)
    _leave_some_unassigned(referred)
    _ensure_every_status(referred)
    for plan in referred:
        _plan_contact(plan, today)
    _plan_closures(rng, plans, today)
    _plan_dispositifs(plans, today)
    for plan in [p for p in plans if p.case and not p.case.dispositif][::SECURISATION_EVERY]:
        plan.case.mission = Mission.SECURISATION
    for plan in plans:
        _plan_arret(plan, today)
    return plans


def _plan_other_kinds(plan, today):
    rng = plan.rng
    if plan.kind == "forwarded":
        plan.start = today - _days(rng.randint(60, 88))
        medical_day = plan.start + _days(MEDICAL_DAY - 1)
        plan.referral_day = _last_workday(medical_day + _days(rng.randint(2, 8)), today)
        plan.origin = Origine.MEDECIN_CONSEIL
    elif plan.kind == "manual":
        plan.origin = MANUAL_ORIGINS[plan.index % len(MANUAL_ORIGINS)]
        if rng.random() < 0.5:  # during an arrêt not yet at 90 days
            plan.start = today - _days(rng.randint(35, SOCIAL_DAY - 2))
            plan.referral_day = plan.start + _days(rng.randint(15, (today - plan.start).days - 1))
        else:  # after the return to work: no arrêt to link
            # Within the period, even moved back to a working day (below).
            plan.referral_day = today - _days(rng.randint(2, HISTORY_DAYS - 5))
            plan.actual_end = plan.referral_day - _days(rng.randint(5, 60))
            plan.start = plan.actual_end - _days(rng.randint(20, 85))
            # Not past 45 days before the first scan: its medical referral is on day 46.
            plan.start = max(plan.start, today - _days(SCANNED_DAYS + MEDICAL_DAY - 2))
            plan.link_arret = False
        plan.referral_day = _last_workday(plan.referral_day, today)
        if plan.origin in (Origine.ASSURE, Origine.MEDECIN_TRAITANT) and plan.index % 2:
            plan.mission = Mission.SECURISATION
    elif plan.kind == "short":
        plan.start = today - _days(rng.randint(MEDICAL_DAY, SOCIAL_DAY - 2))
    elif plan.kind == "returned":
        plan.start = today - _days(rng.randint(60, SCANNED_DAYS))
        plan.actual_end = min(plan.start + _days(rng.randint(20, 85)), _yesterday(today))
    elif plan.kind == "fresh":
        plan.start = today - _days(rng.randint(3, MEDICAL_DAY - 2))
    if plan.kind in ("forwarded", "manual"):
        plan.outcome = _referral_outcome(rng, plan.age)
        if plan.outcome == "a_contacter" and plan.age <= 20 and rng.random() < 0.6:
            plan.outcome = "nouveau"  # nobody has looked at it yet
        if plan.outcome == "hors_criteres" and not plan.link_arret:
            plan.outcome = "doublon"


def _yesterday(today):
    return today - _days(1)


def _last_workday(day, today):
    """`day`, or the working day before it; before today in any case."""
    day = min(day, _yesterday(today))
    while not _is_workday(day):
        day -= _days(1)
    return day


def _ensure_every_status(plans):
    """Every status of a social referral at least once (a few older detected referrals take
    the missing ones), and a referral nobody has looked at yet."""
    drawn = {p.outcome for p in plans}
    older = [
        p
        for p in plans
        if p.kind == "detected" and p.age > 45 and p.outcome == "case" and p.route == "ass"
    ]
    for status in ("refus", "sans_reponse", "hors_criteres", "doublon", "contact_en_cours"):
        if status not in drawn and older:
            older.pop().outcome = status
    if "nouveau" not in drawn:
        manual = [p for p in plans if p.kind in ("manual", "forwarded")]
        if manual:
            youngest = min(manual, key=lambda p: p.age)
            youngest.outcome = "nouveau"
            if _in_rouen(youngest):
                youngest.route = "unassigned"


def _share_with_conseiller(plans):
    """Conseiller.rouen does the first contact of part of the Rouen referrals."""
    rouen = [
        p for p in plans if p.kind == "detected" and p.unit is not None and p.unit.code == "ROUEN"
    ]
    taken = set()
    for role, count, (low, high) in CONSEILLER_SHARE:
        candidates = [p for p in rouen if p.index not in taken and low <= p.age <= high]
        for k, plan in enumerate(candidates[:count]):
            taken.add(plan.index)
            plan.conseiller = role
            plan.outcome = {
                "overdue": "contact_en_cours",
                "recent": "a_contacter" if k % 2 else "contact_en_cours",
                "handover_now": "handover_now",
                "past_case": "case",
                "closed": "refus" if k % 2 else "sans_reponse",
            }[role]


def _plan_route(plan):
    if plan.unit is None and plan.kind != "manual":  # recorded by hand: the author's unit
        # The regional queue: the Rouen manager sends the older ones to Rouen.
        plan.route = "queue" if plan.age < QUEUE_DAYS else "from_queue"
        if plan.route == "queue":
            plan.outcome = "a_contacter"
    elif plan.conseiller:
        plan.route = "conseiller"
    elif _in_rouen(plan) and (
        plan.outcome == "nouveau" or plan.age <= UNASSIGNED_DAYS and plan.outcome == "a_contacter"
    ):
        plan.route = "unassigned"  # the manager has not given it yet


def _in_rouen(plan):
    return plan.unit is not None and plan.unit.code == "ROUEN"


def _leave_some_unassigned(plans):
    """The last days' Rouen referrals wait for the manager to give them (at least two)."""
    recent = sorted(
        (p for p in plans if _in_rouen(p) and p.route == "ass" and p.age <= UNASSIGNED_DAYS),
        key=lambda p: p.age,
    )
    missing = 2 - sum(1 for p in plans if p.route == "unassigned")
    for plan in recent[: max(missing, 0)]:
        plan.route, plan.outcome = "unassigned", "a_contacter"


def _keep_some_in_queue(plans):
    """At least one referral waits in the regional « à répartir » queue."""
    queued = [p for p in plans if p.unit is None and p.kind != "manual"]
    if queued and not any(p.route == "queue" for p in queued):
        youngest = min(queued, key=lambda p: p.age)
        youngest.route, youngest.outcome = "queue", "a_contacter"


def _plan_contact(plan, today):
    rng = plan.rng
    plan.joint_day = plan.referral_day + _days(rng.randint(1, 10))
    if plan.outcome != "case":
        return
    first = plan.joint_day + _days(rng.randint(3, 12))
    if first > _yesterday(today):
        plan.outcome = "rencontre_proposee"  # the first meeting is still to come
        return
    plan.case = CasePlan(first_day=first, mission=plan.mission)


def _plan_closures(rng, plans, today):
    """Closed cases (each outcome at least once, over the period), a few suspended ones."""
    cases = [p for p in plans if p.case is not None]
    closed = []
    for plan in cases:
        case, age = plan.case, (today - plan.case.first_day).days
        if age >= 50 and plan.rng.random() < min(0.7, age / 220):
            case.status = "cloture"
            case.close_day = case.first_day + _days(plan.rng.randint(25, min(age - 3, 150)))
            closed.append(plan)
        elif age >= 30 and plan.rng.random() < 0.06:
            case.status = "suspendu"
            case.suspend_day = case.first_day + _days(plan.rng.randint(15, age - 5))
    still_open = sorted(
        (p for p in cases if p.case.status == "ouvert" and (today - p.case.first_day).days > 60),
        key=lambda p: p.case.first_day,
    )
    for plan in still_open[: max(0, len(Outcome.values) - len(closed))]:
        age = (today - plan.case.first_day).days
        plan.case.status = "cloture"
        plan.case.close_day = plan.case.first_day + _days(plan.rng.randint(40, age - 3))
        closed.append(plan)
    closed.sort(key=lambda p: p.index)
    outcomes = list(Outcome.values)
    rng.shuffle(outcomes)
    for k, plan in enumerate(closed):
        plan.case.close_day = _workday(plan.case.close_day)
        if plan.case.close_day >= today:
            plan.case.close_day = plan.case.first_day + _days(40)
        if k < len(outcomes):
            plan.case.outcome = outcomes[k]
        else:
            plan.case.outcome = _draw(plan.rng, list(OUTCOME_WEIGHTS.items()))
    suspended = [p for p in cases if p.case.status == "suspendu"]
    if len(suspended) > 1:  # one came back after a pause
        case = suspended[0].case
        if case.suspend_day + _days(14) < today - _days(20):
            case.status, case.resume_day = "ouvert", case.suspend_day + _days(14)


# (type code, status it reaches, the cases it fits, how many)
ENDS_IN_POST = {
    Outcome.MAINTIEN_MEME_POSTE,
    Outcome.MAINTIEN_POSTE_AMENAGE,
    Outcome.MAINTIEN_AUTRE_POSTE,
}
DISPOSITIF_PLANS = [
    ("essai_encadre", "termine", {"status": "cloture", "outcomes": ENDS_IN_POST, "days": 70}, 2),
    (
        "pmsmp",
        "termine",
        {
            "status": "cloture",
            "outcomes": {Outcome.EMPLOI_NOUVEL_EMPLOYEUR, Outcome.EMPLOI_RECONVERSION},
            "days": 80,
        },
        1,
    ),
    (
        "bilan_competences",
        "termine",
        {
            "status": "cloture",
            "outcomes": {Outcome.EMPLOI_FORMATION, Outcome.EMPLOI_RECONVERSION},
            "days": 75,
        },
        1,
    ),
    (
        "pre_reprise",
        "termine",
        {
            "status": "cloture",
            "outcomes": {Outcome.INAPTITUDE, Outcome.MAINTIEN_POSTE_AMENAGE, Outcome.MAINTIEN_TPT},
            "days": 45,
        },
        2,
    ),
    ("invalidite", "accorde", {"status": "cloture", "outcomes": {Outcome.INVALIDITE}}, 1),
    ("essai_encadre", "en_cours", {"status": "ouvert", "days": 45}, 1),
    ("pmsmp", "en_cours", {"status": "ouvert", "days": 50}, 1),
    ("formation", "accorde", {"status": "ouvert", "days": 40}, 1),
    ("pre_reprise", "accorde", {"status": "ouvert", "days": 20}, 2),
    ("tpt", "en_cours", {"status": "ouvert", "days": 60}, 1),
    ("crpe", "demande", {"status": "ouvert", "days": 60}, 1),
    ("bilan_competences", "refuse", {"status": "ouvert", "days": 40}, 1),
    ("essai_encadre", "abandonne", {"status": "ouvert", "days": 45}, 1),
    ("rqth", "demande", {"status": "ouvert", "days": 25}, 2),
    ("cap_emploi", "envisage", {"status": "suspendu", "days": 25}, 1),
]


def _fits(plan, *, status, outcomes=None, days=0):
    """A detected person's case (its arrêt is planned around the dispositif) of that status,
    outcome and length (from the first meeting to the closure, or to today)."""
    case = plan.case
    if plan.kind != "detected" or case is None or case.dispositif is not None:
        return False
    if case.status != status or (outcomes is not None and case.outcome not in outcomes):
        return False
    if status == "suspendu" and (case.suspend_day - case.first_day).days < days:
        return False
    return ((case.close_day or plan.today) - case.first_day).days >= days


def _plan_dispositifs(plans, today):
    """The dispositifs' days are fixed before the arrêts: those lived during the arrêt must
    fit in it, the TPT and the CRPE come after it."""
    for code, final, criteria, count in DISPOSITIF_PLANS:
        candidates = [p for p in plans if _fits(p, **criteria)]
        if final == "en_cours":  # ending soon: on the Rouen manager's dashboard
            candidates.sort(key=lambda p: p.unit is None or p.unit.code != "ROUEN")
        for plan in candidates[:count]:
            plan.case.dispositif = (code, final)
            plan.case.dispositif_days = _dispositif_days(plan, code, final, today)


def _monday_after(day):
    """The first Monday on or after `day` (the Tuesday when that Monday is a holiday)."""
    day += _days((7 - day.weekday()) % 7)
    return day if is_jour_ouvrable(day) else day + _days(1)


def _dispositif_days(plan, code, final, today):
    rng, case = plan.rng, plan.case
    first = case.first_day
    if final in ("termine", "accorde") and case.status == "cloture":
        if code == "invalidite":
            return {"decided": first + _days(20), "granted": case.close_day - _days(5)}
        if code == "pre_reprise":
            visit = _workday(first + _days(rng.randint(12, 25)))
            return {"decided": visit - _days(8), "start": visit, "end": visit}
        start = _monday_after(first + _days(rng.randint(22, 30)))
        end = {
            "essai_encadre": add_jours_ouvrables(start, 10),
            "pmsmp": months_end(start, 1),
            "bilan_competences": start + _days(27),
        }[code]
        return {"decided": start - _days(14), "start": start, "end": end}
    if code == "essai_encadre" and final == "en_cours":
        start = _monday_after(today - _days(9))
        return {"decided": start - _days(16), "start": start, "end": add_jours_ouvrables(start, 12)}
    if code == "essai_encadre":  # agreed, then abandoned before it started
        start = _monday_after(today + _days(20))
        return {
            "decided": today - _days(25),
            "abandoned": today - _days(6),
            "start": start,
            "end": add_jours_ouvrables(start, 8),
        }
    if code == "pmsmp":
        start = _monday_after(today - _days(24))
        return {"decided": start - _days(16), "start": start, "end": months_end(start, 1)}
    if code == "formation":
        start = _monday_after(today + _days(15))
        return {"decided": today - _days(16), "start": start, "end": start + _days(32)}
    if code == "pre_reprise":
        visit = _workday(today + _days(rng.randint(3, 12)))
        return {"decided": today - _days(rng.randint(6, 12)), "start": visit}
    if code == "tpt":
        start = _workday(today - _days(rng.randint(20, 35)))
        return {"decided": start - _days(7), "start": start, "end": start + _days(90)}
    if code == "crpe":
        start = _monday_after(today + _days(30))
        return {"decided": today - _days(15), "start": start, "end": months_end(start, 12)}
    if code == "bilan_competences":  # asked, refused by the CPAM
        return {"decided": today - _days(30), "refused": today - _days(9)}
    return {"decided": first + _days(rng.randint(5, 12))}  # RQTH asked, Cap emploi considered


def _plan_arret(plan, today):
    """The arrêt's end, consistent with the story: the return to work before a closure «
    back at work », an end after the dispositifs lived during the arrêt, a TPT or a CRPE
    after it…"""
    rng, case = plan.rng, plan.case
    days = case.dispositif_days if case else {}
    code = case.dispositif[0] if case and case.dispositif else None
    if plan.actual_end is not None:  # back at work before day 90
        pass
    elif plan.outcome == "hors_criteres":
        plan.actual_end = plan.referral_day + _days(rng.randint(1, 4))
    elif plan.outcome == "refus" and plan.age > 30 and rng.random() < 0.4:
        plan.actual_end = plan.referral_day + _days(rng.randint(20, plan.age - 2))
    elif case is not None and case.status == "cloture" and case.outcome in OUTCOMES_ENDING_ARRET:
        latest = case.close_day - _days(rng.randint(0, 10))
        if case.outcome == Outcome.DECES:
            latest = case.close_day - _days(rng.randint(7, 15))
        earliest = max(days.get("end", first_day := case.first_day), first_day) + _days(2)
        plan.actual_end = min(max(earliest, latest), case.close_day)
    elif code == "tpt":
        plan.actual_end = days["start"] - _days(1)
    elif code == "crpe":
        plan.actual_end = today - _days(rng.randint(10, 20))
    elif case is not None and case.status == "ouvert" and code is None:
        followed = (today - case.first_day).days
        if followed > 25 and rng.random() < 0.2:  # back at work, still followed
            plan.actual_end = case.first_day + _days(rng.randint(10, followed))
    if plan.actual_end is not None:
        plan.actual_end = min(plan.actual_end, _yesterday(today))
        plan.expected_end = plan.actual_end + _days(rng.randint(0, 15))
    else:
        needed = max([day for day in days.values() if day] + [today])
        plan.expected_end = max(today + _days(rng.randint(5, 150)), needed + _days(20))
    if rng.random() < PREVIOUS_EPISODE_SHARE:
        previous_start = plan.start - _days(rng.randint(400, 800))
        plan.previous = (previous_start, previous_start + _days(rng.randint(8, 60)))


# --- Generation -----------------------------------------------------------------------------


def ascii_name(text):
    """« Hélène » → « helene », for made-up e-mail addresses."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and c.isascii()).lower()


def generate_people(rng, nirs, cpams, users, places, names):
    last_names, first_names, employers = names
    today = timezone.localdate()
    people = []
    for i, nir in enumerate(nirs):
        sex = nir[0]
        first = rng.choice([n for s, n in first_names if s == sex])
        postal_code, commune, cpam_code = places[i % len(places)]
        siret, employer = employers[i % len(employers)]
        last = rng.choice(last_names).upper()
        person = Assure(
            nir=nir,
            nom_naissance=last,
            prenoms=first,
            date_naissance=datetime.date(1900 + int(nir[1:3]), int(nir[3:5]), 1 + i % 28),
            sexe=sex,
            adresse=f"{1 + i % 80} rue de la République",
            code_postal=postal_code,
            commune=commune,
            telephone=f"06 {10 + i % 90:02d} {i % 100:02d} 30 40",
            # A made-up address: a link can be sent by e-mail at any hour (an SMS waits for
            # 08:00, and without Redis a deferred SMS is never sent: README).
            email=f"{ascii_name(first.split()[0])}.{ascii_name(last)}@exemple.fr",
            cpam=cpams[cpam_code],
            situation_emploi=["cdi", "cdd", "interim", "apprenti", "cdi"][i % 5],
            employeur_nom=employer,
            employeur_siret=siret,
            poste=["Chauffeur", "Aide-soignante", "Agent d'entretien", "Comptable"][i % 4],
        )
        person.search_name = build_search_name(person.nom_naissance, person.prenoms)
        people.append(person)
    Assure.objects.bulk_create(people)
    order = {nir: i for i, nir in enumerate(nirs)}
    people = sorted(
        Assure.objects.filter(nir__in=nirs).select_related("cpam"), key=lambda p: order[p.nir]
    )
    unit_of = {code: routing.route_unit(code) for code, _, _ in places}
    plans = make_plans(rng, [unit_of[p.code_postal] for p in people], today)
    _create_arrets(people, plans)
    _Demo(people, plans, users, today).run()


def _create_arrets(people, plans):
    types = [TypeArret.MALADIE, TypeArret.MALADIE, TypeArret.AT, TypeArret.MP]
    arrets = []
    for person, plan in zip(people, plans, strict=True):
        arrets.append(
            ArretTravail(
                assure=person,
                type_arret=types[plan.index % 4],
                date_debut=plan.start,
                date_fin_prevue=max(plan.expected_end, plan.start),
                date_fin_reelle=plan.actual_end,
                montant_ij=f"{30 + plan.index % 40}.50",
                cpam=person.cpam,
            )
        )
        if plan.previous:
            arrets.append(
                ArretTravail(
                    assure=person,
                    type_arret=TypeArret.MALADIE,
                    date_debut=plan.previous[0],
                    date_fin_prevue=plan.previous[1],
                    date_fin_reelle=plan.previous[1],
                    montant_ij=f"{28 + plan.index % 30}.20",
                    cpam=person.cpam,
                )
            )
    ArretTravail.objects.bulk_create(arrets)


@contextmanager
def _quiet(logger_name):
    """The detection logs one line per run: not 227 lines in `make run`."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class _NotYet(Exception):
    """The story reached the present: the rest has not happened yet."""


class _Demo:
    """Replays the period: detection, the médecin conseil's review, manual referrals, then
    each social referral's life in date order."""

    def __init__(self, people, plans, users, today):
        self.people, self.plans, self.users = people, plans, users
        self.today = today
        self.now = timezone.now()
        self.limit = self.now - _minutes(5)
        self.clock = _Clock()
        self.agenda = _Agenda(self.now)
        self.plan_of = {p.pk: plan for p, plan in zip(people, plans, strict=True)}
        self.arrived = {}  # referral pk → when it reached the unit
        self.manager = users["responsable.rouen"]
        self.medecin = users["medecin"]
        self.conseiller = users["conseiller.rouen"]
        self.ass_by_unit = defaultdict(list)
        for user in sorted(users.values(), key=lambda u: u.username):
            if user.role == Role.ASS:
                self.ass_by_unit[user.unit_id].append(user)
        self.types = {t.code: t for t in DispositifType.objects.all()}
        self.partners = {}
        for partner in Partner.objects.filter(region=self.manager.unit.region).order_by("pk"):
            self.partners.setdefault(partner.kind, partner)
        self.arrets = {
            a.assure_id: a
            for a in ArretTravail.objects.filter(assure__in=people).order_by("date_debut")
        }

    def run(self):
        with _quiet("referrals.detection"):
            self._detection()
        with self.clock.recording():
            self._medical_review()
            self._manual_referrals()
            referrals = (
                Signalement.objects.filter(service="social", assure__in=self.people)
                .select_related("assure", "unit", "assigned_to", "arret")
                .order_by("date_signalement", "pk")
            )
            for referral in list(referrals):
                with suppress(_NotYet):
                    self._live(referral, self.plan_of[referral.assure_id])
        self.clock.write()
        self._touch()

    def at(self, moment):
        """Set the clock for the next service call; a moment not yet come ends the story."""
        if moment >= self.limit:
            raise _NotYet
        self.clock.moment = moment
        return moment

    # -- detection, the médecin conseil, manual referrals

    def _detection(self):
        """The nightly scan of every day of the period, dated 05:30 that day."""
        first = self.today - _days(SCANNED_DAYS - 1)
        for offset in range((self.today - first).days + 1):
            day = first + _days(offset)
            moment = min(_aware(day, 5, 30), self.now)
            result = scan_arrets(day=day)
            if result.created_ids:
                ids = result.created_ids
                Signalement.objects.filter(pk__in=ids).update(created_at=moment, updated_at=moment)
                SignalementEvent.objects.filter(signalement_id__in=ids).update(at=moment)
            DetectionRun.objects.filter(pk__in=[run.pk for run in result.runs]).update(
                started_at=moment, finished_at=moment + datetime.timedelta(seconds=2)
            )

    def _medical_review(self):
        """The médecin conseil closes most of the older medical referrals and forwards a few
        to the service social."""
        medical = Signalement.objects.filter(service="medical", assure__in=self.people)
        for referral in medical.select_related("assure", "arret").order_by(
            "date_signalement", "pk"
        ):
            plan = self.plan_of[referral.assure_id]
            rng = plan.rng
            if plan.kind == "forwarded":
                moment = self.at(_moment(rng, plan.referral_day, 9, 12))
                social = referral_services.signalement_forward(
                    signalement=referral, acting_user=self.medecin, motif=FORWARD_MOTIF
                )
                Signalement.objects.filter(pk=social.pk).update(date_signalement=plan.referral_day)
                self.arrived[social.pk] = moment
            elif (self.today - referral.date_signalement).days > 7 and rng.random() < 0.85:
                day = referral.date_signalement + _days(rng.randint(2, 7))
                try:
                    self.at(_moment(rng, day))
                except _NotYet:
                    continue
                referral_services.signalement_transition(
                    signalement=referral,
                    to_status="classe",
                    acting_user=self.medecin,
                    reason=rng.choice(MEDICAL_CLOSING_REASONS),
                )

    def _manual_referrals(self):
        """Referrals received from a partner or the person, recorded by the unit's ASS."""
        for person, plan in zip(self.people, self.plans, strict=True):
            if plan.kind != "manual":
                continue
            workers = self.ass_by_unit.get(plan.unit.pk if plan.unit else None)
            author = workers[plan.index % len(workers)] if workers else self.manager
            moment = self.at(_moment(plan.rng, plan.referral_day))
            referral, _ = referral_services.signalement_create_manual(
                acting_user=author,
                origine=plan.origin,
                nir=person.nir,
                motif=MANUAL_MOTIFS[plan.origin],
                arret=self.arrets[person.pk] if plan.link_arret else None,
            )
            fields = {"date_signalement": plan.referral_day}
            if not plan.link_arret:  # due 30 days after the referral (the service: today + 30)
                fields["date_echeance"] = plan.referral_day + _days(
                    referral_services.NO_ARRET_DUE_DAYS
                )
            Signalement.objects.filter(pk=referral.pk).update(**fields)
            self.arrived[referral.pk] = moment

    # -- a referral's life

    def _live(self, referral, plan):
        rng = plan.rng
        t = self.arrived.get(referral.pk) or _aware(referral.date_signalement, 5, 30)
        referral, worker, t = self._route(referral, plan, t)
        outcome = plan.outcome
        if outcome == "nouveau":
            return
        if outcome == "a_contacter":
            if referral.statut == "nouveau":  # a manual or forwarded one, read
                self._transition(referral, worker or self.manager, "a_contacter", "", t, rng)
            return
        if outcome == "hors_criteres":
            end = plan.actual_end if plan.link_arret else None
            day = max(t.date(), (end or t.date()) + _days(rng.randint(0, 2)))
            self.at(max(_moment(rng, day), t + _minutes(5)))
            referral_services.signalement_transition(
                signalement=referral,
                to_status="hors_criteres",
                acting_user=worker,
                reason=f"Reprise du travail le {end:%d/%m/%Y}." if end else "Hors critères.",
            )
            return
        if outcome == "doublon":
            self._transition(referral, worker, "doublon", DUPLICATE_REASON, t, rng)
            return
        if outcome == "sans_reponse":
            t = self._failed_attempts(referral, worker, rng, t, 3, spread=6)
            self.at(_moment(rng, t.date() + _days(rng.randint(7, 12))))
            referral_services.signalement_transition(
                signalement=referral,
                to_status="sans_reponse",
                acting_user=worker,
                reason=NO_ANSWER_REASON,
            )
            return
        if outcome == "contact_en_cours":
            spread = 4 if plan.age < 30 else 12
            self._failed_attempts(referral, worker, rng, t, rng.randint(1, 3), spread=spread)
            return
        if outcome == "handover_now":
            self._hand_over_now(referral, worker, rng, t)
            return
        t = self._failed_attempts(referral, worker, rng, t, rng.choice([0, 0, 1, 2]), spread=2)
        t = self.at(max(_moment(rng, plan.joint_day), t + _minutes(30)))
        if outcome == "refus":
            self._attempt(referral, worker, rng.choice([Resultat.JOINT, Resultat.REFUS]), t)
            self.at(t + _minutes(3))
            referral_services.signalement_transition(
                signalement=referral,
                to_status="refus",
                acting_user=worker,
                reason=rng.choice(REFUSAL_REASONS),
            )
            return
        referral_services.contact_attempt_add(
            signalement=referral,
            acting_user=worker,
            canal="telephone",
            resultat=Resultat.JOINT,
            at=t,
            note="Personne d'accord pour rencontrer une assistante sociale.",
            propose_meeting=True,
        )
        if outcome == "case" and plan.case is not None:
            self._case(referral, plan, worker, t)

    def _route(self, referral, plan, t):
        """Who works the referral (the manager's assignment in Rouen, the automatic one in
        Caen, the unit's ASS in Le Havre), and when it reached them."""
        rng = plan.rng
        if plan.route == "queue":
            return referral, None, t
        if referral.assigned_to_id:  # automatic assignment
            return referral, referral.assigned_to, t
        if plan.route != "from_queue" and referral.unit_id != self.manager.unit_id:
            workers = self.ass_by_unit.get(referral.unit_id, [])
            return referral, (workers[0] if workers else None), t  # no manager: the ASS
        if plan.route == "unassigned":
            return referral, None, t
        t = self.at(max(_moment(rng, t.date(), 8, 11), t + _minutes(30)))
        rouen = self.ass_by_unit[self.manager.unit_id]
        worker = self.conseiller if plan.route == "conseiller" else rouen[plan.index % 2]
        reason = {
            "conseiller": "Premier contact par le conseiller.",
            "from_queue": "Personne domiciliée hors du territoire, employeur rouennais.",
        }.get(plan.route, "")
        referral = referral_services.signalement_assign(
            signalement=referral,
            acting_user=self.manager,
            unit=self.manager.unit,
            assigned_to=worker,
            reason=reason,
        )
        return referral, worker, t

    def _transition(self, referral, worker, status, reason, t, rng):
        self.at(max(_moment(rng, t.date() + _days(rng.randint(0, 3))), t + _minutes(5)))
        referral_services.signalement_transition(
            signalement=referral, to_status=status, acting_user=worker, reason=reason
        )

    def _attempt(self, referral, worker, resultat, t, canal="telephone", note=""):
        self.at(t)
        return referral_services.contact_attempt_add(
            signalement=referral,
            acting_user=worker,
            canal=canal,
            resultat=resultat,
            at=t,
            note=note,
        )

    def _failed_attempts(self, referral, worker, rng, t, n, *, spread):
        for k in range(n):
            t = max(_moment(rng, t.date() + _days(rng.randint(1, spread))), t + _minutes(10))
            if k == 2:
                self._attempt(
                    referral,
                    worker,
                    Resultat.PAS_DE_REPONSE,
                    t,
                    canal="courrier",
                    note="Courrier proposant un rendez-vous.",
                )
            else:
                result = rng.choice([Resultat.PAS_DE_REPONSE, Resultat.MESSAGE])
                note = "Message laissé sur le répondeur." if result == Resultat.MESSAGE else ""
                self._attempt(referral, worker, result, t, note=note)
        return t

    def _hand_over_now(self, referral, conseiller, rng, t):
        """The conseiller reached the person on the last working day and booked her first
        meeting with ass.rouen: the real hand-over, the meeting is to come."""
        day = _yesterday(self.today)
        while not _is_workday(day):
            day -= _days(1)
        if _workday(t.date() + _days(1)) < day:
            self._attempt(
                referral,
                conseiller,
                Resultat.MESSAGE,
                _moment(rng, t.date() + _days(1)),
                note="Message laissé sur le répondeur.",
            )
        t = _aware(day, 11, 10)
        self._attempt(
            referral,
            conseiller,
            Resultat.JOINT,
            t,
            note="Personne d'accord pour rencontrer une assistante sociale.",
        )
        ass = self.users["ass.rouen"]
        debut = self.agenda.book(ass, self.today + _days(2), rng, past=False)
        self.at(t + _minutes(4))
        referral_services.signalement_hand_over(
            signalement=referral,
            acting_user=conseiller,
            ass=ass,
            debut=debut,
            mode="sur_place",
            duree_minutes=60,
        )

    # -- the accompagnement

    def _case(self, referral, plan, worker, joint):
        """The first meeting (held): the ASS opens the case at its end."""
        rng = plan.rng
        referent = worker
        if worker is None or worker.role != Role.ASS:
            workers = self.ass_by_unit[referral.unit_id]
            referent = workers[plan.index % len(workers)]
        day = max(plan.case.first_day, joint.date() + _days(1))
        first = self.agenda.book(referent, day, rng, past=True)
        if first is None:
            return  # the first meeting is still to come
        if worker is not None and worker.role == Role.CONSEILLER:
            self._past_hand_over(referral, worker, referent, first, joint)
        self.at(first + _minutes(65))
        case = case_services.case_open_from_signalement(
            signalement=referral,
            acting_user=referent,
            referent=referent,
            mission=plan.case.mission,
        )
        Accompagnement.objects.filter(pk=case.pk).update(date_ouverture=first.date())
        case.date_ouverture = first.date()
        _CaseLife(self, case, plan, referent, first).live()

    def _past_hand_over(self, referral, conseiller, ass, debut, joint):
        """What `signalement_hand_over` does, for a first meeting now past (the service only
        books the future): the proposed meeting on the referral, given to the ASS."""
        minutes, mode = 60, "sur_place"
        Signalement.objects.filter(pk=referral.pk).update(
            rdv_debut=debut,
            rdv_duree_minutes=minutes,
            rdv_mode=mode,
            rdv_ass=ass,
            rdv_par=conseiller,
        )
        self.at(joint + _minutes(4))
        routing.signalement_assign(
            signalement=referral,
            acting_user=conseiller,
            unit=referral.unit,
            assigned_to=ass,
            reason=(
                f"{referral_services.HAND_OVER_REASON} : premier rendez-vous proposé le "
                f"{_label(debut)} ({ModeRencontre(mode).label.lower()}, {minutes} min)."
            ),
        )

    def _touch(self):
        """`updated_at`: the moment of the last event of each referral and case."""
        last = SignalementEvent.objects.filter(signalement=OuterRef("pk")).order_by()
        last = last.values("signalement").annotate(m=Max("at")).values("m")
        Signalement.objects.filter(assure__in=self.people).update(
            updated_at=Coalesce(Subquery(last), F("updated_at"))
        )
        last = CaseEvent.objects.filter(accompagnement=OuterRef("pk")).order_by()
        last = last.values("accompagnement").annotate(m=Max("at")).values("m")
        Accompagnement.objects.filter(assure__in=self.people).update(
            updated_at=Coalesce(Subquery(last), F("updated_at"))
        )


def _minutes(n):
    return datetime.timedelta(minutes=n)


class _CaseLife:
    """The meetings of a case and what happens at them, replayed in time order."""

    def __init__(self, demo, case, plan, referent, first):
        self.demo, self.case, self.plan, self.referent = demo, case, plan, referent
        self.rng = plan.rng
        self.first = first
        self.steps = []  # (moment, order, function)
        self.objectives = []
        self.actions = []
        self.consents = set()
        self.orientation = None
        self.upcoming = None  # (planned at, start, mode, minutes) of the next meeting

    def add(self, moment, function):
        self.steps.append((moment, len(self.steps), function))

    def live(self):
        case_plan = self.plan.case
        meetings = self._meetings()
        self._content(meetings, evaluate_first=case_plan.dispositif is not None)
        if case_plan.dispositif:
            self._dispositif(*case_plan.dispositif, case_plan.dispositif_days)
        if case_plan.suspend_day:
            self.add(_moment(self.rng, case_plan.suspend_day, 10, 16), self._suspend)
            if case_plan.resume_day:
                self.add(_moment(self.rng, case_plan.resume_day, 10, 16), self._resume)
        if case_plan.status == "cloture":  # last: the closure ends everything else
            last = max(moment for moment, _, _ in self.steps)
            closing = max(last + _minutes(20), _aware(case_plan.close_day, 16, 30))
            self.add(closing, self._close)
        for moment, _, function in sorted(self.steps, key=lambda s: (s[0], s[1])):
            self.demo.at(moment)
            function()

    # meetings

    def _meetings(self):
        """Book the meetings: the first one (held), then one every two to five weeks until
        the closure or the suspension; the next one is planned while the case is open."""
        rng, case_plan, agenda = self.rng, self.plan.case, self.demo.agenda
        first = self._meeting(self.first, 60, "sur_place", ES.REALISE, FIRST_MEETING_NOTE)
        meetings = [first]
        stop = case_plan.close_day or case_plan.suspend_day
        if case_plan.resume_day:
            stop = None
        while True:
            previous = meetings[-1]
            day = previous["start"].date() + _days(rng.randint(14, 35))
            if abs((day - self.demo.today).days) <= 1:
                day = self.demo.today  # « Entretiens du jour » has something to show
            planned = None  # at the previous meeting, once it is recorded
            if case_plan.resume_day and case_plan.suspend_day <= day < case_plan.resume_day:
                day = case_plan.resume_day + _days(3)
            if case_plan.resume_day and previous["start"].date() < case_plan.suspend_day <= day:
                planned = _aware(case_plan.resume_day, 16, 45)  # when the case resumes
            if stop is not None and day >= stop:
                break
            mode = _draw(rng, [("sur_place", 5), ("telephone", 2), ("domicile", 1), ("visio", 1)])
            minutes = 90 if mode == "domicile" else rng.choice([45, 60, 60])
            start = agenda.book(self.referent, day, rng, minutes, past=True)
            if start is not None and (stop is None or start.date() < stop):
                status = _draw(rng, [(ES.REALISE, 78), (ES.ABSENT, 12), (ES.ANNULE, 10)])
                meeting = self._meeting(start, minutes, mode, status, rng.choice(MEETING_NOTES))
                meeting["planned"] = planned
                meetings.append(meeting)
                continue
            if start is None and case_plan.status == "ouvert" and rng.random() < 0.9:
                upcoming = agenda.book(
                    self.referent, max(day, self.demo.today), rng, minutes, past=False
                )
                self.upcoming = (planned, upcoming, mode, minutes)
            break
        if case_plan.status == "cloture":
            self._closing_meetings(meetings)
        previous = None
        for meeting in meetings:
            if previous is None:  # booked before the case existed, written when it opens
                planned = meeting["start"] + _minutes(66)
            else:  # planned when the previous one was recorded
                planned = meeting.get("planned") or previous["recorded"] + _minutes(2)
            self._record(meeting, planned=planned)
            previous = meeting
        if self.upcoming:
            planned, start, mode, minutes = self.upcoming
            planned = planned or previous["recorded"] + _minutes(2)
            self.add(planned, lambda: self._schedule(start, mode, minutes))
        return meetings

    def _meeting(self, start, minutes, mode, status, note):
        return {
            "start": start,
            "end": start + _minutes(minutes),
            "minutes": minutes,
            "mode": mode,
            "status": status,
            "note": note,
        }

    def _closing_meetings(self, meetings):
        outcome = self.plan.case.outcome
        if outcome == Outcome.PERDU_DE_VUE and len(meetings) >= 3:
            for meeting in meetings[-2:]:
                meeting["status"] = ES.ABSENT
        elif len(meetings) > 1 and outcome != Outcome.DECES:
            meetings[-1]["status"], meetings[-1]["note"] = ES.REALISE, LAST_MEETING_NOTE

    def _record(self, meeting, *, planned):
        """A past meeting: planned when the previous one was recorded (written directly: the
        service only plans the future), then recorded with `entretien_record`. The first one
        was booked before the case existed: it is written when the case opens."""
        rng = self.rng
        holder = {}
        is_first = meeting["start"] == self.first
        self.add(planned, lambda: holder.update(e=self._create(meeting, announce=not is_first)))
        status = meeting["status"]
        if status == ES.ANNULE:  # the person called to cancel one to three days before
            day = (meeting["start"] - _days(rng.randint(1, 3))).date()
            moment = max(_moment(rng, day), planned + _minutes(30))
            moment = min(moment, meeting["start"] - _minutes(30))
        elif is_first:
            moment = planned + _minutes(2)
        else:
            moment = meeting["end"] + _minutes(rng.randint(5, 25))
        note = {ES.ANNULE: "", ES.ABSENT: ABSENT_NOTE}.get(status, meeting["note"])
        self.add(
            moment,
            lambda: agenda.entretien_record(
                entretien=holder["e"], acting_user=self.referent, statut=status, note=note
            ),
        )
        meeting["recorded"] = moment

    def _create(self, meeting, *, announce):
        entretien = Entretien.objects.create(
            accompagnement=self.case,
            debut=meeting["start"],
            duree_minutes=meeting["minutes"],
            ass=self.referent,
            mode=meeting["mode"],
            statut=ES.PLANIFIE,
        )
        if announce:  # the event `entretien_schedule` writes
            case_services.case_event_add(
                accompagnement=self.case,
                acting_user=self.referent,
                kind=CaseEvent.Kind.ENTRETIEN,
                summary=(
                    f"Entretien planifié le {_label(entretien.debut)} "
                    f"({entretien.get_mode_display().lower()}) avec {self.referent}"
                ),
                changes={"entretien": entretien.pk},
            )
        return entretien

    def _schedule(self, start, mode, minutes):
        if start is not None:
            agenda.entretien_schedule(
                accompagnement=self.case,
                acting_user=self.referent,
                debut=start,
                mode=mode,
                duree_minutes=minutes,
            )

    # consents, évaluation, plan d'aide, orientation, notes

    def _content(self, meetings, *, evaluate_first):
        rng = self.rng
        held = [m for m in meetings if m["status"] == ES.REALISE]
        first_end = held[0]["recorded"]
        for portee, share in [("medecin_travail", 0.7), ("employeur", 0.2), ("cellule_pdp", 0.12)]:
            if rng.random() < share:
                self.add(first_end + _minutes(3), lambda p=portee: self._consent(p, first_end))
        if evaluate_first or rng.random() < 0.9:
            evaluated = first_end
            if len(held) > 1 and not evaluate_first and rng.random() < 0.3:
                evaluated = held[1]["recorded"]
            self.add(evaluated + _minutes(20), self._evaluate)
            self.add(evaluated + _minutes(25), lambda: self._objectives(evaluated))
            for meeting in held:
                if meeting["recorded"] > evaluated:
                    day = meeting["start"].date()
                    self.add(meeting["recorded"] + _minutes(3), lambda d=day: self._review(d))
        if len(held) > 1 and rng.random() < 0.55:
            at = held[1]["recorded"] + _minutes(8)
            kind, motif, scope = rng.choice(ORIENTATIONS)
            agreed = rng.random() < 0.85
            self.add(at, lambda: self._orient(kind, fr(motif), scope, agreed, at))
            if len(held) > 2 and agreed:
                self.add(held[2]["recorded"] + _minutes(9), self._orientation_follow_up)
        for text in rng.sample(CASE_NOTES, rng.choice([0, 0, 1, 2])):  # between two meetings
            if len(meetings) < 2:
                break
            k = rng.randrange(len(meetings) - 1)
            gap = (meetings[k + 1]["start"] - meetings[k]["end"]).days
            if gap > 2:
                moment = _moment(rng, meetings[k]["start"].date() + _days(rng.randint(1, gap - 1)))
                if moment < meetings[k + 1]["start"]:
                    self.add(moment, lambda t=text: self._note(t))

    def _note(self, text):
        case_services.case_note_add(accompagnement=self.case, acting_user=self.referent, text=text)

    def _consent(self, portee, moment):
        if portee not in self.consents:
            self.consents.add(portee)
            case_services.consentement_record(
                accompagnement=self.case,
                acting_user=self.referent,
                portee=portee,
                date_recueil=timezone.localdate(moment),
            )

    def _evaluate(self):
        rng = self.rng
        evaluation = case_services.evaluation_create(
            accompagnement=self.case,
            acting_user=self.referent,
            niveau_risque=rng.choice(RISKS),
            **{area: rng.choice(texts) for area, texts in EVALUATION_TEXTS.items()},
        )
        # Dated now (not with the other rows at the end): the essai encadré rule reads it.
        moment = self.demo.clock.moment
        type(evaluation).objects.filter(pk=evaluation.pk).update(created_at=moment)

    def _objectives(self, moment):
        rng = self.rng
        day = timezone.localdate(moment)
        for domain, label, actions in rng.sample(OBJECTIVES, rng.randint(2, 4)):
            # The services refuse a due date already past at creation (today's rule); the
            # replayed moment's due dates are written on the rows afterwards.
            objective = case_services.objectif_create(
                accompagnement=self.case, acting_user=self.referent, domaine=domain, libelle=label
            )
            _set_due(objective, day + _days(rng.randint(20, 100)))
            self.objectives.append(objective)
            for action_label, who in actions:
                action = case_services.action_create(
                    objectif=objective,
                    acting_user=self.referent,
                    libelle=action_label,
                    porteur=who,
                )
                _set_due(action, day + _days(rng.randint(7, 45)))
                self.actions.append(action)

    def _review(self, day):
        """At a meeting: actions done, objectives due reached, abandoned or revised."""
        rng = self.rng
        for action in self.actions:
            if not action.faite and action.echeance <= day + _days(7) and rng.random() < 0.7:
                case_services.action_toggle(action=action, acting_user=self.referent)
        for objective in self.objectives:
            if objective.statut == "en_cours" and objective.echeance <= day + _days(10):
                table = [("atteint", 6), ("abandonne", 1.5), ("revise", 1.5), ("en_cours", 2)]
                statut = _draw(rng, table)
                if statut != "en_cours":
                    case_services.objectif_update(
                        objectif=objective, acting_user=self.referent, statut=statut
                    )
                elif objective.echeance < day:  # still worked on: postponed
                    case_services.objectif_update(
                        objectif=objective,
                        acting_user=self.referent,
                        echeance=day + _days(rng.randint(21, 45)),
                    )

    def _orient(self, kind, motif, scope, agreed, moment):
        if scope and agreed:
            self._consent(scope, moment)
        seine_maritime = self.case.unit.code in ("ROUEN", "LEHAVRE")
        self.orientation = case_services.orientation_create(
            accompagnement=self.case,
            acting_user=self.referent,
            partner_kind=kind,
            partner=self.demo.partners.get(kind) if seine_maritime else None,
            motif=motif,
            accord_assure=agreed,
            date_orientation=timezone.localdate(moment),
            statut=Orientation.Statut.ENVOYEE if agreed else Orientation.Statut.PROPOSEE,
        )

    def _orientation_follow_up(self):
        if self.rng.random() < 0.75:
            statut, suivi = Orientation.Statut.PRISE_EN_CHARGE, "Premier rendez-vous obtenu."
        else:
            statut = Orientation.Statut.SANS_SUITE
            suivi = fr("La personne n'a pas donné suite ; à reprendre au prochain entretien.")
        case_services.orientation_update(
            orientation=self.orientation, acting_user=self.referent, statut=statut, suivi=suivi
        )

    # dispositifs, through `cases.dispositifs` (its rules refuse what does not fit)

    def _dispositif(self, code, final, days):
        rng, holder = self.rng, {}
        dispositif_type = self.demo.types[code]
        start, end = days.get("start"), days.get("end")
        decided = _moment(rng, days["decided"], 10, 16)

        def create(statut="demande", **fields):
            holder["d"] = dispositifs.dispositif_create(
                accompagnement=self.case,
                acting_user=self.referent,
                type=dispositif_type,
                statut=statut,
                **fields,
            )

        def update(**fields):
            return lambda: dispositifs.dispositif_update(
                dispositif=holder["d"], acting_user=self.referent, **fields
            )

        def status(to, motif=""):
            return lambda: dispositifs.dispositif_change_status(
                dispositif=holder["d"], acting_user=self.referent, to_status=to, motif=motif
            )

        def day_before(n, hour=10):
            return _moment(rng, start - _days(n), hour, hour + 6)

        def ended(result):
            after = _moment(rng, end + _days(2))
            self.add(after, update(resultat=result))
            self.add(after + _minutes(1), status("termine"))

        if code == "essai_encadre":
            agreements = {
                "accord_medecin_traitant": start - _days(12),
                "accord_medecin_conseil": start - _days(10),
                "accord_medecin_travail": start - _days(8),
            }
            self.add(decided, lambda: create(date_debut=start, date_fin=end, chez_employeur=True))
            if final == "abandonne":
                self.add(decided + _minutes(30), update(**agreements))
                self.add(decided + _minutes(31), status("accorde"))
                self.add(
                    _moment(rng, days["abandoned"]),
                    status("abandonne", "La personne ne se sent pas prête à reprendre."),
                )
                return
            self.add(day_before(7), update(**agreements))
            self.add(day_before(6), status("accorde"))
            self.add(_aware(start, 8, 45), status("en_cours"))
            if final == "termine":
                ended("Essai concluant : reprise sur le poste envisagée.")
        elif code == "pmsmp":
            self.add(
                decided,
                lambda: create(
                    date_debut=start,
                    date_fin=end,
                    entreprise_accueil=HOST_COMPANY[0],
                    entreprise_siret=HOST_COMPANY[1],
                    prescripteur="Cap emploi",
                ),
            )
            agreements = {
                "autorisation_cpam": start - _days(8),
                "convention_signee": start - _days(5),
            }
            self.add(day_before(5), update(**agreements))
            self.add(day_before(4), status("accorde"))
            self.add(_aware(start, 8, 50), status("en_cours"))
            if final == "termine":
                ended("Immersion réussie : embauche proposée par la structure d'accueil.")
        elif code in ("bilan_competences", "formation") and final == "refuse":
            self.add(decided, create)
            self.add(
                _moment(rng, days["refused"]),
                status("refuse", "Accord de la CPAM refusé : projet à préciser."),
            )
        elif code in ("bilan_competences", "formation"):
            hours = {"duree_heures": 20} if code == "bilan_competences" else {}
            self.add(decided, lambda: create(date_debut=start, date_fin=end, **hours))
            agreements = {
                "accord_medecin_traitant": start - _days(12),
                "accord_medecin_conseil": start - _days(10),
                "autorisation_cpam": start - _days(10),
            }
            if final == "accorde":  # starts later
                self.add(
                    decided + _days(3),
                    update(**{k: days["decided"] + _days(3) for k in agreements}),
                )
                self.add(decided + _days(3) + _minutes(2), status("accorde"))
                return
            self.add(day_before(9), update(**agreements))
            self.add(day_before(8), status("accorde"))
            self.add(_aware(start, 9, 0), status("en_cours"))
            ended("Projet de reconversion validé.")
        elif code == "pre_reprise":
            self.add(decided, create)
            self.add(decided + _minutes(40), update(date_debut=start))
            self.add(decided + _minutes(41), status("accorde"))
            if final == "termine":
                self.add(_aware(start, 9, 0), status("en_cours"))
                result = "Aménagement du poste préconisé par le médecin du travail."
                self.add(_aware(start, 17, 10), update(date_fin=start, resultat=result))
                self.add(_aware(start, 17, 11), status("termine"))
        elif code == "tpt":
            self.add(decided, lambda: create(date_debut=start, date_fin=end))
            medical = (
                Signalement.objects.filter(assure=self.case.assure, service="medical")
                .order_by("-date_signalement")
                .first()
            )
            if medical is None:  # no decision of the médecin conseil: the TPT stays envisagé
                return
            decision_day = start - _days(5)

            def decide():
                referral_services.signalement_record_medical(
                    signalement=medical,
                    acting_user=User.objects.get(username="medecin"),
                    tpt_decision="accorde",
                    tpt_decision_le=decision_day,
                )

            self.add(_moment(rng, decision_day), decide)
            self.add(_moment(rng, start - _days(4)) + _minutes(1), status("accorde"))
            self.add(_aware(start, 9, 0), status("en_cours"))
        elif code == "crpe":
            self.add(decided, lambda: create(date_debut=start, date_fin=end, chez_employeur=True))
        elif code == "invalidite":
            self.add(decided, create)
            self.add(_moment(rng, days["granted"]), status("accorde"))
        else:  # an RQTH asked, Cap emploi considered
            self.add(decided, lambda: create(statut=final))

    # status

    def _suspend(self):
        case_services.case_suspend(
            accompagnement=self.case,
            acting_user=self.referent,
            reason=fr(
                "À la demande de la personne, le temps des soins ; reprise de contact prévue "
                "dans un mois."
            ),
        )

    def _resume(self):
        case_services.case_resume(
            accompagnement=self.case,
            acting_user=self.referent,
            reason="Reprise de contact à l'initiative de la personne.",
        )

    def _close(self):
        outcome = self.plan.case.outcome
        case_services.case_close(
            accompagnement=self.case,
            acting_user=self.referent,
            outcome=outcome,
            date_cloture=timezone.localdate(self.demo.clock.moment),
            commentaire=CLOSURE_COMMENTS[outcome],
        )


def _set_due(row, day):
    """Write the due date of a replayed objective or action (see `_objectives`)."""
    type(row).objects.filter(pk=row.pk).update(echeance=day)
    row.echeance = day
