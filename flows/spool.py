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
from pathlib import Path

from pbstats.transforms.frames import ValueRows
from pbstats.transforms.model import CheckedReturn, Finding

from .stages import ArrivalKeys, Judged, plan_batches


class Spool:
    """An append-only store of `Judged`, addressed by position, with the run's value frames."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder, prefix="pbstats-spool-")
        self._fd = self._file.fileno()
        self._end = 0
        self._offsets = array("q")
        self._lengths = array("q")
        self._keys = ArrivalKeys()
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

    def load_batches(self, size: int) -> list[array]:
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


class _Checked(Sequence):
    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def __len__(self) -> int:
        return len(self._spool)

    def __getitem__(self, position):  # type: ignore[override]
        checked = self._spool[position].checked
        assert checked is not None
        return checked
