"""Zip bombs in the shape of a workbook: sizes that lie, entries that overlap, a zip inside, and a
member that unpacks a thousandfold."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from reliability.seeds import Case, edit, members, rezip, seed


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


def cases(kind: str) -> list[Case]:
    """The zip bombs in a workbook of a zip-based `kind`."""
    return [
        ("zip-lying-sizes", lambda: lying_zip(kind, 300 << 20)),
        ("zip-overlapping-entries", lambda: overlapping_zip(kind, 40)),
        ("zip-nested", lambda: nested_zip(kind)),
        ("zip-ratio", lambda: ratio_bomb(kind)),
    ]
