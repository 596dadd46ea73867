"""Hostile and broken spreadsheet files, made by code: for every reader kind (.xlsx, .xlsm, .xls,
.ods) the seeds (real returns), the named hostile cases, and a mutator for fuzzing.

Each maker returns the bytes of one file; `size` scales the heavy ones (1 = full size, as in the
reliability run; the test-suite uses smaller ones where the point survives the scaling).
"""

from __future__ import annotations

import io
import random
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

KINDS = ("xlsx", "xlsm", "xls", "ods")
ZIP_KINDS = ("xlsx", "xlsm", "ods")
MOBILE = "13912345678"
RESIDENT_ID = "11010519491231002X"


@dataclass(frozen=True)
class Hostile:
    """One hostile file: a name for the test id, the file's name in the inbox, and how to make it."""

    case: str
    kind: str
    make: Callable[[], bytes]

    @property
    def file_name(self) -> str:
        return f"{self.case}.{self.kind}"


# --- seeds: a real return in every kind -----------------------------------------------------------


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


def xlsx_sheet(data: bytes) -> str:
    return "xl/worksheets/sheet1.xml"


def with_sheet_data(kind: str, rows_xml: Callable[[], bytes], extra: bytes = b"") -> bytes:
    """The seed with its first sheet's <sheetData> replaced (and `extra` after it, e.g. mergeCells)."""

    def change(xml: bytes) -> bytes:
        head, rest = xml.split(b"<sheetData>", 1)
        tail = rest.split(b"</sheetData>", 1)[1]
        tail = re.sub(rb"<mergeCells.*?</mergeCells>", b"", tail, flags=re.S)
        return head + b"<sheetData>" + rows_xml() + b"</sheetData>" + extra + tail

    return edit(seed(kind), {xlsx_sheet(seed(kind)): change})


def ods_content(tables: bytes) -> bytes:
    """A minimal .ods whose spreadsheet body is `tables` (raw table:table elements)."""
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b"<office:body><office:spreadsheet>" + tables + b"</office:spreadsheet></office:body>"
        b"</office:document-content>"
    )
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        b'<manifest:file-entry manifest:full-path="/" '
        b'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        b"</manifest:manifest>"
    )
    return rezip(
        {
            "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": content,
            "META-INF/manifest.xml": manifest,
        }
    )


def ods_cell(text: str) -> bytes:
    return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'.encode()


ODS_HEAD = b"<table:table-row>" + ods_cell("表号：DJ-1") + b"</table:table-row>"


# --- .xls (BIFF8 in a compound file) --------------------------------------------------------------


def xls(cells: dict[tuple[int, int], object], sheets: int = 1, merges=()) -> bytearray:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for index in range(sheets):
        sheet = book.add_sheet(f"S{index}" if index else "DJ")
        if index == 0:
            for (r, c), v in cells.items():
                sheet.write(r, c, v)
            for r0, r1, c0, c1 in merges:
                sheet.merge(r0, r1, c0, c1)
    out = io.BytesIO()
    book.save(out)
    return bytearray(out.getvalue())


def patch_record(data: bytearray, kind: int, match: bytes, body: bytes) -> bytearray:
    """Overwrite the body of the first BIFF record of `kind` whose body starts with `match`."""
    at = data.find(struct.pack("<HH", kind, len(body)) + match)
    assert at >= 0, hex(kind)
    data[at + 4 : at + 4 + len(body)] = body
    return data


def xls_far_cell(row: int, col: int) -> bytes:
    data = xls({(0, 0): "表号：DJ-1", (5, 5): 12345.678})  # not an RK number: a NUMBER record
    at = data.find(b"\x03\x02\x0e\x00\x05\x00\x05\x00")
    data[at + 4 : at + 8] = struct.pack("<HH", row, col)
    return bytes(data)


def xls_huge_merge() -> bytes:
    data = xls({(0, 0): "表号：DJ-1"}, merges=[(0, 1, 0, 1)])
    return bytes(patch_record(data, 0x00E5, b"\x01\x00", struct.pack("<HHHHH", 1, 0, 65535, 0, 255)))


def xls_dimensions(rf: int, rl: int, cf: int, cl: int) -> bytes:
    data = xls({(0, 0): "表号：DJ-1"})
    at = data.find(b"\x00\x02\x0e\x00")
    data[at + 4 : at + 18] = struct.pack("<IIHHH", rf, rl, cf, cl, 0)
    return bytes(data)


def xls_shared_string_copies(length: int, copies: int) -> bytes:
    """One long shared string, and `copies` LABELSST cells that each get their own copy of it."""
    from pbstats.transforms.xls import ole_stream

    data = bytes(xls({(0, 0): "表号：DJ-1", (1, 0): "长" * length}))
    stream = ole_stream(data, ("Workbook",))
    assert stream is not None
    at = stream.find(b"\xfd\x00\x0a\x00\x01\x00\x00\x00")
    record = stream[at : at + 14]
    clones = b"".join(
        record[:4] + struct.pack("<HH", 2 + i // 200, i % 200) + record[8:] for i in range(copies)
    )
    return compound_file({"Workbook": stream[: at + 14] + clones + stream[at + 14 :]})


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal compound file (512-byte sectors) holding each stream (padded to 4096 bytes)."""
    size = 512
    sectors: list[bytes] = []
    entries: list[tuple[str, int, int, int]] = []  # name, type, start, size
    for name, body in streams.items():
        body = body + b"\0" * max(0, 4096 - len(body))
        start = len(sectors)
        for i in range(0, len(body), size):
            sectors.append(body[i : i + size].ljust(size, b"\0"))
        entries.append((name, 2, start, len(body)))
    chains = []
    start = 0
    for _, _, first, length in entries:
        count = (length + size - 1) // size
        chains.append((first, count))
    dir_start = len(sectors)
    directory = _dir_entry("Root Entry", 5, 0xFFFFFFFE, 0, child=1)
    for i, (name, kind, first, length) in enumerate(entries):
        directory += _dir_entry(
            name, kind, first, length, right=i + 2 if i + 1 < len(entries) else 0xFFFFFFFF
        )
    directory = directory.ljust((len(directory) + size - 1) // size * size, b"\0")
    dir_count = len(directory) // size
    for i in range(dir_count):
        sectors.append(directory[i * size : (i + 1) * size])
    total = len(sectors)
    per_fat = size // 4
    fat_count = (total + per_fat) // per_fat + 1
    fat = [0xFFFFFFFF] * (fat_count * per_fat)
    for first, count in chains:
        for s in range(first, first + count):
            fat[s] = s + 1 if s + 1 < first + count else 0xFFFFFFFE
    for s in range(dir_start, dir_start + dir_count):
        fat[s] = s + 1 if s + 1 < dir_start + dir_count else 0xFFFFFFFE
    fat_start = total
    for i in range(fat_count):
        fat[fat_start + i] = 0xFFFFFFFD
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, fat_count, dir_start, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    difat = [fat_start + i for i in range(fat_count)] + [0xFFFFFFFF] * (109 - fat_count)
    struct.pack_into("<109I", header, 76, *difat)
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    return bytes(header) + b"".join(sectors) + fat_bytes


def _dir_entry(name: str, kind: int, start: int, size: int, child: int = 0xFFFFFFFF, right: int = 0xFFFFFFFF):
    raw = name.encode("utf-16-le") + b"\0\0"
    entry = bytearray(128)
    entry[: len(raw)] = raw
    struct.pack_into("<HBB", entry, 64, len(raw), kind, 1)
    struct.pack_into("<III", entry, 68, 0xFFFFFFFF, right, child)
    struct.pack_into("<IQ", entry, 116, start, size)
    return bytes(entry)


# --- zip bombs ------------------------------------------------------------------------------------


def lying_zip(kind: str, real_size: int) -> bytes:
    """The seed with its sheet part replaced by a deflate stream that unpacks to `real_size` bytes of
    XML while the zip's headers say it unpacks to 2 KB."""
    parts = members(seed(kind))
    target = "content.xml" if kind == "ods" else "xl/worksheets/sheet1.xml"
    small = parts[target][:2048]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, part in parts.items():
            archive.writestr(name, small if name == target else part)
    data = bytearray(out.getvalue())
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = squeeze.compress(small + b" " * real_size) + squeeze.flush()
    # rebuild the member with the bomb as its data, keeping the declared sizes and CRC of `small`
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(target)
    local = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_len + extra_len
    end = start + info.compress_size
    shift = len(bomb) - info.compress_size
    rebuilt = data[:start] + bomb + data[end:]
    struct.pack_into("<I", rebuilt, local + 18, len(bomb))
    cd = rebuilt.rfind(b"PK\x05\x06")
    cd_start = struct.unpack_from("<I", rebuilt, cd + 16)[0] + shift
    struct.pack_into("<I", rebuilt, cd + 16, cd_start)
    pos = cd_start
    while rebuilt[pos : pos + 4] == b"PK\x01\x02":
        n, e, c = struct.unpack_from("<HHH", rebuilt, pos + 28)
        name = bytes(rebuilt[pos + 46 : pos + 46 + n]).decode()
        offset = struct.unpack_from("<I", rebuilt, pos + 42)[0]
        if name == target:
            struct.pack_into("<I", rebuilt, pos + 20, len(bomb))
        elif offset > local:
            struct.pack_into("<I", rebuilt, pos + 42, offset + shift)
        pos += 46 + n + e + c
    return bytes(rebuilt)


def overlapping_zip(kind: str, copies: int) -> bytes:
    """Many central-directory entries that all point at one member's data (Fifield's non-recursive
    zip bomb layout): declared sizes add up to far more than the file holds."""
    parts = members(seed(kind))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, part in parts.items():
            archive.writestr(name, part)
        archive.writestr("xl/media/big.xml", b"<x>" + b" " * (4 << 20) + b"</x>")
    data = out.getvalue()
    end = data.rfind(b"PK\x05\x06")
    count, cd_size, cd_start = struct.unpack_from("<HII", data, end + 10)
    directory = data[cd_start : cd_start + cd_size]
    entry = directory[directory.rfind(b"PK\x01\x02") :]
    name = b"xl/media/big.xml"
    clones = b"".join(entry.replace(name, f"xl/media/c{i:04d}.x".encode(), 1) for i in range(copies))
    tail = bytearray(data[end:])
    struct.pack_into("<HHII", tail, 8, count + copies, count + copies, cd_size + len(clones), cd_start)
    return data[:cd_start] + directory + clones + bytes(tail)


def nested_zip(kind: str) -> bytes:
    """A zip bomb inside the workbook as an embedded object: never unpacked by a reader."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for i in range(10):
            archive.writestr(f"layer{i}.bin", b"\0" * (10 << 20))
    name = "Object 1/bomb.zip" if kind == "ods" else "xl/embeddings/bomb.zip"
    return edit(seed(kind), {name: inner.getvalue()})


def ratio_bomb(kind: str) -> bytes:
    """A member of ~95 MB of nothing that packs to ~100 KB (under the unpacked limit)."""
    name = "Thumbnails/thumbnail.png" if kind == "ods" else "xl/media/image1.png"
    parts = members(seed(kind))
    parts[name] = b"\0" * (95 << 20)
    return rezip(parts, level=9)


# --- XML ------------------------------------------------------------------------------------------

LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]>"
)
XXE = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def with_doctype(xml: bytes, doctype: bytes, text_at: bytes, entity: bytes) -> bytes:
    """`xml` with a DOCTYPE after its declaration and `entity` used where `text_at` stood."""
    decl_end = xml.find(b"?>") + 2 if xml.startswith(b"<?xml") else 0
    body = xml[decl_end:].replace(text_at, entity, 1)
    return xml[:decl_end] + doctype + body


def entity_bomb(kind: str, where: str, doctype: bytes = LAUGHS, entity: bytes = b"&lol9;") -> bytes:
    """An entity declared in a DOCTYPE and used: in sheet text (or ODS content), in the shared strings,
    in a sheet name (workbook.xml) or in a number format (styles.xml)."""
    parts = members(seed(kind))
    if kind == "ods":
        parts["content.xml"] = with_doctype(parts["content.xml"], doctype, "表号：DJ-1".encode(), entity)
        return rezip(parts)
    if where == "sst":
        from pbstats.gen.workbook import write_book

        parts = members(write_book(_shared(book_of(seed("xlsx"))), kind))
    target, anchor, used = {
        "sheet": (
            "xl/worksheets/sheet1.xml",
            b"</row>",
            b'<c r="H1" t="inlineStr"><is><t>' + entity + b"</t></is></c></row>",
        ),
        "sst": ("xl/sharedStrings.xml", b"</si>", b"<r><t>" + entity + b"</t></r></si>"),
        "workbook": ("xl/workbook.xml", b'name="DJ"', b'name="DJ' + entity + b'"'),
        "styles": (
            "xl/styles.xml",
            b"<fonts",
            b'<numFmts count="1"><numFmt numFmtId="200" formatCode="' + entity + b'"/></numFmts><fonts',
        ),
    }[where]
    xml = parts[target]
    assert anchor in xml, (where, anchor)
    parts[target] = with_doctype(xml, doctype, anchor, used)
    return rezip(parts)


def _shared(book):
    book.shared_strings = True
    return book


# --- the named cases --------------------------------------------------------------------------------


def row_xml(r: int, text: str) -> bytes:
    return f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{text}</t></is></c></row>'.encode()


def many_rows(n: int, with_r: bool) -> Callable[[], bytes]:
    def rows() -> bytes:
        head = row_xml(1, "表号：DJ-1")
        if with_r:
            body = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (r, r) for r in range(2, n + 1))
        else:
            body = b"<row><c><v>1</v></c></row>" * (n - 1)
        return head + body

    return rows


def xlsx_formulas(kind: str) -> bytes:
    """DDE and HYPERLINK formulas with cached values, the same as text, and a hyperlink part."""
    cells = (
        b'<c r="F6" t="str"><f>cmd|\' /C calc\'!A0</f><v>0</v></c>'
        b'<c r="F7" t="str"><f>HYPERLINK("http://x","y")</f><v>y</v></c>'
        b'<c r="F8" t="inlineStr"><is><t>=cmd|\' /C calc\'!A0</t></is></c>'
        b'<c r="F9" t="inlineStr"><is><t>=HYPERLINK("http://x","y")</t></is></c>'
        b'<c r="F10" t="str"><f>WEBSERVICE("http://x")</f></c>'
    )

    def change(xml: bytes) -> bytes:
        xml = re.sub(rb'<c r="F(6|7|8|9|10)"[^>]*?(/>|>.*?</c>)', b"", xml, flags=re.S)
        xml = xml.replace(b'<row r="6"', b'<row r="6"', 1)
        for r in range(6, 11):
            cell = re.search(rb'<c r="F%d".*?</c>' % r, cells).group(0)
            xml = re.sub(
                rb'(<row r="%d"[^>]*>)(.*?)(</row>)' % r,
                lambda m, c=cell: m.group(1) + m.group(2) + c + m.group(3),
                xml,
                count=1,
                flags=re.S,
            )
        link = (
            b'<hyperlinks><hyperlink ref="A1" r:id="rIdLink" '
            b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/></hyperlinks>'
        )
        return xml.replace(b"<pageMargins", link + b"<pageMargins", 1)

    rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rIdLink" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" '
        b'Target="http://x/" TargetMode="External"/></Relationships>'
    )
    return edit(seed(kind), {"xl/worksheets/sheet1.xml": change, "xl/worksheets/_rels/sheet1.xml.rels": rels})


def ods_formulas() -> bytes:
    row = (
        b"<table:table-row>"
        + ods_cell("表号：DJ-1")
        + b'<table:table-cell table:formula="msoxl:=cmd|\' /C calc\'!A0" office:value-type="float" office:value="0">'
        b"<text:p>0</text:p></table:table-cell>"
        b'<table:table-cell table:formula="of:=HYPERLINK(&quot;http://x&quot;;&quot;y&quot;)" office:value-type="string">'
        b"<text:p>y</text:p></table:table-cell>"
        b'<table:table-cell table:formula="of:=1+1"><text:p/></table:table-cell>'
        + ods_cell("=HYPERLINK(&quot;http://x&quot;;&quot;y&quot;)")
        + b"</table:table-row>"
    )
    return ods_content(b'<table:table table:name="DJ">' + row + b"</table:table>")


def xls_formulas() -> bytes:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("DJ")
    sheet.write(0, 0, "表号：DJ-1")
    sheet.write(1, 0, xlwt.Formula('HYPERLINK("http://x";"y")'))
    sheet.write(2, 0, "=cmd|' /C calc'!A0")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def hostile_cases(size: float = 1.0) -> list[Hostile]:
    """Every named hostile case on every reader kind it applies to; `size` scales the heavy ones."""
    big = max(int(1_000_000 * size), 20_000)
    mb = max(int((1 << 20) * size), 64 << 10)
    out: list[Hostile] = []

    def add(case: str, kind: str, make: Callable[[], bytes]) -> None:
        out.append(Hostile(case, kind, make))

    for kind in KINDS:
        data = seed(kind)
        add("truncated-half", kind, lambda d=data: d[: len(d) // 2])
        add("truncated-head", kind, lambda d=data: d[:700])
        add(
            "bitflipped", kind, lambda d=data: bytes(b ^ 0x5A if i % 97 == 13 else b for i, b in enumerate(d))
        )
        add("pii-number-as-count", kind, lambda k=kind: _pii_return(k))
    for kind in ZIP_KINDS:
        add("zip-lying-sizes", kind, lambda k=kind: lying_zip(k, 300 << 20))
        add("zip-overlapping-entries", kind, lambda k=kind: overlapping_zip(k, 40))
        add("zip-nested", kind, lambda k=kind: nested_zip(k))
        add("zip-ratio", kind, lambda k=kind: ratio_bomb(k))
        add("entity-bomb", kind, lambda k=kind: entity_bomb(k, "sheet"))
        add("external-entity", kind, lambda k=kind: entity_bomb(k, "sheet", XXE, b"&xxe;"))
    for kind in ("xlsx", "xlsm"):
        add("entity-bomb-sst", kind, lambda k=kind: entity_bomb(k, "sst"))
        add("entity-bomb-workbook", kind, lambda k=kind: entity_bomb(k, "workbook"))
        add("entity-bomb-styles", kind, lambda k=kind: entity_bomb(k, "styles"))
        add(
            "far-cell",
            kind,
            lambda k=kind: with_sheet_data(
                k,
                lambda: (
                    row_xml(1, "表号：DJ-1")
                    + row_xml(1048576, "x").replace(b'r="A1048576"', b'r="XFD1048576"')
                ),
            ),
        )
        add(
            "bad-cell-ref",
            kind,
            lambda k=kind: with_sheet_data(
                k, lambda: row_xml(1, "表号：DJ-1").replace(b'r="A1"', b'r="ZZZZZZ1"')
            ),
        )
        add("million-rows", kind, lambda k=kind: with_sheet_data(k, many_rows(big, True)))
        add("million-rows-no-ref", kind, lambda k=kind: with_sheet_data(k, many_rows(big, False)))
        add("thousands-of-sheets", kind, lambda k=kind: _xlsx_sheets(k, int(3000 * max(size, 0.2))))
        add(
            "huge-merge",
            kind,
            lambda k=kind: with_sheet_data(
                k,
                lambda: row_xml(1, "表号：DJ-1"),
                b'<mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>',
            ),
        )
        add("many-merges", kind, lambda k=kind: _xlsx_many_merges(k, int(200_000 * max(size, 0.1))))
        add(
            "megabyte-cell",
            kind,
            lambda k=kind: with_sheet_data(k, lambda: row_xml(1, "表号：DJ-1") + row_xml(2, "长" * mb)),
        )
        add("shared-string-copies", kind, lambda k=kind: _shared_copies(k, mb, 3000))
        add("sst-count-lie", kind, lambda k=kind: _sst_count_lie(k))
        add("formulas", kind, lambda k=kind: xlsx_formulas(k))
        add("uncached-formula", kind, lambda k=kind: _uncached_xlsx(k))
        add(
            "deep-nesting",
            kind,
            lambda k=kind: with_sheet_data(
                k, lambda: row_xml(1, "表号：DJ-1") + b"<x>" * 200_000 + b"</x>" * 200_000
            ),
        )
        add(
            "unclosed-tags",
            kind,
            lambda k=kind: with_sheet_data(k, lambda: row_xml(1, "表号：DJ-1") + b'<c r="A2"' * 300_000),
        )
    add("far-cell", "xls", lambda: xls_far_cell(65535, 255))
    add("far-column", "xls", lambda: xls_far_cell(65535, 65535))
    add("dimensions-lie", "xls", lambda: xls_dimensions(0, 0xFFFFFFFF, 0, 0xFF))
    add("dimensions-wrap", "xls", lambda: xls_dimensions(5, 2, 0, 10))
    add(
        "million-rows",
        "xls",
        lambda: bytes(
            xls({(0, 0): "表号：DJ-1", **{(r, 0): r for r in range(1, 65536, 1 if size >= 1 else 8)}})
        ),
    )
    add(
        "thousands-of-sheets",
        "xls",
        lambda: bytes(xls({(0, 0): "表号：DJ-1"}, sheets=int(3000 * max(size, 0.2)))),
    )
    add("huge-merge", "xls", lambda: xls_huge_merge())
    add("megabyte-cell", "xls", lambda: xls_shared_string_copies(32_000, 1))
    add(
        "shared-string-copies", "xls", lambda: xls_shared_string_copies(32_000, int(20_000 * max(size, 0.25)))
    )
    add("formulas", "xls", xls_formulas)
    add(
        "far-cell",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b'<table:table-row table:number-rows-repeated="1048000"><table:table-cell/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="16000"/>'
            + ods_cell("x")
            + b"</table:table-row></table:table>"
        ),
    )
    add(
        "repeated-content",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b'<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row></table:table>'
        ),
    )
    add(
        "million-rows",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b'<table:table-row table:number-rows-repeated="%d">' % big
            + ods_cell("1")
            + b"</table:table-row></table:table>"
        ),
    )
    add(
        "thousands-of-sheets",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b"</table:table>"
            + b"".join(
                b'<table:table table:name="S%d"><table:table-row>' % i
                + ods_cell("x")
                + b"</table:table-row></table:table>"
                for i in range(int(3000 * max(size, 0.2)))
            )
        ),
    )
    add(
        "huge-merge",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ"><table:table-row><table:table-cell table:number-rows-spanned="1048576" table:number-columns-spanned="16384" office:value-type="string"><text:p>'
            + "表号：DJ-1".encode()
            + b"</text:p></table:table-cell></table:table-row></table:table>"
        ),
    )
    add(
        "megabyte-cell",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b"<table:table-row>"
            + ods_cell("长" * mb)
            + b"</table:table-row></table:table>"
        ),
    )
    add(
        "megabyte-cell-repeated",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b'<table:table-row table:number-rows-repeated="100"><table:table-cell table:number-columns-repeated="10000" office:value-type="string"><text:p>'
            + "长".encode() * mb
            + b"</text:p></table:table-cell></table:table-row></table:table>"
        ),
    )
    add(
        "bad-repeat",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ">'
            + ODS_HEAD
            + b'<table:table-row table:number-rows-repeated="-5">'
            + ods_cell("x")
            + b"</table:table-row></table:table>"
        ),
    )
    add("formulas", "ods", ods_formulas)
    # calamine reads an unclosed table, row or cell to the end of the part and then loops for ever
    add("unclosed-table", "ods", lambda: ods_content(b'<table:table table:name="DJ">' + ODS_HEAD))
    add(
        "unclosed-row",
        "ods",
        lambda: ods_content(
            b'<table:table table:name="DJ"><table:table-row>' + ods_cell("x") + b"</table:table>"
        ),
    )
    add(
        "encrypted",
        "ods",
        lambda: edit(
            seed("ods"),
            {
                "META-INF/manifest.xml": lambda m: m.replace(
                    b"</manifest:file-entry>", b"<manifest:encryption-data/></manifest:file-entry>"
                ).replace(
                    b'manifest:media-type="text/xml"/>',
                    b'manifest:media-type="text/xml"><manifest:encryption-data manifest:checksum="x"/></manifest:file-entry>',
                    1,
                )
            },
        ),
    )
    add("ole-loop", "xls", lambda: _ole_loop())
    return out


def _pii_return(kind: str) -> bytes:
    from pbstats.gen.workbook import write_book
    from tests.builders import make_return

    xlsx = make_return(values={"01": int(MOBILE)}, notes={"02": f"书记身份证{RESIDENT_ID}"})
    return xlsx if kind == "xlsx" else write_book(book_of(xlsx), kind)


def _xlsx_sheets(kind: str, count: int) -> bytes:
    from pbstats.gen.workbook import Cell, Grid, write_book

    book = book_of(seed("xlsx"))
    book.sheets += [Grid(f"S{i}", {(0, 0): Cell("x")}) for i in range(count)]
    return write_book(book, kind)


def _xlsx_many_merges(kind: str, count: int) -> bytes:
    merges = b"".join(b'<mergeCell ref="A%d:B%d"/>' % (r, r) for r in range(2, count + 2))
    return with_sheet_data(
        kind,
        lambda: row_xml(1, "表号：DJ-1"),
        b'<mergeCells count="%d">' % count + merges + b"</mergeCells>",
    )


def _shared_copies(kind: str, length: int, copies: int) -> bytes:
    """One shared string of `length` characters used by `copies` cells."""
    sst = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="2" uniqueCount="2"><si><t>\xe8\xa1\xa8\xe5\x8f\xb7\xef\xbc\x9aDJ-1</t></si><si><t>'
        + "长".encode() * length
        + b"</t></si></sst>"
    )

    def rows() -> bytes:
        head = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        return head + b"".join(
            b'<row r="%d"><c r="A%d" t="s"><v>1</v></c></row>' % (r, r) for r in range(2, copies + 2)
        )

    data = with_sheet_data(kind, rows)
    return _add_sst(data, sst)


def _add_sst(data: bytes, sst: bytes) -> bytes:
    def types(xml: bytes) -> bytes:
        if b"sharedStrings" in xml:
            return xml
        return xml.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )

    def rels(xml: bytes) -> bytes:
        if b"sharedStrings" in xml:
            return xml
        return xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )

    return edit(
        data, {"xl/sharedStrings.xml": sst, "[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels}
    )


def _sst_count_lie(kind: str) -> bytes:
    sst = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="99999999999" uniqueCount="99999999999"><si><t>x</t></si></sst>'
    )
    return _add_sst(seed(kind), sst)


def _uncached_xlsx(kind: str) -> bytes:
    from tests.builders import make_return

    data = make_return(formulas={"01": "=50+10"})
    if kind == "xlsx":
        return data
    return edit(
        data, {"[Content_Types].xml": lambda x: x.replace(b"sheet.main+xml", b"sheet.macroEnabled.main+xml")}
    )


def _ole_loop() -> bytes:
    """A compound file whose FAT chain for the directory points back at itself."""
    data = bytearray(seed("xls"))
    first_dir = struct.unpack_from("<I", data, 48)[0]
    fat_sector = struct.unpack_from("<I", data, 76)[0]
    struct.pack_into("<I", data, 512 + fat_sector * 512 + first_dir * 4, first_dir)
    return bytes(data)


# --- fuzzing --------------------------------------------------------------------------------------

_NUMBER = re.compile(rb'="(\d{1,9})"')


def mutate(data: bytes, kind: str, rng: random.Random, steps: int = 3) -> bytes:
    """`data` changed a few times: raw bytes (truncation, bit flips, spliced or repeated spans), or for
    a zip kind inside one unpacked part (so that the parsers, not the zip checks, see the damage)."""
    if kind in ZIP_KINDS and rng.random() < 0.6:
        try:
            parts = members(data)
        except Exception:
            parts = {}
        if parts:
            name = rng.choice(sorted(parts))
            for _ in range(steps):
                parts[name] = (
                    _mutate_xml(parts[name], rng) if rng.random() < 0.5 else _mutate_raw(parts[name], rng)
                )
            return rezip(parts)
    for _ in range(steps):
        data = _mutate_raw(data, rng)
    return data


def _mutate_raw(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    op = rng.randrange(6)
    at = rng.randrange(len(data))
    if op == 0:
        return data[:at]
    if op == 1:
        out = bytearray(data)
        for _ in range(rng.randrange(1, 9)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 2:
        span = data[at : at + rng.randrange(1, 512)]
        return data[:at] + span * rng.randrange(2, 40) + data[at:]
    if op == 3:
        return data[:at] + data[at + rng.randrange(1, 256) :]
    if op == 4:  # a 16- or 32-bit field made extreme (BIFF record fields, zip header fields)
        out = bytearray(data)
        width = rng.choice((2, 4))
        if at + width <= len(out):
            out[at : at + width] = rng.choice(
                (b"\xff" * width, b"\x00" * width, b"\x7f" + b"\xff" * (width - 1))
            )
        return bytes(out)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))) + data[at:]


def _mutate_xml(xml: bytes, rng: random.Random) -> bytes:
    numbers = list(_NUMBER.finditer(xml))
    op = rng.randrange(4)
    if op == 0 and numbers:  # an attribute number (r, count, repeats, spans) made huge, zero or negative
        m = rng.choice(numbers)
        value = rng.choice(
            (b"0", b"-1", b"1048576", b"16384", b"99999999", b"4294967295", b"18446744073709551616")
        )
        return xml[: m.start(1)] + value + xml[m.end(1) :]
    if op == 1:  # a cell reference moved far away
        return re.sub(
            rb'r="([A-Z]+)(\d+)"',
            lambda m: rng.choice((b'r="XFD1048576"', b'r="A0"', b'r="ZZZZ1"', m.group(0))),
            xml,
            count=rng.randrange(1, 4),
        )
    if op == 2:  # an element duplicated many times
        tags = [m.start() for m in re.finditer(rb"<[A-Za-z]", xml)]
        if tags:
            start = rng.choice(tags)
            end = xml.find(b">", start) + 1
            return xml[:end] + xml[start:end] * rng.randrange(2, 2000) + xml[end:]
    return _mutate_raw(xml, rng)
