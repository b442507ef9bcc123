"""Demo data of outreach: opening hours for the Rouen ASS, so that a booking link sent from the
demo (`make run`) finds free slots. Called by `seed_demo` after the users exist.

The people the Rouen ASS follow (open cases and referrals) get a demo e-mail address when they
have none, so that a link can be sent by e-mail at any hour (an SMS waits for 08:00, and without
Redis a deferred SMS is never sent: README, « Self-service booking »).

Idempotent: a range already there (same ASS, weekday and start) is left alone, an address
already set is kept.
"""

import datetime
import unicodedata

from django.db.models import Q
from django.utils import timezone

from cases.availability import plage_create
from cases.models import Accompagnement, Entretien, PlageOuverture
from referrals.models import Assure, Signalement

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


def _ascii(text):
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and c.isascii()).lower()


def seed_demo_emails(users):
    """A demo address (prenom.nom@exemple.fr) for the people of DEMO_ASS without one."""
    ass = [users[name] for name in DEMO_ASS if name in users]
    people = Assure.objects.filter(email="").filter(
        Q(pk__in=Accompagnement.objects.open().filter(referent__in=ass).values("assure_id"))
        | Q(pk__in=Signalement.objects.open().filter(assigned_to__in=ass).values("assure_id"))
    )
    changed = []
    for person in people:
        person.email = (
            f"{_ascii(person.prenoms.split()[0])}.{_ascii(person.nom_affiche)}@exemple.fr"
        )
        changed.append(person)
    Assure.objects.bulk_update(changed, ["email"])
    return len(changed)
