"""The official blank forms (forms.md §3) as workbooks, one per org: cover filled in, 上年 filled from
what was loaded, every value cell validated as its indicator's type, the labels protected.

The form's layout is drawn by transforms/layout.py, the writer the generator's returns share; this
module adds what a template adds: styles, widths, validation, protection and the guide sheet. A
template filled in with valid values reads back as an accepted return: its layout is the one the
readers in transforms/locate.py look for."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from pbstats.schemas import template_text as words
from pbstats.schemas.forms import AMOUNT_DECIMALS, FLAG_NO, FLAG_YES, LABEL_COLON, Form, Indicator, Kind

from .layout import (
    FOOTER_KEYS,
    STANDARD_COLUMNS,
    Cell,
    FormLayout,
    Grid,
    Item,
    Placed,
    cover_items,
    draw,
    indicator_row,
)

FIRST_ROW = (
    6  # the first indicator row (1-based) as draw places it: title, 表号, cover, header, column numbers
)
WIDTHS = {"A": 52, "B": 7, "C": 11, "D": 14, "E": 14, "F": 18}
# the cover's values merged to the table's right edge; the footer's labels each with an entry cell
COVER_SPANS = {"issuer": 4, "org_code": 2, "year": 2}
ENTRY_FOOTER_ROWS = [[("head", 0), ("filler", 3)], [("phone", 0), ("date", 3)]]
INPUT_FILL = PatternFill(fill_type="solid", fgColor="FFFFF9E0")
HEAD_FILL = PatternFill(fill_type="solid", fgColor="FFEFE6DA")
THIN = Side(style="thin", color="FF999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
UNLOCKED = Protection(locked=False)
CENTER = Alignment(horizontal="center")
FLAG_WORDS = (FLAG_YES, FLAG_NO)
AMOUNT_FORMAT = "0." + "0" * AMOUNT_DECIMALS
template_name = words.file_name  # the file name of an org's template


def build_template(
    form: Form,
    org_code: str,
    org_name: str,
    year: int,
    prior: Mapping[str, float] | None = None,
    issuer: str = words.DEFAULT_ISSUER,
) -> bytes:
    """An .xlsx of `form` for one org and year; `prior`: last year's loaded values by indicator code."""
    doc = blank_form(form, org_code, org_name, year, prior or {}, issuer)
    grid, placed = draw(doc)
    book = Workbook()
    ws = book.active
    ws.title = form.form_id
    _cells(ws, grid)
    _title_and_header(ws, placed)
    for ind, r in zip(form.indicators, placed.rows, strict=True):
        _indicator_row(ws, r + 1, placed, ind)
    _footer(ws, placed)
    for col, width in WIDTHS.items():
        ws.column_dimensions[col].width = width
    ws.freeze_panes = f"A{placed.rows[0] + 1}"
    ws.page_setup.orientation = "portrait"
    ws.page_setup.fitToWidth = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.protection.sheet = True  # labels, codes, units and 上年 are locked; value cells are not
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    _guide(book.create_sheet(words.GUIDE_SHEET), form, year)
    book.active = 0
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def blank_form(
    form: Form, org_code: str, org_name: str, year: int, prior: Mapping[str, float], issuer: str
) -> FormLayout:
    """The city's form for one org: cover filled in, 本年 blank, 上年 as loaded, the footer to fill in."""
    cover = cover_items(form, issuer=issuer, org_name=org_name, org_code=org_code, year=year)
    for key, span in COVER_SPANS.items():
        cover[key].span = span
    footer = {
        key: Item(label + LABEL_COLON, None, "next", value_span=2) for key, label in FOOTER_KEYS.items()
    }
    rows = [indicator_row(ind, Cell(), Cell(_shown(prior.get(ind.code), ind))) for ind in form.indicators]
    return FormLayout.standard(form, cover, rows, footer, ENTRY_FOOTER_ROWS)


def _cells(ws: Worksheet, grid: Grid) -> None:
    for (r, c), cell in grid.cells.items():
        target = ws.cell(row=r + 1, column=c + 1, value=cell.value)
        if cell.bold:
            target.font = Font(bold=True)
    for r0, c0, r1, c1 in grid.merges:
        ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)


def _title_and_header(ws: Worksheet, placed: Placed) -> None:
    title = ws.cell(row=placed.title + 1, column=1)
    title.font = Font(bold=True, size=16)
    title.alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[placed.title + 1].height = 30
    for col, _ in placed.columns.values():
        head = ws.cell(row=placed.header + 1, column=col + 1)
        head.fill, head.border, head.alignment = HEAD_FILL, BOX, CENTER
        mark = ws.cell(row=placed.numbers + 1, column=col + 1)
        mark.border, mark.alignment = BOX, CENTER


def _indicator_row(ws: Worksheet, row: int, placed: Placed, ind: Indicator) -> None:
    def cell(key: str):
        return ws.cell(row=row, column=placed.columns[key][0] + 1)

    cell("name").alignment = Alignment(wrap_text=True)
    cell("code").alignment = cell("unit").alignment = CENTER
    current, last, note = cell("current"), cell("prior"), cell("note")
    current.protection = note.protection = UNLOCKED
    current.fill = note.fill = INPUT_FILL
    _validate(ws, current.coordinate, ind)
    if ind.kind is Kind.AMOUNT:
        current.number_format = last.number_format = AMOUNT_FORMAT
    elif ind.kind is Kind.COUNT:
        current.number_format = last.number_format = "0"
    if ind.kind is Kind.FLAG:
        current.alignment = last.alignment = CENTER
    for key in STANDARD_COLUMNS:
        cell(key).border = BOX


def _shown(prior: float | None, ind: Indicator) -> object:
    """Last year's value as the 上年 cell shows it: 是/否 for a flag, a whole number for a count."""
    if prior is None:
        return None
    if ind.kind is Kind.FLAG:
        return FLAG_WORDS[0] if prior else FLAG_WORDS[1]
    if ind.kind is Kind.COUNT:
        return int(round(prior))
    return round(prior, AMOUNT_DECIMALS)


def _validate(ws: Worksheet, ref: str, ind: Indicator) -> None:
    """Excel's data validation for the indicator's type (forms.md §4); blank stays allowed (W-BLANK)."""
    if ind.kind is Kind.COUNT:
        dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=True)
    elif ind.kind is Kind.FLAG:
        dv = DataValidation(type="list", formula1=f'"{",".join(FLAG_WORDS)}"', allow_blank=True)
    else:  # a decimal ≥ 0 with at most two decimals: Excel's decimal type cannot say the second part
        rounded = f"ROUND({ref},{AMOUNT_DECIMALS})={ref}"
        dv = DataValidation(
            type="custom", formula1=f"AND(ISNUMBER({ref}),{ref}>=0,{rounded})", allow_blank=True
        )
    dv.error = words.validation_error(ind)
    dv.errorTitle = words.ERROR_TITLE
    dv.showErrorMessage = True
    dv.promptTitle = ind.name[:32]
    dv.prompt = words.validation_prompt(ind)
    dv.showInputMessage = True
    ws.add_data_validation(dv)
    dv.add(ref)


def _footer(ws: Worksheet, placed: Placed) -> None:
    """Each label right-aligned, its entry cell to fill in (forms.md §3: the value in the next cell)."""
    for key in FOOTER_KEYS:
        label_row, label_col = placed.labels[key]
        ws.cell(row=label_row + 1, column=label_col + 1).alignment = Alignment(horizontal="right")
        value = ws.cell(row=placed.entries[key][0] + 1, column=placed.entries[key][1] + 1)
        value.protection = UNLOCKED
        value.fill = INPUT_FILL
        value.border = Border(bottom=THIN)
        if key == "date":
            value.number_format = words.REPORT_DATE_FORMAT
        ws.row_dimensions[label_row + 1].height = 22


def _guide(ws: Worksheet, form: Form, year: int) -> None:
    for r, text in enumerate(words.guide(form, year), start=1):
        ws.cell(row=r, column=1, value=text)
    ws["A1"].font = Font(bold=True, size=13)
    ws.column_dimensions["A"].width = 110


def template_zip(files: Mapping[str, bytes]) -> bytes:
    """The templates of one township as a zip (names kept in UTF-8)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()
