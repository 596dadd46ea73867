"""Judged returns parked on disk between reading and loading.

The value rules run once per form over the whole run (GX costs the same for ten rows as for ten
thousand), so every return must be read before any is loaded. Holding them all in memory would make a
run's peak grow with the inbox; the spool keeps each judged return pickled in an anonymous temporary
file (gone with the process, whatever way it ends) and, in memory, only what ordering the loads and
the value rules need: a sort key and the numbers, in compact columns.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.texts import Texts
from transforms.frames import ValueRows
from transforms.model import CheckedReturn, Finding

from .stages import Judged, plan_batches

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class Spool:
    """An append-only store of `Judged`, addressed by position, with the run's value frames."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder, prefix="pbstats-spool-")
        self._fd = self._file.fileno()
        self._end = 0
        self._offsets = array("q")
        self._lengths = array("q")
        self._keys = _Keys()
        self.values = ValueRows()
        self.found: dict[int, list[Finding]] = {}  # findings of the value rules, by position
        self._rejected_as_read: set[int] = set()  # positions its own checks reject (before the value rules)

    def add(self, judged: Judged) -> int:
        """One judged return added; its position."""
        self.extend([judged])
        return len(self) - 1

    def extend(self, batch: Sequence[Judged]) -> None:
        """Each of a batch added in order (positions follow on), written with one system call."""
        blobs = [pickle.dumps(judged, protocol=pickle.HIGHEST_PROTOCOL) for judged in batch]
        data = b"".join(blobs)
        written = 0
        while written < len(data):  # a regular file takes it all at once, but a short write is allowed
            written += os.pwrite(self._fd, memoryview(data)[written:], self._end + written)
        for judged, blob in zip(batch, blobs, strict=True):
            self._offsets.append(self._end)
            self._lengths.append(len(blob))
            self._end += len(blob)
            self._index(judged)

    def _index(self, judged: Judged) -> None:
        position = len(self._keys)
        inc, ret = judged.incoming, judged.checked
        year = ret.year if ret is not None else inc.year  # a read return has no verdict yet, but its year
        self._keys.append(year or 0, inc.received_at, inc.file_name)
        if judged.checked is not None:
            self.values.add(position, judged.checked)
            if judged.checked.rejected:
                self._rejected_as_read.add(position)

    def rejected(self) -> set[int]:
        """Positions of the returns that will be rejected: by their own checks, or by the value rules'
        findings (`found`, once the value rules have run)."""
        by_rules = {p for p, found in self.found.items() if any(f.is_error for f in found)}
        return self._rejected_as_read | by_rules

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, position: int) -> Judged:
        judged: Judged = pickle.loads(os.pread(self._fd, self._lengths[position], self._offsets[position]))
        if judged.checked is not None:
            judged.checked.findings.extend(self.found.get(position, []))
        return judged

    def checked(self) -> Sequence[CheckedReturn]:
        """The read returns by position, fetched when asked (the value rules ask for the few that break
        a rule, to word their findings)."""
        return _Checked(self)

    def load_batches(self, size: int) -> list[list[int]]:
        """The positions of the load batches (`stages.plan_batches`); `batch` reads one back."""
        return plan_batches(self._keys, size)

    def batch(self, positions: Sequence[int]) -> list[Judged]:
        return [self[p] for p in positions]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Keys(Sequence):
    """The returns' sort keys (year or 0, received at, file name) in compact columns: about 50 bytes a
    return against about 220 as tuples of objects. A key is made when asked for."""

    def __init__(self) -> None:
        self._years, self._received, self._names = array("i"), array("q"), Texts()

    def append(self, year: int, received_at: datetime, file_name: str) -> None:
        self._years.append(year)
        if received_at.tzinfo is None:  # a time from a database that keeps none is UTC
            received_at = received_at.replace(tzinfo=UTC)
        self._received.append((received_at - EPOCH) // MICROSECOND)
        self._names.append(file_name)

    def __len__(self) -> int:
        return len(self._years)

    def __getitem__(self, i):  # type: ignore[override]
        i = range(len(self))[i]
        return self._years[i], EPOCH + self._received[i] * MICROSECOND, self._names[i]


class _Checked(Sequence):
    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def __len__(self) -> int:
        return len(self._spool)

    def __getitem__(self, position):  # type: ignore[override]
        checked = self._spool[position].checked
        assert checked is not None
        return checked
