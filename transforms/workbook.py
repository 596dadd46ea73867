"""Bytes → sheets of cached values (forms.md §1, §3, §6 E-FILE), with the guards decided before unpacking.

python-calamine reads every kind fast, but allocates the whole rectangle of a sheet, reserves what a
file declares and aborts the process when an allocation fails; and it reads a formula with no cached
value, or an error value, as an empty cell, and gives no merged ranges for an .ods. So each file is
surveyed first, from its own structure (`transforms.survey`: `transforms.xlsx`, `transforms.ods`,
`transforms.xls`), and the pipeline runs the reading itself in a worker process with a time and
memory budget (`flows.readers`): a file that gets past the survey and still takes the worker down is
rejected, never the run.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from pbstats.schemas import messages as msg
from pbstats.schemas.forms import (
    LABEL_PHONE,
    MAX_FILE_BYTES,
    MAX_SHEET_ROWS,
    MAX_UNPACKED_BYTES,
    SPREADSHEET_SUFFIXES,
)

from .locate import COVER_SCAN_ROWS
from .model import Sheet, Workbook
from .ods import survey_ods
from .package import BadMember, manifest, members_unpacked
from .survey import (
    MAX_BOOK_CELLS,
    MAX_CELLS,
    MAX_GRID_CELLS,
    MAX_MERGES,
    MAX_ROWS_SEEN,
    MAX_SHEETS,
    MAX_TEXT,
    OLE_MAGIC,
    ZIP_MAGIC,
    Refusal,
    Survey,
)
from .xls import survey_xls
from .xlsx import survey_xlsx


@dataclass(frozen=True)
class Unreadable:
    """Why a file is not a readable spreadsheet, in Chinese for the submitter (E-FILE)."""

    reason: str


def suffix_of(file_name: str) -> str:
    dot = file_name.rfind(".")
    return file_name[dot:].lower() if dot >= 0 else ""


def _first_look(data: bytes, file_name: str) -> Unreadable | None:
    """What the name and the size alone tell."""
    suffix = suffix_of(file_name)
    if suffix not in SPREADSHEET_SUFFIXES:
        return Unreadable(msg.not_a_spreadsheet_kind(suffix))
    if not data:
        return Unreadable(msg.EMPTY_FILE)
    if len(data) > MAX_FILE_BYTES:
        return Unreadable(msg.file_too_big(len(data)))
    return None


def read_workbook(data: bytes, file_name: str) -> Workbook | Unreadable:
    """Every sheet as rows of cached values: the survey, then calamine within the caps; never raises for
    bad bytes. calamine may still abort the process: run it where that costs only the file (`flows.readers`)."""
    bad = _first_look(data, file_name)
    if bad:
        return bad
    try:
        survey = _survey(data, suffix_of(file_name))
    except Exception:  # a survey that trips over the bytes: they are nothing calamine should see
        return Unreadable(msg.MALFORMED)
    if survey.problem:
        return Unreadable(survey.problem.reason)
    try:
        sheets = _read_sheets(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # calamine raises plain errors for bad content, a panic as BaseException
        text = str(e).lower()
        if "password" in text or "encrypt" in text:
            return Unreadable(msg.ENCRYPTED)
        return Unreadable(msg.corrupt(_shown_error(e)))
    if isinstance(sheets, Unreadable):
        return sheets
    if not any(any(v not in (None, "") for v in row) for s in sheets for row in s.rows):
        return Unreadable(msg.EMPTY_BOOK)
    for sheet in sheets:  # what calamine reads as an empty cell, found in the file's own structure
        sheet.uncached_formulas |= survey.uncached.get(sheet.name, set())
        sheet.errors = survey.errors.get(sheet.name, {})
        sheet.merged = sheet.merged or survey.merged.get(sheet.name, [])
    return Workbook(sheets=sheets)


def _shown_error(e: BaseException) -> str:
    """A reader's error as a short line: no personal numbers, nothing that is not printable."""
    from .checks import scrub

    text = str(e) or type(e).__name__
    if "Cannot detect file format" in text:
        return msg.UNKNOWN_FORMAT
    return scrub(re.sub(r"[\x00-\x1f\x7f]+", " ", text), 80)


# --- the sheets, as Python values ---------------------------------------------------------------


def _read_sheets(data: bytes) -> list[Sheet] | Unreadable:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    names = list(book.sheet_names)[:MAX_SHEETS]
    sheets: list[Sheet] = []
    cells = text = 0
    for name in names:
        raw = book.get_sheet_by_name(name)
        rows, cols = (raw.end[0] + 1, raw.end[1] + 1) if raw.end else (0, 0)
        if rows > MAX_ROWS_SEEN or rows * cols > MAX_GRID_CELLS:
            return Unreadable(msg.used_range_too_large(name, rows, cols))
        cells += rows * cols
        if cells > MAX_BOOK_CELLS:
            return Unreadable(msg.TOO_MANY_CELLS)
        sheet = _read_sheet(raw, rows, cols)
        text += sum(len(v) for row in sheet.rows for v in row if isinstance(v, str))
        if text > MAX_TEXT:
            return Unreadable(msg.TOO_MUCH_TEXT)
        sheets.append(sheet)
    return sheets


HEAD_ROWS = COVER_SCAN_ROWS  # of a sheet kept in part: where a 表号 would stand


def _read_sheet(raw, rows: int, cols: int) -> Sheet:
    """One sheet as Python values: whole where it could hold the form (forms.md §6: at most 10,000 rows,
    `MAX_CELLS`); else its head, where the 表号 is looked for, and below it only the cells that may hold
    a personal number or the 联系电话 label (E-PII is checked in every sheet), the rest left None."""
    merged = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (raw.merged_cell_ranges or [])[:MAX_MERGES]]
    if rows <= MAX_SHEET_ROWS and rows * cols <= MAX_CELLS:
        values = [list(r) for r in raw.to_python(skip_empty_area=False)]
        return Sheet(raw.name, values, merged, total_rows=raw.height, total_cols=cols)
    # iter_rows gives the rows above the data, not the columns left of it
    left = raw.start[1] if raw.start else 0
    values = []
    for r, row in enumerate(raw.iter_rows()):
        if r < HEAD_ROWS:
            values.append([""] * left + list(row))
            continue
        kept = [v if _may_be_personal(v) else None for v in row]
        while kept and kept[-1] is None:
            kept.pop()
        values.append([None] * left + kept if kept else [])
    return Sheet(raw.name, values, merged, total_rows=raw.height, total_cols=cols, whole=False)


def _may_be_personal(v: object) -> bool:
    """Whether a cell's value could hold an ID or mobile number (11 characters at least), or is the
    联系电话 label that lets one through (transforms.checks.find_pii)."""
    if v.__class__ is str:
        return len(v) >= 11 or LABEL_PHONE in v  # type: ignore[operator]
    return v.__class__ in (int, float) and abs(v) >= 1e10  # type: ignore[arg-type]


# --- the survey, by kind --------------------------------------------------------------------------


def _survey(data: bytes, suffix: str) -> Survey:
    """The survey of the kind the bytes are (calamine goes by content too), and the name's kind must fit."""
    if data.startswith(OLE_MAGIC):
        if (
            suffix != ".xls"
            or b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data
        ):
            return Survey(Refusal(msg.ENCRYPTED))
    elif suffix == ".xls":
        return Survey(Refusal(msg.NOT_XLS))
    return survey_content(data)


def survey_content(data: bytes) -> Survey:
    """What reading these bytes would take, judged by their content alone (whatever the file is called)."""
    if data.startswith(OLE_MAGIC):
        return survey_xls(data)
    if not data.startswith(ZIP_MAGIC):
        return Survey(Refusal(msg.NOT_A_SPREADSHEET))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if any(i.flag_bits & 0x1 for i in infos):
                return Survey(Refusal(msg.ENCRYPTED))
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                return Survey(Refusal(msg.unpacks_too_big(unpacked)))
            members = members_unpacked(data, infos)
            if members is None:
                return Survey(Refusal(msg.BAD_MEMBER))
            if "encryption-data" in manifest(members):
                return Survey(Refusal(msg.ENCRYPTED))
            if "xl/workbook.bin" in members:
                return Survey(Refusal(msg.XLSB))
            if "xl/workbook.xml" in members:
                return survey_xlsx(members)
            if "content.xml" in members:
                return survey_ods(members)
    except BadMember:  # one left packed, and read after all: a sheet or a part the workbook names
        return Survey(Refusal(msg.BAD_MEMBER))
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError, zlib.error):
        return Survey(Refusal(msg.CORRUPT))
    return Survey()
