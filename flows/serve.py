"""`pbstats serve`: the Prefect server and UI, the deployments of prefect.yaml and a process worker,
on one machine; Ctrl-C or SIGTERM stops them all.

A process worker (not `flow.serve`) runs the deployments: each flow run is its own process, so a run
that exhausts memory or crashes on a bad file never takes the server or the next run down, and
prefect.yaml stays the one description of the deployments (`prefect deploy --all` works the same).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

POOL = "pbstats"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def prefect_bin() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def wait_healthy(
    api_url: str, timeout: float = 90, *, proc: subprocess.Popen | None = None, every: float = 0.5
) -> None:
    """Until the API answers its health check; fails early when `proc` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Prefect's server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Prefect API at {api_url} did not become healthy in {timeout:.0f}s")
        time.sleep(every)


def start_server(host: str, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [prefect_bin(), "server", "start", "--host", host, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def deploy(env: dict) -> None:
    """Create the work pool if needed, deploy prefect.yaml, and give parameters Chinese titles."""
    subprocess.run(
        [prefect_bin(), "work-pool", "create", POOL, "--type", "process", "--overwrite"],
        env=env,
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [prefect_bin(), "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    set_parameter_titles(env["PREFECT_API_URL"])


def set_parameter_titles(api_url: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from .rerun import PARAMETER_TITLES

    async def _patch() -> None:
        async with get_client() as client:
            for d in await client.read_deployments():
                if "pbstats" not in (d.tags or []):
                    continue
                schema = dict(d.parameter_openapi_schema or {})
                for name, prop in (schema.get("properties") or {}).items():
                    prop["title"] = PARAMETER_TITLES.get(name, prop.get("title", name))
                await client.update_deployment(d.id, DeploymentUpdate(parameter_openapi_schema=schema))

    with temporary_settings({PREFECT_API_URL: api_url}):
        asyncio.run(_patch())


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [prefect_bin(), "worker", "start", "--pool", POOL, "--type", "process"],
        env=env,
        cwd=PROJECT_DIR,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Stopped(Exception):
    """The command was asked to stop (SIGTERM, SIGHUP)."""


def _stop_on_signals() -> None:
    """SIGTERM (what `docker stop`, `supervisorctl stop` and `kill` send) and SIGHUP stop the command
    as Ctrl-C does. Python's default for them ends the process at once, leaving the server and the
    worker, each in a session of its own (so Ctrl-C reaches only this process), running."""

    def stop_now(signum: int, _frame) -> None:
        raise Stopped(signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_now)


def serve_all(host: str, port: int, console) -> None:
    _stop_on_signals()
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PWD=str(PROJECT_DIR))
    server = worker = None
    api_url = env.get("PREFECT_API_URL")
    ui_url = api_url.removesuffix("/api") if api_url else None
    try:
        if not api_url:
            api_url, ui_url = f"http://{host}:{port}/api", f"http://{host}:{port}"
            env["PREFECT_API_URL"] = api_url
            console.print(f"启动 Prefect 服务：{ui_url} ……")
            server = start_server(host, port, env)
        wait_healthy(api_url)
        console.print("部署 prefect.yaml 中的流程：nightly（每晚 02:00）、rerun、backfill ……")
        deploy(env)
        worker = start_worker(env)
        console.print(
            f"[bold green]已就绪[/bold green]。Prefect 界面：{ui_url}/deployments  （按 Ctrl-C 停止服务、工作进程）"
        )
        while True:
            if server is not None and server.poll() is not None:
                raise RuntimeError("the Prefect server stopped")
            if worker.poll() is not None:
                raise RuntimeError("the Prefect worker stopped")
            time.sleep(1)
    except (KeyboardInterrupt, Stopped):
        console.print("正在停止……")
    finally:
        # a second signal must not cut the stopping short and leave a process behind; `stop` ends
        # with SIGKILL, so the stopping is bounded
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        stop(worker)
        stop(server)
        console.print("已停止。")
