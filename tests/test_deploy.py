"""The deployments for real: a local Prefect server (started by the test session), prefect.yaml
deployed with `prefect deploy --all`, a process worker, runs triggered through the API."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pbstats.flows.serve import PROJECT_DIR, deploy, start_worker, stop
from tests.builders import TOWNSHIP, drop, make_return

pytestmark = pytest.mark.slow
NEW_VILLAGE = "990181101398"


@pytest.fixture(scope="module")
def prefect_server(prefect_api_env):
    """The shared real Prefect server, with the deployments of prefect.yaml."""
    deploy(prefect_api_env)
    return prefect_api_env


def _client_call(env: dict, fn):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def go():
        async with get_client() as client:
            return await fn(client)

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        return asyncio.run(go())


def _run_deployment(env: dict, name: str, parameters: dict):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        return run_deployment(name, parameters=parameters, timeout=300, poll_interval=1)


def test_the_three_deployments_are_listed_with_chinese_descriptions_and_titles(prefect_server):
    deployments = _client_call(prefect_server, lambda c: c.read_deployments())
    by_name = {d.name: d for d in deployments}
    assert {"nightly", "rerun", "backfill"} <= set(by_name)
    nightly = by_name["nightly"]
    assert "收件箱" in nightly.description
    assert nightly.schedules and nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert nightly.schedules[0].schedule.timezone == "Asia/Shanghai"
    props = by_name["rerun"].parameter_openapi_schema["properties"]
    assert props["year"]["title"] == "统计年度" and "留空" in props["org_code"]["description"]


def test_a_rerun_triggered_through_the_api_loads_the_corrected_return(prefect_server, tmp_path: Path):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    env = dict(prefect_server, PBSTATS_HOME=str(home), PBSTATS_WAREHOUSE_URL=url)
    drop(inbox, "新村.xlsx", make_return(org_code=NEW_VILLAGE))
    drop(inbox, "村.xlsx", make_return())
    worker = start_worker(env)
    try:
        run = _run_deployment(env, "nightly-ingest/nightly", {"inbox": str(inbox)})
        assert run.state.is_completed(), run.state
        registry = tmp_path / "orgs.csv"
        shutil.copy(PROJECT_DIR / "schemas" / "data" / "orgs.csv", registry)
        with registry.open("a", encoding="utf-8") as fh:
            fh.write(f"{NEW_VILLAGE},新设村,village,村,{TOWNSHIP},2025,\n")
        subprocess.run(
            [str(Path(sys.executable).with_name("pbstats")), "registry", "load", str(registry)],
            env=env,
            check=True,
        )
        run = _run_deployment(env, "rerun/rerun", {"year": 2025, "org_code": NEW_VILLAGE})
        assert run.state.is_completed(), run.state
    finally:
        stop(worker)
    engine = create_engine(url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("select file_name, status from submission")).all())
        runs = conn.execute(
            text("select flow_name, flow_run_id, outcome from load_run order by started_at")
        ).all()
        facts = conn.execute(
            text("select count(*) from fact_metric where org_code=:o"), {"o": NEW_VILLAGE}
        ).scalar_one()
    engine.dispose()
    assert statuses == {"新村.xlsx": "accepted", "村.xlsx": "accepted"} and facts == 12
    assert [(r.flow_name, r.outcome) for r in runs] == [
        ("nightly-ingest", "completed"),
        ("rerun", "completed"),
    ]
    assert runs[1].flow_run_id == str(run.id)  # from a warehouse row to the run in the UI

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    artifacts = _client_call(
        prefect_server,
        lambda c: c.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        ),
    )
    by_key = {a.key: a for a in artifacts}
    assert {"pbstats-run-summary", "pbstats-rejected", "pbstats-completeness", "pbstats-progress"} <= set(
        by_key
    )
    summary = by_key["pbstats-run-summary"].data
    assert "重新校验" in summary and "通过 **1**" in summary
    assert by_key["pbstats-progress"].data == 100.0  # however few updates it was given, it ends full
    nightly = _client_call(
        prefect_server,
        lambda c: c.read_artifacts(artifact_filter=ArtifactFilter(key={"any_": ["pbstats-review-2025"]})),
    )
    assert nightly and "2025" in nightly[0].data  # the year-end summary, published by the nightly run


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_ingests_at_once_load_nothing_twice(prefect_server, tmp_path: Path, backend, request):
    url = (
        f"sqlite:///{tmp_path / 'warehouse.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg")()
    )
    env = dict(
        prefect_server, PBSTATS_HOME=str(tmp_path / "home"), PBSTATS_WAREHOUSE_URL=url, PBSTATS_BATCH_SIZE="3"
    )
    inbox = tmp_path / "inbox"
    for i, code in enumerate(
        ["990181101201", "990181101202", "990181101203", "990181101205", "990181101206"]
    ):
        drop(inbox, f"村{i}.xlsx", make_return(org_code=code))
    drop(inbox, "镇.xlsx", make_return("DJ-2", TOWNSHIP))
    cmd = [str(Path(sys.executable).with_name("pbstats")), "ingest", str(inbox)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        per_file = conn.execute(text("select file_name, count(*) from submission group by file_name")).all()
        facts = conn.execute(text("select count(*) from fact_metric")).scalar_one()
        received = sorted(r[0] for r in conn.execute(text("select files_received from load_run")))
    engine.dispose()
    assert dict(per_file) == {**{f"村{i}.xlsx": 1 for i in range(5)}, "镇.xlsx": 1}
    assert len(per_file) == 6 and facts == 5 * 12 + 17
    assert received == [0, 6]  # one run took the files, the other waited and found nothing new


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid → (parent pid, session id, state) of every process (Linux /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            state, ppid, _, sid = stat.rsplit(")", 1)[1].split()[:4]
            out[int(entry.name)] = (int(ppid), int(sid), state)
    return out


def _alive_in(sessions: set[int]) -> list[int]:
    return [pid for pid, (_, sid, state) in _processes().items() if sid in sessions and state != "Z"]


def test_serve_stopped_with_sigterm_stops_its_server_and_worker(tmp_path: Path):
    """What `docker stop`, `supervisorctl stop` and `kill` send stops everything, as Ctrl-C does."""
    import os
    import signal
    import socket
    import threading
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PBSTATS_HOME=str(tmp_path / "home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    cmd = [str(Path(sys.executable).with_name("pbstats")), "serve", "--port", str(port)]
    serve = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready, output = threading.Event(), []

    def follow() -> None:
        for line in serve.stdout:
            output.append(line)
            if "已就绪" in line:
                ready.set()

    threading.Thread(target=follow, daemon=True).start()
    sessions: set[int] = set()
    try:
        assert ready.wait(300), "".join(output)
        # the server and the worker: the command's children, each leading a session of its own
        sessions = {pid for pid, (ppid, sid, _) in _processes().items() if ppid == serve.pid and sid == pid}
        assert len(sessions) == 2, _processes()
        assert len(_alive_in(sessions)) >= 2
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(60)
        deadline = time.monotonic() + 30
        while _alive_in(sessions) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _alive_in(sessions) == [], "".join(output)
        assert code == 0, "".join(output)
        with pytest.raises(OSError):  # nothing answers on the port any more
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        for sid in sessions:  # what a failed stop left behind
            try:
                os.killpg(sid, signal.SIGKILL)
            except ProcessLookupError:
                pass
