"""Step 2 of the import: the extract's columns (domain §7) and its header line.

Mandatory header columns: ``nir, nom, prenom, type_arret, date_debut_arret,
date_fin_prevue`` and ``code_caisse`` (the latter may be absent when an expected caisse is
given). Names are case-insensitive, in any order; unknown columns are ignored and listed in
the import's message. A header missing a mandatory column, or holding one twice, refuses
the whole file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from referrals.importer.decoding import ImportRefused

COLUMNS = (
    "nir",
    "nom",
    "prenom",
    "date_naissance",
    "sexe",
    "adresse",
    "code_postal",
    "commune",
    "telephone",
    "email",
    "employeur_siret",
    "employeur_nom",
    "type_arret",
    "date_debut_arret",
    "date_fin_prevue",
    "date_fin_reelle",
    "montant_ij",
    "code_caisse",
)
REQUIRED_COLUMNS = (
    "nir",
    "nom",
    "prenom",
    "type_arret",
    "date_debut_arret",
    "date_fin_prevue",
    "code_caisse",
)


def split(text):
    """The fields of a record (``;``-separated, quotes as spreadsheets write them)."""
    if '"' in text:
        return next(csv.reader([text], delimiter=";"))
    return text.split(";")


def _normalize_header_name(name):
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


def read_header(records, *, caisse_given):
    """Map each known column to its index from the first record; refuse a bad header.

    Returns ({column: index, "_count": number of columns}, [ignored column names])."""
    for _number, text, problem in records:
        if not text.strip():
            raise ImportRefused("La première ligne est vide : l'en-tête des colonnes manque.")
        if problem:
            raise ImportRefused(f"En-tête illisible. {problem}")
        names = [_normalize_header_name(n) for n in split(text)]
        break
    else:
        raise ImportRefused("Le fichier est vide.")
    known = [n for n in names if n in COLUMNS]
    if not known:
        if ";" not in text and ("," in text or "\t" in text):
            raise ImportRefused(
                "Séparateur non reconnu : les colonnes doivent être séparées par des "
                "points-virgules (;)."
            )
        raise ImportRefused(
            "La première ligne n'est pas un en-tête de colonnes reconnu (nir, nom, prenom…)."
        )
    duplicates = sorted({n for n in known if known.count(n) > 1})
    if duplicates:
        raise ImportRefused("Colonnes en double dans l'en-tête : " + ", ".join(duplicates) + ".")
    required = [c for c in REQUIRED_COLUMNS if not (c == "code_caisse" and caisse_given)]
    missing = [c for c in required if c not in names]
    if missing:
        label = (
            "Colonne obligatoire absente" if len(missing) == 1 else "Colonnes obligatoires absentes"
        )
        raise ImportRefused(
            f"{label} de l'en-tête : {', '.join(missing)}. Le fichier n'a pas été importé."
        )
    columns = {name: index for index, name in enumerate(names) if name in COLUMNS}
    columns["_count"] = len(names)
    ignored = [n for n in names if n not in COLUMNS]
    return columns, ignored


def write_extract_csv(path, rows, *, encoding="utf-8", columns=COLUMNS):
    """Write an extract in the CPAM format: `rows` is an iterable of dicts by column name
    (missing keys are empty), written as they come (for tests, demos and benchmarks)."""
    with Path(path).open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(column, "") for column in columns])
