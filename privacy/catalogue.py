"""The retention catalogue (issue 14, item 2): every field of every model of the project's
apps, and what becomes of it when its time is up. One source of truth — the test
(`tests/privacy/test_catalogue.py`) fails on any model or field left out and on any entry
that no longer exists, and the retention job (`privacy.retention`) reads from here which rows
are a person's, how to reach them, which dates count as their activity, and which fields to
blank. Borrowed from RDV Service Public's `anonymizer.yml` and `validate_exhaustivity!`.

Rules:

- KEEP: not personal (reference data, staff accounts, statistics) or kept as it is.
- DELETE: the row goes away with the person it belongs to (tables with a `person` path).
- AGGREGATE: summarised into the person's `privacy.AnonymousCase` rows, then deleted with
  the rest of the row.
- ANONYMISE: overwritten by a neutral value (empty text, empty JSON, NULL) — when the row's
  person is anonymised (tables with a `person` path: their rows stay, blanked, and a plain
  `assure_id` link column is cleared), and, for a table with `expires`, when the row is older
  than the setting it names (message receipts after 6 months).

A table with a `person` path whose fields are DELETE/AGGREGATE is deleted with the person; one
whose fields are KEEP/ANONYMISE keeps its rows, blanked. `person` is the ORM lookup from the
model to the assuré's id (`"pk"` for the assuré itself; a tuple: any of them); `activity` names
the date fields that count as a contact with the person (their latest is the person's last
activity); `expires` = (date field, setting name, extra filter).
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.db import models

KEEP = "keep"
ANONYMISE = "anonymise"
DELETE = "delete"
AGGREGATE = "aggregate"
RULES = (KEEP, ANONYMISE, DELETE, AGGREGATE)

# The apps whose models the catalogue must cover (the test walks them).
APPS = (
    "pdp",
    "referrals",
    "cases",
    "coordination",
    "collective",
    "outreach",
    "indicators",
    "privacy",
)


@dataclass(frozen=True)
class Table:
    fields: dict
    person: str | tuple | None = None
    activity: tuple = ()
    expires: tuple | None = None
    extra: dict = field(default_factory=dict)

    @property
    def person_paths(self):
        if self.person is None:
            return ()
        return self.person if isinstance(self.person, tuple) else (self.person,)

    @property
    def deleted_with_person(self):
        return self.person is not None and any(
            rule in (DELETE, AGGREGATE) for rule in self.fields.values()
        )

    def fields_with(self, rule):
        return [name for name, r in self.fields.items() if r == rule]


CATALOGUE = {
    # --- pdp -----------------------------------------------------------------------------
    "pdp.Region": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "name": KEEP,
            "medical_threshold_days": KEEP,
            "social_threshold_days": KEEP,
            "first_contact_deadline_day": KEEP,
        }
    ),
    "pdp.Unit": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "code": KEEP,
            "name": KEEP,
            "telephone": KEEP,
            "auto_assign": KEEP,
        }
    ),
    "pdp.UnitTerritory": Table(
        fields={
            "id": KEEP,
            "unit": KEEP,
            "prefix": KEEP,
        }
    ),
    "pdp.CpamOffice": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "code": KEEP,
            "name": KEEP,
        }
    ),
    "pdp.Partner": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "kind": KEEP,
            "name": KEEP,
            "address": KEEP,
            "phone": KEEP,
            "email": KEEP,
        }
    ),
    "pdp.PartnerContact": Table(
        fields={
            "id": KEEP,
            "partner": KEEP,
            "name": KEEP,
            "function": KEEP,
            "phone": KEEP,
            "email": KEEP,
        }
    ),
    "pdp.User": Table(
        fields={
            "id": KEEP,
            "password": KEEP,
            "last_login": KEEP,
            "is_superuser": KEEP,
            "first_name": KEEP,
            "last_name": KEEP,
            "email": KEEP,
            "is_active": KEEP,
            "date_joined": KEEP,
            "username": KEEP,
            "is_staff": KEEP,
            "role": KEEP,
            "unit": KEEP,
            "region": KEEP,
            "ics_token": KEEP,
            "groups": KEEP,
            "user_permissions": KEEP,
        }
    ),
    "pdp.AuditLog": Table(
        person="assure_id",
        fields={
            "id": KEEP,
            "at": KEEP,
            "user": KEEP,
            "action": KEEP,
            "object_type": KEEP,
            "object_id": KEEP,
            "assure_id": KEEP,
            "changes": ANONYMISE,
        },
    ),
    "pdp.AccessCode": Table(
        activity=("created_at", "used_at"),
        person="assure_id",
        fields={
            "id": DELETE,
            "purpose": DELETE,
            "digest": DELETE,
            "assure_id": DELETE,
            "object_type": DELETE,
            "object_id": DELETE,
            "created_at": DELETE,
            "created_by": DELETE,
            "expires_at": DELETE,
            "used_at": DELETE,
            "revoked_at": DELETE,
            "failed_checks": DELETE,
            "locked_at": DELETE,
        },
    ),
    "pdp.Message": Table(
        expires=("created_at", "RETENTION_MESSAGE_DAYS", {"status__in": ["sent", "failed"]}),
        activity=("created_at",),
        person="assure_id",
        fields={
            "id": KEEP,
            "channel": KEEP,
            "template": KEEP,
            "recipient": ANONYMISE,
            "assure_id": KEEP,
            "object_type": KEEP,
            "object_id": KEEP,
            "subject": ANONYMISE,
            "body": ANONYMISE,
            "status": KEEP,
            "send_after": KEEP,
            "sent_at": KEEP,
            "provider_id": ANONYMISE,
            "segments": KEEP,
            "error": ANONYMISE,
            "delivery_status": KEEP,
            "delivery_at": KEEP,
            "delivery_received_at": KEEP,
            "created_at": KEEP,
        },
    ),
    # --- referrals -----------------------------------------------------------------------
    "referrals.Assure": Table(
        activity=("created_at",),
        person="pk",
        fields={
            "id": DELETE,
            "nir": DELETE,
            "nom_naissance": DELETE,
            "nom_usage": DELETE,
            "prenoms": DELETE,
            "date_naissance": AGGREGATE,
            "sexe": AGGREGATE,
            "adresse": DELETE,
            "code_postal": DELETE,
            "commune": DELETE,
            "telephone": DELETE,
            "email": DELETE,
            "regime": DELETE,
            "cpam": DELETE,
            "situation_emploi": DELETE,
            "employeur_nom": DELETE,
            "employeur_siret": DELETE,
            "poste": DELETE,
            "rqth": DELETE,
            "spst": DELETE,
            "canal_prefere": DELETE,
            "rappels": DELETE,
            "pas_de_sms": DELETE,
            "pas_de_relance": DELETE,
            "search_name": DELETE,
            "created_at": DELETE,
            "updated_at": DELETE,
        },
    ),
    "referrals.ArretTravail": Table(
        activity=("date_debut", "date_fin_prevue", "date_fin_reelle"),
        person="assure",
        fields={
            "id": DELETE,
            "assure": DELETE,
            "type_arret": AGGREGATE,
            "date_debut": AGGREGATE,
            "date_fin_prevue": AGGREGATE,
            "date_fin_reelle": AGGREGATE,
            "montant_ij": DELETE,
            "cpam": DELETE,
            "last_import": DELETE,
            "extract_date": DELETE,
            "created_at": DELETE,
            "updated_at": DELETE,
        },
    ),
    "referrals.Signalement": Table(
        activity=("date_signalement",),
        person="assure",
        fields={
            "id": DELETE,
            "assure": DELETE,
            "arret": AGGREGATE,
            "service": DELETE,
            "origine": DELETE,
            "region": AGGREGATE,
            "date_signalement": AGGREGATE,
            "statut": AGGREGATE,
            "unit": AGGREGATE,
            "assigned_to": DELETE,
            "date_echeance": DELETE,
            "motif": DELETE,
            "forwarded_from": DELETE,
            "created_by": DELETE,
            "rdv_debut": DELETE,
            "rdv_duree_minutes": DELETE,
            "rdv_mode": DELETE,
            "rdv_ass": DELETE,
            "rdv_par": DELETE,
            "visite_pre_reprise_demandee_le": DELETE,
            "tpt_decision": DELETE,
            "tpt_decision_le": DELETE,
            "created_at": DELETE,
            "updated_at": DELETE,
        },
    ),
    "referrals.SignalementEvent": Table(
        activity=("at",),
        person="signalement__assure",
        fields={
            "id": DELETE,
            "signalement": DELETE,
            "at": DELETE,
            "actor": DELETE,
            "kind": DELETE,
            "old_value": DELETE,
            "new_value": DELETE,
            "reason": DELETE,
        },
    ),
    "referrals.ContactAttempt": Table(
        activity=("at",),
        person="signalement__assure",
        fields={
            "id": DELETE,
            "signalement": DELETE,
            "at": DELETE,
            "canal": DELETE,
            "resultat": DELETE,
            "note": DELETE,
            "user": DELETE,
        },
    ),
    "referrals.CpamImport": Table(
        fields={
            "id": KEEP,
            "file_name": KEEP,
            "cpam": KEEP,
            "user": KEEP,
            "created_at": KEEP,
            "extract_date": KEEP,
            "status": KEEP,
            "message": KEEP,
            "rows_read": KEEP,
            "rows_created": KEEP,
            "rows_updated": KEEP,
            "rows_unchanged": KEEP,
            "rows_ignored_older": KEEP,
            "rows_rejected": KEEP,
            # The hash of an uploaded file (no content can be read back from it) and its line
            # count; the stored file itself is deleted by the worker once the import is over
            # (its name is cleared then): nothing personal is kept in these columns.
            "sha256": KEEP,
            "stored_file": KEEP,
            "lines_total": KEEP,
        }
    ),
    "referrals.CpamImportCaisse": Table(
        fields={
            "id": KEEP,
            "cpam_import": KEEP,
            "cpam": KEEP,
            "line_count": KEEP,
        }
    ),
    "referrals.ImportRejection": Table(
        expires=("cpam_import__created_at", "RETENTION_AUDIT_DAYS", {}),
        fields={
            "id": KEEP,
            "cpam_import": KEEP,
            "line_number": KEEP,
            "reason": KEEP,
            "raw_line": ANONYMISE,
        },
    ),
    "referrals.DetectionRun": Table(
        fields={
            "id": KEEP,
            "day": KEEP,
            "region": KEEP,
            "launched_by": KEEP,
            "started_at": KEEP,
            "finished_at": KEEP,
            "status": KEEP,
            "message": KEEP,
            "arrets_examines": KEEP,
            "sans_cpam": KEEP,
            "medical": KEEP,
            "social": KEEP,
            "attribues_auto": KEEP,
            "a_repartir": KEEP,
        }
    ),
    # --- cases ---------------------------------------------------------------------------
    "cases.Accompagnement": Table(
        activity=("date_ouverture", "date_cloture"),
        person="assure",
        fields={
            "id": DELETE,
            "assure": DELETE,
            "referent": DELETE,
            "unit": AGGREGATE,
            "region": AGGREGATE,
            "mission": AGGREGATE,
            "statut": DELETE,
            "date_ouverture": AGGREGATE,
            "date_cloture": AGGREGATE,
            "signalement": AGGREGATE,
            "created_at": DELETE,
            "updated_at": DELETE,
        },
    ),
    "cases.CaseShare": Table(
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "user": DELETE,
            "reason": DELETE,
            "comment": DELETE,
            "date_debut": DELETE,
            "date_fin": DELETE,
            "created_by": DELETE,
            "created_at": DELETE,
            "revoked_at": DELETE,
            "revoked_by": DELETE,
        },
    ),
    "cases.CaseEvent": Table(
        activity=("at",),
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "at": DELETE,
            "actor": DELETE,
            "kind": DELETE,
            "summary": DELETE,
            "detail": DELETE,
            "changes": DELETE,
        },
    ),
    "cases.EvaluationGlobale": Table(
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "version": DELETE,
            "contraintes_sante": DELETE,
            "emploi": DELETE,
            "droits": DELETE,
            "ressources": DELETE,
            "vie_sociale": DELETE,
            "logement": DELETE,
            "competences": DELETE,
            "freins": DELETE,
            "niveau_risque": DELETE,
            "created_by": DELETE,
            "created_at": DELETE,
        },
    ),
    "cases.Objectif": Table(
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "domaine": DELETE,
            "libelle": DELETE,
            "echeance": DELETE,
            "statut": DELETE,
            "created_at": DELETE,
        },
    ),
    "cases.Action": Table(
        person="objectif__accompagnement__assure",
        fields={
            "id": DELETE,
            "objectif": DELETE,
            "libelle": DELETE,
            "porteur": DELETE,
            "echeance": DELETE,
            "faite": DELETE,
        },
    ),
    "cases.Entretien": Table(
        activity=("debut",),
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "debut": DELETE,
            "duree_minutes": DELETE,
            "ass": DELETE,
            "mode": DELETE,
            "statut": AGGREGATE,
            "note": DELETE,
        },
    ),
    "cases.Orientation": Table(
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "partner_kind": DELETE,
            "partner": DELETE,
            "motif": DELETE,
            "accord_assure": DELETE,
            "date_orientation": DELETE,
            "statut": DELETE,
            "suivi": DELETE,
        },
    ),
    "cases.DispositifType": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "label": KEEP,
            "phase": KEEP,
            "description": KEEP,
            "active": KEEP,
        }
    ),
    "cases.DispositifMobilise": Table(
        activity=("date_debut", "date_fin"),
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "type": AGGREGATE,
            "statut": DELETE,
            "date_debut": DELETE,
            "date_fin": DELETE,
            "entreprise_accueil": DELETE,
            "entreprise_siret": DELETE,
            "chez_employeur": DELETE,
            "prescripteur": DELETE,
            "accord_medecin_traitant": DELETE,
            "accord_medecin_conseil": DELETE,
            "accord_medecin_travail": DELETE,
            "autorisation_cpam": DELETE,
            "convention_signee": DELETE,
            "renouvellements": DELETE,
            "date_fin_initiale": DELETE,
            "inaptitude": DELETE,
            "duree_heures": DELETE,
            "resultat": DELETE,
            "created_at": DELETE,
        },
    ),
    "cases.DispositifPeriode": Table(
        activity=("date_fin",),
        person="dispositif__accompagnement__assure",
        fields={
            "id": DELETE,
            "dispositif": DELETE,
            "date_debut": DELETE,
            "date_fin": DELETE,
            "renouvellement": DELETE,
        },
    ),
    "cases.Consentement": Table(
        activity=("date_recueil", "date_revocation"),
        person="assure",
        fields={
            "id": DELETE,
            "assure": DELETE,
            "portee": DELETE,
            "date_recueil": DELETE,
            "date_revocation": DELETE,
            "recorded_by": DELETE,
        },
    ),
    "cases.Cloture": Table(
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "outcome": AGGREGATE,
            "date_cloture": AGGREGATE,
            "commentaire": DELETE,
            "closed_by": DELETE,
            "created_at": DELETE,
        },
    ),
    "cases.Document": Table(
        activity=("uploaded_at",),
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "accompagnement": DELETE,
            "fichier": DELETE,
            "nom": DELETE,
            "content_type": DELETE,
            "taille": DELETE,
            "uploaded_by": DELETE,
            "uploaded_at": DELETE,
        },
    ),
    "cases.Motif": Table(
        fields={
            "id": KEEP,
            "label": KEEP,
            "modes": KEEP,
            "duree_minutes": KEEP,
            "delai_min_heures": KEEP,
            "delai_max_jours": KEEP,
            "annulable_jusqu_heures": KEEP,
            "modifiable_jusqu_heures": KEEP,
            "active": KEEP,
        }
    ),
    "cases.PlageOuverture": Table(
        fields={
            "id": KEEP,
            "ass": KEEP,
            "weekday": KEEP,
            "heure_debut": KEEP,
            "heure_fin": KEEP,
            "lieu": KEEP,
            "modes": KEEP,
            "premier_jour": KEEP,
            "dernier_jour": KEEP,
        }
    ),
    "cases.Absence": Table(
        fields={
            "id": KEEP,
            "ass": KEEP,
            "debut": KEEP,
            "fin": KEEP,
            "motif": KEEP,
        }
    ),
    "cases.RetentionNotice": Table(
        person="assure",
        fields={
            "id": DELETE,
            "assure": DELETE,
            "last_activity": DELETE,
            "warned_on": DELETE,
            "due_on": DELETE,
            "open_case": DELETE,
            "updated_at": DELETE,
        },
    ),
    # --- coordination --------------------------------------------------------------------
    "coordination.Instance": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "type": KEEP,
            "nom": KEEP,
            "periodicite": KEEP,
            "quorum_organisations": KEEP,
            "quorum_obligatoires": KEEP,
            "actif": KEEP,
            "units": KEEP,
            "coordinateurs": KEEP,
        }
    ),
    "coordination.MembreInstance": Table(
        fields={
            "id": KEEP,
            "instance": KEEP,
            "user": KEEP,
            "contact": KEEP,
            "organisation": KEEP,
            "fonction": KEEP,
            "date_debut": KEEP,
            "date_fin": KEEP,
        }
    ),
    "coordination.Saisine": Table(
        activity=("submitted_at",),
        person="accompagnement__assure",
        fields={
            "id": DELETE,
            "instance": DELETE,
            "accompagnement": DELETE,
            "consentement": DELETE,
            "statut": DELETE,
            "question": DELETE,
            "urgence": DELETE,
            "initiales": DELETE,
            "tranche_age": DELETE,
            "sexe": DELETE,
            "situation_emploi": DELETE,
            "poste": DELETE,
            "secteur_employeur": DELETE,
            "taille_employeur": DELETE,
            "arret": DELETE,
            "limitations": DELETE,
            "freins": DELETE,
            "pistes": DELETE,
            "dispositifs": DELETE,
            "submitted_by": DELETE,
            "submitted_at": DELETE,
            "retiree_le": DELETE,
        },
    ),
    "coordination.Reunion": Table(
        fields={
            "id": KEEP,
            "instance": KEEP,
            "debut": KEEP,
            "lieu": KEEP,
            "lien_visio": KEEP,
            "statut": KEEP,
            "created_by": KEEP,
            "created_at": KEEP,
            "valide_par": KEEP,
            "valide_le": KEEP,
        }
    ),
    "coordination.Presence": Table(
        fields={
            "id": KEEP,
            "reunion": KEEP,
            "membre": KEEP,
            "statut": KEEP,
            "represente_par": KEEP,
            "convoque_le": KEEP,
        }
    ),
    "coordination.PointOrdreDuJour": Table(
        activity=("reunion__debut",),
        person="saisine__accompagnement__assure",
        fields={
            "id": DELETE,
            "reunion": DELETE,
            "saisine": DELETE,
            "ordre": DELETE,
            "origine": DELETE,
            "synthese": DELETE,
            "a_representer": DELETE,
        },
    ),
    "coordination.TypeDecision": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "libelle": KEEP,
            "ordre": KEEP,
            "termine_suivi": KEEP,
            "a_representer": KEEP,
            "actif": KEEP,
        }
    ),
    "coordination.Decision": Table(
        person="point__saisine__accompagnement__assure",
        fields={
            "id": DELETE,
            "point": DELETE,
            "type": DELETE,
            "texte": DELETE,
            "provisoire": DELETE,
            "created_by": DELETE,
            "created_at": DELETE,
        },
    ),
    "coordination.ActionInstance": Table(
        person="point__saisine__accompagnement__assure",
        fields={
            "id": DELETE,
            "point": DELETE,
            "libelle": DELETE,
            "responsable": DELETE,
            "echeance": DELETE,
            "statut": DELETE,
            "compte_rendu": DELETE,
            "created_by": DELETE,
            "created_at": DELETE,
            "closed_at": DELETE,
            "notifiee_le": DELETE,
        },
    ),
    "coordination.Addendum": Table(
        fields={
            "id": KEEP,
            "reunion": KEEP,
            "texte": KEEP,
            "created_by": KEEP,
            "created_at": KEEP,
        }
    ),
    "coordination.ReunionEvent": Table(
        fields={
            "id": KEEP,
            "reunion": KEEP,
            "at": KEEP,
            "actor": KEEP,
            "summary": KEEP,
            "changes": KEEP,
        }
    ),
    # --- collective ----------------------------------------------------------------------
    "collective.ActionType": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "label": KEEP,
            "min_seances": KEEP,
            "validation_unite": KEEP,
            "validation_region": KEEP,
            "inscription_par_code": KEEP,
            "questionnaire_fin": KEEP,
            "actif": KEEP,
        }
    ),
    "collective.Theme": Table(
        fields={
            "id": KEEP,
            "label": KEEP,
            "actif": KEEP,
        }
    ),
    "collective.ActionCollective": Table(
        fields={
            "id": KEEP,
            "type": KEEP,
            "theme": KEEP,
            "titre": KEEP,
            "description": KEEP,
            "region": KEEP,
            "unit": KEEP,
            "animateur": KEEP,
            "capacite": KEEP,
            "places_prises": KEEP,
            "liste_attente": KEEP,
            "delai_confirmation_heures": KEEP,
            "inscription_debut": KEEP,
            "inscription_fin": KEEP,
            "lien_visio": KEEP,
            "statut": KEEP,
            "created_by": KEEP,
            "created_at": KEEP,
            "updated_at": KEEP,
            "co_animateurs": KEEP,
            "partenaires": KEEP,
        }
    ),
    "collective.Seance": Table(
        fields={
            "id": KEEP,
            "action": KEEP,
            "debut": KEEP,
            "duree_minutes": KEEP,
            "lieu": KEEP,
            "lien_visio": KEEP,
        }
    ),
    "collective.Validation": Table(
        fields={
            "id": KEEP,
            "action": KEEP,
            "niveau": KEEP,
            "statut": KEEP,
            "demandee_par": KEEP,
            "demandee_le": KEEP,
            "decidee_par": KEEP,
            "decidee_le": KEEP,
            "commentaire": KEEP,
        }
    ),
    "collective.ParticipantStatus": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "label": KEEP,
            "classe": KEEP,
            "compte": KEEP,
            "ordre": KEEP,
        }
    ),
    "collective.Participant": Table(
        activity=("inscrit_le",),
        person="assure",
        fields={
            "id": DELETE,
            "action": DELETE,
            "assure": DELETE,
            "accompagnement": DELETE,
            "statut": DELETE,
            "source": DELETE,
            "accord_le": DELETE,
            "accord_par": DELETE,
            "inscrit_le": DELETE,
            "confirmer_avant": DELETE,
            "created_by": DELETE,
        },
    ),
    "collective.Presence": Table(
        activity=("recorded_at",),
        person="participant__assure",
        fields={
            "id": DELETE,
            "seance": DELETE,
            "participant": DELETE,
            "statut": DELETE,
            "recorded_by": DELETE,
            "recorded_at": DELETE,
        },
    ),
    "collective.ActionEvent": Table(
        fields={
            "id": KEEP,
            "action": KEEP,
            "actor": KEEP,
            "kind": KEEP,
            "summary": KEEP,
            "changes": KEEP,
            "created_at": KEEP,
        }
    ),
    # --- outreach ------------------------------------------------------------------------
    "outreach.Rappel": Table(
        person=("entretien__accompagnement__assure", "signalement__assure"),
        fields={
            "id": DELETE,
            "channel": DELETE,
            "message": DELETE,
            "created_at": DELETE,
            "sent_at": DELETE,
            "entretien": DELETE,
            "signalement": DELETE,
            "kind": DELETE,
            "debut": DELETE,
            "skipped_reason": DELETE,
        },
    ),
    "outreach.RappelSeance": Table(
        person="participant__assure",
        fields={
            "id": DELETE,
            "channel": DELETE,
            "message": DELETE,
            "created_at": DELETE,
            "sent_at": DELETE,
            "participant": DELETE,
            "seance": DELETE,
            "kind": DELETE,
            "debut": DELETE,
            "skipped_reason": DELETE,
        },
    ),
    "outreach.Questionnaire": Table(
        fields={
            "id": KEEP,
            "kind": KEEP,
            "version": KEEP,
            "title": KEEP,
            "intro": KEEP,
            "questions": KEEP,
            "active": KEEP,
            "created_at": KEEP,
        }
    ),
    "outreach.SurveyInvitation": Table(
        activity=("sent_at",),
        person="assure",
        fields={
            "id": DELETE,
            "kind": DELETE,
            "assure": DELETE,
            "cloture": DELETE,
            "participant": DELETE,
            "region": DELETE,
            "unit": DELETE,
            "categorie": DELETE,
            "action_type": DELETE,
            "access_code": DELETE,
            "channel": DELETE,
            "skipped_reason": DELETE,
            "created_at": DELETE,
            "sent_at": DELETE,
            "reminder_sent_at": DELETE,
        },
    ),
    "outreach.SurveyAnswer": Table(
        fields={
            "id": KEEP,
            "questionnaire": KEEP,
            "region": KEEP,
            "unit": KEEP,
            "month": KEEP,
            "action_type": KEEP,
            "categorie": KEEP,
            "answers": KEEP,
        }
    ),
    "outreach.Campagne": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "unit": KEEP,
            "nom": KEEP,
            "date_reference": KEEP,
            "duree_min_jours": KEEP,
            "cpam_import": KEEP,
            "contact_recent_jours": KEEP,
            "validite_sms_jours": KEEP,
            "validite_email_jours": KEEP,
            "validite_courrier_jours": KEEP,
            "taux_reponse": KEEP,
            "webinaire": KEEP,
            "relance_jours": KEEP,
            "tentatives_max": KEEP,
            "reservation_jours": KEEP,
            "script_appel": KEEP,
            "lancee_le": KEEP,
            "close_le": KEEP,
            "statut": KEEP,
            "simulation": KEEP,
            "simulee_le": KEEP,
            "validee_le": KEEP,
            "validee_par": KEEP,
            "created_by": KEEP,
            "created_at": KEEP,
            "updated_at": KEEP,
        }
    ),
    "outreach.CampagneEvent": Table(
        fields={
            "id": KEEP,
            "campagne": KEEP,
            "at": KEEP,
            "actor": KEEP,
            "kind": KEEP,
            "data": KEEP,
        }
    ),
    "outreach.RegleCanal": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "ordre": KEEP,
            "libelle": KEEP,
            "active": KEEP,
            "age_min": KEEP,
            "age_max": KEEP,
            "ij_min": KEEP,
            "ij_max": KEEP,
            "duree_min": KEEP,
            "duree_max": KEEP,
            "situation_emploi": KEEP,
            "contact_connu": KEEP,
            "canal_prefere": KEEP,
            "canal": KEEP,
        }
    ),
    "outreach.Cible": Table(
        activity=("envoye_le", "ouvert_le", "rdv_pris_le", "refus_le"),
        person="assure",
        fields={
            "id": DELETE,
            "campagne": DELETE,
            "assure": DELETE,
            "arret": DELETE,
            "canal": DELETE,
            "regle": DELETE,
            "exclusion": DELETE,
            "created_at": DELETE,
            "repli_de": DELETE,
            "envoye_le": DELETE,
            "code": DELETE,
            "message": DELETE,
            "lot": DELETE,
            "relance_le": DELETE,
            "relance_message": DELETE,
            "ouvert_le": DELETE,
            "signalement": DELETE,
            "rdv_pris_le": DELETE,
            "refus_le": DELETE,
            "expire_le": DELETE,
            "expiration": DELETE,
            "reserve_par": DELETE,
            "reserve_jusqu_au": DELETE,
            "tentatives": DELETE,
            "rappeler_le": DELETE,
            "dernier_resultat": DELETE,
        },
    ),
    "outreach.LotCourrier": Table(
        fields={
            "id": KEEP,
            "campagne": KEEP,
            "numero": KEEP,
            "statut": KEEP,
            "nombre": KEEP,
            "pdf": KEEP,
            "csv": KEEP,
            "erreur": KEEP,
            "created_by": KEEP,
            "created_at": KEEP,
            "pret_le": KEEP,
        }
    ),
    "outreach.AppelCible": Table(
        activity=("at",),
        person="cible__assure",
        fields={
            "id": DELETE,
            "cible": DELETE,
            "at": DELETE,
            "conseiller": DELETE,
            "resultat": DELETE,
            "rappeler_le": DELETE,
            "note": DELETE,
        },
    ),
    # --- indicators ----------------------------------------------------------------------
    "indicators.Snapshot": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "version": KEEP,
            "month": KEEP,
            "part": KEEP,
            "region": KEEP,
            "unit": KEEP,
            "cpam": KEEP,
            "mission": KEEP,
            "type_arret": KEEP,
            "row": KEEP,
            "col": KEEP,
            "n": KEEP,
            "rollup": KEEP,
        }
    ),
    "indicators.SnapshotMonth": Table(
        fields={
            "id": KEEP,
            "code": KEEP,
            "version": KEEP,
            "region": KEEP,
            "month": KEEP,
            "until": KEEP,
            "computed_at": KEEP,
        }
    ),
    # --- privacy -------------------------------------------------------------------------
    "privacy.AccessArchive": Table(
        # A right-of-access request is a contact with the person; the archive and its files go
        # with them (the files once committed, privacy.retention).
        activity=("requested_at",),
        person="assure",
        fields={
            "id": DELETE,
            "assure": DELETE,
            "requested_by": DELETE,
            "requested_at": DELETE,
            "status": DELETE,
            "ready_at": DELETE,
            "expires_at": DELETE,
            "pdf_path": DELETE,
            "json_path": DELETE,
            "error": DELETE,
        },
    ),
    "privacy.RetentionRun": Table(
        fields={
            "id": KEEP,
            "started_at": KEEP,
            "finished_at": KEEP,
            "dry_run": KEEP,
            "scheduled": KEEP,
            "counts": KEEP,
            "error": KEEP,
        }
    ),
    "privacy.AnonymousCase": Table(
        fields={
            "id": KEEP,
            "region": KEEP,
            "unit": KEEP,
            "mission": KEEP,
            "referral_month": KEEP,
            "opened_month": KEEP,
            "closed_month": KEEP,
            "outcome": KEEP,
            "dispositifs": KEEP,
            "dispositifs_by_type": KEEP,
            "meetings": KEEP,
            "age_band": KEEP,
            "sexe": KEEP,
            "type_arret": KEEP,
            "duration_band": KEEP,
        }
    ),
}


def model_fields(model):
    """The concrete fields and many-to-many fields of `model`, by name: what the catalogue
    must classify."""
    return [
        f.name
        for f in model._meta.get_fields()
        if getattr(f, "concrete", False) or (f.many_to_many and not f.auto_created)
    ]


def project_models():
    return [
        model
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        if not model._meta.abstract and not model._meta.proxy
    ]


def problems():
    """What the catalogue misses or names wrongly, in French: [] when it is exhaustive."""
    found = []
    labels = set()
    for model in project_models():
        label = model._meta.label
        labels.add(label)
        table = CATALOGUE.get(label)
        if table is None:
            found.append(f"Modèle non classé dans le catalogue de conservation\u00a0: {label}")
            continue
        names = model_fields(model)
        found += [
            f"Champ non classé\u00a0: {label}.{name}" for name in names if name not in table.fields
        ]
        found += [
            f"Champ du catalogue qui n'existe plus\u00a0: {label}.{name}"
            for name in table.fields
            if name not in names
        ]
        found += [
            f"Règle inconnue pour {label}.{name}\u00a0: {rule}"
            for name, rule in table.fields.items()
            if rule not in RULES
        ]
        found += [
            f"Date d'activité qui n'est pas un champ\u00a0: {label}.{name}"
            for name in table.activity
            if name.split("__")[0] not in names
        ]
        if table.person is None and any(r in (DELETE, AGGREGATE) for r in table.fields.values()):
            found.append(f"{label} supprime des champs sans chemin vers la personne")
        if table.fields_with(ANONYMISE) and table.person is None and table.expires is None:
            found.append(f"{label} anonymise des champs sans chemin vers la personne ni délai")
    found += [
        f"Modèle du catalogue qui n'existe plus\u00a0: {label}"
        for label in CATALOGUE
        if label not in labels
    ]
    return found


def table_of(model):
    return CATALOGUE[model._meta.label]


def person_tables():
    """[(model, table)] of the tables holding a person's rows, in catalogue order."""
    return [
        (apps.get_model(label), table)
        for label, table in CATALOGUE.items()
        if table.person is not None
    ]


def expiring_tables():
    """[(model, table)] of the tables whose ANONYMISE fields are blanked after a delay."""
    return [
        (apps.get_model(label), table)
        for label, table in CATALOGUE.items()
        if table.expires is not None
    ]


def deletion_order():
    """The models deleted with a person, each before the models it points to (so that no
    PROTECT foreign key is in the way): a topological order of their foreign keys."""
    tables = {model: table for model, table in person_tables() if table.deleted_with_person}
    before = {
        model: {
            f.related_model
            for f in model._meta.concrete_fields
            if f.is_relation and f.related_model in tables and f.related_model is not model
        }
        for model in tables
    }
    order, done = [], set()
    while len(order) < len(tables):
        # A model is ready when every model pointing to it is already deleted.
        ready = [
            m
            for m in tables
            if m not in done and all(other in done for other in tables if m in before[other])
        ]
        if not ready:
            raise RuntimeError("Cycle de clés étrangères entre les tables d'une personne.")
        for model in ready:
            order.append(model)
            done.add(model)
    return [(model, tables[model]) for model in order]


def neutral(field_obj):
    """The value that replaces an ANONYMISE field: NULL when allowed, else empty."""
    if field_obj.null:
        return None
    if isinstance(field_obj, models.JSONField):
        return {}
    return ""
