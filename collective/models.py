"""Collective actions of the service social (domain §5 and §8, issue 11): ISIC groups, regional
webinars, information meetings.

- `ActionType` holds the rules of each type as data (minimum number of sessions, whether the
  unit and the region must validate, public registration by code, end-of-action questionnaire).
- `ActionCollective` goes projet → validée par l'unité → validée par la région → publiée →
  en cours → terminée | annulée (`ActionStatus`); each validation asked for is a `Validation`
  row (demandée / approuvée / refusée, who, when, comment).
- `Participant`: a person in an action — added by an ASS from one of the unit's
  accompagnements (with the person's agreement recorded) or registered with an access code
  (webinar invitation). Its status is a `ParticipantStatus` row (data, like CiviCRM's status
  types): a class and whether it counts against capacity. `ActionCollective.places_prises`
  is the count of counted participants, kept by the services with a conditional update
  (`places_prises < capacite`) and checked by the database; participants never see each other.
- `Seance` (date, place or visio link) and `Presence` per session and participant (présent,
  excusé, absent).
- `ActionEvent`: one row per state change, for the action's history.

The themes (« Cancer et travail »…) say something about health: the participants of an action
are seen only by its animateurs and the managers of its unit (services and permissions), never
in the public pages, which name the action's type and date only.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from cases.models import Accompagnement
from pdp.models import TEXT_MAX_LENGTH, PartnerContact, Region, Unit
from referrals.models import Assure


class ActionType(models.Model):
    """A kind of collective action and its rules (data: a region may add one)."""

    code = models.SlugField("code", max_length=30, unique=True)
    label = models.CharField("libellé", max_length=100)
    min_seances = models.PositiveSmallIntegerField("nombre minimal de séances", default=1)
    validation_unite = models.BooleanField("validation de l'unité requise", default=False)
    validation_region = models.BooleanField("validation régionale requise", default=False)
    inscription_par_code = models.BooleanField(
        "inscription par la personne avec un code (invitation)", default=False
    )
    questionnaire_fin = models.BooleanField("questionnaire de fin d'action", default=False)
    actif = models.BooleanField("actif", default=True)

    class Meta:
        verbose_name = "type d'action collective"
        verbose_name_plural = "types d'action collective"
        ordering = ["label"]

    def __str__(self):
        return self.label


class Theme(models.Model):
    label = models.CharField("libellé", max_length=120, unique=True)
    actif = models.BooleanField("actif", default=True)

    class Meta:
        verbose_name = "thème d'action collective"
        verbose_name_plural = "thèmes d'action collective"
        ordering = ["label"]

    def __str__(self):
        return self.label


class ActionStatus(models.TextChoices):
    PROJET = "projet", "Projet"
    VALIDEE_UNITE = "validee_unite", "Validée par l'unité"
    VALIDEE_REGION = "validee_region", "Validée par la région"
    PUBLIEE = "publiee", "Publiée"
    EN_COURS = "en_cours", "En cours"
    TERMINEE = "terminee", "Terminée"
    ANNULEE = "annulee", "Annulée"


class ActionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff of the action's region see it (the calendar); participants are checked
        separately (`collective.permissions`)."""
        region_id = user.effective_region_id() if user.is_authenticated else None
        if region_id is None:  # unit staff have a unit, not a region of their own
            return self.none()
        return self.filter(region_id=region_id)


class ActionCollective(models.Model):
    type = models.ForeignKey(
        ActionType, on_delete=models.PROTECT, related_name="actions", verbose_name="type"
    )
    theme = models.ForeignKey(
        Theme,
        on_delete=models.PROTECT,
        related_name="actions",
        verbose_name="thème",
        null=True,
        blank=True,
    )
    titre = models.CharField("titre", max_length=200)
    description = models.TextField(
        "présentation (visible des personnes invitées)", blank=True, max_length=TEXT_MAX_LENGTH
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="collective_actions", verbose_name="région"
    )
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        related_name="collective_actions",
        verbose_name="unité",
        null=True,
        blank=True,
        help_text="Vide pour une action régionale (webinaire).",
    )
    animateur = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="collective_actions_led",
        verbose_name="animateur·rice",
    )
    co_animateurs = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="collective_actions_co_led",
        verbose_name="co-animateur·rices",
        blank=True,
    )
    partenaires = models.ManyToManyField(
        PartnerContact,
        related_name="collective_actions",
        verbose_name="partenaires invités",
        blank=True,
    )
    capacite = models.PositiveIntegerField(
        "nombre de places", null=True, blank=True, help_text="Vide : sans limite."
    )
    places_prises = models.PositiveIntegerField("places prises", default=0)
    liste_attente = models.BooleanField("liste d'attente", default=True)
    delai_confirmation_heures = models.PositiveSmallIntegerField(
        "délai pour confirmer une place libérée (heures)", default=48
    )
    inscription_debut = models.DateField("inscriptions à partir du", null=True, blank=True)
    inscription_fin = models.DateField("inscriptions jusqu'au", null=True, blank=True)
    lien_visio = models.URLField("lien de visioconférence", blank=True, max_length=500)
    statut = models.CharField(
        "statut", max_length=20, choices=ActionStatus.choices, default=ActionStatus.PROJET
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="créée par",
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    objects = ActionQuerySet.as_manager()

    class Meta:
        verbose_name = "action collective"
        verbose_name_plural = "actions collectives"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacite__isnull=True) | Q(places_prises__lte=F("capacite")),
                name="collective_action_within_capacity",
                violation_error_message="L'action est complète.",
            ),
            models.CheckConstraint(
                condition=Q(capacite__isnull=True) | Q(capacite__gte=1),
                name="collective_action_capacity_positive",
            ),
            models.CheckConstraint(
                condition=Q(inscription_debut__isnull=True)
                | Q(inscription_fin__isnull=True)
                | Q(inscription_fin__gte=F("inscription_debut")),
                name="collective_action_registration_window",
            ),
        ]
        indexes = [models.Index(fields=["region", "statut"], name="collective_region_status")]

    def __str__(self):
        return f"{self.type} – {self.titre}"


class Seance(models.Model):
    action = models.ForeignKey(
        ActionCollective, on_delete=models.CASCADE, related_name="seances", verbose_name="action"
    )
    debut = models.DateTimeField("début")
    duree_minutes = models.PositiveSmallIntegerField("durée (minutes)", default=120)
    lieu = models.CharField("lieu", max_length=200, blank=True)
    lien_visio = models.URLField("lien de visioconférence", blank=True, max_length=500)

    class Meta:
        verbose_name = "séance"
        ordering = ["debut", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["action", "debut"], name="seance_unique_start"),
            models.CheckConstraint(
                condition=Q(duree_minutes__gte=15) & Q(duree_minutes__lte=600),
                name="seance_duration_range",
            ),
        ]

    def __str__(self):
        return f"Séance du {self.debut:%d/%m/%Y}"


class ValidationLevel(models.TextChoices):
    UNITE = "unite", "Unité"
    REGION = "region", "Région"


class ValidationStatus(models.TextChoices):
    DEMANDEE = "demandee", "Demandée"
    APPROUVEE = "approuvee", "Approuvée"
    REFUSEE = "refusee", "Refusée"


class Validation(models.Model):
    """One request for a validation and its answer (Primero's approvals)."""

    action = models.ForeignKey(
        ActionCollective,
        on_delete=models.CASCADE,
        related_name="validations",
        verbose_name="action",
    )
    niveau = models.CharField("niveau", max_length=10, choices=ValidationLevel.choices)
    statut = models.CharField(
        "statut",
        max_length=10,
        choices=ValidationStatus.choices,
        default=ValidationStatus.DEMANDEE,
    )
    demandee_par = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="demandée par",
    )
    demandee_le = models.DateTimeField("demandée le", auto_now_add=True)
    decidee_par = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="décidée par",
        null=True,
        blank=True,
    )
    decidee_le = models.DateTimeField("décidée le", null=True, blank=True)
    commentaire = models.TextField("commentaire", blank=True, max_length=TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = "validation"
        ordering = ["-demandee_le", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "niveau"],
                condition=Q(statut="demandee"),
                name="validation_one_pending_per_level",
            ),
            models.CheckConstraint(
                condition=Q(statut="demandee", decidee_le__isnull=True)
                | (~Q(statut="demandee") & Q(decidee_le__isnull=False)),
                name="validation_decided_has_date",
            ),
        ]

    def __str__(self):
        return f"Validation {self.get_niveau_display().lower()} – {self.get_statut_display()}"


class StatusClass(models.TextChoices):
    POSITIVE = "positive", "Inscrit·e"
    PENDING = "pending", "En attente de confirmation"
    WAITING = "waiting", "Liste d'attente"
    NEGATIVE = "negative", "Sorti·e"


class ParticipantStatus(models.Model):
    """A participant's status (data): its class and whether it takes a seat."""

    code = models.SlugField("code", max_length=30, unique=True)
    label = models.CharField("libellé", max_length=80)
    classe = models.CharField("classe", max_length=10, choices=StatusClass.choices)
    compte = models.BooleanField("occupe une place", default=False)
    ordre = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        verbose_name = "statut de participation"
        verbose_name_plural = "statuts de participation"
        ordering = ["ordre", "label"]

    def __str__(self):
        return self.label


class ParticipantSource(models.TextChoices):
    ASS = "ass", "Ajouté·e par l'ASS (accompagnement)"
    CODE = "code", "Inscription avec un code (invitation)"


class Participant(models.Model):
    action = models.ForeignKey(
        ActionCollective,
        on_delete=models.CASCADE,
        related_name="participants",
        verbose_name="action",
    )
    assure = models.ForeignKey(
        Assure,
        on_delete=models.PROTECT,
        related_name="collective_participations",
        verbose_name="personne",
    )
    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.PROTECT,
        related_name="collective_participations",
        verbose_name="accompagnement",
        null=True,
        blank=True,
    )
    statut = models.ForeignKey(
        ParticipantStatus, on_delete=models.PROTECT, related_name="+", verbose_name="statut"
    )
    source = models.CharField("origine", max_length=10, choices=ParticipantSource.choices)
    accord_le = models.DateTimeField("accord de la personne recueilli le", null=True, blank=True)
    accord_par = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="accord recueilli par",
        null=True,
        blank=True,
    )
    inscrit_le = models.DateTimeField("inscrit·e le", auto_now_add=True)
    confirmer_avant = models.DateTimeField("place à confirmer avant le", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="ajouté·e par",
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = "participant·e"
        verbose_name_plural = "participant·es"
        ordering = ["inscrit_le", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "assure"], name="participant_once_per_action"
            ),
            models.CheckConstraint(
                condition=~Q(source="ass") | Q(accord_le__isnull=False),
                name="participant_added_by_ass_has_agreement",
            ),
        ]

    def __str__(self):
        return f"{self.assure} – {self.statut}"


class PresenceStatus(models.TextChoices):
    PRESENT = "present", "Présent·e"
    EXCUSE = "excuse", "Absent·e excusé·e"
    ABSENT = "absent", "Absent·e"


class Presence(models.Model):
    seance = models.ForeignKey(
        Seance, on_delete=models.CASCADE, related_name="presences", verbose_name="séance"
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="presences",
        verbose_name="participant·e",
    )
    statut = models.CharField("présence", max_length=10, choices=PresenceStatus.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="saisie par",
        null=True,
        blank=True,
    )
    recorded_at = models.DateTimeField("saisie le", auto_now=True)

    class Meta:
        verbose_name = "présence"
        ordering = ["seance", "participant"]
        constraints = [
            models.UniqueConstraint(fields=["seance", "participant"], name="presence_once"),
        ]

    def __str__(self):
        return self.get_statut_display()


class ActionEvent(models.Model):
    """The history of an action: each state change, validation, session, registration."""

    action = models.ForeignKey(
        ActionCollective, on_delete=models.CASCADE, related_name="events", verbose_name="action"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="par",
        null=True,
        blank=True,
    )
    kind = models.CharField("type d'événement", max_length=30)
    summary = models.CharField("résumé", max_length=300)
    changes = models.JSONField("modifications", default=dict, blank=True)
    created_at = models.DateTimeField("le", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "événement d'action collective"
        verbose_name_plural = "événements d'action collective"
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.summary
