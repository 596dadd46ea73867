"""XML entities in a workbook's parts: the billion laughs and an external entity, declared in a
DOCTYPE and used in sheet text (or ODS content), the shared strings, a sheet name or a number format."""

from __future__ import annotations

from reliability.seeds import FORM_LABEL, Case, book_of, members, rezip, seed

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
        parts["content.xml"] = with_doctype(parts["content.xml"], doctype, FORM_LABEL.encode(), entity)
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


def cases(kind: str) -> list[Case]:
    """The entities in a workbook of a zip-based `kind`: in every part a reader parses."""
    out: list[Case] = [
        ("entity-bomb", lambda: entity_bomb(kind, "sheet")),
        ("external-entity", lambda: entity_bomb(kind, "sheet", XXE, b"&xxe;")),
    ]
    if kind != "ods":
        out += [
            (f"entity-bomb-{where}", lambda w=where: entity_bomb(kind, w))
            for where in ("sst", "workbook", "styles")
        ]
    return out
