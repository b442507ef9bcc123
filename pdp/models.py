"""Core records: users and their roles, the organisation (region, units, CPAM), partners, audit."""

import datetime
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MinValueValidator, RegexValidator
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from pdp import partitions

# The longest text a person may type in one field (a motif, a note, a section of the évaluation):
# about two pages. Model TextFields carry it, so that their forms refuse more with a message.
TEXT_MAX_LENGTH = 5000


class Role(models.TextChoices):
    ASS = "ass", "Assistant(e) de service social"
    CONSEILLER = "conseiller", "Conseiller(ère) service social"
    MANAGER = "responsable", "Responsable d'unité"
    REGIONAL = "regional", "Encadrement régional"
    MEDECIN = "medecin_conseil", "Médecin conseil"
    COORDINATEUR = "coordinateur", "Coordinateur·rice cellule PDP"
    PARTENAIRE = "partenaire", "Partenaire (membre d'instance)"
    ADMIN = "admin", "Administrateur"


# Roles that work inside one unit and see its individual records.
UNIT_ROLES = {Role.ASS, Role.CONSEILLER, Role.MANAGER}


class Region(models.Model):
    """A CARSAT. Holds the detection thresholds, which differ between regions."""

    code = models.CharField("code", max_length=10, unique=True)
    name = models.CharField("nom", max_length=120)
    medical_threshold_days = models.PositiveSmallIntegerField(
        "seuil service médical (jours, strictement plus de)",
        default=45,
        validators=[MinValueValidator(1)],
    )
    social_threshold_days = models.PositiveSmallIntegerField(
        "seuil service social (jours, au moins)", default=90, validators=[MinValueValidator(1)]
    )
    first_contact_deadline_day = models.PositiveSmallIntegerField(
        "échéance du premier contact (jour d'arrêt)",
        default=120,
        validators=[MinValueValidator(1)],
    )

    class Meta:
        verbose_name = "région (CARSAT)"
        verbose_name_plural = "régions (CARSAT)"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_contact_deadline_day__gte=models.F("social_threshold_days")),
                name="region_deadline_after_social_threshold",
                violation_error_message=(
                    "L'échéance du premier contact doit suivre le seuil du service social."
                ),
            ),
        ]

    def __str__(self):
        return self.name


class Unit(models.Model):
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="units", verbose_name="région"
    )
    code = models.CharField("code", max_length=20, unique=True)
    name = models.CharField("nom", max_length=120)
    # db_default: rows written by code that predates the column (data migrations) stay valid.
    telephone = models.CharField(
        "téléphone",
        max_length=30,
        blank=True,
        default="",
        db_default="",
        help_text="Affiché aux assurés sur les pages de rendez-vous et les courriers.",
    )
    auto_assign = models.BooleanField(
        "attribution automatique",
        default=False,
        help_text="Attribuer les nouveaux signalements à l'ASS la moins chargée.",
    )

    class Meta:
        verbose_name = "unité"
        ordering = ["name"]

    def __str__(self):
        return self.name


class UnitTerritory(models.Model):
    """A département (2–3 characters) or a postal code (5 digits) covered by a unit.

    Routing takes the longest matching prefix of the assuré's postal code, so a postal code
    entry wins over its département.
    """

    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="territories", verbose_name="unité"
    )
    prefix = models.CharField(
        "département ou code postal",
        max_length=5,
        unique=True,
        validators=[RegexValidator(r"^(\d{2,3}|2[AB]|\d{5})$", "Département ou code postal.")],
    )

    class Meta:
        verbose_name = "territoire"
        ordering = ["prefix"]

    def __str__(self):
        return f"{self.prefix} → {self.unit}"


class CpamOffice(models.Model):
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="cpams", verbose_name="région"
    )
    code = models.CharField("code caisse", max_length=5, unique=True)
    name = models.CharField("nom", max_length=120)

    class Meta:
        verbose_name = "CPAM"
        verbose_name_plural = "CPAM"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} – {self.name}"


class PartnerKind(models.TextChoices):
    SPST = "spst", "SPST / médecin du travail"
    CAP_EMPLOI = "cap_emploi", "Cap emploi"
    MDPH = "mdph", "MDPH"
    FRANCE_TRAVAIL = "france_travail", "France Travail"
    MEDECIN_TRAITANT = "medecin_traitant", "Médecin traitant"
    CPAM = "cpam", "CPAM"
    MISSION_LOCALE = "mission_locale", "Mission locale"
    AGEFIPH = "agefiph", "Agefiph"
    OTHER = "autre", "Autre partenaire"


class Partner(models.Model):
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="partners",
        null=True,
        blank=True,
        verbose_name="région",
    )
    kind = models.CharField("type", max_length=20, choices=PartnerKind.choices)
    name = models.CharField("nom", max_length=200)
    address = models.CharField("adresse", max_length=255, blank=True)
    phone = models.CharField("téléphone", max_length=30, blank=True)
    email = models.EmailField("e-mail", blank=True)

    class Meta:
        verbose_name = "partenaire"
        ordering = ["kind", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"


class PartnerContact(models.Model):
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="contacts", verbose_name="partenaire"
    )
    name = models.CharField("nom", max_length=200)
    function = models.CharField("fonction", max_length=120, blank=True)
    phone = models.CharField("téléphone", max_length=30, blank=True)
    email = models.EmailField("e-mail", blank=True)

    class Meta:
        verbose_name = "contact partenaire"
        verbose_name_plural = "contacts partenaires"
        ordering = ["name"]

    def __str__(self):
        return self.name


class User(AbstractUser):
    # Redeclared from AbstractUser only for their French labels in the admin.
    username = models.CharField(
        "identifiant",
        max_length=150,
        unique=True,
        help_text="150 caractères au maximum\u00a0: lettres, chiffres et @ . + - _ uniquement.",
        validators=[AbstractUser.username_validator],
        error_messages={"unique": "Un utilisateur avec cet identifiant existe déjà."},
    )
    is_staff = models.BooleanField(
        "accès à l'administration",
        default=False,
        help_text=(
            "Avec le rôle «\u00a0Administrateur\u00a0», ouvre l'administration (données de"
            " référence et utilisateurs). Sans effet pour les autres rôles."
        ),
    )
    role = models.CharField("rôle", max_length=20, choices=Role.choices, default=Role.ASS)
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
        verbose_name="unité",
    )
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="staff",
        null=True,
        blank=True,
        verbose_name="région",
        help_text="Pour l'encadrement régional et le médecin conseil.",
    )
    ics_token = models.CharField("jeton du flux agenda", max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = "utilisateur"
        constraints = [
            models.CheckConstraint(
                condition=~Q(role__in=sorted(UNIT_ROLES)) | Q(unit__isnull=False),
                name="user_unit_role_has_unit",
                violation_error_message="Ce rôle exige une unité.",
            ),
        ]

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def is_admin(self):
        return self.is_superuser or self.role == Role.ADMIN

    @property
    def is_unit_member(self):
        return self.role in UNIT_ROLES and self.unit_id is not None

    def effective_region_id(self):
        if self.unit_id:
            return self.unit.region_id
        return self.region_id

    def new_ics_token(self):
        self.ics_token = secrets.token_urlsafe(32)
        return self.ics_token


class AuditLogImmutableError(Exception):
    """The access log is append-only: its rows are never changed nor deleted by the application."""


IMMUTABLE_MESSAGE = (
    "Le journal d'accès ne peut être ni modifié ni supprimé "
    "(seule la purge de conservation, AuditLog.objects.purge_older_than, en retire des lignes)."
)


# The PostgreSQL trigger that refuses UPDATE and DELETE of the log (migration 0008).
AUDIT_TRIGGER = "pdp_auditlog_append_only"


class AuditLogQuerySet(models.QuerySet):
    """Rows are added (`create`, `bulk_create`) and read; `update()` and `delete()` refuse.

    This guards the ORM paths the code uses; on PostgreSQL a trigger (migration
    0008_auditlog_append_only_trigger, on every monthly partition since 0009) refuses UPDATE
    and DELETE in the database itself, raw SQL included. The base manager
    (`AuditLog._base_manager`, a plain Manager) is left as Django makes it: deleting a user
    goes through it to set `user` to NULL on their rows (FK SET_NULL), which keeps the rows
    and which the trigger lets through."""

    def update(self, **kwargs):
        raise AuditLogImmutableError(IMMUTABLE_MESSAGE)

    def delete(self):
        raise AuditLogImmutableError(IMMUTABLE_MESSAGE)

    def purge_older_than(self, days):
        """The one way to remove rows, for the retention job (domain §11: kept 6–12 months):
        remove the rows written more than `days` days ago. Returns the count.

        On PostgreSQL the table is partitioned by month (migration 0009, `pdp.partitions`):
        the months wholly older than the cutoff are dropped, a `DROP TABLE` each, then the
        older rows left (the boundary month, the DEFAULT partition) are deleted in one
        statement. The trigger lets that DELETE through only while the transaction-local
        setting `pdp.audit_purge` is « on »: set just before the statement, and set back
        right after it, so that the rest of an enclosing transaction deletes nothing."""
        cutoff = timezone.now() - datetime.timedelta(days=days)
        connection = connections[self.db]
        dropped = partitions.drop_partitions_before(
            cutoff, table=self.model._meta.db_table, using=self.db
        )
        with transaction.atomic(using=self.db):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('pdp.audit_purge', 'on', true)")
            count = self.filter(at__lt=cutoff)._raw_delete(self.db)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('pdp.audit_purge', 'off', true)")
        return dropped + count

    def anonymise_people(self, assure_ids):
        """The one way to change rows, for the retention job when it anonymises people: their
        rows stay (who read or changed what, and when) but lose what tied them to the person
        (`changes` emptied, `assure_id` cleared), in one statement. Returns the count.

        On PostgreSQL the trigger lets exactly this UPDATE through while the transaction-local
        setting `pdp.audit_anonymise` is « on », set around the statement only."""
        connection = connections[self.db]
        with transaction.atomic(using=self.db):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('pdp.audit_anonymise', 'on', true)")
            count = models.QuerySet.update(
                self.filter(assure_id__in=list(assure_ids)), changes={}, assure_id=None
            )
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('pdp.audit_anonymise', 'off', true)")
        return count


class AuditLog(models.Model):
    """Who read or changed what in a person's file, and when (domain §11).

    Append-only: `save()` of an existing row, `delete()` and the QuerySet's `update()` and
    `delete()` raise `AuditLogImmutableError`; `AuditLog.objects.purge_older_than(days)` and
    `AuditLog.objects.anonymise_people(assure_ids)` are the retention job's ways out.

    On PostgreSQL the table is partitioned by month of `at` (migration 0009, `pdp.partitions`);
    its primary key there is (id, at), the ORM's stays `id` (one sequence: ids are unique)."""

    class Action(models.TextChoices):
        VIEW = "view", "consultation"
        CREATE = "create", "création"
        UPDATE = "update", "modification"
        DELETE = "delete", "suppression"
        EXPORT = "export", "export"

    at = models.DateTimeField("date", auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="utilisateur",
    )
    action = models.CharField("action", max_length=10, choices=Action.choices)
    object_type = models.CharField("type d'objet", max_length=60)
    object_id = models.CharField("identifiant de l'objet", max_length=40)
    assure_id = models.BigIntegerField("assuré", null=True, db_index=True)
    changes = models.JSONField("changements", default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        verbose_name = "journal d'accès"
        verbose_name_plural = "journal d'accès"
        ordering = ["-at"]

    def __str__(self):
        at = timezone.localtime(self.at)
        return (
            f"{at:%d/%m/%Y %H:%M} {self.user or '—'} {self.get_action_display()} {self.object_type}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogImmutableError(IMMUTABLE_MESSAGE)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutableError(IMMUTABLE_MESSAGE)


class AccessCode(models.Model):
    """A short code that lets a person without an account reach one thing: book a meeting,
    manage a booked meeting, later register for a webinar or answer a survey (issue 10, item 1).

    Only an HMAC digest of the code is stored (pdp.access_codes makes, checks and changes
    codes; nothing else writes this table). `assure_id` is the id of a `referrals.Assure`, kept
    as a plain integer because `pdp` imports no app (as `AuditLog.assure_id`); `object_type`
    (a model label, « cases.entretien ») and `object_id` name what the code is bound to, e.g.
    the meeting a « manage » code manages.
    """

    class Purpose(models.TextChoices):
        BOOKING = "booking", "Prendre rendez-vous"
        MANAGE = "manage", "Gérer un rendez-vous"
        WEBINAR = "webinar", "Inscription à un webinaire"
        SURVEY = "survey", "Enquête de satisfaction"

    purpose = models.CharField("usage", max_length=20, choices=Purpose.choices)
    digest = models.CharField("empreinte", max_length=64, unique=True, editable=False)
    assure_id = models.BigIntegerField("assuré", db_index=True)
    object_type = models.CharField("type d'objet", max_length=60, blank=True)
    object_id = models.CharField("identifiant de l'objet", max_length=40, blank=True)
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="créé par",
    )
    expires_at = models.DateTimeField("expire le")
    used_at = models.DateTimeField("utilisé le", null=True, blank=True)
    revoked_at = models.DateTimeField("révoqué le", null=True, blank=True)
    failed_checks = models.PositiveSmallIntegerField(
        "dates de naissance erronées", default=0, editable=False
    )
    locked_at = models.DateTimeField("verrouillé le", null=True, blank=True)

    class Meta:
        verbose_name = "code d'accès"
        verbose_name_plural = "codes d'accès"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="accesscode_object")]
        constraints = [
            models.CheckConstraint(
                condition=Q(object_type="") | ~Q(object_id=""),
                name="accesscode_object_id_with_type",
                violation_error_message="Un objet lié exige son identifiant.",
            ),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} – assuré {self.assure_id}"


def references_to(model):
    """The foreign keys of other models pointing at `model` (hidden ones included)."""
    return [
        relation.field
        for relation in model._meta.get_fields(include_hidden=True)
        if relation.auto_created
        and not relation.concrete
        and (relation.one_to_many or relation.one_to_one)
    ]


class MessageQuerySet(models.QuerySet):
    def purge_older_than(self, days):
        """The one way to remove receipts, for the retention job (RETENTION_MESSAGE_DELETE_DAYS,
        long after their text was blanked): remove the messages created more than `days` days
        ago. Returns the count.

        On PostgreSQL the table is partitioned by month (migration 0010, `pdp.partitions`): the
        months wholly older than the cutoff are dropped, a `DROP TABLE` each, then the older
        rows left (the boundary month, the DEFAULT partition; the whole table on SQLite) are
        deleted in one statement. The foreign keys to a message (outreach's reminders and
        campaign targets, `SET_NULL`, without a database constraint since 0010; a test keeps
        every one `SET_NULL`) are set to NULL first, one UPDATE per column, as Django's
        deletion would."""
        cutoff = timezone.now() - datetime.timedelta(days=days)
        fields = references_to(self.model)
        dropped = partitions.drop_partitions_before(
            cutoff,
            table=self.model._meta.db_table,
            references=[(field.model._meta.db_table, field.column) for field in fields],
            using=self.db,
        )
        with transaction.atomic(using=self.db):
            old = self.filter(created_at__lt=cutoff)
            for field in fields:
                field.model._base_manager.using(self.db).filter(
                    **{f"{field.name}__in": old.values("pk")}
                ).update(**{field.name: None})
            count = old._raw_delete(self.db)
        return dropped + count


class Message(models.Model):
    """An SMS or e-mail sent (or to be sent) to a person: the log of every message.

    Written by ``pdp.messaging.send_sms`` / ``send_email`` and their task only. The body is
    stored with its secrets (access codes) masked; the text actually sent keeps them.
    ``assure_id`` is a plain id: ``pdp`` imports no app.

    On PostgreSQL the table is partitioned by month of `created_at` (migration 0010,
    `pdp.partitions`); the database's primary key is `(id, created_at)`, the model's `id`
    (one sequence: unique). The foreign keys pointing here are `db_constraint=False`
    (PostgreSQL cannot reference a partitioned table by `id` alone); their `SET_NULL` is kept
    by Django's deletion and by `purge_older_than`.
    """

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "e-mail"

    class Status(models.TextChoices):
        QUEUED = "queued", "à envoyer"
        DEFERRED = "deferred", "différé"
        SENDING = "sending", "en cours d'envoi"
        SENT = "sent", "envoyé"
        FAILED = "failed", "échec"

    class Delivery(models.TextChoices):
        PENDING = "pending", "en attente chez l'opérateur"
        DELIVERED = "delivered", "délivré"
        UNDELIVERED = "undelivered", "non délivré"

    channel = models.CharField("canal", max_length=10, choices=Channel.choices)
    template = models.CharField("modèle", max_length=60)
    recipient = models.CharField("destinataire", max_length=254)
    assure_id = models.BigIntegerField("assuré", null=True, blank=True, db_index=True)
    object_type = models.CharField("type d'objet", max_length=60, blank=True)
    object_id = models.CharField("identifiant de l'objet", max_length=40, blank=True)
    subject = models.CharField("objet du message", max_length=200, blank=True)
    body = models.TextField("texte (codes masqués)", max_length=TEXT_MAX_LENGTH)
    status = models.CharField(
        "statut", max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    send_after = models.DateTimeField("différé jusqu'au", null=True, blank=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    provider_id = models.CharField("identifiant chez le fournisseur", max_length=100, blank=True)
    segments = models.PositiveSmallIntegerField("nombre de SMS", null=True, blank=True)
    error = models.CharField("erreur", max_length=255, blank=True)
    # The SMS provider's delivery reports (pdp.messaging.reports): the latest report's status
    # and its time at the provider; an older report never overwrites a newer one and
    # « délivré » is never downgraded.
    delivery_status = models.CharField(
        "accusé de réception", max_length=12, choices=Delivery.choices, blank=True
    )
    delivery_at = models.DateTimeField("accusé du", null=True, blank=True)
    delivery_received_at = models.DateTimeField("accusé reçu le", null=True, blank=True)
    created_at = models.DateTimeField("créé le", auto_now_add=True, db_index=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = "message envoyé"
        verbose_name_plural = "messages envoyés"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="message_object_idx"),
            models.Index(fields=["status", "send_after"], name="message_status_idx"),
            # Delivery reports find their message by the provider's id.
            models.Index(
                fields=["provider_id"], condition=~Q(provider_id=""), name="message_provider_idx"
            ),
        ]

    def __str__(self):
        at = timezone.localtime(self.created_at) if self.created_at else None
        when = f"{at:%d/%m/%Y %H:%M} " if at else ""
        return f"{when}{self.get_channel_display()} {self.template} → {self.recipient}"
