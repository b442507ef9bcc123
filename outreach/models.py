"""Records of what an assuré does without an account (bookings through access codes) and of
what is sent to them (reminders of meetings and of webinar sessions)."""

from django.db import models
from django.db.models import Q

from cases.models import Entretien
from collective.models import Participant, Seance
from pdp.models import Message
from referrals.models import Signalement


class Rappel(models.Model):
    """One reminder of one meeting, for the time the meeting had when it was made (issue 10,
    item 7). Written by ``outreach.reminders`` only.

    The meeting is either a planned ``entretien`` of a case or the first meeting proposed on a
    referral (``signalement``, status « rencontre proposée », its ``rdv_*`` fields): exactly
    one of the two is set (constraint).

    The unique (entretien, kind, debut) — or (signalement, kind, debut) — makes a retry or a
    second worker unable to create a second reminder; a meeting moved to a new time gets a new
    row (its old row stays, for the old time, and is never sent again); a cancelled meeting
    gets none. A row is claimed by setting ``sent_at`` (``UPDATE … WHERE sent_at IS NULL``):
    only the claimer sends. A row with a ``skipped_reason`` is final and sends nothing.
    """

    class Kind(models.TextChoices):
        J_2 = "j-2", "48 heures avant"

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "e-mail"

    class Skipped(models.TextChoices):
        RECENT_MESSAGE = "recent_message", "confirmation envoyée moins de 48 heures avant"
        NO_CHANNEL = "no_channel", "aucun numéro de mobile ni e-mail utilisable"

    entretien = models.ForeignKey(
        Entretien,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rappels",
        verbose_name="entretien",
        db_index=False,  # the partial unique constraint starts with it
    )
    signalement = models.ForeignKey(
        Signalement,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rappels",
        verbose_name="premier rendez-vous du signalement",
        db_index=False,  # the partial unique constraint starts with it
    )
    kind = models.CharField("rappel", max_length=10, choices=Kind.choices, default=Kind.J_2)
    debut = models.DateTimeField("pour l'entretien du")
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, blank=True)
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="message",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    skipped_reason = models.CharField(
        "non envoyé car", max_length=20, choices=Skipped.choices, blank=True
    )

    class Meta:
        verbose_name = "rappel de rendez-vous"
        verbose_name_plural = "rappels de rendez-vous"
        ordering = ["-debut"]
        constraints = [
            models.CheckConstraint(
                condition=Q(entretien__isnull=False, signalement__isnull=True)
                | Q(entretien__isnull=True, signalement__isnull=False),
                name="rappel_one_meeting",
            ),
            models.UniqueConstraint(
                fields=["entretien", "kind", "debut"],
                condition=Q(entretien__isnull=False),
                name="rappel_once_per_meeting_time",
            ),
            models.UniqueConstraint(
                fields=["signalement", "kind", "debut"],
                condition=Q(signalement__isnull=False),
                name="rappel_once_per_referral_meeting_time",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} — {self.entretien or self.signalement}"


class RappelSeance(models.Model):
    """One message about one session of a webinar (or information meeting) to one participant
    (issue 11): the reminder the day before, the one an hour before, and the « merci » after
    the last session with the link to ask for an individual meeting. Written by
    ``outreach.webinars`` only, the way ``Rappel`` is for meetings.

    The unique (participant, séance, kind, début) makes a retry or a second worker unable to
    write a second row; a session moved to another time gets new rows (the old ones no longer
    match and are never sent). A row is claimed by setting ``sent_at`` (``UPDATE … WHERE
    sent_at IS NULL``): only the claimer sends. A row with a ``skipped_reason`` is final.
    """

    class Kind(models.TextChoices):
        J_1 = "j-1", "la veille"
        H_1 = "h-1", "une heure avant"
        MERCI = "merci", "après la séance (merci et rendez-vous individuel)"

    class Skipped(models.TextChoices):
        NO_CHANNEL = "no_channel", "aucun numéro de mobile ni e-mail utilisable"

    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="rappels",
        verbose_name="participant·e",
        db_index=False,  # the unique constraint starts with it
    )
    seance = models.ForeignKey(
        Seance, on_delete=models.CASCADE, related_name="rappels", verbose_name="séance"
    )
    kind = models.CharField("message", max_length=10, choices=Kind.choices)
    debut = models.DateTimeField("pour la séance du")
    channel = models.CharField("canal", max_length=10, choices=Rappel.Channel.choices, blank=True)
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="message",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    skipped_reason = models.CharField(
        "non envoyé car", max_length=20, choices=Skipped.choices, blank=True
    )

    class Meta:
        verbose_name = "rappel de séance"
        verbose_name_plural = "rappels de séance"
        ordering = ["-debut"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "seance", "kind", "debut"],
                name="rappel_seance_once",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} — {self.seance}"
