"""Import of the CPAM monthly extract (domain §7), in the order of its steps:

1. ``decoding``: the file's bytes → numbered text records (encodings, line endings, quoted
   fields holding line breaks, binary files refused);
2. ``header``: the columns and the header line;
3. ``rows``: the rules of a row (one implementation each; identifiers by ``pdp.identifiers``);
4. ``writers``: writing the valid rows in sets (PostgreSQL ``COPY`` and upserts, or the ORM);
5. ``pipeline``: the run (validation in a reader thread one batch ahead of the writer),
   counts, caisses, the ``CpamImport`` record;
6. ``jobs``: uploads stored and imported by the Celery worker, with their progress.

Entry point: :func:`import_extract` (``import_extract_file`` for a path). The module
docstrings list the rules chosen where the issues were silent.
"""

from referrals.importer.decoding import ImportRefused
from referrals.importer.header import COLUMNS, REQUIRED_COLUMNS, write_extract_csv
from referrals.importer.pipeline import (
    caisses_of,
    import_counts,
    import_extract,
    import_extract_file,
    import_summary,
    rejections_of,
)
from referrals.importer.rows import extract_date_problem, parse_extract_date

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportRefused",
    "caisses_of",
    "extract_date_problem",
    "import_counts",
    "import_extract",
    "import_extract_file",
    "import_summary",
    "parse_extract_date",
    "rejections_of",
    "write_extract_csv",
]
