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
    # the command's own exit (`flows.cli.main`) keeps the exit code of a usage error
    bad = subprocess.run(
        [PBSTATS, "ingest", str(tmp_path / "nowhere")], env=env, capture_output=True, timeout=60
    )
    assert bad.returncode == 2 and b"nowhere" in bad.stderr

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_profile_naming_an_api_stops_the_server_spawned_ahead(tmp_path: Path):
    """The server is spawned before Prefect's settings are read; a profile that names an API (as on a
    `pbstats serve` installation) must leave no server behind, and the command then uses that API."""
    env = env_for(tmp_path)
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "served"\n\n[profiles.served]\nPREFECT_API_URL = "http://127.0.0.1:9/api"\n'
    )
    probe = (
        "from pbstats.flows import local_api\n"
        "local_api.start_if_needed()\n"
        "print('started' if local_api.starting() else 'none')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "none"
    assert wait_until_none(str(home)) == []

    without = subprocess.run(
        [sys.executable, "-c", probe + "local_api.stop()\n"],
        env=env_for(tmp_path / "other") | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert without.stdout.strip() == "started", without.stderr[-2000:]  # the probe itself works


def test_flows_on_the_temporary_server_send_no_heartbeats(tmp_path: Path):
    """A flow run on the command's own server sends no heartbeats (nothing outlives the command to
    miss them) and so does not wait for Prefect's heartbeat thread as it ends; with any other API the
    heartbeat stays as configured."""
    probe = (
        "from prefect import flow\n"
        "from prefect.settings import get_current_settings\n"
        "from pbstats.flows import local_api\n"
        "@flow\n"
        "def probe():\n"
        "    s = get_current_settings()\n"
        "    return s.flows.heartbeat_frequency, s.api.url\n"
        "local_api.start_if_needed()\n"
        "print('outside', get_current_settings().flows.heartbeat_frequency)\n"
        "with local_api.use():\n"
        "    print('inside', *probe())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env_for(tmp_path) | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(
        line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("outside", "inside"))
    )
    assert lines["outside"] == "180"  # Prefect's default, as any other API gets it
    heartbeat, url = lines["inside"].split()
    assert heartbeat == "None" and url.startswith("http://127.0.0.1:") and url.endswith("/api")
    assert wait_until_none(str(tmp_path / "prefect")) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_server_checks_its_migrations_once_per_prefect_build_and_database(tmp_path: Path):
    """The first temporary server runs Prefect's migrations and leaves a marker; the next is told not
    to check them again and serves flow runs; a database that is gone is made and migrated anew."""
    env = env_for(tmp_path) | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    home = Path(env["PREFECT_HOME"])
    probe = (
        "import os\n"
        "from prefect import flow\n"
        "from pbstats.flows import local_api\n"
        "@flow\n"
        "def probe():\n"
        "    return 42\n"
        "local_api.start_if_needed()\n"
        "told = open(f'/proc/{local_api._server.pid}/environ', 'rb').read().split(b'\\0')\n"
        "print('skip' if b'PREFECT_SERVER_DATABASE_MIGRATE_ON_START=false' in told else 'migrate')\n"
        "with local_api.use():\n"
        "    print('ran', probe())\n"
    )

    def start() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split()

    assert start() == ["migrate", "ran", "42"]
    marker = (home / "pbstats-migrated.txt").read_text()
    assert "__version__" in marker and "prefect.db" in marker
    assert start() == ["skip", "ran", "42"]
    (home / "prefect.db").unlink()
    assert start() == ["migrate", "ran", "42"]
    # the operator's own setting is left alone, and no marker is trusted beside it
    env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "true"
    assert start() == ["migrate", "ran", "42"]
    assert wait_until_none(str(home)) == []
