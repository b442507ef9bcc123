"""manage.py anonymise [--wet-run]: the retention job by hand (privacy.retention)."""

from django.core.management.base import BaseCommand

from privacy.retention import STEPS, retention_run


class Command(BaseCommand):
    help = (
        "Conservation des données\u00a0: avertit, anonymise les personnes sans contact depuis deux "
        "ans, anonymise les accusés de messages, purge le journal d'accès. Simulation sans "
        "--wet-run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wet-run",
            action="store_true",
            help="Appliquer vraiment (sans cette option, rien n'est modifié\u00a0: les comptes "
            "disent ce qui serait fait\u00a0; seuls les avis d'anonymisation sont mis à jour).",
        )

    def handle(self, *args, wet_run=False, **options):
        run = retention_run(wet_run=wet_run)
        if run is None:
            self.stderr.write("Un autre passage est en cours\u00a0: rien n'a été fait.")
            return
        title = (
            "Passage réel"
            if wet_run
            else "Simulation (rien n'est modifié, --wet-run pour appliquer)"
        )
        self.stdout.write(f"{title} n° {run.pk}\u00a0:")
        for key, label in STEPS.items():
            self.stdout.write(f"  {label}\u00a0: {run.counts.get(key, 0)}")
