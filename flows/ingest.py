"""The ingest flow: inbox → archive → read and check (batches, in parallel) → load (one transaction
per batch). Wiring only; the stages live in flows/stages.py and below."""

from __future__ import annotations

import uuid
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from transforms.checks import Rulebook
from warehouse.catalogue import load_registry
from warehouse.db import make_engine, upgrade
from warehouse.load import BatchCounts, finish_run, known_files, start_run
from warehouse.queries import RunSummary, run_summary

from . import stages
from .files import InboxEntry, list_inbox
from .settings import Settings


@task(
    name="discover", description="列出收件箱中新增或变化的文件（未变化的文件不再读取）", cache_policy=NO_CACHE
)
def discover(inbox: Path, engine) -> list[InboxEntry]:
    entries, skipped = list_inbox(inbox)
    with engine.connect() as conn:
        known = known_files(conn, [e.path for e in entries])
    new = [e for e in entries if known.get(e.path) != (e.size, e.mtime_ns)]
    get_run_logger().info(
        "inbox %s: %d files, %d new or changed, %d skipped", inbox, len(entries), len(new), len(skipped)
    )
    return new


@task(name="read-and-check", description="归档并读取一批报表，按制度逐项校验", cache_policy=NO_CACHE)
def read_and_check(
    batch: list[InboxEntry], settings: Settings, rules: Rulebook, engine
) -> list[stages.Judged]:
    judged = stages.read_batch(batch, settings.archive, settings.quarantine, rules, engine)
    rejected = sum(1 for j in judged if j.incoming.status == "rejected")
    get_run_logger().info("read %d files: %d rejected", len(batch), rejected)
    return judged


@task(
    name="load",
    description="将一批报表写入数据仓库（一个事务）",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
)
def load(batch: list[stages.Judged], run_id: str, rules: Rulebook, engine) -> BatchCounts:
    counts = stages.load(engine, run_id, batch, rules.registry)
    get_run_logger().info(
        "loaded %d: accepted %d, rejected %d, superseded %d, duplicates %d",
        counts.received,
        counts.accepted,
        counts.rejected,
        counts.superseded,
        counts.duplicates,
    )
    return counts


@flow(
    name="nightly-ingest",
    description="读取收件箱中新到的年报：先归档，再读取、校验、入库；有错误的报表退回并生成审核意见表。",
)
def ingest(inbox: str, settings: Settings | None = None) -> RunSummary:
    """One night's work over an inbox; returns what it did."""
    settings = settings or Settings()
    engine = make_engine(settings.url)
    upgrade(engine)
    with engine.connect() as conn:
        registry = load_registry(conn)
    rules = Rulebook(registry, settings.today_or_now(), settings.deadline_month_day)
    run_id = str(uuid.uuid4())
    with engine.begin() as conn:
        start_run(conn, run_id, _flow_run_id(), "nightly-ingest", str(Path(inbox).resolve()))
    try:
        entries = discover(Path(inbox), engine)
        size = settings.batch_size
        futures = [
            read_and_check.submit(entries[i : i + size], settings, rules, engine)
            for i in range(0, len(entries), size)
        ]
        judged = [j for f in futures for j in f.result()]
        for batch in stages.load_batches(judged, size):
            load(batch, run_id, rules, engine)
    except BaseException as e:
        with engine.begin() as conn:
            finish_run(conn, run_id, "failed", f"{type(e).__name__}: {e}"[:2000])
        raise
    with engine.begin() as conn:
        finish_run(conn, run_id, "completed")
        return run_summary(conn, run_id, registry)


def _flow_run_id() -> str | None:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None
