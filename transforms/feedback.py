"""The feedback workbook a rejected return's submitter receives: the findings listed, their own sheets marked.

Everything copied from the submitted file is copied as values: a formula never travels into feedback,
and text that looks like a formula (`=HYPERLINK(...)`) is written as text. The submitted file is opened
only after the reader's own survey of it (`transforms.workbook.survey_content`), and the pipeline runs
`build_feedback` in a guarded worker (`flows.readers`); our own text in the list (file and sheet names,
messages) has personal numbers masked.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ERROR_CODES, Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string, get_column_letter
from openpyxl.worksheet.datavalidation import DataValidationList
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook

from pbstats import compat
from pbstats.schemas import feedback_text as wording
from pbstats.schemas.checks import CHECKS, Severity
from pbstats.schemas.feedback_text import LIST_SHEET, NOT_ATTACHED, TOO_BIG
from pbstats.schemas.forms import MAX_UNPACKED_BYTES
from pbstats.transforms.checks import scrub
from pbstats.transforms.model import Finding
from pbstats.transforms.workbook import survey_content

MAX_SHEETS = 50
MAX_ROWS = 10_000
MAX_COLS = 200
MAX_TEXT = 1_000
EXCEL_TEXT = 32_767  # what a cell holds; the list sheet's own text is cut only there
MAX_DENSE_CELLS = 10_000_000  # a merge/link range or used grid larger than this is not handed to a reader
MAX_OPENPYXL_CELLS = 200_000  # openpyxl makes an object per cell: larger grids are copied from calamine
MAX_COPY_CELLS = 200_000  # cells copied into the feedback, over all sheets
MAX_COPY_MERGES = 500  # merged ranges copied per sheet (openpyxl is slow with many; a return has a few)
MAX_LISTED = 2_000  # findings listed; a return with more is listed in part, and says so

ERROR_FILL = PatternFill(fill_type="solid", fgColor="FFFF7C80")
TOP_WRAPPED = Alignment(wrap_text=True, vertical="top")
CENTRE_WRAPPED = Alignment(wrap_text=True, vertical="center")
BOLD = Font(bold=True)
WARNING_FILL = PatternFill(fill_type="solid", fgColor="FFFFEB84")
HEADER_WIDTHS = (6, 8, 24, 16, 9, 9, 60, 28)  # of the columns of wording.HEADER

_PLAIN = (str, int, float, bool, datetime, date, time, timedelta, type(None))
_BAD_TITLE = re.compile(r"[\\*?:/\[\]]")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # lxml refuses these
# attributes of sheet XML, read leniently: a ref written in any other way than plain A1 counts as huge
_CELL_REF = re.compile(rb"""<(?:[\w.-]+:)?c\s[^<]*?\br\s*=\s*["']([^"']*)""")
_RANGE_REF = re.compile(rb"""<(?:[\w.-]+:)?(?:mergeCell|hyperlink)\s[^<]*?\bref\s*=\s*["']([^"']*)""")
_ANY_CELL = re.compile(rb"<(?:[\w.-]+:)?c[\s/>]")
_A1 = re.compile(rb"([A-Za-z]{1,3})(\d{1,7})")
_HUGE = 1 << 62
log = logging.getLogger(__name__)
Sheets = dict[str, Worksheet]  # sheet name as submitted -> its copy in the feedback workbook


def build_feedback(original: bytes, file_name: str, findings: Sequence[Finding]) -> bytes:
    """An .xlsx for the submitter: sheet 问题清单 first, then their sheets with each finding's cell marked.

    Never raises for bad input: a file nothing can read gives a workbook holding only the list. It opens
    the submitted file: run it where a reader may crash (`flows.readers.build_feedback`).
    """
    return _with_sheets(original, file_name, _errors_first(findings))


def list_only(file_name: str, findings: Sequence[Finding]) -> bytes:
    """The feedback workbook without the submitter's sheets, for a file that is not to be opened."""
    return _finish(_empty_book(), {}, [NOT_ATTACHED], file_name, _errors_first(findings))


def _errors_first(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: not _is_error(finding))  # stable


def _with_sheets(original: bytes, file_name: str, findings: Sequence[Finding]) -> bytes:
    """The full feedback workbook (it opens the submitted file)."""
    try:
        return _finish(*_submitted_sheets(original, file_name), file_name, findings)
    except Exception:  # a copy openpyxl cannot write back must not cost the submitter the list
        log.warning(
            "cannot write the copied sheets of %s; sending the list only", _clip(file_name), exc_info=True
        )
        return _finish(_empty_book(), {}, [NOT_ATTACHED], file_name, findings)


def _finish(
    book: Workbook, sheets: Sheets, notes: list[str], file_name: str, findings: Sequence[Finding]
) -> bytes:
    taken = {LIST_SHEET.casefold()}
    for sheet in book.worksheets:
        sheet.title = _unique_title(sheet.title, taken)  # a submitted sheet may itself be called 问题清单
        sheet.sheet_state = "visible"  # a hidden sheet may hold what must be fixed (E-PII: anywhere)
        sheet.sheet_view.tabSelected = False  # else edits would go to a group of sheets
    _mark(sheets, findings)
    listing = book.create_sheet(LIST_SHEET, 0)
    _write_list(listing, file_name, findings, notes)
    book.active = 0
    listing.sheet_view.tabSelected = True
    for view in book.views:
        view.firstSheet = 0
    return _save(book)


def _save(book: Workbook) -> bytes:
    """`book.save` (openpyxl's `save_workbook`) into bytes, with no temporary file."""
    out = io.BytesIO()
    book.properties.modified = datetime.now(tz=UTC).replace(tzinfo=None)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        compat.in_memory_excel_writer()(book, archive).write_data()
    return out.getvalue()


# --- the submitted sheets, as values -------------------------------------------------------------


def _submitted_sheets(original: bytes, file_name: str = "x.xlsx") -> tuple[Workbook, Sheets, list[str]]:
    """The submitted workbook as values only, within the caps, and notes on what was left out."""
    unpacked, widest_range, largest_grid, most_cells = _survey(original)
    if unpacked > MAX_UNPACKED_BYTES:
        log.warning("%s unpacks to %d bytes; sending the list only", _clip(file_name), unpacked)
        return _empty_book(), {}, [TOO_BIG]
    # openpyxl makes a cell object for each cell, and for each cell of a merged or linked range, and
    # loads every sheet; calamine allocates the whole used grid, reserves what a file declares, and
    # aborts the process (no exception) when it cannot: it gets only what the reader's survey passed.
    small = (
        widest_range <= min(MAX_DENSE_CELLS, MAX_OPENPYXL_CELLS)
        and most_cells <= MAX_OPENPYXL_CELLS
        and _sheet_count(original) <= MAX_SHEETS
    )
    # the reader's own survey only when calamine is needed: openpyxl copies nearly every return
    allowed = (
        (_from_openpyxl, lambda: small),
        (
            _from_calamine,
            lambda: largest_grid <= MAX_DENSE_CELLS and survey_content(original).problem is None,
        ),
    )
    tried = False
    for reader, may in allowed:
        if not may():
            continue
        tried = True
        try:
            return reader(original)
        except Exception:  # corrupt, encrypted, not a spreadsheet, or a kind this reader does not know
            # openpyxl reads only zips: its failing on an .xls is the way to calamine, not a degraded copy
            expected = reader is _from_openpyxl and not zipfile.is_zipfile(io.BytesIO(original))
            name = reader.__name__.removeprefix("_from_")
            level = logging.DEBUG if expected else logging.WARNING
            log.log(level, "%s could not copy %s", name, _clip(file_name), exc_info=True)
    why = "no reader could open it" if tried else "it is too large to hand to a reader"
    log.warning("feedback for %s: %s; sending the list only", _clip(file_name), why)
    return _empty_book(), {}, [NOT_ATTACHED if tried else TOO_BIG]


def _from_openpyxl(original: bytes) -> tuple[Workbook, Sheets, list[str]]:
    """An .xlsx/.xlsm with its styles, merges and widths; every formula replaced by its cached value."""
    # data_only=True makes the reader take each formula cell's cached value and never the formula itself:
    # the same result as loading twice and swapping values in, at half the memory.
    book = load_workbook(io.BytesIO(original), data_only=True, keep_vba=False, keep_links=False)
    book.template = False
    book.defined_names.clear()
    for chart_sheet in book.chartsheets:
        book.remove(chart_sheet)
    notes = []
    if len(book.worksheets) > MAX_SHEETS:
        notes.append(wording.too_many_sheets(MAX_SHEETS))
        for extra in book.worksheets[MAX_SHEETS:]:
            book.remove(extra)
    for sheet in book.worksheets:
        notes += _values_only(sheet)
    return book, {sheet.title: sheet for sheet in book.worksheets}, notes


def _values_only(sheet: Worksheet) -> list[str]:
    """Strip what could carry live content (links, validations, names, tables, pivots, charts) and cap cells."""
    sheet.data_validations = DataValidationList()
    sheet.conditional_formatting = ConditionalFormattingList()  # its formulas; its fills could hide our marks
    sheet.defined_names.clear()
    sheet.tables.clear()
    sheet._hyperlinks = []
    sheet._pivots = []
    sheet._charts = []
    cut_area = cut_text = False
    for (row, col), cell in list(sheet._cells.items()):  # sparse: a far-away cell must not make a dense grid
        if row > MAX_ROWS or col > MAX_COLS:
            del sheet._cells[(row, col)]
            cut_area = True
        elif not isinstance(cell, MergedCell):
            if cell.hyperlink is not None:
                cell.hyperlink = None
            if cell.data_type == "f" or not isinstance(cell.value, _PLAIN):  # data_only reads none; make sure
                cell.value = None
            elif isinstance(cell.value, str) and not (cell.data_type == "e" and cell.value in ERROR_CODES):
                cut_text |= _put(cell, cell.value)
    for merged in list(sheet.merged_cells.ranges):
        if merged.max_row > MAX_ROWS or merged.max_col > MAX_COLS:
            sheet.merged_cells.remove(merged)
    for index in [index for index in sheet.row_dimensions if index > MAX_ROWS]:
        del sheet.row_dimensions[index]
    return _cut_notes(sheet.title, cut_area, cut_text)


def _from_calamine(original: bytes) -> tuple[Workbook, Sheets, list[str]]:
    """An .xls/.ods (or an .xlsx openpyxl refused) rebuilt from its values and, where known, its merges."""
    source = CalamineWorkbook.from_filelike(io.BytesIO(original))
    book, sheets, notes, taken = _empty_book(), {}, [], {LIST_SHEET.casefold()}
    names = source.sheet_names
    if len(names) > MAX_SHEETS:
        notes.append(wording.too_many_sheets(MAX_SHEETS))
    budget = MAX_COPY_CELLS
    for index, name in enumerate(names[:MAX_SHEETS]):
        try:
            grid = source.get_sheet_by_index(index)
            rows = grid.to_python(
                skip_empty_area=False, nrows=min(MAX_ROWS, budget // max(grid.width, 1)) + 1
            )
            merges = grid.merged_cell_ranges or []  # None for .ods
        except Exception:
            log.warning(
                "calamine could not read sheet %d; it is left out of the feedback", index, exc_info=True
            )
            notes.append(wording.sheet_unreadable(_clip(name)))
            continue
        sheet = sheets[name] = book.create_sheet(_unique_title(name, taken))
        widths: dict[int, int] = {}
        keep = min(MAX_ROWS, budget // max(min(grid.width, MAX_COLS), 1))
        budget -= keep * min(grid.width, MAX_COLS)
        cut_area, cut_text = grid.height > keep, False
        for r, row in enumerate(rows[:keep]):
            cut_area |= len(row) > MAX_COLS
            for c, value in enumerate(row[:MAX_COLS]):
                if value == "" or value is None:
                    continue
                cut_text |= _put(sheet.cell(r + 1, c + 1), value)
                widths[c] = max(widths.get(c, 0), _display_width(value))
        for c, width in widths.items():  # calamine gives no widths: fit the content, within reason
            sheet.column_dimensions[get_column_letter(c + 1)].width = min(max(width + 2, 8), 50)
        for (r0, c0), (r1, c1) in merges[:MAX_COPY_MERGES]:
            if (r0, c0) != (r1, c1) and r1 < MAX_ROWS and c1 < MAX_COLS:
                sheet.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
        notes += _cut_notes(name, cut_area, cut_text)
    return book, sheets, notes


def _put(cell: Cell, value: object, limit: int | None = None) -> bool:
    """Write a plain value; text stays text (never a formula), cut to `limit` (MAX_TEXT). True if it was cut."""
    if not isinstance(value, str):
        cell.value = value
        return False
    limit = MAX_TEXT if limit is None else limit
    text = _NOT_XML.sub("", value[: limit * 2])  # a megabyte cell is cut before it is cleaned
    cell.value = text[:limit]
    cell.data_type = "s"  # openpyxl takes a str starting with "=" for a formula; "s" writes it as inline text
    return len(text) > limit or len(value) > limit * 2


def _cut_notes(sheet_name: str, cut_area: bool, cut_text: bool) -> list[str]:
    notes = []
    if cut_area:
        notes.append(wording.sheet_cut(_clip(sheet_name), MAX_ROWS, MAX_COLS))
    if cut_text:
        notes.append(wording.text_cut(_clip(sheet_name), MAX_TEXT))
    return notes


def _survey(original: bytes) -> tuple[int, int, int, int]:
    """For a zip-based file: its unpacked bytes, and in cells its widest merged or linked range, its
    largest used grid and the most cells a part holds, so that no reader is handed a file that blows
    up memory or time. (0, 0, 0, 0) if not a zip."""
    unpacked = widest_range = largest_grid = most_cells = 0
    try:
        with zipfile.ZipFile(io.BytesIO(original)) as archive:
            members = archive.infolist()
            unpacked = sum(member.file_size for member in members)
            for member in members if unpacked <= MAX_UNPACKED_BYTES else []:
                try:
                    xml = archive.read(member)  # every part: a sheet need not live under xl/worksheets/
                except Exception:  # the readers will fail on it too, or never look at it
                    log.warning(
                        "cannot survey part %d of a submitted zip", members.index(member), exc_info=True
                    )
                    continue
                for ref in _RANGE_REF.findall(xml):
                    widest_range = max(widest_range, _grid_cells(ref.split(b":")))
                largest_grid = max(largest_grid, _grid_cells(m[1] for m in _CELL_REF.finditer(xml)))
                most_cells = max(most_cells, len(_ANY_CELL.findall(xml)), xml.count(b"<mergeCell ") * 100)
    except zipfile.BadZipFile:  # not a zip (an .xls), or a broken one: the readers will say so
        pass
    except Exception:
        log.warning("cannot survey a submitted zip; the readers decide", exc_info=True)
    return unpacked, widest_range, largest_grid, most_cells


def _grid_cells(refs: Iterable[bytes]) -> int:
    """Cells in the smallest grid holding every A1 ref; _HUGE if one is not plain A1."""
    rows, letters = set(), set()  # distinct values only: a sheet part may hold millions of cells
    for ref in refs:
        a1 = _A1.fullmatch(ref.strip())
        if a1 is None:
            return _HUGE
        letters.add(a1[1].decode().upper())
        rows.add(int(a1[2]))
    if not rows:
        return 0
    cols = [column_index_from_string(letter) for letter in letters]
    return (max(rows) - min(rows) + 1) * (max(cols) - min(cols) + 1)


def _empty_book() -> Workbook:
    book = Workbook()
    book.remove(book.active)
    return book


def _unique_title(name: str, taken: set[str]) -> str:
    """A valid sheet title near `name`, not among `taken` (case-insensitive, as Excel compares), then taken."""
    base = _NOT_XML.sub("", _BAD_TITLE.sub("_", str(name))).strip("'")[:31] or "Sheet"
    title, n = base, 1
    while title.casefold() in taken:
        n += 1
        title = f"{base[:26]}（{n}）"
    taken.add(title.casefold())
    return title


# --- marking and listing the findings -----------------------------------------------------------


def _mark(sheets: dict[str, Worksheet], findings: Sequence[Finding]) -> None:
    """Fill and annotate each cell a finding names; one comment per cell, listing all its findings."""
    hits: dict[tuple[str, str], list[Finding]] = {}
    masked = {scrub(name, 200): name for name in sheets}  # findings name sheets as check_file scrubbed them
    for finding in findings[:MAX_LISTED]:
        name = finding.sheet if finding.sheet in sheets else masked.get(str(finding.sheet))
        sheet = sheets.get(name) if name is not None else None
        coordinate = _coordinate(sheet, finding.cell) if sheet is not None else None
        if sheet is not None and coordinate is not None:
            hits.setdefault((str(name), coordinate), []).append(finding)
    for (sheet_name, coordinate), on_cell in hits.items():
        cell = sheets[sheet_name][coordinate]
        cell.fill = ERROR_FILL if any(_is_error(f) for f in on_cell) else WARNING_FILL
        lines = [wording.comment_line(_category(f), _check(f), _clip(f.message)) for f in on_cell]
        cell.comment = Comment(
            "\n".join(lines), wording.COMMENT_AUTHOR, height=min(60 + 40 * len(lines), 400), width=320
        )


def _coordinate(sheet: Worksheet, cell: str | None) -> str | None:
    """The A1 cell to mark (the top-left one if it lies in a merge), or None if it is not in the copy."""
    if cell is None:
        return None
    try:
        letters, row = coordinate_from_string(str(cell).strip().upper())
        col = column_index_from_string(letters)
    except Exception:  # findings name cells in A1: this is a bug where the finding was made
        log.warning("a finding names cell %r, not an A1 reference; it is listed, not marked", _clip(cell))
        return None
    if not (1 <= row <= MAX_ROWS and 1 <= col <= MAX_COLS):
        return None
    for merged in sheet.merged_cells.ranges:
        if merged.min_row <= row <= merged.max_row and merged.min_col <= col <= merged.max_col:
            row, col = merged.min_row, merged.min_col
    return f"{get_column_letter(col)}{row}"


def _write_list(sheet: Worksheet, file_name: str, findings: Sequence[Finding], notes: list[str]) -> None:
    """The 问题清单 sheet: a title line, notes, the findings table (errors first) and what to do next."""
    errors = sum(_is_error(f) for f in findings)
    row = _line(sheet, 1, wording.title(_clip(file_name), len(findings), errors), Font(bold=True, size=14))
    for note in notes:
        row = _line(sheet, row, note, Font(color="FFC00000"))
    header_row = row
    for col, (label, width) in enumerate(zip(wording.HEADER, HEADER_WIDTHS, strict=True), start=1):
        _put(sheet.cell(header_row, col), label, EXCEL_TEXT)
        sheet.cell(header_row, col).font = BOLD
        sheet.column_dimensions[get_column_letter(col)].width = width
    for number, finding in enumerate(findings[:MAX_LISTED], start=1):
        where = (finding.sheet, finding.cell, finding.indicator_code)
        values = (number, _category(finding), _check(finding), *where, finding.message, finding.observed)
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(header_row + number, col)
            shown = value if isinstance(value, int) or value is None else scrub(str(value), EXCEL_TEXT)
            _put(cell, shown, EXCEL_TEXT)
            cell.alignment = TOP_WRAPPED
        sheet.cell(header_row + number, 2).fill = ERROR_FILL if _is_error(finding) else WARNING_FILL
    sheet.freeze_panes = f"A{header_row + 1}"
    listed = min(len(findings), MAX_LISTED)
    if len(findings) > listed:
        _line(sheet, header_row + listed + 1, wording.not_listed(len(findings) - listed), Font())
    _line(sheet, header_row + listed + 2, wording.CLOSING, Font(bold=True))


def _line(sheet: Worksheet, row: int, text: str, font: Font) -> int:
    """A line of text across the table's width; returns the next free row."""
    _put(sheet.cell(row, 1), text, EXCEL_TEXT)
    sheet.cell(row, 1).font = font
    sheet.cell(row, 1).alignment = CENTRE_WRAPPED
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(wording.HEADER))
    sheet.row_dimensions[row].height = 20 * (1 + _display_width(text) // 150)
    return row + 1


def _is_error(finding: Finding) -> bool:
    check = CHECKS.get(finding.check_id)
    return check is None or check.severity is Severity.ERROR  # an unknown check is shown, as an error


def _category(finding: Finding) -> str:
    return wording.ERROR if _is_error(finding) else wording.WARNING


def _check(finding: Finding) -> str:
    check = CHECKS.get(finding.check_id)
    return f"{finding.check_id} {check.title}" if check else str(finding.check_id)


def _clip(text: object) -> str:
    """A file or sheet name or a message, short enough to quote, with personal numbers masked."""
    return scrub(str(text), 1_000)


def _sheet_count(original: bytes) -> int:
    """Sheets an .xlsx declares (openpyxl loads every one of them); 0 if it is no zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(original)) as archive:
            return len(re.findall(rb"<(?:[\w.-]+:)?sheet\s", archive.read("xl/workbook.xml")))
    except (zipfile.BadZipFile, KeyError):  # not a zip, or an .ods
        return 0
    except Exception:
        log.warning("cannot count the sheets of a submitted zip", exc_info=True)
        return 0


def _display_width(value: object) -> int:
    """Roughly how many Latin characters wide a value shows (CJK characters count twice)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value)[:200])
