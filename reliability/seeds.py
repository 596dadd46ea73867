"""What every hostile file is made from: a clean return in each reader kind (the seeds), the surgery
on the parts of a zip-based one, and how `size` scales the heavy cases (1 = full size, as in the
reliability run; the test-suite uses smaller ones where the point survives the scaling)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import datetime
from functools import cache

KINDS = ("xlsx", "xlsm", "xls", "ods")
ZIP_KINDS = ("xlsx", "xlsm", "ods")
FORM_LABEL = "表号：DJ-1"  # the cell that makes a sheet the form's, so that a reader looks further into it
Case = tuple[str, Callable[[], bytes]]  # a hostile case's name, and how to make its file


def many_rows_at(size: float) -> int:
    """The rows of a "million rows" case."""
    return max(int(1_000_000 * size), 20_000)


def megabyte_at(size: float) -> int:
    """The characters of a "megabyte cell" case."""
    return max(int((1 << 20) * size), 64 << 10)


@cache
def seed(kind: str) -> bytes:
    """A clean DJ-1 return (tests/builders.make_return), written as `kind` (gen.workbook.write_book)."""
    from tests.builders import make_return

    xlsx = make_return()
    if kind == "xlsx":
        return xlsx
    from pbstats.gen.workbook import write_book

    return write_book(book_of(xlsx), kind)


def book_of(xlsx: bytes):
    """The cells and merges of an .xlsx as a gen.workbook.Book, to write it in another kind."""
    import openpyxl

    from pbstats.gen.workbook import Book, Cell, Grid

    source = openpyxl.load_workbook(io.BytesIO(xlsx))
    grids = []
    for sheet in source.worksheets:
        grid = Grid(sheet.title)
        for row in sheet.iter_rows():
            for c in row:
                if c.value is not None:
                    grid.cells[(c.row - 1, c.column - 1)] = Cell(c.value)
        grid.merges = [
            (m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1) for m in sheet.merged_cells
        ]
        grids.append(grid)
    return Book(grids, datetime(2026, 1, 12, 9, 30))


# --- zip surgery ----------------------------------------------------------------------------------


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(parts: dict[str, bytes], level: int = 6) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, part in parts.items():
            kind = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, part, compress_type=kind)
    return out.getvalue()


def edit(data: bytes, changes: dict[str, bytes | Callable[[bytes], bytes]]) -> bytes:
    parts = members(data)
    for name, change in changes.items():
        parts[name] = change(parts.get(name, b"")) if callable(change) else change
    return rezip(parts)
