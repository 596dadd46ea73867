"""The survey of an .xlsx/.xlsm package (`transforms.survey`): the sheets' extents as calamine will
place their cells, the text their shared strings put into cells, and the cells calamine reads as
empty — formulas with no cached value, and error values (`t="e"`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from posixpath import join, normpath

from openpyxl.utils.cell import column_index_from_string

from pbstats.schemas import messages as msg

from .markup import REL_RE, TAGS, error_text, tag_attrs, unescape
from .package import Members
from .survey import (
    EXCEL_COLS,
    EXCEL_ROWS,
    MAX_BOOK_CELLS,
    MAX_CELLS,
    MAX_GRID_CELLS,
    MAX_MERGES,
    MAX_ROWS_SEEN,
    MAX_SHEETS,
    MAX_TEXT,
    Refusal,
    Survey,
    oversized,
)

_SHEET_RE = re.compile(rb"<(?:[\w.-]+:)?sheet\s([^<>]*)>")
# cell, row, value and formula tags of sheet XML, in document order; `[^<>]` keeps every scan linear
_TAG_RE = re.compile(rb"<(/?)(?:[\w.-]+:)?(c|row|v|f|is)(?=[\s/>])([^<>]*)>")
_A1_RE = re.compile(rb"([A-Z]{1,3})([0-9]{1,7})")
_SST_RE = re.compile(rb"<(?:[\w.-]+:)?sst\b([^<>]*)>")
_SI_RE = re.compile(rb"<(?:[\w.-]+:)?si(?=[\s/>])[^<>]*>")


def _sheet_parts(zf: Members) -> dict[str, str]:
    """Sheet name → part path inside the package, from workbook.xml and its rels."""
    book = zf.read("xl/workbook.xml")
    rels = zf.read("xl/_rels/workbook.xml.rels")
    targets = {}
    for raw in REL_RE.findall(rels):
        a = tag_attrs(raw)
        if b"Id" in a and b"Target" in a:
            t = a[b"Target"].decode("utf-8", "replace")
            targets[a[b"Id"]] = t.lstrip("/") if t.startswith("/") else normpath(join("xl", t))
    parts = {}
    for raw in _SHEET_RE.findall(book):
        a = tag_attrs(raw)
        target = targets.get(a.get(b"id", b""))
        if target is not None and b"name" in a:
            parts[unescape(a[b"name"])] = target
    return parts


def _column(letters: bytes) -> int:
    """The 0-based index of a column's letters (b"A" → 0). openpyxl's look-up table, with the decoding,
    beats the arithmetic by a little (69 against 82 ns a cell, on the cells of a return)."""
    return column_index_from_string(letters.decode("ascii")) - 1


class _SharedStrings:
    """The shared strings' sizes, rough characters of each (its XML without tags), in order: worked out
    only for a sheet that could pass the text cap with them, which no return's sheet can (no string is
    longer than the part that holds them all: `bound`)."""

    def __init__(self, xml: bytes = b"") -> None:
        self._xml = xml
        self._sizes: list[int] | None = None
        self.bound = len(xml)

    @property
    def sizes(self) -> list[int]:
        if self._sizes is None:
            items = _SI_RE.split(self._xml)[1:]  # linear, even where an item is never closed
            self._sizes = [len(TAGS.sub(b"", item)) for item in items]
        return self._sizes


def _shared_strings(zf: Members) -> _SharedStrings | Refusal:
    try:
        xml = zf.read("xl/sharedStrings.xml")
    except KeyError:
        return _SharedStrings()
    head = _SST_RE.search(xml)
    if head:
        declared = tag_attrs(head.group(1))
        for key in (b"count", b"uniqueCount"):  # calamine reserves room for uniqueCount strings up front
            value = declared.get(key, b"0")
            if not value.isdigit() or int(value) > MAX_BOOK_CELLS:
                return Refusal(msg.MALFORMED)
    return _SharedStrings(xml)


def survey_xlsx(zf: Members) -> Survey:
    try:
        parts = _sheet_parts(zf)
    except (KeyError, ValueError):
        return Survey()  # not a workbook calamine can open either; it will say so
    strings = _shared_strings(zf)
    if isinstance(strings, Refusal):
        return Survey(strings)
    if len(parts) > MAX_SHEETS * 4:
        return Survey(Refusal(msg.too_many_sheets(len(parts))))
    out, text = Survey(), 0
    for name, part in parts.items():
        try:
            xml = zf.read(part)
        except KeyError:
            continue
        sheet = _scan_xlsx_sheet(xml, strings)
        if isinstance(sheet, Refusal):
            return Survey(sheet)
        too_big = oversized(name, sheet.rows, sheet.cols)
        if too_big:
            return Survey(too_big)
        text += sheet.text
        if text > MAX_TEXT:
            return Survey(Refusal(msg.TOO_MUCH_TEXT))
        if sheet.uncached:
            out.uncached[name] = sheet.uncached
        if sheet.errors:
            out.errors[name] = sheet.errors
    return out


@dataclass
class _SheetScan:
    """What the survey of one sheet's XML found."""

    rows: int
    cols: int
    text: int = 0  # characters its shared strings put into cells
    uncached: set[tuple[int, int]] = field(default_factory=set)  # formulas with no cached value
    errors: dict[tuple[int, int], str] = field(default_factory=dict)  # cells whose value is an error


_ROW_REFS = re.compile(rb"<(?:[\w.-]+:)?row\s[^<>]*?\br=\"(\d{1,7})\"")
_CELL_ROWS = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*?\br=\"[A-Z]{1,3}(\d{1,7})\"")
_CELL_COLS = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*?\br=\"([A-Z]{1,3})\d")
_BAD_ROW_REF = re.compile(rb"<(?:[\w.-]+:)?row\s[^<>]*?\br\s*=\s*(?!\"[1-9]\d{0,6}\")")
_BAD_CELL_REF = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*?\br\s*=\s*(?!\"[A-Z]{1,3}[1-9]\d{0,6}\")")
_UNPLACED = re.compile(rb"<(?:[\w.-]+:)?(?:c|row)(?:\s(?![^<>]*\br\s*=)[^<>]*)?/?>")
_SHARED_REFS = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*?\bt=\"s\"[^<>]*>\s*<(?:[\w.-]+:)?v>\s*(\d{1,9})\s*<")
_F_TAG = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")
_C_OPEN = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*>")
_C_CLOSE = re.compile(rb"</(?:[\w.-]+:)?c>")
_V_FILLED = re.compile(rb"<(?:[\w.-]+:)?v>\s*[^<\s]")
_ERROR_CELL = re.compile(rb"<(?:[\w.-]+:)?c\s[^<>]*?\bt\s*=\s*[\"']e[\"'][^<>]*>")
_V_TEXT = re.compile(rb"<(?:[\w.-]+:)?v>([^<]*)<")


def _scan_xlsx_sheet(xml: bytes, strings: _SharedStrings) -> _SheetScan | Refusal:
    """Rows and columns the sheet spans (as calamine places cells, with or without `r`), the text its
    shared strings put into cells, its formulas without a cached value and its error values. Regular
    expressions do the counting; Python walks cell by cell only for a sheet whose cells carry no `r`."""
    elements = xml.count(b"<row"), xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/")
    if elements[0] > MAX_ROWS_SEEN or elements[1] > MAX_GRID_CELLS:  # more than any sheet may have
        return _SheetScan(elements[0], max(elements[1] // max(elements[0], 1), 1))
    placed = _placed_as_written(xml)
    if placed is not None:
        rows, cols = placed
    else:
        if _UNPLACED.search(xml):
            return _walk_xlsx_sheet(xml, strings)  # some cells or rows placed by their order, not by `r`
        if _BAD_ROW_REF.search(xml) or _BAD_CELL_REF.search(xml):
            return Refusal(msg.MALFORMED)
        rows = max(map(int, _ROW_REFS.findall(xml) + _CELL_ROWS.findall(xml)), default=0)
        cols = max((_column(x) + 1 for x in set(_CELL_COLS.findall(xml))), default=0)
    if rows > EXCEL_ROWS or cols > EXCEL_COLS:
        return Refusal(msg.MALFORMED)
    text = 0
    refs = xml.count(b't="s"')
    if (
        strings.bound * refs > MAX_TEXT // 4
        and (sizes := strings.sizes)
        and max(sizes) * refs > MAX_TEXT // 4
    ):
        used = Counter(
            _SHARED_REFS.findall(xml)
        )  # counted in C: an appendix refers to strings 100,000s of times
        text = sum(sizes[int(i)] * n for i, n in used.items() if int(i) < len(sizes))
    if rows * max(cols, 1) > MAX_CELLS:
        return _SheetScan(rows, cols, text)
    return _SheetScan(rows, cols, text, _uncached_formulas(xml), _error_values(xml))


def _uncached_formulas(xml: bytes) -> set[tuple[int, int]]:
    """The cells of a sheet (placed by `r`) holding a formula with no cached value."""
    uncached: set[tuple[int, int]] = set()
    for m in _F_TAG.finditer(xml):
        start = xml.rfind(b"<", max(0, m.start() - 4096), m.start())
        cell = _C_OPEN.match(xml, xml.rfind(b"<c ", max(0, m.start() - 4096), m.start() + 1))
        end = _C_CLOSE.search(xml, m.end(), m.end() + 65536)
        if start < 0 or cell is None or end is None or len(uncached) >= MAX_MERGES:
            continue
        if not _V_FILLED.search(xml, m.end(), end.start()):
            ref = _A1_RE.search(tag_attrs(cell.group(0)[2:-1]).get(b"r", b""))
            if ref:
                uncached.add((int(ref.group(2)) - 1, _column(ref.group(1))))
    return uncached


def _error_values(xml: bytes) -> dict[tuple[int, int], str]:
    """The cells of a sheet (placed by `r`) whose value is an error (`t="e"`), with the error's text."""
    errors: dict[tuple[int, int], str] = {}
    for m in _ERROR_CELL.finditer(xml) if b'"e"' in xml or b"'e'" in xml else ():
        if m.group(0).endswith(b"/>") or len(errors) >= MAX_MERGES:
            continue
        end = _C_CLOSE.search(xml, m.end(), m.end() + 65536)
        value = _V_TEXT.search(xml, m.end(), end.start()) if end else None
        ref = _A1_RE.search(tag_attrs(m.group(0)[2:-1]).get(b"r", b""))
        if value and value.group(1).strip() and ref:
            errors[(int(ref.group(2)) - 1, _column(ref.group(1)))] = error_text(value.group(1))
    return errors


_ROW_OR_CELL = re.compile(rb"<(?:row|c)[\s/>]")
_PLAIN_ROW = re.compile(rb"<row r=\"([1-9]\d{0,6})\"[\s/>]")
_PLAIN_CELL_ROW = re.compile(rb"<c r=\"[A-Z]{1,3}([1-9]\d{0,6})\"[\s/>]")
_PLAIN_CELL_COL = re.compile(rb"<c r=\"([A-Z]{1,3})[1-9]\d{0,6}\"[\s/>]")


def _placed_as_written(xml: bytes) -> tuple[int, int] | None:
    """(rows, columns) of a sheet as Excel, WPS, LibreOffice and openpyxl write one — no namespace
    prefix, every row and cell opening with a well-formed `r` — else None (the general scan). Shown by
    counting: every `<row` and `<c` element must be one of those matched, so nothing is missed. (One
    plain pattern per figure: an appendix has hundreds of thousands of cells, and a tuple per cell
    costs more than a second pass.)"""
    if b":c" in xml or b":row" in xml:
        return None
    row_refs, cell_rows = _PLAIN_ROW.findall(xml), _PLAIN_CELL_ROW.findall(xml)
    if len(row_refs) + len(cell_rows) != len(_ROW_OR_CELL.findall(xml)):  # <c>, <c/>, <row/>: by order
        return None
    rows = max(max(map(int, row_refs), default=0), max(map(int, cell_rows), default=0))
    return rows, max((_column(x) + 1 for x in set(_PLAIN_CELL_COL.findall(xml))), default=0)


def _walk_xlsx_sheet(xml: bytes, strings: _SharedStrings) -> _SheetScan | Refusal:
    """`_scan_xlsx_sheet` tag by tag, for cells placed by their order; it stops at the first sign
    that the sheet is beyond any return."""
    sizes = strings.sizes
    rows = cols = text = 0
    row = col = -1
    in_cell = shared = error = has_f = has_v = in_v = False
    v_start = 0
    uncached: set[tuple[int, int]] = set()
    errors: dict[tuple[int, int], str] = {}
    for m in _TAG_RE.finditer(xml):
        closing, tag, raw = m.group(1), m.group(2), m.group(3)
        if closing:
            if tag == b"v" and in_v:
                in_v = False
                value = xml[v_start : m.start()].strip()
                has_v = has_v or bool(value)
                if shared and value.isdigit() and int(value) < len(sizes):
                    text += sizes[int(value)]
                if error and value and len(errors) < MAX_MERGES:
                    errors[(row, col)] = error_text(value)
            elif tag == b"c" and in_cell:
                if has_f and not has_v and len(uncached) < MAX_MERGES:
                    uncached.add((row, col))
                in_cell = False
            continue
        attrs = tag_attrs(raw) if raw.strip(b" /") else {}
        ref = attrs.get(b"r")
        if tag == b"row":
            if ref is not None and not (ref.isdigit() and 0 < int(ref) <= EXCEL_ROWS):
                return Refusal(msg.MALFORMED)
            row, col = (int(ref) - 1 if ref is not None else row + 1), -1
            rows = max(rows, row + 1)
            if rows > MAX_ROWS_SEEN or rows * max(cols, 1) > MAX_GRID_CELLS or text > MAX_TEXT:
                break
        elif tag == b"c":
            if ref is not None:
                a1 = _A1_RE.fullmatch(ref)
                if a1 is None or not 0 < int(a1.group(2)) <= EXCEL_ROWS:
                    return Refusal(msg.MALFORMED)
                col, row = _column(a1.group(1)), int(a1.group(2)) - 1
                if col >= EXCEL_COLS:
                    return Refusal(msg.MALFORMED)
            else:
                col, row = col + 1, max(row, 0)
            rows, cols = max(rows, row + 1), max(cols, col + 1)
            in_cell, shared, error = not raw.endswith(b"/"), attrs.get(b"t") == b"s", attrs.get(b"t") == b"e"
            has_f = has_v = False
        elif tag == b"v" and in_cell and not raw.endswith(b"/"):
            in_v, v_start = True, m.end()
        elif tag == b"f" and in_cell:
            has_f = True
    return _SheetScan(rows, cols, text, uncached, errors)
