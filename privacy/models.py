"""Models of data protection: the anonymisation job's runs and statistical rows (retention),
the right-of-access archives."""

import uuid

from django.conf import settings
from django.db import models

from referrals.models import Assure

# --- Right of access (RGPD art. 15) ------------------------------------------------------------


class AccessArchive(models.Model):
    """One answer to a person's right-of-access request: a PDF and a JSON file of everything
    held about them (`privacy.archive`), built by a Celery task (`privacy.tasks_archive`),
    downloaded until `expires_at` through permission-checked views, then removed by the nightly
    purge. The files live under PRIVATE_MEDIA_ROOT (never served by a static or media URL);
    the UUID is the link's identifier, so that archives cannot be counted through it."""

    class Status(models.TextChoices):
        PENDING = "pending", "En préparation"
        READY = "ready", "Prête"
        FAILED = "failed", "Échec"
        EXPIRED = "expired", "Expirée"

    id = models.UUIDField("identifiant", primary_key=True, default=uuid.uuid4, editable=False)
    assure = models.ForeignKey(
        Assure, on_delete=models.CASCADE, related_name="+", verbose_name="assuré"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="demandée par",
    )
    requested_at = models.DateTimeField("demandée le", auto_now_add=True)
    status = models.CharField(
        "statut", max_length=10, choices=Status.choices, default=Status.PENDING
    )
    ready_at = models.DateTimeField("prête le", null=True, blank=True)
    expires_at = models.DateTimeField("expire le", null=True, blank=True)
    # Relative to PRIVATE_MEDIA_ROOT; empty when not built (or the PDF failed), and after purge.
    pdf_path = models.CharField("fichier PDF", max_length=255, blank=True)
    json_path = models.CharField("fichier JSON", max_length=255, blank=True)
    error = models.CharField("erreur", max_length=255, blank=True)

    class Meta:
        verbose_name = "archive du droit d'accès"
        verbose_name_plural = "archives du droit d'accès"
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["assure", "-requested_at"], name="accessarchive_assure_idx"),
            # The nightly purge: ready archives past their expiry.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status="ready"),
                name="accessarchive_expiry_idx",
            ),
        ]

    def __str__(self):
        return f"Archive du droit d'accès – assuré {self.assure_id}"


# --- retention ----------------------------------------------------------------------------


class RetentionRun(models.Model):
    """One run of the retention job (privacy.retention.retention_run): when, dry or wet, and how
    many rows each step touched (or would touch, dry). `counts` keys: see retention.STEPS."""

    started_at = models.DateTimeField("commencé le", auto_now_add=True)
    finished_at = models.DateTimeField("terminé le", null=True, blank=True)
    dry_run = models.BooleanField("simulation", default=True)
    scheduled = models.BooleanField("planifié", default=False)
    counts = models.JSONField("comptes", default=dict, blank=True)
    error = models.TextField("erreur", blank=True)

    class Meta:
        verbose_name = "passage de conservation"
        verbose_name_plural = "passages de conservation"
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"Conservation du {self.started_at:%d/%m/%Y %H:%M}"


class AnonymousCase(models.Model):
    """The statistical record left of one accompagnement (or one referral without a case) of a
    person anonymised: no link to anybody (random UUID key, no date finer than the month, no
    creation time), so that the indicators and the administrator's totals keep counting them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    region = models.ForeignKey(
        "pdp.Region", on_delete=models.PROTECT, related_name="+", verbose_name="région"
    )
    unit = models.ForeignKey(
        "pdp.Unit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="unité",
    )
    mission = models.CharField("mission", max_length=15, blank=True)
    referral_month = models.DateField("mois du signalement", null=True, blank=True)
    opened_month = models.DateField("mois d'ouverture", null=True, blank=True)
    closed_month = models.DateField("mois de clôture", null=True, blank=True)
    outcome = models.CharField("issue", max_length=25, blank=True)
    dispositifs = models.PositiveSmallIntegerField("dispositifs", default=0)
    dispositifs_by_type = models.JSONField("dispositifs par type", default=dict, blank=True)
    meetings = models.PositiveSmallIntegerField("entretiens réalisés", default=0)
    age_band = models.CharField("tranche d'âge", max_length=10)
    sexe = models.CharField("sexe", max_length=1, blank=True)
    type_arret = models.CharField("type d'arrêt", max_length=3, blank=True)
    duration_band = models.CharField("durée de l'arrêt", max_length=10)

    class Meta:
        verbose_name = "accompagnement anonymisé"
        verbose_name_plural = "accompagnements anonymisés"

    def __str__(self):
        return f"Accompagnement anonymisé {self.id}"
