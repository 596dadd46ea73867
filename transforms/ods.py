"""The survey of an .ods package (`transforms.survey`): the tables of content.xml as calamine expands
them, and what calamine does not tell of their cells — formulas with no cached value, error values
(LibreOffice's calcext:value-type="error") and merged ranges."""

from __future__ import annotations

import re

from pbstats.schemas import messages as msg

from .markup import TAGS, error_text, tag_attrs, unescape
from .package import Members
from .survey import (
    EXCEL_COLS,
    EXCEL_ROWS,
    MAX_BOOK_CELLS,
    MAX_MERGES,
    MAX_TEXT,
    Refusal,
    Survey,
    oversized,
)

_ODS_TAG_RE = re.compile(rb"<(/?)table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^<>]*)>")
_ODSTAGS = re.compile(rb">[^<]*[^<\s]")
_ODS_ERROR = re.compile(rb"""\bvalue-type\s*=\s*["']error["']""")


def _repeat(attrs: dict[bytes, bytes], key: bytes) -> int | None:
    value = attrs.get(key, b"1").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def survey_ods(zf: Members) -> Survey:
    """The tables of content.xml as calamine expands them (it reads every table when it opens the
    file): repeated rows and columns count in full, and so does the text of a repeated cell."""
    try:
        xml = zf.read("content.xml")
    except KeyError:
        return Survey()
    tables = _OdsTables()
    for m in _ODS_TAG_RE.finditer(xml):
        tables.settle(xml, m.start())
        problem = tables.step(m.group(1) == b"/", m.group(2), m.group(3), m.end())
        if problem:
            return Survey(problem)
    tables.settle(xml, len(xml))
    if tables.open_tags:  # calamine loops for ever on a table, row or cell that never ends
        return Survey(Refusal(msg.MALFORMED))
    return Survey(tables.problem(), tables.uncached, tables.errors, tables.merged)


class _OdsTables:
    """The running state of the ODS survey, one tag at a time."""

    def __init__(self) -> None:
        self.uncached: dict[str, set[tuple[int, int]]] = {}
        self.errors: dict[str, dict[tuple[int, int], str]] = {}
        self.merged: dict[str, list[tuple[int, int, int, int]]] = {}  # calamine gives no merges for .ods
        self.depth = self.cells = self.text = 0
        self.name = ""
        self.rows = self.last_row = self.last_col = 0  # of the current table
        self.row_repeat = self.col = 0
        self.row_has, self.row_text, self.row_last_col = False, 0, 0
        self.pending: tuple[int, dict[bytes, bytes], int, int] | None = None  # a cell, content unseen
        self.too_big: Refusal | None = None
        self.open_tags: list[bytes] = []

    def problem(self) -> Refusal | None:
        if self.too_big:
            return self.too_big
        if self.cells > MAX_BOOK_CELLS:
            return Refusal(msg.TOO_MANY_CELLS)
        if self.text > MAX_TEXT:
            return Refusal(msg.TOO_MUCH_TEXT)
        return None

    def settle(self, xml: bytes, end: int) -> None:
        """The open cell's content is what stands before the next table tag."""
        if self.pending is None:
            return
        start, attrs, col, repeat = self.pending
        self.pending = None
        inner = xml[start:end]
        filled = b"value-type" in attrs or b"formula" in attrs or bool(_ODSTAGS.search(inner))
        self._cell(attrs, col, repeat, filled, inner)

    def _cell(self, attrs: dict[bytes, bytes], col: int, repeat: int, filled: bool, inner: bytes) -> None:
        if not filled or repeat == 0:
            return
        self.row_has, self.row_last_col = True, col + repeat
        self.row_text += len(TAGS.sub(b"", inner)) * repeat if inner else 0
        if b"formula" in attrs and b"value-type" not in attrs:
            found = self.uncached.setdefault(self.name, set())
            if len(found) < MAX_MERGES:
                found.update((self.rows, c) for c in range(col, min(col + repeat, col + 100)))
        elif attrs.get(b"value-type") == b"error":  # LibreOffice's calcext:value-type; calamine reads ""
            errors = self.errors.setdefault(self.name, {})
            text = error_text(TAGS.sub(b"", inner)) or "#VALUE!"
            for c in range(col, min(col + repeat, col + 100)) if len(errors) < MAX_MERGES else ():
                errors[(self.rows, c)] = text

    def step(self, closing: bool, tag: bytes, raw: bytes, end: int) -> Refusal | None:
        if closing:  # tables, rows and cells must nest: calamine reads past a missing end to EOF and spins
            if not self.open_tags or self.open_tags.pop() != tag:
                return Refusal(msg.MALFORMED)
        elif not raw.rstrip().endswith(b"/"):
            self.open_tags.append(tag)
        return self._step(closing, tag, raw, end)

    def _step(self, closing: bool, tag: bytes, raw: bytes, end: int) -> Refusal | None:
        if tag == b"table":
            return self._table(closing, raw)
        if self.depth != 1:
            return None  # a table inside a cell: calamine reads it as that cell's text
        if tag == b"table-row":
            return self._row(closing, raw)
        if closing:
            return None
        attrs = tag_attrs(raw)
        if _ODS_ERROR.search(raw):  # office:value-type says "string", calcext:value-type "error"
            attrs[b"value-type"] = b"error"
        repeat = _repeat(attrs, b"number-columns-repeated")
        if repeat is None:
            return Refusal(msg.MALFORMED)
        repeat = max(0, min(repeat, EXCEL_COLS - self.col))
        if b"number-columns-spanned" in attrs or b"number-rows-spanned" in attrs:
            self._merge(attrs)
        if raw.endswith(b"/"):
            self._cell(attrs, self.col, repeat, b"value-type" in attrs or b"formula" in attrs, b"")
        else:
            self.pending = (end, attrs, self.col, repeat)
        self.col += repeat
        return None

    def _merge(self, attrs: dict[bytes, bytes]) -> None:
        cols = _repeat(attrs, b"number-columns-spanned") or 1
        rows = _repeat(attrs, b"number-rows-spanned") or 1
        merged = self.merged.setdefault(self.name, [])
        if (rows > 1 or cols > 1) and len(merged) < MAX_MERGES:
            last_row, last_col = min(self.rows + rows, EXCEL_ROWS), min(self.col + cols, EXCEL_COLS)
            merged.append((self.rows, self.col, last_row - 1, last_col - 1))

    def _table(self, closing: bool, raw: bytes) -> Refusal | None:
        if closing:
            self.depth -= 1
            if self.depth == 0:
                self.cells += self.last_row * max(self.last_col, 1)
                self.too_big = self.too_big or oversized(self.name, self.last_row, self.last_col)
                return self.problem()
            return None
        self.depth += 1
        if self.depth == 1:
            self.name = unescape(tag_attrs(raw).get(b"name", b""))
            self.rows = self.last_row = self.last_col = 0
        return None

    def _row(self, closing: bool, raw: bytes) -> Refusal | None:
        if closing:
            self._end_row()
            return None
        repeat = _repeat(tag_attrs(raw), b"number-rows-repeated")
        if repeat is None:
            return Refusal(msg.MALFORMED)
        self.row_repeat = max(0, min(repeat, EXCEL_ROWS - self.rows))
        self.col, self.row_has, self.row_text, self.row_last_col = 0, False, 0, 0
        if raw.endswith(b"/"):
            self._end_row()
        return None

    def _end_row(self) -> None:
        if self.row_has:
            self.last_row = self.rows + self.row_repeat
            self.last_col = max(self.last_col, self.row_last_col)
            self.text += self.row_text * self.row_repeat
        self.rows += self.row_repeat
        self.row_has = False
