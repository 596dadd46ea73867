"""The nightly flow: inbox → archive → read and check (batches, in parallel) → load (one transaction
per batch). Wiring only; the stages live in flows/stages.py and below."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from warehouse.load import BatchCounts, known_files
from warehouse.queries import RunSummary

from . import stages
from .artifacts import Progress
from .files import InboxEntry, list_inbox
from .runs import Run, pipeline_run


@task(
    name="discover", description="列出收件箱中新增或变化的文件（未变化的文件不再读取）", cache_policy=NO_CACHE
)
def discover(inbox: Path, run: Run) -> list[InboxEntry]:
    entries, skipped = list_inbox(inbox)
    with run.engine.connect() as conn:
        known = known_files(conn, [e.key for e in entries])
    new = [e for e in entries if known.get(e.key) != (e.size, e.mtime_ns)]
    log = get_run_logger()
    log.info("inbox %s: %d files, %d new or changed, %d skipped", inbox, len(entries), len(new), len(skipped))
    for line in skipped:
        log.info("skipped %s", line)
    return new


@task(name="read-and-check", description="归档并读取一批报表，逐个按制度校验", cache_policy=NO_CACHE)
def read_and_check(batch: list[InboxEntry], run: Run) -> list[stages.Judged]:
    judged = stages.read_batch(batch, run.settings.archive, run.rules, run.engine)
    new = sum(1 for j in judged if j.checked is not None)
    get_run_logger().info("read %d files: %d new, %d already known", len(batch), new, len(batch) - new)
    return judged


@task(
    name="value-rules",
    description="以 Great Expectations 规则集按报表种类一次性校验本次所有数值，并给出结论",
    cache_policy=NO_CACHE,
)
def value_rules(judged: list[stages.Judged], run: Run) -> list[stages.Judged]:
    """One GX validation per form for the whole run (its cost does not grow with the rows)."""
    stages.apply_value_rules([j.checked for j in judged if j.checked is not None])
    stages.conclude(judged, run.settings.archive, run.settings.quarantine)
    rejected = sum(1 for j in judged if j.incoming.status == "rejected")
    get_run_logger().info("value rules over %d returns: %d rejected", len(judged), rejected)
    return judged


@task(name="load", description="将一批报表写入数据仓库（一个事务）", cache_policy=NO_CACHE)
def load(batch: list[stages.Judged], run: Run) -> BatchCounts:
    counts = stages.load(run.engine, run.run_id, batch, run.rules.registry)
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
    """A load that fails on the database is retried with backoff (PBSTATS_LOAD_RETRY_DELAYS)."""
    delays = run.settings.load_retry_delays
    return load_task.with_options(retries=len(delays), retry_delay_seconds=delays or 0)


@flow(
    name="nightly-ingest",
    description="每晚读取收件箱中新到的年报：先归档，再读取、校验、入库；有错误的报表退回并生成审核意见表。",
)
def ingest(inbox: str | None = None) -> RunSummary:
    """读取收件箱中新到的年报并入库。

    Args:
        inbox: 收件箱目录；留空则用 PBSTATS_INBOX 或 PBSTATS_HOME 下的 inbox
    """
    with pipeline_run("nightly-ingest", "夜间入库运行概况", inbox, review=True) as run:
        folder = Path(inbox) if inbox else run.settings.inbox_dir
        folder.mkdir(parents=True, exist_ok=True)
        entries = discover(folder, run)
        size = run.settings.batch_size
        progress = Progress(len(entries) * 2, "读取与入库进度")
        futures = [read_and_check.submit(entries[i : i + size], run) for i in range(0, len(entries), size)]
        judged = []
        for f in futures:
            judged.extend(f.result())
            progress.advance(len(judged) - progress.done)
        judged = value_rules(judged, run)
        for batch in stages.load_batches(judged, size):
            with_retries(load, run)(batch, run)
            progress.advance(len(batch))
    return run.summary
