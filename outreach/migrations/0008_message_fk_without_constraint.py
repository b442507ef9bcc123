"""The foreign keys to pdp.Message lose their database constraint (issue 15, item 5; README
« Partitioned access log and receipts »): pdp 0010, which depends on this one, partitions
`pdp_message` by month, and a partitioned table's primary key must contain its partition key,
`(id, created_at)`, which no foreign key on `id` alone can reference. `SET_NULL` stays: Django's
deletion does it, and so does `Message.objects.purge_older_than` before dropping a month."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('outreach', '0007_campaign_sending'),
        ('pdp', '0009_auditlog_partitioned'),
    ]

    operations = [
        migrations.AlterField(
            model_name='cible',
            name='message',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='pdp.message', verbose_name="message d'invitation"),
        ),
        migrations.AlterField(
            model_name='cible',
            name='relance_message',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='pdp.message', verbose_name='message de relance'),
        ),
        migrations.AlterField(
            model_name='rappel',
            name='message',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='pdp.message', verbose_name='message'),
        ),
        migrations.AlterField(
            model_name='rappelseance',
            name='message',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='pdp.message', verbose_name='message'),
        ),
    ]
