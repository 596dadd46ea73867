"""A batch's load at the warehouse's edge: what a batch is (plain data), what its load needs to know of
the warehouse — read first, under the loader's lock, so that none of it can change before the write
(`read_for_load`, `read_for_rejudge`) — and its rows written in bulk (`write`). What the batch changes
is decided in between over plain data (`plan`); `flows.stages.load` wires the three in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, func, select, text, update

from .bulk import insert_rows, key_match, rows_of_keys
from .db import chunks
from .inbox import remember_files
from .rollups import note_rollups
from .runlock import load_lock
from .tables import fact_metric, fact_metric_history, rollup_dirty, submission, submission_issue, year_state

Key = tuple[str, str, int]  # (form, org_code, year): a return


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


def key_of(inc: Incoming) -> Key:
    return (inc.form, inc.org_code, inc.year)  # type: ignore[return-value]


def naive_utc(dt: datetime) -> datetime:
    """A time as the warehouse gives it back, to order by: UTC, without a zone."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


@dataclass(frozen=True)
class Recorded:
    """A submission as recorded: its id, what orders it among the returns of its key (the one received
    last is current; ties: by file name, then id), and the key it was recorded under."""

    submission_id: int
    received_at: datetime  # naive UTC
    file_name: str
    key: Key | None = None


@dataclass(frozen=True)
class FirstCopy:
    """The first submission of some bytes: what a later copy of them is recorded as a duplicate of."""

    submission_id: int
    file_name: str
    form: str | None
    org_code: str | None
    year: int | None


Facts = list[tuple[str, float, int]]  # a return's current facts: (indicator code, value, submission id)


@dataclass
class Known:
    """What the warehouse holds that a batch's load is decided by, read at the start of its transaction."""

    closed_years: set[int]
    last_year: dict[Key, dict[str, float]]  # (form, org, year) → the values loaded for the year before
    accepted: dict[Key, list[Recorded]]  # the accepted submissions of the keys the batch can settle
    facts: dict[Key, Facts]  # the current facts of those keys
    noted_rollups: set[tuple[int, str]]  # (year, township) pairs already noted for a rollup re-check
    first_copies: dict[str, FirstCopy] = field(default_factory=dict)  # sha256 → its first submission
    new_ids: list[int] = field(default_factory=list)  # ids for the batch's new submissions, ascending
    recorded: dict[int, Recorded] = field(default_factory=dict)  # a rejudge: each submission as recorded

    def seen_again(self, inc: Incoming) -> bool:
        """The same bytes under the same name as their first copy: nothing new to record."""
        first = self.first_copies.get(inc.sha256)
        return first is not None and first.file_name == inc.file_name


@dataclass
class LoadPlan:
    """Every row a batch's load writes (`write`, in this order), and what it counts."""

    counts: BatchCounts
    submissions: list[dict] = field(default_factory=list)  # new submissions, ids given
    verdicts: list[dict] = field(default_factory=list)  # a rejudge: recorded submissions' new verdicts
    issues: list[dict] = field(default_factory=list)  # findings (a rejudge's replace the earlier ones)
    superseded: list[dict] = field(default_factory=list)  # {"sid", "winner"}
    stale: list[Key] = field(default_factory=list)  # keys whose current facts are replaced
    history: list[dict] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)
    inbox: list[dict] = field(default_factory=list)
    rollups: list[dict] = field(default_factory=list)  # (year, township) pairs to note for a re-check


# ---- read: everything a batch needs, before anything is written -----------------------------------


def read_for_load(conn: Connection, batch: Sequence[Incoming]) -> Known:
    """What loading `batch` (files read and judged) needs: the first copies of its bytes, and for its
    accepted returns last year's values, the accepted returns and current facts of their keys."""
    load_lock(conn)
    keys = sorted({key_of(inc) for inc in batch if inc.status == "accepted"})
    known = _known(conn, keys, keys)
    known.first_copies = first_copies(conn, {inc.sha256 for inc in batch})
    known.new_ids = new_submission_ids(conn, sum(1 for inc in batch if not known.seen_again(inc)))
    return known


def read_for_rejudge(conn: Connection, items: Sequence[tuple[int, Incoming]]) -> Known:
    """What judging recorded submissions again needs: each as recorded, and for the keys they were and
    are now accepted under, as `read_for_load`."""
    load_lock(conn)
    recorded = _recorded(conn, [sid for sid, _ in items])
    accepted = {key_of(inc) for _, inc in items if inc.status == "accepted"}
    keys = sorted(accepted | {r.key for r in recorded.values() if r.key is not None})
    known = _known(conn, keys, sorted(accepted))
    known.recorded = recorded
    return known


def _known(conn: Connection, keys: Sequence[Key], compared: Sequence[Key]) -> Known:
    closed = set(conn.execute(select(year_state.c.year).where(year_state.c.closed.is_(True))).scalars())
    noted = {(r.year, r.township_code) for r in conn.execute(select(rollup_dirty))}
    return Known(
        closed,
        last_year_values(conn, compared),
        _accepted_by_key(conn, keys),
        _facts_by_key(conn, keys),
        noted,
    )


def last_year_values(conn: Connection, returns: Iterable[Key]) -> dict[Key, dict[str, float]]:
    """(form, org, year) → {code: value} loaded for the year before."""
    wanted = {(f, o, y - 1) for f, o, y in returns}
    out: dict[Key, dict[str, float]] = {}
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


def first_copies(conn: Connection, shas: set[str]) -> dict[str, FirstCopy]:
    """sha256 → the first submission of those bytes (not a duplicate)."""
    out: dict[str, FirstCopy] = {}
    s = submission.c
    for chunk in chunks(sorted(shas), 500):
        rows = conn.execute(
            select(s.sha256, s.submission_id, s.file_name, s.form, s.org_code, s.year)
            .where(s.sha256.in_(chunk), s.status != "duplicate")
            .order_by(s.submission_id)
        )
        for r in rows:
            out.setdefault(r.sha256, FirstCopy(r.submission_id, r.file_name, r.form, r.org_code, r.year))
    return out


def new_submission_ids(conn: Connection, n: int) -> list[int]:
    """Ids for `n` new submissions, ascending, above every id given before (the loader's lock is held),
    so that they are known before the rows go in by `insert_rows` (an INSERT … RETURNING of a batch goes
    through SQLAlchemy's statement building)."""
    if not n:
        return []
    if conn.dialect.name == "sqlite":
        # BEGIN IMMEDIATE (warehouse.db) holds the database's only write lock: these are the rowids SQLite
        # would give (max + 1 on). 1,000 rows by executemany ~17 ms, through INSERT … RETURNING ~36 ms.
        last = conn.execute(select(func.max(submission.c.submission_id))).scalar_one()
        return list(range((last or 0) + 1, (last or 0) + 1 + n))
    # drawn from the column's sequence, then the rows COPYed with them: an INSERT … RETURNING of a batch is
    # one statement of ~18,000 parameters that psycopg parses anew each time (~145 µs a row)
    return sorted(
        conn.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('submission', 'submission_id')) FROM generate_series(1, :n)"
            ),
            {"n": n},
        ).scalars()
    )


def _recorded(conn: Connection, ids: Sequence[int]) -> dict[int, Recorded]:
    out = {}
    s = submission.c
    for chunk in chunks(list(ids), 500):
        for r in conn.execute(
            select(s.submission_id, s.received_at, s.file_name, s.form, s.org_code, s.year).where(
                s.submission_id.in_(chunk)
            )
        ):
            key = (r.form, r.org_code, r.year) if r.form and r.org_code and r.year else None
            out[r.submission_id] = Recorded(r.submission_id, naive_utc(r.received_at), r.file_name, key)
    return out


def _facts_by_key(conn: Connection, keys: Sequence[Key]) -> dict[Key, Facts]:
    out: dict[Key, Facts] = {}
    f = fact_metric.c
    columns = (f.form, f.org_code, f.year, f.indicator_code, f.value, f.submission_id)
    for r in rows_of_keys(conn, fact_metric, columns, keys):
        out.setdefault((r.form, r.org_code, r.year), []).append((r.indicator_code, r.value, r.submission_id))
    return out


def _accepted_by_key(conn: Connection, keys: Sequence[Key]) -> dict[Key, list[Recorded]]:
    out: dict[Key, list[Recorded]] = {}
    s = submission.c
    columns = (s.form, s.org_code, s.year, s.submission_id, s.received_at, s.file_name)
    for r in rows_of_keys(conn, submission, columns, keys, s.status == "accepted"):
        out.setdefault((r.form, r.org_code, r.year), []).append(
            Recorded(r.submission_id, naive_utc(r.received_at), r.file_name)
        )
    return out


# ---- write: the plan's rows, in bulk ------------------------------------------------------------


def write(conn: Connection, plan: LoadPlan) -> None:
    """Store what `plan` decided, in the caller's transaction (the one `read_for_*` read in)."""
    insert_rows(conn, submission, plan.submissions)
    if plan.verdicts:
        _write_verdicts(conn, plan.verdicts)
    insert_rows(conn, submission_issue, plan.issues)
    if plan.superseded:
        conn.execute(
            update(submission)
            .where(submission.c.submission_id == bindparam("sid"))
            .values(status="superseded", superseded_by=bindparam("winner")),
            plan.superseded,
        )
    for chunk in chunks(plan.stale, 200):
        conn.execute(delete(fact_metric).where(key_match(conn, fact_metric, chunk)))
    insert_rows(conn, fact_metric_history, plan.history)
    insert_rows(conn, fact_metric, plan.facts)
    remember_files(conn, plan.inbox)
    note_rollups(conn, plan.rollups)


def _write_verdicts(conn: Connection, verdicts: Sequence[dict]) -> None:
    """Recorded submissions' new verdicts replace their old ones, and their findings go."""
    for chunk in chunks([v["submission_id"] for v in verdicts], 500):
        conn.execute(delete(submission_issue).where(submission_issue.c.submission_id.in_(chunk)))
    columns = [c for c in verdicts[0] if c != "submission_id"]
    conn.execute(
        update(submission)
        .where(submission.c.submission_id == bindparam("b_submission_id"))
        .values({c: bindparam(f"b_{c}") for c in columns}),
        [{f"b_{c}": v for c, v in row.items()} for row in verdicts],
    )
