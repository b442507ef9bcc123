"""Demo data: one region, three units, four CPAM, one user per role, ~300 assurés and the
last six months of their referrals and cases (`cases.demo`), then the cellules PDP with their
members and meetings (`coordination.demo`), and the opening hours that let the demo's people
book online (`outreach.demo`). It lives in the top app of the ladder because it writes through
every app's services.

Idempotent: reference data and users are upserted (passwords reset to the demo one); the
people, arrêts, referrals and cases are generated once (a second run finds them and stops).
"""

import random

from django.contrib.auth.hashers import make_password
from django.core.management import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from collective.demo import seed_collective, seed_running_isic
from coordination.demo import seed_cellules
from outreach.demo import (
    seed_campaign_population,
    seed_outreach,
    seed_past_webinar,
    seed_survey_answers,
)
from pdp.identifiers import nir_key
from pdp.models import CpamOffice, Partner, PartnerKind, Region, Role, Unit, UnitTerritory, User

DEMO_PASSWORD = "demo-pdp-2026"
DUMMY_EMAIL = "django.core.mail.backends.dummy.EmailBackend"
DEMO_PEOPLE = 300

UNITS = {
    "ROUEN": ("Unité de Rouen", ["76", "27"]),
    "LEHAVRE": ("Unité du Havre", ["76600", "76610", "76620", "76290"]),
    "CAEN": ("Unité de Caen", ["14", "50", "61"]),
}
PHONES = {"ROUEN": "02 35 00 11 22", "LEHAVRE": "02 32 00 33 44", "CAEN": "02 31 00 55 66"}
CPAMS = {
    "761": "CPAM de Rouen-Elbeuf-Dieppe",
    "762": "CPAM du Havre",
    "141": "CPAM du Calvados",
    "271": "CPAM de l'Eure",
}
# (username, first name, last name, role, unit code or None)
USERS = [
    ("ass.rouen", "Camille", "Durand", Role.ASS, "ROUEN"),
    ("ass2.rouen", "Julien", "Lefèvre", Role.ASS, "ROUEN"),
    ("ass.havre", "Sophie", "Marchand", Role.ASS, "LEHAVRE"),
    ("ass.caen", "Nadia", "Benali", Role.ASS, "CAEN"),
    ("conseiller.rouen", "Thomas", "Petit", Role.CONSEILLER, "ROUEN"),
    ("responsable.rouen", "Isabelle", "Moreau", Role.MANAGER, "ROUEN"),
    ("responsable.caen", "Marc", "Lemoine", Role.MANAGER, "CAEN"),
    ("regional", "Hélène", "Garnier", Role.REGIONAL, None),
    ("medecin", "Dr Paul", "Roussel", Role.MEDECIN, None),
    ("coordinateur", "Claire", "Fontaine", Role.COORDINATEUR, None),
    ("partenaire", "Paul", "Lambert", Role.PARTENAIRE, None),
    ("admin", "Alice", "Admin", Role.ADMIN, None),
]
PLACES = [
    ("76000", "Rouen", "761"),
    ("76100", "Rouen", "761"),
    ("76200", "Dieppe", "761"),
    ("76500", "Elbeuf", "761"),
    ("76600", "Le Havre", "762"),
    ("76610", "Le Havre", "762"),
    ("14000", "Caen", "141"),
    ("14100", "Lisieux", "141"),
    ("50100", "Cherbourg-en-Cotentin", "141"),
    ("27000", "Évreux", "271"),
    ("27200", "Vernon", "271"),
    ("75011", "Paris", "761"),  # outside every territory: regional "à répartir" queue
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèbvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Légaré",
    "Hébert",
    "Côté",
]
FIRST_NAMES = [
    ("1", "Karim"),
    ("1", "Grégoire"),
    ("1", "Joël"),
    ("1", "Bastien"),
    ("1", "Loïc"),
    ("1", "Jérôme"),
    ("1", "Stéphane"),
    ("1", "Noël"),
    ("2", "Hélène"),
    ("2", "Aïcha"),
    ("2", "Léa"),
    ("2", "Nathalie"),
    ("2", "Sylvie"),
    ("2", "Chloé"),
    ("2", "Zoé"),
    ("2", "Agnès"),
]
EMPLOYERS = [
    ("73282932000074", "Transports Normands SA"),
    ("", "Boulangerie du Port"),
    ("", "Clinique Saint-Jean"),
    ("", "Mairie de Caen"),
]


class Command(BaseCommand):
    help = "Crée ou met à jour les données de démonstration (idempotent)."

    def handle(self, *args, **options):
        # The demo's members have made-up addresses: their convocations go nowhere.
        with override_settings(EMAIL_BACKEND=DUMMY_EMAIL), transaction.atomic():
            region, units, cpams = self._reference_data()
            users = self._users(region, units)
            created = self._people(region, cpams, users)
            seed_cellules(region=region, units=units, users=users)
            seed_collective(users)
            seed_outreach(users)
            seed_campaign_population(cpams["761"])
            seed_survey_answers(units)
            seed_running_isic(users)
            webinar_link = seed_past_webinar(users)
        self._print_summary(created)
        if webinar_link is not None:
            link, birth = webinar_link
            self.stdout.write(
                "Démonstration du webinaire passé (la personne demande un rendez-vous "
                f"individuel) : {link} — date de naissance {birth:%d/%m/%Y}"
            )

    def _reference_data(self):
        region, _ = Region.objects.update_or_create(
            code="NOR", defaults={"name": "CARSAT Normandie"}
        )
        units = {}
        for code, (name, prefixes) in UNITS.items():
            units[code], _ = Unit.objects.update_or_create(
                code=code, defaults={"name": name, "region": region, "telephone": PHONES[code]}
            )
            for prefix in prefixes:
                UnitTerritory.objects.update_or_create(
                    prefix=prefix, defaults={"unit": units[code]}
                )
        Unit.objects.filter(code="CAEN").update(auto_assign=True)
        cpams = {}
        for code, name in CPAMS.items():
            cpams[code], _ = CpamOffice.objects.update_or_create(
                code=code, defaults={"name": name, "region": region}
            )
        for kind, name in [
            (PartnerKind.SPST, "SPST Rouen Métropole"),
            (PartnerKind.CAP_EMPLOI, "Cap emploi Seine-Maritime"),
            (PartnerKind.MDPH, "MDPH de Seine-Maritime"),
            (PartnerKind.FRANCE_TRAVAIL, "France Travail Rouen"),
        ]:
            Partner.objects.update_or_create(name=name, defaults={"kind": kind, "region": region})
        return region, units, cpams

    def _users(self, region, units):
        # One hash for every demo account (their password is public): hashing is slow on
        # purpose, eleven times would be most of a second run.
        password = make_password(DEMO_PASSWORD)
        users = {}
        for username, first, last, role, unit_code in USERS:
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "role": role,
                    "unit": units[unit_code] if unit_code else None,
                    "region": None if unit_code else region,
                    # The demo administrator is an « Administrateur », not a superuser:
                    # superusers are for operations (manage.py createsuperuser).
                    "is_staff": role == Role.ADMIN,
                    "is_superuser": False,
                    "is_active": True,
                },
            )
            user.password = password
            user.save(update_fields=["password"])
            users[username] = user
        return users

    def _people(self, region, cpams, users):
        from referrals.models import Assure

        demo_nirs = [_demo_nir(i) for i in range(DEMO_PEOPLE)]
        if Assure.objects.filter(nir__in=demo_nirs).count() == DEMO_PEOPLE:
            return False
        from cases.demo import generate_people

        generate_people(
            random.Random(2026),
            demo_nirs,
            cpams,
            users,
            PLACES,
            names=(LAST_NAMES, FIRST_NAMES, EMPLOYERS),
        )
        return True

    def _print_summary(self, created):
        from cases.models import Accompagnement
        from referrals.models import ArretTravail, Assure, Signalement

        self.stdout.write(
            ("Données de démonstration créées." if created else "Données déjà présentes.")
            + f" {Assure.objects.count()} assurés, {ArretTravail.objects.count()} arrêts,"
            f" {Signalement.objects.count()} signalements,"
            f" {Accompagnement.objects.count()} accompagnements."
        )
        self.stdout.write(f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD}) :")
        for username, _first, _last, role, unit_code in USERS:
            where = UNITS[unit_code][0] if unit_code else "CARSAT Normandie"
            self.stdout.write(f"  {username:<20} {Role(role).label} – {where}")


def _demo_nir(i):
    sex = "1" if i % 2 else "2"
    body = f"{sex}{70 + i % 30:02d}{1 + i % 12:02d}76{i // 1000 + 100:03d}{i % 1000:03d}"
    return body + nir_key(body)
