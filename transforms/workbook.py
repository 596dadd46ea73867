"""Bytes → sheets of cached values (forms.md §1, §3, §6 E-FILE), with the guards decided before unpacking.

python-calamine reads every kind fast but cannot tell a formula with no cached value from a blank
cell; for the zip kinds we find those cells in the sheet XML ourselves.

calamine allocates the whole rectangle from A1 to the last cell, reserves what a file declares
(an .xls DIMENSIONS record, an .xlsx sharedStrings count), copies a shared or repeated string into
every cell that uses it, and aborts the process when an allocation fails. So each kind is surveyed
first, without unpacking more than the declared sizes allow (`guard`), and the reading itself runs in
a worker process with a time and memory budget (`transforms.sandbox`): a file that gets past the
survey and still takes the worker down is rejected, never the run.
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from posixpath import join, normpath

from pbstats.schemas.forms import (
    LABEL_PHONE,
    MAX_FILE_BYTES,
    MAX_SHEET_ROWS,
    MAX_UNPACKED_BYTES,
    SPREADSHEET_SUFFIXES,
)

from . import sandbox
from .locate import COVER_SCAN_ROWS
from .model import Sheet, Workbook

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MAX_SHEETS = 255
MAX_CELLS = 300_000  # of the form's sheet: 10,000 rows × 30 columns; a return has a few hundred
# What calamine may allocate (it makes the whole rectangle of a sheet, 32 bytes a cell): a side sheet
# may be far larger than any form (an appendix of 11,000 members × 30 columns), and only the form's
# sheet is kept whole in Python (`_read_sheet`). A dense sheet of a million cells (35 MB of XML) takes
# about 2 s of CPU and 200 MB to survey and read, well within the reader's budget (transforms.sandbox).
MAX_GRID_CELLS = 1_000_000  # per sheet
MAX_BOOK_CELLS = 1_500_000  # over all sheets
MAX_TEXT = 32_000_000  # characters of cell text calamine may make, over all cells (copies counted)
MAX_ROWS_SEEN = MAX_SHEET_ROWS * 10  # a sheet this long is no return, whichever sheet it is
MAX_MERGES = 10_000  # per sheet; a return has a handful
EXCEL_ROWS, EXCEL_COLS = 1_048_576, 16_384

CORRUPT = "文件已损坏（无法解压），请重新导出后报送"
BAD_MEMBER = "文件已损坏（压缩包校验失败），请重新导出后报送"
MALFORMED = "文件已损坏（内部结构异常），请用 Excel 或 WPS 重新打开并另存后报送"
OVER_BUDGET = {
    "time": "文件读取超时（文件结构异常或内容过多），请删除无关内容、重新导出后报送",
    "memory": "文件读取所需内存超过上限（文件结构异常或内容过多），请删除无关内容、重新导出后报送",
    "crash": "文件结构异常，系统无法读取，请用 Excel 或 WPS 重新打开并另存后报送",
}


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
        shown = suffix[:20] or "无扩展名"
        return Unreadable(f"文件类型“{shown}”不是电子表格，请使用 .xlsx、.xlsm、.xls 或 .ods 格式报送")
    if not data:
        return Unreadable("文件为空（0 字节），请重新导出后报送")
    if len(data) > MAX_FILE_BYTES:
        return Unreadable(f"文件大小 {len(data) / 1048576:.1f} MB，超过 20 MB 的上限，请删除无关内容后报送")
    return None


def guard(data: bytes, file_name: str) -> Unreadable | None:
    """The E-FILE checks decided before calamine sees the bytes: kind, size, packing, encryption,
    and what each kind's own structure says it would take to read."""
    return _first_look(data, file_name) or _survey(data, suffix_of(file_name)).problem


def read_workbook(data: bytes, file_name: str) -> Workbook | Unreadable:
    """Every sheet as rows of cached values; never raises for bad bytes (read in a guarded worker)."""
    bad = _first_look(data, file_name)
    if bad:
        return bad
    got = sandbox.call(read_unguarded, data, file_name)
    if isinstance(got, sandbox.Failed):
        return Unreadable(OVER_BUDGET[got.why])
    return got


@dataclass
class _Survey:
    problem: Unreadable | None = None
    uncached: dict[str, set[tuple[int, int]]] = field(default_factory=dict)  # sheet → formulas, no value
    errors: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)  # sheet → error values
    # sheet → merged ranges, where calamine gives none (.ods)
    merged: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)


def read_unguarded(data: bytes, file_name: str) -> Workbook | Unreadable:
    """`read_workbook` in this process: the survey, then calamine within the caps."""
    bad = _first_look(data, file_name)
    if bad:
        return bad
    try:
        survey = _survey(data, suffix_of(file_name))
    except Exception:  # a survey that trips over the bytes: they are nothing calamine should see
        return Unreadable(MALFORMED)
    if survey.problem:
        return survey.problem
    try:
        sheets = _read_sheets(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # calamine raises plain errors for bad content, a panic as BaseException
        text = str(e).lower()
        if "password" in text or "encrypt" in text:
            return Unreadable("文件设置了密码（已加密），请取消密码后重新报送")
        return Unreadable(f"文件已损坏，无法读取（{_shown_error(e)}），请重新导出后报送")
    if isinstance(sheets, Unreadable):
        return sheets
    if not any(any(v not in (None, "") for v in row) for s in sheets for row in s.rows):
        return Unreadable("文件中没有任何内容（所有工作表都是空的）")
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
        return "无法识别的文件格式"
    return scrub(re.sub(r"[\x00-\x1f\x7f]+", " ", text), 80)


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
            return _too_large(name, rows, cols)
        cells += rows * cols
        if cells > MAX_BOOK_CELLS:
            return Unreadable("工作簿中各工作表的单元格总数远超报表的规模，请删除无关的工作表后报送")
        sheet = _read_sheet(raw, rows, cols)
        text += sum(len(v) for row in sheet.rows for v in row if isinstance(v, str))
        if text > MAX_TEXT:
            return Unreadable(TOO_MUCH_TEXT)
        sheets.append(sheet)
    return sheets


def _read_sheet(raw, rows: int, cols: int) -> Sheet:
    """One sheet as Python values: whole where it could hold the form (forms.md §6: at most 10,000 rows,
    `MAX_CELLS`); else its head, where the 表号 is looked for, and below it only the cells that may hold
    a personal number or the 联系电话 label (E-PII is checked in every sheet), the rest left None."""
    merged = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (raw.merged_cell_ranges or [])[:MAX_MERGES]]
    if rows <= MAX_SHEET_ROWS and rows * cols <= MAX_CELLS:
        values = [list(r) for r in raw.to_python(skip_empty_area=False)]
        return Sheet(raw.name, values, merged, total_rows=raw.height, total_cols=cols)
    left = (
        raw.start[1] if raw.start else 0
    )  # iter_rows gives the rows above the data, not the columns left of it
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


HEAD_ROWS = COVER_SCAN_ROWS


def _may_be_personal(v: object) -> bool:
    """Whether a cell's value could hold an ID or mobile number (11 characters at least), or is the
    联系电话 label that lets one through (transforms.checks.find_pii)."""
    if v.__class__ is str:
        return len(v) >= 11 or LABEL_PHONE in v  # type: ignore[operator]
    return v.__class__ in (int, float) and abs(v) >= 1e10  # type: ignore[arg-type]


def _too_large(name: str, rows: int, cols: int) -> Unreadable:
    return Unreadable(
        f"工作表“{name[:40]}”的使用范围达 {rows} 行 × {cols} 列，远超报表的规模，请删除无关内容后报送"
    )


# --- the survey ---------------------------------------------------------------------------------


def _survey(data: bytes, suffix: str) -> _Survey:
    """The survey of the kind the bytes are (calamine goes by content too), and the name's kind must fit."""
    if data.startswith(OLE_MAGIC):
        if (
            suffix != ".xls"
            or b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data
        ):
            return _Survey(Unreadable("文件设置了打开密码（已加密），请取消密码后重新报送"))
    elif suffix == ".xls":
        return _Survey(Unreadable("文件内容不是 Excel 97-2003 (.xls) 格式，可能已损坏或被改了扩展名"))
    return survey_content(data)


def survey_content(data: bytes) -> _Survey:
    """What reading these bytes would take, judged by their content alone (whatever the file is called)."""
    if data.startswith(OLE_MAGIC):
        return _survey_xls(data)
    if not data.startswith(ZIP_MAGIC):
        return _Survey(Unreadable("文件已损坏或不是电子表格（无法识别的文件内容），请重新导出后报送"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if any(i.flag_bits & 0x1 for i in infos):
                return _Survey(Unreadable("文件设置了密码（已加密），请取消密码后重新报送"))
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                return _Survey(
                    Unreadable(
                        f"文件解压后达 {unpacked / 1048576:.0f} MB，超过 100 MB 的上限，请删除无关内容后报送"
                    )
                )
            members = _members_unpacked(data, infos)
            if members is None:
                return _Survey(Unreadable(BAD_MEMBER))
            if "encryption-data" in _manifest(members):
                return _Survey(Unreadable("文件设置了密码（已加密），请取消密码后重新报送"))
            if "xl/workbook.bin" in members:
                return _Survey(Unreadable("文件是 Excel 二进制工作簿（.xlsb），请另存为 .xlsx 后报送"))
            if "xl/workbook.xml" in members:
                return _survey_xlsx(members)
            if "content.xml" in members:
                return _survey_ods(members)
    except _BadMember:  # one left packed, and read after all: a sheet or a part the workbook names
        return _Survey(Unreadable(BAD_MEMBER))
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError, zlib.error):
        return _Survey(Unreadable(CORRUPT))
    return _Survey()


# members python-calamine never reads (tests/test_reading.py: corrupt one and calamine reads the file
# as before): in an .xlsx whose package names xl/workbook.xml as its document, and in an .ods
OOXML_UNREAD = ("[Content_Types].xml", "docProps/", "xl/theme/")
ODS_UNREAD = ("styles.xml", "meta.xml")


class _BadMember(Exception):
    """A member that does not unpack to exactly the size and CRC it declares."""


class _Members:
    """A package's members as the survey reads them, like `ZipFile.read`: each unpacked once and
    checked (`_unpacked`). Those calamine reads are unpacked up front (`_members_unpacked`); one it
    never reads only when the survey asks for it."""

    def __init__(self, data: bytes, infos: list[zipfile.ZipInfo]) -> None:
        self._data = data
        self._infos = {info.filename: info for info in infos}  # a repeated name: the last, as zipfile
        self._bodies: dict[str, bytes] = {}
        # calamine finds a member by its name folded to lower case, backslashes as slashes
        self._folded = {name.replace("\\", "/").lower(): name for name in self._infos}

    def _name(self, name: str) -> str:
        """The member calamine would open when asked for `name`."""
        return self._folded.get(name.lower(), name)

    def __contains__(self, name: str) -> bool:
        return self._name(name) in self._infos

    def read(self, name: str) -> bytes:
        name = self._name(name)
        body = self._bodies.get(name)
        if body is None:
            body = _unpacked(self._data, self._infos[name])
            if body is None:
                raise _BadMember(name)
            self._bodies[name] = body
        return body


def _members_unpacked(data: bytes, infos: list[zipfile.ZipInfo]) -> _Members | None:
    """The members, or None unless each that calamine may read unpacks to exactly the size and CRC it
    declares. (zipfile's testzip stops at the declared size; calamine's zip reader does not, so a
    member that unpacks to more is a bomb.) The total was checked against the cap from the declared
    sizes. A member calamine never reads (`_unread`: the theme is 40% of a return's XML) is left
    packed: whatever it holds, it changes no figure, so it costs no submitter a rejection. The survey
    still unpacks and checks one it reads after all (a sheet a workbook puts under xl/theme/)."""
    members = _Members(data, infos)
    unread = _unread(members)
    for info in infos:
        if unread and info.filename.startswith(unread):
            continue
        body = _unpacked(data, info)
        if body is None:
            return None
        members._bodies[info.filename] = body  # a repeated name: each checked, the last one kept
    return members


def _unread(members: _Members) -> tuple[str, ...]:
    """The names calamine never reads in this package, by its kind; none where its layout is not the
    one Excel, WPS, LibreOffice and openpyxl write (calamine finds the workbook through _rels/.rels)."""
    if "_rels/.rels" in members:
        documents = [
            a.get(b"Target", b"").decode("utf-8", "replace").lstrip("/")
            for a in map(_attrs, _REL_RE.findall(members.read("_rels/.rels")))
            if a.get(b"Type", b"").endswith(b"/officeDocument")
        ]
        return OOXML_UNREAD if documents and set(documents) == {"xl/workbook.xml"} else ()
    return ODS_UNREAD if "content.xml" in members else ()


def _unpacked(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """One member's bytes, or None unless it comes to exactly the size and CRC it declares."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None  # Excel, WPS and LibreOffice write nothing else
    at = info.header_offset
    if data[at : at + 4] != ZIP_MAGIC or at + 30 > len(data):
        return None
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    start = at + 30 + name_length + extra_length
    packed = data[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        body = packed
    else:
        inflate = zlib.decompressobj(-15)
        try:
            body = inflate.decompress(packed, info.file_size + 1)
        except zlib.error:
            return None
        if inflate.unconsumed_tail:
            return None
    if len(body) != info.file_size or zlib.crc32(body) != info.CRC:
        return None
    return body


def _manifest(zf: _Members) -> str:
    try:
        return zf.read("META-INF/manifest.xml")[:1_000_000].decode("utf-8", "replace")
    except KeyError:
        return ""


def _oversized(name: str, rows: int, cols: int) -> Unreadable | None:
    if rows > MAX_ROWS_SEEN or rows * max(cols, 1) > MAX_GRID_CELLS:
        return _too_large(name, rows, cols)
    return None


# --- .xlsx / .xlsm ------------------------------------------------------------------------------

_SHEET_RE = re.compile(rb"<(?:[\w.-]+:)?sheet\s([^<>]*)>")
_ATTR_RE = re.compile(rb"""([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_REL_RE = re.compile(rb"<(?:[\w.-]+:)?Relationship\s([^<>]*)>")
# cell, row, value and formula tags of sheet XML, in document order; `[^<>]` keeps every scan linear
_TAG_RE = re.compile(rb"<(/?)(?:[\w.-]+:)?(c|row|v|f|is)(?=[\s/>])([^<>]*)>")
_A1_RE = re.compile(rb"([A-Z]{1,3})([0-9]{1,7})")
_SST_RE = re.compile(rb"<(?:[\w.-]+:)?sst\b([^<>]*)>")
_SI_RE = re.compile(rb"<(?:[\w.-]+:)?si(?=[\s/>])[^<>]*>")
_TEXT_RE = re.compile(rb"<[^<>]*>")


def _attrs(raw: bytes) -> dict[bytes, bytes]:
    return {
        k.split(b":")[-1] if not k.startswith(b"xmlns") else k: a or b for k, a, b in _ATTR_RE.findall(raw)
    }


def _xml_unescape(b: bytes) -> str:
    s = b.decode("utf-8", "replace")
    return (
        s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _sheet_parts(zf: _Members) -> dict[str, str]:
    """Sheet name → part path inside the package, from workbook.xml and its rels."""
    book = zf.read("xl/workbook.xml")
    rels = zf.read("xl/_rels/workbook.xml.rels")
    targets = {}
    for raw in _REL_RE.findall(rels):
        a = _attrs(raw)
        if b"Id" in a and b"Target" in a:
            t = a[b"Target"].decode("utf-8", "replace")
            targets[a[b"Id"]] = t.lstrip("/") if t.startswith("/") else normpath(join("xl", t))
    parts = {}
    for raw in _SHEET_RE.findall(book):
        a = _attrs(raw)
        target = targets.get(a.get(b"id", b""))
        if target is not None and b"name" in a:
            parts[_xml_unescape(a[b"name"])] = target
    return parts


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


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
            self._sizes = [len(_TEXT_RE.sub(b"", item)) for item in items]
        return self._sizes


def _shared_strings(zf: _Members) -> _SharedStrings | Unreadable:
    try:
        xml = zf.read("xl/sharedStrings.xml")
    except KeyError:
        return _SharedStrings()
    head = _SST_RE.search(xml)
    if head:
        declared = _attrs(head.group(1))
        for key in (b"count", b"uniqueCount"):  # calamine reserves room for uniqueCount strings up front
            value = declared.get(key, b"0")
            if not value.isdigit() or int(value) > MAX_BOOK_CELLS:
                return Unreadable(MALFORMED)
    return _SharedStrings(xml)


def _survey_xlsx(zf: _Members) -> _Survey:
    try:
        parts = _sheet_parts(zf)
    except (KeyError, ValueError):
        return _Survey()  # not a workbook calamine can open either; it will say so
    strings = _shared_strings(zf)
    if isinstance(strings, Unreadable):
        return _Survey(strings)
    if len(parts) > MAX_SHEETS * 4:
        return _Survey(
            Unreadable(f"工作簿有 {len(parts)} 个工作表，远超报表的规模，请删除无关的工作表后报送")
        )
    out, text = _Survey(), 0
    for name, part in parts.items():
        try:
            xml = zf.read(part)
        except KeyError:
            continue
        sheet = _scan_xlsx_sheet(xml, strings)
        if isinstance(sheet, Unreadable):
            return _Survey(sheet)
        too_big = _oversized(name, sheet.rows, sheet.cols)
        if too_big:
            return _Survey(too_big)
        text += sheet.text
        if text > MAX_TEXT:
            return _Survey(Unreadable(TOO_MUCH_TEXT))
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


def _scan_xlsx_sheet(xml: bytes, strings: _SharedStrings) -> _SheetScan | Unreadable:
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
            return Unreadable(MALFORMED)
        rows = max(map(int, _ROW_REFS.findall(xml) + _CELL_ROWS.findall(xml)), default=0)
        cols = max((_col_index(x) + 1 for x in set(_CELL_COLS.findall(xml))), default=0)
    if rows > EXCEL_ROWS or cols > EXCEL_COLS:
        return Unreadable(MALFORMED)
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
            ref = _A1_RE.search(_attrs(cell.group(0)[2:-1]).get(b"r", b""))
            if ref:
                uncached.add((int(ref.group(2)) - 1, _col_index(ref.group(1))))
    return uncached


def _error_values(xml: bytes) -> dict[tuple[int, int], str]:
    """The cells of a sheet (placed by `r`) whose value is an error (`t="e"`), with the error's text."""
    errors: dict[tuple[int, int], str] = {}
    for m in _ERROR_CELL.finditer(xml) if b'"e"' in xml or b"'e'" in xml else ():
        if m.group(0).endswith(b"/>") or len(errors) >= MAX_MERGES:
            continue
        end = _C_CLOSE.search(xml, m.end(), m.end() + 65536)
        value = _V_TEXT.search(xml, m.end(), end.start()) if end else None
        ref = _A1_RE.search(_attrs(m.group(0)[2:-1]).get(b"r", b""))
        if value and value.group(1).strip() and ref:
            errors[(int(ref.group(2)) - 1, _col_index(ref.group(1)))] = _error_text(value.group(1))
    return errors


def _error_text(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", "replace")).strip()[:40]


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
    return rows, max((_col_index(x) + 1 for x in set(_PLAIN_CELL_COL.findall(xml))), default=0)


def _walk_xlsx_sheet(xml: bytes, strings: _SharedStrings) -> _SheetScan | Unreadable:
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
                    errors[(row, col)] = _error_text(value)
            elif tag == b"c" and in_cell:
                if has_f and not has_v and len(uncached) < MAX_MERGES:
                    uncached.add((row, col))
                in_cell = False
            continue
        attrs = _attrs(raw) if raw.strip(b" /") else {}
        ref = attrs.get(b"r")
        if tag == b"row":
            if ref is not None and not (ref.isdigit() and 0 < int(ref) <= EXCEL_ROWS):
                return Unreadable(MALFORMED)
            row, col = (int(ref) - 1 if ref is not None else row + 1), -1
            rows = max(rows, row + 1)
            if rows > MAX_ROWS_SEEN or rows * max(cols, 1) > MAX_GRID_CELLS or text > MAX_TEXT:
                break
        elif tag == b"c":
            if ref is not None:
                a1 = _A1_RE.fullmatch(ref)
                if a1 is None or not 0 < int(a1.group(2)) <= EXCEL_ROWS:
                    return Unreadable(MALFORMED)
                col, row = _col_index(a1.group(1)), int(a1.group(2)) - 1
                if col >= EXCEL_COLS:
                    return Unreadable(MALFORMED)
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


# --- .ods ---------------------------------------------------------------------------------------

_ODS_TAG_RE = re.compile(rb"<(/?)table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^<>]*)>")
_ODS_TEXT_RE = re.compile(rb">[^<]*[^<\s]")
_ODS_ERROR = re.compile(rb"""\bvalue-type\s*=\s*["']error["']""")


def _repeat(attrs: dict[bytes, bytes], key: bytes) -> int | None:
    value = attrs.get(key, b"1").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def _survey_ods(zf: _Members) -> _Survey:
    """The tables of content.xml as calamine expands them (it reads every table when it opens the
    file): repeated rows and columns count in full, and so does the text of a repeated cell."""
    try:
        xml = zf.read("content.xml")
    except KeyError:
        return _Survey()
    tables = _OdsTables()
    for m in _ODS_TAG_RE.finditer(xml):
        tables.settle(xml, m.start())
        problem = tables.step(m.group(1) == b"/", m.group(2), m.group(3), m.end())
        if problem:
            return _Survey(problem)
    tables.settle(xml, len(xml))
    if tables.open_tags:  # calamine loops for ever on a table, row or cell that never ends
        return _Survey(Unreadable(MALFORMED))
    return _Survey(tables.problem(), tables.uncached, tables.errors, tables.merged)


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
        self.too_big: Unreadable | None = None
        self.open_tags: list[bytes] = []

    def problem(self) -> Unreadable | None:
        if self.too_big:
            return self.too_big
        if self.cells > MAX_BOOK_CELLS:
            return Unreadable("工作簿中各工作表的单元格总数远超报表的规模，请删除无关的工作表后报送")
        if self.text > MAX_TEXT:
            return Unreadable("工作簿中的文字内容远超报表的规模，请删除无关内容后报送")
        return None

    def settle(self, xml: bytes, end: int) -> None:
        """The open cell's content is what stands before the next table tag."""
        if self.pending is None:
            return
        start, attrs, col, repeat = self.pending
        self.pending = None
        inner = xml[start:end]
        filled = b"value-type" in attrs or b"formula" in attrs or bool(_ODS_TEXT_RE.search(inner))
        self._cell(attrs, col, repeat, filled, inner)

    def _cell(self, attrs: dict[bytes, bytes], col: int, repeat: int, filled: bool, inner: bytes) -> None:
        if not filled or repeat == 0:
            return
        self.row_has, self.row_last_col = True, col + repeat
        self.row_text += len(_TEXT_RE.sub(b"", inner)) * repeat if inner else 0
        if b"formula" in attrs and b"value-type" not in attrs:
            found = self.uncached.setdefault(self.name, set())
            if len(found) < MAX_MERGES:
                found.update((self.rows, c) for c in range(col, min(col + repeat, col + 100)))
        elif attrs.get(b"value-type") == b"error":  # LibreOffice's calcext:value-type; calamine reads ""
            errors = self.errors.setdefault(self.name, {})
            text = _error_text(_TEXT_RE.sub(b"", inner)) or "#VALUE!"
            for c in range(col, min(col + repeat, col + 100)) if len(errors) < MAX_MERGES else ():
                errors[(self.rows, c)] = text

    def step(self, closing: bool, tag: bytes, raw: bytes, end: int) -> Unreadable | None:
        if closing:  # tables, rows and cells must nest: calamine reads past a missing end to EOF and spins
            if not self.open_tags or self.open_tags.pop() != tag:
                return Unreadable(MALFORMED)
        elif not raw.rstrip().endswith(b"/"):
            self.open_tags.append(tag)
        return self._step(closing, tag, raw, end)

    def _step(self, closing: bool, tag: bytes, raw: bytes, end: int) -> Unreadable | None:
        if tag == b"table":
            return self._table(closing, raw)
        if self.depth != 1:
            return None  # a table inside a cell: calamine reads it as that cell's text
        if tag == b"table-row":
            return self._row(closing, raw)
        if closing:
            return None
        attrs = _attrs(raw)
        if _ODS_ERROR.search(raw):  # office:value-type says "string", calcext:value-type "error"
            attrs[b"value-type"] = b"error"
        repeat = _repeat(attrs, b"number-columns-repeated")
        if repeat is None:
            return Unreadable(MALFORMED)
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

    def _table(self, closing: bool, raw: bytes) -> Unreadable | None:
        if closing:
            self.depth -= 1
            if self.depth == 0:
                self.cells += self.last_row * max(self.last_col, 1)
                self.too_big = self.too_big or _oversized(self.name, self.last_row, self.last_col)
                return self.problem()
            return None
        self.depth += 1
        if self.depth == 1:
            self.name = _xml_unescape(_attrs(raw).get(b"name", b""))
            self.rows = self.last_row = self.last_col = 0
        return None

    def _row(self, closing: bool, raw: bytes) -> Unreadable | None:
        if closing:
            self._end_row()
            return None
        repeat = _repeat(_attrs(raw), b"number-rows-repeated")
        if repeat is None:
            return Unreadable(MALFORMED)
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


# --- .xls (an OLE compound file holding a BIFF stream) -----------------------------------------

_FREE, _END = 0xFFFFFFFF, 0xFFFFFFFE
_CELL_RECORDS = {0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006}


def _survey_xls(data: bytes) -> _Survey:
    stream = _ole_stream(data, ("Workbook", "Book"))
    if stream is None:
        return _Survey(Unreadable(MALFORMED))
    try:
        return _scan_biff(stream)
    except (struct.error, IndexError, ValueError):
        return _Survey(Unreadable(MALFORMED))


def _ole_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    """One stream of a compound file by name, or None if the file's structure does not hold up."""
    try:
        shift, mini_shift = struct.unpack_from("<HH", data, 30)
        if shift not in (9, 12) or mini_shift != 6:
            return None
        size = 1 << shift
        sectors = (len(data) - 512 + size - 1) // size
        n_fat, first_dir, _, cutoff, first_mini, n_mini, first_difat, n_difat = struct.unpack_from(
            "<IIIIIIII", data, 44
        )
        difat = list(struct.unpack_from("<109I", data, 76))
        sector = first_difat
        for _ in range(min(n_difat, sectors)):
            if sector >= sectors:
                break
            entries = struct.unpack_from(f"<{size // 4}I", data, 512 + sector * size)
            difat += entries[:-1]
            sector = entries[-1]

        def read(index: int) -> bytes:
            if index >= sectors:
                raise ValueError("sector out of range")
            return data[512 + index * size : 512 + (index + 1) * size]

        fat: list[int] = []
        for index in difat[: min(n_fat, sectors)]:
            if index in (_FREE, _END):
                continue
            fat += struct.unpack(f"<{size // 4}I", read(index).ljust(size, b"\0"))

        def chain(start: int, table: list[int], limit: int) -> list[int]:
            out, seen = [], set()
            while start not in (_END, _FREE) and len(out) < limit:
                if start in seen or start >= len(table):
                    raise ValueError("broken chain")
                seen.add(start)
                out.append(start)
                start = table[start]
            return out

        directory = b"".join(read(i) for i in chain(first_dir, fat, sectors))
        entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]
        if not entries:
            return None
        root_start, root_size = struct.unpack_from("<IQ", entries[0], 116)
        for entry in entries:
            length = min(struct.unpack_from("<H", entry, 64)[0], 64)
            name = entry[: max(length - 2, 0)].decode("utf-16-le", "replace")
            if name not in names or entry[66] != 2:
                continue
            start, stream_size = struct.unpack_from("<IQ", entry, 116)
            stream_size &= 0xFFFFFFFF
            if stream_size > len(data):
                return None
            if stream_size >= cutoff:
                body = b"".join(read(i) for i in chain(start, fat, sectors))
                return body[:stream_size]
            mini_fat: list[int] = []
            for i in chain(first_mini, fat, min(n_mini, sectors)):
                mini_fat += struct.unpack(f"<{size // 4}I", read(i).ljust(size, b"\0"))
            mini_stream = b"".join(read(i) for i in chain(root_start, fat, sectors))
            body = b"".join(mini_stream[i * 64 : (i + 1) * 64] for i in chain(start, mini_fat, len(mini_fat)))
            return body[:stream_size]
        return None
    except (struct.error, ValueError, IndexError):
        return None


# the error values of an .xls cell (MS-XLS BErr), which calamine reads as an empty cell
XLS_ERRORS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}
TOO_MUCH_TEXT = "工作簿中的文字内容远超报表的规模，请删除无关内容后报送"


def _scan_biff(stream: bytes) -> _Survey:
    return _BiffScan(stream).run()


class _BiffScan:
    """Walk the BIFF records as calamine will: every sheet (a BOUNDSHEET points at its substream) is
    read at once, each reserving what its DIMENSIONS record declares and the rectangle its cells
    span; a shared-string cell gets its own copy of the string. On the way, the formulas whose result
    calamine reads as an empty cell: an error value, or none (a blank result, all that xlwt writes)."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.strings: list[int] = []
        self.boundsheets: list[tuple[int, str]] = []  # offset of a sheet's BOF, its name
        self.sizes: dict[int, int] = {}  # offset of a sheet's BOF → cells calamine allocates for it
        self.text = self.depth = self.start = self.reserve = 0
        self.extent: list[int] | None = None  # min row, min col, max row, max col of the current substream
        self.uncached: dict[int, set[tuple[int, int]]] = {}  # offset of a sheet's BOF → its cells
        self.errors: dict[int, dict[tuple[int, int], str]] = {}

    def run(self) -> _Survey:
        pos, n = 0, len(self.stream)
        while pos + 4 <= n:
            kind, length = struct.unpack_from("<HH", self.stream, pos)
            problem = self._record(kind, self.stream[pos + 4 : pos + 4 + length], pos, pos + 4 + length)
            if problem:
                return _Survey(problem)
            pos += 4 + length
        if any(p not in self.sizes for p, _ in self.boundsheets):
            return _Survey(Unreadable(MALFORMED))  # a sheet that points into the middle of something else
        if sum(self.sizes[p] for p, _ in self.boundsheets) > MAX_BOOK_CELLS:
            return _Survey(Unreadable("工作簿中各工作表的单元格总数远超报表的规模，请删除无关的工作表后报送"))
        named = [(p, name) for p, name in self.boundsheets]
        return _Survey(
            uncached={name: self.uncached[p] for p, name in named if p in self.uncached},
            errors={name: self.errors[p] for p, name in named if p in self.errors},
        )

    def _record(self, kind: int, body: bytes, at: int, after: int) -> Unreadable | None:
        if kind == 0x0809:  # BOF: a substream begins (depth 2: a chart inside a sheet, skipped)
            self.depth += 1
            if self.depth == 1:
                self.start, self.extent, self.reserve = at, None, 0
        elif kind == 0x000A:  # EOF
            return self._end()
        elif self.depth != 1:
            return None
        elif kind == 0x0085 and len(body) >= 4:
            self.boundsheets.append((struct.unpack_from("<I", body, 0)[0], _sheet_name(body)))
            if len(self.boundsheets) > MAX_SHEETS * 4:
                return Unreadable(
                    f"工作簿有超过 {MAX_SHEETS * 4} 个工作表，远超报表的规模，请删除无关的工作表后报送"
                )
        elif kind == 0x00FC:
            self.strings = _string_lengths(self._continued(body, after))
        elif kind == 0x0200:
            declared = _dimensions(body)
            if isinstance(declared, Unreadable):
                return declared
            self.reserve = max(self.reserve, declared)
        elif (kind in _CELL_RECORDS or kind == 0x00BD) and len(body) >= 6:
            self._cell(kind, body)
        return Unreadable(TOO_MUCH_TEXT) if self.text > MAX_TEXT else None

    def _end(self) -> Unreadable | None:
        if self.depth == 1:
            rows = cols = 0
            if self.extent is not None:
                rows, cols = self.extent[2] - self.extent[0] + 1, self.extent[3] - self.extent[1] + 1
                too_big = _oversized(f"第{len(self.sizes)}个工作表", rows, cols)
                if too_big:
                    return too_big
            self.sizes[self.start] = max(rows * cols, self.reserve)
        self.depth = max(self.depth - 1, 0)
        return None

    def _continued(self, body: bytes, after: int) -> list[bytes]:
        """A record's body and those of the CONTINUE records after it."""
        segments, look = [body], after
        while look + 4 <= len(self.stream):
            follow, size = struct.unpack_from("<HH", self.stream, look)
            if follow != 0x003C:
                break
            segments.append(self.stream[look + 4 : look + 4 + size])
            look += 4 + size
        return segments

    def _cell(self, kind: int, body: bytes) -> None:
        row, col = struct.unpack_from("<HH", body, 0)
        last = struct.unpack_from("<H", body, len(body) - 2)[0] if kind == 0x00BD else col
        e = self.extent
        self.extent = (
            [row, col, row, max(col, last)]
            if e is None
            else [min(e[0], row), min(e[1], col), max(e[2], row), max(e[3], last)]
        )
        if kind == 0x00FD and len(body) >= 10:
            index = struct.unpack_from("<I", body, 6)[0]
            if index < len(self.strings):
                self.text += self.strings[index]
        elif kind == 0x0006 and len(body) >= 14 and body[12:14] == b"\xff\xff":  # FORMULA, not a number
            if body[6] == 2:
                self._error(row, col, body[8])
            elif body[6] == 3:
                found = self.uncached.setdefault(self.start, set())
                if len(found) < MAX_MERGES:
                    found.add((row, col))
        elif kind == 0x0205 and len(body) >= 8 and body[7] == 1:  # BOOLERR holding an error
            self._error(row, col, body[6])

    def _error(self, row: int, col: int, code: int) -> None:
        found = self.errors.setdefault(self.start, {})
        if len(found) < MAX_MERGES:
            found[(row, col)] = XLS_ERRORS.get(code, "#VALUE!")


def _sheet_name(body: bytes) -> str:
    """A BOUNDSHEET record's sheet name (BIFF8: a short string, 8-bit or UTF-16)."""
    if len(body) < 8:
        return ""
    count, wide = body[6], body[7] & 1
    return body[8 : 8 + count * (2 if wide else 1)].decode("utf-16-le" if wide else "latin-1", "replace")


def _dimensions(body: bytes) -> int | Unreadable:
    """The cells calamine reserves for a DIMENSIONS record (its arithmetic, u32 wrap-around included)."""
    if len(body) == 14:
        rf, rl, cf, cl = struct.unpack_from("<IIHH", body, 0)
    elif len(body) == 10:
        rf, rl, cf, cl = struct.unpack_from("<HHHH", body, 0)
    else:
        return 0
    if cf > 0xFF or cl < cf:
        cf = 0
    if rl < 1 or cl < 1:
        return 0
    rows = ((rl - 1) - rf + 1) & 0xFFFFFFFF
    cols = ((cl - 1) - cf + 1) & 0xFFFFFFFF
    if rows > MAX_ROWS_SEEN or rows * cols > MAX_GRID_CELLS:
        return Unreadable(
            f"工作表声明的使用范围达 {rows} 行 × {cols} 列，远超报表的规模，请删除无关内容后报送"
        )
    return rows * cols


def _string_lengths(segments: list[bytes]) -> list[int]:
    """Walk XLUnicodeRichExtendedString items across record boundaries; only their lengths matter."""
    seg, at = 0, 8
    sizes: list[int] = []

    def take(count: int) -> bytes:
        nonlocal seg, at
        out = b""
        while len(out) < count:
            if seg >= len(segments):
                raise IndexError("end of SST")
            chunk = segments[seg][at : at + count - len(out)]
            out += chunk
            at += len(chunk)
            if at >= len(segments[seg]) and len(out) < count:
                seg, at = seg + 1, 0
        return out

    while seg < len(segments):
        if at >= len(segments[seg]):
            seg, at = seg + 1, 0
            continue
        try:
            cch, flags = struct.unpack("<HB", take(3))
            runs = struct.unpack("<H", take(2))[0] if flags & 0x8 else 0
            ext = struct.unpack("<I", take(4))[0] if flags & 0x4 else 0
            left, wide = cch, flags & 0x1
            while left:
                room = len(segments[seg]) - at
                if room <= 0:
                    seg, at = seg + 1, 0
                    if seg >= len(segments):
                        raise IndexError("end of SST")
                    wide = segments[seg][0] & 0x1  # a string continued in a new record restates its width
                    at = 1
                    continue
                chars = min(left, room // (2 if wide else 1)) or 1
                at += chars * (2 if wide else 1)
                left -= chars
            take(4 * runs)
            take(ext)
        except (IndexError, struct.error):
            break
        sizes.append(cch)
    return sizes
