"""Find the form in a workbook (forms.md §3): its sheet by 表号, the cover and footer by their
labels, the header row by its labels, and the indicator rows by their codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pbstats.schemas.forms import (
    ALL_LABELS,
    COLUMN_NUMBERS,
    FOOTER_LABELS,
    FORMS,
    HEADER_CODE,
    HEADER_CURRENT,
    HEADER_NAME,
    HEADER_PRIOR,
    LABEL_FORM_ID,
)

from .model import CellAt, CellValue, IndicatorRow, Sheet, Workbook
from .values import from_float, norm_text

COVER_SCAN_ROWS = 40  # the 表号 stands in the cover block, near the top
LABEL_RE = re.compile(r"^(" + "|".join(sorted(ALL_LABELS, key=len, reverse=True)) + r")[:：]?(.*)$")
# the row under the header that numbers its columns is no indicator row: known by a mark that is no
# digit in the code column, or by 甲 under 指标名称 (its 1 2 3 would read as codes)
COLUMN_NUMBER_ROW = frozenset(mark for mark in COLUMN_NUMBERS if not mark.isdigit())
NAME_COLUMN_MARK = COLUMN_NUMBERS[0]


@dataclass(frozen=True)
class Labelled:
    """A label and the cell holding its value (the label's own cell, or the next one to the right)."""

    label: str
    value: CellAt | None
    text: str | None  # the value as text ("" when the label stands alone)


def text_of(v: CellValue) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return format(from_float(v), "f")
    return str(v)


def _merged_end(sheet: Sheet, row: int, col: int) -> int:
    for r0, c0, r1, c1 in sheet.merged:
        if r0 <= row <= r1 and c0 <= col <= c1:
            return c1
    return col


def find_labels(sheet: Sheet, rows: range) -> dict[str, Labelled]:
    """Every cover/footer label in those rows, with its value: same cell after a colon, or to the right."""
    found: dict[str, Labelled] = {}
    for r, c, label, rest in label_cells(sheet):
        if r not in rows or label in found:
            continue
        if rest:
            found[label] = Labelled(label, CellAt(sheet.name, r, c, rest), rest)
            continue
        found[label] = _value_right_of(sheet, r, c, label)
    return found


def label_cells(sheet: Sheet) -> list[tuple[int, int, str, str]]:
    """(row, col, label, what follows it) of each cell whose text starts with a label, in reading
    order. The sheet is scanned once, however often it is asked (the form's sheet, its cover, its
    footer and the PII check's 联系电话 all ask)."""
    if sheet.labels is None:
        sheet.labels = [
            (r, c, *got)
            for r, row in enumerate(sheet.rows)
            for c, v in enumerate(row)
            if isinstance(v, str) and v and (got := label_of(v)) is not None
        ]
    return sheet.labels


def label_of(text: str) -> tuple[str, str] | None:
    """The label a cell's text starts with and what follows it (after a colon, if any), else None."""
    return _short_label_of(text) if len(text) <= _MEMO_LEN else _label_of(text)


def _label_of(text: str) -> tuple[str, str] | None:
    m = LABEL_RE.match(norm_text(text))
    return (m.group(1), m.group(2)) if m else None


_MEMO_LEN = 80  # the texts of a template (labels, indicator names) repeat in every return: remembered
_short_label_of = lru_cache(maxsize=2048)(_label_of)


def _value_right_of(sheet: Sheet, r: int, c: int, label: str) -> Labelled:
    col = _merged_end(sheet, r, c) + 1
    row = sheet.rows[r]
    for cc in range(col, min(col + 3, len(row))):
        v = row[cc]
        if v is None or v == "":
            continue
        if isinstance(v, str) and label_of(v) is not None:
            break
        at = CellAt(sheet.name, r, cc, v, (r, cc) in sheet.uncached_formulas, sheet.errors.get((r, cc)))
        return Labelled(label, at, norm_text(text_of(v)))
    return Labelled(label, None, "")


def find_form_sheet(book: Workbook) -> tuple[Sheet, str] | tuple[None, str | None]:
    """The sheet whose cover names a known 表号, and that 表号; else (None, any unknown 表号 seen)."""
    unknown = None
    for sheet in book.sheets:
        labels = find_labels(sheet, range(min(COVER_SCAN_ROWS, len(sheet.rows))))
        got = labels.get(LABEL_FORM_ID)
        if got is None or not got.text:
            continue
        form_id = got.text.upper().replace("—", "-").replace("－", "-")
        if form_id in FORMS:
            return sheet, form_id
        unknown = unknown or got.text
    return None, unknown


@dataclass(frozen=True)
class Header:
    row: int
    name_col: int
    code_col: int
    current_col: int
    prior_col: int | None


def find_header(sheet: Sheet) -> Header | None:
    """The first row holding 指标名称, 代码 and 本年, a merged label standing in every cell it covers: so
    the second row of a header over two rows (指标名称 merged down, 本年 under a group label) is the
    header row. A label merged across columns names its first column, where a merged figure stands."""
    for r, row in enumerate(_merged_labels(sheet, COVER_SCAN_ROWS + 20)):
        cols: dict[str, int] = {}
        for c, v in enumerate(row):
            if isinstance(v, str) and v.strip():
                cols.setdefault(norm_text(v), c)
        if HEADER_NAME in cols and HEADER_CODE in cols and HEADER_CURRENT in cols:
            return Header(
                r, cols[HEADER_NAME], cols[HEADER_CODE], cols[HEADER_CURRENT], cols.get(HEADER_PRIOR)
            )
    return None


MAX_FILLED = 100_000  # covered cells given their merge's label; a header has a few dozen


def _merged_labels(sheet: Sheet, rows: int) -> list[list[CellValue]]:
    """The sheet's first rows with the text of each merged range in every blank cell it covers."""
    if not sheet.merged:
        return sheet.rows[:rows]
    head = [list(row) for row in sheet.rows[:rows]]
    filled = 0
    for r0, c0, r1, c1 in sheet.merged:
        if r0 >= len(head) or c0 >= len(head[r0]):
            continue
        label = head[r0][c0]
        if not isinstance(label, str) or not label.strip():
            continue
        for r in range(r0, min(r1 + 1, len(head))):
            row = head[r]
            for c in range(c0, min(c1 + 1, len(row))):
                if row[c] is None or row[c] == "":
                    row[c] = label
            filled += min(c1 + 1, len(row)) - c0
        if filled > MAX_FILLED:
            break
    return head


def code_text(v: CellValue) -> str | None:
    """The indicator code of a row: "01", 1, 1.0 and " 01 " all mean "01"; None for a note row."""
    if v is None:
        return None
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int | float):
        if float(v).is_integer() and 0 <= v < 100:
            return f"{int(v):02d}"
        return text_of(v)
    s = norm_text(str(v))
    if not s:
        return None
    if s.isdigit() and len(s) <= 2:
        return s.zfill(2)
    return s


def indicator_rows(sheet: Sheet, header: Header, stop: int) -> list[IndicatorRow]:
    """Rows with a code between the header and the footer (note rows, with no code, are skipped)."""
    rows: list[IndicatorRow] = []
    cols = [c for c in (header.current_col, header.prior_col) if c is not None]
    anchors = _merge_anchors(sheet, cols, range(header.row + 1, stop))
    for r in range(header.row + 1, stop):
        code = code_text(sheet.value(r, header.code_col))
        if (
            code is None
            or code in COLUMN_NUMBER_ROW
            or norm_text(text_of(sheet.value(r, header.name_col))) == NAME_COLUMN_MARK
        ):
            continue
        current = _cell(sheet, r, header.current_col, anchors)
        prior = _cell(sheet, r, header.prior_col, anchors) if header.prior_col is not None else None
        rows.append(IndicatorRow(code=code, current=current, prior=prior))
    return rows


MAX_ANCHORS = 200_000  # merged cells indexed for the indicator rows; a return has a handful


def _merge_anchors(sheet: Sheet, cols: list[int], rows: range) -> dict[tuple[int, int], tuple[int, int]]:
    """Cell → the top-left cell of the first merge covering it, for the given columns and rows: one
    dictionary look-up per cell instead of a pass over every merge (a sheet may hold thousands)."""
    anchors: dict[tuple[int, int], tuple[int, int]] = {}
    for r0, c0, r1, c1 in sheet.merged:
        for c in cols:
            if not c0 <= c <= c1:
                continue
            for r in range(max(r0, rows.start), min(r1, rows.stop - 1) + 1):
                if (r, c) != (r0, c0):
                    anchors.setdefault((r, c), (r0, c0))
                if len(anchors) >= MAX_ANCHORS:
                    return anchors
    return anchors


def _cell(sheet: Sheet, r: int, c: int, anchors: dict[tuple[int, int], tuple[int, int]]) -> CellAt:
    r, c = anchors.get((r, c), (r, c))  # a value merged over several cells stands in its top-left
    return CellAt(
        sheet.name, r, c, sheet.value(r, c), (r, c) in sheet.uncached_formulas, sheet.errors.get((r, c))
    )


def footer_start(sheet: Sheet, header: Header) -> int:
    """The first row after the header that holds a footer label (or the sheet's end)."""
    for r, _, label, _ in label_cells(sheet):
        if r > header.row and label in FOOTER_LABELS:
            return r
    return len(sheet.rows)
