"""The pick list of recommendations and decisions (editable in the admin afterwards)."""

from django.db import migrations

from coordination.decision_types import ensure_decision_types


def create(apps, schema_editor):
    ensure_decision_types(apps.get_model("coordination", "TypeDecision"))


class Migration(migrations.Migration):
    dependencies = [("coordination", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
