"""Hostile .xlsx and .xlsm files: sheet data with far cells, a million rows, deep nesting or unclosed
tags, huge and many merges, thousands of sheets, shared strings that lie, and formulas."""

from __future__ import annotations

import re
from collections.abc import Callable

from reliability.seeds import FORM_LABEL, Case, book_of, edit, many_rows_at, megabyte_at, seed


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


def row_xml(r: int, text: str) -> bytes:
    return f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{text}</t></is></c></row>'.encode()


FORM_ROW = row_xml(1, FORM_LABEL)


def with_rows(kind: str, rows: Callable[[], bytes] | None = None, extra: bytes = b"") -> bytes:
    """The seed with its first sheet's rows replaced by the form's label and `rows()` after it."""
    return with_sheet_data(kind, lambda: FORM_ROW + (rows() if rows else b""), extra)


def many_rows(n: int, with_r: bool) -> Callable[[], bytes]:
    """Rows 2 to `n`, each a number, with or without their `r` attributes."""

    def rows() -> bytes:
        if with_r:
            return b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (r, r) for r in range(2, n + 1))
        return b"<row><c><v>1</v></c></row>" * (n - 1)

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


def _xlsx_sheets(kind: str, count: int) -> bytes:
    from pbstats.gen.workbook import Cell, Grid, write_book

    book = book_of(seed("xlsx"))
    book.sheets += [Grid(f"S{i}", {(0, 0): Cell("x")}) for i in range(count)]
    return write_book(book, kind)


def _xlsx_many_merges(kind: str, count: int) -> bytes:
    merges = b"".join(b'<mergeCell ref="A%d:B%d"/>' % (r, r) for r in range(2, count + 2))
    return with_rows(kind, extra=b'<mergeCells count="%d">' % count + merges + b"</mergeCells>")


def _sst(count: bytes, items: bytes) -> bytes:
    """A shared-strings part that says it holds `count` strings, and holds the <si> `items`."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="%s" uniqueCount="%s">' % (count, count) + items + b"</sst>"
    )


def _shared_copies(kind: str, length: int, copies: int) -> bytes:
    """One shared string of `length` characters used by `copies` cells."""
    sst = _sst(
        b"2", b"<si><t>" + FORM_LABEL.encode() + b"</t></si><si><t>" + "长".encode() * length + b"</t></si>"
    )

    def rows() -> bytes:
        head = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        return head + b"".join(
            b'<row r="%d"><c r="A%d" t="s"><v>1</v></c></row>' % (r, r) for r in range(2, copies + 2)
        )

    return _add_sst(with_sheet_data(kind, rows), sst)


def _unless_shared(closing: bytes, element: bytes) -> Callable[[bytes], bytes]:
    """A change that puts `element` before `closing` in a part that does not name the shared strings yet."""
    return lambda xml: xml if b"sharedStrings" in xml else xml.replace(closing, element + closing)


def _add_sst(data: bytes, sst: bytes) -> bytes:
    """`data` with `sst` as its shared strings, declared in the content types and the workbook's rels."""
    types = _unless_shared(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>',
    )
    rels = _unless_shared(
        b"</Relationships>",
        b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>',
    )
    return edit(
        data, {"xl/sharedStrings.xml": sst, "[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels}
    )


def _sst_count_lie(kind: str) -> bytes:
    return _add_sst(seed(kind), _sst(b"99999999999", b"<si><t>x</t></si>"))


def _uncached_xlsx(kind: str) -> bytes:
    from tests.builders import make_return

    data = make_return(formulas={"01": "=50+10"})
    if kind == "xlsx":
        return data
    return edit(
        data, {"[Content_Types].xml": lambda x: x.replace(b"sheet.main+xml", b"sheet.macroEnabled.main+xml")}
    )


def cases(kind: str, size: float) -> list[Case]:
    """The hostile .xlsx or .xlsm files (`kind`); `size` scales the heavy ones."""
    big, mb = many_rows_at(size), megabyte_at(size)
    return [
        (
            "far-cell",
            lambda: with_rows(
                kind, lambda: row_xml(1048576, "x").replace(b'r="A1048576"', b'r="XFD1048576"')
            ),
        ),
        ("bad-cell-ref", lambda: with_sheet_data(kind, lambda: FORM_ROW.replace(b'r="A1"', b'r="ZZZZZZ1"'))),
        ("million-rows", lambda: with_rows(kind, many_rows(big, True))),
        ("million-rows-no-ref", lambda: with_rows(kind, many_rows(big, False))),
        ("thousands-of-sheets", lambda: _xlsx_sheets(kind, int(3000 * max(size, 0.2)))),
        (
            "huge-merge",
            lambda: with_rows(
                kind, extra=b'<mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>'
            ),
        ),
        ("many-merges", lambda: _xlsx_many_merges(kind, int(200_000 * max(size, 0.1)))),
        ("megabyte-cell", lambda: with_rows(kind, lambda: row_xml(2, "长" * mb))),
        ("shared-string-copies", lambda: _shared_copies(kind, mb, 3000)),
        ("sst-count-lie", lambda: _sst_count_lie(kind)),
        ("formulas", lambda: xlsx_formulas(kind)),
        ("uncached-formula", lambda: _uncached_xlsx(kind)),
        ("deep-nesting", lambda: with_rows(kind, lambda: b"<x>" * 200_000 + b"</x>" * 200_000)),
        ("unclosed-tags", lambda: with_rows(kind, lambda: b'<c r="A2"' * 300_000)),
    ]
