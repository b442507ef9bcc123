"""The XLSX export of the indicators page (issue 13, item 6): one sheet per indicator — its
table and its breakdown, counts as numbers, shares as percentages, the small-cell rule applied
(« < 5 », « — » as text) — and a sheet « Définitions » (code, label, definition, version).
Texts go through `pdp.exports.safe_cell`; the period's dates are real dates."""

import datetime
import io

import xlsxwriter

from indicators import cells
from pdp.exports import safe_cell

SHEET_NAME_MAX = 31


def _count(n):
    return cells.HIDDEN if 0 < n < cells.SMALL_COUNT else n


def _share(part, base):
    if cells.rate_cell(part, base) == cells.NO_RATE:
        return cells.NO_RATE
    return part / base


def workbook(*, scope, period, tables):
    """The XLSX file (bytes)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    date = book.add_format({"num_format": "dd/mm/yyyy", "align": "left"})
    integer = book.add_format({"num_format": "#,##0"})
    percent = book.add_format({"num_format": "0.0 %"})
    text_right = book.add_format({"align": "right"})
    one_decimal = book.add_format({"num_format": "0.0"})

    def put(sheet, r, c, value, fmt=None):
        if isinstance(value, str):
            sheet.write_string(r, c, safe_cell(value), fmt or (text_right if c else None))
        elif isinstance(value, float):
            sheet.write_number(r, c, value, percent)
        else:
            sheet.write_number(r, c, value, fmt or integer)

    for indicator, table in tables:
        sheet = book.add_worksheet(indicator.code[:SHEET_NAME_MAX])
        if table is None:
            sheet.write_string(0, 0, safe_cell(indicator.label), bold)
            sheet.write_string(1, 0, "Non applicable avec les filtres choisis.")
            continue
        sheet.set_column(0, 0, 46)
        sheet.set_column(1, 8, 16)
        sheet.write_string(0, 0, safe_cell(table.indicator.label), bold)
        sheet.write_string(1, 0, f"{scope.label} – du", None)
        sheet.write_datetime(1, 1, _midnight(period.start), date)
        sheet.write_string(1, 2, "au")
        sheet.write_datetime(1, 3, _midnight(period.end), date)
        several = len(table.column_labels) > 1 and not table.indicator.stages
        head = [table.row_header, *table.column_labels]
        if several:
            head.append("Total")
        head += [period.previous().label.capitalize(), "Part"]
        for c, value in enumerate(head):
            sheet.write_string(3, c, safe_cell(value), bold)
        r = 4
        grand = table.total[1]
        for label, counts, total, before in [*table.rows, ["Total", *table.total]]:
            values = [label, *(_count(n) for n in counts)]
            if several:
                values.append(_count(total))
            values.append(_count(before))
            if label != "Total":
                values.append(_share(total, grand))
            for c, value in enumerate(values):
                put(sheet, r, c, value, bold if label == "Total" and c == 0 else None)
            r += 1
        for label, days, base in table.stats:
            shown = cells.days_cell(days, base)
            put(sheet, r, 0, label)
            if shown == cells.NO_RATE:
                put(sheet, r, 1, shown)
            else:
                sheet.write_number(r, 1, days, one_decimal)
            r += 1
        if table.breakdown:
            r += 1
            for c, value in enumerate(
                [table.breakdown_header, period.label.capitalize(), period.previous().label]
            ):
                sheet.write_string(r, c, safe_cell(value), bold)
            for name, now, before in table.breakdown:
                r += 1
                for c, value in enumerate([name, _count(now), _count(before)]):
                    put(sheet, r, c, value)
    sheet = book.add_worksheet("Définitions")
    sheet.set_column(0, 0, 26)
    sheet.set_column(1, 1, 40)
    sheet.set_column(2, 2, 90)
    for c, value in enumerate(["Code", "Indicateur", "Définition", "Version"]):
        sheet.write_string(0, c, value, bold)
    for r, (indicator, _table) in enumerate(tables, start=1):
        sheet.write_string(r, 0, indicator.code)
        sheet.write_string(r, 1, safe_cell(indicator.label), wrap)
        sheet.write_string(r, 2, safe_cell(indicator.definition), wrap)
        sheet.write_number(r, 3, indicator.version)
    r = len(tables) + 2
    sheet.write_string(
        r,
        0,
        "Un effectif de 1 à 4 s'affiche « < 5 » ; une part sur moins de 10 personnes, ou d'un"
        " effectif masqué, ne s'affiche pas (« — »).",
    )
    book.close()
    return out.getvalue()


def _midnight(day):
    return datetime.datetime.combine(day, datetime.time.min)
