"""The pipeline's stages as plain functions over batches (no Prefect here): read and judge a batch
of inbox files (or archived ones, for a rerun), then load it — what it needs of the warehouse read
first, decided over plain data, written once — and, once a run, re-check the rollups its loads
touched. The flows only wire these together."""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, Engine

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS
from pbstats.schemas.registry import Registry
from pbstats.schemas.texts import Texts
from pbstats.transforms.checks import Rulebook
from pbstats.transforms.frames import ValueRows, violation_findings
from pbstats.transforms.model import CheckedReturn, Finding, Received
from pbstats.transforms.prior import compare_with_last_year
from pbstats.transforms.rollup import evaluate_rollup
from pbstats.warehouse.inbox import known_hashes
from pbstats.warehouse.load import BatchCounts, Incoming, SeenFile, read_for_load, read_for_rejudge, write
from pbstats.warehouse.plan import plan_load, plan_rejudge
from pbstats.warehouse.rollups import clear_rollup_notes, noted_rollups, rollup_inputs, write_rollup_checks
from pbstats.warehouse.runs import now_utc

from .files import (
    InboxEntry,
    archive_all,
    quarantine,
    quarantine_paths,
    read_entry,
    record_receipts,
    sha256_of,
    sync,
)
from .readers import build_feedback, check_files

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass
class Judged:
    """A file after reading: what will be recorded for it, and the inbox state to remember."""

    incoming: Incoming
    seen: SeenFile | None  # None for a file restored from the archive
    checked: CheckedReturn | None  # None for bytes already known (no reading needed)


@dataclass
class Rejudged:
    """An archived submission judged again (a rerun)."""

    submission_id: int
    incoming: Incoming
    checked: CheckedReturn


def read_batch(
    entries: Sequence[InboxEntry], archive_root: Path, rules: Rulebook, engine: Engine
) -> list[Judged]:
    """Archive each file, then read those whose bytes are new and judge each on its own. The value
    rules (GX) and the verdict come after, over the whole run: see `value_rules` and `conclude`."""
    got = [(entry, read_entry(entry)) for entry in entries]
    shas = [sha256_of(data) for _, data in got]
    # archived before anything reads them
    rels = archive_all(archive_root, [(data, sha, e.name) for (e, data), sha in zip(got, shas, strict=True)])
    loaded = [
        (entry, data, Received(entry.name, sha, len(data), entry.received_at, rel))
        for (entry, data), sha, rel in zip(got, shas, rels, strict=True)
    ]
    receipts = [(r.sha256, r.file_name, r.received_at, r.archive_path) for _, _, r in loaded]
    record_receipts(archive_root, receipts)
    with engine.connect() as conn:
        known = known_hashes(conn, {r.sha256 for _, _, r in loaded})
    fresh = [(rec, data) for _, data, rec in loaded if rec.sha256 not in known]
    checked = iter(check_files(fresh, rules))
    judged = []
    for entry, _, rec in loaded:
        seen = SeenFile(entry.key, entry.size, entry.mtime_ns, rec.sha256, entry.shown)
        if rec.sha256 in known:
            judged.append(Judged(_incoming(rec, None, "known"), seen, None))
        else:
            judged.append(Judged(_incoming(rec, None, "pending"), seen, next(checked)))
    return judged


def conclude(judged: Sequence[Judged], quarantine_root: Path) -> list[Judged]:
    """After the value rules: each read file's verdict, and for a rejected one where its feedback
    workbook will be (`Feedback` writes it). Returns the rejected ones. The load adds to a verdict
    (a closed year's hold, last year's checks) in what it writes, never in these."""
    rejected = []
    for j in judged:
        ret = j.checked
        if ret is None:
            continue
        path = None
        if ret.rejected:
            rec = ret.received
            path = str(quarantine_paths(rec.sha256, rec.file_name, ret.year, ret.org_code)[1])
            rejected.append(j)
        j.incoming = _incoming(ret.received, ret, "rejected" if ret.rejected else "accepted", path)
    return rejected


class Feedback:
    """Rejected files to quarantine with their feedback workbooks, built in the background (`workers` at
    a time, each in a reader process of its own) while the night's batches load: the rejected files of
    the batches ahead are handed over in load order (`submit`), so that the builders stay busy from the
    first batch to the last instead of only while each batch loads. A batch `wait`s for its own before
    it commits, so that no verdict is recorded without its feedback on disk; what was waited for is let
    go of, so that what is held is what was handed over ahead (`len`), not the night's. Each file's
    bytes are read back from the archive (only rejected files are read twice), its verdict from
    `fetch(key)`."""

    def __init__(
        self, fetch: Callable[[int], CheckedReturn], archive_root: Path, quarantine_root: Path, workers: int
    ) -> None:
        self._fetch, self._archive, self._quarantine = fetch, archive_root, quarantine_root
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="feedback")
        self._futures: dict[int, Future] = {}

    def submit(self, keys: Iterable[int]) -> None:
        for key in keys:
            if key not in self._futures:
                self._futures[key] = self._pool.submit(self._write, key)

    def _write(self, key: int) -> list[Path]:
        """Quarantine one file with its feedback, unsynced (`wait` syncs a batch's at once); returns
        what a sync file by file would take (the two files and their folder)."""
        ret = self._fetch(key)
        rec = ret.received
        data = (self._archive / rec.archive_path).read_bytes()
        _quarantine(ret, data, self._quarantine, synced=False)
        kept, rel = quarantine_paths(rec.sha256, rec.file_name, ret.year, ret.org_code)
        return [self._quarantine / kept, self._quarantine / rel, (self._quarantine / rel).parent]

    def wait(self, keys: Iterable[int]) -> None:
        """These files' feedback on disk, synced. One whose building failed fails the caller (the load)
        and is built again for its retry."""
        keys = list(keys)
        self.submit(keys)  # any not handed over ahead
        written: list[Path] = []
        for key in keys:
            future = self._futures[key]
            if future.exception() is not None:
                self._futures[key] = self._pool.submit(self._write, key)
                raise future.exception()  # type: ignore[misc]
            written += future.result()
        if written:  # one sync for the batch: an fsync per file kept the builders' threads ~20% of their time
            sync(self._quarantine, written)
        for key in keys:
            self._futures.pop(key, None)

    def __len__(self) -> int:
        """Workbooks handed over and not yet waited for."""
        return len(self._futures)

    def __enter__(self) -> Feedback:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def restore_batch(
    receipts: Sequence[dict], archive_root: Path, quarantine_root: Path, rules: Rulebook
) -> list[Judged]:
    """Files as the archive's receipts say they arrived, judged as on the night they came."""
    files = []
    for r in receipts:
        data = (archive_root / r["archive_path"]).read_bytes()
        files.append(
            (Received(r["file_name"], r["sha256"], len(data), r["received_at"], r["archive_path"]), data)
        )
    return [Judged(inc, None, ret) for ret, inc in judge(files, quarantine_root, rules)]


def reread_batch(
    archived: Sequence[dict], archive_root: Path, quarantine_root: Path, rules: Rulebook
) -> list[Rejudged]:
    """Judge archived files again, as they were received (name and arrival time kept)."""
    files = []
    for a in archived:
        data = (archive_root / a["archive_path"]).read_bytes()
        at = a["received_at"] if a["received_at"].tzinfo else a["received_at"].replace(tzinfo=UTC)
        files.append((Received(a["file_name"], a["sha256"], a["size_bytes"], at, a["archive_path"]), data))
    verdicts = judge(files, quarantine_root, rules)
    return [Rejudged(a["submission_id"], inc, ret) for a, (ret, inc) in zip(archived, verdicts, strict=True)]


def judge(
    files: Sequence[tuple[Received, bytes]], quarantine_root: Path, rules: Rulebook
) -> list[tuple[CheckedReturn, Incoming]]:
    """Read and check archived files; a rejected one is quarantined with its feedback workbook."""
    checked = check_files(files, rules)
    apply_value_rules(checked)
    out = []
    for ret, (_, data) in zip(checked, files, strict=True):
        feedback_path = _quarantine(ret, data, quarantine_root) if ret.rejected else None
        status = "rejected" if ret.rejected else "accepted"
        out.append((ret, _incoming(ret.received, ret, status, feedback_path)))
    return out


def _quarantine(ret: CheckedReturn, data: bytes, quarantine_root: Path, *, synced: bool = True) -> str:
    # the list alone where the submitted sheets cannot be copied (readers.build_feedback falls back and
    # logs); no reader process at all is an outage that stops the run, the file left for the next one
    feedback = build_feedback(data, ret.received.file_name, ret.findings)
    rec = ret.received
    return quarantine(
        quarantine_root, data, feedback, rec.sha256, rec.file_name, ret.year, ret.org_code, synced=synced
    )


def apply_value_rules(returns: Sequence[CheckedReturn]) -> None:
    """The GX suites, once per form over the whole batch; findings go back to their returns."""
    rows = ValueRows()
    for i, r in enumerate(returns):
        rows.add(i, r)
    for position, finding in value_rule_findings(rows, returns):
        returns[position].findings.append(finding)


def value_rule_findings(rows: ValueRows, returns: Sequence[CheckedReturn]) -> list[tuple[int, Finding]]:
    """(position, finding) for each cell or pair of cells that breaks a value rule: the GX suites,
    validated once per form over `rows` (built from `returns`, which is asked only for the breakers)."""
    from pbstats.expectations.run import validate

    found = []
    for form_id in FORMS:
        frame = rows.frame(form_id)
        if not frame.empty:
            found += violation_findings(returns, form_id, validate(form_id, frame))
    return found


def _incoming(
    rec: Received, ret: CheckedReturn | None, status: str, feedback_path: str | None = None
) -> Incoming:
    inc = Incoming(
        file_name=rec.file_name,
        sha256=rec.sha256,
        size_bytes=rec.size,
        received_at=rec.received_at,
        archive_path=rec.archive_path,
        status=status,
        feedback_path=feedback_path,
    )
    if ret is not None:
        inc.form, inc.org_code, inc.year, inc.sheet = ret.form_id, ret.org_code, ret.year, ret.sheet
        inc.org_name_reported = ret.org_name
        inc.late = any(f.check_id == CheckId.W_LATE for f in ret.findings)
        inc.values = {k: float(v) for k, v in ret.values.items()}
        inc.value_cells = dict(ret.cells)
        inc.issues = [issue_row(f) for f in ret.findings]
    return inc


def issue_row(f: Finding) -> dict:
    return {
        "check_id": f.check_id,
        "severity": str(f.severity),
        "sheet": f.sheet,
        "cell": f.cell,
        "indicator_code": f.indicator_code,
        "message": f.message,
        "observed": f.observed,
    }


def load_batches(judged: Sequence, size: int) -> list[list]:
    """`plan_batches` over judged files in memory."""
    keys = ArrivalKeys()
    for j in judged:
        keys.append(j.incoming.year or 0, j.incoming.received_at, j.incoming.file_name)
    return [[judged[i] for i in batch] for batch in plan_batches(keys, size)]


class ArrivalKeys(Sequence):
    """Files' load keys (year or 0, received at, file name) in compact columns: about 50 bytes a file
    against about 220 as tuples of objects, and sorted without making the tuples (`order`). A key is
    made when asked for."""

    def __init__(self) -> None:
        self._years, self._received, self._names = array("i"), array("q"), Texts()

    def append(self, year: int, received_at: datetime, file_name: str) -> None:
        self._years.append(year)
        if received_at.tzinfo is None:  # a time from a database that keeps none is UTC
            received_at = received_at.replace(tzinfo=UTC)
        self._received.append((received_at - EPOCH) // MICROSECOND)
        self._names.append(file_name)

    def __len__(self) -> int:
        return len(self._years)

    def __getitem__(self, i):  # type: ignore[override]
        i = range(len(self))[i]
        return self._years[i], EPOCH + self._received[i] * MICROSECOND, self._names[i]

    # copies, not views (np.frombuffer): an array exporting its buffer cannot grow
    def years(self) -> np.ndarray:
        return np.array(self._years, dtype=np.int32)

    def order(self) -> np.ndarray:
        """The positions sorted by key, as `sorted(range(len(keys)), key=keys.__getitem__)` gives them:
        by year and time with numpy (8 bytes a file), then the rare runs of equal year and time by
        name, as UTF-8 (whose byte order is the order of the code points, as `str`'s)."""
        n = len(self)
        if not n:
            return np.zeros(0, np.int64)
        years, received = self.years(), np.array(self._received, dtype=np.int64)
        order = np.lexsort((received, years))  # stable, the last key first
        same = (years[order][1:] == years[order][:-1]) & (received[order][1:] == received[order][:-1])
        ties = np.flatnonzero(same)  # i where order[i] and order[i + 1] have equal year and time
        for run in np.split(ties, np.flatnonzero(np.diff(ties) != 1) + 1):
            if run.size:  # order[run[0]] .. order[run[-1] + 1], by position as the sort was stable
                first, stop = int(run[0]), int(run[-1]) + 2
                order[first:stop] = sorted(order[first:stop].tolist(), key=self._names.bytes_at)
        return order


def plan_batches(keys: ArrivalKeys | Sequence[tuple[int, datetime, str]], size: int) -> list[array]:
    """Positions of the load batches of files keyed (year or 0, received at, file name): earlier years
    first and never two years in one batch, so that a year's 上年 and W-JUMP checks see the year before
    loaded even when both arrive the same night. Files with no year (rejected: unreadable, no 统计年度)
    need no year before them: they are spread evenly over the other batches, so that their feedback
    workbooks are built while those batches load, not in a batch of their own with nothing to overlap.
    Made from compact columns (`ArrivalKeys`): a province's plan holds no object per file."""
    if not isinstance(keys, ArrivalKeys):
        columns = ArrivalKeys()
        for key in keys:
            columns.append(*key)
        keys = columns
    order = keys.order()
    years = keys.years()[order]
    dated, yearless = order[years != 0], order[years == 0]
    dated_years = years[years != 0]
    years_start = [0, *(np.flatnonzero(np.diff(dated_years)) + 1).tolist(), len(dated)]
    cuts = [c for a, b in itertools.pairwise(years_start) for c in range(a, b, size)] + [len(dated)]
    chunks = [dated[a:b] for a, b in itertools.pairwise(cuts)]
    if not chunks:
        return [_positions(yearless[i : i + size]) for i in range(0, len(yearless), size)]
    return [_positions(np.concatenate((c, yearless[i :: len(chunks)]))) for i, c in enumerate(chunks)]


def _positions(values: np.ndarray) -> array:
    out = array("q")
    out.frombytes(values.astype(np.int64).tobytes())
    return out


# ---- the load: read what the batch needs, decide over plain data, write; one transaction ----------


def load(
    engine: Engine,
    run_id: str,
    judged: Sequence[Judged],
    registry: Registry,
    before_commit: Callable[[], None] | None = None,
) -> BatchCounts:
    """One transaction, one way: everything the batch needs of the warehouse is read first, under the
    loader's lock (nothing of it can change before the write), last year's checks and the batch's
    decisions are made over that plain data, and the batch is written; `before_commit` last, inside
    the transaction (an exception there rolls the batch back)."""
    with engine.begin() as conn:
        known = read_for_load(conn, [j.incoming for j in judged])
        batch = with_last_year_checks([(j.incoming, j.checked) for j in judged], known.last_year)
        seen = [j.seen for j in judged if j.seen is not None]
        plan = plan_load(run_id, batch, seen, known, registry, now_utc())
        write(conn, plan)
        if before_commit is not None:
            before_commit()
    return plan.counts


def load_rejudged(engine: Engine, run_id: str, batch: Sequence[Rejudged], registry: Registry) -> BatchCounts:
    """One transaction, as `load`: the re-judged submissions replace their earlier verdicts."""
    with engine.begin() as conn:
        known = read_for_rejudge(conn, [(r.submission_id, r.incoming) for r in batch])
        judged = with_last_year_checks([(r.incoming, r.checked) for r in batch], known.last_year)
        items = [(r.submission_id, inc) for r, inc in zip(batch, judged, strict=True)]
        plan = plan_rejudge(run_id, items, known, registry, now_utc())
        write(conn, plan)
    return plan.counts


def with_last_year_checks(
    pairs: Sequence[tuple[Incoming, CheckedReturn | None]], last_year: Mapping[tuple, Mapping[str, float]]
) -> list[Incoming]:
    """The batch with W-PRIOR and W-JUMP added to each accepted return's findings, against the values
    loaded for its year before (`last_year`, read with the batch). The judged files are left as they
    are: a retried load starts again from them."""
    out = []
    for inc, ret in pairs:
        if inc.status == "accepted" and ret is not None:
            found = compare_with_last_year(ret, last_year.get((ret.form_id, ret.org_code, ret.year), {}))
            if found:
                inc = replace(inc, issues=inc.issues + [issue_row(f) for f in found])
        out.append(inc)
    return out


# ---- W-ROLLUP, once per run over the (year, township) pairs the loads noted ------------------------


def settle_rollups(conn: Connection, registry: Registry) -> int:
    """Run the rollup check of every noted (year, township) and clear the notes; how many were run. The
    caller holds the run lock, and `noted_rollups` the loader's: no load notes pairs meanwhile."""
    pairs = noted_rollups(conn)
    if pairs:
        rerun_rollups(conn, pairs, registry, now_utc())
        clear_rollup_notes(conn)
    return len(pairs)


def rerun_rollups(
    conn: Connection, pairs: Sequence[tuple[int, str]], registry: Registry, now: datetime
) -> None:
    """Re-check each (year, township): its current DJ-2 against its villages' current DJ-1 returns."""
    inputs = rollup_inputs(conn, pairs, registry)
    checked = [
        (i, evaluate_rollup(i.reported, i.villages_expected, i.village_values, i.sheet, i.cells))
        for i in inputs
    ]
    write_rollup_checks(conn, checked, now)
