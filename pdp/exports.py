"""Helpers for the files users download (CSV, later XLSX): no spreadsheet formula injection.

A spreadsheet reads a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one of them) as a formula: a value typed by someone else, e.g. a name in a
CPAM extract, could then run a formula on the computer of whoever opens the export
(OWASP, "CSV injection"). :func:`safe_cell` prefixes such a text with ``'``, which
spreadsheets show as text and do not display.
"""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value):
    """True for a text a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def safe_cell(value):
    """``value`` ready for a CSV/XLSX cell: a text that would be read as a formula gets a
    leading ``'``; anything else (numbers, dates, None, other texts) is returned as is."""
    if looks_like_formula(value):
        return "'" + value
    return value
