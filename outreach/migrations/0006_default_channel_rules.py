"""The default channel rules (region empty), shaped like the Bretagne practice: a conseiller
calls the people on the longest arrêts, the young get an SMS, then whichever contact is known."""

from django.db import migrations

DEFAULT_RULES = [
    (
        10,
        "Arrêt de 180 jours ou plus, téléphone connu\u00a0: appel",
        {"duree_min": 180, "contact_connu": "telephone"},
        "appel",
    ),
    (20, "Moins de 30 ans, mobile connu\u00a0: SMS", {"age_max": 29, "contact_connu": "mobile"}, "sms"),
    (30, "Mobile connu\u00a0: SMS", {"contact_connu": "mobile"}, "sms"),
    (40, "E-mail connu\u00a0: e-mail", {"contact_connu": "email"}, "email"),
    (50, "Adresse connue\u00a0: courrier avec QR code", {"contact_connu": "adresse"}, "courrier"),
    (60, "Sinon\u00a0: aucun canal", {}, "aucun"),
]


def seed(apps, schema_editor):
    RegleCanal = apps.get_model("outreach", "RegleCanal")
    if RegleCanal.objects.filter(region__isnull=True).exists():
        return
    RegleCanal.objects.bulk_create(
        RegleCanal(region=None, ordre=ordre, libelle=libelle, canal=canal, **conditions)
        for ordre, libelle, conditions, canal in DEFAULT_RULES
    )


def unseed(apps, schema_editor):
    apps.get_model("outreach", "RegleCanal").objects.filter(region__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("outreach", "0005_campaigns")]
    operations = [migrations.RunPython(seed, unseed)]
