"""Run the duration-threshold detection for a day: `manage.py scan_arrets [--date AAAA-MM-JJ]`."""

import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from referrals.detection import scan_arrets


def _iso_date(value):
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Date invalide : « {value} » (format attendu AAAA-MM-JJ).") from exc


class Command(BaseCommand):
    help = (
        "Détecte les arrêts en cours qui dépassent les seuils de durée de leur région et crée "
        "les signalements (service médical, service social). Sans risque de doublon."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", type=_iso_date, default=None, help="Jour de référence (défaut : aujourd'hui)."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options):
        result = scan_arrets(day=options["date"])
        if options["format"] == "json":
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
            return
        self.stdout.write(f"Détection des arrêts longs au {result.day:%d/%m/%Y}")
        self.stdout.write(f"Arrêts examinés : {result.arrets_examines}")
        if result.sans_cpam:
            self.stdout.write(f"  dont ignorés faute de CPAM : {result.sans_cpam}")
        self.stdout.write(f"Signalements au service médical : {result.medical}")
        self.stdout.write(f"Signalements au service social : {result.social}")
        for key, count in result.routes.items():
            label = "à répartir (file régionale)" if key == "a_repartir" else f"unité {key}"
            self.stdout.write(f"  {label} : {count}")
        self.stdout.write(f"Attribués automatiquement : {result.attribues_auto}")
