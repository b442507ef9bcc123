"""Assurés, arrêts de travail, signalements (referrals), contact attempts, CPAM imports."""

import datetime
import functools
import operator
import re
import unicodedata

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from pdp import permissions
from pdp.identifiers import IdentifierError, nir_clean, nir_format, validate_nir, validate_siret
from pdp.models import TEXT_MAX_LENGTH, CpamOffice, Partner, Region, Role, Unit
from referrals import hooks


class Sexe(models.TextChoices):
    HOMME = "1", "Homme"
    FEMME = "2", "Femme"


class Regime(models.TextChoices):
    GENERAL = "general", "Régime général"
    INDEPENDANT = "independant", "Indépendant"
    AGRICOLE = "agricole", "Agricole (MSA)"


class SituationEmploi(models.TextChoices):
    CDI = "cdi", "CDI"
    CDD = "cdd", "CDD"
    INTERIM = "interim", "Intérim"
    APPRENTI = "apprenti", "Apprenti"
    STAGIAIRE = "stagiaire", "Stagiaire de la formation professionnelle"
    INDEPENDANT = "independant", "Indépendant"
    DEMANDEUR = "demandeur_emploi", "Demandeur d'emploi"


class Canal(models.TextChoices):
    TELEPHONE = "telephone", "Téléphone"
    SMS = "sms", "SMS"
    COURRIER = "courrier", "Courrier"
    EMAIL = "email", "E-mail"
    SUR_PLACE = "sur_place", "Sur place"


class AssureQuerySet(models.QuerySet):
    def visible_to(self, user, *, as_set=False):
        """People with a referral the user sees, or a record of a higher app that makes them
        visible (an accompagnement, registered through `referrals.hooks`).

        One rule, two SQL forms of it, built from the same sources (`visible_assure_ids`):
        by default one `EXISTS` per source correlated on the person, the fastest to check a
        few given rows (a person's page, a list's page); `as_set=True` gives `id IN (source
        UNION source…)`, which PostgreSQL runs once, for filtering many candidates (the search
        by name): a UNION (distinct), not a UNION ALL, so that the planner knows the set's size
        from its sources' and starts from the name index or from the people the user sees,
        whichever is smaller (with UNION ALL it took every set for 200 people; README « Search
        at national volume »). Both give the same people (tests/pdp/test_visibility_forms.py).
        """
        if not user.is_authenticated:
            return self.none()
        sources = visible_assure_ids(user)
        if as_set:
            first, *others = (source.order_by() for source in sources)
            return self.filter(pk__in=first.union(*others) if others else first)
        conditions = (Exists(source.filter(assure_id=OuterRef("pk"))) for source in sources)
        return self.filter(functools.reduce(operator.or_, conditions))


# The keys from the extract's rows to reference tables that are never emptied: the CPAM of an
# assuré and of an arrêt, the import that last wrote an arrêt. They have no database
# constraint (issue 15, item 3): PostgreSQL checked each of them once per row written, about
# 0.27 s per key per 100,000 lines of an import, for rows whose value the import takes from the
# table itself. What the constraint guaranteed is kept another way (README « Performance »,
# « Why the import cannot reach 5 × COPY »): Django applies `on_delete` (PROTECT, SET_NULL)
# whatever the constraint; a CPAM still referenced cannot be deleted in SQL either (trigger
# `pdp_cpamoffice_referenced`, migration 0023); an import holds `FOR KEY SHARE` on the CPAMs
# from its start; a CpamImport is never deleted (read-only admin, kept by retention). The
# person's own keys (arrêt → assuré, referral → arrêt) keep their constraints.
REFERENCE_KEYS_WITHOUT_CONSTRAINT = (
    ("referrals.Assure", "cpam"),
    ("referrals.ArretTravail", "cpam"),
    ("referrals.ArretTravail", "last_import"),
)


def visible_assure_ids(user):
    """The rule of `AssureQuerySet.visible_to`: querysets of the `assure_id` the user sees, one
    per source (the referrals the user sees, then each source a higher app registered)."""
    referrals = Signalement.objects.visible_to(user).values("assure_id")
    return [referrals, *hooks.assure_visibility_sources(user)]


class Assure(models.Model):
    nir = models.CharField("NIR", max_length=15, unique=True, validators=[validate_nir])
    nom_naissance = models.CharField("nom de naissance", max_length=100)
    nom_usage = models.CharField("nom d'usage", max_length=100, blank=True)
    prenoms = models.CharField("prénoms", max_length=150)
    date_naissance = models.DateField("date de naissance", null=True, blank=True)
    sexe = models.CharField("sexe", max_length=1, choices=Sexe.choices, blank=True)
    adresse = models.CharField("adresse", max_length=255, blank=True)
    code_postal = models.CharField("code postal", max_length=5, blank=True)
    commune = models.CharField("commune", max_length=120, blank=True)
    telephone = models.CharField("téléphone", max_length=30, blank=True)
    email = models.EmailField("e-mail", blank=True)
    regime = models.CharField(
        "régime", max_length=20, choices=Regime.choices, default=Regime.GENERAL
    )
    cpam = models.ForeignKey(
        CpamOffice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name="CPAM",
        db_constraint=False,  # see REFERENCE_KEYS_WITHOUT_CONSTRAINT
    )
    situation_emploi = models.CharField(
        "situation d'emploi", max_length=20, choices=SituationEmploi.choices, blank=True
    )
    employeur_nom = models.CharField("employeur", max_length=200, blank=True)
    employeur_siret = models.CharField(
        "SIRET employeur", max_length=14, blank=True, validators=[validate_siret]
    )
    poste = models.CharField("poste occupé", max_length=150, blank=True)
    rqth = models.BooleanField("RQTH", default=False)
    spst = models.ForeignKey(
        Partner,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="service de prévention et de santé au travail",
        db_index=False,  # partial index in Meta: the CPAM import writes it empty
    )
    canal_prefere = models.CharField(
        "canal de contact préféré", max_length=20, choices=Canal.choices, blank=True
    )
    # Opt-out of meeting reminders (outreach.reminders); changed by staff on the person's page
    # or by the person on the public « manage » page (outreach.reminders.assure_reminders_set).
    rappels = models.BooleanField("recevoir les rappels de rendez-vous", default=True)
    # Outreach campaigns (outreach.campaigns): « pas de SMS » makes SMS unusable for the
    # person (no campaign SMS, the channel rules fall back as for a missing mobile); « pas de
    # relance » stops the reminder of an unanswered campaign invitation. Set by staff on the
    # person's page.
    pas_de_sms = models.BooleanField("pas de SMS de campagne", default=False)
    pas_de_relance = models.BooleanField("pas de relance de campagne", default=False)
    # Lower-cased, accent-free "nom prénoms" for search; kept in sync by save(). The search
    # looks for each word anywhere in it (LIKE '%mot%'): served on PostgreSQL by a GIN trigram
    # index made by migration 0019 (not in Meta: SQLite has no GIN), see README « Search at
    # national volume ».
    search_name = models.CharField(
        "nom pour la recherche", max_length=400, editable=False, default=""
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    objects = AssureQuerySet.as_manager()

    class Meta:
        verbose_name = "assuré"
        ordering = ["nom_naissance", "prenoms"]
        indexes = [
            # For SET NULL when a partner is deleted; only the few assurés that have one.
            models.Index(fields=["spst"], condition=Q(spst__isnull=False), name="assure_spst_idx"),
        ]

    def __str__(self):
        return f"{self.nom_affiche} {self.prenoms}"

    def save(self, *args, **kwargs):
        # Whatever the path (services, admin, factories, shell), the NIR is stored normalised:
        # no separators, upper-case 2A / 2B. The CPAM import writes with COPY and normalises
        # each line itself (`pdp.identifiers.nir_normalize`).
        if self.nir:
            self.nir = nir_clean(self.nir)
        self.search_name = build_search_name(self.nom_naissance, self.nom_usage, self.prenoms)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_name"}
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        # Normalised before the validators run, so "2 53 07 2a …" passes the length check.
        if self.nir:
            self.nir = nir_clean(self.nir)
        super().clean_fields(exclude=exclude)

    @property
    def nom_affiche(self):
        return self.nom_usage or self.nom_naissance

    @property
    def nir_groupe(self):
        # Stored NIRs are validated on the way in; a row written otherwise (a script, an old
        # import) still renders, as it is, rather than breaking the page.
        try:
            return nir_format(self.nir)
        except IdentifierError:
            return self.nir


def _latin_fold_table():
    """For the Latin letters (below U+0250): what _fold leaves of each one."""
    table = {}
    for code in range(0x80, 0x250):
        char = chr(code)
        folded = unicodedata.normalize("NFKD", char)
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        if folded != char:
            table[code] = folded
    return table


_LATIN_FOLD = _latin_fold_table()
_BEYOND_LATIN = re.compile("[^\x00-\u024f]")


def build_search_name(*parts):
    """The non-empty parts, each decomposed (NFKD) without its combining marks (accents) and
    lower-cased, joined by spaces: "nom prénoms" for the search."""
    return " ".join(part.lower() if part.isascii() else _fold(part) for part in parts if part)


@functools.lru_cache(maxsize=4096)
def _fold(text):
    """Names repeat (the CPAM import computes one per new person): cached. Latin text goes
    through a table made with the same rule character by character, which gives the same
    result (decomposing and dropping marks never reach across characters)."""
    if not _BEYOND_LATIN.search(text):
        return text.translate(_LATIN_FOLD).lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


class TypeArret(models.TextChoices):
    MALADIE = "MAL", "Maladie"
    AT = "AT", "Accident du travail"
    MP = "MP", "Maladie professionnelle"


class ArretTravail(models.Model):
    """One sick-leave episode; covers its prolongations. Identified by (assuré, start date)."""

    # Not indexed alone: the unique (assure, date_debut) constraint's index starts with it.
    assure = models.ForeignKey(
        Assure,
        on_delete=models.CASCADE,
        related_name="arrets",
        verbose_name="assuré",
        db_index=False,
    )
    type_arret = models.CharField("type", max_length=3, choices=TypeArret.choices)
    date_debut = models.DateField("début")
    date_fin_prevue = models.DateField("fin prévue")
    date_fin_reelle = models.DateField("fin réelle (reprise)", null=True, blank=True)
    montant_ij = models.DecimalField(
        "montant IJ (€/jour)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    cpam = models.ForeignKey(
        CpamOffice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name="CPAM",
        db_constraint=False,  # see REFERENCE_KEYS_WITHOUT_CONSTRAINT
    )
    last_import = models.ForeignKey(
        "referrals.CpamImport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="dernier import",
        db_index=False,  # no query looks arrêts up by import; each import writes it
        db_constraint=False,  # see REFERENCE_KEYS_WITHOUT_CONSTRAINT
    )
    # An older extract never changes an episode that a newer one changed (the CPAM import).
    extract_date = models.DateField(
        "date de l'extrait",
        null=True,
        blank=True,
        help_text="Date de l'extrait CPAM qui a créé ou modifié l'arrêt en dernier.",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "arrêt de travail"
        verbose_name_plural = "arrêts de travail"
        ordering = ["-date_debut"]
        constraints = [
            models.UniqueConstraint(
                fields=["assure", "date_debut"],
                name="arret_unique_per_assure_start",
                violation_error_message="Cet arrêt existe déjà pour cette personne.",
            ),
            models.CheckConstraint(
                condition=Q(date_fin_prevue__gte=F("date_debut")),
                name="arret_expected_end_after_start",
                violation_error_message="La fin prévue précède le début de l'arrêt.",
            ),
            models.CheckConstraint(
                condition=Q(date_fin_reelle__isnull=True) | Q(date_fin_reelle__gte=F("date_debut")),
                name="arret_actual_end_after_start",
                violation_error_message="La fin réelle précède le début de l'arrêt.",
            ),
        ]
        indexes = [
            # The detection scan (referrals.detection) reads the arrêts ongoing on a day: last
            # known end on or after it, started early enough. Same expression as in its SQL.
            models.Index(
                Coalesce("date_fin_reelle", "date_fin_prevue"),
                F("date_debut"),
                name="arret_ongoing_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_type_arret_display()} du {self.date_debut:%d/%m/%Y}"

    @property
    def date_fin(self):
        """Last known end: the actual end if known, else the expected one."""
        return self.date_fin_reelle or self.date_fin_prevue

    def duree_au(self, day=None):
        """Duration on day D = D − start + 1, capped at the last known end."""
        day = day or timezone.localdate()
        last = min(day, self.date_fin)
        return max((last - self.date_debut).days + 1, 0)

    def is_ongoing(self, day=None):
        day = day or timezone.localdate()
        return self.date_debut <= day <= self.date_fin


class Service(models.TextChoices):
    SOCIAL = "social", "Service social"
    MEDICAL = "medical", "Service médical"


class Origine(models.TextChoices):
    SEUIL_CPAM = "seuil_cpam", "Seuil de durée (CPAM)"
    MEDECIN_CONSEIL = "medecin_conseil", "Médecin conseil / service médical"
    SPST = "spst", "SPST / médecin du travail"
    MEDECIN_TRAITANT = "medecin_traitant", "Médecin traitant"
    ASSURE = "assure", "L'assuré directement"
    CAP_EMPLOI = "cap_emploi", "Cap emploi"
    MDPH = "mdph", "MDPH"
    PARTENAIRE = "partenaire", "Autre partenaire"
    CAMPAGNE = "campagne", "Réponse à une campagne"
    WEBINAIRE = "webinaire", "Webinaire"


class Statut(models.TextChoices):
    NOUVEAU = "nouveau", "Nouveau"
    A_CONTACTER = "a_contacter", "À contacter"
    CONTACT_EN_COURS = "contact_en_cours", "Contact en cours"
    RENCONTRE_PROPOSEE = "rencontre_proposee", "Rencontre proposée"
    ACCOMPAGNEMENT_OUVERT = "accompagnement_ouvert", "Accompagnement ouvert"
    REFUS = "refus", "Refus de l'assuré"
    SANS_REPONSE = "sans_reponse", "Sans réponse"
    HORS_CRITERES = "hors_criteres", "Hors critères"
    DOUBLON = "doublon", "Doublon"
    # Service médical only.
    TRANSMIS = "transmis", "Transmis au service social"
    CLASSE = "classe", "Classé sans suite"


OPEN_STATUSES = (
    Statut.NOUVEAU,
    Statut.A_CONTACTER,
    Statut.CONTACT_EN_COURS,
    Statut.RENCONTRE_PROPOSEE,
)


class DecisionTpt(models.TextChoices):
    """The médecin conseil's decision on a temps partiel thérapeutique (domain §2, §5)."""

    ACCORDE = "accorde", "Accordé"
    REFUSE = "refuse", "Refusé"


class ModeRencontre(models.TextChoices):
    """How a meeting takes place; shared by the first meeting proposed on a referral and the
    entretiens of a case (`cases.models.Entretien.Mode`)."""

    SUR_PLACE = "sur_place", "Consultation sociale sur site"
    DOMICILE = "domicile", "Visite à domicile"
    TELEPHONE = "telephone", "Téléphone"
    VISIO = "visio", "Web-entretien"


class SignalementQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Unit staff: their unit's referrals; the manager also the region's « à répartir »
        queue; the médecin conseil: the region's service médical referrals. Nobody else sees an
        individual referral (regional staff and coordinators see aggregates, administrators use
        the read-only Django admin)."""
        if permissions.in_unit(user):
            mine = self.filter(unit_id=user.unit_id)
            if user.role == Role.MANAGER:
                queue = self.filter(
                    unit__isnull=True,
                    service=Service.SOCIAL,
                    region_id=user.unit.region_id,
                )
                return mine | queue
            return mine
        if permissions.is_medecin(user):
            return self.filter(service=Service.MEDICAL, region_id=user.region_id)
        return self.none()

    def open(self):
        return self.filter(statut__in=OPEN_STATUSES)

    def overdue(self, day=None):
        day = day or timezone.localdate()
        return self.open().filter(date_echeance__lt=day)


class Signalement(models.Model):
    assure = models.ForeignKey(
        Assure, on_delete=models.CASCADE, related_name="signalements", verbose_name="assuré"
    )
    # arret, unit and assigned_to are not indexed alone: the unique (arret, service) constraint
    # and the (unit, statut) and (assigned_to, statut) indexes start with them.
    arret = models.ForeignKey(
        ArretTravail,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signalements",
        verbose_name="arrêt",
        db_index=False,
    )
    service = models.CharField("service", max_length=10, choices=Service.choices)
    origine = models.CharField("origine", max_length=20, choices=Origine.choices)
    # The region whose thresholds and staff the referral belongs to, set once at creation
    # (the arrêt's CPAM, else the person's, else the routed unit's, else the creator's): the
    # médecin conseil's list and the regional « à répartir » queue are scoped by it, so a
    # referral is never visible to nobody.
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="signalements",
        verbose_name="région",
    )
    date_signalement = models.DateField("date du signalement", default=timezone.localdate)
    statut = models.CharField(
        "statut", max_length=25, choices=Statut.choices, default=Statut.NOUVEAU, db_index=True
    )
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signalements",
        verbose_name="unité",
        help_text="Vide : file régionale « à répartir ».",
        db_index=False,
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signalements",
        verbose_name="attribué à",
        db_index=False,
    )
    date_echeance = models.DateField("échéance du premier contact", null=True, blank=True)
    motif = models.TextField(
        "motif",
        blank=True,
        help_text="Sans aucun diagnostic ni information médicale.",
        max_length=TEXT_MAX_LENGTH,
    )
    forwarded_from = models.OneToOneField(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="forwarded_to",
        verbose_name="transmis depuis",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="créé par",
    )
    # The first meeting a conseiller proposed when handing the referral over to an ASS
    # (`referrals.services.signalement_hand_over`); it becomes a planned entretien when the
    # case is opened. All empty, or all set (constraint). Nullable, with database defaults,
    # because the detection job inserts referrals in SQL without these columns.
    rdv_debut = models.DateTimeField("premier rendez-vous proposé le", null=True, blank=True)
    rdv_duree_minutes = models.PositiveSmallIntegerField(
        "durée du premier rendez-vous (minutes)", null=True, blank=True
    )
    rdv_mode = models.CharField(
        "modalité du premier rendez-vous",
        max_length=12,
        choices=ModeRencontre.choices,
        blank=True,
        default="",
        db_default="",
    )
    rdv_ass = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="ASS du premier rendez-vous",
        db_index=False,  # partial index in Meta: only the few referrals that have one
    )
    rdv_par = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="premier rendez-vous proposé par",
        db_index=False,  # partial index in Meta
    )
    # What the médecin conseil records on a service médical referral (domain §2), never a
    # diagnosis: a visite de pré-reprise requested, a temps partiel thérapeutique decision
    # (`referrals.services.signalement_record_medical`). The dispositif rules of the person's
    # case read them (`cases.dispositifs`). Database defaults: the detection job inserts
    # referrals in SQL without these columns.
    visite_pre_reprise_demandee_le = models.DateField(
        "visite de pré-reprise demandée le", null=True, blank=True
    )
    tpt_decision = models.CharField(
        "décision de temps partiel thérapeutique",
        max_length=10,
        choices=DecisionTpt.choices,
        blank=True,
        default="",
        db_default="",
    )
    tpt_decision_le = models.DateField(
        "temps partiel thérapeutique décidé le", null=True, blank=True
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    objects = SignalementQuerySet.as_manager()

    class Meta:
        verbose_name = "signalement"
        ordering = ["date_echeance", "-date_signalement"]
        constraints = [
            models.UniqueConstraint(
                fields=["arret", "service"],
                condition=Q(arret__isnull=False),
                name="signalement_once_per_arret_and_service",
                violation_error_message="Un signalement existe déjà pour cet arrêt et ce service.",
            ),
            models.UniqueConstraint(
                fields=["assure"],
                condition=Q(service="social", statut__in=[s.value for s in OPEN_STATUSES]),
                name="signalement_one_open_social_per_assure",
                violation_error_message=(
                    "Un signalement au service social est déjà en cours pour cette personne."
                ),
            ),
            models.CheckConstraint(
                condition=Q(service="medical") | ~Q(statut__in=["transmis", "classe"]),
                name="signalement_medical_statuses_only_medical",
            ),
            models.CheckConstraint(
                condition=Q(
                    rdv_debut__isnull=True,
                    rdv_ass__isnull=True,
                    rdv_duree_minutes__isnull=True,
                    rdv_mode="",
                )
                | (
                    Q(
                        rdv_debut__isnull=False,
                        rdv_ass__isnull=False,
                        rdv_duree_minutes__isnull=False,
                    )
                    & ~Q(rdv_mode="")
                ),
                name="signalement_rdv_complete_or_empty",
                violation_error_message="Le premier rendez-vous proposé est incomplet.",
            ),
            models.CheckConstraint(
                condition=Q(tpt_decision="", tpt_decision_le__isnull=True)
                | (~Q(tpt_decision="") & Q(tpt_decision_le__isnull=False)),
                name="signalement_tpt_decision_dated",
                violation_error_message="Une décision de temps partiel thérapeutique est datée.",
            ),
            models.CheckConstraint(
                condition=Q(service="medical")
                | Q(visite_pre_reprise_demandee_le__isnull=True, tpt_decision=""),
                name="signalement_medical_decisions_only_medical",
                violation_error_message=(
                    "Seul un signalement du service médical porte les décisions du médecin conseil."
                ),
            ),
        ]
        indexes = [
            # The unit's lists, and the people the unit sees (`Assure.objects.visible_to`, set
            # form): the person is in the index, so that set is read without the table.
            models.Index(
                fields=["unit", "statut"], include=["assure"], name="signalement_unit_idx"
            ),
            models.Index(fields=["assigned_to", "statut"]),
            models.Index(fields=["date_signalement"]),  # the indicators of a period
            # An ASS's proposed first meetings: her agenda and the overlap checks.
            models.Index(
                fields=["rdv_ass", "rdv_debut"],
                condition=Q(rdv_ass__isnull=False),
                name="signalement_rdv_ass_idx",
            ),
            models.Index(
                fields=["rdv_par"],
                condition=Q(rdv_par__isnull=False),
                name="signalement_rdv_par_idx",
            ),
        ]

    def __str__(self):
        return f"Signalement {self.get_service_display().lower()} – {self.assure}"

    @property
    def is_open(self):
        return self.statut in OPEN_STATUSES

    @property
    def is_overdue(self):
        return self.is_open and self.date_echeance and self.date_echeance < timezone.localdate()

    @property
    def has_medical_decisions(self):
        return bool(self.visite_pre_reprise_demandee_le or self.tpt_decision)

    @property
    def rdv_fin(self):
        if self.rdv_debut is None:
            return None
        return self.rdv_debut + datetime.timedelta(minutes=self.rdv_duree_minutes)


class SignalementEvent(models.Model):
    """Status transitions, assignments and forwards of a referral: who, when, why."""

    class Kind(models.TextChoices):
        CREATED = "created", "Création"
        STATUS = "status", "Changement de statut"
        ASSIGNED = "assigned", "Attribution"
        CONTACT = "contact", "Tentative de contact"
        FORWARDED = "forwarded", "Transmission"
        MEDICAL = "medical", "Décision du médecin conseil"

    signalement = models.ForeignKey(
        Signalement, on_delete=models.CASCADE, related_name="events", verbose_name="signalement"
    )
    at = models.DateTimeField("date", default=timezone.now)
    # Indexed only where set (Meta): the detection writes millions of events without an actor.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="auteur",
        db_index=False,
    )
    kind = models.CharField("type", max_length=12, choices=Kind.choices)
    old_value = models.CharField("ancienne valeur", max_length=100, blank=True)
    new_value = models.CharField("nouvelle valeur", max_length=100, blank=True)
    reason = models.TextField("motif", blank=True, max_length=TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = "événement de signalement"
        verbose_name_plural = "événements de signalement"
        ordering = ["at", "pk"]
        indexes = [
            # The lookups by actor (a user's deletion) never look for NULL.
            models.Index(
                fields=["actor"], condition=Q(actor__isnull=False), name="sigevent_actor_set_idx"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.old_value} → {self.new_value}"


class ContactAttempt(models.Model):
    class Resultat(models.TextChoices):
        JOINT = "joint", "Personne jointe"
        PAS_DE_REPONSE = "pas_de_reponse", "Pas de réponse"
        MESSAGE = "message", "Message laissé"
        NUMERO_ERRONE = "numero_errone", "Coordonnées erronées"
        REFUS = "refus", "Refus"

    signalement = models.ForeignKey(
        Signalement,
        on_delete=models.CASCADE,
        related_name="contact_attempts",
        verbose_name="signalement",
    )
    at = models.DateTimeField("date", default=timezone.now)
    canal = models.CharField("canal", max_length=20, choices=Canal.choices)
    resultat = models.CharField("résultat", max_length=20, choices=Resultat.choices)
    note = models.TextField("note", blank=True, max_length=TEXT_MAX_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="auteur",
    )

    class Meta:
        verbose_name = "tentative de contact"
        verbose_name_plural = "tentatives de contact"
        ordering = ["-at"]
        # A referral's first attempt (the delay indicators).
        indexes = [models.Index(fields=["signalement", "at"])]

    def __str__(self):
        return f"{self.get_canal_display()} – {self.get_resultat_display()}"


class CpamImport(models.Model):
    """One CPAM extract import. An upload is stored and waits « en attente » for the worker
    (``referrals.importer.jobs``); the command and dry runs import at once."""

    class Status(models.TextChoices):
        PENDING = "pending", "En attente"
        PROCESSED = "processed", "Traité"
        REFUSED = "refused", "Refusé"
        FAILED = "failed", "Échec"
        DRY_RUN = "dry_run", "Simulation"

    file_name = models.CharField("fichier", max_length=255)
    cpam = models.ForeignKey(
        CpamOffice, on_delete=models.PROTECT, null=True, blank=True, verbose_name="CPAM"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="importé par",
    )
    created_at = models.DateTimeField("date", auto_now_add=True)
    extract_date = models.DateField(
        "date de l'extrait",
        default=timezone.localdate,
        help_text="Date à laquelle la CPAM a produit l'extrait (par défaut, le jour de l'import).",
    )
    status = models.CharField("statut", max_length=10, choices=Status.choices)
    message = models.TextField("message", blank=True, max_length=TEXT_MAX_LENGTH)
    rows_read = models.PositiveIntegerField("lignes lues", default=0)
    rows_created = models.PositiveIntegerField("arrêts créés", default=0)
    rows_updated = models.PositiveIntegerField("arrêts mis à jour", default=0)
    rows_unchanged = models.PositiveIntegerField("arrêts inchangés", default=0)
    rows_ignored_older = models.PositiveIntegerField(
        "lignes ignorées\u00a0: extrait plus ancien",
        default=0,
        help_text=(
            "Lignes d'un arrêt qu'un extrait plus récent a déjà modifié\u00a0: rien n'a changé."
        ),
    )
    rows_rejected = models.PositiveIntegerField("lignes rejetées", default=0)
    # An upload imported by the worker: the SHA-256 of its content (two uploads of the same
    # file cannot wait at once), where it waits under PRIVATE_MEDIA_ROOT (cleared once the
    # import is over and the file deleted) and its number of lines (for the progress bar).
    sha256 = models.CharField("empreinte SHA-256", max_length=64, blank=True, editable=False)
    stored_file = models.CharField("fichier en attente", max_length=255, blank=True)
    lines_total = models.PositiveIntegerField("lignes du fichier", null=True, blank=True)

    class Meta:
        verbose_name = "import CPAM"
        verbose_name_plural = "imports CPAM"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"],
                condition=models.Q(status="pending") & ~models.Q(sha256=""),
                name="cpam_import_one_pending_per_file",
            ),
        ]

    def __str__(self):
        return f"{self.file_name} ({self.created_at:%d/%m/%Y})"


class CpamImportCaisse(models.Model):
    """A caisse present in an import's file, with its number of lines (whatever their
    outcome; lines of an unknown code are rejected and not counted here)."""

    cpam_import = models.ForeignKey(
        CpamImport, on_delete=models.CASCADE, related_name="caisses", verbose_name="import"
    )
    cpam = models.ForeignKey(
        CpamOffice, on_delete=models.PROTECT, related_name="+", verbose_name="CPAM"
    )
    line_count = models.PositiveIntegerField("lignes")

    class Meta:
        verbose_name = "caisse d'un import"
        verbose_name_plural = "caisses d'un import"
        constraints = [
            models.UniqueConstraint(
                fields=["cpam_import", "cpam"], name="cpam_import_caisse_unique"
            ),
        ]

    def __str__(self):
        return f"{self.cpam} : {self.line_count} ligne(s)"


class ImportRejection(models.Model):
    cpam_import = models.ForeignKey(
        CpamImport, on_delete=models.CASCADE, related_name="rejections", verbose_name="import"
    )
    line_number = models.PositiveIntegerField("ligne")
    reason = models.TextField("motif", max_length=TEXT_MAX_LENGTH)
    raw_line = models.TextField("contenu", blank=True, max_length=TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = "ligne rejetée"
        verbose_name_plural = "lignes rejetées"
        ordering = ["line_number"]

    def __str__(self):
        return f"ligne {self.line_number} : {self.reason}"


class DetectionRun(models.Model):
    """One run of the threshold detection for one region (`referrals.detection.scan_arrets`):
    the nightly job writes one per region, a manager's « Lancer la détection » one for theirs.
    `launched_by` empty = the scheduled job (« planifiée »)."""

    class Status(models.TextChoices):
        RUNNING = "en_cours", "En cours"
        DONE = "termine", "Terminé"
        FAILED = "echec", "Échec"

    day = models.DateField("jour analysé")
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="detection_runs", verbose_name="région"
    )
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="lancée par",
        help_text="Vide : détection planifiée.",
    )
    started_at = models.DateTimeField("début", default=timezone.now)
    finished_at = models.DateTimeField("fin", null=True, blank=True)
    status = models.CharField(
        "statut", max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    message = models.TextField("message", blank=True, max_length=TEXT_MAX_LENGTH)
    arrets_examines = models.PositiveIntegerField("arrêts examinés", default=0)
    sans_cpam = models.PositiveIntegerField("arrêts ignorés faute de CPAM", default=0)
    medical = models.PositiveIntegerField("signalements au service médical", default=0)
    social = models.PositiveIntegerField("signalements au service social", default=0)
    attribues_auto = models.PositiveIntegerField("attribués automatiquement", default=0)
    a_repartir = models.PositiveIntegerField("laissés à répartir", default=0)

    class Meta:
        verbose_name = "détection"
        verbose_name_plural = "détections"
        ordering = ["-started_at", "-pk"]
        indexes = [
            # The inbox shows the last run of the user's region.
            models.Index(fields=["region", "-started_at"], name="detectionrun_region_last_idx"),
        ]

    def __str__(self):
        return f"Détection du {self.day:%d/%m/%Y} – {self.region}"

    @property
    def created(self):
        return self.medical + self.social

    @property
    def duration(self):
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def summary(self):
        """What the run did, in French (the inbox's « Dernière détection »)."""
        if self.status == self.Status.RUNNING:
            return "en cours…"
        if self.status == self.Status.FAILED:
            return (
                "échec, aucun signalement créé\N{NO-BREAK SPACE}: relancez la détection ou "
                "prévenez l'administrateur."
            )
        text = (
            f"{_count(self.created, 'signalement créé', 'signalements créés')} "
            f"({self.social} au service social, {self.medical} au service médical), "
            f"{_count(self.attribues_auto, 'attribué', 'attribués')} automatiquement, "
            f"{self.a_repartir} à répartir, "
            f"sur {_count(self.arrets_examines, 'arrêt examiné', 'arrêts examinés')}"
        )
        if self.sans_cpam:
            text += f" (dont {_count(self.sans_cpam, 'ignoré', 'ignorés')} faute de CPAM)"
        return text + "."


def _count(n, singular, plural):
    return f"{n} {singular if n <= 1 else plural}"
