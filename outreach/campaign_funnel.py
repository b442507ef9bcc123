"""A campaign's funnel (issue 12, item 8) and the warning when the SMS provider's delivery
reports stop coming (item 7).

`funnel(campagne)`: per channel (the target's current ``canal``; « aucun » left out) and in
total, the targets at each stage, in one aggregate query (conditional counts):

- ciblés: targets not excluded;
- envoyés: invitation sent (``envoye_le``); appel: at least one call (``tentatives``);
- délivrés: SMS, the provider's report « délivré »; e-mail, the message left our server
  (status « envoyé »); courrier, sent in a batch of letters (``envoye_le``); appel, the person
  was reached (last result, or any call, « rendez-vous pris », « refus » or « rappeler »);
  webinaire, its invitation delivered (by the rule of the channel of its message);
- lien ouvert (``ouvert_le``); appel: none (shown « — »);
- rendez-vous pris (``rdv_pris_le``); webinaire: registered for the campaign's webinar;
- rendez-vous honoré: the first meeting (not cancelled) of the accompagnement opened from the
  target's referral was held; webinaire: present at a session of the webinar;
- accompagnement ouvert: an accompagnement was opened from the target's referral.

Rates are in % of ciblés. The counts describe a campaign's population, never a worker.
"""

import dataclasses
import datetime

from django.conf import settings
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone

from cases.models import Accompagnement, Entretien
from collective.models import Participant, Presence, PresenceStatus, StatusClass
from outreach.models import AppelCible, Campagne, CanalCampagne, Cible, ResultatAppel
from pdp.models import Message

STAGES = [
    ("cibles", "Ciblés"),
    ("envoyes", "Envoyés"),
    ("delivres", "Délivrés"),
    ("ouverts", "Lien ouvert"),
    ("rdv", "Rendez-vous pris"),
    ("honores", "Rendez-vous honoré"),
    ("accompagnements", "Accompagnement ouvert"),
]
CHANNELS = [c for c in CanalCampagne if c != CanalCampagne.AUCUN]
# The stages a channel does not have (shown « — »).
NOT_APPLICABLE = {CanalCampagne.APPEL: {"ouverts"}}
REACHED = [ResultatAppel.RDV, ResultatAppel.REFUS, ResultatAppel.RAPPELER]
SHOWN_FROM = {Campagne.Statut.VALIDEE, Campagne.Statut.EN_COURS, Campagne.Statut.CLOSE}
STALE_WARNED = {Campagne.Statut.VALIDEE, Campagne.Statut.EN_COURS}


def percent_fr(value):
    """« 12,5 % », « 50 % » (one decimal unless whole, no-break space)."""
    text = f"{value:.1f}".removesuffix(".0").replace(".", ",")
    return text + "\u00a0%"


@dataclasses.dataclass
class Stage:
    key: str
    label: str
    count: int | None  # None: the stage does not apply to the channel
    base: int  # ciblés

    @property
    def rate(self):
        if self.count is None or not self.base:
            return None
        return 100 * self.count / self.base

    @property
    def rate_fr(self):
        return "—" if self.rate is None else percent_fr(self.rate)

    @property
    def bar_width(self):
        """The bar's width as an SVG attribute (a dot, whatever the locale)."""
        return f"{min(self.rate or 0, 100):.1f}%"


@dataclasses.dataclass
class Row:
    canal: str
    label: str
    stages: list

    @property
    def cibles(self):
        return self.stages[0].count


def _is(channel):
    return Q(canal=channel)


def _delivered_message(prefix="message"):
    """The invitation's message reached the person: an SMS reported « délivré », an e-mail
    handed over by our server (e-mail has no delivery report)."""
    return Q(
        **{
            f"{prefix}__channel": Message.Channel.SMS,
            f"{prefix}__delivery_status": Message.Delivery.DELIVERED,
        }
    ) | Q(**{f"{prefix}__channel": Message.Channel.EMAIL, f"{prefix}__status": Message.Status.SENT})


def _conditions(campagne):
    """{stage: Q} over the targets of `campagne` (correlated on the target row)."""
    case = Accompagnement.objects.filter(signalement_id=OuterRef("signalement_id"))
    first_meeting = (
        Entretien.objects.filter(accompagnement__signalement_id=OuterRef("signalement_id"))
        .exclude(statut=Entretien.Statut.ANNULE)
        .order_by("debut", "pk")
        .values("statut")[:1]
    )
    participant = Participant.objects.filter(
        action_id=campagne.webinaire_id, assure_id=OuterRef("assure_id")
    )
    present = Presence.objects.filter(
        participant__action_id=campagne.webinaire_id,
        participant__assure_id=OuterRef("assure_id"),
        statut=PresenceStatus.PRESENT,
    )
    reached_call = AppelCible.objects.filter(cible_id=OuterRef("pk"), resultat__in=REACHED)
    webinaire = _is(CanalCampagne.WEBINAIRE)
    appel = _is(CanalCampagne.APPEL)
    return {
        "cibles": Q(pk__isnull=False),
        "envoyes": (appel & Q(tentatives__gt=0)) | (~appel & Q(envoye_le__isnull=False)),
        "delivres": (
            (_is(CanalCampagne.SMS) & _delivered_message())
            | (_is(CanalCampagne.EMAIL) & Q(message__status=Message.Status.SENT))
            | (_is(CanalCampagne.COURRIER) & Q(envoye_le__isnull=False))
            | (appel & (Q(dernier_resultat__in=REACHED) | Q(Exists(reached_call))))
            | (webinaire & _delivered_message())
        ),
        "ouverts": ~appel & Q(ouvert_le__isnull=False),
        "rdv": (~webinaire & Q(rdv_pris_le__isnull=False))
        | (webinaire & Q(Exists(participant.filter(statut__classe=StatusClass.POSITIVE)))),
        "honores": (~webinaire & Q(premier_entretien=Entretien.Statut.REALISE))
        | (webinaire & Q(Exists(present))),
        "accompagnements": Q(Exists(case)),
        "_first_meeting": first_meeting,
    }


def funnel(campagne):
    """[Row per channel, then the total row], from one query."""
    conditions = _conditions(campagne)
    first_meeting = conditions.pop("_first_meeting")
    counts = (
        Cible.objects.filter(campagne=campagne, exclusion="")
        .exclude(canal=CanalCampagne.AUCUN)
        .annotate(premier_entretien=Subquery(first_meeting))
        .values("canal")
        .order_by("canal")
        .annotate(**{key: Count("pk", filter=q) for key, q in conditions.items()})
    )
    by_channel = {row["canal"]: row for row in counts}
    rows = []
    totals = dict.fromkeys(conditions, 0)
    for channel in CHANNELS:
        figures = by_channel.get(channel.value, {})
        absent = NOT_APPLICABLE.get(channel, set())
        base = figures.get("cibles", 0)
        stages = []
        for key, label in STAGES:
            count = None if key in absent else figures.get(key, 0)
            stages.append(Stage(key, label, count, base))
            totals[key] += figures.get(key, 0) if count is not None else 0
        rows.append(Row(channel.value, channel.label, stages))
    base = totals["cibles"]
    rows.append(
        Row("total", "Total", [Stage(key, label, totals[key], base) for key, label in STAGES])
    )
    return rows


def delivery_reports_stale(campagne, now=None):
    """When SMS of the campaign were sent more than DELIVERY_REPORT_STALE_HOURS ago, still have
    no delivery report, and no report came for any of its messages for as long: the time
    since when nothing came (the last report, else the first SMS sent). Else None. One query."""
    if campagne.statut not in STALE_WARNED:
        return None
    now = now or timezone.now()
    limit = now - datetime.timedelta(hours=settings.DELIVERY_REPORT_STALE_HOURS)
    targets = Cible.objects.filter(campagne_id=campagne.pk)
    figures = Message.objects.filter(
        Q(pk__in=targets.filter(message__isnull=False).values("message_id"))
        | Q(pk__in=targets.filter(relance_message__isnull=False).values("relance_message_id")),
        channel=Message.Channel.SMS,
        status=Message.Status.SENT,
    ).aggregate(
        first_sent=Min("sent_at"),
        last_report=Max("delivery_received_at"),
        waiting=Count("pk", filter=Q(sent_at__lte=limit, delivery_status="")),
    )
    if not figures["waiting"]:
        return None
    last = figures["last_report"]
    if last is not None and last > limit:
        return None
    return last or figures["first_sent"]


def table(rows):
    """The page's table: a line per stage, a column per channel that has targets, then the
    total. {"columns": [label…], "lines": [(label, [Stage…], total Stage)]}."""
    shown = [row for row in rows[:-1] if row.cibles]
    total = rows[-1]
    lines = [
        (label, [row.stages[i] for row in shown], total.stages[i])
        for i, (_, label) in enumerate(STAGES)
    ]
    return {"columns": [row.label for row in shown], "lines": lines, "cibles": total.cibles}


def detail_context(*, campagne, user, now=None):
    """What the campaign page shows of this part: a dict merged into its context."""
    if campagne.statut not in SHOWN_FROM:
        return {"funnel": None, "delivery_stale_since": None}
    return {
        "funnel": table(funnel(campagne)),
        "delivery_stale_since": delivery_reports_stale(campagne, now),
    }
