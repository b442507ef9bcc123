"""Each accompagnement carries its unit's region (issue 15, item 7): added empty, filled from
the units in one UPDATE, then required."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    Accompagnement = apps.get_model("cases", "Accompagnement")
    Unit = apps.get_model("pdp", "Unit")
    Accompagnement.objects.filter(region__isnull=True).update(
        region=Subquery(Unit.objects.filter(pk=OuterRef("unit_id")).values("region_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0016_retention"),
        ("pdp", "0008_auditlog_append_only_trigger"),
    ]

    operations = [
        migrations.AddField(
            model_name="accompagnement",
            name="region",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="accompagnements",
                to="pdp.region",
                verbose_name="région",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="accompagnement",
            name="region",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="accompagnements",
                to="pdp.region",
                verbose_name="région",
            ),
        ),
        migrations.AddIndex(
            model_name="accompagnement",
            index=models.Index(fields=["region", "date_ouverture"], name="accompagnement_region_idx"),
        ),
    ]
