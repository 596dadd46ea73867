"""A return as the submitter laid it out (forms.md §3), and its rendering onto a worksheet grid.

`ReturnDoc` keeps the parts of the form apart (cover items, table columns, indicator rows,
footer items) so that quirks and cases can move, respell or drop one part; `render` places
them on cells the way the city's template does, shifted and rearranged as the doc says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pbstats.schemas.forms import (
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

from .workbook import Cell, CellValue, Grid

ISSUER = "中共示例市委组织部"

# table columns: key -> header label and the column-number row's mark (甲 乙 丙 1 2 3)
COLUMNS = {
    "name": (HEADER_NAME, "甲"),
    "code": (HEADER_CODE, "乙"),
    "unit": (HEADER_UNIT, "丙"),
    "current": (HEADER_CURRENT, "1"),
    "prior": (HEADER_PRIOR, "2"),
    "note": (HEADER_NOTE, "3"),
}
STANDARD_COLUMNS = ["name", "code", "unit", "current", "prior", "note"]
GAP = "gap"  # an empty column inside the table
WIDTHS = {"name": 44.0, "code": 6.0, "unit": 10.0, "current": 10.0, "prior": 10.0, "note": 18.0, GAP: 3.0}


@dataclass
class Item:
    """A labelled cover or footer entry: `组织代码：990181101201`, or the value in the next cell."""

    label: str
    value: CellValue  # None: the label stands with nothing after it
    style: str = "full"  # full: label：value · half: label:value · next: value in the cell to the right


@dataclass
class Row:
    """A row of the table: an indicator row, or (indicator None) a note, sub-heading or blank row."""

    indicator: Indicator | None
    code: CellValue
    name: str
    unit: str
    current: Cell
    prior: Cell
    note: Cell = field(default_factory=Cell)
    touched: bool = False  # a quirk or case already chose how this row's 本年 cell is spelled


@dataclass
class ReturnDoc:
    """Everything on the form's sheet, plus the sheets around it."""

    form: Form
    title: str
    cover: dict[str, Item]  # keys: form_id, issuer, org_name, org_code, year
    cover_rows: list[list[tuple[str, int]]]  # per line: (cover key, column slot)
    columns: list[str]
    rows: list[Row]
    footer: dict[str, Item]  # keys: head, filler, phone, date
    footer_rows: list[list[tuple[str, int]]]
    sheet_name: str
    header: bool = True
    column_numbers: bool = True
    title_merge: str = "cols"  # cols | tall | none
    top: int = 0
    left: int = 0
    blank_rows_after_cover: int = 0
    before: list[Grid] = field(default_factory=list)
    after: list[Grid] = field(default_factory=list)

    def indicator_rows(self) -> list[Row]:
        return [r for r in self.rows if r.indicator is not None]

    def row(self, code: str) -> Row:
        return next(r for r in self.rows if r.indicator is not None and r.indicator.code == code)

    def free_rows(self) -> list[Row]:
        return [r for r in self.indicator_rows() if not r.touched]

    def blank_codes(self) -> list[str]:
        """Indicator codes whose 本年 cell is blank (read as 0 with W-BLANK)."""
        return [r.indicator.code for r in self.indicator_rows() if r.indicator and _reads_blank(r.current)]

    def footer_missing(self) -> bool:
        """True when 填表人 or 报出日期 is absent or empty (W-FOOTER)."""
        placed = {key for line in self.footer_rows for key, _ in line}
        for key in ("filler", "date"):
            item = self.footer.get(key)
            if key not in placed or item is None or item.value in (None, ""):
                return True
        return False


def _reads_blank(cell: Cell) -> bool:
    """Empty or only spaces: the one spelling the rulebook reads as 0 with W-BLANK (forms.md §5); a
    dash, a slash or 无 is a written 0."""
    return cell.blank or (cell.formula is None and isinstance(cell.value, str) and not cell.value.strip())


def number_cell(value: int | float, kind: Kind) -> Cell:
    return Cell(float(value) if kind is Kind.AMOUNT else int(value))


def build_doc(
    form: Form,
    *,
    org_name: str,
    org_code: str,
    year: int,
    values: dict[str, int | float],
    prior: dict[str, int | float] | None,
    head: str,
    filler: str,
    phone: str,
    report_date: date,
) -> ReturnDoc:
    """The return as the city's template lays it out, filled in plainly."""
    rows = [
        Row(
            indicator=ind,
            code=ind.code,
            name=ind.name,
            unit=ind.unit,
            current=number_cell(values[ind.code], ind.kind),
            prior=number_cell(prior[ind.code], ind.kind) if prior is not None else Cell(),
        )
        for ind in form.indicators
    ]
    return ReturnDoc(
        form=form,
        title=form.title,
        cover={
            "form_id": Item(LABEL_FORM_ID, form.form_id),
            "issuer": Item(LABEL_ISSUER, ISSUER),
            "org_name": Item(LABEL_ORG_NAME, org_name),
            "org_code": Item(LABEL_ORG_CODE, org_code),
            "year": Item(LABEL_YEAR, str(year)),
        },
        cover_rows=[[("form_id", 0), ("issuer", 2)], [("org_name", 0), ("org_code", 2), ("year", 4)]],
        columns=list(STANDARD_COLUMNS),
        rows=rows,
        footer={
            "head": Item(LABEL_HEAD, head),
            "filler": Item(LABEL_FILLER, filler),
            "phone": Item(LABEL_PHONE, phone),
            "date": Item(LABEL_REPORT_DATE, chinese_date(report_date)),
        },
        footer_rows=[[("head", 0), ("filler", 1), ("phone", 3), ("date", 4)]],
        sheet_name=form.form_id,
    )


def chinese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def render(doc: ReturnDoc) -> tuple[list[Grid], int]:
    """The sheets of the workbook, and the index of the form's sheet among them."""
    grid = Grid(doc.sheet_name)
    width = len(doc.columns)
    r, c0 = doc.top, doc.left
    grid.put(r, c0, doc.title, bold=True)
    if doc.title_merge == "cols":
        grid.merges.append((r, c0, r, c0 + width - 1))
    elif doc.title_merge == "tall":
        grid.merges.append((r, c0, r + 1, c0 + width - 1))
        r += 1
    r += 1
    for line in doc.cover_rows:
        for key, slot in line:
            _place(grid, r, c0 + slot, doc.cover[key])
        r += 1
    r += doc.blank_rows_after_cover
    if doc.header:
        for i, key in enumerate(doc.columns):
            if key != GAP:
                grid.put(r, c0 + i, COLUMNS[key][0], bold=True)
        r += 1
    if doc.column_numbers:
        for i, key in enumerate(doc.columns):
            if key != GAP:
                grid.put(r, c0 + i, COLUMNS[key][1])
        r += 1
    for row in doc.rows:
        cells = {"name": Cell(row.name or None), "code": Cell(row.code), "unit": Cell(row.unit or None)}
        cells |= {"current": row.current, "prior": row.prior, "note": row.note}
        for i, key in enumerate(doc.columns):
            cell = cells.get(key)
            if cell is not None and not cell.blank:
                grid.cells[(r, c0 + i)] = cell
        r += 1
    r += 1
    for line in doc.footer_rows:
        for key, slot in line:
            _place(grid, r, c0 + slot, doc.footer[key])
        r += 1
    for i, key in enumerate(doc.columns):
        grid.widths[c0 + i] = WIDTHS[key]
    return [*doc.before, grid, *doc.after], len(doc.before)


def _place(grid: Grid, row: int, col: int, item: Item) -> None:
    if item.style == "next":
        grid.put(row, col, item.label)
        if item.value is not None and item.value != "":
            grid.put(row, col + 1, item.value)
        return
    colon = "：" if item.style == "full" else ":"
    value = item.value
    text = "" if value is None else chinese_date(value) if isinstance(value, date) else str(value)
    grid.put(row, col, f"{item.label}{colon}{text}")
