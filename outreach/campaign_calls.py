"""Campaign call lists for conseillers (issue 12, item 5): a conseiller reserves a batch of a
running campaign's « appel » targets, calls them with the script in front of them and records
each call; after the last allowed attempt (or a wrong number) the target falls back to another
channel, which the sending job then uses.

Who calls (`can_call`): the conseillers and the manager of the campaign's unit; for a
region-wide campaign, those of the unit the person's postal code routes to (the longest
territory prefix, `referrals.detection._routes_sql`, the rule that routes the person's referral
too — so the referral a call creates lands in the caller's unit). Another region → 404 on the
pages, the other staff of the region → 403.

Reserving (`calls_reserve`) is one ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP
LOCKED)``: two conseillers reserving at once never get the same person. A reservation holds
``reservation_jours`` days; once passed (``reserve_jusqu_au <= now``) the target is free for
anyone: that is the release, no job needed. Reservable: an open target (not excluded, expired,
refused, no meeting) of the channel « appel » with fewer than ``tentatives_max`` calls — or
whose last call asked to call back, whatever the count: the person was reached and asked —,
not reserved (or reservation passed) and not to call back later; those to call back first.

A call (`call_record`) is an `AppelCible` row (the event of the call list), ``tentatives`` + 1,
``dernier_resultat``, an audit row, then by result:
- « joint — rendez-vous pris »: the referral of the target (`campaign_answers.
  referral_for_target`, origin « campagne »), given to the caller when it was just created for
  someone else of the unit (automatic assignment), for the staff booking page; booking there
  marks the target (`campaign_answers.on_referral_meeting_booked`, called by
  `outreach.staff_booking`);
- « joint — refus »: `campaign_answers.target_refused` (every open invitation expires);
- « joint — rappeler le… »: a date to come, required; the target stays reserved by the caller
  until one day after it;
- « faux numéro »: falls back at once; « message laissé » / « pas de réponse »: falls back at
  the ``tentatives_max``-th call. The fallback (`fallback_channel`): SMS when a mobile is known
  and the person did not say « pas de SMS » (not after a wrong number: it is the number that
  is wrong), else e-mail, else a letter when the address is complete, else excluded « pas de
  coordonnée utilisable ». ``repli_de`` keeps « appel »; the reservation is dropped.
"""

import dataclasses
import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from outreach import campaign_answers
from outreach.campaign_sending import DEFAULT_CALL_SCRIPT
from outreach.campaigns import campaigns_visible_to
from outreach.links import has_postal_address, mobile_of
from outreach.models import AppelCible, Campagne, CanalCampagne, Cible, ResultatAppel
from pdp.audit import audit, audit_listed, audit_many
from pdp.models import AuditLog, Role, Unit, UnitTerritory
from pdp.permissions import FORBIDDEN_MESSAGE, in_unit
from referrals import routing
from referrals.detection import _routes_sql
from referrals.models import Assure, Origine, Statut
from referrals.permissions import can_work_signalement

NBSP = "\u00a0"
BATCH = 10
NOTE_MAX = AppelCible._meta.get_field("note").max_length
REACHED = (ResultatAppel.RDV, ResultatAppel.REFUS, ResultatAppel.RAPPELER)
UNANSWERED = (ResultatAppel.MESSAGE, ResultatAppel.PAS_DE_REPONSE)
CALL_ROLES = (Role.CONSEILLER, Role.MANAGER)

NOT_RUNNING = f"Cette campagne n'est pas en cours{NBSP}: il n'y a personne à appeler."
NOT_RESERVED = (
    f"Cette personne n'est plus dans vos appels réservés{NBSP}: réservez de nouveau pour l'appeler."
)
NO_RESULT = "Choisissez le résultat de l'appel."
NO_CALLBACK = "Indiquez quand rappeler la personne."
PAST_CALLBACK = f"Cette date est passée{NBSP}: choisissez quand rappeler la personne."
LONG_NOTE = f"La note tient en {NOTE_MAX}{NBSP}caractères au plus."
ASSIGN_REASON = "Personne jointe par le conseiller lors d'une campagne d'appels."


# --- Who ---------------------------------------------------------------------------------------


def may_use_call_lists(user):
    """Conseillers and managers of a unit."""
    return in_unit(user) and user.role in CALL_ROLES


def can_call(user, campagne):
    """The conseillers and the manager of the campaign's unit; any unit of the region for a
    region-wide campaign (each calls the people routed to their unit)."""
    return (
        may_use_call_lists(user)
        and user.unit.region_id == campagne.region_id
        and campagne.unit_id in (None, user.unit_id)
    )


def require_call(user, campagne):
    if not can_call(user, campagne):
        raise PermissionDenied(FORBIDDEN_MESSAGE)


def callable_campaigns(user):
    """The running campaigns `user` calls for (their unit's and the region-wide ones)."""
    if not may_use_call_lists(user):
        return Campagne.objects.none()
    return campaigns_visible_to(user).filter(
        Q(unit_id=user.unit_id) | Q(unit__isnull=True), statut=Campagne.Statut.EN_COURS
    )


# --- The pool of targets to call (one SQL text for reserving and counting) -------------------


def _tables():
    return {
        "cible": Cible._meta.db_table,
        "campagne": Campagne._meta.db_table,
        "assure": Assure._meta.db_table,
        "territory": UnitTerritory._meta.db_table,
        "unit": Unit._meta.db_table,
    }


def _pool(campagne_id=None):
    """(WITH …, FROM … WHERE …) over the open « appel » targets of the running campaigns that
    the user (%(unit_id)s, %(region_id)s) calls for, as ``ci`` joined to its campaign ``camp``.
    A region-wide campaign's target belongs to the unit its postal code routes to."""
    t = _tables()
    only = "AND ca.id = %(campagne_id)s" if campagne_id is not None else ""
    with_sql = f"""
        WITH camp AS MATERIALIZED (
            SELECT ca.id, ca.unit_id, ca.tentatives_max
            FROM {t["campagne"]} ca
            WHERE ca.statut = '{Campagne.Statut.EN_COURS}' AND ca.region_id = %(region_id)s
              AND (ca.unit_id = %(unit_id)s OR ca.unit_id IS NULL) {only}
        ),
        cps AS MATERIALIZED (
            SELECT DISTINCT p.code_postal AS cp
            FROM {t["cible"]} ci
            JOIN camp ON camp.id = ci.campagne_id AND camp.unit_id IS NULL
            JOIN {t["assure"]} p ON p.id = ci.assure_id
            WHERE ci.canal = '{CanalCampagne.APPEL}'
        ),
        routes AS MATERIALIZED ({_routes_sql(t, "cps")})
    """
    from_sql = f"""
        FROM {t["cible"]} ci
        JOIN camp ON camp.id = ci.campagne_id
        LEFT JOIN {t["assure"]} p ON p.id = ci.assure_id AND camp.unit_id IS NULL
        LEFT JOIN routes ro ON ro.cp = p.code_postal
        WHERE ci.canal = '{CanalCampagne.APPEL}' AND ci.exclusion = ''
          AND ci.expire_le IS NULL AND ci.refus_le IS NULL AND ci.rdv_pris_le IS NULL
          AND (camp.unit_id IS NOT NULL OR ro.unit_id = %(unit_id)s)
    """
    return with_sql, from_sql


# Still to call (now or later): under the attempts allowed, or asked to be called back.
_LEFT = f"(ci.tentatives < camp.tentatives_max OR ci.dernier_resultat = '{ResultatAppel.RAPPELER}')"
_FREE = "(ci.reserve_par_id IS NULL OR ci.reserve_jusqu_au <= %(now)s)"
_DUE = "(ci.rappeler_le IS NULL OR ci.rappeler_le <= %(now)s)"


def _params(user, now, **extra):
    return {"unit_id": user.unit_id, "region_id": user.unit.region_id, "now": now, **extra}


def pool_counts(*, user, now=None):
    """{campagne_id: {"disponibles", "restants", "reservees_par_moi"}}: to reserve now, left to
    call (now or later, reserved or not), reserved by `user`. One query."""
    now = now or timezone.now()
    columns = f"""ci.campagne_id,
        COUNT(*) FILTER (WHERE {_LEFT} AND {_FREE} AND {_DUE}),
        COUNT(*) FILTER (WHERE {_LEFT}),
        COUNT(*) FILTER (WHERE ci.reserve_par_id = %(user_id)s
                           AND ci.reserve_jusqu_au > %(now)s)"""
    with_sql, from_sql = _pool()
    sql = f"{with_sql} SELECT {columns} {from_sql} GROUP BY ci.campagne_id"
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(user, now, user_id=user.pk))
        rows = cursor.fetchall()
    return {
        campagne_id: {"disponibles": free, "restants": left, "reservees_par_moi": mine}
        for campagne_id, free, left, mine in rows
    }


# --- Reserving ---------------------------------------------------------------------------------


@transaction.atomic
def calls_reserve(*, acting_user, campagne, n=BATCH, now=None):
    """Reserve up to `n` people of the running `campagne` for `acting_user`, in one statement;
    returns the ids of the targets reserved (maybe fewer than `n`, maybe none)."""
    require_call(acting_user, campagne)
    if campagne.statut != Campagne.Statut.EN_COURS:
        raise ValidationError(NOT_RUNNING)
    if not 1 <= n <= 50:
        raise ValueError("reserve between 1 and 50 people at once")
    now = now or timezone.now()
    until = now + datetime.timedelta(days=campagne.reservation_jours)
    with_sql, from_sql = _pool(campagne.pk)
    # SQLite (make run without PostgreSQL) has no row locks: it serialises writers anyway.
    lock = "FOR UPDATE OF ci SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = f"""
        {with_sql}
        UPDATE {Cible._meta.db_table}
        SET reserve_par_id = %(user_id)s, reserve_jusqu_au = %(until)s
        WHERE id IN (
            SELECT ci.id {from_sql}
              AND {_LEFT} AND {_FREE} AND {_DUE}
            ORDER BY ci.rappeler_le IS NULL, ci.rappeler_le, ci.tentatives, ci.id
            LIMIT %(n)s
            {lock}
        )
        RETURNING id, assure_id
    """
    params = _params(
        acting_user, now, campagne_id=campagne.pk, n=n, user_id=acting_user.pk, until=until
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        reserved = cursor.fetchall()
    audit_many(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (
                pk,
                assure_id,
                {"reserve_par": [None, acting_user.pk], "reserve_jusqu_au": [None, until]},
            )
            for pk, assure_id in reserved
        ),
    )
    return sorted(pk for pk, _ in reserved)


@transaction.atomic
def calls_release(*, acting_user, cible):
    """Give back one reserved person (another conseiller may reserve them). Returns whether a
    reservation of `acting_user` was dropped."""
    released = Cible.objects.filter(pk=cible.pk, reserve_par=acting_user).update(
        reserve_par=None, reserve_jusqu_au=None
    )
    if released:
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=cible,
            assure_id=cible.assure_id,
            changes={"reserve_par": [acting_user.pk, None]},
        )
    return bool(released)


def my_reserved(user, now=None):
    """The targets `user` holds, to call: callback times first, then by name."""
    now = now or timezone.now()
    return (
        Cible.objects.filter(
            reserve_par=user,
            reserve_jusqu_au__gt=now,
            canal=CanalCampagne.APPEL,
            exclusion="",
            expire_le__isnull=True,
            refus_le__isnull=True,
            rdv_pris_le__isnull=True,
            campagne__statut=Campagne.Statut.EN_COURS,
        )
        .select_related("assure", "campagne")
        .order_by(F("rappeler_le").asc(nulls_last=True), "assure__nom_naissance", "pk")
    )


def is_reserved_by(cible, user, now):
    return (
        cible.reserve_par_id == user.pk
        and cible.reserve_jusqu_au is not None
        and cible.reserve_jusqu_au > now
    )


def audit_shown(*, user, cibles, page):
    """One read row per person shown, in one statement."""
    return audit_listed(user=user, objects=cibles, assure_id_of=lambda c: c.assure_id, page=page)


# --- A call ------------------------------------------------------------------------------------


def fallback_channel(assure, *, wrong_number=False):
    """(canal, exclusion) after the call list: SMS, e-mail, letter, or none usable."""
    if not wrong_number and not assure.pas_de_sms and mobile_of(assure):
        return CanalCampagne.SMS, ""
    if assure.email.strip():
        return CanalCampagne.EMAIL, ""
    if has_postal_address(assure):
        return CanalCampagne.COURRIER, ""
    return CanalCampagne.AUCUN, Cible.Exclusion.SANS_CONTACT


@dataclasses.dataclass
class CallResult:
    appel: AppelCible
    cible: Cible
    signalement: object = None  # referrals.Signalement to book the meeting on (RDV)
    repli: str = ""  # the channel fallen back to, or ""


def _checked_callback(resultat, rappeler_le, now):
    if resultat != ResultatAppel.RAPPELER:
        return None
    if rappeler_le is None:
        raise ValidationError({"rappeler_le": NO_CALLBACK})
    if timezone.is_naive(rappeler_le):
        raise ValueError("`rappeler_le` must be an aware datetime.")
    if rappeler_le <= now:
        raise ValidationError({"rappeler_le": PAST_CALLBACK})
    return rappeler_le


def _bookable_referral(acting_user, referral, created):
    """The referral the caller books on: given to them when it was just created for the unit
    (and automatically assigned to an ASS); refused when someone else already follows it."""
    if can_work_signalement(acting_user, referral):
        return referral
    if (
        created
        and referral.origine == Origine.CAMPAGNE
        and referral.statut == Statut.NOUVEAU
        and referral.unit_id == acting_user.unit_id
    ):
        return routing.signalement_assign(
            signalement=referral,
            acting_user=acting_user,
            unit=acting_user.unit,
            assigned_to=acting_user,
            reason=ASSIGN_REASON,
        )
    who = referral.assigned_to or referral.unit or "la file régionale"
    raise ValidationError(
        f"La personne a déjà un signalement en cours, suivi par {who}{NBSP}: transmettez-lui"
        " la demande de rendez-vous."
    )


@transaction.atomic
def call_record(*, acting_user, cible, resultat, rappeler_le=None, note="", now=None):
    """Record one call of `acting_user` to a target they hold (see the module's docstring).
    Raises ValidationError (French, nothing changed) on bad input or a target no longer held."""
    now = now or timezone.now()
    if resultat not in ResultatAppel.values:
        raise ValidationError({"resultat": NO_RESULT})
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": LONG_NOTE})
    rappeler_le = _checked_callback(resultat, rappeler_le, now)
    cible = (
        Cible.objects.select_for_update(of=("self",))
        .select_related("campagne", "assure")
        .get(pk=cible.pk)
    )
    require_call(acting_user, cible.campagne)
    if (
        not is_reserved_by(cible, acting_user, now)
        or cible.campagne.statut != Campagne.Statut.EN_COURS
        or cible.canal != CanalCampagne.APPEL
        or cible.exclusion
        or cible.expire_le is not None
        or cible.refus_le is not None
        or cible.rdv_pris_le is not None
    ):
        raise ValidationError(NOT_RESERVED)
    appel = AppelCible.objects.create(
        cible=cible,
        at=now,
        conseiller=acting_user,
        resultat=resultat,
        rappeler_le=rappeler_le,
        note=note,
    )
    tentatives = cible.tentatives + 1
    changes = {
        "tentatives": [cible.tentatives, tentatives],
        "dernier_resultat": [cible.dernier_resultat, resultat],
        "rappeler_le": [cible.rappeler_le, rappeler_le],
    }
    if resultat == ResultatAppel.RAPPELER:
        changes["reserve_jusqu_au"] = [
            cible.reserve_jusqu_au,
            rappeler_le + datetime.timedelta(days=1),
        ]
    repli = ""
    wrong = resultat == ResultatAppel.FAUX_NUMERO
    if wrong or (resultat in UNANSWERED and tentatives >= cible.campagne.tentatives_max):
        canal, exclusion = fallback_channel(cible.assure, wrong_number=wrong)
        repli = canal
        changes.update(
            canal=[cible.canal, canal],
            repli_de=[cible.repli_de, CanalCampagne.APPEL],
            exclusion=[cible.exclusion, exclusion],
            reserve_par=[acting_user.pk, None],
            reserve_jusqu_au=[cible.reserve_jusqu_au, None],
        )
    values = {field: new for field, (_, new) in changes.items()}
    if "reserve_par" in values:
        values["reserve_par_id"] = values.pop("reserve_par")
    Cible.objects.filter(pk=cible.pk).update(**values)
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=cible,
        assure_id=cible.assure_id,
        changes={"appel": [None, appel.pk], **changes},
    )
    referral = None
    if resultat == ResultatAppel.REFUS:
        campaign_answers.target_refused(
            cible=cible, acting_user=acting_user, now=now, by_phone=True
        )
    elif resultat == ResultatAppel.RDV:
        created = cible.signalement_id is None
        referral = campaign_answers.referral_for_target(cible=cible, acting_user=acting_user)
        referral = _bookable_referral(acting_user, referral, created)
    cible.refresh_from_db()
    return CallResult(appel=appel, cible=cible, signalement=referral, repli=repli)


# --- Display -----------------------------------------------------------------------------------


def age_of(assure, today):
    born = assure.date_naissance
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def tel_of(assure):
    return "".join(c for c in assure.telephone if c.isdigit() or c == "+")


def script_of(campagne):
    return campagne.script_appel.strip() or DEFAULT_CALL_SCRIPT


def recent_calls(user, now=None, days=7, limit=30):
    """The calls `user` made in the last `days` days, newest first, with their person."""
    now = now or timezone.now()
    return (
        AppelCible.objects.filter(conseiller=user, at__gte=now - datetime.timedelta(days=days))
        .select_related("cible__assure", "cible__campagne", "cible__signalement__rdv_ass")
        .order_by("-at", "-pk")[:limit]
    )


def progress(campagne, now=None):
    """The call list's figures for the campaign page, in one aggregate query: to call,
    reserved, called, reached, meetings, refusals, fallen back."""
    now = now or timezone.now()
    open_q = Q(
        canal=CanalCampagne.APPEL,
        exclusion="",
        expire_le__isnull=True,
        refus_le__isnull=True,
        rdv_pris_le__isnull=True,
    )
    left_q = Q(tentatives__lt=campagne.tentatives_max) | Q(dernier_resultat=ResultatAppel.RAPPELER)
    reserved_q = Q(reserve_par__isnull=False, reserve_jusqu_au__gt=now)
    reached = Exists(AppelCible.objects.filter(cible=OuterRef("pk"), resultat__in=REACHED))
    return Cible.objects.filter(
        Q(canal=CanalCampagne.APPEL) | Q(repli_de=CanalCampagne.APPEL), campagne=campagne
    ).aggregate(
        ciblees=Count("pk"),
        a_appeler=Count("pk", filter=open_q & left_q & ~reserved_q),
        reservees=Count("pk", filter=open_q & reserved_q),
        appelees=Count("pk", filter=Q(tentatives__gt=0)),
        jointes=Count("pk", filter=Q(reached)),
        rendez_vous=Count("pk", filter=Q(canal=CanalCampagne.APPEL, rdv_pris_le__isnull=False)),
        refus=Count("pk", filter=Q(canal=CanalCampagne.APPEL, refus_le__isnull=False)),
        replis=Count("pk", filter=Q(repli_de=CanalCampagne.APPEL)),
    )


def detail_context(*, campagne, user, now=None):
    """What the campaign page shows of this part: a dict merged into its context."""
    shown = campagne.statut in (Campagne.Statut.EN_COURS, Campagne.Statut.CLOSE)
    return {
        "calls_progress": progress(campagne, now) if shown else None,
        "calls_can_call": shown and can_call(user, campagne),
    }
