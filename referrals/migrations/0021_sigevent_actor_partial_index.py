import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The detection writes one creation event per referral, without an actor: index the actor only
# where set. Only the index changes (the foreign key constraint is kept as is, not re-validated).
OLD_INDEX = "referrals_signalementevent_actor_id_7847a586"


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0020_cpam_import_worker"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="signalementevent",
                    name="actor",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="auteur",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {OLD_INDEX}",
                    reverse_sql=f"CREATE INDEX {OLD_INDEX} ON referrals_signalementevent (actor_id)",
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="signalementevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="sigevent_actor_set_idx",
            ),
        ),
    ]
