"""Loading a batch: one transaction that records every file, makes the newest return of each
(form, org, year) current, keeps the replaced values in history, and re-runs the rollup checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS, ROLLUPS
from pbstats.schemas.registry import Registry

from .db import chunks
from .tables import (
    fact_metric,
    fact_metric_history,
    inbox_file,
    load_run,
    rollup_check,
    rollup_dirty,
    submission,
    submission_issue,
    year_state,
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

    key: str  # sha256 of the real path (`flows.files.path_key`)
    size_bytes: int
    mtime_ns: int
    sha256: str
    shown: str  # the path as shown: personal numbers masked


@dataclass
class BatchCounts:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    superseded: int = 0
    duplicates: int = 0
    warnings: int = 0
    held: int = 0
    seen_again: int = 0
    submission_ids: list[int] = field(default_factory=list)


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


def known_files(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
    """path key → (size, mtime_ns) of inbox paths already taken in."""
    out = {}
    key = inbox_file.c.path_sha256
    for chunk in chunks(list(keys), 500):
        for r in conn.execute(
            select(key, inbox_file.c.size_bytes, inbox_file.c.mtime_ns).where(key.in_(chunk))
        ):
            out[r.path_sha256] = (r.size_bytes, r.mtime_ns)
    return out


def known_hashes(conn: Connection, shas: Iterable[str]) -> set[str]:
    """The contents (sha256) among `shas` taken in before, under any name."""
    found: set[str] = set()
    for chunk in chunks(sorted(set(shas)), 500):
        found.update(
            conn.execute(select(submission.c.sha256).where(submission.c.sha256.in_(chunk))).scalars()
        )
    return found


def last_year_values(
    conn: Connection, returns: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, str, int], dict[str, float]]:
    """(form, org, year) → {code: value} loaded for the year before."""
    wanted = {(f, o, y - 1) for f, o, y in returns}
    out: dict[tuple[str, str, int], dict[str, float]] = {}
    orgs = sorted({o for _, o, _ in wanted})
    for chunk in chunks(orgs, 500):
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


def mark_interrupted_runs(conn: Connection) -> int:
    """Runs recorded as running while the caller holds the run lock died mid-way (killed, power cut)."""
    result = conn.execute(
        update(load_run)
        .where(load_run.c.outcome == "running")
        .values(
            outcome="interrupted", ended_at=now_utc(), message="the process ended before the run finished"
        )
    )
    return result.rowcount or 0


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

    closed = _closed_years(conn)
    for inc in fresh:
        if inc.status == "accepted" and inc.year in closed:
            inc.status = "held"  # a closed year keeps its figures; the return waits for a reopen
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
        insert_rows(conn, submission_issue, issue_rows)
    counts.warnings = sum(1 for r in issue_rows if r["severity"] == "warning")
    counts.rejected = sum(1 for inc in fresh if inc.status == "rejected")

    accepted = {sid: inc for inc, sid in zip(fresh, ids, strict=True) if inc.status == "accepted"}
    keys = sorted({(inc.form, inc.org_code, inc.year) for inc in accepted.values()})
    changed = settle(conn, run_id, keys, {sid: inc.values for sid, inc in accepted.items()}, now)
    counts.superseded = _count_status(conn, list(accepted), "superseded")
    counts.accepted = len(accepted) - counts.superseded
    counts.held = sum(1 for inc in fresh if inc.status == "held")
    _remember_files(conn, seen, now)
    mark_rollups(conn, _townships_of(changed, registry))
    return counts


def _count_status(conn: Connection, ids: list[int], status: str) -> int:
    n = 0
    for chunk in chunks(ids, 500):
        n += len(
            conn.execute(
                select(submission.c.submission_id).where(
                    submission.c.submission_id.in_(chunk), submission.c.status == status
                )
            ).all()
        )
    return n


def _townships_of(keys, registry: Registry) -> list[tuple[int, str]]:
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


def rejudge_batch(
    conn: Connection,
    run_id: str,
    items: Sequence[tuple[int, Incoming]],
    registry: Registry,
) -> BatchCounts:
    """Judge archived submissions again (after a registry or rule correction): their status and
    findings are replaced, and each return's current version and facts settled anew."""
    lock(conn)
    now = now_utc()
    counts = BatchCounts()
    ids = [sid for sid, _ in items]
    old_keys = set()
    for chunk in chunks(ids, 500):
        for r in conn.execute(
            select(submission.c.form, submission.c.org_code, submission.c.year).where(
                submission.c.submission_id.in_(chunk)
            )
        ):
            if r.form and r.org_code and r.year:
                old_keys.add((r.form, r.org_code, r.year))
    closed = _closed_years(conn)
    for chunk in chunks(ids, 500):
        conn.execute(delete(submission_issue).where(submission_issue.c.submission_id.in_(chunk)))
    issue_rows = []
    for sid, inc in items:
        status = "held" if inc.status == "accepted" and inc.year in closed else inc.status
        conn.execute(
            update(submission)
            .where(submission.c.submission_id == sid)
            .values(
                status=status,
                form=inc.form,
                org_code=inc.org_code,
                year=inc.year,
                late=inc.late,
                org_name_reported=inc.org_name_reported,
                sheet=inc.sheet,
                value_cells=json.dumps(inc.value_cells, ensure_ascii=False) if inc.value_cells else None,
                feedback_path=inc.feedback_path,
                superseded_by=None,
                run_id=run_id,  # the run that last judged the file
            )
        )
        issue_rows.extend(dict(issue, submission_id=sid) for issue in inc.issues)
        counts.rejected += status == "rejected"
        counts.held += status == "held"
    if issue_rows:
        insert_rows(conn, submission_issue, issue_rows)
    counts.warnings = sum(1 for r in issue_rows if r["severity"] == "warning")
    accepted = {sid: inc for sid, inc in items if inc.status == "accepted" and inc.year not in closed}
    keys = sorted(old_keys | {(inc.form, inc.org_code, inc.year) for inc in accepted.values()})
    changed = settle(conn, run_id, keys, {sid: inc.values for sid, inc in accepted.items()}, now)
    counts.superseded = _count_status(conn, list(accepted), "superseded")
    counts.accepted = len(accepted) - counts.superseded
    counts.received = len(items)
    mark_rollups(conn, _townships_of(changed, registry))
    return counts


def _closed_years(conn: Connection) -> set[int]:
    return set(conn.execute(select(year_state.c.year).where(year_state.c.closed.is_(True))).scalars())


def _first_submissions(conn: Connection, shas: set[str]) -> dict[str, tuple[int, str]]:
    """sha256 → (submission_id, file_name) of the first submission of those bytes."""
    out: dict[str, tuple[int, str]] = {}
    for chunk in chunks(sorted(shas), 500):
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
    rows = [_submission_row(run_id, inc, now) for inc in fresh]
    ids = _new_submission_ids(conn, len(rows))
    if ids is None:
        result = conn.execute(
            insert(submission).returning(submission.c.submission_id, sort_by_parameter_order=True), rows
        )
        return [r[0] for r in result]
    for row, submission_id in zip(rows, ids, strict=True):
        row["submission_id"] = submission_id
    insert_rows(conn, submission, rows)
    return ids


def _new_submission_ids(conn: Connection, n: int) -> list[int] | None:
    """Ids for `n` new submissions, ascending, given before the rows go in by `insert_rows` (an INSERT …
    RETURNING of a batch goes through SQLAlchemy's statement building); None: insert with RETURNING."""
    if conn.dialect.name == "sqlite":
        # BEGIN IMMEDIATE (warehouse.db) holds the database's only write lock: these are the rowids SQLite
        # would give (max + 1 on). 1,000 rows by executemany ~17 ms, through INSERT … RETURNING ~36 ms.
        last = conn.execute(select(func.max(submission.c.submission_id))).scalar_one()
        return list(range((last or 0) + 1, (last or 0) + 1 + n))
    if conn.dialect.name == "postgresql" and n >= COPY_FROM:
        # drawn from the column's sequence, then the rows COPYed with them: an INSERT … RETURNING of a
        # batch is one statement of ~18,000 parameters that psycopg parses anew each time (py-spy of a
        # province's night: 3.6 s, ~145 µs a row, of the load's own thread)
        return sorted(  # ascending in the batch's order, as INSERT … RETURNING gives them
            conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('submission', 'submission_id')) FROM generate_series(1, :n)"
                ),
                {"n": n},
            ).scalars()
        )
    return None


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
    insert_rows(conn, submission, rows)


def settle(
    conn: Connection, run_id: str, keys, new_values: dict[int, dict[str, float]], now: datetime
) -> list[tuple]:
    """Make the accepted return received last current for each (form, org, year) (ties: file name);
    the others become superseded. Facts follow the current return; replaced values go to history.
    `new_values` holds the values of returns judged in this transaction (submission id → values).
    Returns the keys whose facts changed. Reads and writes go in bulk, not key by key."""
    keys = list(keys)
    accepted = _accepted_by_key(conn, keys)
    current = _facts_by_key(conn, keys)
    changed, superseded, stale, history, fresh = [], [], [], [], []
    for key in keys:
        candidates = sorted(accepted.get(key, []), key=lambda c: (c[1], c[2], c[0]))
        winner = candidates[-1][0] if candidates else None
        superseded += [{"sid": sid, "winner": winner} for sid, *_ in candidates[:-1]]
        facts = current.get(key, [])
        old_sid = facts[0][2] if facts else None
        old_values = {code: value for code, value, _ in facts}
        if (winner is None and not facts) or (winner is not None and winner not in new_values):
            continue  # nothing loaded and nothing to load, or what was current stays current
        values = new_values.get(winner, {}) if winner is not None else {}
        form = FORMS[key[0]]
        rows = (
            [
                {
                    "org_code": key[1],
                    "year": key[2],
                    "form": key[0],
                    "indicator_code": ind.code,
                    "metric_key": ind.metric_key,
                    "value": float(values.get(ind.code, 0.0)),
                    "submission_id": winner,
                }
                for ind in form.indicators
            ]
            if winner is not None
            else []
        )
        if old_sid == winner and all(old_values.get(r["indicator_code"]) == r["value"] for r in rows):
            continue
        if facts:
            stale.append(key)
            history += [
                {
                    "org_code": key[1],
                    "year": key[2],
                    "form": key[0],
                    "indicator_code": ind.code,
                    "metric_key": ind.metric_key,
                    "old_value": old_values.get(ind.code),
                    "new_value": values.get(ind.code) if winner is not None else None,
                    "old_submission_id": old_sid,
                    "new_submission_id": winner,
                    "changed_at": now,
                    "run_id": run_id,
                }
                for ind in form.indicators
            ]
        fresh += rows
        changed.append(key)
    if superseded:
        conn.execute(
            update(submission)
            .where(submission.c.submission_id == bindparam("sid"))
            .values(status="superseded", superseded_by=bindparam("winner")),
            superseded,
        )
    for chunk in chunks(stale, 200):
        conn.execute(delete(fact_metric).where(_key_match(conn, fact_metric, chunk)))
    if history:
        insert_rows(conn, fact_metric_history, history)
    if fresh:
        insert_rows(conn, fact_metric, fresh)
    return changed


def _key_match(conn: Connection, table, keys):
    """Rows of these (form, org, year) keys. PostgreSQL: a join with the keys as arrays (`_asked_pg`).
    SQLite plans a row-value IN over a list as a scan of the table, so there an OR of equalities,
    which it answers from the key's index term by term."""
    if conn.dialect.name == "postgresql":
        asked = _asked_pg(keys)
        return and_(
            table.c.org_code == asked.c.org_code, table.c.year == asked.c.year, table.c.form == asked.c.form
        )
    return or_(*(and_(table.c.form == f, table.c.org_code == o, table.c.year == y) for f, o, y in keys))


def _asked_pg(keys):
    """The keys as a table for PostgreSQL: unnest of three arrays, one parameter each. A row-value IN
    over a list is planned as one index probe per key, then every fetched row is checked again against
    the whole list (0.7 s for 1,000 keys over a province's facts; this join: 0.03 s)."""
    unique = _distinct(keys)
    forms, orgs, years = (list(c) for c in zip(*unique, strict=True)) if unique else ([], [], [])
    return (
        func.unnest(
            bindparam("asked_forms", forms, type_=ARRAY(String)),
            bindparam("asked_orgs", orgs, type_=ARRAY(String)),
            bindparam("asked_years", years, type_=ARRAY(Integer)),
        )
        .table_valued("form", "org_code", "year")
        .render_derived(name="asked")
    )


def _distinct(keys) -> list[tuple]:
    """The keys in the order asked, each once: a key asked twice must not join (and match) twice."""
    return list(dict.fromkeys(tuple(k) for k in keys))


def insert_rows(conn: Connection, table, rows: Sequence[dict]) -> None:
    """Insert many rows in the caller's transaction: PostgreSQL's COPY where it is PostgreSQL (a few µs
    a row, the bulk path the warehouse is sized for), executemany elsewhere."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name == "sqlite":
        # the driver's executemany over tuples, each value bound as SQLAlchemy binds it (its type's bind
        # processor, e.g. datetimes as text): ~5 µs a row against ~8 through insert() with dicts
        binds = [
            (c, table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)) for c in columns
        ]
        if any(b for _, b in binds):
            params = [tuple(b(r[c]) if b else r[c] for c, b in binds) for r in rows]
        else:
            params = [tuple(r[c] for c in columns) for r in rows]
        quoted = ", ".join(f'"{c}"' for c in columns)
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(
                f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})', params
            )
        finally:
            cursor.close()
        return
    if len(rows) < COPY_FROM:
        conn.execute(insert(table), list(rows))
        return
    quoted = ", ".join(f'"{c}"' for c in columns)
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


COPY_FROM = 50  # rows: below this, COPY's set-up costs more than it saves


def _facts_by_key(conn: Connection, keys) -> dict[tuple, list[tuple[str, float, int]]]:
    """(form, org, year) → [(indicator code, value, submission id)] of the current facts."""
    out: dict[tuple, list] = {}
    columns = (
        fact_metric.c.form,
        fact_metric.c.org_code,
        fact_metric.c.year,
        fact_metric.c.indicator_code,
        fact_metric.c.value,
        fact_metric.c.submission_id,
    )
    for r in _rows_of_keys(conn, fact_metric, columns, keys):
        out.setdefault((r.form, r.org_code, r.year), []).append((r.indicator_code, r.value, r.submission_id))
    return out


def _accepted_by_key(conn: Connection, keys) -> dict[tuple, list[tuple[int, datetime, str]]]:
    """(form, org, year) → [(id, received_at, file_name)] of every accepted return."""
    out: dict[tuple, list] = {}
    columns = (
        submission.c.form,
        submission.c.org_code,
        submission.c.year,
        submission.c.submission_id,
        submission.c.received_at,
        submission.c.file_name,
    )
    for r in _rows_of_keys(conn, submission, columns, keys, submission.c.status == "accepted"):
        out.setdefault((r.form, r.org_code, r.year), []).append(
            (r.submission_id, _naive_utc(r.received_at), r.file_name)
        )
    return out


# the keys asked about, in a temporary table of the connection (SQLite): one join, one statement
_asked = Table(
    "pbstats_asked_keys",
    MetaData(),
    Column("form", String(8)),
    Column("org_code", String(12)),
    Column("year", Integer),
    prefixes=["TEMPORARY"],
)


def _rows_of_keys(conn: Connection, table, columns, keys, *where):
    """Rows of `table` whose (form, org, year) is one of `keys`. PostgreSQL joins the keys as arrays
    (one statement whatever the keys). SQLite plans that as a scan, and an OR of equalities
    costs SQLAlchemy a new statement to compile per chunk (half the load's time at province scale):
    there the keys go into a temporary table, joined through the table's key index."""
    if conn.dialect.name == "postgresql":
        for chunk in chunks(list(keys), 5000):
            yield from conn.execute(select(*columns).where(_key_match(conn, table, chunk), *where))
        return
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS pbstats_asked_keys (form TEXT, org_code TEXT, year INTEGER)"
    )
    conn.execute(delete(_asked))
    if not keys:
        return
    conn.execute(insert(_asked), [{"form": f, "org_code": o, "year": y} for f, o, y in _distinct(keys)])
    on = and_(
        table.c.org_code == _asked.c.org_code, table.c.year == _asked.c.year, table.c.form == _asked.c.form
    )
    yield from conn.execute(select(*columns).select_from(_asked.join(table, on)).where(*where))


def _remember_files(conn: Connection, seen: Sequence[SeenFile], now: datetime) -> None:
    if not seen:
        return
    keys = [s.key for s in seen]
    for chunk in chunks(keys, 500):
        conn.execute(delete(inbox_file).where(inbox_file.c.path_sha256.in_(chunk)))
    insert_rows(
        conn,
        inbox_file,
        [
            {
                "path_sha256": s.key,
                "path": s.shown,
                "size_bytes": s.size_bytes,
                "mtime_ns": s.mtime_ns,
                "sha256": s.sha256,
                "seen_at": now,
            }
            for s in seen
        ],
    )


# ---- W-ROLLUP -----------------------------------------------------------------------------------


def mark_rollups(conn: Connection, pairs: Sequence[tuple[int, str]]) -> None:
    """Note (year, township) pairs whose rollup check a batch's changes can move; the check itself runs
    once per run (`settle_rollups`), not once per batch: a province's batch touches every township."""
    if not pairs:
        return
    noted = {tuple(r) for r in conn.execute(select(rollup_dirty.c.year, rollup_dirty.c.township_code))}
    insert_rows(
        conn, rollup_dirty, [{"year": y, "township_code": t} for y, t in pairs if (y, t) not in noted]
    )


def settle_rollups(conn: Connection, registry: Registry, rollup: RollupFn) -> int:
    """Run the rollup check of every noted (year, township) and clear the notes; how many were run.
    The caller holds the run lock: no other run notes pairs meanwhile."""
    lock(conn)
    pairs = sorted(
        (r.year, r.township_code)
        for r in conn.execute(select(rollup_dirty.c.year, rollup_dirty.c.township_code))
    )
    if pairs:
        rerun_rollups(conn, pairs, registry, rollup, now_utc())
        conn.execute(delete(rollup_dirty))
    return len(pairs)


def rerun_rollups(
    conn: Connection, pairs: Sequence[tuple[int, str]], registry: Registry, rollup: RollupFn, now: datetime
) -> None:
    """Re-check each (year, township): its current DJ-2 against its villages' current DJ-1 returns.
    Townships go ROLLUP_CHUNK at a time, a few statements per chunk (a province night has a thousand)."""
    by_year: dict[int, list[str]] = {}
    for year, township in pairs:
        by_year.setdefault(year, []).append(township)
    for year, townships in sorted(by_year.items()):
        for chunk in chunks(townships, ROLLUP_CHUNK):
            _rerun_rollup_chunk(conn, year, chunk, registry, rollup, now)


ROLLUP_CHUNK = 40  # townships per round of statements (~25 villages each: ~1,000 orgs in one IN)


def _rerun_rollup_chunk(
    conn: Connection, year: int, townships: Sequence[str], registry: Registry, rollup: RollupFn, now: datetime
) -> None:
    villages = {t: [v.org_code for v in registry.villages_of(t, year)] for t in townships}
    values: dict[tuple[str, str], dict[str, float]] = {}
    township_sid: dict[str, int] = {}
    for org, code, value, sid in conn.execute(
        select(
            fact_metric.c.org_code,
            fact_metric.c.indicator_code,
            fact_metric.c.value,
            fact_metric.c.submission_id,
        ).where(
            fact_metric.c.year == year, fact_metric.c.form == "DJ-2", fact_metric.c.org_code.in_(townships)
        )
    ).all():
        values.setdefault((org, "DJ-2"), {})[code] = value
        township_sid[org] = sid
    # of a village's return only the indicators a rollup counts, one row per village (its other ~300k
    # values a province night would fetch row by row are not needed); a village with none of them
    # filled still counts as having returned
    counted = sorted({rule.village_code for rule in ROLLUPS if rule.village_code is not None})
    pivot = [
        func.max(case((fact_metric.c.indicator_code == code, fact_metric.c.value))).label(f"v{code}")
        for code in counted
    ]
    for part in chunks(sorted({v for vs in villages.values() for v in vs}), 1000):
        for org, *got in conn.execute(
            select(fact_metric.c.org_code, *pivot)
            .where(fact_metric.c.year == year, fact_metric.c.form == "DJ-1", fact_metric.c.org_code.in_(part))
            .group_by(fact_metric.c.org_code)
        ).all():
            values[(org, "DJ-1")] = {code: v for code, v in zip(counted, got, strict=True) if v is not None}
    placed: dict[int, tuple[str | None, dict]] = {}
    if township_sid:
        for r in conn.execute(
            select(submission.c.submission_id, submission.c.sheet, submission.c.value_cells).where(
                submission.c.submission_id.in_(sorted(township_sid.values()))
            )
        ):
            placed[r.submission_id] = (r.sheet, json.loads(r.value_cells or "{}"))
    checks, issues = [], []
    for township in townships:
        sid = township_sid.get(township)
        sheet, cells = placed.get(sid, (None, {})) if sid is not None else (None, {})
        village_values = [values[(v, "DJ-1")] for v in villages[township] if (v, "DJ-1") in values]
        results = rollup(
            values.get((township, "DJ-2")), len(villages[township]), village_values, sheet, cells
        )
        checks += [
            {
                "year": year,
                "township_code": township,
                "indicator_code": r.indicator_code,
                "state": r.state,
                "reported": r.reported,
                "expected": r.expected,
                "villages_expected": len(villages[township]),
                "villages_accepted": len(village_values),
                "checked_at": now,
            }
            for r in results
        ]
        if sid is not None:
            issues += [
                {
                    "submission_id": sid,
                    "check_id": f.check_id,
                    "severity": "warning",
                    "sheet": f.sheet,
                    "cell": f.cell,
                    "indicator_code": f.indicator_code,
                    "message": f.message,
                    "observed": f.observed,
                }
                for f in (r.finding for r in results)
                if f is not None
            ]
    conn.execute(
        delete(rollup_check).where(
            rollup_check.c.year == year, rollup_check.c.township_code.in_(list(townships))
        )
    )
    insert_rows(conn, rollup_check, checks)
    if township_sid:
        conn.execute(
            delete(submission_issue).where(
                submission_issue.c.submission_id.in_(sorted(township_sid.values())),
                submission_issue.c.check_id == CheckId.W_ROLLUP,
            )
        )
    insert_rows(conn, submission_issue, issues)
