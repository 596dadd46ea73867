"""Many short texts kept in one buffer: about one byte a character plus eight an item, where a
`str` object costs fifty bytes and more. The registry's names, the inbox listing's paths and names,
and the spool's file names are held this way, so that a province's worth of them stays small."""

from __future__ import annotations

from array import array


class Texts:
    """An append-only sequence of texts (as UTF-8, lone surrogates kept) or of raw bytes, by position."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("q")

    def __len__(self) -> int:
        return len(self._ends)

    def append_bytes(self, raw: bytes) -> None:
        self._data += raw
        self._ends.append(len(self._data))

    def append(self, text: str) -> None:
        self.append_bytes(text.encode("utf-8", "surrogatepass"))

    def bytes_at(self, i: int) -> bytes:
        return bytes(self._data[self._ends[i - 1] if i else 0 : self._ends[i]])

    def __getitem__(self, i: int) -> str:
        return self.bytes_at(i).decode("utf-8", "surrogatepass")
