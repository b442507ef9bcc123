"""Demo data of outreach: opening hours for the Rouen ASS, so that a booking link sent from the
demo (`make run`) finds free slots. Called by `seed_demo` after the users exist.

Idempotent: a range already there (same ASS, weekday and start) is left alone.
"""

import datetime

from django.utils import timezone

from cases.availability import plage_create
from cases.models import Entretien, PlageOuverture

DEMO_ASS = ["ass.rouen", "ass2.rouen"]
WEEKS = 8
# Monday to Friday, 9–12 and 14–17.
RANGES = [(datetime.time(9), datetime.time(12)), (datetime.time(14), datetime.time(17))]
MODES = [Entretien.Mode.SUR_PLACE, Entretien.Mode.TELEPHONE, Entretien.Mode.VISIO]


def seed_outreach(users):
    """Opening ranges over the next WEEKS weeks for DEMO_ASS (`users`: username → User).
    Returns how many ranges were created."""
    today = timezone.localdate()
    last_day = today + datetime.timedelta(weeks=WEEKS)
    created = 0
    for username in DEMO_ASS:
        ass = users.get(username)
        if ass is None:
            continue
        existing = set(PlageOuverture.objects.filter(ass=ass).values_list("weekday", "heure_debut"))
        for weekday in range(5):
            for start, end in RANGES:
                if (weekday, start) in existing:
                    continue
                plage_create(
                    acting_user=ass,
                    ass=ass,
                    weekday=weekday,
                    heure_debut=start,
                    heure_fin=end,
                    modes=MODES,
                    lieu=f"{ass.unit.name}, accueil du service social" if ass.unit else "",
                    premier_jour=today,
                    dernier_jour=last_day,
                )
                created += 1
    return created
