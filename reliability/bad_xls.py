"""Hostile .xls files: BIFF8 records with out-of-range cells, merges and dimensions, shared strings
copied thousands of times, formulas, and compound files whose sector chains lie or loop."""

from __future__ import annotations

import io
import struct

from reliability.seeds import FORM_LABEL, Case, seed


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
    data = xls({(0, 0): FORM_LABEL, (5, 5): 12345.678})  # not an RK number: a NUMBER record
    at = data.find(b"\x03\x02\x0e\x00\x05\x00\x05\x00")
    data[at + 4 : at + 8] = struct.pack("<HH", row, col)
    return bytes(data)


def xls_huge_merge() -> bytes:
    data = xls({(0, 0): FORM_LABEL}, merges=[(0, 1, 0, 1)])
    return bytes(patch_record(data, 0x00E5, b"\x01\x00", struct.pack("<HHHHH", 1, 0, 65535, 0, 255)))


def xls_dimensions(rf: int, rl: int, cf: int, cl: int) -> bytes:
    data = xls({(0, 0): FORM_LABEL})
    at = data.find(b"\x00\x02\x0e\x00")
    data[at + 4 : at + 18] = struct.pack("<IIHHH", rf, rl, cf, cl, 0)
    return bytes(data)


def xls_shared_string_copies(length: int, copies: int) -> bytes:
    """One long shared string, and `copies` LABELSST cells that each get their own copy of it."""
    from pbstats.transforms.xls import ole_stream

    data = bytes(xls({(0, 0): FORM_LABEL, (1, 0): "长" * length}))
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


def xls_formulas() -> bytes:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("DJ")
    sheet.write(0, 0, FORM_LABEL)
    sheet.write(1, 0, xlwt.Formula('HYPERLINK("http://x";"y")'))
    sheet.write(2, 0, "=cmd|' /C calc'!A0")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ole_loop() -> bytes:
    """A compound file whose FAT chain for the directory points back at itself."""
    data = bytearray(seed("xls"))
    first_dir = struct.unpack_from("<I", data, 48)[0]
    fat_sector = struct.unpack_from("<I", data, 76)[0]
    struct.pack_into("<I", data, 512 + fat_sector * 512 + first_dir * 4, first_dir)
    return bytes(data)


def cases(size: float) -> list[Case]:
    """The hostile .xls files; `size` scales the heavy ones."""
    return [
        ("far-cell", lambda: xls_far_cell(65535, 255)),
        ("far-column", lambda: xls_far_cell(65535, 65535)),
        ("dimensions-lie", lambda: xls_dimensions(0, 0xFFFFFFFF, 0, 0xFF)),
        ("dimensions-wrap", lambda: xls_dimensions(5, 2, 0, 10)),
        (
            "million-rows",
            lambda: bytes(
                xls({(0, 0): FORM_LABEL, **{(r, 0): r for r in range(1, 65536, 1 if size >= 1 else 8)}})
            ),
        ),
        ("thousands-of-sheets", lambda: bytes(xls({(0, 0): FORM_LABEL}, sheets=int(3000 * max(size, 0.2))))),
        ("huge-merge", xls_huge_merge),
        ("megabyte-cell", lambda: xls_shared_string_copies(32_000, 1)),
        ("shared-string-copies", lambda: xls_shared_string_copies(32_000, int(20_000 * max(size, 0.25)))),
        ("formulas", xls_formulas),
        ("ole-loop", ole_loop),
    ]
