"""Outreach campaigns, first step (issue 12, items 1–3): campaigns, channel rules as data,
target generation and the simulation. Nothing is sent yet.

Who: a campaign of a unit is managed by that unit's manager; a region-wide campaign by the
regional manager of its region. The other staff of the region see that campaigns exist (403 on
their pages); staff of another region do not (404). The channel rules of a region are edited by
its managers and regional managers (every change audited).

Rules (`RegleCanal`): the active rules of the campaign's region, or the default rules (region
empty) when the region has none, tried in order; the first rule whose every set condition
holds chooses the channel; none matching → « aucun ».

Target generation (`campagne_simulate`) is set-based: one ``INSERT … SELECT`` builds every
target, with the rule matching (a ``CASE`` over the ordered rules, built from the rule rows,
every value a parameter) and the exclusions in the same statement, so the number of statements
does not depend on the population. The population: for each person, the oldest arrêt ongoing on
the reference date and lasting at least ``duree_min_jours`` days on it (start day counted),
whose CPAM (the arrêt's, else the person's) is in the campaign's region — optionally only the
arrêts of one CPAM import. For a unit's campaign, the people whose postal code routes to another
unit (longest territory prefix, as the detection job) are not in it; those routed nowhere or to
another region are excluded « hors du territoire ».

Exclusions, in this order (the first that applies is recorded):
1. « déjà suivi »: an open referral or an open accompagnement;
2. « refus exprimé »: Assure has no opposition flag, so: a referral closed « refus de l'assuré »,
   a contact attempt « refus » or a campaign target's refusal (call or public page) in the last
   ``OPPOSITION_DAYS`` days;
3. « hors du territoire » (above);
4. « contacté récemment »: a contact attempt in the last ``contact_recent_jours`` days, or a
   target (not excluded, with a channel) of another validated, running or closed campaign
   created in that period;
5. « pas de coordonnée utilisable » for the chosen channel: appel → a phone number, SMS → a
   mobile (06 / 07, separators ignored), e-mail → an address, courrier → street, postal code
   and town, webinaire → a mobile or an e-mail.

Re-simulating replaces the targets of a brouillon or simulée campaign in one transaction; the
unique (campagne, assuré) makes a second target for a person impossible.

The capacity check: expected answers = targets with a channel × ``taux_reponse`` %, against the
free « premier rendez-vous » slots (`cases.availability.free_slots`) of the active ASS of the
unit (of every unit of the region for a region-wide campaign) from now to the end of the longest
validity of the channels used.
"""

import datetime
import math
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from cases.availability import free_slots
from cases.models import Accompagnement, CaseStatus
from outreach.booking import MOTIF_FIRST, motif_named
from outreach.models import Campagne, CampagneEvent, CanalCampagne, Cible, RegleCanal
from pdp.access_codes import access_codes_revoke_ids
from pdp.audit import audit, audit_many, field_changes
from pdp.models import AccessCode, AuditLog, CpamOffice, Role, Unit, UnitTerritory, User
from pdp.permissions import FORBIDDEN_MESSAGE, in_unit
from referrals.detection import _routes_sql
from referrals.models import (
    OPEN_STATUSES,
    ArretTravail,
    Assure,
    ContactAttempt,
    CpamImportCaisse,
    Signalement,
    Statut,
)

OPPOSITION_DAYS = 365
Exclusion = Cible.Exclusion
CIBLE = "outreach.cible"  # object_type of the booking codes a campaign sends (bound to a target)


# --- Who ---------------------------------------------------------------------------------------


def region_id_of(user):
    """The region a member of staff works in (None for the others)."""
    if in_unit(user):
        return user.unit.region_id
    if user.is_authenticated and user.role == Role.REGIONAL:
        return user.region_id
    return None


def campaigns_visible_to(user):
    region_id = region_id_of(user)
    if region_id is None:
        return Campagne.objects.none()
    return Campagne.objects.filter(region_id=region_id)


def can_manage(user, campagne):
    """The unit's manager for a unit's campaign; the regional manager for a region-wide one."""
    if campagne.unit_id is not None:
        return in_unit(user) and user.role == Role.MANAGER and user.unit_id == campagne.unit_id
    return (
        user.is_authenticated
        and user.role == Role.REGIONAL
        and user.region_id == campagne.region_id
    )


def can_create(user):
    return (in_unit(user) and user.role == Role.MANAGER) or (
        user.is_authenticated and user.role == Role.REGIONAL and user.region_id is not None
    )


can_edit_rules = can_create


def _require(allowed):
    if not allowed:
        raise PermissionDenied(FORBIDDEN_MESSAGE)


# --- Campaigns ---------------------------------------------------------------------------------

CAMPAIGN_FIELDS = (
    "nom",
    "date_reference",
    "duree_min_jours",
    "cpam_import",
    "contact_recent_jours",
    "validite_sms_jours",
    "validite_email_jours",
    "validite_courrier_jours",
    "taux_reponse",
    "webinaire",
    "relance_jours",
    "tentatives_max",
    "reservation_jours",
    "script_appel",
)


def _check_import(region_id, cpam_import):
    if (
        cpam_import is not None
        and not CpamImportCaisse.objects.filter(
            cpam_import=cpam_import, cpam__region_id=region_id
        ).exists()
    ):
        raise ValidationError({"cpam_import": "Cet import ne concerne pas votre région."})


def _check_webinar(region_id, webinaire):
    if webinaire is not None and webinaire.region_id != region_id:
        raise ValidationError({"webinaire": "Ce webinaire n'est pas de votre région."})


@transaction.atomic
def campagne_create(*, acting_user, regionale=False, **fields):
    """A brouillon campaign: of the manager's unit, or region-wide for the regional manager."""
    _require(can_create(acting_user))
    if acting_user.role == Role.REGIONAL:
        region_id, unit = acting_user.region_id, None
    else:
        region_id, unit = acting_user.unit.region_id, acting_user.unit
    _check_import(region_id, fields.get("cpam_import"))
    _check_webinar(region_id, fields.get("webinaire"))
    campagne = Campagne(region_id=region_id, unit=unit, created_by=acting_user)
    for name in CAMPAIGN_FIELDS:
        if name in fields:
            setattr(campagne, name, fields[name])
    campagne.full_clean()
    campagne.save()
    CampagneEvent.objects.create(campagne=campagne, actor=acting_user, kind="created")
    audit(user=acting_user, action=AuditLog.Action.CREATE, obj=campagne)
    return campagne


@transaction.atomic
def campagne_update(*, campagne, acting_user, **fields):
    """Change a brouillon or simulée campaign; a simulated one goes back to brouillon (its
    targets no longer match its settings)."""
    _require(can_manage(acting_user, campagne))
    campagne = Campagne.objects.select_for_update().get(pk=campagne.pk)
    if not campagne.editable:
        raise ValidationError("Une campagne validée ne se modifie plus.")
    _check_import(campagne.region_id, fields.get("cpam_import"))
    _check_webinar(campagne.region_id, fields.get("webinaire"))
    changes = field_changes(campagne, {k: v for k, v in fields.items() if k in CAMPAIGN_FIELDS})
    if not changes:
        return campagne
    if campagne.statut == Campagne.Statut.SIMULEE:
        changes["statut"] = [campagne.statut, Campagne.Statut.BROUILLON]
        campagne.statut = Campagne.Statut.BROUILLON
    campagne.full_clean()
    campagne.save()
    CampagneEvent.objects.create(
        campagne=campagne, actor=acting_user, kind="updated", data={"fields": sorted(changes)}
    )
    audit(user=acting_user, action=AuditLog.Action.UPDATE, obj=campagne, changes=changes)
    return campagne


# --- Rules -------------------------------------------------------------------------------------

RULE_FIELDS = (
    "libelle",
    "age_min",
    "age_max",
    "ij_min",
    "ij_max",
    "duree_min",
    "duree_max",
    "situation_emploi",
    "contact_connu",
    "canal_prefere",
    "canal",
)


def rules_in_force(region_id, *, active_only=True):
    """The region's own rules, else the default ones (one query), in order."""
    qs = RegleCanal.objects.filter(region_id=region_id) | RegleCanal.objects.filter(
        region__isnull=True
    )
    if active_only:
        qs = qs.filter(active=True)
    rules = list(qs.order_by("ordre", "pk"))
    own = [r for r in rules if r.region_id == region_id]
    return own if any(r.region_id == region_id for r in rules) else rules


def region_has_own_rules(region_id):
    return RegleCanal.objects.filter(region_id=region_id).exists()


@transaction.atomic
def rules_copy_defaults(*, acting_user):
    """Give the user's region its own copy of the default rules, to edit them."""
    _require(can_edit_rules(acting_user))
    region_id = region_id_of(acting_user)
    if region_has_own_rules(region_id):
        return []
    copies = [
        RegleCanal(
            region_id=region_id,
            ordre=r.ordre,
            active=r.active,
            **{f: getattr(r, f) for f in RULE_FIELDS},
        )
        for r in RegleCanal.objects.filter(region__isnull=True).order_by("ordre", "pk")
    ]
    RegleCanal.objects.bulk_create(copies)
    for rule in copies:
        audit(user=acting_user, action=AuditLog.Action.CREATE, obj=rule)
    return copies


def _editable_rule(acting_user, regle):
    _require(can_edit_rules(acting_user) and regle.region_id == region_id_of(acting_user))


@transaction.atomic
def regle_create(*, acting_user, **fields):
    """A new rule of the user's region, last in order (the defaults are copied first)."""
    _require(can_edit_rules(acting_user))
    rules_copy_defaults(acting_user=acting_user)
    region_id = region_id_of(acting_user)
    last = RegleCanal.objects.filter(region_id=region_id).aggregate(m=Max("ordre"))["m"] or 0
    regle = RegleCanal(region_id=region_id, ordre=last + 10)
    for name in RULE_FIELDS:
        if name in fields:
            setattr(regle, name, fields[name])
    regle.full_clean()
    regle.save()
    audit(user=acting_user, action=AuditLog.Action.CREATE, obj=regle)
    return regle


@transaction.atomic
def regle_update(*, regle, acting_user, **fields):
    _editable_rule(acting_user, regle)
    regle = RegleCanal.objects.select_for_update().get(pk=regle.pk)
    changes = field_changes(regle, {k: v for k, v in fields.items() if k in RULE_FIELDS})
    if changes:
        regle.full_clean()
        regle.save()
        audit(user=acting_user, action=AuditLog.Action.UPDATE, obj=regle, changes=changes)
    return regle


@transaction.atomic
def regle_set_active(*, regle, acting_user, active):
    _editable_rule(acting_user, regle)
    if regle.active != active:
        RegleCanal.objects.filter(pk=regle.pk).update(active=active)
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=regle,
            changes={"active": [regle.active, active]},
        )
        regle.active = active
    return regle


@transaction.atomic
def regle_move(*, regle, acting_user, up):
    """Swap the rule with its neighbour above (``up``) or below."""
    _editable_rule(acting_user, regle)
    rules = list(
        RegleCanal.objects.select_for_update()
        .filter(region_id=regle.region_id)
        .order_by("ordre", "pk")
    )
    index = next(i for i, r in enumerate(rules) if r.pk == regle.pk)
    other_index = index - 1 if up else index + 1
    if not 0 <= other_index < len(rules):
        return regle
    # Renumber in steps of 10 with the two swapped: orders stay distinct whatever they were.
    rules[index], rules[other_index] = rules[other_index], rules[index]
    old = {r.pk: r.ordre for r in rules}
    for position, rule in enumerate(rules, start=1):
        rule.ordre = position * 10
    RegleCanal.objects.bulk_update(rules, ["ordre"])
    moved = rules[other_index]
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=moved,
        changes={"ordre": [old[moved.pk], moved.ordre]},
    )
    return moved


# --- Target generation -------------------------------------------------------------------------


def _years_before(day, years):
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


_CONTACT_SQL = {
    RegleCanal.Contact.TELEPHONE: "k.has_phone = 1",
    RegleCanal.Contact.MOBILE: "k.has_mobile = 1",
    RegleCanal.Contact.EMAIL: "k.has_email = 1",
    RegleCanal.Contact.ADRESSE: "k.has_address = 1",
}
# What each channel needs to be usable.
_USABLE_SQL = {
    CanalCampagne.APPEL: "k.has_phone = 1",
    CanalCampagne.SMS: "k.has_mobile = 1",
    CanalCampagne.EMAIL: "k.has_email = 1",
    CanalCampagne.COURRIER: "k.has_address = 1",
    CanalCampagne.WEBINAIRE: "(k.has_mobile = 1 OR k.has_email = 1)",
}


def _rule_condition(rule, day):
    """SQL over the row `k` (and its arrêt columns) and its parameters for one rule."""
    parts, params = [], []
    if rule.age_min is not None:  # age ≥ A ⇔ born on or before D − A years
        parts.append("k.date_naissance <= %s")
        params.append(_years_before(day, rule.age_min))
    if rule.age_max is not None:  # age ≤ B ⇔ born after D − (B + 1) years
        parts.append("k.date_naissance > %s")
        params.append(_years_before(day, rule.age_max + 1))
    if rule.duree_min is not None:  # D − start + 1 ≥ N ⇔ start ≤ D − (N − 1)
        parts.append("k.date_debut <= %s")
        params.append(day - datetime.timedelta(days=rule.duree_min - 1))
    if rule.duree_max is not None:
        parts.append("k.date_debut >= %s")
        params.append(day - datetime.timedelta(days=rule.duree_max - 1))
    if rule.ij_min is not None:
        parts.append("k.montant_ij >= %s")
        params.append(rule.ij_min)
    if rule.ij_max is not None:
        parts.append("k.montant_ij <= %s")
        params.append(rule.ij_max)
    if rule.situation_emploi:
        parts.append("k.situation_emploi = %s")
        params.append(rule.situation_emploi)
    if rule.canal_prefere:
        parts.append("k.canal_prefere = %s")
        params.append(rule.canal_prefere)
    if rule.contact_connu:
        parts.append(_CONTACT_SQL[rule.contact_connu])
    return (" AND ".join(parts) or "1 = 1"), params


def _rules_case(rules, day):
    """(rule id CASE, channel CASE, params): the first matching rule in order."""
    if not rules:
        return "CAST(NULL AS bigint)", f"'{CanalCampagne.AUCUN}'", []
    id_whens, canal_whens, id_params, canal_params = [], [], [], []
    for rule in rules:
        condition, params = _rule_condition(rule, day)
        id_whens.append(f"WHEN {condition} THEN %s")
        id_params += [*params, rule.pk]
        canal_whens.append(f"WHEN {condition} THEN %s")
        canal_params += [*params, rule.canal]
    return (
        f"CASE {' '.join(id_whens)} END",
        f"CASE {' '.join(canal_whens)} ELSE '{CanalCampagne.AUCUN}' END",
        id_params + canal_params,
    )


def _tables():
    return {
        "arret": ArretTravail._meta.db_table,
        "assure": Assure._meta.db_table,
        "cpam": CpamOffice._meta.db_table,
        "territory": UnitTerritory._meta.db_table,
        "unit": Unit._meta.db_table,
        "sig": Signalement._meta.db_table,
        "case": Accompagnement._meta.db_table,
        "attempt": ContactAttempt._meta.db_table,
        "cible": Cible._meta.db_table,
        "campagne": Campagne._meta.db_table,
    }


_STRIPPED_PHONE = (
    "REPLACE(REPLACE(REPLACE(REPLACE(p.telephone, ' ', ''), '.', ''), '-', ''), '/', '')"
)


def _targets_sql(campagne, rules, now):
    """The one statement that writes every target of the campaign, and its parameters."""
    t = _tables()
    day = campagne.date_reference
    id_case, canal_case, rule_params = _rules_case(rules, day)
    usable = " ".join(f"WHEN k.canal = '{c}' THEN {sql}" for c, sql in _USABLE_SQL.items())
    in_import = "AND a.last_import_id = %(import_id)s" if campagne.cpam_import_id else ""
    if campagne.unit_id is not None:
        territory_in = (
            "(k.route_unit = %(unit_id)s OR k.route_unit IS NULL"
            " OR k.route_region <> %(region_id)s)"
        )
        outside = "k.route_unit IS NULL OR k.route_unit <> %(unit_id)s"
    else:
        territory_in = "1 = 1"
        outside = "k.route_unit IS NULL OR k.route_region <> %(region_id)s"
    stripped = _STRIPPED_PHONE
    mobile = " OR ".join(
        f"{stripped} LIKE '{prefix}%%'" for prefix in ("06", "07", "+336", "+337", "00336", "00337")
    )
    named = {
        "day": day,
        "longest_start": day - datetime.timedelta(days=campagne.duree_min_jours - 1),
        "region_id": campagne.region_id,
        "unit_id": campagne.unit_id,
        "import_id": campagne.cpam_import_id,
        "campagne_id": campagne.pk,
        "now": now,
        "opposition_since": now - datetime.timedelta(days=OPPOSITION_DAYS),
        "recent_since": now - datetime.timedelta(days=campagne.contact_recent_jours),
    }
    counted = (Campagne.Statut.VALIDEE, Campagne.Statut.EN_COURS, Campagne.Statut.CLOSE)
    sql = f"""
        WITH pop AS MATERIALIZED (
            SELECT o.id, o.assure_id, o.date_debut, o.montant_ij, p.code_postal AS cp,
                   p.date_naissance, p.situation_emploi, p.canal_prefere,
                   CASE WHEN p.telephone <> '' THEN 1 ELSE 0 END AS has_phone,
                   CASE WHEN ({mobile}) AND NOT p.pas_de_sms THEN 1 ELSE 0 END AS has_mobile,
                   CASE WHEN p.email <> '' THEN 1 ELSE 0 END AS has_email,
                   CASE WHEN p.adresse <> '' AND p.code_postal <> '' AND p.commune <> ''
                        THEN 1 ELSE 0 END AS has_address
            FROM (
                SELECT a.id, a.assure_id, a.date_debut, a.montant_ij, a.cpam_id,
                       ROW_NUMBER() OVER (PARTITION BY a.assure_id ORDER BY a.date_debut, a.id)
                           AS rn
                FROM {t["arret"]} a
                WHERE a.date_debut <= %(longest_start)s
                  AND COALESCE(a.date_fin_reelle, a.date_fin_prevue) >= %(day)s
                  {in_import}
            ) o
            JOIN {t["assure"]} p ON p.id = o.assure_id
            JOIN {t["cpam"]} c ON c.id = COALESCE(o.cpam_id, p.cpam_id)
            WHERE o.rn = 1 AND c.region_id = %(region_id)s
        ),
        routes AS MATERIALIZED ({_routes_sql(t, "pop")}),
        k0 AS (
            SELECT pop.*, ro.unit_id AS route_unit, u.region_id AS route_region
            FROM pop
            LEFT JOIN routes ro ON ro.cp = pop.cp
            LEFT JOIN {t["unit"]} u ON u.id = ro.unit_id
        ),
        k1 AS (
            SELECT k.*, {id_case} AS regle_id, {canal_case} AS canal
            FROM k0 k
            WHERE {territory_in}
        ),
        -- The other campaigns' targets, read once before the INSERT: a lookup per person in
        -- the table being filled would walk its growing index (quadratic on a large campaign).
        refused AS MATERIALIZED (
            SELECT DISTINCT z.assure_id FROM {t["cible"]} z
            WHERE z.refus_le >= %(opposition_since)s
        ),
        targeted AS MATERIALIZED (
            SELECT DISTINCT z.assure_id FROM {t["cible"]} z
            JOIN {t["campagne"]} zc ON zc.id = z.campagne_id
            WHERE z.campagne_id <> %(campagne_id)s
              AND z.exclusion = '' AND z.canal <> '{CanalCampagne.AUCUN}'
              AND zc.statut IN ({", ".join(f"'{s}'" for s in counted)})
              AND z.created_at >= %(recent_since)s
        )
        INSERT INTO {t["cible"]} (campagne_id, assure_id, arret_id, canal, regle_id, exclusion,
                                  created_at)
        SELECT %(campagne_id)s, k.assure_id, k.id, k.canal, k.regle_id,
               CASE
                 WHEN EXISTS (SELECT 1 FROM {t["sig"]} x
                              WHERE x.assure_id = k.assure_id
                                AND x.statut IN ({", ".join(f"'{s}'" for s in OPEN_STATUSES)}))
                   OR EXISTS (SELECT 1 FROM {t["case"]} y
                              WHERE y.assure_id = k.assure_id
                                AND y.statut <> '{CaseStatus.CLOTURE}')
                   THEN '{Exclusion.SUIVI}'
                 WHEN EXISTS (SELECT 1 FROM {t["sig"]} x
                              WHERE x.assure_id = k.assure_id AND x.statut = '{Statut.REFUS}'
                                AND x.updated_at >= %(opposition_since)s)
                   OR EXISTS (SELECT 1 FROM {t["attempt"]} ca
                              JOIN {t["sig"]} x ON x.id = ca.signalement_id
                              WHERE x.assure_id = k.assure_id
                                AND ca.resultat = '{ContactAttempt.Resultat.REFUS}'
                                AND ca.at >= %(opposition_since)s)
                   OR k.assure_id IN (SELECT assure_id FROM refused)
                   THEN '{Exclusion.OPPOSITION}'
                 WHEN {outside} THEN '{Exclusion.HORS_TERRITOIRE}'
                 WHEN EXISTS (SELECT 1 FROM {t["attempt"]} ca
                              JOIN {t["sig"]} x ON x.id = ca.signalement_id
                              WHERE x.assure_id = k.assure_id AND ca.at >= %(recent_since)s)
                   OR k.assure_id IN (SELECT assure_id FROM targeted)
                   THEN '{Exclusion.CONTACT_RECENT}'
                 WHEN k.canal = '{CanalCampagne.AUCUN}' THEN ''
                 WHEN NOT (CASE {usable} ELSE 1 = 1 END) THEN '{Exclusion.SANS_CONTACT}'
                 ELSE ''
               END,
               %(now)s
        FROM k1 k
    """
    if connection.vendor != "postgresql":
        sql = sql.replace("AS MATERIALIZED", "AS")
    return _positional(sql, named, rule_params)


def _positional(sql, named, rule_params):
    """Django's cursor takes one parameter style: turn each %(name)s into %s, in text order,
    and give the bare %s of the rules' CASE their parameters in the same order."""
    params = []
    rule_iter = iter(rule_params)

    def replace(match):
        name = match.group(1)
        if name is None:
            params.append(next(rule_iter))
        else:
            params.append(named[name])
        return "%s"

    out = re.sub(r"%\((\w+)\)s|%s", replace, sql)
    return out, params


def _counts(campagne):
    rows = (
        Cible.objects.filter(campagne=campagne)
        .values_list("canal", "exclusion")
        .order_by()
        .annotate(n=Count("pk"))
    )
    canaux = dict.fromkeys(CanalCampagne.values, 0)
    exclusions = dict.fromkeys(Exclusion.values, 0)
    for canal, exclusion, n in rows:
        if exclusion:
            exclusions[exclusion] += n
        else:
            canaux[canal] += n
    return canaux, exclusions


def _validity_days(campagne, canaux):
    days = {
        CanalCampagne.SMS: campagne.validite_sms_jours,
        CanalCampagne.EMAIL: campagne.validite_email_jours,
        CanalCampagne.COURRIER: campagne.validite_courrier_jours,
        CanalCampagne.WEBINAIRE: campagne.validite_email_jours,
        CanalCampagne.APPEL: campagne.validite_sms_jours,
    }
    used = [days[c] for c, n in canaux.items() if n and c in days]
    return max(used) if used else campagne.validite_sms_jours


def capacity(campagne, canaux, now):
    """Expected answers against the free first-meeting slots in the validity window."""
    reached = sum(n for c, n in canaux.items() if c != CanalCampagne.AUCUN)
    expected = math.ceil(reached * campagne.taux_reponse / 100)
    days = _validity_days(campagne, canaux)
    ass = User.objects.filter(role=Role.ASS, is_active=True)
    if campagne.unit_id is not None:
        ass = ass.filter(unit_id=campagne.unit_id)
    else:
        ass = ass.filter(unit__region_id=campagne.region_id)
    ass_ids = list(ass.values_list("pk", flat=True))
    slots = free_slots(
        ass_ids=ass_ids,
        start=now,
        end=now + datetime.timedelta(days=days),
        motif=motif_named(MOTIF_FIRST),
        now=now,
    )
    free = sum(len(v) for v in slots.values())
    return {
        "contactes": reached,
        "reponses_attendues": expected,
        "creneaux_libres": free,
        "ass": len(ass_ids),
        "jours": days,
        "alerte": expected > free,
    }


@transaction.atomic
def campagne_simulate(*, campagne, acting_user, now=None):
    """(Re)build the targets of a brouillon or simulée campaign and store the figures."""
    _require(can_manage(acting_user, campagne))
    now = now or timezone.now()
    campagne = Campagne.objects.select_for_update().get(pk=campagne.pk)
    if not campagne.editable:
        raise ValidationError("Une campagne validée ne se simule plus.")
    rules = rules_in_force(campagne.region_id)
    sql, params = _targets_sql(campagne, rules, now)
    with connection.cursor() as cursor:
        # One statement: the ORM's delete would fetch every target to cascade to its calls,
        # and a campaign not yet validated has none (the foreign key would refuse otherwise).
        cursor.execute(f"DELETE FROM {Cible._meta.db_table} WHERE campagne_id = %s", [campagne.pk])
        if connection.vendor == "postgresql":
            # As the detection scan: compiling this one-off plan costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
    canaux, exclusions = _counts(campagne)
    result = {
        "canaux": canaux,
        "exclusions": exclusions,
        "total": sum(canaux.values()) + sum(exclusions.values()),
        "capacite": capacity(campagne, canaux, now),
        "regles": [r.pk for r in rules],
    }
    old_statut = campagne.statut
    campagne.simulation = result
    campagne.simulee_le = now
    campagne.statut = Campagne.Statut.SIMULEE
    campagne.save(update_fields=["simulation", "simulee_le", "statut", "updated_at"])
    CampagneEvent.objects.create(
        campagne=campagne, actor=acting_user, kind="simulated", data=result
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=campagne,
        changes={"statut": [old_statut, campagne.statut]},
    )
    return campagne


@transaction.atomic
def campagne_validate(*, campagne, acting_user, now=None):
    """The manager validates a simulated campaign; its figures are frozen in the event."""
    _require(can_manage(acting_user, campagne))
    campagne = Campagne.objects.select_for_update().get(pk=campagne.pk)
    if campagne.statut != Campagne.Statut.SIMULEE:
        raise ValidationError("Simulez la campagne avant de la valider.")
    invited = (campagne.simulation or {}).get("canaux", {}).get(CanalCampagne.WEBINAIRE, 0)
    if invited and campagne.webinaire_id is None:
        raise ValidationError(
            f"{invited}\u00a0personne(s) seront invitées à un webinaire\u00a0: choisissez le"
            " webinaire proposé (Modifier), puis validez."
        )
    now = now or timezone.now()
    campagne.statut = Campagne.Statut.VALIDEE
    campagne.validee_le = now
    campagne.validee_par = acting_user
    campagne.save(update_fields=["statut", "validee_le", "validee_par", "updated_at"])
    CampagneEvent.objects.create(
        campagne=campagne,
        actor=acting_user,
        kind="validated",
        data={"simulee_le": campagne.simulee_le.isoformat(), **campagne.simulation},
    )
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=campagne,
        changes={"statut": [Campagne.Statut.SIMULEE, Campagne.Statut.VALIDEE]},
    )
    return campagne


# --- Expiry of invitations ---------------------------------------------------------------------


def open_targets():
    """Targets whose invitation is still open: not excluded, no meeting taken, not expired."""
    return Cible.objects.filter(exclusion="", rdv_pris_le__isnull=True, expire_le__isnull=True)


@transaction.atomic
def invitations_expire(*, reason, acting_user=None, assure_ids=None, campagne=None, now=None):
    """Expire the open invitations of the people ``assure_ids`` (their case opened, they
    refused: every campaign) or of one ``campagne`` (closed), set-based: the targets get
    ``expire_le`` and the ``reason`` (a `Expiration` value), their access codes are revoked, and
    call-list reservations are dropped. Returns how many targets expired."""
    if assure_ids is None and campagne is None:
        raise ValueError("invitations_expire needs assure_ids or campagne")
    now = now or timezone.now()
    targets = open_targets()
    if assure_ids is not None:
        targets = targets.filter(assure_id__in=assure_ids)
    if campagne is not None:
        targets = targets.filter(campagne=campagne)
    else:
        targets = targets.filter(
            campagne__statut__in=[Campagne.Statut.VALIDEE, Campagne.Statut.EN_COURS]
        )
    rows = list(targets.select_for_update(of=("self",)).values_list("pk", "assure_id", "code_id"))
    if not rows:
        return 0
    Cible.objects.filter(pk__in=[pk for pk, _a, _c in rows]).update(
        expire_le=now, expiration=reason, reserve_par=None, reserve_jusqu_au=None
    )
    audit_many(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (pk, assure_id, {"expire_le": [None, now], "expiration": [None, reason]})
            for pk, assure_id, _code in rows
        ),
    )
    # The code sent, and any other bound to the target (a reminder's).
    codes = AccessCode.objects.filter(
        Q(pk__in=[code for _pk, _a, code in rows if code is not None])
        | Q(object_type=CIBLE, object_id__in=[str(pk) for pk, _a, _c in rows]),
        revoked_at__isnull=True,
    )
    access_codes_revoke_ids(ids=codes.values("pk"), acting_user=acting_user)
    return len(rows)


def invitation_end(days, now):
    """(last valid day, the moment an invitation valid `days` days from `now` expires: the
    midnight after that day, local time)."""
    last_day = timezone.localdate(now) + datetime.timedelta(days=days)
    end = datetime.datetime.combine(last_day + datetime.timedelta(days=1), datetime.time.min)
    return last_day, timezone.make_aware(end)


# --- Display -----------------------------------------------------------------------------------


def _euros(value):
    return f"{value:.2f}".replace(".", ",") + "\u00a0€"


def describe_conditions(rule):
    """The rule's conditions in French, e.g. ["moins de 30 ans", "mobile connu"]."""
    parts = []
    if rule.age_min is not None and rule.age_max is not None:
        parts.append(f"de {rule.age_min} à {rule.age_max}\u00a0ans")
    elif rule.age_min is not None:
        parts.append(f"{rule.age_min}\u00a0ans ou plus")
    elif rule.age_max is not None:
        parts.append(f"moins de {rule.age_max + 1}\u00a0ans")
    if rule.duree_min is not None and rule.duree_max is not None:
        parts.append(f"arrêt de {rule.duree_min} à {rule.duree_max}\u00a0jours")
    elif rule.duree_min is not None:
        parts.append(f"arrêt de {rule.duree_min}\u00a0jours ou plus")
    elif rule.duree_max is not None:
        parts.append(f"arrêt de {rule.duree_max}\u00a0jours au plus")
    if rule.ij_min is not None:
        parts.append(f"IJ d'au moins {_euros(rule.ij_min)}")
    if rule.ij_max is not None:
        parts.append(f"IJ d'au plus {_euros(rule.ij_max)}")
    if rule.situation_emploi:
        parts.append(rule.get_situation_emploi_display())
    if rule.contact_connu:
        parts.append(rule.get_contact_connu_display().lower())
    if rule.canal_prefere:
        parts.append(f"préfère\u00a0: {rule.get_canal_prefere_display().lower()}")
    return parts


def simulation_rows(campagne):
    """(channels rows, exclusion rows) of the stored simulation, labels in French."""
    figures = campagne.simulation or {}
    canaux = figures.get("canaux", {})
    exclusions = figures.get("exclusions", {})
    return (
        [(label, canaux.get(value, 0)) for value, label in CanalCampagne.choices],
        [(label, exclusions.get(value, 0)) for value, label in Exclusion.choices],
    )
