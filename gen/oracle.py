"""What the rulebook makes of a planned year: each accepted file's warnings, and what ends up loaded.

The planner says which warnings each case means to cause; `settle_year` derives them again
from forms.md §6 alone (blank cells, footer, arrival time, 上年 column, jumps, rollups night by
night) and refuses a plan where the two disagree, so the manifest never carries a warning by
accident and never misses one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import DEADLINE_MONTH_DAY
from pbstats.schemas.registry import Registry

from .submission import Submission
from .values import Values, broken_rules, jumped, rollup_counts

TZ = ZoneInfo("Asia/Shanghai")


def deadline(year: int) -> datetime:
    """Returns for `year` are due by 31 January of the next year, Beijing time (forms.md §1)."""
    month, day = DEADLINE_MONTH_DAY
    return datetime(year + 1, month, day, 23, 59, 59, tzinfo=TZ)


def arrival_order(sub: Submission) -> tuple[datetime, str]:
    assert sub.received is not None
    return sub.received, sub.org_code


def settle_year(
    nights: list[list[Submission]], registry: Registry, year: int, loaded: Mapping[tuple[str, int], Values]
) -> dict[str, Values]:
    """Derive each accepted file's warnings from the rulebook, check them against what the cases
    meant, and return the values that end up loaded for the year (org code -> values)."""
    derived: dict[int, set[str]] = {}
    current: dict[str, Submission] = {}
    for night in nights:
        arrived = [s for s in night if s.status == "accepted"]
        for sub in sorted(arrived, key=arrival_order):
            derived[id(sub)] = _file_warnings(sub, year, loaded)
            current[sub.org_code] = sub
        if not arrived:
            continue
        for town in registry.orgs(year, "township"):
            sub = current.get(town.org_code)
            if sub is None:
                continue
            villages = registry.villages_of(town.org_code, year)
            wrong = int(sub.values["01"]) != len(villages)
            if all(v.org_code in current for v in villages):
                counts = rollup_counts([current[v.org_code].values for v in villages], len(villages))
                wrong |= any(int(sub.values[code]) != n for code, n in counts.items())
            if wrong:
                derived[id(sub)].add(CheckId.W_ROLLUP)
    problems = []
    for night in nights:
        for sub in night:
            if sub.status != "accepted":
                continue
            if broken_rules(sub.form, sub.values):
                problems.append(
                    f"{sub.file_name}: accepted values break {broken_rules(sub.form, sub.values)}"
                )
            if derived[id(sub)] != sub.warnings:
                problems.append(
                    f"{sub.file_name} ({sub.case}): meant {sorted(sub.warnings)}, rulebook gives {sorted(derived[id(sub)])}"
                )
    missing = [o.org_code for o in registry.orgs(year) if o.level != "city" and o.org_code not in current]
    if missing:
        problems.append(f"{year}: no accepted return for {missing}")
    if problems:
        raise RuntimeError("generator bug:\n" + "\n".join(problems))
    return {code: dict(sub.values) for code, sub in current.items()}


def _file_warnings(sub: Submission, year: int, loaded: Mapping[tuple[str, int], Values]) -> set[str]:
    assert sub.doc is not None and sub.received is not None
    found = set()
    if sub.doc.blank_codes():
        found.add(CheckId.W_BLANK)
    if sub.doc.footer_missing():
        found.add(CheckId.W_FOOTER)
    if sub.received > deadline(year):
        found.add(CheckId.W_LATE)
    prev = loaded.get((sub.org_code, year - 1))
    if prev is not None:
        if jumped(sub.form, prev, sub.values):
            found.add(CheckId.W_JUMP)
        for row in sub.doc.indicator_rows():
            assert row.indicator is not None
            if "prior" in sub.doc.columns and not row.prior.blank:
                if abs(float(row.prior.value) - float(prev[row.indicator.code])) > 1e-9:  # type: ignore[arg-type]
                    found.add(CheckId.W_PRIOR)
    return found
