"""Import a CPAM monthly extract (CSV, domain §7) from the command line.

Exit code 0 when the file was processed (even with rejected lines), 1 when it was refused.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from referrals.importer import (
    caisses_of,
    extract_date_problem,
    import_counts,
    import_extract_file,
    import_summary,
    parse_extract_date,
    rejections_of,
)
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
            "--date-extrait",
            metavar="AAAA-MM-JJ",
            help=(
                "date de l'extrait (AAAA-MM-JJ ou JJ/MM/AAAA ; par défaut aujourd'hui) : un "
                "extrait plus ancien que celui qui a modifié un arrêt en dernier ne le change pas"
            ),
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
        extract_date = None
        if options["date_extrait"] is not None:
            try:
                extract_date = parse_extract_date(options["date_extrait"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            problem = extract_date_problem(extract_date, today=timezone.localdate())
            if problem:
                raise CommandError(problem)
        cpam_import = import_extract_file(
            path,
            caisse_code=options["caisse"],
            dry_run=options["dry_run"],
            extract_date=extract_date,
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
        prefix = "Simulation – " if cpam_import.status == CpamImport.Status.DRY_RUN else ""
        self.stdout.write(
            f"{prefix}{cpam_import.file_name} (extrait du {cpam_import.extract_date:%d/%m/%Y}) : "
            f"{import_summary(cpam_import)}."
        )
        caisses = caisses_of(cpam_import)
        if caisses:
            listed = ", ".join(f"{c.cpam.code} ({c.line_count})" for c in caisses)
            self.stdout.write(f"Caisses du fichier (lignes)\u00a0: {listed}.")
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
        "extract_date": cpam_import.extract_date.isoformat(),
        "caisses": {c.cpam.code: c.line_count for c in caisses_of(cpam_import)},
        "message": cpam_import.message,
        "counts": import_counts(cpam_import),
        "rejections": rejections,
    }
