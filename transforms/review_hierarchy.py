"""What the year-end review sums, and under which year's hierarchy (forms.md §7).

A value belongs to an org and a year; a township's figure is the sum over the orgs the chosen
year's registry puts under it (flags: the count of orgs with 1). Two hierarchies are used:
*as reported* (each year by its own registry) and *restated* (last year's values regrouped by
this year's registry, so a township merged away shows up inside its successor instead of as a
collapse of one township and a jump of another).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Metric = tuple[str, str]  # (form, indicator code)
Values = Mapping[tuple[str, str, str], float]  # (org code, form, code) -> value, one year
Totals = dict[Metric, float]


@dataclass(frozen=True, slots=True)
class Org:
    """An org in one year's registry, and the township it then belonged to."""

    code: str
    name: str
    level: str  # township / village
    township_code: str | None
    township_name: str | None


@dataclass(frozen=True)
class Merge:
    """A township of last year that this year's registry no longer has, and where its villages went."""

    code: str
    name: str
    successor_code: str | None
    successor_name: str | None


def totals(values: Values, orgs: Iterable[str] | None = None) -> Totals:
    """(form, code) → the sum over the orgs (all when `orgs` is None)."""
    keep = None if orgs is None else set(orgs)
    out: Totals = {}
    for (org, form, code), v in values.items():
        if keep is None or org in keep:
            out[(form, code)] = out.get((form, code), 0.0) + v
    return out


def by_township(values: Values, township_of: Mapping[str, str | None]) -> dict[str, Totals]:
    """township code → (form, code) → sum over the orgs the mapping puts under it."""
    out: dict[str, Totals] = {}
    for (org, form, code), v in values.items():
        town = township_of.get(org)
        if town is None:
            continue
        t = out.setdefault(town, {})
        t[(form, code)] = t.get((form, code), 0.0) + v
    return out


def per_org(values: Values) -> dict[str, Totals]:
    """org code → (form, code) → its own value."""
    out: dict[str, Totals] = {}
    for (org, form, code), v in values.items():
        out.setdefault(org, {})[(form, code)] = v
    return out


def township_map(orgs: Iterable[Org]) -> dict[str, str | None]:
    return {o.code: o.township_code for o in orgs}


def township_names(orgs: Iterable[Org]) -> dict[str, str]:
    """township code → name, for the townships among `orgs`."""
    return {o.code: o.name for o in orgs if o.level == "township"}


def merges(before: Sequence[Org], after: Sequence[Org]) -> list[Merge]:
    """Townships of the earlier registry missing from the later one; the successor of each is the
    township that took most of its villages (None if its villages went nowhere)."""
    now = {o.code: o for o in after}
    gone = [o for o in before if o.level == "township" and o.code not in now]
    out = []
    for town in gone:
        went = Counter(
            now[v.code].township_code
            for v in before
            if v.level == "village" and v.township_code == town.code and v.code in now
        )
        went.pop(None, None)
        if went:
            code = sorted(went.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            name = next(o.township_name for o in after if o.township_code == code)
            out.append(Merge(town.code, town.name, code, name))
        else:
            out.append(Merge(town.code, town.name, None, None))
    return out


def restated_map(before: Sequence[Org], after: Sequence[Org]) -> dict[str, str | None]:
    """Last year's orgs → this year's township: each org where this year's registry has it; a merged
    township's own return goes to its successor."""
    now = township_map(after)
    out: dict[str, str | None] = {o.code: now.get(o.code) for o in before}
    for m in merges(before, after):
        out[m.code] = m.successor_code
    return out
