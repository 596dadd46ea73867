"""What every flow does around its work: open the warehouse, hold the run lock, record the run,
and publish what it did. Kept apart so each flow reads like a table of contents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from prefect import get_run_logger
from prefect.runtime import flow_run
from sqlalchemy import Engine

from pbstats.transforms.checks import Rulebook
from pbstats.warehouse.catalogue import load_registry
from pbstats.warehouse.db import checkpoints_beside, make_engine, upgrade
from pbstats.warehouse.queries import RunSummary, completeness_rows, run_summary
from pbstats.warehouse.runlock import run_lock
from pbstats.warehouse.runs import finish_run, mark_interrupted_runs, start_run

from .artifacts import publish_review, publish_run, review_texts
from .settings import Settings, current
from .stages import settle_rollups


@dataclass
class Run:
    """One pipeline run: its id, settings, warehouse and rulebook."""

    run_id: str
    settings: Settings
    engine: Engine
    rules: Rulebook
    summary: RunSummary | None = None


@contextmanager
def pipeline_run(flow_name: str, title: str, source: str | None, *, review: bool = False) -> Iterator[Run]:
    """Open the warehouse, wait for any other run to finish, record this one from start to end."""
    log = get_run_logger()
    settings = current()
    engine = make_engine(settings.url)
    upgrade(engine)
    with run_lock(engine, settings.lock_wait), checkpoints_beside(engine):
        with engine.connect() as conn:
            registry = load_registry(conn)
        rules = Rulebook(registry, settings.today_or_now(), settings.deadline_month_day)
        run = Run(str(uuid.uuid4()), settings, engine, rules)
        flow_run_id = flow_run.get_id()
        with engine.begin() as conn:
            interrupted = mark_interrupted_runs(conn)  # we hold the lock: a run still 'running' is dead
            settle_rollups(conn, registry)  # what an interrupted run left unchecked
            start_run(conn, run.run_id, str(flow_run_id) if flow_run_id else None, flow_name, source)
        if interrupted:
            log.warning(
                "%d earlier run(s) had been interrupted; their unfinished batches left nothing", interrupted
            )
        log.info("run %s started (%s)", run.run_id, flow_name)
        try:
            yield run
        except BaseException as e:
            log.error("run %s failed: %s: %s", run.run_id, type(e).__name__, e)
            try:
                with engine.begin() as conn:
                    finish_run(conn, run.run_id, "failed", f"{type(e).__name__}: {e}"[:2000])
            except Exception:  # the warehouse is away: the next run marks this one interrupted
                log.error("run %s could not be recorded as failed", run.run_id)
            raise
        with engine.begin() as conn:
            rollups = settle_rollups(conn, registry)
            log.info("rollup checks of %d (year, township) pairs run again", rollups)
        with engine.begin() as conn:
            finish_run(conn, run.run_id, "completed")
            years = sorted({y for y in _years_of(conn, run.run_id)})
        # the year-end review (~1 s at a province's scale, most of it in the database) is read in a
        # thread of its own while this one sums the run up; nothing new: last night's review stands
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="review") as pool:
            texts = pool.submit(review_texts, engine, years) if review and years else None
            with engine.connect() as conn:
                run.summary = run_summary(conn, run.run_id, registry)
                completeness = completeness_rows(conn, years)
            publish_run(run.summary, title, str(settings.quarantine), completeness)
            if texts is not None:
                publish_review(texts.result())
        log.info(
            "run %s completed: %d files, accepted %d, rejected %d",
            run.run_id,
            run.summary.received,
            run.summary.totals.get("accepted", 0),
            run.summary.totals.get("rejected", 0),
        )
    engine.dispose()


def _years_of(conn, run_id: str) -> list[int]:
    from sqlalchemy import text

    return [
        r[0]
        for r in conn.execute(
            text("SELECT DISTINCT year FROM submission WHERE run_id = :r AND year IS NOT NULL"), {"r": run_id}
        )
    ]
