"""Import a CPAM monthly extract (CSV, domain §7) from the command line.

Exit code 0 when the file was processed (even with rejected lines), 1 when it was refused.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from referrals.importer import import_counts, import_extract_file, rejections_of
from referrals.models import CpamImport


class Command(BaseCommand):
    help = "Importe un extrait mensuel CPAM (CSV séparé par des points-virgules)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="chemin du fichier CSV")
        parser.add_argument(
            "--caisse",
            metavar="CODE",
            help="caisse attendue : les lignes d'une autre caisse sont rejetées",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="vérifier et compter sans rien enregistrer",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"Fichier introuvable : {path}")
        cpam_import = import_extract_file(
            path, caisse_code=options["caisse"], dry_run=options["dry_run"]
        )
        rejections = rejections_of(cpam_import)
        if options["format"] == "json":
            self.stdout.write(json.dumps(_as_json(cpam_import, rejections), ensure_ascii=False))
        else:
            self._write_text(cpam_import, rejections)
        if cpam_import.status == CpamImport.Status.REFUSED:
            raise CommandError(f"Fichier refusé : {cpam_import.message}")

    def _write_text(self, cpam_import, rejections):
        if cpam_import.status == CpamImport.Status.REFUSED:
            return  # the CommandError says why
        counts = import_counts(cpam_import)
        prefix = "Simulation – " if cpam_import.status == CpamImport.Status.DRY_RUN else ""
        self.stdout.write(
            f"{prefix}{cpam_import.file_name} : {counts['read']} lignes lues, "
            f"{counts['created']} arrêts créés, {counts['updated']} mis à jour, "
            f"{counts['unchanged']} inchangés, {counts['rejected']} lignes rejetées."
        )
        if cpam_import.message:
            self.stdout.write(cpam_import.message)
        for rejection in rejections:
            self.stdout.write(f"  ligne {rejection['line']} : {rejection['reason']}")


def _as_json(cpam_import, rejections):
    return {
        "import_id": cpam_import.pk,
        "file_name": cpam_import.file_name,
        "status": cpam_import.status,
        "cpam": cpam_import.cpam.code if cpam_import.cpam_id else None,
        "message": cpam_import.message,
        "counts": import_counts(cpam_import),
        "rejections": rejections,
    }
