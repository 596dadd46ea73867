"""The registry in compact columns answers as the rows themselves do, in the flow and after pickling."""

from __future__ import annotations

import pickle
import random
import tracemalloc

import pytest

from pbstats.schemas.registry import OrgSpan, Registry, RegistryError, default_spans, parse_rows


def _province(rng: random.Random) -> list[OrgSpan]:
    """Townships and villages with renames, merges and villages moved between townships (several
    spans per code), in shuffled order."""
    spans = [OrgSpan("990100000000", "省", "city", "市", None, 2020, None)]
    for t in range(1, 40):
        town = f"990100{t:03d}000"
        end = rng.choice([None, None, 2023, 2024])
        spans.append(OrgSpan(town, f"镇{t}", "township", "镇", "990100000000", 2020, end))
        if end is not None and rng.random() < 0.5:
            spans.append(OrgSpan(town, f"新镇{t}", "township", "街道", "990100000000", end + 1, None))
        for v in range(1, rng.randint(2, 30)):
            code = f"990100{t:03d}{v:03d}"
            first_end = rng.choice([None, 2022, 2024])
            spans.append(OrgSpan(code, f"村{t}-{v}", "village", "村", town, 2020, first_end))
            if first_end is not None:
                moved = f"990100{rng.randint(1, 39):03d}000"
                spans.append(OrgSpan(code, f"社区{t}-{v}", "village", "社区", moved, first_end + 1, None))
    rng.shuffle(spans)
    return spans


def _reference(spans: list[OrgSpan]):
    """The lookups as plain scans over the rows."""

    def org(code, year):
        return next((s for s in spans if s.org_code == code and s.valid_in(year)), None)

    def villages_of(town, year):
        found = [s for s in spans if s.parent_code == town and s.level == "village" and s.valid_in(year)]
        return sorted(found, key=lambda s: s.org_code)

    def orgs(year, level):
        found = [s for s in spans if s.valid_in(year) and (level is None or s.level == level)]
        return sorted(found, key=lambda s: s.org_code)

    return org, villages_of, orgs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compact_registry_answers_as_its_rows_do_before_and_after_pickling(seed):
    spans = _province(random.Random(seed))
    org, villages_of, orgs = _reference(spans)
    built = Registry(spans)
    for registry in (built, pickle.loads(pickle.dumps(built, pickle.HIGHEST_PROTOCOL))):
        assert sorted(registry.spans, key=lambda s: (s.org_code, s.valid_from)) == sorted(
            spans, key=lambda s: (s.org_code, s.valid_from)
        )
        codes = sorted({s.org_code for s in spans}) + [
            "990100999999",
            "99010000100",
            "９９０１００００１０００",
        ]
        for year in range(2019, 2027):
            for code in codes:
                assert registry.org(code, year) == org(code, year), (code, year)
                want_town = org(code, year)
                if want_town is not None and want_town.level == "village":
                    want_town = org(want_town.parent_code, year)
                elif want_town is not None and want_town.level != "township":
                    want_town = None
                assert registry.township_of(code, year) == want_town
                want_code = (
                    want_town.org_code if want_town is not None and want_town.level == "township" else None
                )
                assert registry.township_code_of(code, year) == want_code
                assert registry.villages_of(code, year) == villages_of(code, year)
            for level in (None, "city", "township", "village", "county"):
                assert registry.orgs(year, level) == orgs(year, level)
        for code in codes:
            assert registry.known(code) == any(s.org_code == code for s in spans)


def test_registry_in_order_takes_sorted_rows_and_refuses_others():
    spans = sorted(default_spans(), key=lambda s: (s.org_code, s.valid_from))
    assert Registry(iter(spans), in_order=True).spans == spans
    with pytest.raises(RegistryError):
        Registry(reversed(spans), in_order=True)


def test_a_province_registry_takes_under_100_bytes_an_org_where_it_is_unpickled():
    """What each reader process holds: the columns, not an object per org (which take ~280 bytes)."""
    spans = [
        OrgSpan(f"9901{t:05d}{v:03d}", f"某某镇某某村{v}", "village", "村", f"9901{t:05d}000", 2020, None)
        for t in range(100)
        for v in range(1, 101)
    ]
    blob = pickle.dumps(Registry(spans), pickle.HIGHEST_PROTOCOL)
    tracemalloc.start()
    try:
        registry = pickle.loads(blob)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert registry.org("990100050007", 2025).name == "某某镇某某村7"
    assert held < 100 * len(spans)


@pytest.mark.parametrize(
    "field,value", [("org_code", "９９０１００００１０００"), ("parent_code", "99010000100")]
)
def test_registry_rows_refuse_codes_that_are_not_twelve_ascii_digits(field, value):
    row = {
        "org_code": "990100001001",
        "name": "村",
        "level": "village",
        "kind": "村",
        "parent_code": "990100001000",
        "valid_from": "2020",
        "valid_to": "",
    }
    with pytest.raises(RegistryError, match=field):
        parse_rows([row | {field: value}])
