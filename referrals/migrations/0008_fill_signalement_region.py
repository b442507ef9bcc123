"""Fill Signalement.region on existing rows, set-based, with the rule of the creation paths:
the arrêt's CPAM's region, else the person's CPAM's region, else the region of the referral's
unit, else the creator's region (their unit's, else their own); a forwarded referral still
without one takes the region of the medical referral it came from. The next migration makes
the column NOT NULL, so a row left without a region stops the migration with its ids."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce


def fill_region(apps, schema_editor):
    Signalement = apps.get_model("referrals", "Signalement")
    ArretTravail = apps.get_model("referrals", "ArretTravail")
    Assure = apps.get_model("referrals", "Assure")
    Unit = apps.get_model("pdp", "Unit")
    User = apps.get_model("pdp", "User")

    def first(qs, field):
        return Subquery(qs.values(field)[:1], output_field=models.BigIntegerField())

    Signalement.objects.filter(region__isnull=True).update(
        region_id=Coalesce(
            first(ArretTravail.objects.filter(pk=OuterRef("arret_id")), "cpam__region_id"),
            first(Assure.objects.filter(pk=OuterRef("assure_id")), "cpam__region_id"),
            first(Unit.objects.filter(pk=OuterRef("unit_id")), "region_id"),
            first(User.objects.filter(pk=OuterRef("created_by_id")), "unit__region_id"),
            first(User.objects.filter(pk=OuterRef("created_by_id")), "region_id"),
            output_field=models.BigIntegerField(),
        )
    )
    Signalement.objects.filter(region__isnull=True, forwarded_from__isnull=False).update(
        region_id=first(Signalement.objects.filter(pk=OuterRef("forwarded_from_id")), "region_id")
    )
    left = list(Signalement.objects.filter(region__isnull=True).values_list("pk", flat=True)[:20])
    if left:
        raise RuntimeError(
            "Referrals without any CPAM, unit or creator region, set their region by hand "
            f"before migrating (first ids: {left})."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("pdp", "0001_initial"),
        ("referrals", "0007_signalement_region"),
    ]

    operations = [
        migrations.RunPython(fill_region, migrations.RunPython.noop),
    ]
