"""Hostile .ods files: repeats and spans that claim a million rows or columns, megabyte cells,
thousands of tables, formulas, unclosed elements and encryption."""

from __future__ import annotations

from reliability.seeds import FORM_LABEL, Case, edit, many_rows_at, megabyte_at, rezip, seed


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


ODS_HEAD = b"<table:table-row>" + ods_cell(FORM_LABEL) + b"</table:table-row>"


def form_table(rest: bytes) -> bytes:
    """The form's table: its label's row, then `rest` (rows)."""
    return b'<table:table table:name="DJ">' + ODS_HEAD + rest + b"</table:table>"


def ods_formulas() -> bytes:
    row = (
        b"<table:table-row>"
        + ods_cell(FORM_LABEL)
        + b'<table:table-cell table:formula="msoxl:=cmd|\' /C calc\'!A0" office:value-type="float" office:value="0">'
        b"<text:p>0</text:p></table:table-cell>"
        b'<table:table-cell table:formula="of:=HYPERLINK(&quot;http://x&quot;;&quot;y&quot;)" office:value-type="string">'
        b"<text:p>y</text:p></table:table-cell>"
        b'<table:table-cell table:formula="of:=1+1"><text:p/></table:table-cell>'
        + ods_cell("=HYPERLINK(&quot;http://x&quot;;&quot;y&quot;)")
        + b"</table:table-row>"
    )
    return ods_content(b'<table:table table:name="DJ">' + row + b"</table:table>")


def _encrypted() -> bytes:
    """The seed with its manifest saying that its parts are encrypted."""
    return edit(
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
    )


def _far_cell() -> bytes:
    return ods_content(
        form_table(
            b'<table:table-row table:number-rows-repeated="1048000"><table:table-cell/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="16000"/>'
            + ods_cell("x")
            + b"</table:table-row>"
        )
    )


def _repeated_content() -> bytes:
    return ods_content(
        form_table(
            b'<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>'
        )
    )


def _million_rows(rows: int) -> bytes:
    return ods_content(
        form_table(
            b'<table:table-row table:number-rows-repeated="%d">' % rows
            + ods_cell("1")
            + b"</table:table-row>"
        )
    )


def _many_tables(count: int) -> bytes:
    return ods_content(
        form_table(b"")
        + b"".join(
            b'<table:table table:name="S%d"><table:table-row>' % i
            + ods_cell("x")
            + b"</table:table-row></table:table>"
            for i in range(count)
        )
    )


def _huge_merge() -> bytes:
    return ods_content(
        b'<table:table table:name="DJ"><table:table-row><table:table-cell table:number-rows-spanned="1048576" table:number-columns-spanned="16384" office:value-type="string"><text:p>'
        + FORM_LABEL.encode()
        + b"</text:p></table:table-cell></table:table-row></table:table>"
    )


def _megabyte_cell_repeated(length: int) -> bytes:
    return ods_content(
        form_table(
            b'<table:table-row table:number-rows-repeated="100"><table:table-cell table:number-columns-repeated="10000" office:value-type="string"><text:p>'
            + "长".encode() * length
            + b"</text:p></table:table-cell></table:table-row>"
        )
    )


def cases(size: float) -> list[Case]:
    """The hostile .ods files; `size` scales the heavy ones."""
    mb = megabyte_at(size)
    return [
        ("far-cell", _far_cell),
        ("repeated-content", _repeated_content),
        ("million-rows", lambda: _million_rows(many_rows_at(size))),
        ("thousands-of-sheets", lambda: _many_tables(int(3000 * max(size, 0.2)))),
        ("huge-merge", _huge_merge),
        (
            "megabyte-cell",
            lambda: ods_content(
                form_table(b"<table:table-row>" + ods_cell("长" * mb) + b"</table:table-row>")
            ),
        ),
        ("megabyte-cell-repeated", lambda: _megabyte_cell_repeated(mb)),
        (
            "bad-repeat",
            lambda: ods_content(
                form_table(
                    b'<table:table-row table:number-rows-repeated="-5">'
                    + ods_cell("x")
                    + b"</table:table-row>"
                )
            ),
        ),
        ("formulas", ods_formulas),
        # calamine reads an unclosed table, row or cell to the end of the part and then loops for ever
        ("unclosed-table", lambda: ods_content(b'<table:table table:name="DJ">' + ODS_HEAD)),
        (
            "unclosed-row",
            lambda: ods_content(
                b'<table:table table:name="DJ"><table:table-row>' + ods_cell("x") + b"</table:table>"
            ),
        ),
        ("encrypted", _encrypted),
    ]
