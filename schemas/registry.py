"""The city's organisation registry (forms.md §2): org × validity span."""

from __future__ import annotations

import csv
import io
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .texts import Texts

LEVELS = ("city", "township", "village")
COLUMNS = ("org_code", "name", "level", "kind", "parent_code", "valid_from", "valid_to")
NO_END = 1 << 30  # valid_to of a span still valid, in the compact columns


@dataclass(frozen=True, slots=True)
class OrgSpan:
    """One registry row: an org as it stood for a span of statistical years. (Slots, and the codes and
    kinds that repeat interned: a province's registry is 100,000 rows, in every reader process.)"""

    org_code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    valid_from: int
    valid_to: int | None  # None = still valid

    def __post_init__(self) -> None:
        for name in ("level", "kind", "parent_code"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, sys.intern(value))

    def valid_in(self, year: int) -> bool:
        return self.valid_from <= year and (self.valid_to is None or year <= self.valid_to)


class RegistryError(ValueError):
    """A registry file that cannot be used (bad columns, overlapping spans)."""


def parse_rows(rows: Iterable[dict[str, str]]) -> list[OrgSpan]:
    spans = []
    for n, row in enumerate(rows, start=2):
        try:
            code = row["org_code"].strip()
            if _code_number(code, strict=False) < 0:
                raise RegistryError(f"line {n}: org_code {code!r} is not 12 digits")
            parent = row.get("parent_code", "").strip()
            if parent and _code_number(parent, strict=False) < 0:
                raise RegistryError(f"line {n}: parent_code {parent!r} is not 12 digits")
            level = row["level"].strip()
            if level not in LEVELS:
                raise RegistryError(f"line {n}: level {level!r} is not one of {LEVELS}")
            valid_to = row.get("valid_to", "").strip()
            spans.append(
                OrgSpan(
                    org_code=code,
                    name=row["name"].strip(),
                    level=level,
                    kind=row.get("kind", "").strip(),
                    parent_code=parent or None,
                    valid_from=int(row["valid_from"]),
                    valid_to=int(valid_to) if valid_to else None,
                )
            )
        except (KeyError, ValueError) as e:
            if isinstance(e, RegistryError):
                raise
            raise RegistryError(f"line {n}: {e}") from e
    _check_spans(spans)
    return spans


def _check_spans(spans: list[OrgSpan]) -> None:
    by_code: dict[str, list[OrgSpan]] = {}
    for s in spans:
        by_code.setdefault(s.org_code, []).append(s)
    for code, group in by_code.items():
        group.sort(key=lambda s: s.valid_from)
        for a, b in zip(group, group[1:], strict=False):
            if a.valid_to is None or a.valid_to >= b.valid_from:
                raise RegistryError(
                    f"org {code}: validity spans overlap ({a.valid_from}-{a.valid_to}, {b.valid_from}-)"
                )


def read_csv_text(text: str) -> list[OrgSpan]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise RegistryError(f"registry lacks columns {sorted(missing)}")
    return parse_rows(reader)


def read_csv(path: Path) -> list[OrgSpan]:
    return read_csv_text(path.read_text(encoding="utf-8"))


def default_spans() -> list[OrgSpan]:
    """The registry shipped with pbstats (a copy of the rulebook's orgs.csv)."""
    return read_csv_text(
        resources.files("pbstats.schemas").joinpath("data/orgs.csv").read_text(encoding="utf-8")
    )


class Registry:
    """Who existed, under which name and parent, in a given year.

    Held in compact columns (arrays of numbers and one UTF-8 text of the names), sorted by code, and
    looked up by bisection: a province's registry (100,000 rows) takes about 4 MB instead of about
    40 MB of row objects, in the flow and in every reader process it is sent to. An `OrgSpan` is
    made when asked for.
    """

    def __init__(self, spans: Iterable[OrgSpan], *, in_order: bool = False):
        """`in_order`: the spans come sorted by (org_code, valid_from) already (as a query can give
        them), and are taken one at a time, never all held at once."""
        rows = spans if in_order else sorted(spans, key=lambda s: (s.org_code, s.valid_from))
        self._codes, self._parents, self._names = array("q"), array("q"), Texts()
        self._from, self._to, self._level, self._kind = array("i"), array("i"), array("i"), array("i")
        levels: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for s in rows:
            self._codes.append(_code_number(s.org_code))
            self._parents.append(_code_number(s.parent_code) if s.parent_code else -1)
            self._from.append(s.valid_from)
            self._to.append(NO_END if s.valid_to is None else s.valid_to)
            self._level.append(levels.setdefault(s.level, len(levels)))
            self._kind.append(kinds.setdefault(s.kind, len(kinds)))
            self._names.append(s.name)
        if any(a > b for a, b in zip(self._codes, self._codes[1:], strict=False)):
            raise RegistryError("registry spans not in code order")
        self._levels, self._kinds = tuple(levels), tuple(kinds)
        # the rows by parent (for villages_of): row numbers ordered by parent code, then by code
        self._by_parent = array("i", sorted(range(len(self._codes)), key=self._parents.__getitem__))
        self._parent_keys = array("q", (self._parents[i] for i in self._by_parent))

    @property
    def spans(self) -> list[OrgSpan]:
        return [self._span(i) for i in range(len(self._codes))]

    def __len__(self) -> int:
        return len(self._codes)

    def _span(self, i: int) -> OrgSpan:
        parent = self._parents[i]
        return OrgSpan(
            org_code=f"{self._codes[i]:012d}",
            name=self._names[i],
            level=self._levels[self._level[i]],
            kind=self._kinds[self._kind[i]],
            parent_code=f"{parent:012d}" if parent >= 0 else None,
            valid_from=self._from[i],
            valid_to=None if self._to[i] == NO_END else self._to[i],
        )

    def _valid(self, i: int, year: int) -> bool:
        return self._from[i] <= year and (self._to[i] == NO_END or year <= self._to[i])

    def _rows_of(self, code: str) -> range:
        number = _code_number(code, strict=False)
        return self._rows(number) if number >= 0 else range(0)

    def _rows(self, number: int) -> range:
        first = bisect_left(self._codes, number)
        return range(first, bisect_right(self._codes, number, lo=first))

    def _row(self, number: int, year: int) -> int:
        """The row of the org with that code number valid in that year; -1 if none."""
        return next((i for i in self._rows(number) if self._valid(i, year)), -1)

    def org(self, code: str, year: int) -> OrgSpan | None:
        number = _code_number(code, strict=False)
        i = self._row(number, year) if number >= 0 else -1
        return self._span(i) if i >= 0 else None

    def known(self, code: str) -> bool:
        return len(self._rows_of(code)) > 0

    def orgs(self, year: int, level: str | None = None) -> list[OrgSpan]:
        if level is not None and level not in self._levels:
            return []
        wanted = None if level is None else self._levels.index(level)
        return [
            self._span(i)
            for i in range(len(self._codes))
            if self._valid(i, year) and (wanted is None or self._level[i] == wanted)
        ]

    def villages_of(self, township_code: str, year: int) -> list[OrgSpan]:
        number = _code_number(township_code, strict=False)
        if number < 0 or "village" not in self._levels:
            return []
        village = self._levels.index("village")
        first = bisect_left(self._parent_keys, number)
        last = bisect_right(self._parent_keys, number, lo=first)
        rows = self._by_parent[first:last]  # by code (the sort by parent is stable)
        return [self._span(i) for i in rows if self._level[i] == village and self._valid(i, year)]

    def township_of(self, code: str, year: int) -> OrgSpan | None:
        """The township an org belongs to in that year (a township is its own)."""
        i = self._township_row(code, year)
        return self._span(i) if i >= 0 else None

    def township_code_of(self, code: str, year: int) -> str | None:
        """The code of the township (an org of level township) an org belongs to in that year, a
        township's own; without making a span (asked once per return in a load and a run's summary)."""
        i = self._township_row(code, year)
        return f"{self._codes[i]:012d}" if i >= 0 and self._levels[self._level[i]] == "township" else None

    def _township_row(self, code: str, year: int) -> int:
        number = _code_number(code, strict=False)
        i = self._row(number, year) if number >= 0 else -1
        if i < 0:
            return -1
        level = self._levels[self._level[i]]
        if level == "township":
            return i
        if level == "village" and self._parents[i] >= 0:
            return self._row(self._parents[i], year)
        return -1


def _code_number(code: str | None, strict: bool = True) -> int:
    """A 12-digit code (ASCII digits only) as a number; -1 for anything else, or a RegistryError if
    `strict` (a registry row's code: `parse_rows` lets no other through)."""
    if code is not None and len(code) == 12 and code.isascii() and code.isdigit():
        return int(code)
    if strict:
        raise RegistryError(f"code {code!r} is not 12 digits")
    return -1
