"""Reruns from the archive: judge a year's returns again (after the registry or a rule was
corrected) without new files, and backfill a range of years (after a warehouse was rebuilt)."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from pbstats.warehouse.load import BatchCounts
from pbstats.warehouse.queries import RunSummary, archived_submissions, closed_years, received_files

from . import stages
from .artifacts import Progress
from .files import read_receipts
from .ingest import Whole, load, with_retries
from .runs import Run, pipeline_run


class YearClosed(RuntimeError):
    """A closed year is not judged again until it is reopened."""


@task(name="reread", description="从归档中重新读取一批报表并按现行规则校验", cache_policy=NO_CACHE)
def reread(batch: list[dict], run: Run) -> Whole:
    s = run.settings
    out = stages.reread_batch(batch, s.archive, s.quarantine, run.rules)
    get_run_logger().info(
        "re-read %d archived files: %d rejected", len(out), sum(r.incoming.status == "rejected" for r in out)
    )
    return Whole(out)  # one result to Prefect, not one tracked per file


@task(
    name="reload", description="以新的校验结果替换原结果并重新确定现行版本（一个事务）", cache_policy=NO_CACHE
)
def reload(batch: list[stages.Rejudged], run: Run) -> BatchCounts:
    counts = stages.load_rejudged(run.engine, run.run_id, batch, run.rules.registry)
    get_run_logger().info(
        "re-judged %d: accepted %d, rejected %d, superseded %d",
        counts.received,
        counts.accepted,
        counts.rejected,
        counts.superseded,
    )
    return counts


def rejudge(
    run: Run, year: int, org_code: str | None, form: str | None, *, allow_closed: bool = False
) -> int:
    with run.engine.connect() as conn:
        if year in closed_years(conn) and not allow_closed:
            raise YearClosed(f"{year} is closed; reopen it first (pbstats reopen-year)")
        archived = archived_submissions(conn, year, org_code, form)
    size = run.settings.batch_size
    progress = Progress(len(archived), f"{year}年度重新校验进度")
    for i in range(0, len(archived), size):
        batch = reread(archived[i : i + size], run).value
        with_retries(reload, run)(quote(batch), run)
        progress.advance(len(batch))
    return len(archived)


@flow(
    name="rerun",
    description="重新校验并入库某年度（可限定某组织、某报表）已归档的报表，不读取新文件。用于组织名录或审核规则更正之后。",
)
def rerun(year: int, org_code: str | None = None, form: str | None = None) -> RunSummary:
    """重新校验某年度已归档的报表。

    Args:
        year: 要重新校验的统计年度，如 2025
        org_code: 只重跑这一个组织（乡镇或村）的报表，填12位组织代码；留空为全部
        form: DJ-1（村）或 DJ-2（乡镇）；留空为两种都重跑
    """
    with pipeline_run(
        "rerun", f"{year}年度重新校验概况", f"rerun year={year} org={org_code or '*'} form={form or '*'}"
    ) as run:
        rejudge(run, year, org_code, form)
    return run.summary


@task(
    name="restore",
    description="从归档读取一批报表（按收件记录的文件名与收到时间）并校验",
    cache_policy=NO_CACHE,
)
def restore(batch: list[dict], run: Run, first_year: int, last_year: int) -> Whole:
    s = run.settings
    judged = stages.restore_batch(batch, s.archive, s.quarantine, run.rules)
    kept = [j for j in judged if j.incoming.year is not None and first_year <= j.incoming.year <= last_year]
    get_run_logger().info(
        "restored %d archived files: %d of years %d-%d", len(batch), len(kept), first_year, last_year
    )
    return Whole(kept)


@flow(
    name="backfill",
    description="从归档按年度范围补回数据仓库中缺少的报表（例如数据仓库重建之后），按原收到时间与文件名逐年入库。",
)
def backfill(first_year: int, last_year: int) -> RunSummary:
    """从归档按年度范围补回入库。

    Args:
        first_year: 第一个要补回的统计年度，如 2024
        last_year: 最后一个要补回的统计年度（含），如 2025
    """
    with pipeline_run(
        "backfill", f"{first_year}–{last_year}年度回填概况", f"backfill {first_year}-{last_year}"
    ) as run:
        with run.engine.connect() as conn:
            known = received_files(conn)
        receipts = [
            r for r in read_receipts(run.settings.archive) if (r["sha256"], r["file_name"]) not in known
        ]
        size = run.settings.batch_size
        futures = [
            restore.submit(receipts[i : i + size], run, first_year, last_year)
            for i in range(0, len(receipts), size)
        ]
        judged = [j for f in futures for j in f.result().value]
        progress = Progress(len(judged), "回填进度")
        for batch in stages.load_batches(judged, size):
            with_retries(load, run)(batch, run)
            progress.advance(len(batch))
    return run.summary


# What the UI shows as each parameter's title (Prefect titles parameters by their Python name; the
# deploy step of `pbstats serve` sets these on the deployments).
PARAMETER_TITLES = {
    "inbox": "收件箱目录",
    "year": "统计年度",
    "org_code": "组织代码",
    "form": "报表（DJ-1/DJ-2）",
    "first_year": "起始年度",
    "last_year": "结束年度",
}
