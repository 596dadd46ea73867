"""What reading a file would take, decided before python-calamine sees it (forms.md §6 E-FILE): the
caps, the refusal (worded in `schemas.messages`), and what a survey of each kind finds.

calamine allocates the whole rectangle from A1 to the last cell, reserves what a file declares (an
.xls DIMENSIONS record, an .xlsx sharedStrings count), copies a shared or repeated string into every
cell that uses it, and aborts the process when an allocation fails. So each kind is surveyed first,
from its own structure, without unpacking more than the declared sizes allow (`transforms.xlsx`,
`transforms.ods`, `transforms.xls`, the zip members in `transforms.package`). The survey also finds
what calamine reads as an empty cell: a formula with no cached value and an error value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pbstats.schemas import messages as msg
from pbstats.schemas.forms import MAX_SHEET_ROWS

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MAX_SHEETS = 255
MAX_CELLS = 300_000  # of the form's sheet: 10,000 rows × 30 columns; a return has a few hundred
# What calamine may allocate (it makes the whole rectangle of a sheet, 32 bytes a cell): a side sheet
# may be far larger than any form (an appendix of 11,000 members × 30 columns), and only the form's
# sheet is kept whole in Python (`transforms.workbook`). A dense sheet of a million cells (35 MB of
# XML) takes about 2 s of CPU and 200 MB to survey and read, well within the reader's budget.
MAX_GRID_CELLS = 1_000_000  # per sheet
MAX_BOOK_CELLS = 1_500_000  # over all sheets
MAX_TEXT = 32_000_000  # characters of cell text calamine may make, over all cells (copies counted)
MAX_ROWS_SEEN = MAX_SHEET_ROWS * 10  # a sheet this long is no return, whichever sheet it is
MAX_MERGES = 10_000  # per sheet; a return has a handful
EXCEL_ROWS, EXCEL_COLS = 1_048_576, 16_384


@dataclass(frozen=True)
class Refusal:
    """Why the survey will not let calamine read the bytes, in Chinese for the submitter (E-FILE)."""

    reason: str


@dataclass
class Survey:
    """What a survey found: a refusal, or what calamine will not tell of the sheets it reads."""

    problem: Refusal | None = None
    uncached: dict[str, set[tuple[int, int]]] = field(default_factory=dict)  # sheet → formulas, no value
    errors: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)  # sheet → error values
    # sheet → merged ranges, where calamine gives none (.ods)
    merged: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)


def oversized(name: str, rows: int, cols: int) -> Refusal | None:
    """A sheet whose rectangle calamine must not allocate."""
    if rows > MAX_ROWS_SEEN or rows * max(cols, 1) > MAX_GRID_CELLS:
        return Refusal(msg.used_range_too_large(name, rows, cols))
    return None
