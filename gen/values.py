"""Indicator values an org would truthfully report, year after year (forms.md §4 and §6).

Villages are drawn first, then their township's DJ-2 from them, so that the rollups of
`schemas.forms.ROLLUPS` hold; a later year moves each value a little from what was loaded the
year before, so that neither W-JUMP nor W-ROLLUP fires unless a case injects it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from pbstats.schemas.forms import DJ1, DJ2, JUMP_FACTOR, JUMP_MIN, ROLLUPS, Form, Kind
from pbstats.schemas.registry import OrgSpan, Registry

Values = dict[str, int | float]
INCOME_THRESHOLD = next(r.threshold for r in ROLLUPS if r.township_code == "09")


def rollup_counts(villages: Sequence[Values], n_registry: int) -> dict[str, int]:
    """What a township's DJ-2 must say for each rollup indicator (forms.md §6 W-ROLLUP)."""
    counts = {}
    for rollup in ROLLUPS:
        if rollup.village_code is None:
            counts[rollup.township_code] = n_registry
        else:
            code = rollup.village_code
            counts[rollup.township_code] = sum(1 for v in villages if v[code] > rollup.threshold)
    return counts


def broken_rules(form: Form, values: Mapping[str, float]) -> list[str]:
    """The within-form rules the values break, as "small>large"."""
    return [f"{r.small}>{r.large}" for r in form.rules if values[r.small] > values[r.large]]


def jumped(form: Form, prev: Mapping[str, float], cur: Mapping[str, float]) -> list[str]:
    """Count indicators that moved more than 3× (either way, from 0 included) with the larger ≥ 10."""
    out = []
    for ind in form.indicators:
        if ind.kind is not Kind.COUNT or ind.code not in prev:
            continue
        a, b = float(prev[ind.code]), float(cur[ind.code])
        small, large = min(a, b), max(a, b)
        if large >= JUMP_MIN and (small == 0 or large / small > JUMP_FACTOR):
            out.append(ind.code)
    return out


def _income(rng: random.Random, rich: bool) -> float:
    if rich:
        return round(rng.uniform(1000, 2500), 2)
    band = rng.random()
    if band < 0.05:
        return 0.0
    if band < 0.35:
        return round(rng.uniform(0.3, 5), 2)
    if band < 0.65:
        return round(rng.uniform(5, 9.9), 2)
    return round(rng.uniform(10.5, 60), 2)


def new_village(rng: random.Random, org: OrgSpan, *, rich: bool = False) -> Values:
    community = org.kind == "社区"
    members = rng.randint(30, 200) if community else rng.randint(20, 160)
    new = rng.choice((0, 0, 1, 1, 2, 2, 3, 4))
    weak = int(rng.random() < 0.05)
    return {
        "01": members,
        "02": min(members, new + rng.randint(0, 3)),
        "03": new,
        "04": int(rng.random() < (0.7 if community else 0.8)),
        "05": int(rng.random() < (0.08 if community else 0.35)),
        "06": int(rng.random() < (0.05 if community else 0.2)),
        "07": _income(rng, rich=rich or (community and rng.random() < 0.1)),
        "08": weak,
        "09": int(weak and rng.random() < 0.7),
        "10": rng.randint(5, 25) if community else rng.randint(1, 12),
        "11": round(members * rng.uniform(1.0, 3.0)),
        "12": int(rng.random() < 0.1),
    }


def _flip(rng: random.Random, flag: int | float, p: float) -> int:
    return int(not flag) if rng.random() < p else int(flag)


def next_village(rng: random.Random, prev: Values) -> Values:
    members = max(15, round(prev["01"] * rng.uniform(0.93, 1.08)))
    new = rng.choice((0, 0, 1, 1, 2, 2, 3, 4))
    if prev["08"] and not prev["09"]:
        weak = int(rng.random() < 0.7)
    elif prev["08"]:
        weak = int(rng.random() < 0.1)
    else:
        weak = int(rng.random() < 0.05)
    income = float(prev["07"])
    income = round(income * rng.uniform(0.85, 1.3), 2) if income else round(rng.uniform(0, 3), 2)
    return {
        "01": members,
        "02": min(members, new + rng.randint(0, 3)),
        "03": new,
        "04": _flip(rng, prev["04"], 0.05),
        "05": _flip(rng, prev["05"], 0.15),
        "06": _flip(rng, prev["06"], 0.15),
        "07": income,
        "08": weak,
        "09": int(weak and rng.random() < 0.6),
        "10": max(1, int(prev["10"]) + rng.randint(-1, 2)),
        "11": max(members, round(prev["11"] * rng.uniform(0.85, 1.2))),
        "12": int(rng.random() < 0.1),
    }


def township(rng: random.Random, villages: Sequence[Values], n_registry: int, prev: Values | None) -> Values:
    derived = rollup_counts(villages, n_registry)

    def drift(code: str, low: int, high: int) -> int:
        if prev is None:
            return rng.randint(low, high)
        return max(0, round(prev[code] * rng.uniform(0.85, 1.2)) + rng.randint(-1, 1))

    cases, corruption, filed = drift("10", 0, 8), drift("12", 0, 6), drift("15", 0, 6)
    return {
        "01": derived["01"],
        "02": sum(int(v["05"]) for v in villages) + rng.randint(0, 2),
        "03": sum(int(v["06"]) for v in villages) + rng.randint(0, 1),
        "04": max(5, drift("04", 10, 80)),
        "05": sum(int(v["12"]) for v in villages),
        "06": sum(int(v["08"]) for v in villages),
        "07": derived["07"],
        "08": derived["08"],
        "09": derived["09"],
        "10": cases,
        "11": cases + rng.randint(0, max(2, cases)),
        "12": corruption,
        "13": corruption + rng.randint(0, 3),
        "14": max(3, drift("14", 5, 60)),
        "15": filed,
        "16": filed + rng.randint(0, 3),
        "17": round(sum(float(v["11"]) for v in villages) * rng.uniform(0.9, 1.2)) + rng.randint(20, 200),
    }


def guess_prior(rng: random.Random, form: Form, values: Values) -> Values:
    """A plausible 上年 column for a year whose values were never loaded (not checked by W-PRIOR)."""
    out: Values = {}
    for ind in form.indicators:
        v = values[ind.code]
        if ind.kind is Kind.FLAG:
            out[ind.code] = int(v)
        elif ind.kind is Kind.AMOUNT:
            out[ind.code] = round(float(v) * rng.uniform(0.8, 1.1), 2)
        else:
            out[ind.code] = max(0, round(v * rng.uniform(0.85, 1.1)))
    for rule in form.rules:
        out[rule.small] = min(out[rule.small], out[rule.large])
    return out


def city_year(
    rng: random.Random, registry: Registry, year: int, loaded: Mapping[tuple[str, int], Values]
) -> dict[str, Values]:
    """Every reporting org's true values for `year`, moved from what was loaded for `year - 1`."""
    out: dict[str, Values] = {}
    communities = [v.org_code for v in registry.orgs(year, "village") if v.kind == "社区"]
    richest = communities[0] if communities else None  # one community with an income over 1,000 万元
    for town in registry.orgs(year, "township"):
        villages = registry.villages_of(town.org_code, year)
        for _attempt in range(200):
            block: dict[str, Values] = {}
            for v in villages:
                prev = loaded.get((v.org_code, year - 1))
                block[v.org_code] = (
                    next_village(rng, prev) if prev else new_village(rng, v, rich=v.org_code == richest)
                )
            prev_town = loaded.get((town.org_code, year - 1))
            block[town.org_code] = township(
                rng, [block[v.org_code] for v in villages], len(villages), prev_town
            )
            if _steady(block, {v.org_code for v in villages}, loaded, year):
                out |= block
                break
        else:
            raise RuntimeError(f"could not draw steady values for {town.name} {year}")
    return out


def _steady(
    block: Mapping[str, Values], village_codes: set[str], loaded: Mapping[tuple[str, int], Values], year: int
) -> bool:
    for code, values in block.items():
        form = DJ1 if code in village_codes else DJ2
        if broken_rules(form, values):
            return False
        prev = loaded.get((code, year - 1))
        if prev is not None and jumped(form, prev, values):
            return False
    return True


def corrected(rng: random.Random, form: Form, values: Values) -> Values:
    """The values of a corrected return: a few figures fixed, none that a township rollup counts."""
    out = dict(values)
    if form.level == "village":
        out["11"] = max(int(out["01"]), int(out["11"]) + rng.choice((-6, -3, 2, 4, 9)))
        out["10"] = max(1, int(out["10"]) + rng.choice((-1, 1)))
        income = float(out["07"])
        fixed = round(income * rng.uniform(0.97, 1.03), 2)
        if (fixed > INCOME_THRESHOLD) == (income > INCOME_THRESHOLD):
            out["07"] = fixed
    else:
        out["04"] = max(5, int(out["04"]) + rng.choice((-3, -2, 2, 3, 5)))
        out["14"] = max(3, int(out["14"]) + rng.choice((-2, 1, 3)))
        out["17"] = int(out["17"]) + rng.choice((-50, 30, 120))
    return out
