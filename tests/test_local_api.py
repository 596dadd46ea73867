"""`pbstats ingest` with no Prefect API configured: the command starts Prefect's temporary server as
it begins, runs the flow against it, and leaves no server behind, whether it ends or is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.builders import drop, make_return

pytestmark = pytest.mark.slow

PBSTATS = str(Path(sys.executable).parent / "pbstats")


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PBSTATS_"))}
    return env | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PBSTATS_HOME": str(tmp_path / "home"),
    }


def processes_with(home: str) -> list[int]:
    """Processes whose environment names this PREFECT_HOME (the command and its server)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"PREFECT_HOME={home}".encode() in environ.split(b"\0"):
            found.append(int(pid))
    return found


def wait_until_none(home: str, seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ingest_without_an_api_runs_on_its_own_server_and_leaves_none(tmp_path: Path):
    env = env_for(tmp_path)
    inbox = tmp_path / "inbox"
    drop(inbox, "村.xlsx", make_return())
    done = subprocess.run(
        [PBSTATS, "ingest", str(inbox)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "收到 1 个文件，通过 1" in done.stdout
    assert wait_until_none(env["PREFECT_HOME"]) == []

    # killed outright mid-run (no atexit): its server goes with it
    drop(inbox, "村2.xlsx", make_return(values={"01": 7}))
    proc = subprocess.Popen(
        [PBSTATS, "ingest", str(inbox)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(processes_with(env["PREFECT_HOME"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the command and the server it started
    assert len(processes_with(env["PREFECT_HOME"])) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_until_none(env["PREFECT_HOME"]) == []
