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
