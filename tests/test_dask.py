"""Past one machine: the read-and-check stage on a Dask cluster (PBSTATS_TASK_RUNNER=dask) gives the
same warehouse, on PostgreSQL, as the default runner, night by night over a generated city."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pbstats.flows.ingest import ingest
from pbstats.flows.runners import task_runner
from pbstats.flows.settings import Settings
from pbstats.gen.city import generate_city

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def warehouse(url: str) -> dict[str, set]:
    """What an analyst or a submitter would see, without ids and times that differ between runs."""
    queries = {
        "submission": "select file_name, sha256, status, form, org_code, year, late, archive_path,"
        " feedback_path from submission",
        "issues": "select s.file_name, i.check_id, i.severity, i.sheet, i.cell, i.indicator_code, i.message"
        " from submission_issue i join submission s using (submission_id)",
        "facts": "select f.org_code, f.year, f.form, f.indicator_code, f.value, s.file_name"
        " from fact_metric f join submission s using (submission_id)",
        "history": "select org_code, year, form, indicator_code, old_value, new_value from fact_metric_history",
        "rollup": "select year, township_code, indicator_code, state, reported, expected from rollup_check",
        "review": "select * from v_year_review",
    }
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: {tuple(r) for r in conn.execute(text(sql))} for name, sql in queries.items()}
    finally:
        engine.dispose()


def run_nights(corpus: Path, manifest: dict, home: Path, monkeypatch, runner_env: dict[str, str]) -> None:
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    monkeypatch.setenv("PBSTATS_HOME", str(home))
    for key in ("PBSTATS_TASK_RUNNER", "PBSTATS_DASK_ADDRESS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in runner_env.items():
        monkeypatch.setenv(key, value)
    flow = ingest.with_options(task_runner=task_runner(Settings()))
    for night in manifest["nights"]:
        for name in night["files"]:
            shutil.copy2(corpus / night["dir"] / name, inbox / name)
        flow(str(inbox))


def test_a_dask_cluster_of_processes_gives_the_same_warehouse_as_the_default_runner(
    tmp_path: Path, fresh_pg, monkeypatch
):
    from distributed import Client, LocalCluster

    corpus = tmp_path / "corpus"
    manifest = generate_city(corpus, years=(2025,))
    monkeypatch.setenv("PBSTATS_BATCH_SIZE", "40")  # several read tasks a night, spread over the workers

    url = fresh_pg()
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", url)
    run_nights(corpus, manifest, tmp_path / "threads", monkeypatch, {})
    by_threads = warehouse(url)

    url = fresh_pg()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run_nights(
            corpus,
            manifest,
            tmp_path / "dask",
            monkeypatch,
            {"PBSTATS_TASK_RUNNER": "dask", "PBSTATS_DASK_ADDRESS": cluster.scheduler_address},
        )
        with Client(cluster) as client:  # the reading was done by the cluster's worker processes
            finished = client.run_on_scheduler(
                lambda dask_scheduler: {
                    name: prefix.state_counts.get("memory", 0)
                    for name, prefix in dask_scheduler.task_prefixes.items()
                }
            )
    by_dask = warehouse(url)

    files = sum(len(n["files"]) for n in manifest["nights"])
    assert len(by_threads["submission"]) == files > 100
    assert by_threads["facts"] and by_threads["issues"] and by_threads["review"]
    for table in by_threads:
        assert by_dask[table] == by_threads[table], table
    assert set(finished) == {"read_and_check"}  # only the reading goes to the cluster
    assert finished["read_and_check"] >= len(manifest["nights"]) * 2
