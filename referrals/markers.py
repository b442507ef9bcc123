"""Timeline markers of an arrêt de travail (domain §4, law of 2 August 2021). Pure Python.

    from referrals.markers import arret_markers, region_of

    for marker in arret_markers(arret, today=day, region=region_of(arret)):
        marker.day      # first day of the arrêt on which it holds (start day = day 1)
        marker.date     # that day's date: start + day − 1
        marker.label    # French text for the page
        marker.reached  # the arrêt had lasted that long on `today` (capped at its last known end)
        marker.kind     # one of the KIND_* constants below (CSS class, icon…)

Markers, with the default thresholds (the region's settings replace 45, 90 and 120):

- day 31 ("au-delà de 30 jours"): rendez-vous de liaison and visite de pré-reprise possible;
- day 46 ("plus de 45 jours"): the CPAM signals the arrêt to the service médical;
- day 60: visite de reprise required on return from an arrêt maladie (≥ 60 days);
- day 90 ("au moins 90 jours"): the CPAM signals the arrêt to the service social;
- day 120 (end of the 4th month): the first contact by the service social is due;
- visite de reprise on return for an accident du travail: day 30 (≥ 30 days); for a maladie
  professionnelle: day 1 (any length).

The duration on a day is `ArretTravail.duree_au(day)` (D − start + 1, capped at the last
known end, 0 before the start): the one definition, used here too.
"""

import dataclasses
import datetime

from django.utils import timezone

from pdp.models import Region
from referrals.models import TypeArret

KIND_LIAISON = "liaison"
KIND_MEDICAL = "signalement_medical"
KIND_SOCIAL = "signalement_social"
KIND_PREMIER_CONTACT = "premier_contact"
KIND_VISITE_REPRISE = "visite_reprise"

PRE_REPRISE_AFTER_DAYS = 30  # "au-delà de 30 jours" (article L. 4624-2-4 du code du travail)
# Visite de reprise required on return after at least this many days (0 = any length).
VISITE_REPRISE_MIN_DAYS = {TypeArret.MALADIE: 60, TypeArret.AT: 30, TypeArret.MP: 0}


def _default(field):
    return Region._meta.get_field(field).default


@dataclasses.dataclass(frozen=True)
class Marker:
    day: int
    date: datetime.date
    label: str
    reached: bool
    kind: str


def region_of(arret=None, *, assure=None):
    """The region whose thresholds apply: the arrêt's CPAM, else the person's; None if neither.
    The one Python form of the rule (the detection job writes the same in SQL). May query the
    database if those relations aren't loaded: select_related them in lists."""
    cpam = arret.cpam if arret is not None and arret.cpam_id else None
    if cpam is None:
        person = assure if assure is not None else (arret.assure if arret is not None else None)
        cpam = person.cpam if person is not None else None
    return cpam.region if cpam else None


def arret_markers(arret, today=None, *, region=None):
    """The timeline markers of `arret`, sorted by day. Thresholds come from `region` if given
    (see `region_of`), else from the defaults of the Region model."""
    today = today or timezone.localdate()
    medical = region.medical_threshold_days if region else _default("medical_threshold_days")
    social = region.social_threshold_days if region else _default("social_threshold_days")
    contact = (
        region.first_contact_deadline_day if region else _default("first_contact_deadline_day")
    )
    duration = arret.duree_au(today)

    specs = [
        (
            PRE_REPRISE_AFTER_DAYS + 1,
            KIND_LIAISON,
            f"Au-delà de {PRE_REPRISE_AFTER_DAYS} jours : rendez-vous de liaison avec "
            "l'employeur et visite de pré-reprise possibles",
        ),
        (
            medical + 1,
            KIND_MEDICAL,
            f"Plus de {medical} jours : signalement au service médical",
        ),
        (social, KIND_SOCIAL, f"{social} jours : signalement au service social"),
        (
            contact,
            KIND_PREMIER_CONTACT,
            f"Jour {contact} : premier contact du service social dû"
            + (" (fin du 4e mois)" if contact == 120 else ""),
        ),
    ]
    reprise = VISITE_REPRISE_MIN_DAYS.get(arret.type_arret)
    if reprise is not None:
        specs.append((max(reprise, 1), KIND_VISITE_REPRISE, _reprise_label(arret.type_arret)))

    order = [KIND_LIAISON, KIND_VISITE_REPRISE, KIND_MEDICAL, KIND_SOCIAL, KIND_PREMIER_CONTACT]
    specs.sort(key=lambda spec: (spec[0], order.index(spec[1])))
    return [
        Marker(
            day=day,
            date=arret.date_debut + datetime.timedelta(days=day - 1),
            label=label,
            reached=duration >= day,
            kind=kind,
        )
        for day, kind, label in specs
    ]


def _reprise_label(type_arret):
    if type_arret == TypeArret.MP:
        return (
            "Maladie professionnelle : visite de reprise obligatoire au retour, "
            "quelle que soit la durée"
        )
    days = VISITE_REPRISE_MIN_DAYS[type_arret]
    what = "accident du travail" if type_arret == TypeArret.AT else "arrêt maladie"
    return f"{days} jours : visite de reprise obligatoire au retour ({what})"
