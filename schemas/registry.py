"""The city's organisation registry (forms.md §2): org × validity span."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

LEVELS = ("city", "township", "village")
COLUMNS = ("org_code", "name", "level", "kind", "parent_code", "valid_from", "valid_to")


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
            if len(code) != 12 or not code.isdigit():
                raise RegistryError(f"line {n}: org_code {code!r} is not 12 digits")
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
                    parent_code=row.get("parent_code", "").strip() or None,
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
    return read_csv_text(resources.files("schemas").joinpath("data/orgs.csv").read_text(encoding="utf-8"))


class Registry:
    """Who existed, under which name and parent, in a given year."""

    def __init__(self, spans: Iterable[OrgSpan]):
        self.spans = list(spans)
        self._by_code: dict[str, list[OrgSpan]] = {}
        self._by_parent: dict[str, list[OrgSpan]] = {}
        for s in self.spans:
            self._by_code.setdefault(s.org_code, []).append(s)
            if s.parent_code:
                self._by_parent.setdefault(s.parent_code, []).append(s)

    def org(self, code: str, year: int) -> OrgSpan | None:
        for s in self._by_code.get(code, ()):
            if s.valid_in(year):
                return s
        return None

    def known(self, code: str) -> bool:
        return code in self._by_code

    def orgs(self, year: int, level: str | None = None) -> list[OrgSpan]:
        return [s for s in self.spans if s.valid_in(year) and (level is None or s.level == level)]

    def villages_of(self, township_code: str, year: int) -> list[OrgSpan]:
        return [
            s for s in self._by_parent.get(township_code, ()) if s.level == "village" and s.valid_in(year)
        ]

    def township_of(self, code: str, year: int) -> OrgSpan | None:
        """The township an org belongs to in that year (a township is its own)."""
        org = self.org(code, year)
        if org is None:
            return None
        if org.level == "township":
            return org
        if org.level == "village" and org.parent_code:
            return self.org(org.parent_code, year)
        return None
