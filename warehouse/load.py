"""Loading a batch: one transaction that records every file, makes the newest return of each
(form, org, year) current, keeps the replaced values in history, and re-runs the rollup checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, delete, insert, or_, select, text, update

from schemas.forms import FORMS
from schemas.registry import Registry

from .tables import (
    fact_metric,
    fact_metric_history,
    inbox_file,
    load_run,
    rollup_check,
    submission,
    submission_issue,
)

LOCK_KEY = 4_242_001  # pg advisory lock of the loader


@dataclass
class Incoming:
    """A file read and judged, ready to be recorded: accepted or rejected, with its findings."""

    file_name: str
    sha256: str
    size_bytes: int
    received_at: datetime
    archive_path: str
    status: str  # accepted / rejected
    form: str | None = None
    org_code: str | None = None
    year: int | None = None
    org_name_reported: str | None = None
    sheet: str | None = None
    late: bool = False
    values: dict[str, float] = field(default_factory=dict)
    value_cells: dict[str, str] = field(default_factory=dict)
    issues: list[dict] = field(
        default_factory=list
    )  # check_id, severity, sheet, cell, indicator_code, message, observed
    feedback_path: str | None = None


@dataclass(frozen=True)
class SeenFile:
    """An inbox path taken in, so an unchanged file is never read again."""

    path: str
    size_bytes: int
    mtime_ns: int
    sha256: str


@dataclass
class BatchCounts:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    superseded: int = 0
    duplicates: int = 0
    warnings: int = 0
    seen_again: int = 0
    submission_ids: list[int] = field(default_factory=list)

    def add(self, other: BatchCounts) -> None:
        for name in (
            "received",
            "accepted",
            "rejected",
            "superseded",
            "duplicates",
            "warnings",
            "seen_again",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.submission_ids.extend(other.submission_ids)


RollupFn = Callable[
    ..., Sequence
]  # transforms.rollup.evaluate_rollup, injected (warehouse never imports transforms)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def lock(conn: Connection) -> None:
    """Serialise loads: PostgreSQL by an advisory lock held to the end of the transaction; SQLite's
    BEGIN IMMEDIATE (warehouse.db) already holds the single write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})


# ---- what the warehouse already knows ------------------------------------------------------------


def known_files(conn: Connection, paths: Iterable[str]) -> dict[str, tuple[int, int]]:
    """path → (size, mtime_ns) of inbox paths already taken in."""
    out = {}
    for chunk in _chunks(list(paths), 500):
        for r in conn.execute(
            select(inbox_file.c.path, inbox_file.c.size_bytes, inbox_file.c.mtime_ns).where(
                inbox_file.c.path.in_(chunk)
            )
        ):
            out[r.path] = (r.size_bytes, r.mtime_ns)
    return out


def last_year_values(
    conn: Connection, returns: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, str, int], dict[str, float]]:
    """(form, org, year) → {code: value} loaded for the year before."""
    wanted = {(f, o, y - 1) for f, o, y in returns}
    out: dict[tuple[str, str, int], dict[str, float]] = {}
    orgs = sorted({o for _, o, _ in wanted})
    for chunk in _chunks(orgs, 500):
        rows = conn.execute(
            select(
                fact_metric.c.form,
                fact_metric.c.org_code,
                fact_metric.c.year,
                fact_metric.c.indicator_code,
                fact_metric.c.value,
            ).where(fact_metric.c.org_code.in_(chunk))
        )
        for r in rows:
            if (r.form, r.org_code, r.year) in wanted:
                out.setdefault((r.form, r.org_code, r.year + 1), {})[r.indicator_code] = r.value
    return out


# ---- runs ---------------------------------------------------------------------------------------


def start_run(
    conn: Connection, run_id: str, flow_run_id: str | None, flow_name: str, inbox: str | None
) -> None:
    conn.execute(
        insert(load_run),
        {
            "run_id": run_id,
            "flow_run_id": flow_run_id,
            "flow_name": flow_name,
            "inbox": inbox,
            "started_at": now_utc(),
            "outcome": "running",
            "files_received": 0,
            "accepted": 0,
            "rejected": 0,
            "superseded": 0,
            "duplicates": 0,
            "held": 0,
            "warnings": 0,
        },
    )


def finish_run(conn: Connection, run_id: str, outcome: str, message: str | None = None) -> None:
    """Counts come from the submissions themselves, so a run's row always agrees with them."""
    counts = {"accepted": 0, "rejected": 0, "superseded": 0, "duplicate": 0, "held": 0}
    for status, n in conn.execute(
        text("SELECT status, COUNT(*) FROM submission WHERE run_id = :r GROUP BY status"), {"r": run_id}
    ):
        counts[status] = n
    warnings = conn.execute(
        text(
            "SELECT COUNT(*) FROM submission_issue i JOIN submission s ON s.submission_id = i.submission_id "
            "WHERE s.run_id = :r AND i.severity = 'warning'"
        ),
        {"r": run_id},
    ).scalar_one()
    conn.execute(
        update(load_run)
        .where(load_run.c.run_id == run_id)
        .values(
            ended_at=now_utc(),
            outcome=outcome,
            message=message,
            files_received=sum(counts.values()),
            accepted=counts["accepted"],
            rejected=counts["rejected"],
            superseded=counts["superseded"],
            duplicates=counts["duplicate"],
            held=counts["held"],
            warnings=warnings,
        )
    )


# ---- the batch ----------------------------------------------------------------------------------


def load_batch(
    conn: Connection,
    run_id: str,
    incoming: Sequence[Incoming],
    seen: Sequence[SeenFile],
    registry: Registry,
    rollup: RollupFn,
) -> BatchCounts:
    """Record a batch in the caller's transaction; a file whose bytes are known is a duplicate."""
    lock(conn)
    counts = BatchCounts()
    now = now_utc()
    ordered = sorted(incoming, key=lambda i: (_naive_utc(i.received_at), i.file_name))
    first_of = _first_submissions(conn, {i.sha256 for i in ordered})
    fresh: list[Incoming] = []
    repeats: list[Incoming] = []
    fresh_shas: set[str] = set()
    for inc in ordered:
        if inc.sha256 in first_of:
            if first_of[inc.sha256][1] == inc.file_name:
                counts.seen_again += 1  # the same file under the same name: nothing new
            else:
                repeats.append(inc)
        elif inc.sha256 in fresh_shas:
            repeats.append(inc)
        else:
            fresh_shas.add(inc.sha256)
            fresh.append(inc)

    ids = _insert_submissions(conn, run_id, fresh, now)
    for inc, sid in zip(fresh, ids, strict=True):
        first_of[inc.sha256] = (sid, inc.file_name)
    if repeats:
        _insert_duplicates(conn, run_id, repeats, first_of, now)
    counts.duplicates = len(repeats)
    counts.received = len(fresh) + len(repeats)
    counts.submission_ids = list(ids)

    issue_rows = [
        dict(issue, submission_id=sid) for inc, sid in zip(fresh, ids, strict=True) for issue in inc.issues
    ]
    if issue_rows:
        conn.execute(insert(submission_issue), issue_rows)
    counts.warnings = sum(1 for r in issue_rows if r["severity"] == "warning")
    counts.rejected = sum(1 for inc in fresh if inc.status == "rejected")

    accepted = [(inc, sid) for inc, sid in zip(fresh, ids, strict=True) if inc.status == "accepted"]
    made_current, superseded = _make_current(conn, run_id, accepted, now)
    counts.accepted = len(accepted) - superseded
    counts.superseded = superseded
    _remember_files(conn, seen, now)

    touched = set()
    for inc in made_current:
        if inc.form == "DJ-2":
            touched.add((inc.year, inc.org_code))
        else:
            township = registry.township_of(inc.org_code, inc.year)
            if township is not None:
                touched.add((inc.year, township.org_code))
    rerun_rollups(conn, sorted(touched), registry, rollup, now)
    return counts


def _first_submissions(conn: Connection, shas: set[str]) -> dict[str, tuple[int, str]]:
    """sha256 → (submission_id, file_name) of the first submission of those bytes."""
    out: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(sorted(shas), 500):
        rows = conn.execute(
            select(submission.c.sha256, submission.c.submission_id, submission.c.file_name)
            .where(submission.c.sha256.in_(chunk), submission.c.status != "duplicate")
            .order_by(submission.c.submission_id)
        )
        for r in rows:
            out.setdefault(r.sha256, (r.submission_id, r.file_name))
    return out


def _submission_row(run_id: str, inc: Incoming, now: datetime) -> dict:
    return {
        "file_name": inc.file_name,
        "sha256": inc.sha256,
        "size_bytes": inc.size_bytes,
        "received_at": inc.received_at,
        "form": inc.form,
        "org_code": inc.org_code,
        "year": inc.year,
        "status": inc.status,
        "late": inc.late,
        "org_name_reported": inc.org_name_reported,
        "sheet": inc.sheet,
        "value_cells": json.dumps(inc.value_cells, ensure_ascii=False) if inc.value_cells else None,
        "archive_path": inc.archive_path,
        "feedback_path": inc.feedback_path,
        "superseded_by": None,
        "duplicate_of": None,
        "run_id": run_id,
        "loaded_at": now,
    }


def _insert_submissions(conn: Connection, run_id: str, fresh: Sequence[Incoming], now: datetime) -> list[int]:
    if not fresh:
        return []
    result = conn.execute(
        insert(submission).returning(submission.c.submission_id, sort_by_parameter_order=True),
        [_submission_row(run_id, inc, now) for inc in fresh],
    )
    return [r[0] for r in result]


def _insert_duplicates(conn, run_id, repeats, first_of, now) -> None:
    """A byte-identical file changes nothing; its row names the return of the first copy."""
    first_ids = sorted({first_of[inc.sha256][0] for inc in repeats})
    identity = {
        r.submission_id: r
        for r in conn.execute(
            select(
                submission.c.submission_id, submission.c.form, submission.c.org_code, submission.c.year
            ).where(submission.c.submission_id.in_(first_ids))
        )
    }
    rows = []
    for inc in repeats:
        first = identity[first_of[inc.sha256][0]]
        row = _submission_row(run_id, inc, now)
        row.update(
            status="duplicate",
            duplicate_of=first.submission_id,
            form=first.form,
            org_code=first.org_code,
            year=first.year,
        )
        row.update(feedback_path=None, value_cells=None, late=False)
        rows.append(row)
    conn.execute(insert(submission), rows)


def _make_current(conn: Connection, run_id: str, accepted, now: datetime) -> tuple[list[Incoming], int]:
    """Of all accepted returns of a (form, org, year), the one received last is current (ties: name)."""
    by_key: dict[tuple, list[tuple[Incoming, int]]] = {}
    for inc, sid in accepted:
        by_key.setdefault((inc.form, inc.org_code, inc.year), []).append((inc, sid))
    current = _current_submissions(conn, by_key.keys(), exclude={sid for _, sid in accepted})
    made_current: list[Incoming] = []
    superseded = 0
    fact_rows, history_rows, to_supersede = [], [], []
    for key, group in by_key.items():
        candidates = [((_naive_utc(inc.received_at), inc.file_name), sid, inc) for inc, sid in group]
        old = current.get(key)
        if old is not None:
            candidates.append(((old[1], old[2]), old[0], None))
        candidates.sort(key=lambda c: c[0])
        _, winner_id, winner = candidates[-1]
        for _, sid, inc in candidates[:-1]:
            to_supersede.append((sid, winner_id))
            superseded += 1 if inc is not None else 0
        if winner is None:
            continue  # what was already current stays current
        made_current.append(winner)
        form = FORMS[winner.form]
        if old is not None:
            old_values = dict(
                conn.execute(
                    select(fact_metric.c.indicator_code, fact_metric.c.value).where(
                        fact_metric.c.form == key[0],
                        fact_metric.c.org_code == key[1],
                        fact_metric.c.year == key[2],
                    )
                ).all()
            )
            for ind in form.indicators:
                history_rows.append(
                    {
                        "org_code": key[1],
                        "year": key[2],
                        "form": key[0],
                        "indicator_code": ind.code,
                        "metric_key": ind.metric_key,
                        "old_value": old_values.get(ind.code),
                        "new_value": winner.values.get(ind.code),
                        "old_submission_id": old[0],
                        "new_submission_id": winner_id,
                        "changed_at": now,
                        "run_id": run_id,
                    }
                )
            conn.execute(
                delete(fact_metric).where(
                    fact_metric.c.form == key[0],
                    fact_metric.c.org_code == key[1],
                    fact_metric.c.year == key[2],
                )
            )
        for ind in form.indicators:
            fact_rows.append(
                {
                    "org_code": key[1],
                    "year": key[2],
                    "form": key[0],
                    "indicator_code": ind.code,
                    "metric_key": ind.metric_key,
                    "value": float(winner.values.get(ind.code, 0.0)),
                    "submission_id": winner_id,
                }
            )
    for sid, winner_id in to_supersede:
        conn.execute(
            update(submission)
            .where(submission.c.submission_id == sid)
            .values(status="superseded", superseded_by=winner_id)
        )
    if history_rows:
        conn.execute(insert(fact_metric_history), history_rows)
    if fact_rows:
        conn.execute(insert(fact_metric), fact_rows)
    return made_current, superseded


def _current_submissions(conn: Connection, keys, exclude: set[int]) -> dict[tuple, tuple[int, datetime, str]]:
    """(form, org, year) → (id, received_at, file_name) of the accepted return already loaded."""
    keys = list(keys)
    out = {}
    for chunk in _chunks(keys, 200):
        cond = or_(
            *(
                and_(submission.c.form == f, submission.c.org_code == o, submission.c.year == y)
                for f, o, y in chunk
            )
        )
        rows = conn.execute(
            select(
                submission.c.form,
                submission.c.org_code,
                submission.c.year,
                submission.c.submission_id,
                submission.c.received_at,
                submission.c.file_name,
            ).where(submission.c.status == "accepted", cond)
        )
        for r in rows:
            if r.submission_id not in exclude:
                out[(r.form, r.org_code, r.year)] = (r.submission_id, _naive_utc(r.received_at), r.file_name)
    return out


def _remember_files(conn: Connection, seen: Sequence[SeenFile], now: datetime) -> None:
    if not seen:
        return
    paths = [s.path for s in seen]
    for chunk in _chunks(paths, 500):
        conn.execute(delete(inbox_file).where(inbox_file.c.path.in_(chunk)))
    conn.execute(
        insert(inbox_file),
        [
            {
                "path": s.path,
                "size_bytes": s.size_bytes,
                "mtime_ns": s.mtime_ns,
                "sha256": s.sha256,
                "seen_at": now,
            }
            for s in seen
        ],
    )


# ---- W-ROLLUP -----------------------------------------------------------------------------------


def rerun_rollups(
    conn: Connection, pairs: Sequence[tuple[int, str]], registry: Registry, rollup: RollupFn, now: datetime
) -> None:
    """Re-check each (year, township): its current DJ-2 against its villages' current DJ-1 returns."""
    for year, township in pairs:
        villages = [v.org_code for v in registry.villages_of(township, year)]
        facts = conn.execute(
            select(
                fact_metric.c.org_code,
                fact_metric.c.form,
                fact_metric.c.indicator_code,
                fact_metric.c.value,
                fact_metric.c.submission_id,
            ).where(fact_metric.c.year == year, fact_metric.c.org_code.in_(villages + [township]))
        ).all()
        values: dict[tuple[str, str], dict[str, float]] = {}
        township_sid = None
        for r in facts:
            values.setdefault((r.org_code, r.form), {})[r.indicator_code] = r.value
            if r.org_code == township and r.form == "DJ-2":
                township_sid = r.submission_id
        sheet, cells = None, {}
        if township_sid is not None:
            row = conn.execute(
                select(submission.c.sheet, submission.c.value_cells).where(
                    submission.c.submission_id == township_sid
                )
            ).one()
            sheet, cells = row.sheet, json.loads(row.value_cells or "{}")
        village_values = [values[(v, "DJ-1")] for v in villages if (v, "DJ-1") in values]
        results = rollup(values.get((township, "DJ-2")), len(villages), village_values, sheet, cells)
        conn.execute(
            delete(rollup_check).where(rollup_check.c.year == year, rollup_check.c.township_code == township)
        )
        conn.execute(
            insert(rollup_check),
            [
                {
                    "year": year,
                    "township_code": township,
                    "indicator_code": r.indicator_code,
                    "state": r.state,
                    "reported": r.reported,
                    "expected": r.expected,
                    "villages_expected": len(villages),
                    "villages_accepted": len(village_values),
                    "checked_at": now,
                }
                for r in results
            ],
        )
        if township_sid is None:
            continue
        conn.execute(
            delete(submission_issue).where(
                submission_issue.c.submission_id == township_sid, submission_issue.c.check_id == "W-ROLLUP"
            )
        )
        found = [r.finding for r in results if r.finding is not None]
        if found:
            conn.execute(
                insert(submission_issue),
                [
                    {
                        "submission_id": township_sid,
                        "check_id": f.check_id,
                        "severity": "warning",
                        "sheet": f.sheet,
                        "cell": f.cell,
                        "indicator_code": f.indicator_code,
                        "message": f.message,
                        "observed": f.observed,
                    }
                    for f in found
                ],
            )


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i : i + n]
