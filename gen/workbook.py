"""Workbooks as plain data (sheets of cells) and the writers that turn them into file bytes.

A `Book` is what a submitter's spreadsheet holds; `write_book` renders it as .xlsx, .xlsm, .xls
or .ods. Output is deterministic: zip members carry the book's own save time, never the clock.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from xml.sax.saxutils import escape

from pbstats.transforms.layout import Cell, CellError, CellValue, Grid

# the error values of the binary format (MS-XLS BErr); an .xls can carry no other
XLS_ERROR_CODES = {
    "#NULL!": 0x00,
    "#DIV/0!": 0x07,
    "#VALUE!": 0x0F,
    "#REF!": 0x17,
    "#NAME?": 0x1D,
    "#NUM!": 0x24,
    "#N/A": 0x2A,
}

DATE_FORMAT = 'yyyy"年"m"月"d"日"'
XLSM_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


@dataclass
class Book:
    """A whole workbook: its sheets in tab order and who saved it when."""

    sheets: list[Grid]
    saved_at: datetime  # naive local time of the submitter's machine
    author: str = "Administrator"
    shared_strings: bool = False  # .xlsx/.xlsm: strings in a shared table, as Excel writes them


def write_book(book: Book, kind: str) -> bytes:
    """The file bytes of `book` as a spreadsheet of `kind` (xlsx, xlsm, xls, ods)."""
    if kind in ("xlsx", "xlsm"):
        return _write_xlsx(book, macro=kind == "xlsm")
    if kind == "xls":
        return _write_xls(book)
    if kind == "ods":
        return _write_ods(book)
    raise ValueError(f"not a spreadsheet kind: {kind}")


# ---------------------------------------------------------------- .xlsx / .xlsm (openpyxl + zip patch


def _write_xlsx(book: Book, *, macro: bool) -> bytes:
    import openpyxl
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    cached: dict[tuple[int, str], CellValue] = {}  # (sheet index, A1) -> cached formula result
    bulk: dict[int, Grid] = {}  # sheet index -> a large sheet of plain values, its XML written here
    for index, grid in enumerate(book.sheets):
        ws = wb.create_sheet(grid.name)
        if _plain_and_large(grid):
            bulk[index] = grid
        for (row, col), cell in sorted(grid.cells.items()) if index not in bulk else ():
            target = ws.cell(row=row + 1, column=col + 1)
            if cell.formula is not None:
                target.value = cell.formula
                if cell.value is not None:
                    cached[(index, target.coordinate)] = cell.value
            elif isinstance(cell.value, CellError):  # an error value typed as such (Excel takes "#N/A")
                target.value = cell.value.text
                target.data_type = "e"
            else:
                target.value = cell.value
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    target.data_type = "s"  # text that merely looks like a formula
                if isinstance(cell.value, date):
                    target.number_format = DATE_FORMAT
            if cell.bold:
                target.font = bold
        for r0, c0, r1, c1 in grid.merges:
            ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
        for col, width in sorted(grid.widths.items()):
            ws.column_dimensions[get_column_letter(col + 1)].width = width
    wb.properties.creator = book.author
    wb.properties.lastModifiedBy = book.author
    wb.properties.created = _utc(book.saved_at)
    buf = io.BytesIO()
    wb.save(buf)
    return _patch_xlsx(
        buf.getvalue(), cached, bulk, macro=macro, shared_strings=book.shared_strings, saved_at=book.saved_at
    )


BULK_CELLS = 5_000  # a sheet larger than this (an appendix) is written as XML here: openpyxl takes seconds


def _plain_and_large(grid: Grid) -> bool:
    return len(grid.cells) > BULK_CELLS and all(
        c.formula is None and not c.bold and isinstance(c.value, str | int | float)
        for c in grid.cells.values()
    )


def _sheet_data(grid: Grid, shared: Callable[[str], int] | None) -> tuple[str, str]:
    """The extent (A1:X99) and <sheetData> of a sheet of plain values, as openpyxl writes them (strings
    inline, or by their index in the shared table where `shared` gives one)."""
    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(c + 1) for c in range(1 + max(c for _, c in grid.cells))]
    texts: dict[str, str] = {}  # value -> its cell's content, for values repeated down a long sheet
    rows: dict[int, list[str]] = {}
    for (row, col), cell in sorted(grid.cells.items()):
        value = cell.value
        content = texts.get(value) if isinstance(value, str) else None
        if content is None and isinstance(value, str):
            escaped = escape(value)
            space = ' xml:space="preserve"' if value != value.strip() else ""
            content = (
                f' t="s"><v>{shared(escaped)}</v>'
                if shared
                else f' t="inlineStr"><is><t{space}>{escaped}</t></is>'
            )
            texts[value] = content
        elif content is None:
            content = f' t="n"><v>{_num(value)}</v>'  # type: ignore[arg-type]
        rows.setdefault(row, []).append(f'<c r="{letters[col]}{row + 1}"{content}</c>')
    body = "".join(f'<row r="{row + 1}">{"".join(cells)}</row>' for row, cells in rows.items())
    last_row = max(r for r, _ in grid.cells)
    return f"A1:{letters[-1]}{last_row + 1}", f"<sheetData>{body}</sheetData>"


_INLINE = re.compile(
    r'<c r="([A-Z]+\d+)"((?: s="\d+")?) t="inlineStr"><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>'
)


def _patch_xlsx(
    data: bytes,
    cached: dict[tuple[int, str], CellValue],
    bulk: dict[int, Grid],
    *,
    macro: bool,
    shared_strings: bool,
    saved_at: datetime,
) -> bytes:
    """Give formulas their cached values (openpyxl writes `<v />`), and optionally shared strings and
    the macro-enabled content type; re-zip with fixed member times."""
    src = zipfile.ZipFile(io.BytesIO(data))
    parts = {info.filename: src.read(info.filename) for info in src.infolist()}
    order = [info.filename for info in src.infolist()]
    strings: list[str] = []
    string_index: dict[str, int] = {}

    def shared(text: str) -> int:
        """The index of a string (as escaped in XML) in the shared table, added where new."""
        if text not in string_index:
            string_index[text] = len(strings)
            strings.append(text)
        return string_index[text]

    def to_shared(match: re.Match[str]) -> str:
        return f'<c r="{match.group(1)}"{match.group(2)} t="s"><v>{shared(match.group(3))}</v></c>'

    for name in order:
        m = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", name)
        if not m:
            continue
        xml = parts[name].decode("utf-8")
        index = int(m.group(1)) - 1
        if index in bulk:
            dimension, data = _sheet_data(bulk[index], shared if shared_strings else None)
            xml = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>', xml, count=1)
            xml = re.sub(r"<sheetData */>|<sheetData></sheetData>", lambda _, d=data: d, xml, count=1)
        for (sheet, ref), value in cached.items():
            if sheet == index:
                xml = re.sub(
                    rf'(<c r="{ref}"[^>]*>)<f>(.*?)</f>(?:<v */>|<v>\s*</v>)</c>',  # lxml writes <v></v>
                    lambda mm, v=value: _cached(mm.group(1), mm.group(2), v),
                    xml,
                    count=1,
                )
        if shared_strings:
            xml = _INLINE.sub(to_shared, xml)
        parts[name] = xml.encode("utf-8")
    if shared_strings and strings:
        items = "".join(f'<si><t xml:space="preserve">{s}</t></si>' for s in strings)
        parts["xl/sharedStrings.xml"] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
        ).encode()
        order.insert(order.index("xl/styles.xml"), "xl/sharedStrings.xml")
        types = parts["[Content_Types].xml"].decode()
        types = types.replace(
            "</Types>", f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}" /></Types>'
        )
        parts["[Content_Types].xml"] = types.encode()
        rels = parts["xl/_rels/workbook.xml.rels"].decode()
        rels = rels.replace(
            "</Relationships>",
            f'<Relationship Type="{SST_REL}" Target="sharedStrings.xml" Id="rIdSst1" /></Relationships>',
        )
        parts["xl/_rels/workbook.xml.rels"] = rels.encode()
    stamp = _utc(saved_at).strftime("%Y-%m-%dT%H:%M:%SZ")  # openpyxl stamps "modified" with the clock
    core = parts["docProps/core.xml"].decode()
    parts["docProps/core.xml"] = re.sub(r"(<dcterms:modified[^>]*>)[^<]*", rf"\g<1>{stamp}", core).encode()
    if macro:
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            XLSX_MAIN.encode(), XLSM_MAIN.encode()
        )
    return _zip(order, parts, saved_at)


def _utc(local: datetime) -> datetime:
    """A naive Beijing-time stamp as the naive UTC stamp that document properties hold."""
    return local - timedelta(hours=8)


def _cached(opening: str, formula: str, value: CellValue | CellError) -> str:
    """A formula cell with its cached result: a number, or an error value (`t="e"`, as Excel writes)."""
    if isinstance(value, CellError):
        return f'{opening[:-1]} t="e"><f>{formula}</f><v>{escape(value.text)}</v></c>'
    return f"{opening}<f>{formula}</f><v>{_num(value)}</v></c>"


def _num(value: CellValue) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"only numeric cached values are written, got {value!r}")
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))


def _zip(
    order: list[str], parts: dict[str, bytes], saved_at: datetime, *, stored: tuple[str, ...] = ()
) -> bytes:
    out = io.BytesIO()
    stamp = (saved_at.year, saved_at.month, saved_at.day, saved_at.hour, saved_at.minute, saved_at.second)
    with zipfile.ZipFile(out, "w") as zf:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, parts[name])
    return out.getvalue()


# ---------------------------------------------------------------- .xls (xlwt)


def _write_xls(book: Book) -> bytes:
    import xlwt
    from xlwt.CompoundDoc import XlsDoc

    plain, bold = xlwt.XFStyle(), xlwt.easyxf("font: bold on")
    dated = xlwt.easyxf(num_format_str=DATE_FORMAT)
    wb = xlwt.Workbook(encoding="utf-8")
    cached: dict[tuple[int, int, int], CellValue | CellError] = {}  # (sheet, row, col) -> formula result
    for index, grid in enumerate(book.sheets):
        ws = wb.add_sheet(grid.name, cell_overwrite_ok=True)
        anchors = {(r0, c0): (r1, c1) for r0, c0, r1, c1 in grid.merges}
        for (row, col), cell in sorted(grid.cells.items()):
            style = dated if isinstance(cell.value, date) else bold if cell.bold else plain
            value = "" if cell.value is None else cell.value
            if cell.formula is not None:
                value = xlwt.Formula(cell.formula.removeprefix("="))  # xlwt caches no result: patched in
                if cell.value is not None:
                    cached[(index, row, col)] = cell.value
            elif isinstance(value, CellError):
                raise ValueError("only a formula's cached result is written to .xls as an error value")
            if (row, col) in anchors:
                r1, c1 = anchors[(row, col)]
                ws.write_merge(row, r1, col, c1, value, style)
            else:
                ws.write(row, col, value, style)
        for col, width in sorted(grid.widths.items()):
            ws.col(col).width = int(width * 256)
    buf = io.BytesIO()
    XlsDoc().save(buf, _with_results(wb.get_biff_data(), cached))  # what `wb.save` does, patched first
    return buf.getvalue()


XLS_NO_RESULT = b"\x03\x00\x00\x00\x00\x00\xff\xff"  # what xlwt writes: the formula's result is blank


def _with_results(stream: bytes, cached: dict[tuple[int, int, int], CellValue | CellError]) -> bytes:
    """The BIFF stream with each FORMULA record's result set to the cached value (MS-XLS FormulaValue:
    a number as a double, an error as type 2 with its BErr code); a record keeps its length, so no
    offset in the stream moves."""
    out = bytearray(stream)
    pos, sheet = 0, -2  # the first BOF opens the workbook globals, each later one a sheet
    while pos + 4 <= len(out):
        kind, length = struct.unpack_from("<HH", out, pos)
        if kind == 0x0809:
            sheet += 1
        elif kind == 0x0006:
            row, col = struct.unpack_from("<HH", out, pos + 4)
            value = cached.get((sheet, row, col))
            if value is not None:
                assert out[pos + 10 : pos + 18] == XLS_NO_RESULT
                out[pos + 10 : pos + 18] = _xls_result(value)
        pos += 4 + length
    return bytes(out)


def _xls_result(value: CellValue | CellError) -> bytes:
    if isinstance(value, CellError):
        return bytes([2, 0, XLS_ERROR_CODES[value.text], 0, 0, 0, 0xFF, 0xFF])
    return struct.pack("<d", float(_num(value)))


# ---------------------------------------------------------------- .ods (odfpy)


_ods_ready = False


def _write_ods(book: Book) -> bytes:
    global _ods_ready
    if not _ods_ready:
        # odfpy declares more namespaces once a first document has been written in the process:
        # write a throwaway one so that every real file is declared alike (deterministic bytes)
        _ods_ready = True
        first = {(0, 0): Cell("x"), (1, 0): Cell(1, formula="=1")}  # a formula declares the "of" prefix
        _write_ods(Book([Grid("x", first, [(0, 0, 0, 1)])], datetime(2000, 1, 1)))
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import CoveredTableCell, Table, TableCell, TableColumn, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for grid in book.sheets:
        table = Table(name=grid.name)
        n_rows = 1 + max((r for r, _ in grid.cells), default=0)
        n_cols = 1 + max((c for _, c in grid.cells), default=0)
        for _, _, r1, c1 in grid.merges:
            n_rows, n_cols = max(n_rows, r1 + 1), max(n_cols, c1 + 1)
        table.addElement(TableColumn(numbercolumnsrepeated=n_cols))
        anchors = {(r0, c0): (r1 - r0 + 1, c1 - c0 + 1) for r0, c0, r1, c1 in grid.merges}
        covered = {
            (r, c)
            for r0, c0, r1, c1 in grid.merges
            for r in range(r0, r1 + 1)
            for c in range(c0, c1 + 1)
            if (r, c) != (r0, c0)
        }
        for row in range(n_rows):
            tr = TableRow()
            for col in range(n_cols):
                if (row, col) in covered:
                    tr.addElement(CoveredTableCell())
                    continue
                cell = grid.cells.get((row, col), Cell())
                attrs: dict[str, object] = {}
                if (row, col) in anchors:
                    attrs["numberrowsspanned"], attrs["numbercolumnsspanned"] = anchors[(row, col)]
                value = cell.value
                if cell.formula is not None:
                    attrs["formula"] = "of:" + cell.formula
                if value is None or value == "":
                    tc = TableCell(**attrs)
                elif isinstance(value, CellError):  # marked here, spelled as LibreOffice does below
                    tc = TableCell(valuetype="string", stringvalue=ODS_ERROR_MARK, **attrs)
                    tc.addElement(P(text=value.text))
                elif isinstance(value, str):
                    tc = TableCell(valuetype="string", **attrs)
                    tc.addElement(P(text=value))
                elif isinstance(value, date):
                    tc = TableCell(valuetype="date", datevalue=value.isoformat(), **attrs)
                    tc.addElement(P(text=f"{value.year}年{value.month}月{value.day}日"))
                else:
                    tc = TableCell(valuetype="float", value=value, **attrs)
                    tc.addElement(P(text=str(value)))
                tr.addElement(tc)
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    buf = io.BytesIO()
    doc.write(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    order = [info.filename for info in src.infolist()]
    parts = {name: src.read(name) for name in order}
    parts["content.xml"] = _ods_errors(parts["content.xml"])
    return _zip(order, parts, book.saved_at, stored=("mimetype",))


ODS_ERROR_MARK = "pbstats:error"
CALCEXT = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"


def _ods_errors(content: bytes) -> bytes:
    """A formula's error result as LibreOffice writes it (odfpy knows no calcext attribute): an empty
    string value typed `calcext:value-type="error"`, the error's text in the paragraph."""
    mark = f'office:string-value="{ODS_ERROR_MARK}"'.encode()
    if mark not in content:
        return content
    content = content.replace(mark, b'office:string-value="" calcext:value-type="error"')
    return content.replace(
        b"<office:document-content ", f'<office:document-content xmlns:calcext="{CALCEXT}" '.encode(), 1
    )


# ---------------------------------------------------------------- files that are not spreadsheets


def docx_bytes(paragraphs: list[str], saved_at: datetime) -> bytes:
    """A minimal Word document (the kind of file sent by mistake instead of the return)."""
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    parts = {
        "[Content_Types].xml": (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            b'<Default Extension="xml" ContentType="application/xml"/>'
            b'<Override PartName="/word/document.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            b"</Types>"
        ),
        "_rels/.rels": (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            b'officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body}</w:body></w:document>"
        ).encode(),
    }
    return _zip(list(parts), parts, saved_at)


def pdf_bytes(lines: list[str]) -> bytes:
    """A minimal one-page PDF (ASCII text only: the content does not matter, the kind does)."""
    text = " ".join(lines).encode("ascii", "replace").decode()
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
