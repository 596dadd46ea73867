"""The survey of an .xls (an OLE compound file holding a BIFF8 stream, `transforms.survey`): what each
sheet's records declare and span, the text its shared strings put into cells, and the formulas whose
result calamine reads as an empty cell (an error value, or none).

The compound file is walked here rather than with olefile: olefile reads on where a sector chain
loops back on itself (as it should, to salvage what it can), and calamine then spins on such a file;
the survey must refuse it. (olefile is also three times slower: 0.04 against 0.01 ms a return.)"""

from __future__ import annotations

import struct

from pbstats.schemas import messages as msg

from .survey import (
    MAX_BOOK_CELLS,
    MAX_GRID_CELLS,
    MAX_MERGES,
    MAX_ROWS_SEEN,
    MAX_SHEETS,
    MAX_TEXT,
    Refusal,
    Survey,
    oversized,
)

_FREE, _END = 0xFFFFFFFF, 0xFFFFFFFE
_CELL_RECORDS = {0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006}


def survey_xls(data: bytes) -> Survey:
    stream = ole_stream(data, ("Workbook", "Book"))
    if stream is None:
        return Survey(Refusal(msg.MALFORMED))
    try:
        return _scan_biff(stream)
    except (struct.error, IndexError, ValueError):
        return Survey(Refusal(msg.MALFORMED))


def ole_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
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


def _scan_biff(stream: bytes) -> Survey:
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

    def run(self) -> Survey:
        pos, n = 0, len(self.stream)
        while pos + 4 <= n:
            kind, length = struct.unpack_from("<HH", self.stream, pos)
            problem = self._record(kind, self.stream[pos + 4 : pos + 4 + length], pos, pos + 4 + length)
            if problem:
                return Survey(problem)
            pos += 4 + length
        if any(p not in self.sizes for p, _ in self.boundsheets):
            return Survey(Refusal(msg.MALFORMED))  # a sheet that points into the middle of something else
        if sum(self.sizes[p] for p, _ in self.boundsheets) > MAX_BOOK_CELLS:
            return Survey(Refusal(msg.TOO_MANY_CELLS))
        named = [(p, name) for p, name in self.boundsheets]
        return Survey(
            uncached={name: self.uncached[p] for p, name in named if p in self.uncached},
            errors={name: self.errors[p] for p, name in named if p in self.errors},
        )

    def _record(self, kind: int, body: bytes, at: int, after: int) -> Refusal | None:
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
                return Refusal(msg.too_many_sheets(MAX_SHEETS * 4, at_least=True))
        elif kind == 0x00FC:
            self.strings = _string_lengths(self._continued(body, after))
        elif kind == 0x0200:
            declared = _dimensions(body)
            if isinstance(declared, Refusal):
                return declared
            self.reserve = max(self.reserve, declared)
        elif (kind in _CELL_RECORDS or kind == 0x00BD) and len(body) >= 6:
            self._cell(kind, body)
        return Refusal(msg.TOO_MUCH_TEXT) if self.text > MAX_TEXT else None

    def _end(self) -> Refusal | None:
        if self.depth == 1:
            rows = cols = 0
            if self.extent is not None:
                rows, cols = self.extent[2] - self.extent[0] + 1, self.extent[3] - self.extent[1] + 1
                too_big = oversized(msg.nth_sheet(len(self.sizes)), rows, cols)
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


def _dimensions(body: bytes) -> int | Refusal:
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
        return Refusal(msg.used_range_too_large(None, rows, cols))
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
