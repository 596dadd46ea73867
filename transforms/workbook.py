"""Bytes → sheets of cached values (forms.md §1, §3, §6 E-FILE), with the guards decided before unpacking.

python-calamine reads every kind fast but cannot tell a formula with no cached value from a blank
cell; for the zip kinds we find those cells in the sheet XML ourselves.

calamine allocates the whole rectangle from A1 to the last cell, reserves what a file declares
(an .xls DIMENSIONS record, an .xlsx sharedStrings count), copies a shared or repeated string into
every cell that uses it, and aborts the process when an allocation fails. So each kind is surveyed
first, without unpacking more than the declared sizes allow (`guard`), and the pipeline runs the reading
itself in a worker process with a time and memory budget (`flows.readers`): a file that gets past the
survey and still takes the worker down is rejected, never the run.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from posixpath import join, normpath

from pbstats.schemas import messages as msg
from pbstats.schemas.forms import MAX_FILE_BYTES, MAX_SHEET_ROWS, MAX_UNPACKED_BYTES, SPREADSHEET_SUFFIXES

from .model import Sheet, Workbook

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MAX_SHEETS = 255
MAX_CELLS = 300_000  # per sheet: 10,000 rows × 30 columns; a return has a few hundred
MAX_BOOK_CELLS = 300_000  # over all sheets
MAX_TEXT = 32_000_000  # characters of cell text calamine may make, over all cells (copies counted)
MAX_ROWS_SEEN = MAX_SHEET_ROWS * 10  # a sheet this long is no return, whichever sheet it is
MAX_MERGES = 10_000  # per sheet; a return has a handful
EXCEL_ROWS, EXCEL_COLS = 1_048_576, 16_384


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


def guard(data: bytes, file_name: str) -> Unreadable | None:
    """The E-FILE checks decided before calamine sees the bytes: kind, size, packing, encryption,
    and what each kind's own structure says it would take to read."""
    return _first_look(data, file_name) or _survey(data, suffix_of(file_name)).problem


@dataclass
class _Survey:
    problem: Unreadable | None = None
    uncached: dict[str, set[tuple[int, int]]] = field(default_factory=dict)  # sheet → formulas, no value


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
        return survey.problem
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
    for sheet in sheets:
        sheet.uncached_formulas |= survey.uncached.get(sheet.name, set())
    return Workbook(sheets=sheets)


def _shown_error(e: BaseException) -> str:
    """A reader's error as a short line: no personal numbers, nothing that is not printable."""
    from .checks import scrub

    text = str(e) or type(e).__name__
    if "Cannot detect file format" in text:
        return msg.UNKNOWN_FORMAT
    return scrub(re.sub(r"[\x00-\x1f\x7f]+", " ", text), 80)


def _read_sheets(data: bytes) -> list[Sheet] | Unreadable:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    names = list(book.sheet_names)[:MAX_SHEETS]
    sheets: list[Sheet] = []
    cells = text = 0
    for name in names:
        raw = book.get_sheet_by_name(name)
        if raw.height > MAX_ROWS_SEEN or raw.height * max(raw.width, 1) > MAX_CELLS:
            return _too_large(name, raw.height, raw.width)
        cells += raw.height * max(raw.width, 1)
        if cells > MAX_BOOK_CELLS:
            return Unreadable(msg.TOO_MANY_CELLS)
        rows = [list(r) for r in raw.to_python(skip_empty_area=False)]
        text += sum(len(v) for row in rows for v in row if isinstance(v, str))
        if text > MAX_TEXT:
            return Unreadable(msg.TOO_MUCH_TEXT)
        merged = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (raw.merged_cell_ranges or [])[:MAX_MERGES]]
        sheets.append(Sheet(name=name, rows=rows, merged=merged, total_rows=raw.height))
    return sheets


def _too_large(name: str, rows: int, cols: int) -> Unreadable:
    return Unreadable(msg.used_range_too_large(name, rows, cols))


# --- the survey ---------------------------------------------------------------------------------


def _survey(data: bytes, suffix: str) -> _Survey:
    """The survey of the kind the bytes are (calamine goes by content too), and the name's kind must fit."""
    if data.startswith(OLE_MAGIC):
        if (
            suffix != ".xls"
            or b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data
        ):
            return _Survey(Unreadable(msg.ENCRYPTED))
    elif suffix == ".xls":
        return _Survey(Unreadable(msg.NOT_XLS))
    return survey_content(data)


def survey_content(data: bytes) -> _Survey:
    """What reading these bytes would take, judged by their content alone (whatever the file is called)."""
    if data.startswith(OLE_MAGIC):
        return _Survey(_survey_xls(data))
    if not data.startswith(ZIP_MAGIC):
        return _Survey(Unreadable(msg.NOT_A_SPREADSHEET))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if any(i.flag_bits & 0x1 for i in infos):
                return _Survey(Unreadable(msg.ENCRYPTED))
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                return _Survey(Unreadable(msg.unpacks_too_big(unpacked)))
            members = _members_unpacked(data, infos)
            if members is None:
                return _Survey(Unreadable(msg.BAD_MEMBER))
            if "encryption-data" in _manifest(members):
                return _Survey(Unreadable(msg.ENCRYPTED))
            if "xl/workbook.bin" in members:
                return _Survey(Unreadable(msg.XLSB))
            if "xl/workbook.xml" in members:
                return _survey_xlsx(members)
            if "content.xml" in members:
                return _survey_ods(members)
    except _BadMember:  # one left packed, and read after all: a sheet or a part the workbook names
        return _Survey(Unreadable(msg.BAD_MEMBER))
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError, zlib.error):
        return _Survey(Unreadable(msg.CORRUPT))
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
    if rows > MAX_ROWS_SEEN or rows * max(cols, 1) > MAX_CELLS:
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
            if not value.isdigit() or int(value) > MAX_BOOK_CELLS * 4:
                return Unreadable(msg.MALFORMED)
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
        return _Survey(Unreadable(msg.too_many_sheets(len(parts))))
    out, text = _Survey(), 0
    for name, part in parts.items():
        try:
            xml = zf.read(part)
        except KeyError:
            continue
        sheet = _scan_xlsx_sheet(xml, strings)
        if isinstance(sheet, Unreadable):
            return _Survey(sheet)
        rows, cols, sheet_text, uncached = sheet
        too_big = _oversized(name, rows, cols)
        if too_big:
            return _Survey(too_big)
        text += sheet_text
        if text > MAX_TEXT:
            return _Survey(Unreadable(msg.TOO_MUCH_TEXT))
        if uncached:
            out.uncached[name] = uncached
    return out


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


def _scan_xlsx_sheet(xml: bytes, strings: _SharedStrings) -> tuple[int, int, int, set] | Unreadable:
    """Rows and columns the sheet spans (as calamine places cells, with or without `r`), the text its
    shared strings put into cells, and its formulas without a cached value. Regular expressions do
    the counting; Python walks cell by cell only for a sheet whose cells carry no `r`."""
    elements = xml.count(b"<row"), xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/")
    if elements[0] > MAX_ROWS_SEEN or elements[1] > MAX_CELLS:  # more elements than any return has
        return elements[0], max(elements[1] // max(elements[0], 1), 1), 0, set()
    placed = _placed_as_written(xml)
    if placed is not None:
        rows, cols = placed
    else:
        if _UNPLACED.search(xml):
            return _walk_xlsx_sheet(xml, strings)  # some cells or rows placed by their order, not by `r`
        if _BAD_ROW_REF.search(xml) or _BAD_CELL_REF.search(xml):
            return Unreadable(msg.MALFORMED)
        rows = max(map(int, _ROW_REFS.findall(xml) + _CELL_ROWS.findall(xml)), default=0)
        cols = max((_col_index(x) + 1 for x in set(_CELL_COLS.findall(xml))), default=0)
    if rows > EXCEL_ROWS or cols > EXCEL_COLS:
        return Unreadable(msg.MALFORMED)
    text = 0
    refs = xml.count(b't="s"')
    if (
        strings.bound * refs > MAX_TEXT // 4
        and (sizes := strings.sizes)
        and max(sizes) * refs > MAX_TEXT // 4
    ):
        text = sum(sizes[i] for i in map(int, _SHARED_REFS.findall(xml)) if i < len(sizes))
    uncached: set[tuple[int, int]] = set()
    for m in _F_TAG.finditer(xml) if rows * max(cols, 1) <= MAX_CELLS else ():
        start = xml.rfind(b"<", max(0, m.start() - 4096), m.start())
        cell = _C_OPEN.match(xml, xml.rfind(b"<c ", max(0, m.start() - 4096), m.start() + 1))
        end = _C_CLOSE.search(xml, m.end(), m.end() + 65536)
        if start < 0 or cell is None or end is None or len(uncached) >= MAX_MERGES:
            continue
        if not _V_FILLED.search(xml, m.end(), end.start()):
            ref = _A1_RE.search(_attrs(cell.group(0)[2:-1]).get(b"r", b""))
            if ref:
                uncached.add((int(ref.group(2)) - 1, _col_index(ref.group(1))))
    return rows, cols, text, uncached


_ROW_OR_CELL = re.compile(rb"<(?:row|c)[\s/>]")
_PLAIN_PLACED = re.compile(rb"<(?:row r=\"([1-9]\d{0,6})\"|c r=\"([A-Z]{1,3})([1-9]\d{0,6})\")[\s/>]")


def _placed_as_written(xml: bytes) -> tuple[int, int] | None:
    """(rows, columns) of a sheet as Excel, WPS, LibreOffice and openpyxl write one — no namespace
    prefix, every row and cell opening with a well-formed `r` — else None (the general scan). Shown by
    counting: every `<row` and `<c` element must be one of those matched, so nothing is missed."""
    if b":c" in xml or b":row" in xml:
        return None
    placed = _PLAIN_PLACED.findall(xml)
    if len(placed) != len(_ROW_OR_CELL.findall(xml)):  # also <c>, <c/>, <row/>: placed by their order
        return None
    rows = max((int(row or cell_row) for row, _, cell_row in placed), default=0)
    return rows, max((_col_index(x) + 1 for x in {col for _, col, _ in placed if col}), default=0)


def _walk_xlsx_sheet(xml: bytes, strings: _SharedStrings) -> tuple[int, int, int, set] | Unreadable:
    """`_scan_xlsx_sheet` tag by tag, for cells placed by their order; it stops at the first sign
    that the sheet is beyond any return."""
    sizes = strings.sizes
    rows = cols = text = 0
    row = col = -1
    in_cell = shared = has_f = has_v = in_v = False
    v_start = 0
    uncached: set[tuple[int, int]] = set()
    for m in _TAG_RE.finditer(xml):
        closing, tag, raw = m.group(1), m.group(2), m.group(3)
        if closing:
            if tag == b"v" and in_v:
                in_v = False
                value = xml[v_start : m.start()].strip()
                has_v = has_v or bool(value)
                if shared and value.isdigit() and int(value) < len(sizes):
                    text += sizes[int(value)]
            elif tag == b"c" and in_cell:
                if has_f and not has_v and len(uncached) < MAX_MERGES:
                    uncached.add((row, col))
                in_cell = False
            continue
        attrs = _attrs(raw) if raw.strip(b" /") else {}
        ref = attrs.get(b"r")
        if tag == b"row":
            if ref is not None and not (ref.isdigit() and 0 < int(ref) <= EXCEL_ROWS):
                return Unreadable(msg.MALFORMED)
            row, col = (int(ref) - 1 if ref is not None else row + 1), -1
            rows = max(rows, row + 1)
            if rows > MAX_ROWS_SEEN or rows * max(cols, 1) > MAX_CELLS or text > MAX_TEXT:
                break
        elif tag == b"c":
            if ref is not None:
                a1 = _A1_RE.fullmatch(ref)
                if a1 is None or not 0 < int(a1.group(2)) <= EXCEL_ROWS:
                    return Unreadable(msg.MALFORMED)
                col, row = _col_index(a1.group(1)), int(a1.group(2)) - 1
                if col >= EXCEL_COLS:
                    return Unreadable(msg.MALFORMED)
            else:
                col, row = col + 1, max(row, 0)
            rows, cols = max(rows, row + 1), max(cols, col + 1)
            in_cell, shared = not raw.endswith(b"/"), attrs.get(b"t") == b"s"
            has_f = has_v = False
        elif tag == b"v" and in_cell and not raw.endswith(b"/"):
            in_v, v_start = True, m.end()
        elif tag == b"f" and in_cell:
            has_f = True
    return rows, cols, text, uncached


# --- .ods ---------------------------------------------------------------------------------------

_ODS_TAG_RE = re.compile(rb"<(/?)table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^<>]*)>")
_ODS_TEXT_RE = re.compile(rb">[^<]*[^<\s]")


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
        return _Survey(Unreadable(msg.MALFORMED))
    return _Survey(tables.problem(), tables.uncached)


class _OdsTables:
    """The running state of the ODS survey, one tag at a time."""

    def __init__(self) -> None:
        self.uncached: dict[str, set[tuple[int, int]]] = {}
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
        if self.cells > MAX_BOOK_CELLS * 2:
            return Unreadable(msg.TOO_MANY_CELLS)
        if self.text > MAX_TEXT:
            return Unreadable(msg.TOO_MUCH_TEXT)
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

    def step(self, closing: bool, tag: bytes, raw: bytes, end: int) -> Unreadable | None:
        if closing:  # tables, rows and cells must nest: calamine reads past a missing end to EOF and spins
            if not self.open_tags or self.open_tags.pop() != tag:
                return Unreadable(msg.MALFORMED)
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
        repeat = _repeat(attrs, b"number-columns-repeated")
        if repeat is None:
            return Unreadable(msg.MALFORMED)
        repeat = max(0, min(repeat, EXCEL_COLS - self.col))
        if raw.endswith(b"/"):
            self._cell(attrs, self.col, repeat, b"value-type" in attrs or b"formula" in attrs, b"")
        else:
            self.pending = (end, attrs, self.col, repeat)
        self.col += repeat
        return None

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
            return Unreadable(msg.MALFORMED)
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


def _survey_xls(data: bytes) -> Unreadable | None:
    stream = _ole_stream(data, ("Workbook", "Book"))
    if stream is None:
        return Unreadable(msg.MALFORMED)
    try:
        return _scan_biff(stream)
    except (struct.error, IndexError, ValueError):
        return Unreadable(msg.MALFORMED)


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


def _scan_biff(stream: bytes) -> Unreadable | None:
    """Walk the BIFF records as calamine will: every sheet (a BOUNDSHEET points at its substream) is
    read at once, each reserving what its DIMENSIONS record declares and the rectangle its cells
    span; a shared-string cell gets its own copy of the string."""
    pos, n = 0, len(stream)
    strings: list[int] = []
    boundsheets: list[int] = []
    sizes: dict[int, int] = {}  # offset of a sheet's BOF → cells calamine allocates for it
    text = depth = start = 0
    extent: list[int] | None = None  # min row, min col, max row, max col of the current substream
    reserve = 0
    while pos + 4 <= n:
        kind, length = struct.unpack_from("<HH", stream, pos)
        at, body = pos, stream[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if kind == 0x0809:  # BOF: a substream begins (depth 2: a chart inside a sheet, skipped)
            depth += 1
            if depth == 1:
                start, extent, reserve = at, None, 0
        elif kind == 0x000A:  # EOF
            if depth == 1:
                rows = cols = 0
                if extent is not None:
                    rows, cols = extent[2] - extent[0] + 1, extent[3] - extent[1] + 1
                    too_big = _oversized(msg.nth_sheet(len(sizes)), rows, cols)
                    if too_big:
                        return too_big
                sizes[start] = max(rows * cols, reserve)
            depth = max(depth - 1, 0)
        elif depth != 1:
            continue
        elif kind == 0x0085 and len(body) >= 4:
            boundsheets.append(struct.unpack_from("<I", body, 0)[0])
            if len(boundsheets) > MAX_SHEETS * 4:
                return Unreadable(msg.too_many_sheets(MAX_SHEETS * 4, at_least=True))
        elif kind == 0x00FC:
            segments, look = [body], pos
            while look + 4 <= n:
                follow, size = struct.unpack_from("<HH", stream, look)
                if follow != 0x003C:
                    break
                segments.append(stream[look + 4 : look + 4 + size])
                look += 4 + size
            strings = _string_lengths(segments)
        elif kind == 0x0200:
            declared = _dimensions(body)
            if isinstance(declared, Unreadable):
                return declared
            reserve = max(reserve, declared)
        elif kind in _CELL_RECORDS or kind == 0x00BD:
            if len(body) < 6:
                continue
            row, col = struct.unpack_from("<HH", body, 0)
            last = struct.unpack_from("<H", body, len(body) - 2)[0] if kind == 0x00BD else col
            if extent is None:
                extent = [row, col, row, max(col, last)]
            else:
                extent = [min(extent[0], row), min(extent[1], col), max(extent[2], row), max(extent[3], last)]
            if kind == 0x00FD and len(body) >= 10:
                index = struct.unpack_from("<I", body, 6)[0]
                if index < len(strings):
                    text += strings[index]
        if text > MAX_TEXT:
            return Unreadable(msg.TOO_MUCH_TEXT)
    if any(p not in sizes for p in boundsheets):
        return Unreadable(msg.MALFORMED)  # a sheet that points into the middle of something else
    if sum(sizes[p] for p in boundsheets) > MAX_BOOK_CELLS * 2:
        return Unreadable(msg.TOO_MANY_CELLS)
    return None


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
    if rows > MAX_ROWS_SEEN or rows * cols > MAX_CELLS:
        return Unreadable(msg.used_range_too_large(None, rows, cols))
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
