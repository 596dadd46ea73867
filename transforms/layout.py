"""The official form's layout (forms.md §3) and its one writer onto a worksheet grid.

A `FormLayout` keeps the parts of the form apart (title, cover items, table columns, indicator rows,
footer items); `draw` places them on the cells of a `Grid` the way the city's form does: title,
表号 and 制定机关, 填报单位 / 组织代码 / 统计年度, the header row, the column-number row (甲 乙 丙 1 2 3),
the table, a blank row, the footer. The blank templates (transforms/template.py) style what `draw`
placed; the generator (gen/layout.py) moves, respells or drops parts first. Pure data: no workbook
library, no wording but what schemas/forms.py spells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Self

from pbstats.schemas.forms import (
    COLUMN_NUMBERS,
    DATE_SPELLING,
    HEADER_CODE,
    HEADER_CURRENT,
    HEADER_GROUP,
    HEADER_NAME,
    HEADER_NOTE,
    HEADER_PRIOR,
    HEADER_UNIT,
    LABEL_COLON,
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
)

CellValue = str | int | float | date | datetime | None


@dataclass(frozen=True)
class CellError:
    """A formula's cached result that is an error value, as the program that saved it spells it."""

    text: str  # "#DIV/0!", "#N/A", … (LibreOffice also writes "Err:502" and the like)


@dataclass
class Cell:
    """One cell as the submitter left it. A formula's `value` is its cached result (None: none cached;
    a `CellError`: an error value)."""

    value: CellValue | CellError = None
    formula: str | None = None  # "=SUM(...)"
    bold: bool = False

    @property
    def blank(self) -> bool:
        return self.formula is None and (self.value is None or self.value == "")


@dataclass
class Grid:
    """One worksheet: cells by 0-based (row, col), merged ranges (r0, c0, r1, c1 inclusive), widths."""

    name: str
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)

    def put(
        self,
        row: int,
        col: int,
        value: CellValue | CellError,
        *,
        formula: str | None = None,
        bold: bool = False,
    ) -> None:
        self.cells[(row, col)] = Cell(value, formula, bold)


# table columns: key -> header label and the column-number row's mark (甲 乙 丙 1 2 3)
STANDARD_COLUMNS = ["name", "code", "unit", "current", "prior", "note"]
HEADERS = (HEADER_NAME, HEADER_CODE, HEADER_UNIT, HEADER_CURRENT, HEADER_PRIOR, HEADER_NOTE)
COLUMNS = dict(zip(STANDARD_COLUMNS, zip(HEADERS, COLUMN_NUMBERS, strict=True), strict=True))
GAP = "gap"  # an empty column inside the table
VALUE_COLUMNS = ("current", "prior")
WIDTHS = {"name": 44.0, "code": 6.0, "unit": 10.0, "current": 10.0, "prior": 10.0, "note": 18.0, GAP: 3.0}

# where the cover and footer items stand: per line, (item key, column slot from the table's left edge)
COVER_ROWS = [[("form_id", 0), ("issuer", 2)], [("org_name", 0), ("org_code", 2), ("year", 4)]]
FOOTER_ROWS = [[("head", 0), ("filler", 1), ("phone", 3), ("date", 4)]]


@dataclass
class Item:
    """A labelled cover or footer entry: `组织代码：990181101201`, or the value in the next cell."""

    label: str
    value: CellValue  # None: the label stands with nothing after it
    style: str = "full"  # full: label：value · half: label:value · next: value in the cell to the right
    span: int = 1  # columns the label's cell is merged across (forms.md §3: labels may sit in merged cells)
    value_span: int = 1  # columns the value's own cell is merged across (style "next"), blank or not


def cover_items(form: Form, *, issuer: str, org_name: str, org_code: str, year: int) -> dict[str, Item]:
    """The cover as the city fills it in for an org (keys of COVER_ROWS)."""
    return {
        "form_id": Item(LABEL_FORM_ID, form.form_id),
        "issuer": Item(LABEL_ISSUER, issuer),
        "org_name": Item(LABEL_ORG_NAME, org_name),
        "org_code": Item(LABEL_ORG_CODE, org_code),
        "year": Item(LABEL_YEAR, str(year)),
    }


FOOTER_KEYS = {"head": LABEL_HEAD, "filler": LABEL_FILLER, "phone": LABEL_PHONE, "date": LABEL_REPORT_DATE}


def footer_items(values: dict[str, CellValue]) -> dict[str, Item]:
    """The footer (keys of FOOTER_ROWS) filled in with `values` by key."""
    return {key: Item(label, values.get(key)) for key, label in FOOTER_KEYS.items()}


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


def indicator_row(ind: Indicator, current: Cell, prior: Cell) -> Row:
    return Row(indicator=ind, code=ind.code, name=ind.name, unit=ind.unit, current=current, prior=prior)


@dataclass
class FormLayout:
    """Everything on the form's sheet, and how it departs from the standard form (the defaults)."""

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
    header_rows: int = 1  # 2: 本年/上年 under a group label, the other labels merged down over both rows
    group_label: str = HEADER_GROUP
    current_span: int = 1  # columns each 本年 cell (its label and number too) is merged across
    column_numbers: bool = True
    title_merge: str = "cols"  # cols | tall | none
    top: int = 0
    left: int = 0
    blank_rows_after_cover: int = 0

    @classmethod
    def standard(
        cls,
        form: Form,
        cover: dict[str, Item],
        rows: list[Row],
        footer: dict[str, Item],
        footer_rows: list[list[tuple[str, int]]] = FOOTER_ROWS,
    ) -> Self:
        """The city's form as it stands: the cover on COVER_ROWS, the six columns, the footer on
        `footer_rows`. Its lists are the layout's own, for quirks to change."""
        return cls(
            form=form,
            title=form.title,
            cover=cover,
            cover_rows=[list(line) for line in COVER_ROWS],
            columns=list(STANDARD_COLUMNS),
            rows=rows,
            footer=footer,
            footer_rows=[list(line) for line in footer_rows],
            sheet_name=form.form_id,
        )

    def indicator_rows(self) -> list[Row]:
        return [r for r in self.rows if r.indicator is not None]

    def row(self, code: str) -> Row:
        return next(r for r in self.rows if r.indicator is not None and r.indicator.code == code)


@dataclass
class Placed:
    """Where `draw` put the parts of the form (0-based), for whoever styles the sheet."""

    title: int
    header: int | None  # the header's first row
    numbers: int | None  # the column-number row
    columns: dict[str, tuple[int, int]]  # table column key -> (first sheet column, width)
    rows: list[int]  # the sheet row of each of the layout's rows
    labels: dict[str, tuple[int, int]] = field(default_factory=dict)  # cover/footer key -> label cell
    entries: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> value cell (style "next")


def draw(doc: FormLayout) -> tuple[Grid, Placed]:
    """The form's sheet as a grid, and where its parts went."""
    grid = Grid(doc.sheet_name)
    r, c0 = doc.top, doc.left
    spans = _spans(doc, c0)
    columns = {key: span for key, span in zip(doc.columns, spans, strict=True) if key != GAP}
    placed = Placed(title=r, header=None, numbers=None, columns=columns, rows=[])
    width = sum(w for _, w in spans)
    grid.put(r, c0, doc.title, bold=True)
    if doc.title_merge == "cols":
        grid.merges.append((r, c0, r, c0 + width - 1))
    elif doc.title_merge == "tall":
        grid.merges.append((r, c0, r + 1, c0 + width - 1))
        r += 1
    r = _items(grid, placed, r + 1, c0, doc.cover, doc.cover_rows) + doc.blank_rows_after_cover
    if doc.header:
        placed.header = r
        _header(grid, doc, r, spans)
        r += doc.header_rows
    if doc.column_numbers:
        placed.numbers = r
        for key, (col, w) in zip(doc.columns, spans, strict=True):
            if key != GAP:
                _merged(grid, r, col, COLUMNS[key][1], 1, w)
        r += 1
    for row in doc.rows:
        placed.rows.append(r)
        cells = {"name": Cell(row.name or None), "code": Cell(row.code), "unit": Cell(row.unit or None)}
        cells |= {"current": row.current, "prior": row.prior, "note": row.note}
        for key, (col, w) in zip(doc.columns, spans, strict=True):
            cell = cells.get(key)
            if cell is not None and not cell.blank:
                grid.cells[(r, col)] = cell
            if w > 1 and row.indicator is not None:  # a figure merged across its columns, blank or not
                grid.merges.append((r, col, r, col + w - 1))
        r += 1
    _items(grid, placed, r + 1, c0, doc.footer, doc.footer_rows)
    for key, (col, w) in zip(doc.columns, spans, strict=True):
        for i in range(w):
            grid.widths[col + i] = WIDTHS[key] / w
    return grid, placed


def _spans(doc: FormLayout, c0: int) -> list[tuple[int, int]]:
    """(first column, width) of each of the doc's table columns on the sheet."""
    spans, col = [], c0
    for key in doc.columns:
        w = doc.current_span if key == "current" else 1
        spans.append((col, w))
        col += w
    return spans


def _header(grid: Grid, doc: FormLayout, r: int, spans: list[tuple[int, int]]) -> None:
    """The header row; over two rows, the value columns' labels stand in the second row under the
    group label (merged across each run of adjacent value columns) and the others merged down."""
    two = doc.header_rows == 2
    run_start = None
    for i, (key, (col, w)) in enumerate(zip(doc.columns, spans, strict=True)):
        if key == GAP:
            continue
        if two and key in VALUE_COLUMNS:
            _merged(grid, r + 1, col, COLUMNS[key][0], 1, w, bold=True)
            run_start = col if run_start is None else run_start
            following = doc.columns[i + 1] if i + 1 < len(doc.columns) else None
            if following not in VALUE_COLUMNS:
                _merged(grid, r, run_start, doc.group_label, 1, col + w - run_start, bold=True)
                run_start = None
        else:
            _merged(grid, r, col, COLUMNS[key][0], doc.header_rows, w, bold=True)


def _merged(
    grid: Grid, row: int, col: int, value: CellValue, rows: int, cols: int, *, bold: bool = False
) -> None:
    grid.put(row, col, value, bold=bold)
    if rows > 1 or cols > 1:
        grid.merges.append((row, col, row + rows - 1, col + cols - 1))


def _items(
    grid: Grid, placed: Placed, r: int, c0: int, items: dict[str, Item], lines: list[list[tuple[str, int]]]
) -> int:
    """Cover or footer lines from row `r` on; the row after them."""
    for line in lines:
        for key, slot in line:
            placed.labels[key] = (r, c0 + slot)
            _place(grid, placed, key, r, c0 + slot, items[key])
        r += 1
    return r


def _place(grid: Grid, placed: Placed, key: str, row: int, col: int, item: Item) -> None:
    if item.style == "next":
        _merged(grid, row, col, item.label, 1, item.span)
        placed.entries[key] = (row, col + item.span)
        if item.value is not None and item.value != "":
            _merged(grid, row, col + item.span, item.value, 1, item.value_span)
        elif item.value_span > 1:  # an empty entry cell keeps its width
            grid.merges.append((row, col + item.span, row, col + item.span + item.value_span - 1))
        return
    colon = LABEL_COLON if item.style == "full" else ":"
    value = item.value
    text = "" if value is None else DATE_SPELLING.format(value) if isinstance(value, date) else str(value)
    _merged(grid, row, col, f"{item.label}{colon}{text}", 1, item.span)
