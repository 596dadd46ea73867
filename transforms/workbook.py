"""Bytes → sheets of cached values (forms.md §1, §3, §6 E-FILE), with the guards decided before unpacking.

python-calamine reads every kind fast but cannot tell a formula with no cached value from a blank
cell; for the zip kinds we find those cells in the sheet XML ourselves.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from posixpath import dirname, join, normpath

from schemas.forms import MAX_FILE_BYTES, MAX_SHEET_ROWS, MAX_UNPACKED_BYTES, SPREADSHEET_SUFFIXES

from .model import Sheet, Workbook

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MAX_SHEETS = 255
MAX_CELLS = 2_000_000  # per sheet, what we copy out of calamine at most


@dataclass(frozen=True)
class Unreadable:
    """Why a file is not a readable spreadsheet, in Chinese for the submitter (E-FILE)."""

    reason: str


def suffix_of(file_name: str) -> str:
    dot = file_name.rfind(".")
    return file_name[dot:].lower() if dot >= 0 else ""


def guard(data: bytes, file_name: str) -> Unreadable | None:
    """The E-FILE checks that need no unpacking: kind, size, packing, encryption."""
    suffix = suffix_of(file_name)
    if suffix not in SPREADSHEET_SUFFIXES:
        shown = suffix or "无扩展名"
        return Unreadable(f"文件类型“{shown}”不是电子表格，请使用 .xlsx、.xlsm、.xls 或 .ods 格式报送")
    if not data:
        return Unreadable("文件为空（0 字节），请重新导出后报送")
    if len(data) > MAX_FILE_BYTES:
        return Unreadable(f"文件大小 {len(data) / 1048576:.1f} MB，超过 20 MB 的上限，请删除无关内容后报送")
    if data.startswith(OLE_MAGIC):
        if (
            suffix != ".xls"
            or b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data
        ):
            return Unreadable("文件设置了打开密码（已加密），请取消密码后重新报送")
        return None
    if suffix == ".xls":
        return Unreadable("文件内容不是 Excel 97-2003 (.xls) 格式，可能已损坏或被改了扩展名")
    if not data.startswith(ZIP_MAGIC):
        return Unreadable("文件已损坏或不是电子表格（无法识别的文件内容），请重新导出后报送")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if any(i.flag_bits & 0x1 for i in infos):
                return Unreadable("文件设置了密码（已加密），请取消密码后重新报送")
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                return Unreadable(
                    f"文件解压后达 {unpacked / 1048576:.0f} MB，超过 100 MB 的上限，请删除无关内容后报送"
                )
            if zf.testzip() is not None:
                return Unreadable("文件已损坏（压缩包校验失败），请重新导出后报送")
            if suffix in (".xlsx", ".xlsm"):
                too_big = _oversized_sheet(zf)
                if too_big:
                    return Unreadable(too_big)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return Unreadable("文件已损坏（无法解压），请重新导出后报送")
    return None


_ANY_REF_RE = re.compile(rb"<(?:\w+:)?(?:c|row)\b[^>]*?\br=\"([A-Z]{0,3})(\d+)\"")


def _oversized_sheet(zf: zipfile.ZipFile) -> str | None:
    """A sheet whose used area is beyond any return. calamine allocates the whole rectangle from A1
    to the last cell, so a cell at XFD1048576 in a 17 KB file would take the process down."""
    try:
        parts = _sheet_parts(zf)
    except (KeyError, ValueError):
        return None  # not a workbook calamine can open either; it will say so
    for name, part in parts.items():
        try:
            xml = zf.read(part)
        except KeyError:
            continue
        rows = cols = 0
        for letters, digits in _ANY_REF_RE.findall(xml):
            rows = max(rows, int(digits))
            if letters:
                cols = max(cols, _col_index(letters) + 1)
        if rows > MAX_SHEET_ROWS * 10 or rows * max(cols, 1) > MAX_CELLS:
            return f"工作表“{name}”的使用范围达 {rows} 行 × {cols} 列，远超报表的规模，请删除无关内容后报送"
    return None


def read_workbook(data: bytes, file_name: str) -> Workbook | Unreadable:
    """Every sheet as rows of cached values; never raises for bad bytes."""
    bad = guard(data, file_name)
    if bad:
        return bad
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(book.sheet_names)[:MAX_SHEETS]
        sheets = []
        for name in names:
            raw = book.get_sheet_by_name(name)
            if raw.height > MAX_SHEET_ROWS * 10 or raw.height * max(raw.width, 1) > MAX_CELLS:
                return Unreadable(
                    f"工作表“{name}”的使用范围达 {raw.height} 行 × {raw.width} 列，远超报表的规模，请删除无关内容后报送"
                )
            rows = raw.to_python(skip_empty_area=False)
            merged = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in (raw.merged_cell_ranges or [])]
            sheets.append(
                Sheet(name=name, rows=[list(r) for r in rows], merged=merged, total_rows=raw.height)
            )
    except Exception as e:  # calamine raises plain errors for any bad content
        text = str(e).lower()
        if "password" in text or "encrypt" in text:
            return Unreadable("文件设置了密码（已加密），请取消密码后重新报送")
        return Unreadable(f"文件已损坏，无法读取（{str(e)[:80]}），请重新导出后报送")
    if not any(any(v not in (None, "") for v in row) for s in sheets for row in s.rows):
        return Unreadable("文件中没有任何内容（所有工作表都是空的）")
    if suffix_of(file_name) in (".xlsx", ".xlsm"):
        _mark_uncached_formulas(data, sheets)
    return Workbook(sheets=sheets)


_SHEET_RE = re.compile(rb"<(?:\w+:)?sheet\b[^>]*?\bname=\"([^\"]*)\"[^>]*?\br:id=\"([^\"]*)\"", re.S)
_SHEET_RE_ALT = re.compile(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]*)\"[^>]*?\bname=\"([^\"]*)\"", re.S)
_REL_RE = re.compile(rb"<Relationship\b[^>]*?\bId=\"([^\"]*)\"[^>]*?\bTarget=\"([^\"]*)\"", re.S)
_REL_RE_ALT = re.compile(rb"<Relationship\b[^>]*?\bTarget=\"([^\"]*)\"[^>]*?\bId=\"([^\"]*)\"", re.S)
_CELL_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF_RE = re.compile(rb"\br=\"([A-Z]{1,3})(\d+)\"")
_V_RE = re.compile(rb"<(?:\w+:)?v>[^<]", re.S)
_F_RE = re.compile(rb"<(?:\w+:)?f\b")


def _xml_unescape(b: bytes) -> str:
    s = b.decode("utf-8", "replace")
    return (
        s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → part path inside the package, from workbook.xml and its rels."""
    book = zf.read("xl/workbook.xml")
    rels = zf.read("xl/_rels/workbook.xml.rels")
    targets = {i: t for i, t in _REL_RE.findall(rels)} | {i: t for t, i in _REL_RE_ALT.findall(rels)}
    pairs = {(n, i) for n, i in _SHEET_RE.findall(book)} | {(n, i) for i, n in _SHEET_RE_ALT.findall(book)}
    parts = {}
    for name, rid in pairs:
        target = targets.get(rid)
        if target is None:
            continue
        t = target.decode()
        parts[_xml_unescape(name)] = (
            t.lstrip("/") if t.startswith("/") else normpath(join(dirname("xl/workbook.xml"), t))
        )
    return parts


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


def _mark_uncached_formulas(data: bytes, sheets: list[Sheet]) -> None:
    """Find `<c><f>…</f></c>` cells with no `<v>` (formulas Excel never calculated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = _sheet_parts(zf)
            for sheet in sheets:
                part = parts.get(sheet.name)
                if part is None:
                    continue
                xml = zf.read(part)
                if not _F_RE.search(xml):
                    continue
                for attrs, body in _CELL_RE.findall(xml):
                    if body and _F_RE.search(body) and not _V_RE.search(body):
                        ref = _REF_RE.search(attrs)
                        if ref:
                            sheet.uncached_formulas.add((int(ref.group(2)) - 1, _col_index(ref.group(1))))
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return  # calamine read it; without the parts we simply cannot tell, values stand as read
