"""A city's returns over several years and nights, with the outcome each file must have.

`generate_city` writes a corpus in the nights format of shared/tools/score.py: for each year Y,
night `Y-1` (the main delivery) and night `Y-2` (corrections, duplicates, fixed rejects, late
returns), plus `expected.json`. Every file's warnings are derived once more from the
rulebook after planning (`settle_year`), and generation fails loudly if they differ from what
the cases meant to cause: the manifest never carries a warning by accident.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pbstats.schemas.checks import CHECKS, CheckId, Severity
from pbstats.schemas.forms import FORM_BY_LEVEL, Form, Kind
from pbstats.schemas.registry import OrgSpan, Registry, default_spans

from .cases import ERROR_CASES, LATE_CASES, NOT_VALID_IN_YEAR, WARNING_CASES, Case
from .layout import build_doc
from .oracle import TZ, arrival_order, settle_year
from .quirks import KIND_QUIRKS, QUIRKS, WARNING_OF_QUIRK
from .submission import AUTHORS, Ctx, Submission, file_bytes, mobile, person
from .values import Values, city_year, corrected, guess_prior, township

Loaded = Mapping[tuple[str, int], Values]  # (org code, year) -> the values loaded at the end of that year
N_CORRECTIONS = 4
N_DUPLICATES = 2
WARNING_CASE_COUNTS = {
    "footer_missing_filler": 1,
    "footer_blank_date": 1,
    "prior_mismatch": 2,
    "jump": 2,
    "rollup_count": 1,
    "rollup_villages": 1,
}
KIND_SHARES = (("xls", 0.15), ("xlsm", 0.10), ("ods", 0.10))  # of quirky files; the rest .xlsx
RENAMES = (
    "{name}{year}年报（最终版）(2)",
    "副本{name}{year}年报",
    "{name}{year}年报 - 副本",
    "{town}{name}{year}年度党建统计",
    "{year}年{name}党组织建设情况年报",
    "{name}年报{year}(1)",
    "{name}{year}年报（定稿）",
    "{name}{year}年党建年报表",
)
GENERIC = ("新建 Microsoft Excel 工作表 ({n})", "年报({n})", "党建统计表{n}", "工作簿{n}")
NIGHT2_SUFFIXES = {
    "correction": ("（更正）", "（修改版）", "（最终版）", "-改", "（修订）"),
    "fixed_after_reject": ("（已修改）", "（重报）", "（更正版）", "-修改后"),
}


def generate_city(
    out: Path,
    years: Sequence[int] = (2024, 2025),
    seed: int = 7,
    *,
    registry: Registry | None = None,
    bad_share: float = 0.08,
    quirk_share: float = 0.5,
) -> dict:
    """Write a corpus of the city's returns into `out` and return its manifest (also `out/expected.json`).

    Deterministic for a seed. `bad_share` of each year's senders first send a rejected file
    (at least enough, over all years, to show every error case once) and a fixed one the next
    night; `quirk_share` of accepted files carry layout and spelling quirks.
    """
    started = time.perf_counter()
    out = Path(out)
    _clear(out)
    ctx = Ctx(random.Random(seed), registry or Registry(default_spans()))
    planner = _Planner(ctx, bad_share=bad_share, quirk_share=quirk_share)
    loaded: dict[tuple[str, int], Values] = {}
    nights: list[dict] = []
    ordered = sorted(set(years))
    for index, year in enumerate(ordered):
        truth = city_year(ctx.rng, ctx.registry, year, loaded)
        year_nights = planner.plan_year(year, truth, loaded, years_left=len(ordered) - index)
        finals = settle_year(year_nights, ctx.registry, year, loaded)
        loaded |= {(code, year): values for code, values in finals.items()}
        for number, subs in enumerate(year_nights, start=1):
            nights.append(_write_night(out, f"{year}-{number}", subs))
    manifest = {
        "seed": seed,
        "years": ordered,
        "deadline": "31 January of the next year, 23:59:59 Asia/Shanghai",
        "nights": nights,
    }
    (out / "expected.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    manifest["seconds"] = round(time.perf_counter() - started, 2)
    return manifest


def summary(manifest: dict) -> str:
    files = [e for n in manifest["nights"] for e in n["files"].values()]
    by_status = {s: sum(1 for e in files if e["status"] == s) for s in ("accepted", "rejected", "duplicate")}
    return (
        f"{len(files)} files over {len(manifest['nights'])} nights for {', '.join(map(str, manifest['years']))}: "
        f"{by_status['accepted']} accepted, {by_status['rejected']} rejected, {by_status['duplicate']} duplicate"
        f" (seed {manifest['seed']}, {manifest.get('seconds', 0)} s)"
    )


# ---------------------------------------------------------------- planning


@dataclass
class _YearPlan:
    """One year in the making: the senders, their true values, and who is already spoken for."""

    year: int
    orgs: dict[str, OrgSpan]
    truth: dict[str, Values]
    loaded: Loaded
    pool: list[str] = field(default_factory=list)  # sender codes in the order roles are handed out
    night1: dict[str, Submission] = field(default_factory=dict)
    late: dict[str, str] = field(default_factory=dict)  # code -> late | late_edge (not in on night 1)
    must_be_in: set[str] = field(default_factory=set)  # must be accepted on night 1 (rollup case)

    def __post_init__(self) -> None:
        self.pool = sorted(self.orgs)

    def take(self, fits: Callable[[OrgSpan], bool], avoid: set[str] | frozenset[str]) -> str | None:
        """The next sender without a role that fits."""
        for code in self.pool:
            if (
                code not in self.night1
                and code not in self.late
                and code not in avoid
                and fits(self.orgs[code])
            ):
                return code
        return None


class _Planner:
    """Decides, year by year, who sends what when; remembers which quirks and cases were shown."""

    def __init__(self, ctx: Ctx, *, bad_share: float, quirk_share: float):
        self.ctx, self.rng, self.registry = ctx, ctx.rng, ctx.registry
        self.bad_share, self.quirk_share = bad_share, quirk_share
        self.seen_quirks: set[str] = set()
        self.seen_cases: set[str] = set()
        self.names: set[str] = set()
        self.generic_counter = 0
        self.people: dict[str, tuple[str, str, str]] = {}
        self.guessed: dict[tuple[str, int], Values] = {}

    # -- a fresh, plain return

    def fresh(
        self, org: OrgSpan, year: int, values: Values, loaded: Loaded, *, night: int, when: str = "on_time"
    ) -> Submission:
        rng = self.rng
        form = FORM_BY_LEVEL[org.level]
        prior = loaded.get((org.org_code, year - 1))
        column = prior
        if column is None:
            key = (org.org_code, year)
            column = self.guessed.setdefault(key, guess_prior(rng, form, values))
        received = self.arrival(year, night, when)
        saved_at = received.replace(tzinfo=None) - timedelta(minutes=rng.randint(3, 240))
        head, filler, phone = self.people.setdefault(org.org_code, (person(rng), person(rng), mobile(rng)))
        doc = build_doc(
            form,
            org_name=_unit_name(org, rng),
            org_code=org.org_code,
            year=year,
            values=values,
            prior=column,
            head=head,
            filler=filler,
            phone=phone,
            report_date=saved_at.date() - timedelta(days=rng.choice((0, 0, 1, 2))),
        )
        return Submission(
            org=org,
            form=form,
            year=year,
            values=dict(values),
            loaded_prior=prior,
            doc=doc,
            night=night,
            received=received,
            saved_at=saved_at,
            author=rng.choice(AUTHORS),
        )

    def arrival(self, year: int, night: int, when: str) -> datetime:
        """When a file reaches the inbox: night 1 from 3 to 25 January, night 2 from 26 January
        (on time) or in February (late); `late_edge` at 05:xx on 1 February, Beijing time, which is
        still 31 January in UTC."""
        rng = self.rng
        if when == "late_edge":
            return datetime(year + 1, 2, 1, 5, rng.randint(0, 59), rng.randint(0, 59), tzinfo=TZ)
        if when == "late":
            month, day, hours = 2, rng.randint(3, 20), (8, 18)
        elif night == 1:
            month, day, hours = 1, rng.randint(3, 25), (8, 18)
        else:
            month, day, hours = 1, rng.randint(26, 31), (8, 20)
        clock = (rng.randint(*hours), rng.randint(0, 59), rng.randint(0, 59))
        return datetime(year + 1, month, day, *clock, tzinfo=TZ)

    # -- one year

    def plan_year(
        self, year: int, truth: dict[str, Values], loaded: Loaded, *, years_left: int
    ) -> list[list[Submission]]:
        """The two nights of `year`: who sends what, when, and what must come of it."""
        orgs = self.registry.orgs(year, "township") + self.registry.orgs(year, "village")
        year_plan = _YearPlan(year, {o.org_code: o for o in orgs}, truth, loaded)
        self.rng.shuffle(year_plan.pool)
        self.warning_senders(year_plan)
        for when in LATE_CASES:
            code = year_plan.take(lambda o: True, year_plan.must_be_in)
            if code is not None:
                year_plan.late[code] = when
        self.error_senders(year_plan, self.error_cases(len(orgs), years_left))
        rejected = [code for code, sub in year_plan.night1.items() if sub.status == "rejected"]
        for code in year_plan.pool:
            if code not in year_plan.night1 and code not in year_plan.late:
                year_plan.night1[code] = self.fresh_for(year_plan, code, night=1)
        for sub in year_plan.night1.values():
            if sub.status == "accepted":
                self.add_quirks(sub)
        night1 = list(year_plan.night1.values()) + self.zombies(year, truth, loaded)
        night2 = self.night_two(year_plan, rejected)
        self.sweep_quirks([s for s in (*night1, *night2) if s.status == "accepted"])
        for sub in (*night1, *night2):
            if sub.case == "clean" and sub.quirks:
                sub.case = "quirky"
            self.name(sub)
        for sub in night2:
            first = year_plan.night1.get(sub.org_code)
            if sub.status == "accepted" and first is not None and first.status == "accepted":
                first.extra["superseded_by"] = sub.file_name
        return [sorted(night1, key=arrival_order), sorted(night2, key=arrival_order)]

    def fresh_for(self, plan: _YearPlan, code: str, *, night: int, when: str = "on_time") -> Submission:
        return self.fresh(plan.orgs[code], plan.year, plan.truth[code], plan.loaded, night=night, when=when)

    def warning_senders(self, plan: _YearPlan) -> None:
        """Night-1 returns that must be accepted with a given warning."""
        for name, count in WARNING_CASE_COUNTS.items():
            case = WARNING_CASES[name]
            for _ in range(count):

                def fits(org: OrgSpan, case: Case = case) -> bool:
                    return _fits(case, org) and (
                        not case.needs_prior or (org.org_code, plan.year - 1) in plan.loaded
                    )

                code = plan.take(fits, plan.must_be_in if name.startswith("rollup") else frozenset())
                if code is None:
                    continue
                sub = self.fresh_for(plan, code, night=1)
                if not self.apply_case(sub, case):
                    continue
                plan.night1[code] = sub
                if name == "rollup_villages":  # 08 is checked once all its villages are in: all on night 1
                    plan.must_be_in |= {v.org_code for v in self.registry.villages_of(code, plan.year)}

    def error_senders(self, plan: _YearPlan, cases: list[Case]) -> None:
        """Night-1 returns that must be rejected (each sender sends a fixed one on night 2)."""
        for case in cases:
            for code in plan.pool:
                if code in plan.night1 or code in plan.late or code in plan.must_be_in:
                    continue
                if not _fits(case, plan.orgs[code]):
                    continue
                sub = self.fresh_for(plan, code, night=1)
                if self.apply_case(sub, case):
                    plan.night1[code] = sub
                    break

    def night_two(self, plan: _YearPlan, rejected: list[str]) -> list[Submission]:
        """Fixed rejects, corrections (supersede), byte-identical re-sends and late returns."""
        clean = [c for c in plan.pool if c in plan.night1 and plan.night1[c].case == "clean"]
        corrections = [c for c in clean if plan.orgs[c].level == "township"][:1]
        corrections += [c for c in clean if plan.orgs[c].level == "village"][
            : N_CORRECTIONS - len(corrections)
        ]
        duplicates = [c for c in clean if c not in corrections][:N_DUPLICATES]
        night2 = []
        for code in rejected:
            sub = self.fresh_for(plan, code, night=2)
            sub.case = "fixed_after_reject"
            night2.append(sub)
        for code in corrections:
            org = plan.orgs[code]
            values = corrected(self.rng, FORM_BY_LEVEL[org.level], plan.truth[code])
            sub = self.fresh(org, plan.year, values, plan.loaded, night=2)
            sub.case = "correction"
            night2.append(sub)
        for code, when in plan.late.items():
            sub = self.fresh_for(plan, code, night=2, when=when)
            sub.case = when
            sub.warnings.add(CheckId.W_LATE)
            night2.append(sub)
        for sub in night2:
            self.add_quirks(sub)
        for code in duplicates:
            original = plan.night1[code]
            night2.append(
                Submission(
                    org=original.org,
                    form=original.form,
                    year=plan.year,
                    values=dict(original.values),
                    loaded_prior=original.loaded_prior,
                    doc=None,
                    night=2,
                    status="duplicate",
                    case="duplicate",
                    received=self.arrival(plan.year, 2, "on_time"),
                    original=original,
                )
            )
        return night2

    def error_cases(self, n_orgs: int, years_left: int) -> list[Case]:
        if self.bad_share <= 0:
            return []
        unseen = [c for name, c in ERROR_CASES.items() if name not in self.seen_cases]
        self.rng.shuffle(unseen)
        n = max(round(self.bad_share * n_orgs), math.ceil(len(unseen) / years_left))
        chosen = unseen[:n]
        everything = list(ERROR_CASES.values())
        while len(chosen) < n:
            chosen.append(self.rng.choice(everything))
        return chosen

    def apply_case(self, sub: Submission, case: Case) -> bool:
        if len(case.kinds) > 1 and self.rng.random() < 0.25:
            sub.kind = self.rng.choice(case.kinds[1:])
        else:
            sub.kind = case.kinds[0]
        if not case.apply(sub, self.ctx):
            return False
        if sub.kind != "xlsx":
            sub.quirks.append(sub.kind)
        sub.case = case.name
        if CHECKS[case.check_id].severity is Severity.ERROR:
            sub.status, sub.errors = "rejected", [case.check_id]
        else:
            sub.warnings.add(case.check_id)
        self.seen_cases.add(case.name)
        return True

    def zombies(self, year: int, truth: dict[str, Values], loaded: Loaded) -> list[Submission]:
        """Returns from townships the registry no longer has this year (merged away): E-ORG."""
        out = []
        for gone in self.registry.orgs(year - 1, "township"):
            if self.registry.org(gone.org_code, year) is not None:
                continue
            former = self.registry.villages_of(gone.org_code, year - 1)
            villages = [truth[v.org_code] for v in former if v.org_code in truth]
            values = township(self.rng, villages, len(former), loaded.get((gone.org_code, year - 1)))
            sub = self.fresh(gone, year, values, loaded, night=1)
            sub.case, sub.status, sub.errors = NOT_VALID_IN_YEAR, "rejected", [CheckId.E_ORG]
            self.seen_cases.add(NOT_VALID_IN_YEAR)
            out.append(sub)
        return out

    # -- quirks

    def add_quirks(self, sub: Submission) -> None:
        rng = self.rng
        if sub.status != "accepted" or rng.random() >= self.quirk_share:
            return
        roll = rng.random()
        for kind, share in KIND_SHARES:
            if roll < share:
                sub.kind = kind
                sub.quirks.append(kind)
                self.seen_quirks.add(kind)
                break
            roll -= share
        wanted = rng.choice((1, 1, 2, 2, 3, 4))
        names = [n for n, q in QUIRKS.items() if sub.kind in q.kinds and n not in sub.quirks]
        unseen = [n for n in names if n not in self.seen_quirks]
        seen = [n for n in names if n in self.seen_quirks]
        rng.shuffle(unseen)
        rng.shuffle(seen)
        done = 0
        for name in unseen + seen:
            if done >= wanted:
                break
            if self.apply_quirk(sub, name):
                done += 1

    def apply_quirk(self, sub: Submission, name: str) -> bool:
        if not QUIRKS[name].apply(sub, self.ctx):
            return False
        sub.quirks.append(name)
        self.seen_quirks.add(name)
        if name in WARNING_OF_QUIRK:
            sub.warnings.add(WARNING_OF_QUIRK[name])
        return True

    def sweep_quirks(self, accepted: list[Submission]) -> None:
        """Show every quirk at least once: put the ones not yet seen on files that can carry them."""
        order = list(accepted)
        self.rng.shuffle(order)
        for kind in KIND_QUIRKS:
            if kind in self.seen_quirks:
                continue
            for sub in order:
                if sub.kind == "xlsx" and all(kind in QUIRKS[q].kinds for q in sub.quirks if q in QUIRKS):
                    sub.kind = kind
                    sub.quirks.append(kind)
                    self.seen_quirks.add(kind)
                    break
        for name, quirk in QUIRKS.items():
            if name in self.seen_quirks:
                continue
            for sub in order:
                if sub.kind in quirk.kinds and name not in sub.quirks and self.apply_quirk(sub, name):
                    break

    # -- file names

    def name(self, sub: Submission) -> None:
        rng = self.rng
        name, year = sub.org.name, sub.year
        if sub.original is not None:
            original = sub.original
            stem, suffix = os.path.splitext(original.file_name)
            candidate = rng.choice((f"{stem}(1)", f"副本{stem}", f"{stem} - 副本")) + suffix
            sub.extra["duplicate_of"] = original.file_name
            sub.kind, sub.suffix = original.kind, original.suffix
        else:
            if sub.case in NIGHT2_SUFFIXES:
                stem = f"{name}{year}年报{rng.choice(NIGHT2_SUFFIXES[sub.case])}"
            elif sub.name_style == "renamed":
                town = self.registry.township_of(sub.org_code, year) if sub.org.level == "village" else None
                stem = rng.choice(RENAMES).format(name=name, year=year, town=town.name if town else "")
            elif sub.name_style == "generic":
                self.generic_counter += 1
                stem = rng.choice(GENERIC).format(n=self.generic_counter)
            else:
                stem = f"{name}{year}年报"
            candidate = stem + sub.file_suffix
        base, suffix = os.path.splitext(candidate)
        n = 2
        while candidate in self.names:
            candidate, n = f"{base}({n}){suffix}", n + 1
        self.names.add(candidate)
        sub.file_name = candidate


def _fits(case: Case, org: OrgSpan) -> bool:
    return FORM_BY_LEVEL[org.level].form_id in case.forms


def _unit_name(org: OrgSpan, rng: random.Random) -> str:
    if org.level == "township":
        return rng.choice((f"中共{org.name}委员会", f"{org.name}党委", f"{org.name}党委组织办"))
    return rng.choice(
        (f"{org.name}党支部", f"{org.name}党总支", f"中共{org.name}支部委员会", f"{org.name}党组织")
    )


# ---------------------------------------------------------------- writing


def _expectation(sub: Submission) -> dict:
    assert sub.received is not None
    entry: dict = {
        "status": sub.status,
        "org_code": sub.org_code,
        "form": sub.form.form_id,
        "year": sub.year,
        "case": sub.case,
        "quirks": list(sub.quirks),
        "received_at": sub.received.isoformat(),
    }
    if sub.status == "accepted":
        entry["values"] = _plain_values(sub.form, sub.values)
        entry["warnings"] = sorted(sub.warnings)
    elif sub.status == "rejected":
        entry["errors"] = list(sub.errors)
    entry |= sub.extra
    return entry


def _plain_values(form: Form, values: Values) -> dict[str, int | float]:
    return {
        i.code: float(values[i.code]) if i.kind is Kind.AMOUNT else int(values[i.code])
        for i in form.indicators
    }


def _write_night(out: Path, name: str, subs: list[Submission]) -> dict:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for sub in subs:
        assert sub.received is not None
        if sub.original is not None:
            assert sub.original.data is not None, "a duplicate's original is written on an earlier night"
            sub.data = sub.original.data
        else:
            sub.data = file_bytes(sub)
        path = folder / sub.file_name
        path.write_bytes(sub.data)
        stamp = sub.received.timestamp()
        os.utime(path, (stamp, stamp))
        files[sub.file_name] = _expectation(sub)
    return {"dir": name, "files": files}


def _clear(out: Path) -> None:
    """Make room in `out` for a corpus: remove an earlier generated corpus (its night folders and
    manifest), and refuse a folder that holds anything else."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "expected.json"
    if manifest.exists():
        earlier = json.loads(manifest.read_text(encoding="utf-8"))
        for night in earlier.get("nights", []):
            folder = out / night["dir"]
            if folder.is_dir() and folder.parent == out:
                shutil.rmtree(folder)
        manifest.unlink()
    if any(out.iterdir()):
        raise FileExistsError(f"{out} holds files that are not a generated corpus; give an empty folder")
