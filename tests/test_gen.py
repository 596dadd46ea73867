"""The demo/test corpus generator: deterministic, complete, and true to the rulebook it is scored by."""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime
from pathlib import Path

import pytest

from pbstats.gen.__main__ import main
from pbstats.gen.cases import ERROR_CASES, LATE_CASES, NOT_VALID_IN_YEAR, WARNING_CASES
from pbstats.gen.city import generate_city
from pbstats.gen.oracle import deadline
from pbstats.gen.quirks import CATALOGUE, ZERO_SPELLINGS
from pbstats.gen.values import jumped, rollup_counts
from pbstats.schemas.checks import CHECKS, Severity
from pbstats.schemas.forms import (
    FORMS,
    SPREADSHEET_SUFFIXES,
    Kind,
)
from pbstats.schemas.registry import Registry, default_spans

REGISTRY = Registry(default_spans())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("city")
    return out, generate_city(out)


def entries(manifest: dict):
    for night in manifest["nights"]:
        for name, entry in night["files"].items():
            yield night["dir"], name, entry


def finals(manifest: dict) -> dict[tuple[str, int], dict]:
    """The accepted return that is current at the end, per (org, year)."""
    out = {}
    for _, _, e in entries(manifest):
        if e["status"] == "accepted":
            out[(e["org_code"], e["year"])] = e
    return out


def fingerprint(out: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(out)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "expected.json"
    }


def test_the_same_seed_gives_the_same_corpus(corpus, tmp_path):
    out, manifest = corpus
    again = generate_city(tmp_path / "again")
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in manifest.items() if k != "seconds"
    }
    assert fingerprint(tmp_path / "again") == fingerprint(out)


def test_the_corpus_is_in_score_py_nights_format_with_unique_names(corpus):
    out, manifest = corpus
    assert [n["dir"] for n in manifest["nights"]] == ["2024-1", "2024-2", "2025-1", "2025-2"]
    names = [name for _, name, _ in entries(manifest)]
    assert len(names) == len(set(names))
    for folder, name, _ in entries(manifest):
        assert (out / folder / name).is_file()
    assert (out / "expected.json").is_file()


def test_every_org_valid_in_a_year_ends_with_an_accepted_return(corpus):
    _, manifest = corpus
    current = finals(manifest)
    for year in (2024, 2025):
        expected = {o.org_code for o in REGISTRY.orgs(year) if o.level != "city"}
        assert {org for org, y in current if y == year} == expected
    assert ("990181203000", 2024) in current and ("990181203000", 2025) not in current  # merged away in 2025


def test_every_check_id_every_file_kind_and_the_whole_catalogue_appear(corpus):
    _, manifest = corpus
    es = list(entries(manifest))
    errors = {x for _, _, e in es for x in e.get("errors", [])}
    warnings = {x for _, _, e in es for x in e.get("warnings", [])}
    assert errors == {c for c, chk in CHECKS.items() if chk.severity is Severity.ERROR}
    assert warnings == {c for c, chk in CHECKS.items() if chk.severity is Severity.WARNING}
    accepted_suffixes = {Path(n).suffix for _, n, e in es if e["status"] == "accepted"}
    assert set(SPREADSHEET_SUFFIXES) <= accepted_suffixes
    assert {".txt", ".csv", ".pdf", ".docx"} <= {Path(n).suffix for _, n, _ in es}
    assert set(CATALOGUE) <= {q for _, _, e in es for q in e["quirks"]}
    cases = {e["case"] for _, _, e in es}
    wanted = set(ERROR_CASES) | set(WARNING_CASES) | set(LATE_CASES)
    assert wanted | {NOT_VALID_IN_YEAR, "correction", "duplicate", "fixed_after_reject", "clean"} <= cases


def test_accepted_values_obey_the_forms(corpus):
    _, manifest = corpus
    for _, name, e in entries(manifest):
        if e["status"] != "accepted":
            continue
        form = FORMS[e["form"]]
        values = e["values"]
        assert list(values) == [i.code for i in form.indicators], name
        for ind in form.indicators:
            v = values[ind.code]
            assert v >= 0, name
            if ind.kind is Kind.AMOUNT:
                assert type(v) is float and round(v, 2) == v, name
            else:
                assert type(v) is int, name
            if ind.kind is Kind.FLAG:
                assert v in (0, 1), name
        for rule in form.rules:
            assert values[rule.small] <= values[rule.large], (name, rule)


def test_received_times_are_file_times_and_lateness_follows_the_deadline(corpus):
    out, manifest = corpus
    last_seen: dict[tuple[str, int], datetime] = {}
    for folder, name, e in entries(manifest):
        received = datetime.fromisoformat(e["received_at"])
        assert os.stat(out / folder / name).st_mtime == pytest.approx(received.timestamp())
        if e["status"] == "accepted":
            assert ("W-LATE" in e["warnings"]) == (received > deadline(e["year"])), name
        key = (e["org_code"], e["year"])
        if folder.endswith("-2") and key in last_seen:
            assert received > last_seen[key], name
        last_seen.setdefault(key, received)


def test_year_over_year_and_rollup_warnings_are_exactly_the_injected_ones(corpus):
    _, manifest = corpus
    current = finals(manifest)
    for _, name, e in entries(manifest):
        if e["status"] != "accepted":
            continue
        prev = current.get((e["org_code"], e["year"] - 1))
        jumps = bool(prev and jumped(FORMS[e["form"]], prev["values"], e["values"]))
        assert jumps == ("W-JUMP" in e["warnings"]), name
        if "W-JUMP" in e["warnings"] or "W-PRIOR" in e["warnings"]:
            assert e["case"] in ("jump", "prior_mismatch"), name
    for (org, year), e in current.items():
        if e["form"] != "DJ-2":
            continue
        villages = REGISTRY.villages_of(org, year)
        want = rollup_counts([current[(v.org_code, year)]["values"] for v in villages], len(villages))
        agrees = all(e["values"][code] == n for code, n in want.items())
        assert agrees != ("W-ROLLUP" in e["warnings"]), (org, year)
    merged = current[("990181108000", 2025)]  # 长岭镇 took over 竹坪乡's villages in 2025
    assert merged["values"]["01"] == 22 or "W-ROLLUP" in merged["warnings"]


def test_a_zero_written_as_a_dash_slash_or_wu_is_no_blank(corpus):
    """forms.md §5: only an empty cell is W-BLANK; the manifest must not expect it for a spelled zero."""
    _, manifest = corpus
    spelled = [e for _, _, e in entries(manifest) if any(q.startswith("zero_") for q in e["quirks"])]
    assert {q for e in spelled for q in e["quirks"]} >= set(ZERO_SPELLINGS)
    for e in spelled:
        if "blank_cell" not in e["quirks"]:
            assert "W-BLANK" not in e["warnings"], e["quirks"]


def test_duplicates_repeat_an_earlier_file_byte_for_byte(corpus):
    out, manifest = corpus
    where = {name: out / folder / name for folder, name, _ in entries(manifest)}
    dups = [(n, e) for _, n, e in entries(manifest) if e["status"] == "duplicate"]
    assert dups
    for name, e in dups:
        assert where[name].read_bytes() == where[e["duplicate_of"]].read_bytes()


def test_files_read_back_through_the_pipelines_reader_as_the_manifest_says(corpus):
    """Every generated file, read and judged by transforms/ and the GX suites (no warehouse): identity
    and values of accepted files, the error of rejected ones, and the warnings a file shows on its own."""
    from datetime import UTC

    from pbstats.flows.stages import apply_value_rules
    from pbstats.transforms.checks import Rulebook, check_file
    from pbstats.transforms.model import Received

    out, manifest = corpus
    rules = Rulebook(REGISTRY, today=date(2026, 11, 26))
    judged = []
    for folder, name, e in entries(manifest):
        if e["status"] == "duplicate":
            continue
        path = out / folder / name
        when = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        ret, _ = check_file(
            Received(name, "0" * 64, path.stat().st_size, when, "x"), path.read_bytes(), rules
        )
        judged.append((name, e, ret))
    apply_value_rules([ret for _, _, ret in judged])
    for name, e, ret in judged:
        found = {f.check_id for f in ret.findings}
        if e["status"] == "rejected":
            assert set(e["errors"]) <= found, (name, e["case"], found)
            continue
        assert not ret.rejected, (name, e["quirks"], [f.message for f in ret.findings])
        assert (ret.form_id, ret.org_code, ret.year) == (e["form"], e["org_code"], e["year"]), name
        assert {k: float(v) for k, v in ret.values.items()} == pytest.approx(e["values"]), (name, e["quirks"])
        for w in ("W-BLANK", "W-FOOTER", "W-LATE"):
            assert (w in found) == (w in e["warnings"]), (name, w, e["quirks"])


def test_the_command_line_writes_a_corpus_and_says_so(tmp_path, capsys):
    main([str(tmp_path / "demo"), "--years", "2025", "--seed", "3"])
    line = capsys.readouterr().out.strip()
    assert "files over 2 nights" in line and "accepted" in line
    assert (tmp_path / "demo" / "2025-1").is_dir() and (tmp_path / "demo" / "expected.json").is_file()
