"""The cellule PDP: instances and their members, submitted situations (saisines) with the fiche
de présentation, meetings, agenda items, decisions, actions and addenda (domain §9).

What a member reads of a person is the fiche only: written for the committee, with initials and
an age band, never the NIR, the name, the address or the contact details, never a diagnosis; and
only while the consent of scope « Présentation à la cellule PDP » it was submitted under is not
revoked (checked at every read by `Saisine.fiche_lisible`).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cases.models import Accompagnement, Consentement
from pdp.models import TEXT_MAX_LENGTH, PartnerContact, Region, Role, Unit
from pdp.permissions import in_unit


class InstanceType(models.TextChoices):
    CELLULE = "cellule_pdp", "Cellule PDP"
    COORDINATION = "coordination", "Instance de coordination PDP"


class Periodicite(models.TextChoices):
    MENSUELLE = "mensuelle", "Mensuelle"
    BIMESTRIELLE = "bimestrielle", "Tous les deux mois"
    TRIMESTRIELLE = "trimestrielle", "Trimestrielle"
    A_LA_DEMANDE = "a_la_demande", "À la demande"


class Organisation(models.TextChoices):
    """The organisation a member speaks for; the quorum counts distinct ones."""

    SERVICE_SOCIAL = "service_social", "Service social (CARSAT)"
    SERVICE_MEDICAL = "service_medical", "Service médical"
    CPAM = "cpam", "CPAM (service administratif)"
    RISQUES_PRO = "risques_pro", "Risques professionnels"
    SPST = "spst", "SPST / médecin du travail"
    CAP_EMPLOI = "cap_emploi", "Cap emploi"
    MDPH = "mdph", "MDPH"
    FRANCE_TRAVAIL = "france_travail", "France Travail"
    AUTRE = "autre", "Autre partenaire"


INTERNAL_ORGANISATIONS = {
    Organisation.SERVICE_SOCIAL,
    Organisation.SERVICE_MEDICAL,
    Organisation.CPAM,
    Organisation.RISQUES_PRO,
}


class InstanceQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Coordinators see their instances; members the ones they currently belong to."""
        if not user.is_authenticated or user.is_admin:
            return self.none()
        today = timezone.localdate()
        member = MembreInstance.objects.active(today).filter(instance=OuterRef("pk"), user=user)
        return self.filter(Q(coordinateurs=user) | Exists(member)).distinct()

    def coordinated_by(self, user):
        """The instances `user` coordinates, active or not (the administrator none)."""
        if not user.is_authenticated or user.is_admin:
            return self.none()
        return self.filter(coordinateurs=user)

    def covering(self, unit):
        """The instances whose territory includes `unit` (where its cases may be submitted)."""
        return self.filter(actif=True, units=unit)


class Instance(models.Model):
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="instances", verbose_name="région"
    )
    type = models.CharField("type", max_length=15, choices=InstanceType.choices)
    nom = models.CharField("nom", max_length=150)
    units = models.ManyToManyField(Unit, related_name="instances", verbose_name="territoire")
    periodicite = models.CharField(
        "périodicité", max_length=15, choices=Periodicite.choices, default=Periodicite.MENSUELLE
    )
    coordinateurs = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="instances_coordonnees",
        verbose_name="coordinateur·rice·s",
        limit_choices_to={"role": Role.COORDINATEUR},
    )
    # The quorum rule, as data (RCP practice): at least `quorum_organisations` different
    # organisations among the members present or represented, including every organisation of
    # `quorum_obligatoires`. Without it, decisions are provisional and the item comes back.
    quorum_organisations = models.PositiveSmallIntegerField(
        "quorum : organisations différentes au moins",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(len(Organisation.choices))],
    )
    quorum_obligatoires = models.JSONField(
        "quorum : organisations obligatoires",
        default=list,
        blank=True,
        help_text="Codes d'organisation, par exemple service_social, service_medical.",
    )
    actif = models.BooleanField("active", default=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        verbose_name = "instance PDP"
        verbose_name_plural = "instances PDP"
        ordering = ["nom"]

    def __str__(self):
        return self.nom

    def quorum_label(self):
        required = [Organisation(code).label for code in self.quorum_obligatoires]
        text = f"au moins {self.quorum_organisations} organisations différentes"
        if required:
            text += ", dont " + " et ".join(required)
        return text


class MembreQuerySet(models.QuerySet):
    def active(self, day=None):
        day = day or timezone.localdate()
        return self.filter(Q(date_fin__isnull=True) | Q(date_fin__gte=day), date_debut__lte=day)


class MembreInstance(models.Model):
    """A member: an internal user, or a partner's contact (who may also have an account of
    the « Partenaire (membre d'instance) » role, then `user` is set too)."""

    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="membres", verbose_name="instance"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="membres_instance",
        verbose_name="compte",
    )
    contact = models.ForeignKey(
        PartnerContact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="membres_instance",
        verbose_name="contact partenaire",
    )
    organisation = models.CharField("organisation", max_length=20, choices=Organisation.choices)
    fonction = models.CharField("fonction", max_length=120, blank=True)
    date_debut = models.DateField("membre depuis", default=timezone.localdate)
    date_fin = models.DateField("jusqu'au", null=True, blank=True)

    objects = MembreQuerySet.as_manager()

    class Meta:
        verbose_name = "membre d'instance"
        verbose_name_plural = "membres d'instance"
        ordering = ["organisation", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(contact__isnull=False),
                name="membre_is_user_or_contact",
                violation_error_message="Un membre est un compte ou un contact partenaire.",
            ),
            models.CheckConstraint(
                condition=Q(date_fin__isnull=True) | Q(date_fin__gte=models.F("date_debut")),
                name="membre_ends_after_start",
                violation_error_message="La fin de l'adhésion suit son début.",
            ),
        ]

    def __str__(self):
        return f"{self.nom} ({self.get_organisation_display()})"

    @property
    def nom(self):
        if self.user_id:
            return str(self.user)
        return self.contact.name

    @property
    def email(self):
        if self.user_id and self.user.email:
            return self.user.email
        return self.contact.email if self.contact_id else ""

    def is_active(self, day=None):
        day = day or timezone.localdate()
        return self.date_debut <= day and (self.date_fin is None or self.date_fin >= day)


class TrancheAge(models.TextChoices):
    MOINS_25 = "-25", "moins de 25 ans"
    A25_34 = "25-34", "25 à 34 ans"
    A35_44 = "35-44", "35 à 44 ans"
    A45_54 = "45-54", "45 à 54 ans"
    A55_PLUS = "55+", "55 ans et plus"
    INCONNUE = "inconnue", "non renseignée"


class Urgence(models.TextChoices):
    NORMALE = "normale", "Normale"
    PRIORITAIRE = "prioritaire", "Prioritaire"
    URGENTE = "urgente", "Urgente (risque de rupture imminent)"


class TailleEntreprise(models.TextChoices):
    INCONNUE = "", "Non renseignée"
    TPE = "tpe", "Moins de 11 salariés"
    PME = "pme", "11 à 49 salariés"
    ME = "me", "50 à 249 salariés"
    GE = "ge", "250 salariés et plus"


class SaisineQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Coordinators see what was submitted to their instances; unit staff who read the
        case see their unit's submissions (the content rule is checked on each page)."""
        if not user.is_authenticated or user.is_admin:
            return self.none()
        condition = Q(instance__coordinateurs=user)
        if in_unit(user):
            condition |= Q(accompagnement__in=Accompagnement.objects.visible_to(user))
        return self.filter(condition).distinct()

    def open(self):
        return self.filter(statut__in=Saisine.OPEN)

    def consent_active(self):
        return self.filter(consentement__date_revocation__isnull=True)


class Saisine(models.Model):
    """A situation submitted to an instance: the question asked and the fiche de présentation."""

    class Statut(models.TextChoices):
        SOUMISE = "soumise", "En attente d'examen"
        SUIVIE = "suivie", "Examinée, suivie par l'instance"
        TERMINEE = "terminee", "Suivi en cellule terminé"
        RETIREE = "retiree", "Retirée à la demande de l'assuré"

    OPEN = (Statut.SOUMISE, Statut.SUIVIE)

    instance = models.ForeignKey(
        Instance, on_delete=models.PROTECT, related_name="saisines", verbose_name="instance"
    )
    accompagnement = models.ForeignKey(
        Accompagnement,
        on_delete=models.PROTECT,
        related_name="saisines",
        verbose_name="accompagnement",
    )
    consentement = models.ForeignKey(
        Consentement,
        on_delete=models.PROTECT,
        related_name="saisines",
        verbose_name="consentement",
    )
    statut = models.CharField(
        "statut", max_length=10, choices=Statut.choices, default=Statut.SOUMISE
    )
    question = models.TextField("question posée à l'instance", max_length=TEXT_MAX_LENGTH)
    urgence = models.CharField(
        "urgence", max_length=12, choices=Urgence.choices, default=Urgence.NORMALE
    )
    # The fiche de présentation (pseudonymous, no diagnosis).
    initiales = models.CharField("initiales", max_length=10)
    tranche_age = models.CharField("âge", max_length=10, choices=TrancheAge.choices)
    sexe = models.CharField("sexe", max_length=15, blank=True)
    situation_emploi = models.CharField("situation d'emploi", max_length=80, blank=True)
    poste = models.CharField("métier et poste", max_length=150, blank=True)
    secteur_employeur = models.CharField("secteur de l'employeur", max_length=120, blank=True)
    taille_employeur = models.CharField(
        "taille de l'entreprise", max_length=5, choices=TailleEntreprise.choices, blank=True
    )
    arret = models.CharField("arrêt de travail (type et durée)", max_length=150, blank=True)
    limitations = models.TextField(
        "limitations fonctionnelles et contraintes",
        blank=True,
        max_length=TEXT_MAX_LENGTH,
        help_text="En termes de capacités et de restrictions, jamais de diagnostic.",
    )
    freins = models.TextField("freins", blank=True, max_length=TEXT_MAX_LENGTH)
    pistes = models.TextField("pistes déjà envisagées", blank=True, max_length=TEXT_MAX_LENGTH)
    dispositifs = models.TextField("dispositifs mobilisés", blank=True, max_length=TEXT_MAX_LENGTH)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="présentée par",
    )
    submitted_at = models.DateTimeField("présentée le", default=timezone.now)
    retiree_le = models.DateTimeField("retirée le", null=True, blank=True)

    objects = SaisineQuerySet.as_manager()

    FICHE_FIELDS = [
        "initiales",
        "tranche_age",
        "sexe",
        "situation_emploi",
        "poste",
        "secteur_employeur",
        "taille_employeur",
        "arret",
        "limitations",
        "freins",
        "pistes",
        "dispositifs",
        "urgence",
    ]

    class Meta:
        verbose_name = "situation présentée"
        verbose_name_plural = "situations présentées"
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "accompagnement"],
                condition=Q(statut__in=["soumise", "suivie"]),
                name="saisine_one_open_per_instance_case",
                violation_error_message="Cette situation est déjà présentée à cette instance.",
            ),
        ]

    def __str__(self):
        return f"Situation {self.reference}"

    @property
    def reference(self):
        """The pseudonymous reference shown to members: number and initials."""
        return f"n° {self.pk} ({self.initiales})"

    @property
    def fiche_lisible(self):
        """The consent gate, re-checked at every read: the fiche is readable by members only
        while the consent it was submitted under is not revoked."""
        return self.consentement.date_revocation is None and self.statut != self.Statut.RETIREE


class ReunionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Coordinators see their instances' meetings; members the meetings they are invited
        to, while they are members."""
        if not user.is_authenticated or user.is_admin:
            return self.none()
        today = timezone.localdate()
        invited = Presence.objects.filter(
            reunion=OuterRef("pk"),
            membre__in=MembreInstance.objects.active(today).filter(user=user),
        )
        return self.filter(Q(instance__coordinateurs=user) | Exists(invited)).distinct()

    def upcoming(self):
        return self.filter(statut__in=Reunion.NOT_HELD)


class Reunion(models.Model):
    class Statut(models.TextChoices):
        PLANIFIEE = "planifiee", "Planifiée"
        ODJ_ARRETE = "odj_arrete", "Ordre du jour arrêté"
        TENUE = "tenue", "Tenue"
        CR_RELECTURE = "cr_relecture", "Compte rendu en relecture"
        CR_VALIDE = "cr_valide", "Compte rendu validé"

    NOT_HELD = (Statut.PLANIFIEE, Statut.ODJ_ARRETE)
    # Where decisions, attendance and actions are recorded (during and after the meeting,
    # until the minutes are validated).
    EDITABLE = (Statut.ODJ_ARRETE, Statut.TENUE, Statut.CR_RELECTURE)

    instance = models.ForeignKey(
        Instance, on_delete=models.PROTECT, related_name="reunions", verbose_name="instance"
    )
    debut = models.DateTimeField("date et heure")
    lieu = models.CharField("lieu", max_length=200, blank=True)
    lien_visio = models.URLField("lien de visioconférence", max_length=300, blank=True)
    statut = models.CharField(
        "statut", max_length=15, choices=Statut.choices, default=Statut.PLANIFIEE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="planifiée par",
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    valide_par = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="compte rendu validé par",
    )
    valide_le = models.DateTimeField("compte rendu validé le", null=True, blank=True)

    objects = ReunionQuerySet.as_manager()

    class Meta:
        verbose_name = "réunion d'instance"
        verbose_name_plural = "réunions d'instance"
        ordering = ["-debut"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(lieu="") | ~Q(lien_visio=""),
                name="reunion_has_place_or_link",
                violation_error_message="Indiquez un lieu ou un lien de visioconférence.",
            ),
        ]

    def __str__(self):
        return f"{self.instance} du {timezone.localtime(self.debut):%d/%m/%Y}"

    @property
    def is_locked(self):
        return self.statut == self.Statut.CR_VALIDE

    @property
    def is_editable(self):
        return self.statut in self.EDITABLE


class Presence(models.Model):
    """A member invited to a meeting, and whether they attended."""

    class Statut(models.TextChoices):
        INVITE = "invite", "Non renseigné"
        PRESENT = "present", "Présent·e"
        EXCUSE = "excuse", "Excusé·e"
        ABSENT = "absent", "Absent·e"
        REPRESENTE = "represente", "Représenté·e"

    # Who counts for the quorum.
    COUNTED = (Statut.PRESENT, Statut.REPRESENTE)

    reunion = models.ForeignKey(
        Reunion, on_delete=models.CASCADE, related_name="presences", verbose_name="réunion"
    )
    membre = models.ForeignKey(
        MembreInstance, on_delete=models.PROTECT, related_name="presences", verbose_name="membre"
    )
    statut = models.CharField("présence", max_length=12, choices=Statut.choices, default="invite")
    represente_par = models.CharField("représenté·e par", max_length=150, blank=True)
    convoque_le = models.DateTimeField("convocation envoyée le", null=True, blank=True)

    class Meta:
        verbose_name = "présence"
        ordering = ["membre__organisation", "membre_id"]
        constraints = [
            models.UniqueConstraint(fields=["reunion", "membre"], name="presence_unique"),
        ]

    def __str__(self):
        return f"{self.membre} : {self.get_statut_display()}"


class PointOrdreDuJour(models.Model):
    """A situation on a meeting's agenda: new, or back for follow-up."""

    class Origine(models.TextChoices):
        NOUVELLE = "nouvelle", "Nouvelle situation"
        SUIVI = "suivi", "Suivi (action en cours)"
        REPRESENTEE = "representee", "Représentée"

    reunion = models.ForeignKey(
        Reunion, on_delete=models.CASCADE, related_name="points", verbose_name="réunion"
    )
    saisine = models.ForeignKey(
        Saisine, on_delete=models.PROTECT, related_name="points", verbose_name="situation"
    )
    ordre = models.PositiveSmallIntegerField("ordre", default=0)
    origine = models.CharField("origine", max_length=12, choices=Origine.choices)
    synthese = models.TextField("synthèse des échanges", blank=True, max_length=TEXT_MAX_LENGTH)
    a_representer = models.BooleanField("à représenter", default=False)

    class Meta:
        verbose_name = "point de l'ordre du jour"
        verbose_name_plural = "points de l'ordre du jour"
        ordering = ["ordre", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["reunion", "saisine"], name="point_unique_per_reunion"),
        ]

    def __str__(self):
        return f"{self.reunion} · {self.saisine}"


class TypeDecision(models.Model):
    """The editable pick list of recommendations and decisions (reference data)."""

    code = models.SlugField("code", max_length=40, unique=True)
    libelle = models.CharField("libellé", max_length=120)
    ordre = models.PositiveSmallIntegerField("ordre", default=0)
    termine_suivi = models.BooleanField(
        "met fin au suivi en cellule",
        default=False,
        help_text="La situation ne revient plus à l'ordre du jour.",
    )
    a_representer = models.BooleanField(
        "à représenter", default=False, help_text="La situation revient à la réunion suivante."
    )
    actif = models.BooleanField("actif", default=True)

    class Meta:
        verbose_name = "type de décision"
        verbose_name_plural = "types de décision"
        ordering = ["ordre", "libelle"]

    def __str__(self):
        return self.libelle


class Decision(models.Model):
    point = models.ForeignKey(
        PointOrdreDuJour, on_delete=models.CASCADE, related_name="decisions", verbose_name="point"
    )
    type = models.ForeignKey(TypeDecision, on_delete=models.PROTECT, verbose_name="décision")
    texte = models.TextField("précisions", blank=True, max_length=TEXT_MAX_LENGTH)
    provisoire = models.BooleanField(
        "provisoire", default=False, help_text="Prise sans quorum : à confirmer."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="par"
    )
    created_at = models.DateTimeField("le", auto_now_add=True)

    class Meta:
        verbose_name = "décision"
        ordering = ["pk"]

    def __str__(self):
        return str(self.type)


class ActionQuerySet(models.QuerySet):
    def open(self):
        return self.filter(statut=ActionInstance.Statut.OUVERTE)

    def overdue(self, day=None):
        return self.open().filter(echeance__lt=day or timezone.localdate())

    def visible_to(self, user):
        """The member it is given to, and the instance's coordinators."""
        if not user.is_authenticated or user.is_admin:
            return self.none()
        return self.filter(
            Q(responsable__user=user) | Q(point__reunion__instance__coordinateurs=user)
        ).distinct()


class ActionInstance(models.Model):
    class Statut(models.TextChoices):
        OUVERTE = "ouverte", "À faire"
        FAITE = "faite", "Faite"
        ABANDONNEE = "abandonnee", "Abandonnée"

    point = models.ForeignKey(
        PointOrdreDuJour, on_delete=models.CASCADE, related_name="actions", verbose_name="point"
    )
    libelle = models.CharField("action", max_length=255)
    responsable = models.ForeignKey(
        MembreInstance, on_delete=models.PROTECT, related_name="actions", verbose_name="confiée à"
    )
    echeance = models.DateField("échéance")
    statut = models.CharField(
        "statut", max_length=12, choices=Statut.choices, default=Statut.OUVERTE
    )
    compte_rendu = models.TextField("suite donnée", blank=True, max_length=TEXT_MAX_LENGTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="par"
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    closed_at = models.DateTimeField("soldée le", null=True, blank=True)
    notifiee_le = models.DateTimeField("notifiée le", null=True, blank=True)

    objects = ActionQuerySet.as_manager()

    class Meta:
        verbose_name = "action d'instance"
        verbose_name_plural = "actions d'instance"
        ordering = ["echeance", "pk"]
        indexes = [
            models.Index(
                fields=["responsable", "echeance"],
                condition=Q(statut="ouverte"),
                name="action_open_by_owner",
            ),
        ]

    def __str__(self):
        return self.libelle

    @property
    def en_retard(self):
        return self.statut == self.Statut.OUVERTE and self.echeance < timezone.localdate()


class Addendum(models.Model):
    """A correction to validated (locked) minutes: the minutes stay as they were."""

    reunion = models.ForeignKey(
        Reunion, on_delete=models.CASCADE, related_name="addenda", verbose_name="réunion"
    )
    texte = models.TextField("correction", max_length=TEXT_MAX_LENGTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="par"
    )
    created_at = models.DateTimeField("le", auto_now_add=True)

    class Meta:
        verbose_name = "addendum au compte rendu"
        verbose_name_plural = "addenda aux comptes rendus"
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"Addendum du {timezone.localtime(self.created_at):%d/%m/%Y}"


class ReunionEvent(models.Model):
    """The history of a meeting: every change of state, by whom, old → new."""

    reunion = models.ForeignKey(
        Reunion, on_delete=models.CASCADE, related_name="events", verbose_name="réunion"
    )
    at = models.DateTimeField("date", default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="auteur",
    )
    summary = models.CharField("résumé", max_length=255)
    changes = models.JSONField("changements", default=dict, blank=True)

    class Meta:
        verbose_name = "événement de réunion"
        verbose_name_plural = "événements de réunion"
        ordering = ["-at", "-pk"]

    def __str__(self):
        return self.summary
