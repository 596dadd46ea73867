"""The official blank forms (forms.md §3) as workbooks, one per org: cover filled in, 上年 filled from
what was loaded, every value cell validated as its indicator's type, the labels protected.

A template filled in with valid values reads back as an accepted return: its layout is the one the
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
from pbstats.schemas.forms import (
    AMOUNT_DECIMALS,
    COLUMN_NUMBERS,
    FLAG_NO,
    FLAG_YES,
    HEADER_CODE,
    HEADER_CURRENT,
    HEADER_NAME,
    HEADER_NOTE,
    HEADER_PRIOR,
    HEADER_UNIT,
    LABEL_FILLER,
    LABEL_FORM_ID,
    LABEL_HEAD,
    LABEL_ISSUER,
    LABEL_ORG_CODE,
    LABEL_ORG_NAME,
    LABEL_PHONE,
    LABEL_REPORT_DATE,
    LABEL_YEAR,
    Form,
    Indicator,
    Kind,
)

FIRST_ROW = 6  # the first indicator row (1-based): title, 表号, cover, header, column numbers above it
COL_NAME, COL_CODE, COL_UNIT, COL_CURRENT, COL_PRIOR, COL_NOTE = range(1, 7)
WIDTHS = {"A": 52, "B": 7, "C": 11, "D": 14, "E": 14, "F": 18}
INPUT_FILL = PatternFill(fill_type="solid", fgColor="FFFFF9E0")
HEAD_FILL = PatternFill(fill_type="solid", fgColor="FFEFE6DA")
THIN = Side(style="thin", color="FF999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
UNLOCKED = Protection(locked=False)
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
    book = Workbook()
    ws = book.active
    ws.title = form.form_id
    _cover(ws, form, org_code, org_name, year, issuer)
    row = FIRST_ROW
    for ind in form.indicators:
        _indicator_row(ws, row, ind, (prior or {}).get(ind.code))
        row += 1
    _footer(ws, row + 1)
    for col, width in WIDTHS.items():
        ws.column_dimensions[col].width = width
    ws.freeze_panes = f"A{FIRST_ROW}"
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


def _cover(ws: Worksheet, form: Form, org_code: str, org_name: str, year: int, issuer: str) -> None:
    ws["A1"] = form.title
    ws.merge_cells("A1:F1")
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30
    ws["A2"] = f"{LABEL_FORM_ID}：{form.form_id}"
    ws["C2"] = f"{LABEL_ISSUER}：{issuer}"
    ws.merge_cells("C2:F2")
    ws["A3"] = f"{LABEL_ORG_NAME}：{org_name}"
    ws["C3"] = f"{LABEL_ORG_CODE}：{org_code}"
    ws.merge_cells("C3:D3")
    ws["E3"] = f"{LABEL_YEAR}：{year}"
    ws.merge_cells("E3:F3")
    for c, label in enumerate(
        (HEADER_NAME, HEADER_CODE, HEADER_UNIT, HEADER_CURRENT, HEADER_PRIOR, HEADER_NOTE), 1
    ):
        cell = ws.cell(row=4, column=c, value=label)
        cell.font = Font(bold=True)
        cell.fill = HEAD_FILL
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center")
    for c, label in enumerate(COLUMN_NUMBERS, 1):
        cell = ws.cell(row=5, column=c, value=label)
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center")


def _indicator_row(ws: Worksheet, row: int, ind: Indicator, prior: float | None) -> None:
    ws.cell(row=row, column=COL_NAME, value=ind.name).alignment = Alignment(wrap_text=True)
    ws.cell(row=row, column=COL_CODE, value=ind.code).alignment = Alignment(horizontal="center")
    ws.cell(row=row, column=COL_UNIT, value=ind.unit).alignment = Alignment(horizontal="center")
    current = ws.cell(row=row, column=COL_CURRENT)
    current.protection = UNLOCKED
    current.fill = INPUT_FILL
    _validate(ws, current.coordinate, ind)
    last = ws.cell(row=row, column=COL_PRIOR, value=_shown(prior, ind))
    note = ws.cell(row=row, column=COL_NOTE)
    note.protection = UNLOCKED
    note.fill = INPUT_FILL
    if ind.kind is Kind.AMOUNT:
        current.number_format = last.number_format = AMOUNT_FORMAT
    elif ind.kind is Kind.COUNT:
        current.number_format = last.number_format = "0"
    if ind.kind is Kind.FLAG:
        current.alignment = last.alignment = Alignment(horizontal="center")
    for col in range(COL_NAME, COL_NOTE + 1):
        ws.cell(row=row, column=col).border = BOX


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


def _footer(ws: Worksheet, row: int) -> None:
    """Labels with an empty value cell to the right of each (forms.md §3): A label, B:C value, D label, E:F value."""
    pairs = ((LABEL_HEAD, LABEL_FILLER), (LABEL_PHONE, LABEL_REPORT_DATE))
    for r, (left, right) in enumerate(pairs, start=row):
        for label_col, label, span in ((1, left, "B{r}:C{r}"), (4, right, "E{r}:F{r}")):
            ws.cell(row=r, column=label_col, value=f"{label}：").alignment = Alignment(horizontal="right")
            value = ws.cell(row=r, column=label_col + 1)
            value.protection = UNLOCKED
            value.fill = INPUT_FILL
            value.border = Border(bottom=THIN)
            ws.merge_cells(span.format(r=r))
            if label == LABEL_REPORT_DATE:
                value.number_format = words.REPORT_DATE_FORMAT
        ws.row_dimensions[r].height = 22


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
