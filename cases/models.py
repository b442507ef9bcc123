"""Accompagnements and everything done in them: évaluation, plan d'aide, entretiens,
orientations, dispositifs, consents, documents, closure."""

import functools
import operator

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from pdp import permissions
from pdp.identifiers import validate_siret
from pdp.models import TEXT_MAX_LENGTH, Partner, PartnerKind, Region, Unit
from referrals.models import Assure, ModeRencontre, Signalement


class Mission(models.TextChoices):
    PDP = "pdp", "Prévention de la désinsertion professionnelle"
    SECURISATION = "securisation", "Sécurisation des parcours en santé"


class CaseStatus(models.TextChoices):
    OUVERT = "ouvert", "Ouvert"
    SUSPENDU = "suspendu", "Suspendu"
    CLOTURE = "cloture", "Clôturé"


# Open or suspended: `Accompagnement.objects.open()`, and the joins that filter on a case's
# status (`accompagnement__statut__in=OPEN_CASE_STATUSES`).
OPEN_CASE_STATUSES = (CaseStatus.OUVERT, CaseStatus.SUSPENDU)


class AccompagnementQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Unit staff see that their unit's cases exist (the header: référent, status, next
        meeting); what a case's content allows is `cases.permissions`. A share makes one case
        visible to its beneficiary whatever their unit."""
        conditions = visible_case_conditions(user)
        return (
            self.filter(functools.reduce(operator.or_, conditions)) if conditions else self.none()
        )

    def with_share_flag(self, user):
        """Annotate `shared_with_me`, read by `cases.permissions` without another query."""
        if not user.is_authenticated:
            return self
        active = CaseShare.objects.active().filter(accompagnement=OuterRef("pk"), user_id=user.pk)
        return self.annotate(shared_with_me=Exists(active))

    def open(self):
        # The statuses listed rather than « not closed »: an index on (…, statut) then reads
        # only the open cases.
        return self.filter(statut__in=OPEN_CASE_STATUSES)


class Accompagnement(models.Model):
    assure = models.ForeignKey(
        Assure, on_delete=models.PROTECT, related_name="accompagnements", verbose_name="assuré"
    )
    referent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="accompagnements",
        verbose_name="référent du parcours",
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="accompagnements", verbose_name="unité"
    )
    # The unit's region, copied at creation (a case never changes unit): the regional scopes
    # and the indicators filter on it without joining the units, and it is the tenant key a
    # split by region needs (README « Beyond one database server »).
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="accompagnements", verbose_name="région"
    )
    mission = models.CharField("mission", max_length=15, choices=Mission.choices, default="pdp")
    statut = models.CharField(
        "statut", max_length=10, choices=CaseStatus.choices, default=CaseStatus.OUVERT
    )
    date_ouverture = models.DateField("ouvert le", default=timezone.localdate)
    date_cloture = models.DateField("clôturé le", null=True, blank=True)
    signalement = models.OneToOneField(
        Signalement,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="accompagnement",
        verbose_name="signalement d'origine",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    objects = AccompagnementQuerySet.as_manager()

    class Meta:
        verbose_name = "accompagnement"
        ordering = ["-date_ouverture"]
        constraints = [
            models.UniqueConstraint(
                fields=["assure", "mission"],
                condition=~Q(statut="cloture"),
                name="accompagnement_one_open_per_assure_mission",
                violation_error_message="Un accompagnement est déjà ouvert pour cette mission.",
            ),
            models.CheckConstraint(
                condition=Q(statut="cloture", date_cloture__isnull=False)
                | (~Q(statut="cloture") & Q(date_cloture__isnull=True)),
                name="accompagnement_closed_iff_closure_date",
            ),
        ]
        indexes = [
            models.Index(fields=["referent", "statut"]),
            # As the referrals' one: the unit's lists, the people it sees and the manager's
            # counts by référent, without the table.
            models.Index(
                fields=["unit", "statut"],
                include=["assure", "referent"],
                name="accompagnement_unit_idx",
            ),
            models.Index(fields=["date_ouverture"]),  # the indicators of a period
            models.Index(fields=["region", "date_ouverture"], name="accompagnement_region_idx"),
        ]

    def __str__(self):
        return f"Accompagnement {self.get_mission_display()} – {self.assure}"

    def save(self, *args, **kwargs):
        if self.region_id is None and self.unit_id is not None:
            self.region_id = Unit.objects.values_list("region_id", flat=True).get(pk=self.unit_id)
        super().save(*args, **kwargs)


def visible_case_conditions(user):
    """The rule of `AccompagnementQuerySet.visible_to`, as the conditions it is the OR of, each
    served by one index: the unit's cases, the cases shared with the user. Kept apart for the
    person's visibility (`cases.hooks`), which makes a UNION ALL of them: an OR of the two in
    one subquery scans the whole table."""
    if not permissions.in_unit(user):
        return []
    return [Q(unit_id=user.unit_id), Q(pk__in=_shared_with(user))]


def _shared_with(user):
    return CaseShare.objects.active().filter(user_id=user.pk).values("accompagnement_id")


class ShareReason(models.TextChoices):
    ABSENCE = "absence", "Absence du référent (remplacement)"
    CO_ACCOMPAGNEMENT = "co_accompagnement", "Co-accompagnement"
    CHANGEMENT_UNITE = "changement_unite", "La personne relève d'une autre unité"


class CaseShareQuerySet(models.QuerySet):
    def active(self, day=None):
        """Not revoked, and today between its start and its end date (both included)."""
        day = day or timezone.localdate()
        return self.filter(revoked_at__isnull=True, date_debut__lte=day, date_fin__gte=day)


class CaseShare(models.Model):
    """An explicit share of a case's content with one ASS (domain §11): given by the référent
    or the unit's manager, with a reason and an end date; visible on the case, audited,
    revocable. The beneficiary may belong to another unit."""

    accompagnement = models.ForeignKey(
        "cases.Accompagnement",
        on_delete=models.CASCADE,
        related_name="shares",
        verbose_name="accompagnement",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="case_shares",
        verbose_name="partagé avec",
    )
    reason = models.CharField("motif", max_length=20, choices=ShareReason.choices)
    comment = models.CharField("précision", max_length=255, blank=True)
    date_debut = models.DateField("à partir du", default=timezone.localdate)
    date_fin = models.DateField("jusqu'au")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="par"
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    revoked_at = models.DateTimeField("retiré le", null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="retiré par",
    )

    objects = CaseShareQuerySet.as_manager()

    class Meta:
        verbose_name = "partage d'accompagnement"
        verbose_name_plural = "partages d'accompagnement"
        ordering = ["-date_fin", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["accompagnement", "user"],
                condition=Q(revoked_at__isnull=True),
                name="caseshare_one_unrevoked_per_user",
                violation_error_message="Cet accompagnement est déjà partagé avec cette personne.",
            ),
            models.CheckConstraint(
                condition=Q(date_fin__gte=F("date_debut")),
                name="caseshare_end_after_start",
                violation_error_message="La fin du partage précède son début.",
            ),
        ]
        indexes = [models.Index(fields=["user", "date_fin"])]

    def __str__(self):
        return f"Partage avec {self.user} jusqu'au {self.date_fin:%d/%m/%Y}"

    @property
    def is_active(self):
        today = timezone.localdate()
        return self.revoked_at is None and self.date_debut <= today <= self.date_fin


class CaseEvent(models.Model):
    """The timeline of an accompagnement: one row for each thing that happened."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Ouverture"
        STATUS = "status", "Changement de statut"
        REFERENT = "referent", "Changement de référent"
        NOTE = "note", "Note"
        EVALUATION = "evaluation", "Évaluation globale"
        OBJECTIVE = "objective", "Plan d'aide"
        ENTRETIEN = "entretien", "Entretien"
        ORIENTATION = "orientation", "Orientation"
        DISPOSITIF = "dispositif", "Dispositif"
        CONSENT = "consent", "Consentement"
        DOCUMENT = "document", "Document"
        CLOSED = "closed", "Clôture"
        REOPENED = "reopened", "Réouverture"
        SHARE = "share", "Partage"
        CELLULE = "cellule", "Cellule PDP"
        COLLECTIVE = "collective", "Action collective"

    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name="accompagnement",
    )
    at = models.DateTimeField("date", default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="auteur",
    )
    kind = models.CharField("type", max_length=12, choices=Kind.choices)
    summary = models.CharField("résumé", max_length=255)
    detail = models.TextField("détail", blank=True, max_length=TEXT_MAX_LENGTH)
    changes = models.JSONField("changements", default=dict, blank=True)

    class Meta:
        verbose_name = "événement"
        ordering = ["-at", "-pk"]

    def __str__(self):
        return self.summary


class RiskLevel(models.TextChoices):
    FAIBLE = "faible", "Faible"
    MODERE = "modere", "Modéré"
    ELEVE = "eleve", "Élevé"


class EvaluationGlobale(models.Model):
    """A versioned assessment. Health appears only as constraints, never as a diagnosis."""

    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="evaluations",
        verbose_name="accompagnement",
    )
    version = models.PositiveSmallIntegerField("version")
    contraintes_sante = models.TextField(
        "contraintes de santé et limitations fonctionnelles",
        blank=True,
        help_text="Jamais de diagnostic : seulement les contraintes et limitations.",
        max_length=TEXT_MAX_LENGTH,
    )
    emploi = models.TextField(
        "emploi (poste, relation avec l'employeur, contrat)", blank=True, max_length=TEXT_MAX_LENGTH
    )
    droits = models.TextField(
        "droits (IJ, RQTH, invalidité…)", blank=True, max_length=TEXT_MAX_LENGTH
    )
    ressources = models.TextField(
        "ressources et difficultés financières", blank=True, max_length=TEXT_MAX_LENGTH
    )
    vie_sociale = models.TextField(
        "vie familiale et relations sociales", blank=True, max_length=TEXT_MAX_LENGTH
    )
    logement = models.TextField("logement", blank=True, max_length=TEXT_MAX_LENGTH)
    competences = models.TextField(
        "compétences et potentiel", blank=True, max_length=TEXT_MAX_LENGTH
    )
    freins = models.TextField("freins", blank=True, max_length=TEXT_MAX_LENGTH)
    niveau_risque = models.CharField(
        "risque de désinsertion", max_length=10, choices=RiskLevel.choices
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="auteur"
    )
    created_at = models.DateTimeField("date", auto_now_add=True)

    class Meta:
        verbose_name = "évaluation globale"
        verbose_name_plural = "évaluations globales"
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["accompagnement", "version"], name="evaluation_unique_version"
            ),
        ]

    def __str__(self):
        return f"Évaluation globale v{self.version}"


class Domaine(models.TextChoices):
    SANTE = "sante", "Santé et soins"
    EMPLOI = "emploi", "Emploi et maintien"
    FORMATION = "formation", "Formation et reconversion"
    DROITS = "droits", "Accès aux droits"
    RESSOURCES = "ressources", "Ressources"
    LOGEMENT = "logement", "Logement"
    VIE_SOCIALE = "vie_sociale", "Vie familiale et sociale"


class ObjectifStatut(models.TextChoices):
    EN_COURS = "en_cours", "En cours"
    ATTEINT = "atteint", "Atteint"
    ABANDONNE = "abandonne", "Abandonné"
    REVISE = "revise", "Révisé"


class Objectif(models.Model):
    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="objectifs",
        verbose_name="accompagnement",
    )
    domaine = models.CharField("domaine", max_length=15, choices=Domaine.choices)
    libelle = models.CharField("objectif", max_length=255)
    echeance = models.DateField("échéance", null=True, blank=True)
    statut = models.CharField(
        "statut", max_length=10, choices=ObjectifStatut.choices, default=ObjectifStatut.EN_COURS
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        verbose_name = "objectif"
        ordering = ["echeance", "pk"]

    def __str__(self):
        return self.libelle


class Action(models.Model):
    objectif = models.ForeignKey(
        Objectif, on_delete=models.CASCADE, related_name="actions", verbose_name="objectif"
    )
    libelle = models.CharField("action", max_length=255)
    porteur = models.CharField(
        "qui", max_length=120, blank=True, help_text="L'assuré, l'ASS, un partenaire…"
    )
    echeance = models.DateField("échéance", null=True, blank=True)
    faite = models.BooleanField("réalisée", default=False)

    class Meta:
        verbose_name = "action"
        ordering = ["echeance", "pk"]

    def __str__(self):
        return self.libelle


class Entretien(models.Model):
    Mode = ModeRencontre  # one list with the first meeting proposed on a referral

    class Statut(models.TextChoices):
        PLANIFIE = "planifie", "Planifié"
        REALISE = "realise", "Réalisé"
        ANNULE = "annule", "Annulé"
        ABSENT = "absent", "Absent"

    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="entretiens",
        verbose_name="accompagnement",
    )
    debut = models.DateTimeField("date et heure")
    duree_minutes = models.PositiveSmallIntegerField("durée (minutes)", default=60)
    ass = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="entretiens",
        verbose_name="ASS",
    )
    mode = models.CharField("modalité", max_length=12, choices=Mode.choices)
    statut = models.CharField(
        "statut", max_length=10, choices=Statut.choices, default=Statut.PLANIFIE
    )
    note = models.TextField("note", blank=True, max_length=TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = "entretien"
        ordering = ["debut"]
        indexes = [
            models.Index(fields=["ass", "debut"]),
            # The indicators: meetings of a period, a case's first meeting and its count.
            models.Index(fields=["debut"]),
            models.Index(fields=["accompagnement", "debut"]),
        ]

    def __str__(self):
        return f"Entretien du {timezone.localtime(self.debut):%d/%m/%Y %H:%M}"


class Orientation(models.Model):
    class Statut(models.TextChoices):
        PROPOSEE = "proposee", "Proposée"
        ENVOYEE = "envoyee", "Envoyée"
        PRISE_EN_CHARGE = "prise_en_charge", "Prise en charge"
        SANS_SUITE = "sans_suite", "Sans suite"

    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="orientations",
        verbose_name="accompagnement",
    )
    partner_kind = models.CharField("vers", max_length=20, choices=PartnerKind.choices)
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, verbose_name="partenaire"
    )
    motif = models.TextField("motif", max_length=TEXT_MAX_LENGTH)
    accord_assure = models.BooleanField("accord de l'assuré", default=False)
    date_orientation = models.DateField("date", default=timezone.localdate)
    statut = models.CharField(
        "statut", max_length=16, choices=Statut.choices, default=Statut.PROPOSEE
    )
    suivi = models.TextField("suivi", blank=True, max_length=TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = "orientation"
        ordering = ["-date_orientation"]
        constraints = [
            models.CheckConstraint(
                condition=Q(accord_assure=True) | Q(statut="proposee"),
                name="orientation_sent_only_with_agreement",
                violation_error_message="Une orientation ne part qu'avec l'accord de l'assuré.",
            ),
        ]

    def __str__(self):
        return f"Orientation vers {self.get_partner_kind_display()}"


class DispositifType(models.Model):
    """The catalogue of schemes (domain §5). Rules live in cases/dispositifs.py by code."""

    class Phase(models.TextChoices):
        PENDANT = "pendant", "Pendant l'arrêt"
        APRES = "apres", "Après l'arrêt"
        REPRISE = "reprise", "À la reprise"
        TOUT = "tout", "À tout moment"

    code = models.SlugField("code", max_length=30, unique=True)
    label = models.CharField("libellé", max_length=120)
    phase = models.CharField("quand", max_length=10, choices=Phase.choices)
    description = models.TextField("contraintes", blank=True, max_length=TEXT_MAX_LENGTH)
    active = models.BooleanField("actif", default=True)

    class Meta:
        verbose_name = "type de dispositif"
        verbose_name_plural = "catalogue des dispositifs"
        ordering = ["label"]

    def __str__(self):
        return self.label


# Essai encadré: jours ouvrables per grant and in all (domain §5); read by cases.dispositifs.
ESSAI_JOURS_PAR_OCTROI = 14
ESSAI_JOURS_MAX = 28


class DispositifStatut(models.TextChoices):
    ENVISAGE = "envisage", "Envisagé"
    DEMANDE = "demande", "Demandé"
    ACCORDE = "accorde", "Accordé"
    EN_COURS = "en_cours", "En cours"
    TERMINE = "termine", "Terminé"
    REFUSE = "refuse", "Refusé"
    ABANDONNE = "abandonne", "Abandonné"


class Inaptitude(models.TextChoices):
    """The condition of a CRPE (domain §5): declared inapte, or at risk of inaptitude."""

    INAPTE = "inapte", "Déclaré inapte"
    RISQUE = "risque", "Risque d'inaptitude"


class DispositifMobilise(models.Model):
    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="dispositifs",
        verbose_name="accompagnement",
    )
    type = models.ForeignKey(DispositifType, on_delete=models.PROTECT, verbose_name="dispositif")
    statut = models.CharField(
        "statut", max_length=10, choices=DispositifStatut.choices, default="envisage"
    )
    date_debut = models.DateField("début", null=True, blank=True)
    date_fin = models.DateField("fin", null=True, blank=True)
    entreprise_accueil = models.CharField("entreprise d'accueil", max_length=200, blank=True)
    entreprise_siret = models.CharField(
        "SIRET de l'entreprise d'accueil", max_length=14, blank=True, validators=[validate_siret]
    )
    chez_employeur = models.BooleanField("dans l'entreprise de l'employeur", default=False)
    prescripteur = models.CharField("prescripteur", max_length=120, blank=True)
    accord_medecin_traitant = models.DateField("accord du médecin traitant", null=True, blank=True)
    accord_medecin_conseil = models.DateField("accord du médecin conseil", null=True, blank=True)
    accord_medecin_travail = models.DateField("accord du médecin du travail", null=True, blank=True)
    autorisation_cpam = models.DateField("autorisation / accord CPAM", null=True, blank=True)
    convention_signee = models.DateField("convention (tripartite) signée", null=True, blank=True)
    renouvellements = models.PositiveSmallIntegerField("renouvellements", default=0)
    # A renewed PMSMP: the end of its first period (the renewal runs from the next day to
    # date_fin); each period lasts one month at most (cases.dispositifs).
    date_fin_initiale = models.DateField("fin de la première période", null=True, blank=True)
    inaptitude = models.CharField(
        "inaptitude", max_length=10, choices=Inaptitude.choices, blank=True
    )
    duree_heures = models.PositiveSmallIntegerField("durée (heures)", null=True, blank=True)
    resultat = models.TextField("résultat", blank=True, max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        verbose_name = "dispositif mobilisé"
        verbose_name_plural = "dispositifs mobilisés"
        ordering = ["-date_debut", "-pk"]
        indexes = [
            models.Index(fields=["date_debut"]),  # the indicators of a period
            # « Dispositifs arrivant à échéance » of the dashboards (`_dispositifs_ending`).
            models.Index(
                fields=["date_fin"],
                condition=Q(statut__in=[DispositifStatut.EN_COURS, DispositifStatut.ACCORDE]),
                name="dispositif_ending_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(date_fin__isnull=True)
                | Q(date_debut__isnull=True)
                | Q(date_fin__gte=F("date_debut")),
                name="dispositif_end_after_start",
                violation_error_message="La fin précède le début.",
            ),
            models.CheckConstraint(
                condition=Q(renouvellements__lte=1),
                name="dispositif_at_most_one_renewal",
                violation_error_message="Un dispositif ne se renouvelle qu'une fois.",
            ),
        ]

    def __str__(self):
        return str(self.type)

    # Essai encadré: jours ouvrables used and allowed, from the (prefetched) periods.
    @property
    def is_essai_encadre(self):
        return self.type.code == "essai_encadre"

    @property
    def jours_ouvrables_utilises(self):
        from pdp.workdays import count_jours_ouvrables

        return sum(count_jours_ouvrables(p.date_debut, p.date_fin) for p in self.periodes.all())

    @property
    def jours_ouvrables_autorises(self):
        """14 for the initial grant, 28 once renewed (domain §5)."""
        return ESSAI_JOURS_MAX if self.renouvellements else ESSAI_JOURS_PAR_OCTROI


class DispositifPeriode(models.Model):
    """A period of an essai encadré (continuous or split), counted in jours ouvrables."""

    dispositif = models.ForeignKey(
        DispositifMobilise,
        on_delete=models.CASCADE,
        related_name="periodes",
        verbose_name="dispositif",
    )
    date_debut = models.DateField("début")
    date_fin = models.DateField("fin")
    renouvellement = models.BooleanField(
        "au titre du renouvellement",
        default=False,
        help_text="Période ajoutée après le renouvellement de l'essai encadré.",
    )

    class Meta:
        verbose_name = "période"
        ordering = ["date_debut"]
        constraints = [
            models.CheckConstraint(
                condition=Q(date_fin__gte=F("date_debut")),
                name="periode_end_after_start",
                violation_error_message="La fin précède le début.",
            ),
        ]

    def __str__(self):
        return f"{self.date_debut:%d/%m/%Y} → {self.date_fin:%d/%m/%Y}"

    @property
    def jours_ouvrables(self):
        from pdp.workdays import count_jours_ouvrables

        return count_jours_ouvrables(self.date_debut, self.date_fin)


class Consentement(models.Model):
    class Portee(models.TextChoices):
        CELLULE_PDP = "cellule_pdp", "Présentation à la cellule PDP"
        MEDECIN_TRAVAIL = "medecin_travail", "Échange avec le médecin du travail"
        SPST = "spst", "Transmission au SPST"
        PARTENAIRES = "partenaires", "Échange avec les partenaires de l'orientation"
        EMPLOYEUR = "employeur", "Contact avec l'employeur"

    assure = models.ForeignKey(
        Assure, on_delete=models.CASCADE, related_name="consentements", verbose_name="assuré"
    )
    portee = models.CharField("portée", max_length=20, choices=Portee.choices)
    date_recueil = models.DateField("recueilli le", default=timezone.localdate)
    date_revocation = models.DateField("révoqué le", null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="recueilli par",
    )

    class Meta:
        verbose_name = "consentement"
        ordering = ["-date_recueil"]
        constraints = [
            models.UniqueConstraint(
                fields=["assure", "portee"],
                condition=Q(date_revocation__isnull=True),
                name="consentement_one_active_per_scope",
                violation_error_message="Ce consentement est déjà recueilli.",
            ),
            models.CheckConstraint(
                condition=Q(date_revocation__isnull=True)
                | Q(date_revocation__gte=F("date_recueil")),
                name="consentement_revoked_after_given",
            ),
        ]

    def __str__(self):
        return self.get_portee_display()

    @property
    def actif(self):
        return self.date_revocation is None


class Outcome(models.TextChoices):
    MAINTIEN_MEME_POSTE = "maintien_poste", "Maintien dans l'emploi – même poste"
    MAINTIEN_POSTE_AMENAGE = "maintien_amenage", "Maintien dans l'emploi – poste aménagé"
    MAINTIEN_AUTRE_POSTE = "maintien_autre_poste", "Maintien dans l'emploi – autre poste"
    MAINTIEN_TPT = "maintien_tpt", "Maintien dans l'emploi – temps partiel thérapeutique"
    EMPLOI_NOUVEL_EMPLOYEUR = "emploi_nouvel_employeur", "Maintien en emploi – nouvel employeur"
    EMPLOI_RECONVERSION = "emploi_reconversion", "Maintien en emploi – reconversion"
    EMPLOI_FORMATION = "emploi_formation", "Maintien en emploi – formation"
    INVALIDITE = "invalidite", "Invalidité"
    INAPTITUDE = "inaptitude", "Inaptitude / licenciement"
    RETRAITE = "retraite", "Retraite"
    REFUS = "refus", "Refus ou abandon"
    PERDU_DE_VUE = "perdu_de_vue", "Perdu de vue"
    DECES = "deces", "Décès"
    AUTRE = "autre", "Autre"


class Cloture(models.Model):
    """One closure of an accompagnement. Reopening keeps it: a case may have several."""

    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="clotures",
        verbose_name="accompagnement",
    )
    outcome = models.CharField("issue", max_length=25, choices=Outcome.choices)
    date_cloture = models.DateField("date de clôture")
    commentaire = models.TextField("commentaire", blank=True, max_length=TEXT_MAX_LENGTH)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="clôturé par",
    )
    created_at = models.DateTimeField("enregistré le", auto_now_add=True)

    class Meta:
        verbose_name = "clôture"
        ordering = ["-date_cloture", "-pk"]
        indexes = [models.Index(fields=["date_cloture"])]  # the indicators of a period
        constraints = [
            models.CheckConstraint(
                condition=~Q(outcome=""),
                name="cloture_requires_outcome",
                violation_error_message="La clôture exige une issue.",
            ),
        ]

    def __str__(self):
        return self.get_outcome_display()


def document_path(instance, filename):
    return f"documents/{instance.accompagnement_id}/{timezone.now():%Y%m%d%H%M%S}_{filename}"


class Document(models.Model):
    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.CASCADE,
        related_name="documents",
        verbose_name="accompagnement",
    )
    fichier = models.FileField("fichier", upload_to=document_path)
    nom = models.CharField("nom", max_length=255)
    content_type = models.CharField("type de fichier", max_length=100)
    taille = models.PositiveIntegerField("taille (octets)")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="déposé par",
    )
    uploaded_at = models.DateTimeField("déposé le", auto_now_add=True)

    class Meta:
        verbose_name = "document"
        ordering = ["-uploaded_at"]

    def __str__(self):
        return self.nom


# --- Self-service booking: opening hours, absences, motifs (issue 10, item 2) ---------------


def _validate_modes(value):
    from django.core.exceptions import ValidationError

    known = set(Entretien.Mode.values)
    if not isinstance(value, list) or any(v not in known for v in value):
        raise ValidationError("Choisissez des modalités parmi celles proposées.")


class Motif(models.Model):
    """Why a person books a meeting (reference data): its length and its booking delays."""

    label = models.CharField("libellé", max_length=120, unique=True)
    modes = models.JSONField(
        "modalités",
        default=list,
        blank=True,
        validators=[_validate_modes],
        help_text="Vide : toutes les modalités.",
    )
    duree_minutes = models.PositiveSmallIntegerField("durée (minutes)", default=60)
    delai_min_heures = models.PositiveSmallIntegerField(
        "délai minimal de réservation (heures)", default=24
    )
    delai_max_jours = models.PositiveSmallIntegerField(
        "délai maximal de réservation (jours)", default=56
    )
    annulable_jusqu_heures = models.PositiveSmallIntegerField(
        "annulable jusqu'à (heures avant)", default=4
    )
    modifiable_jusqu_heures = models.PositiveSmallIntegerField(
        "modifiable jusqu'à (heures avant)", default=48
    )
    active = models.BooleanField("actif", default=True)

    class Meta:
        verbose_name = "motif de rendez-vous"
        verbose_name_plural = "motifs de rendez-vous"
        ordering = ["label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duree_minutes__gte=5) & Q(duree_minutes__lte=480),
                name="motif_duree_between_5_and_480",
            ),
            models.CheckConstraint(
                condition=Q(delai_max_jours__gte=1), name="motif_delai_max_at_least_one_day"
            ),
        ]

    def __str__(self):
        return self.label

    def allows(self, mode):
        return not self.modes or mode is None or mode in self.modes


class PlageOuverture(models.Model):
    """A weekly opening range of one ASS: the hours a person may book with her."""

    ass = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="plages_ouverture",
        verbose_name="ASS",
    )
    weekday = models.PositiveSmallIntegerField(
        "jour",
        choices=[
            (0, "Lundi"),
            (1, "Mardi"),
            (2, "Mercredi"),
            (3, "Jeudi"),
            (4, "Vendredi"),
            (5, "Samedi"),
            (6, "Dimanche"),
        ],
    )
    heure_debut = models.TimeField("de")
    heure_fin = models.TimeField("à")
    lieu = models.CharField("lieu", max_length=200, blank=True)
    modes = models.JSONField("modalités", default=list, validators=[_validate_modes])
    premier_jour = models.DateField("à partir du", default=timezone.localdate)
    dernier_jour = models.DateField("jusqu'au", null=True, blank=True)

    class Meta:
        verbose_name = "plage d'ouverture"
        verbose_name_plural = "plages d'ouverture"
        ordering = ["ass", "weekday", "heure_debut"]
        constraints = [
            models.CheckConstraint(
                condition=Q(heure_fin__gt=F("heure_debut")), name="plage_fin_after_debut"
            ),
            models.CheckConstraint(
                condition=Q(dernier_jour__isnull=True) | Q(dernier_jour__gte=F("premier_jour")),
                name="plage_dernier_jour_after_premier",
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0) & Q(weekday__lte=6), name="plage_weekday_0_to_6"
            ),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.heure_debut:%H:%M}–{self.heure_fin:%H:%M}"

    @property
    def mode_labels(self):
        labels = dict(Entretien.Mode.choices)
        return [labels.get(m, m) for m in self.modes]


class Absence(models.Model):
    """A time an ASS is not available for bookings (leave, training, meeting outside)."""

    ass = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="absences",
        verbose_name="ASS",
    )
    debut = models.DateTimeField("du")
    fin = models.DateTimeField("au")
    motif = models.CharField("motif", max_length=200, blank=True)

    class Meta:
        verbose_name = "absence"
        ordering = ["ass", "debut"]
        indexes = [models.Index(fields=["ass", "fin"])]
        constraints = [
            models.CheckConstraint(condition=Q(fin__gt=F("debut")), name="absence_fin_after_debut")
        ]

    def __str__(self):
        return f"Absence du {timezone.localtime(self.debut):%d/%m/%Y %H:%M}"


# --- Retention (issue 14, item 2) ----------------------------------------------------------


class RetentionNotice(models.Model):
    """A person the retention job (privacy.retention) will anonymise on `due_on`, shown on the
    dashboards of their référent and unit manager. Upserted by the nightly job (dry or wet);
    the row goes when the person has a new contact (next run) or is anonymised (cascade).
    `open_case`: due, but kept while a case is not closed (the job never anonymises it)."""

    assure = models.OneToOneField(
        Assure, on_delete=models.CASCADE, related_name="retention_notice", verbose_name="assuré"
    )
    last_activity = models.DateField("dernier contact")
    warned_on = models.DateField("averti le")
    due_on = models.DateField("anonymisation prévue le")
    open_case = models.BooleanField("accompagnement non clôturé", default=False)
    updated_at = models.DateTimeField("vu le", auto_now=True)

    class Meta:
        verbose_name = "avis d'anonymisation"
        verbose_name_plural = "avis d'anonymisation"
        indexes = [models.Index(fields=["due_on"])]

    def __str__(self):
        return f"Anonymisation de {self.assure_id} le {self.due_on:%d/%m/%Y}"
