"""Right of access (RGPD art. 15, issue 14 item 3): an archive of everything held about one
person, as a PDF and as JSON.

The unit's manager asks for it (`archive_request`): an `AccessArchive` « en préparation » and,
on commit, the Celery task `privacy.tasks_archive.build_access_archive(archive_id)`, which
calls `archive_build`: it locks the pending row (``SELECT … FOR UPDATE SKIP LOCKED``: a retry
or a second worker finds nothing to do), collects the data (`collect`), writes the JSON and
the PDF under ``PRIVATE_MEDIA_ROOT/archives/<uuid>/`` with a random part in their names, and
marks the archive « prête » until ``ACCESS_ARCHIVE_DAYS`` later. Without WeasyPrint the PDF
part fails with `pdp.pdf`'s French message (kept in `error`) and the JSON is still built.
The nightly `archive_purge_expired` removes the files of expired archives.

What is collected: one query per section (`SECTIONS`), whatever the person's volume, each
filtered on the person and reading only their own rows, the staff who wrote them (name) and
reference data (unit, partner, instance, action, campaign names). Rows of other people that
share a record with the person — the other situations of a cellule meeting, the other
participants of a collective action, the other targets of a campaign — are never read.
Documents are listed (name, date, type, size), not included.

The JSON (``schema_version`` 1)::

    {
      "schema_version": 1,
      "generated_at": "2026-12-03T14:05:00+01:00",        # ISO 8601, Europe/Paris
      "assure_id": 42,
      "sections": [
        {
          "key": "arrets",                                 # stable identifier
          "label": "Arrêts de travail",                    # French title
          "columns": [{"key": "date_debut", "label": "Début"}, …],
          "rows": [{"date_debut": "2026-01-05", …}, …]     # keyed by the columns' keys
        },
        …
      ]
    }

Values: dates and times in ISO 8601 (times in Europe/Paris), choices by their French label,
staff by their name, amounts as decimal strings, booleans as booleans, empty as null.
A new column or section keeps ``schema_version``; renaming or removing one raises it.
"""

import contextlib
import datetime
import decimal
import functools
import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst

from cases.models import (
    Accompagnement,
    Action,
    CaseEvent,
    CaseShare,
    Cloture,
    Consentement,
    DispositifMobilise,
    DispositifPeriode,
    Document,
    Entretien,
    EvaluationGlobale,
    Objectif,
    Orientation,
)
from cases.permissions import can_request_access_archive
from collective.models import Participant
from collective.models import Presence as PresenceSeance
from coordination.models import ActionInstance, Decision, PointOrdreDuJour, Saisine
from outreach.models import AppelCible, Cible, SurveyInvitation
from pdp.audit import audit, audit_many, object_type_label
from pdp.models import AccessCode, AuditLog, Message
from pdp.pdf import PdfUnavailable, render_pdf
from pdp.permissions import FORBIDDEN_MESSAGE
from pdp.private_files import private_path
from privacy.models import AccessArchive
from referrals.models import ArretTravail, Assure, ContactAttempt, Signalement, SignalementEvent

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PDF_TEMPLATE = "privacy/archive_pdf.html"
FAILED = "La préparation de l'archive a échoué (erreur technique)\u00a0: demandez-en une nouvelle."
PENDING_EXISTS = "Une archive est déjà en préparation pour cette personne."


# --- What is collected -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # hashed by identity: its columns are computed once
class Section:
    """One kind of record: its rows of the person, one query. `columns` are space-separated
    lookup paths from `model` (« cpam__name » through a foreign key); a foreign key to a user
    gives their name. A column's label is the verbose name of its path's first field, or
    `labels[path]`; `displays[path]` turns a stored value into what is shown."""

    key: str
    label: str
    model: type
    person: str  # the lookup from the model to the assuré's id
    columns: str
    order_by: tuple = ("pk",)
    labels: dict = field(default_factory=dict)
    displays: dict = field(default_factory=dict)
    tabular: bool = False  # few narrow columns: one table in the PDF, else one block per row


S = Section
SECTIONS = (
    S(
        "identite",
        "Identité",
        Assure,
        "pk",
        "nir nom_naissance nom_usage prenoms date_naissance sexe adresse code_postal commune"
        " telephone email regime cpam__name situation_emploi employeur_nom employeur_siret"
        " poste rqth spst__name canal_prefere rappels pas_de_sms pas_de_relance created_at"
        " updated_at",
    ),
    S(
        "arrets",
        "Arrêts de travail",
        ArretTravail,
        "assure_id",
        "type_arret date_debut date_fin_prevue date_fin_reelle montant_ij cpam__name"
        " extract_date created_at updated_at",
        order_by=("date_debut", "pk"),
    ),
    S(
        "signalements",
        "Signalements",
        Signalement,
        "assure_id",
        "date_signalement service origine statut unit__name assigned_to date_echeance motif"
        " created_by rdv_debut rdv_duree_minutes rdv_mode rdv_ass visite_pre_reprise_demandee_le"
        " tpt_decision tpt_decision_le created_at",
        order_by=("date_signalement", "pk"),
    ),
    S(
        "signalements_historique",
        "Historique des signalements",
        SignalementEvent,
        "signalement__assure_id",
        "signalement__date_signalement at kind old_value new_value reason actor",
        order_by=("at", "pk"),
        labels={"signalement__date_signalement": "signalement du"},
    ),
    S(
        "tentatives_contact",
        "Tentatives de contact",
        ContactAttempt,
        "signalement__assure_id",
        "at canal resultat note user",
        order_by=("at", "pk"),
    ),
    S(
        "accompagnements",
        "Accompagnements",
        Accompagnement,
        "assure_id",
        "date_ouverture date_cloture mission statut referent unit__name",
        order_by=("date_ouverture", "pk"),
    ),
    S(
        "accompagnements_historique",
        "Historique des accompagnements",
        CaseEvent,
        "accompagnement__assure_id",
        "at kind summary detail actor",
        order_by=("at", "pk"),
    ),
    S(
        "partages",
        "Partages de l'accompagnement",
        CaseShare,
        "accompagnement__assure_id",
        "user reason comment date_debut date_fin created_by revoked_at",
        order_by=("date_debut", "pk"),
    ),
    S(
        "entretiens",
        "Entretiens",
        Entretien,
        "accompagnement__assure_id",
        "debut duree_minutes ass mode statut note",
        order_by=("debut", "pk"),
    ),
    S(
        "evaluations",
        "Évaluations globales",
        EvaluationGlobale,
        "accompagnement__assure_id",
        "version created_at created_by contraintes_sante emploi droits ressources vie_sociale"
        " logement competences freins niveau_risque",
        order_by=("accompagnement_id", "version"),
    ),
    S(
        "plan_objectifs",
        "Plan d'aide\u00a0: objectifs",
        Objectif,
        "accompagnement__assure_id",
        "domaine libelle echeance statut created_at",
    ),
    S(
        "plan_actions",
        "Plan d'aide\u00a0: actions",
        Action,
        "objectif__accompagnement__assure_id",
        "objectif__libelle libelle porteur echeance faite",
    ),
    S(
        "dispositifs",
        "Dispositifs mobilisés",
        DispositifMobilise,
        "accompagnement__assure_id",
        "type__label statut date_debut date_fin entreprise_accueil entreprise_siret"
        " chez_employeur prescripteur accord_medecin_traitant accord_medecin_conseil"
        " accord_medecin_travail autorisation_cpam convention_signee renouvellements"
        " date_fin_initiale inaptitude duree_heures resultat created_at",
    ),
    S(
        "dispositifs_periodes",
        "Périodes des dispositifs",
        DispositifPeriode,
        "dispositif__accompagnement__assure_id",
        "dispositif__type__label date_debut date_fin renouvellement",
        order_by=("date_debut", "pk"),
        tabular=True,
    ),
    S(
        "orientations",
        "Orientations",
        Orientation,
        "accompagnement__assure_id",
        "date_orientation partner_kind partner__name motif accord_assure statut suivi",
        order_by=("date_orientation", "pk"),
    ),
    S(
        "consentements",
        "Consentements",
        Consentement,
        "assure_id",
        "portee date_recueil date_revocation recorded_by",
        order_by=("date_recueil", "pk"),
        tabular=True,
    ),
    S(
        "clotures",
        "Clôtures",
        Cloture,
        "accompagnement__assure_id",
        "date_cloture outcome commentaire closed_by created_at",
    ),
    S(
        "documents",
        "Documents (liste, sans leur contenu)",
        Document,
        "accompagnement__assure_id",
        "nom uploaded_at content_type taille uploaded_by",
        order_by=("uploaded_at", "pk"),
        tabular=True,
    ),
    S(
        "cellule_saisines",
        "Cellule PDP\u00a0: situations présentées",
        Saisine,
        "accompagnement__assure_id",
        "instance__nom submitted_at submitted_by statut question urgence initiales tranche_age"
        " sexe situation_emploi poste secteur_employeur taille_employeur arret limitations"
        " freins pistes dispositifs retiree_le",
        order_by=("submitted_at", "pk"),
    ),
    # The person's own points only: the other situations of the same meetings are not read.
    S(
        "cellule_points",
        "Cellule PDP\u00a0: passages en réunion",
        PointOrdreDuJour,
        "saisine__accompagnement__assure_id",
        "reunion__debut reunion__instance__nom origine synthese a_representer",
        order_by=("reunion__debut", "pk"),
        labels={"reunion__instance__nom": "instance"},
    ),
    S(
        "cellule_decisions",
        "Cellule PDP\u00a0: décisions",
        Decision,
        "point__saisine__accompagnement__assure_id",
        "point__reunion__debut type__libelle texte provisoire created_by created_at",
        order_by=("created_at", "pk"),
        labels={"point__reunion__debut": "réunion du"},
    ),
    S(
        "cellule_actions",
        "Cellule PDP\u00a0: actions",
        ActionInstance,
        "point__saisine__accompagnement__assure_id",
        "point__reunion__debut libelle responsable__user responsable__contact__name echeance"
        " statut compte_rendu created_by created_at closed_at",
        order_by=("created_at", "pk"),
        labels={
            "point__reunion__debut": "réunion du",
            "responsable__user": "confiée à",
            "responsable__contact__name": "confiée au partenaire",
        },
    ),
    S(
        "actions_collectives",
        "Actions collectives\u00a0: participations",
        Participant,
        "assure_id",
        "action__titre action__type__label statut__label source inscrit_le accord_le accord_par"
        " confirmer_avant",
        order_by=("inscrit_le", "pk"),
        labels={"action__titre": "action collective", "action__type__label": "type d'action"},
    ),
    S(
        "actions_collectives_presences",
        "Actions collectives\u00a0: présences",
        PresenceSeance,
        "participant__assure_id",
        "seance__action__titre seance__debut statut recorded_by",
        order_by=("seance__debut", "pk"),
        labels={"seance__action__titre": "action collective", "seance__debut": "séance du"},
        tabular=True,
    ),
    S(
        "messages",
        "Messages envoyés",
        Message,
        "assure_id",
        "created_at channel recipient subject body status sent_at delivery_status",
        order_by=("created_at", "pk"),
    ),
    S(
        "campagnes",
        "Campagnes\u00a0: invitations",
        Cible,
        "assure_id",
        "campagne__nom canal exclusion created_at envoye_le relance_le ouvert_le rdv_pris_le"
        " refus_le expire_le expiration tentatives dernier_resultat",
        order_by=("created_at", "pk"),
    ),
    S(
        "campagnes_appels",
        "Campagnes\u00a0: appels",
        AppelCible,
        "cible__assure_id",
        "cible__campagne__nom at conseiller resultat note",
        order_by=("at", "pk"),
        labels={"cible__campagne__nom": "campagne"},
        tabular=True,
    ),
    S(
        "enquetes",
        "Enquêtes envoyées",
        SurveyInvitation,
        "assure_id",
        "kind channel created_at sent_at reminder_sent_at skipped_reason",
        order_by=("created_at", "pk"),
        tabular=True,
    ),
    S(
        "codes_acces",
        "Codes d'accès (sans le code)",
        AccessCode,
        "assure_id",
        "purpose created_at expires_at used_at revoked_at",
        order_by=("created_at", "pk"),
        tabular=True,
    ),
    S(
        "journal_acces",
        "Journal des accès au dossier",
        AuditLog,
        "assure_id",
        "at user user__role user__unit__name action object_type",
        order_by=("at", "pk"),
        labels={
            "user": "personne",
            "user__role": "rôle",
            "user__unit__name": "unité",
            "object_type": "objet",
        },
        displays={"object_type": object_type_label},
        tabular=True,
    ),
)

USER_FIELDS = ("first_name", "last_name", "username")


def _resolve(model, path):
    """(first field, last field, is a user) of a lookup path."""
    user_model = get_user_model()
    first = last = None
    for part in path.split("__"):
        last = model._meta.get_field(part)
        first = first or last
        if last.is_relation:
            model = last.related_model
    is_user = last.is_relation and last.related_model is user_model
    if last.is_relation and not is_user:
        raise ValueError(f"{path}: a foreign key other than a user needs a field after it")
    return first, last, is_user


@dataclass(frozen=True)
class _Column:
    key: str
    label: str
    paths: tuple  # what .values() reads: the field, or a user's name fields
    choices: dict | None
    display: object
    is_user: bool


@functools.cache
def _columns(section):
    columns = []
    for path in section.columns.split():
        first, last, is_user = _resolve(section.model, path)
        columns.append(
            _Column(
                key=path,
                label=capfirst(section.labels.get(path) or first.verbose_name),
                paths=tuple(f"{path}__{f}" for f in USER_FIELDS) if is_user else (path,),
                choices=dict(last.flatchoices) if last.choices else None,
                display=section.displays.get(path),
                is_user=is_user,
            )
        )
    return tuple(columns)


def _user_name(first_name, last_name, username):
    if username is None:
        return None
    return f"{first_name} {last_name}".strip() or username


def _value(row, column):
    if column.is_user:
        return _user_name(*(row[p] for p in column.paths))
    value = row[column.paths[0]]
    if value in (None, ""):
        return value
    if column.choices is not None:
        value = str(column.choices.get(value, value))
    if column.display is not None:
        value = column.display(value)
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value)
    return value


def collect(assure_id):
    """Everything held about the person `assure_id`: {"assure_id", "generated_at", "sections":
    [{"key", "label", "tabular", "columns": [{"key", "label"}], "rows": [{key: value}]}]},
    values as Python objects (dates, aware datetimes in Europe/Paris, decimals). One query
    per section."""
    sections = []
    for section in SECTIONS:
        columns = _columns(section)
        rows = (
            section.model._default_manager.filter(**{section.person: assure_id})
            .order_by(*section.order_by)
            .values(*(p for c in columns for p in c.paths))
        )
        sections.append(
            {
                "key": section.key,
                "label": section.label,
                "tabular": section.tabular,
                "columns": [{"key": c.key, "label": c.label} for c in columns],
                "rows": [{c.key: _value(row, c) for c in columns} for row in rows],
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": timezone.localtime(),
        "assure_id": assure_id,
        "sections": sections,
    }


# --- The two files -----------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, datetime.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"not serialisable: {type(value).__name__}")


def archive_json(data):
    """The JSON file (UTF-8 bytes) of `collect`'s result: the structure of the module's
    docstring."""
    document = {
        "schema_version": data["schema_version"],
        "generated_at": data["generated_at"],
        "assure_id": data["assure_id"],
        "sections": [
            {k: section[k] for k in ("key", "label", "columns", "rows")}
            for section in data["sections"]
        ],
    }
    return json.dumps(document, default=_json_default, ensure_ascii=False, indent=2).encode()


def display(value):
    """A value as the PDF shows it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime.datetime):
        return f"{timezone.localtime(value):%d/%m/%Y %H:%M}"
    if isinstance(value, datetime.date):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, decimal.Decimal):
        return str(value).replace(".", ",")
    return str(value)


def archive_pdf(data, *, assure, archive):
    """The PDF file (bytes); raises `pdp.pdf.PdfUnavailable` without WeasyPrint."""
    sections = [
        {
            "label": section["label"],
            "tabular": section["tabular"],
            "labels": [c["label"] for c in section["columns"]],
            "rows": [
                [(c["label"], display(row[c["key"]])) for c in section["columns"]]
                for row in section["rows"]
            ],
        }
        for section in data["sections"]
    ]
    return render_pdf(
        PDF_TEMPLATE,
        {
            "assure": assure,
            "archive": archive,
            "generated_at": data["generated_at"],
            "sections": sections,
        },
    )


# --- Asking for an archive ---------------------------------------------------------------------


@transaction.atomic
def archive_request(*, assure, acting_user):
    """A new archive of `assure`'s data, built by a Celery task on commit. For the manager of
    the unit of one of the person's cases or referrals (`can_request_access_archive`);
    refused (ValidationError with a French message) while another one is being prepared."""
    if not can_request_access_archive(acting_user, assure):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    Assure.objects.select_for_update().filter(pk=assure.pk).first()  # one request at a time
    if AccessArchive.objects.filter(assure=assure, status=AccessArchive.Status.PENDING).exists():
        raise ValidationError(PENDING_EXISTS)
    archive = AccessArchive.objects.create(assure=assure, requested_by=acting_user)
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=archive,
        assure_id=assure.pk,
        changes={"statut": [None, archive.status]},
    )
    from privacy.tasks_archive import build_access_archive

    transaction.on_commit(lambda: build_access_archive.delay(str(archive.pk)))
    return archive


# --- Building it (the task) --------------------------------------------------------------------


def archive_build(*, archive_id, now=None):
    """Build the pending archive `archive_id`. Returns it, or None when there was nothing to
    do (already built, failed, or being built by another worker)."""
    written = []
    try:
        with transaction.atomic():
            return _build(archive_id, now or timezone.now(), written)
    except Exception:
        for path in written:
            path.unlink(missing_ok=True)
        logger.exception("access archive %s failed", archive_id)
        _fail(archive_id, FAILED)
        return None


@transaction.atomic
def _fail(archive_id, message):
    updated = AccessArchive.objects.filter(
        pk=archive_id, status=AccessArchive.Status.PENDING
    ).update(status=AccessArchive.Status.FAILED, error=message[:255])
    if updated:
        archive = AccessArchive.objects.get(pk=archive_id)
        audit(
            user=None,
            action=AuditLog.Action.UPDATE,
            obj=archive,
            assure_id=archive.assure_id,
            changes={"statut": [AccessArchive.Status.PENDING, archive.status]},
        )


def _build(archive_id, now, written):
    archive = (
        AccessArchive.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("assure")
        .filter(pk=archive_id, status=AccessArchive.Status.PENDING)
        .first()
    )
    if archive is None:
        return None
    data = collect(archive.assure_id)
    folder = Path("archives") / str(archive.pk)
    stem = f"droit-acces-{secrets.token_hex(8)}"
    archive.json_path = _write(folder / f"{stem}.json", archive_json(data), written)
    try:
        pdf = archive_pdf(data, assure=archive.assure, archive=archive)
    except PdfUnavailable as exc:
        archive.error = f"PDF non produit\u00a0: {exc}"[:255]
    else:
        archive.pdf_path = _write(folder / f"{stem}.pdf", pdf, written)
        archive.error = ""
    archive.status = AccessArchive.Status.READY
    archive.ready_at = now
    archive.expires_at = now + datetime.timedelta(days=settings.ACCESS_ARCHIVE_DAYS)
    archive.save(
        update_fields=["json_path", "pdf_path", "error", "status", "ready_at", "expires_at"]
    )
    audit(
        user=archive.requested_by,
        action=AuditLog.Action.UPDATE,
        obj=archive,
        assure_id=archive.assure_id,
        changes={
            "statut": [AccessArchive.Status.PENDING, archive.status],
            "pdf": [None, bool(archive.pdf_path)],
        },
    )
    return archive


def _write(relative, content, written):
    path = private_path(str(relative))
    path.parent.mkdir(parents=True, exist_ok=True)
    written.append(path)
    path.write_bytes(content)
    return str(relative)


# --- Reading and expiring it -------------------------------------------------------------------


def is_expired(archive, now=None):
    if archive.status == AccessArchive.Status.EXPIRED:
        return True
    return archive.expires_at is not None and archive.expires_at <= (now or timezone.now())


def archive_file(archive, kind):
    """The path of the archive's `kind` (« pdf » or « json ») file; ValueError when it has
    none (not ready, PDF not produced, purged) or it would leave PRIVATE_MEDIA_ROOT."""
    relative = archive.pdf_path if kind == "pdf" else archive.json_path
    if archive.status != AccessArchive.Status.READY or not relative:
        raise ValueError("no file")
    return private_path(relative)


def archive_purge_expired(*, now=None):
    """The nightly job: the files of the ready archives past their expiry are removed and the
    archives marked « expirée » (a second run finds nothing). Returns how many."""
    now = now or timezone.now()
    purged = 0
    with transaction.atomic():
        archives = list(
            AccessArchive.objects.select_for_update(skip_locked=True).filter(
                status=AccessArchive.Status.READY, expires_at__lte=now
            )
        )
        for archive in archives:
            for relative in (archive.pdf_path, archive.json_path):
                if relative:
                    path = private_path(relative)
                    path.unlink(missing_ok=True)
                    with contextlib.suppress(OSError):  # not empty yet, or already gone
                        path.parent.rmdir()
        purged = AccessArchive.objects.filter(pk__in=[a.pk for a in archives]).update(
            status=AccessArchive.Status.EXPIRED, pdf_path="", json_path=""
        )
        audit_many(
            user=None,
            action=AuditLog.Action.DELETE,
            model=AccessArchive,
            entries=(
                (a.pk, a.assure_id, {"statut": [a.status, AccessArchive.Status.EXPIRED]})
                for a in archives
            ),
        )
    logger.info("access archives purged: %s", purged)
    return purged
