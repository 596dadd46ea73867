"""The nightly flow: inbox → archive → read and check (batches, in parallel, parked in a spool) →
value rules (once per form for the run) → verdicts and load (one transaction per batch). Wiring only;
the stages live in flows/stages.py and below."""

from __future__ import annotations

import gc
import itertools
import os
import time
from array import array
from collections import deque
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.utilities.annotations import quote
from sqlalchemy import Engine

from pbstats.expectations.run import warm_up_in_background
from pbstats.transforms.checks import Rulebook
from pbstats.warehouse.db import is_outage, make_engine
from pbstats.warehouse.inbox import known_files
from pbstats.warehouse.load import BatchCounts
from pbstats.warehouse.queries import RunSummary

from . import stages
from .artifacts import Progress
from .files import InboxEntry, Listing, list_inbox, report_skipped
from .runners import ChosenAtStart, runs_here
from .runs import Run, pipeline_run
from .settings import Settings
from .spool import Spool


@task(
    name="discover", description="列出收件箱中新增或变化的文件（未变化的文件不再读取）", cache_policy=NO_CACHE
)
def discover(inbox: Path, run: Run) -> Listing:
    entries, skipped = _listed(inbox)
    new = changed(entries, run.engine)
    log = get_run_logger()
    log.info("inbox %s: %d files, %d new or changed, %d skipped", inbox, len(entries), len(new), len(skipped))
    for line in skipped:
        log.info("skipped %s", line)
    return new


# inbox files looked up at a time: a province's listing is not made into objects all at once
CHANGED_CHUNK = 5_000


def changed(entries: Listing, engine: Engine) -> Listing:
    """The entries not taken in before as they are now (new paths, or a size or time that changed)."""
    states = entries.states()
    positions = array("q")
    with engine.connect() as conn:
        for start in range(0, len(entries), CHANGED_CHUNK):
            chunk = list(itertools.islice(states, CHANGED_CHUNK))
            known = known_files(conn, [key for key, _, _ in chunk])
            positions.extend(start + i for i, (key, *now) in enumerate(chunk) if known.get(key) != tuple(now))
    return entries.select(positions)


# the listing of an inbox the command made while Prefect's server started (`anything_new(keep=True)`),
# taken by the run's `discover` moments later: as if the run had listed the inbox then (a file that
# comes in between is read the next night, as one that comes just after a listing always is)
_KEPT: dict[str, tuple[float, Listing, list[str]]] = {}
KEPT_FOR_S = 30.0


def _listed(inbox: Path) -> tuple[Listing, list[str]]:
    kept = _KEPT.pop(os.path.abspath(inbox), None)
    if kept is None or time.monotonic() - kept[0] > KEPT_FOR_S:
        return list_inbox(inbox)
    report_skipped(kept[2])
    return kept[1], kept[2]


def anything_new(inbox: Path, url: str, *, keep: bool = False) -> bool:
    """Whether the next run will have files to read (a look ahead, logging nothing: the run's own
    `discover` reports). True when the warehouse cannot tell (e.g. it does not exist yet). With
    `keep`, the listing is kept for the run this command is about to start."""
    entries, skipped = list_inbox(inbox, report=False)
    if keep:
        _KEPT[os.path.abspath(inbox)] = (time.monotonic(), entries, skipped)
    if not entries:
        return False
    engine = make_engine(url, pooled=False)
    try:
        return bool(changed(entries, engine))
    except Exception:
        return True
    finally:
        engine.dispose()


@task(name="read-and-check", description="归档并读取一批报表，逐个按制度校验", cache_policy=NO_CACHE)
def read_and_check(batch: list[InboxEntry], archive: Path, rules: Rulebook, url: str) -> Whole:
    """Plain arguments only (no engine): on a Dask cluster this runs in another process, or machine.
    The judged files come back as one `Whole`, not a list Prefect would track file by file."""
    engine = make_engine(url, pooled=False)
    try:
        judged = stages.read_batch(batch, archive, rules, engine)
    finally:
        engine.dispose()
    new = sum(1 for j in judged if j.checked is not None)
    get_run_logger().info("read %d files: %d new, %d already known", len(batch), new, len(batch) - new)
    return Whole(judged)


@task(
    name="value-rules",
    description="以 Great Expectations 规则集按报表种类校验已读报表的数值（每两万五千份一次）",
    cache_policy=NO_CACHE,
)
def value_rules(spool: Spool) -> int:
    """One GX validation per form over the values read since the last (its cost hardly grows with
    the rows; every rule is about one return), which are then let go of: a province of 100,000
    returns holds the values of 25,000 at most."""
    found = stages.value_rule_findings(spool.values, spool.checked())
    for position, finding in found:
        spool.found.setdefault(position, []).append(finding)
    get_run_logger().info("value rules over %d returns: %d findings", len(spool.values), len(found))
    spool.values.clear()
    return len(found)


VALUE_RULES_EVERY = 25_000  # returns read between two validations of the value rules


@task(
    name="load",
    description="给出一批报表的结论（退回的生成审核意见表），并写入数据仓库（一个事务）",
    cache_policy=NO_CACHE,
)
def load(
    batch: list[stages.Judged],
    run: Run,
    positions: list[int] | None = None,
    feedback: stages.Feedback | None = None,
) -> BatchCounts:
    """`batch` holds the returns at `positions` of the night's spool; `feedback` builds the rejected
    ones' feedback workbooks, waited for before the batch commits. Without it (a backfill, whose
    restored files were quarantined as they were judged) nothing is waited for."""
    rejected = {id(j) for j in stages.conclude(batch, run.settings.quarantine)}
    wait = None
    if feedback is not None and positions is not None:
        wait = partial(feedback.wait, [p for p, j in zip(positions, batch, strict=True) if id(j) in rejected])
    counts = stages.load(run.engine, run.run_id, batch, run.rules.registry, before_commit=wait)
    get_run_logger().info(
        "loaded %d: accepted %d, rejected %d, superseded %d, duplicates %d, held %d",
        counts.received,
        counts.accepted,
        counts.rejected,
        counts.superseded,
        counts.duplicates,
        counts.held,
    )
    return counts


def with_retries(load_task, run: Run):
    """A load the database could not take at that moment (`is_outage`) is retried with backoff
    (PBSTATS_LOAD_RETRY_DELAYS); any other error fails the same way every time, and at once."""
    delays = run.settings.load_retry_delays
    return load_task.with_options(
        retries=len(delays), retry_delay_seconds=delays or 0, retry_condition_fn=failed_on_an_outage
    )


def failed_on_an_outage(task, task_run, state) -> bool:
    """Prefect's `retry_condition_fn`: whether the failed attempt met an outage."""
    try:
        state.result()
    except Exception as e:
        return is_outage(e)
    return False


def read_size(files: int, settings: Settings) -> int:
    """Files per read task: enough tasks to keep every reader busy (and even out a slow batch), few
    enough that Prefect's cost per task stays small, and never more than PBSTATS_BATCH_SIZE."""
    return max(1, min(settings.batch_size, max(25, -(-files // (4 * settings.read_workers)))))


FIRST_READ = 25  # files in the first read task: the readers start while the next, larger ones are archived


def read_slices(files: int, size: int) -> list[slice]:
    """The read tasks' shares of the inbox: FIRST_READ files, then twice as many each time up to `size`.
    Each task archives its files before any is read, so a first task of `size` files would keep the
    readers waiting for a thousand files' archiving; small first tasks set them to work at once."""
    slices, start, step = [], 0, min(size, FIRST_READ)
    while start < files:
        slices.append(slice(start, min(files, start + step)))
        start += step
        step = min(size, 2 * step)
    return slices


def read_all(entries: Listing, run: Run) -> Iterator[list[stages.Judged]]:
    """The read-and-check tasks, a few ahead of the one being collected: the readers stay busy while
    memory holds only the batches in flight, however large the inbox."""
    size = read_size(len(entries), run.settings)
    # quoted, Prefect does not walk the batch and the registry object by object; prefect-dask
    # walks and rebuilds every argument anyway (and does not unwrap a quote), so there they go bare
    local = runs_here(FlowRunContext.get().task_runner)
    wrap = quote if local else _bare
    args = (run.settings.archive, wrap(run.rules), run.settings.url)
    ahead = 2 * run.settings.read_workers
    pending: deque = deque()
    for part in read_slices(len(entries), size):
        pending.append(read_and_check.submit(wrap(entries[part]), *args))
        if len(pending) >= ahead:
            yield _take(pending.popleft())
    while pending:
        yield _take(pending.popleft())


FEEDBACK_AHEAD = 256  # feedback workbooks handed to the builders ahead of the loads (~2 s of their work)


def load_all(spool: Spool, run: Run, progress: Progress) -> None:
    """The load tasks, batch by batch, with the night's feedback workbooks built beside them: the
    rejected returns of the batches ahead are handed to the builders in load order, FEEDBACK_AHEAD at a
    time beyond what the loads have taken (`stages.Feedback`): enough to keep them busy, and not a
    pending task for each rejected return of a province."""
    s = run.settings
    plan = spool.load_batches(s.batch_size)
    rejected = spool.rejected()
    handed = 0  # batches whose rejected returns the builders have
    with stages.Feedback(spool.checked().__getitem__, s.archive, s.quarantine, s.read_workers) as feedback:
        for i, positions in enumerate(plan):
            while handed <= i or (handed < len(plan) and len(feedback) < FEEDBACK_AHEAD):
                feedback.submit(p for p in plan[handed] if p in rejected)
                handed += 1
            batch = spool.batch(positions)
            with_retries(load, run)(quote(batch), quote(run), quote(positions), quote(feedback))
            progress.advance(len(batch))


def _let_go(state):
    """A finished task's value, no longer held by its final state: Prefect keeps each task's final
    state in the flow run's context until the run ends."""
    value = state.result()
    state.data = None
    return value


def _take(future):
    """A finished read task's judged files, no longer held by its future: Prefect's future and the
    thread's future refer to each other (a done-callback), so the final state — and through it the
    whole batch — would wait for a full collection of the heap (~100 ms each time) to be freed."""
    result = future.result()
    state = getattr(future, "_final_state", None)  # what result() read; `state` would ask the API if unset
    if state is not None:
        state.data = None
    return result.value


class Whole:
    """A task's result that Prefect records as one object. Prefect tracks each item of a returned
    list or tuple by id in the flow run's context until the run ends (`link_state_to_result`): about
    400 bytes a file over a province's night."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value


def _bare(value):
    return value


@flow(
    name="nightly-ingest",
    description="每晚读取收件箱中新到的年报：先归档，再读取、校验、入库；有错误的报表退回并生成审核意见表。",
    task_runner=ChosenAtStart(),
)
def ingest(inbox: str | None = None) -> RunSummary:
    """读取收件箱中新到的年报并入库。

    Args:
        inbox: 收件箱目录；留空则用 PBSTATS_INBOX 或 PBSTATS_HOME 下的 inbox
    """
    with pipeline_run("nightly-ingest", "夜间入库运行概况", inbox, review=True) as run:
        folder = Path(inbox) if inbox else run.settings.inbox_dir
        folder.mkdir(parents=True, exist_ok=True)
        # the listing is held here and by the reading below, not by Prefect's record of the task until the
        # run ends: a province's ~10 MB, gone before the loads
        entries = _let_go(discover(folder, quote(run), return_state=True))
        if entries:
            warm_up_in_background()  # GX's import, while the files are read
        progress = Progress(len(entries) * 2, "读取与入库进度")
        with Spool(run.settings.home.resolve() / "tmp") as spool:
            # what is loaded by now outlives the night: keep it out of the collector's full passes, which
            # the reading and loading set off again and again (each pass walks every object not frozen)
            gc.freeze()
            try:
                reading = read_all(entries, run)
                del entries  # the reading holds the listing until its last batch is read
                for judged in reading:
                    spool.extend(judged)
                    progress.advance(len(judged))
                    if len(spool.values) >= VALUE_RULES_EVERY:
                        value_rules(quote(spool))
                value_rules(quote(spool))
                load_all(spool, run, progress)
            finally:
                gc.unfreeze()
    return run.summary
