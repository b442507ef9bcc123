"""Records of what an assuré does without an account (bookings through access codes) and of
what is sent to them (reminders of meetings and of webinar sessions)."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from cases.models import Cloture, Entretien
from collective.models import ActionCollective, ActionType, Participant, Seance
from pdp.models import AccessCode, Message, Region, Unit
from referrals.models import Assure, Signalement


class ClaimedMessage(models.Model):
    """What a reminder row has whatever it reminds of: the channel chosen when it was written,
    the `Message` sent, and `sent_at`, set by the claim (``UPDATE … WHERE sent_at IS NULL``)
    before sending, so that only the claimer sends."""

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "e-mail"

    channel = models.CharField("canal", max_length=10, choices=Channel.choices, blank=True)
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="message",
        # pdp_message is partitioned by month (pdp 0010), keyed (id, created_at) in the
        # database: no constraint can reference it; the retention job sets NULL itself.
        db_constraint=False,
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)

    class Meta:
        abstract = True


class Rappel(ClaimedMessage):
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


class RappelSeance(ClaimedMessage):
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


# --- Satisfaction surveys and the return-to-work follow-up (issue 11, items 4 and 5) -----


class SurveyKind(models.TextChoices):
    BAROMETRE = "barometre", "Baromètre de satisfaction"
    FIN_ACTION = "fin_action", "Questionnaire de fin d'action collective"
    SUIVI_6M = "suivi_6m", "Suivi du retour à l'emploi à 6 mois"
    SUIVI_12M = "suivi_12m", "Suivi du retour à l'emploi à 12 mois"


class QuestionType(models.TextChoices):
    CHOICE = "choice", "Choix parmi une liste"
    YESNO = "yesno", "Oui / non"
    TEXT = "text", "Texte libre"


def validate_questions(questions):
    """A questionnaire's questions: a list of {key, label, type, choices, required, positive}.
    `choices` is a list of [value, label] (for « choice »), `positive` the values counted as
    favourable in the results (optional)."""
    if not isinstance(questions, list) or not questions:
        raise ValidationError("Un questionnaire a au moins une question.")
    keys = set()
    for question in questions:
        if not isinstance(question, dict):
            raise ValidationError("Chaque question est un objet.")
        key, kind = question.get("key"), question.get("type")
        if not isinstance(key, str) or not key.isidentifier() or key in keys:
            raise ValidationError(f"Clé de question invalide ou en double : {key!r}.")
        keys.add(key)
        if not str(question.get("label") or "").strip():
            raise ValidationError(f"La question {key} n'a pas de libellé.")
        if kind not in QuestionType.values:
            raise ValidationError(f"Type de question inconnu pour {key} : {kind!r}.")
        choices = question.get("choices") or []
        if kind == QuestionType.CHOICE and (
            len(choices) < 2
            or not all(isinstance(c, list | tuple) and len(c) == 2 for c in choices)
        ):
            raise ValidationError(
                f"La question {key} demande au moins deux choix [valeur, libellé]."
            )
        values = {c[0] for c in choices} if kind == QuestionType.CHOICE else {"oui", "non"}
        if not set(question.get("positive") or []) <= values:
            raise ValidationError(f"Les réponses favorables de {key} ne sont pas des choix.")


class Questionnaire(models.Model):
    """One version of a questionnaire. Questions are data, frozen per version so that years
    compare: a change of wording is a new version (and a change of meaning a new key). One
    active version per kind (database)."""

    kind = models.CharField("questionnaire", max_length=20, choices=SurveyKind.choices)
    version = models.PositiveSmallIntegerField("version")
    title = models.CharField("titre", max_length=200)
    intro = models.TextField("introduction", blank=True)
    questions = models.JSONField("questions", validators=[validate_questions])
    active = models.BooleanField("en service", default=False)
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        verbose_name = "questionnaire"
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="questionnaire_kind_version"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(active=True), name="questionnaire_one_active_per_kind"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} – version {self.version}"

    def question(self, key):
        return next((q for q in self.questions if q["key"] == key), None)


class SurveySkipped(models.TextChoices):
    NO_CHANNEL = "no_channel", "aucun numéro de mobile ni e-mail utilisable"


class SurveyInvitation(models.Model):
    """One questionnaire sent to one person: after a closure (barometer, follow-up at 6 and 12
    months) or to a participant of a finished collective action. Written by
    `outreach.surveys` only. Unique per (kind, closure) and (kind, participant): a retry or a
    second worker cannot invite twice. The access code (purpose « survey », bound to this row)
    opens the questionnaire; a reminder replaces it with a new one (same expiry).

    Nothing leads from here to the answer: `SurveyAnswer` has no key to this row, and the code
    row records only the day it was used.
    """

    kind = models.CharField("questionnaire", max_length=20, choices=SurveyKind.choices)
    assure = models.ForeignKey(
        Assure, on_delete=models.PROTECT, related_name="+", verbose_name="personne"
    )
    cloture = models.ForeignKey(
        Cloture,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="clôture",
        db_index=False,  # the partial unique constraint starts with it
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="participation",
        db_index=False,  # the partial unique constraint starts with it
    )
    # What the answer will keep (copied at invitation time) and what the response rate counts.
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="région"
    )
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="unité",
    )
    categorie = models.CharField("catégorie d'issue", max_length=20, blank=True)
    action_type = models.ForeignKey(
        ActionType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="type d'action collective",
    )
    access_code = models.ForeignKey(
        AccessCode,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="code d'accès en cours",
    )
    channel = models.CharField("canal", max_length=10, blank=True)
    skipped_reason = models.CharField(
        "non envoyé car", max_length=20, choices=SurveySkipped.choices, blank=True
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    sent_at = models.DateTimeField("envoyée le", null=True, blank=True, db_index=True)
    reminder_sent_at = models.DateTimeField("relance envoyée le", null=True, blank=True)

    class Meta:
        verbose_name = "invitation à une enquête"
        verbose_name_plural = "invitations à une enquête"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cloture__isnull=False, participant__isnull=True)
                | Q(cloture__isnull=True, participant__isnull=False),
                name="survey_invitation_one_origin",
            ),
            models.UniqueConstraint(
                fields=["cloture", "kind"],
                condition=Q(cloture__isnull=False),
                name="survey_invitation_once_per_closure",
            ),
            models.UniqueConstraint(
                fields=["participant", "kind"],
                condition=Q(participant__isnull=False),
                name="survey_invitation_once_per_participant",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} – personne {self.assure_id}"


class SurveyAnswer(models.Model):
    """One set of answers, unlinkable to the person who gave it (issue 11, item 4): the
    questionnaire version, the region and unit, the month the questionnaire was sent (a date
    on the 1st), the action type (end of action) or the closure's outcome category (follow-up)
    and the answers. No key or identifier of the person, the case, the closure, the
    participation, the invitation or the code; a random UUID key (a sequence would order the
    answers as the codes were used); no time finer than the month.
    `tests/outreach/test_surveys.py` walks these fields."""

    id = models.UUIDField("identifiant", primary_key=True, default=uuid.uuid4, editable=False)
    questionnaire = models.ForeignKey(
        Questionnaire,
        on_delete=models.PROTECT,
        related_name="answers",
        verbose_name="questionnaire (version)",
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="région"
    )
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="unité",
    )
    month = models.DateField("mois")
    action_type = models.ForeignKey(
        ActionType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="type d'action collective",
    )
    categorie = models.CharField("catégorie d'issue", max_length=20, blank=True)
    answers = models.JSONField("réponses")

    class Meta:
        verbose_name = "réponse à une enquête"
        verbose_name_plural = "réponses aux enquêtes"
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="survey_answer_month_first"),
        ]
        indexes = [models.Index(fields=["questionnaire", "month"], name="survey_answer_month")]

    def __str__(self):
        return f"Réponse – {self.questionnaire}"


# --- Outreach campaigns (issue 12, first step) -----------------------------------------------


class CanalCampagne(models.TextChoices):
    APPEL = "appel", "Appel par un conseiller"
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"
    COURRIER = "courrier", "Courrier avec QR code"
    WEBINAIRE = "webinaire", "Invitation à un webinaire"
    AUCUN = "aucun", "Aucun"


class Campagne(models.Model):
    """A monthly outreach campaign (domain §8): a population of people on long sick leave,
    segmented by the channel rules (`RegleCanal`) into targets (`Cible`), simulated, then
    validated by the manager. Written by ``outreach.campaigns`` only.

    Scope: one unit (``unit`` set) or the whole region (``unit`` empty). Population: the
    ongoing arrêts of at least ``duree_min_jours`` days on ``date_reference`` whose CPAM is in
    the region, optionally only those of one CPAM import (``cpam_import``)."""

    class Statut(models.TextChoices):
        BROUILLON = "brouillon", "Brouillon"
        SIMULEE = "simulee", "Simulée"
        VALIDEE = "validee", "Validée"
        EN_COURS = "en_cours", "En cours"
        CLOSE = "close", "Close"

    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="région"
    )
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="unité",
        help_text="Vide\u00a0: campagne régionale.",
    )
    nom = models.CharField("nom", max_length=120)
    date_reference = models.DateField("date de référence")
    duree_min_jours = models.PositiveSmallIntegerField("durée d'arrêt minimale (jours)", default=90)
    cpam_import = models.ForeignKey(
        "referrals.CpamImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="import CPAM",
        help_text="Vide\u00a0: tous les arrêts en cours de la région.",
    )
    contact_recent_jours = models.PositiveSmallIntegerField(
        "pas de nouveau contact avant (jours)", default=60
    )
    validite_sms_jours = models.PositiveSmallIntegerField("validité SMS (jours)", default=10)
    validite_email_jours = models.PositiveSmallIntegerField("validité e-mail (jours)", default=10)
    validite_courrier_jours = models.PositiveSmallIntegerField(
        "validité courrier (jours)", default=21
    )
    taux_reponse = models.PositiveSmallIntegerField("taux de réponse attendu (%)", default=15)
    # Sending (outreach.campaign_sending) and call lists (outreach.campaign_calls).
    webinaire = models.ForeignKey(
        ActionCollective,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="webinaire proposé",
        help_text="Pour les personnes dont le canal est « invitation à un webinaire ».",
    )
    relance_jours = models.PositiveSmallIntegerField(
        "relance des SMS et e-mails sans réponse après (jours)", default=3
    )
    tentatives_max = models.PositiveSmallIntegerField("appels au plus par personne", default=3)
    reservation_jours = models.PositiveSmallIntegerField(
        "réservation d'une liste d'appels libérée après (jours)", default=2
    )
    script_appel = models.TextField("script d'appel", max_length=4000, blank=True)
    lancee_le = models.DateTimeField("lancée le", null=True, blank=True)
    close_le = models.DateTimeField("close le", null=True, blank=True)
    statut = models.CharField(
        "statut", max_length=10, choices=Statut.choices, default=Statut.BROUILLON
    )
    # The figures of the last simulation: {"canaux": {...}, "exclusions": {...}, "capacite": {...}}
    simulation = models.JSONField("résultat de la simulation", default=dict, blank=True)
    simulee_le = models.DateTimeField("simulée le", null=True, blank=True)
    validee_le = models.DateTimeField("validée le", null=True, blank=True)
    validee_par = models.ForeignKey(
        "pdp.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="validée par",
    )
    created_by = models.ForeignKey(
        "pdp.User", on_delete=models.PROTECT, related_name="+", verbose_name="créée par"
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("modifiée le", auto_now=True)

    class Meta:
        verbose_name = "campagne"
        ordering = ["-date_reference", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(taux_reponse__lte=100), name="campagne_taux_reponse_percent"
            ),
        ]

    def __str__(self):
        return self.nom

    @property
    def editable(self):
        return self.statut in (self.Statut.BROUILLON, self.Statut.SIMULEE)


class CampagneEvent(models.Model):
    """The history of a campaign: creation, changes, simulations, validation (with the figures
    frozen in ``data``)."""

    class Kind(models.TextChoices):
        CREATED = "created", "Création"
        UPDATED = "updated", "Modification"
        SIMULATED = "simulated", "Simulation"
        VALIDATED = "validated", "Validation"
        LAUNCHED = "launched", "Lancement"
        SENT = "sent", "Envoi"
        LETTERS = "letters", "Lot de courriers"
        REMINDERS = "reminders", "Relances"
        CLOSED = "closed", "Clôture"

    campagne = models.ForeignKey(
        Campagne, on_delete=models.CASCADE, related_name="events", verbose_name="campagne"
    )
    at = models.DateTimeField("date", auto_now_add=True)
    actor = models.ForeignKey(
        "pdp.User", on_delete=models.PROTECT, null=True, related_name="+", verbose_name="auteur"
    )
    kind = models.CharField("type", max_length=10, choices=Kind.choices)
    data = models.JSONField("données", default=dict, blank=True)

    class Meta:
        verbose_name = "événement de campagne"
        verbose_name_plural = "événements de campagne"
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.campagne} – {self.get_kind_display()}"


class RegleCanal(models.Model):
    """One channel rule (domain §4: data, not code). The active rules of a region (else, when the
    region has none, the default rules, ``region`` empty) are tried in ``ordre``; the first whose
    every set condition holds chooses the channel. An empty condition always holds.

    Age in whole years and arrêt duration in days (start day counted) on the campaign's
    reference date; the IJ amount is the arrêt's ``montant_ij`` (a condition on it fails when
    the amount is unknown)."""

    class Contact(models.TextChoices):
        TELEPHONE = "telephone", "Téléphone connu"
        MOBILE = "mobile", "Mobile connu"
        EMAIL = "email", "E-mail connu"
        ADRESSE = "adresse", "Adresse postale connue"

    region = models.ForeignKey(
        Region,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="région",
        help_text="Vide\u00a0: règle par défaut, pour les régions sans règles propres.",
    )
    ordre = models.PositiveSmallIntegerField("ordre")
    libelle = models.CharField("libellé", max_length=120)
    active = models.BooleanField("active", default=True)
    age_min = models.PositiveSmallIntegerField("âge minimal", null=True, blank=True)
    age_max = models.PositiveSmallIntegerField("âge maximal", null=True, blank=True)
    ij_min = models.DecimalField(
        "IJ minimale (€/jour)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    ij_max = models.DecimalField(
        "IJ maximale (€/jour)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    duree_min = models.PositiveSmallIntegerField("durée minimale (jours)", null=True, blank=True)
    duree_max = models.PositiveSmallIntegerField("durée maximale (jours)", null=True, blank=True)
    situation_emploi = models.CharField(
        "situation d'emploi",
        max_length=20,
        choices=Assure._meta.get_field("situation_emploi").choices,
        blank=True,
    )
    contact_connu = models.CharField(
        "coordonnée connue", max_length=10, choices=Contact.choices, blank=True
    )
    canal_prefere = models.CharField(
        "canal préféré",
        max_length=20,
        choices=Assure._meta.get_field("canal_prefere").choices,
        blank=True,
    )
    canal = models.CharField("canal choisi", max_length=10, choices=CanalCampagne.choices)

    class Meta:
        verbose_name = "règle de canal"
        verbose_name_plural = "règles de canal"
        ordering = ["region_id", "ordre", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age_min__isnull=True)
                | Q(age_max__isnull=True)
                | Q(age_min__lte=models.F("age_max")),
                name="regle_canal_age_range",
                violation_error_message="L'âge minimal dépasse l'âge maximal.",
            ),
            models.CheckConstraint(
                condition=Q(duree_min__isnull=True)
                | Q(duree_max__isnull=True)
                | Q(duree_min__lte=models.F("duree_max")),
                name="regle_canal_duree_range",
                violation_error_message="La durée minimale dépasse la durée maximale.",
            ),
            models.CheckConstraint(
                condition=Q(ij_min__isnull=True)
                | Q(ij_max__isnull=True)
                | Q(ij_min__lte=models.F("ij_max")),
                name="regle_canal_ij_range",
                violation_error_message="L'IJ minimale dépasse l'IJ maximale.",
            ),
        ]

    def __str__(self):
        return f"{self.ordre}. {self.libelle}"


class Expiration(models.TextChoices):
    CASE_OPENED = "accompagnement", "Accompagnement ouvert"
    REFUS = "refus", "Refus de la personne"
    CLOSED = "close", "Campagne close"
    ANSWERED = "repondu", "Rendez-vous pris"


class ResultatAppel(models.TextChoices):
    RDV = "rdv", "Joint — rendez-vous pris"
    REFUS = "refus", "Joint — refus"
    RAPPELER = "rappeler", "Joint — rappeler le…"
    MESSAGE = "message", "Message laissé"
    PAS_DE_REPONSE = "pas_de_reponse", "Pas de réponse"
    FAUX_NUMERO = "faux_numero", "Faux numéro"


class Cible(models.Model):
    """One person of a campaign: the channel chosen and the rule that chose it, or why the person
    is excluded. One per (campaign, person): a re-simulation replaces them, a retry of a later
    sending can never reach a person twice."""

    class Exclusion(models.TextChoices):
        SUIVI = "suivi", "Déjà suivi (signalement ou accompagnement ouvert)"
        OPPOSITION = "opposition", "Refus exprimé"
        SANS_CONTACT = "sans_contact", "Pas de coordonnée utilisable pour le canal"
        HORS_TERRITOIRE = "hors_territoire", "Hors du territoire"
        CONTACT_RECENT = "contact_recent", "Contacté récemment"

    campagne = models.ForeignKey(
        Campagne, on_delete=models.CASCADE, related_name="cibles", verbose_name="campagne"
    )
    # Not indexed alone: the index cible_assure_recent starts with it.
    assure = models.ForeignKey(
        Assure, on_delete=models.CASCADE, related_name="+", verbose_name="assuré", db_index=False
    )
    arret = models.ForeignKey(
        "referrals.ArretTravail",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="arrêt",
        db_index=False,
    )
    canal = models.CharField("canal", max_length=10, choices=CanalCampagne.choices)
    regle = models.ForeignKey(
        RegleCanal,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="règle",
        db_index=False,
    )
    exclusion = models.CharField(
        "motif d'exclusion", max_length=20, choices=Exclusion.choices, blank=True
    )
    created_at = models.DateTimeField("créée le")
    # --- Sending (outreach.campaign_sending) ---
    # The channel the call list fell back from (``canal`` then holds the fallback channel).
    repli_de = models.CharField(
        "canal d'origine avant repli",
        max_length=10,
        choices=CanalCampagne.choices,
        blank=True,
        db_default="",  # the targets are written by one INSERT … SELECT
    )
    # Claimed (UPDATE … WHERE envoye_le IS NULL) before anything is sent: a retry sends nothing.
    envoye_le = models.DateTimeField("invitation envoyée le", null=True, blank=True)
    code = models.ForeignKey(
        AccessCode,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="code d'accès",
        db_index=False,  # partial index in Meta
    )
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="message d'invitation",
        db_index=False,
        db_constraint=False,  # partitioned pdp_message (see ClaimedMessage.message)
    )
    lot = models.ForeignKey(
        "LotCourrier",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cibles",
        verbose_name="lot de courriers",
        db_index=False,
    )
    relance_le = models.DateTimeField("relancée le", null=True, blank=True)
    relance_message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="message de relance",
        db_index=False,
        db_constraint=False,  # partitioned pdp_message (see ClaimedMessage.message)
    )
    # --- What the person did ---
    ouvert_le = models.DateTimeField("lien ouvert le", null=True, blank=True)
    signalement = models.ForeignKey(
        Signalement,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="signalement créé",
        db_index=False,
    )
    rdv_pris_le = models.DateTimeField("rendez-vous pris le", null=True, blank=True)
    refus_le = models.DateTimeField("refus exprimé le", null=True, blank=True)
    expire_le = models.DateTimeField("invitation expirée le", null=True, blank=True)
    expiration = models.CharField(
        "motif d'expiration", max_length=14, choices=Expiration.choices, blank=True, db_default=""
    )
    # --- Call list (outreach.campaign_calls) ---
    reserve_par = models.ForeignKey(
        "pdp.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="réservée par",
        db_index=False,
    )
    reserve_jusqu_au = models.DateTimeField("réservée jusqu'au", null=True, blank=True)
    tentatives = models.PositiveSmallIntegerField("appels passés", db_default=0)
    rappeler_le = models.DateTimeField("à rappeler le", null=True, blank=True)
    dernier_resultat = models.CharField(
        "dernier résultat d'appel",
        max_length=14,
        choices=ResultatAppel.choices,
        blank=True,
        db_default="",
    )

    class Meta:
        verbose_name = "cible"
        constraints = [
            models.UniqueConstraint(fields=["campagne", "assure"], name="cible_once_per_campagne"),
        ]
        indexes = [
            models.Index(fields=["assure", "created_at"], name="cible_assure_recent"),
            models.Index(fields=["code"], condition=Q(code__isnull=False), name="cible_code"),
            models.Index(fields=["lot"], condition=Q(lot__isnull=False), name="cible_lot"),
            models.Index(
                fields=["signalement"],
                condition=Q(signalement__isnull=False),
                name="cible_signalement",
            ),
        ]

    def __str__(self):
        return f"{self.campagne} – {self.assure_id}"


class LotCourrier(models.Model):
    """One batch of campaign letters: one PDF of every letter (QR code, typed code) and one CSV
    for an external mail house, written once by ``outreach.campaign_letters`` (the codes in them
    exist nowhere else in clear) and kept in the private storage, downloaded by the managers."""

    class Statut(models.TextChoices):
        PREPARATION = "preparation", "En préparation"
        PRET = "pret", "Prêt"
        ECHEC = "echec", "Échec"

    campagne = models.ForeignKey(
        Campagne, on_delete=models.CASCADE, related_name="lots", verbose_name="campagne"
    )
    numero = models.PositiveSmallIntegerField("numéro")
    statut = models.CharField(
        "statut", max_length=12, choices=Statut.choices, default=Statut.PREPARATION
    )
    nombre = models.PositiveIntegerField("nombre de courriers", default=0)
    pdf = models.CharField("fichier PDF", max_length=255, blank=True)
    csv = models.CharField("fichier CSV", max_length=255, blank=True)
    erreur = models.CharField("erreur", max_length=255, blank=True)
    created_by = models.ForeignKey(
        "pdp.User", on_delete=models.PROTECT, null=True, related_name="+", verbose_name="créé par"
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    pret_le = models.DateTimeField("prêt le", null=True, blank=True)

    class Meta:
        verbose_name = "lot de courriers"
        verbose_name_plural = "lots de courriers"
        ordering = ["campagne", "numero"]
        constraints = [
            models.UniqueConstraint(fields=["campagne", "numero"], name="lot_numero_unique"),
        ]

    def __str__(self):
        return f"{self.campagne} – lot {self.numero}"


class AppelCible(models.Model):
    """One call of a conseiller to a target of a campaign's call list (a contact attempt)."""

    cible = models.ForeignKey(
        Cible, on_delete=models.CASCADE, related_name="appels", verbose_name="cible"
    )
    at = models.DateTimeField("date")
    conseiller = models.ForeignKey(
        "pdp.User", on_delete=models.PROTECT, related_name="+", verbose_name="conseiller"
    )
    resultat = models.CharField("résultat", max_length=14, choices=ResultatAppel.choices)
    rappeler_le = models.DateTimeField("à rappeler le", null=True, blank=True)
    note = models.CharField("note (sans diagnostic)", max_length=300, blank=True)

    class Meta:
        verbose_name = "appel de campagne"
        verbose_name_plural = "appels de campagne"
        ordering = ["cible", "at", "pk"]

    def __str__(self):
        return f"{self.cible} – {self.get_resultat_display()}"
