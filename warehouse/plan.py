"""What a batch's load changes, decided over plain data (no connection): which files are new bytes and
which repeat bytes received before, which returns wait for a closed year to reopen, which accepted
return of each (form, org, year) is current and which it supersedes, the facts that follow the current
return with the replaced values kept in history, and the townships whose rollup check must run again.
`load.read_for_*` fetches what these decisions need (`Known`); `load.write` stores the `LoadPlan`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from pbstats.schemas.forms import FORMS
from pbstats.schemas.registry import Registry

from .load import (
    BatchCounts,
    Facts,
    FirstCopy,
    Incoming,
    Key,
    Known,
    LoadPlan,
    Recorded,
    SeenFile,
    key_of,
    naive_utc,
)


def plan_load(
    run_id: str,
    batch: Sequence[Incoming],
    seen: Sequence[SeenFile],
    known: Known,
    registry: Registry,
    now: datetime,
) -> LoadPlan:
    """Record a batch of files read and judged: a file whose bytes are known is a duplicate of their
    first copy (under that copy's own name, nothing new); an accepted return of a closed year is held."""
    plan = LoadPlan(BatchCounts())
    counts = plan.counts
    fresh, repeats = _split_repeats(batch, known, counts)
    ids = known.new_ids[: len(fresh)]
    statuses = [_held_or(inc, known) for inc in fresh]
    firsts = dict(known.first_copies)
    for inc, sid, status in zip(fresh, ids, statuses, strict=True):
        plan.submissions.append(_submission_row(run_id, inc, status, now, sid))
        firsts[inc.sha256] = FirstCopy(sid, inc.file_name, inc.form, inc.org_code, inc.year)
    duplicate_ids = known.new_ids[len(fresh) : len(fresh) + len(repeats)]
    plan.submissions += [
        _duplicate_row(run_id, inc, firsts[inc.sha256], now, sid)
        for inc, sid in zip(repeats, duplicate_ids, strict=True)
    ]
    counts.duplicates = len(repeats)
    counts.received = len(fresh) + len(repeats)
    counts.submission_ids = list(ids)
    plan.issues = [
        dict(issue, submission_id=sid) for inc, sid in zip(fresh, ids, strict=True) for issue in inc.issues
    ]
    counts.warnings = sum(1 for r in plan.issues if r["severity"] == "warning")
    counts.rejected = statuses.count("rejected")
    counts.held = statuses.count("held")

    accepted = {
        sid: inc for inc, sid, status in zip(fresh, ids, statuses, strict=True) if status == "accepted"
    }
    keys = sorted({key_of(inc) for inc in accepted.values()})
    candidates = {key: list(known.accepted.get(key, [])) for key in keys}
    for sid, inc in accepted.items():
        candidates[key_of(inc)].append(Recorded(sid, naive_utc(inc.received_at), inc.file_name))
    _settle(plan, run_id, keys, candidates, known, accepted, registry, now)
    plan.inbox = [
        {
            "path_sha256": s.key,
            "path": s.shown,
            "size_bytes": s.size_bytes,
            "mtime_ns": s.mtime_ns,
            "sha256": s.sha256,
            "seen_at": now,
        }
        for s in seen
    ]
    return plan


def plan_rejudge(
    run_id: str, items: Sequence[tuple[int, Incoming]], known: Known, registry: Registry, now: datetime
) -> LoadPlan:
    """Judge recorded submissions again (after a registry or rule correction): their verdicts and
    findings are replaced, and each return they were or are now accepted as is settled anew."""
    plan = LoadPlan(BatchCounts())
    counts = plan.counts
    accepted: dict[int, Incoming] = {}
    for sid, inc in items:
        status = _held_or(inc, known)
        plan.verdicts.append(_verdict_row(run_id, sid, inc, status))
        plan.issues.extend(dict(issue, submission_id=sid) for issue in inc.issues)
        counts.rejected += status == "rejected"
        counts.held += status == "held"
        if status == "accepted":
            accepted[sid] = inc
    counts.warnings = sum(1 for r in plan.issues if r["severity"] == "warning")
    counts.received = len(items)
    was = {r.key for r in known.recorded.values() if r.key is not None}
    keys = sorted(was | {key_of(inc) for inc in accepted.values()})
    judged_again = {sid for sid, _ in items}  # accepted by their new verdicts, not as recorded
    candidates = {
        key: [c for c in known.accepted.get(key, []) if c.submission_id not in judged_again] for key in keys
    }
    for sid, inc in accepted.items():
        candidates[key_of(inc)].append(known.recorded[sid])
    _settle(plan, run_id, keys, candidates, known, accepted, registry, now)
    return plan


def _split_repeats(
    batch: Sequence[Incoming], known: Known, counts: BatchCounts
) -> tuple[list[Incoming], list[Incoming]]:
    """The batch in arrival order, as new bytes and as repeats of bytes received before (or earlier in
    the batch); the same file seen again under its first copy's name is counted and left out."""
    fresh, repeats, fresh_shas = [], [], set()
    for inc in sorted(batch, key=lambda i: (naive_utc(i.received_at), i.file_name)):
        if known.seen_again(inc):
            counts.seen_again += 1
        elif inc.sha256 in known.first_copies or inc.sha256 in fresh_shas:
            repeats.append(inc)
        else:
            fresh_shas.add(inc.sha256)
            fresh.append(inc)
    return fresh, repeats


def _held_or(inc: Incoming, known: Known) -> str:
    """A closed year keeps its figures: its accepted return waits for a reopen."""
    return "held" if inc.status == "accepted" and inc.year in known.closed_years else inc.status


def _settle(
    plan: LoadPlan,
    run_id: str,
    keys: Sequence[Key],
    candidates: Mapping[Key, Sequence[Recorded]],
    known: Known,
    accepted: Mapping[int, Incoming],
    registry: Registry,
    now: datetime,
) -> None:
    """`settle` over the batch's keys, into `plan`: what it counts, and the rollups it touches."""
    new_values = {sid: inc.values for sid, inc in accepted.items()}
    changed = settle(plan, run_id, keys, candidates, known.facts, new_values, now)
    superseded = {s["sid"] for s in plan.superseded}
    plan.counts.superseded = sum(1 for sid in accepted if sid in superseded)
    plan.counts.accepted = len(accepted) - plan.counts.superseded
    plan.rollups = [
        {"year": y, "township_code": t}
        for y, t in townships_of(changed, registry)
        if (y, t) not in known.noted_rollups
    ]


def settle(
    plan: LoadPlan,
    run_id: str,
    keys: Sequence[Key],
    candidates: Mapping[Key, Sequence[Recorded]],
    current: Mapping[Key, Facts],
    new_values: Mapping[int, Mapping[str, float]],
    now: datetime,
) -> list[Key]:
    """Make the accepted return received last current for each (form, org, year) (ties: file name,
    then id); the other candidates become superseded. Facts follow the current return; replaced values
    go to history. `new_values` holds the values of the returns judged in this batch (submission id →
    values): a current return not among them keeps its facts. Returns the keys whose facts changed."""
    changed = []
    for key in keys:
        ranked = sorted(candidates.get(key, []), key=lambda c: (c.received_at, c.file_name, c.submission_id))
        winner = ranked[-1].submission_id if ranked else None
        plan.superseded += [{"sid": c.submission_id, "winner": winner} for c in ranked[:-1]]
        facts = current.get(key, [])
        if (winner is None and not facts) or (winner is not None and winner not in new_values):
            continue  # nothing loaded and nothing to load, or what was current stays current
        if _replace_facts(plan, run_id, key, winner, new_values.get(winner, {}), facts, now):
            changed.append(key)
    return changed


def _replace_facts(
    plan: LoadPlan,
    run_id: str,
    key: Key,
    winner: int | None,
    values: Mapping[str, float],
    facts: Facts,
    now: datetime,
) -> bool:
    """The facts of `key` made those of `winner` (none: the return has no current version), the
    replaced ones kept in history; False when they are already."""
    form_id, org, year = key
    indicators = FORMS[form_id].indicators
    old_sid = facts[0][2] if facts else None
    old_values = {code: value for code, value, _ in facts}
    rows = [
        {
            "org_code": org,
            "year": year,
            "form": form_id,
            "indicator_code": ind.code,
            "metric_key": ind.metric_key,
            "value": float(values.get(ind.code, 0.0)),
            "submission_id": winner,
        }
        for ind in (indicators if winner is not None else ())
    ]
    if old_sid == winner and all(old_values.get(r["indicator_code"]) == r["value"] for r in rows):
        return False
    if facts:
        plan.stale.append(key)
        plan.history += [
            {
                "org_code": org,
                "year": year,
                "form": form_id,
                "indicator_code": ind.code,
                "metric_key": ind.metric_key,
                "old_value": old_values.get(ind.code),
                "new_value": values.get(ind.code) if winner is not None else None,
                "old_submission_id": old_sid,
                "new_submission_id": winner,
                "changed_at": now,
                "run_id": run_id,
            }
            for ind in indicators
        ]
    plan.facts += rows
    return True


def townships_of(keys: Sequence[Key], registry: Registry) -> list[tuple[int, str]]:
    """(year, township) pairs whose rollup a change of these returns can move."""
    touched = set()
    for form, org, year in keys:
        if form == "DJ-2":
            touched.add((year, org))
        else:
            township = registry.township_code_of(org, year)
            if township is not None:
                touched.add((year, township))
    return sorted(touched)


def _submission_row(run_id: str, inc: Incoming, status: str, now: datetime, submission_id: int) -> dict:
    return {
        "submission_id": submission_id,
        "file_name": inc.file_name,
        "sha256": inc.sha256,
        "size_bytes": inc.size_bytes,
        "received_at": inc.received_at,
        "form": inc.form,
        "org_code": inc.org_code,
        "year": inc.year,
        "status": status,
        "late": inc.late,
        "org_name_reported": inc.org_name_reported,
        "sheet": inc.sheet,
        "value_cells": _cells(inc),
        "archive_path": inc.archive_path,
        "feedback_path": inc.feedback_path,
        "superseded_by": None,
        "duplicate_of": None,
        "run_id": run_id,
        "loaded_at": now,
    }


def _duplicate_row(run_id: str, inc: Incoming, first: FirstCopy, now: datetime, submission_id: int) -> dict:
    """A byte-identical file changes nothing; its row names the return of the first copy."""
    row = _submission_row(run_id, inc, "duplicate", now, submission_id)
    row.update(duplicate_of=first.submission_id, form=first.form, org_code=first.org_code, year=first.year)
    row.update(feedback_path=None, value_cells=None, late=False)
    return row


def _verdict_row(run_id: str, submission_id: int, inc: Incoming, status: str) -> dict:
    return {
        "submission_id": submission_id,
        "status": status,
        "form": inc.form,
        "org_code": inc.org_code,
        "year": inc.year,
        "late": inc.late,
        "org_name_reported": inc.org_name_reported,
        "sheet": inc.sheet,
        "value_cells": _cells(inc),
        "feedback_path": inc.feedback_path,
        "superseded_by": None,
        "run_id": run_id,  # the run that last judged the file
    }


def _cells(inc: Incoming) -> str | None:
    return json.dumps(inc.value_cells, ensure_ascii=False) if inc.value_cells else None
