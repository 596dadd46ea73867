"""Prefect's temporary API for a command run without PREFECT_API_URL, started as the command begins.

Left to itself, a flow run with no API starts Prefect's temporary server when the flow starts: it
imports the server's modules into this process (3 s), spawns the server and waits for it (5 s on two
cores, more on a fresh PREFECT_HOME), and only then runs. Here the same server process — the
uvicorn command and environment Prefect's `SubprocessASGIServer` uses — is spawned at once, before
the pipeline's own modules load, so that both come up together; the flow is then run against it
(`use()`), and it is stopped when the command exits. Where an API is configured in the environment
nothing is started; where a profile or prefect.toml names one (a `pbstats serve` installation), the
server spawned ahead is stopped as soon as the settings are read. Prefect's migrations are checked by
the first server on a PREFECT_HOME and again only when Prefect or its database changes (`MIGRATED`).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pbstats import compat

_server: subprocess.Popen | None = None
_url: str | None = None
_answered = False  # the server has answered a health check
_migrated: tuple[Path, str] | None = None  # (marker, what it will say) once this server has answered

# In PREFECT_HOME: the Prefect build and database whose migrations a temporary server last ran. Prefect's
# server checks its migrations at every start (~1.4 s of a two-core machine's start, beside the
# command's imports); where this says they ran for the same build and database, it is told not to.
MIGRATED = "pbstats-migrated.txt"
_MIGRATE_SETTINGS = ("PREFECT_SERVER_DATABASE_MIGRATE_ON_START", "PREFECT_API_DATABASE_MIGRATE_ON_START")


def start_if_needed() -> None:
    """Spawn the temporary server unless Prefect is configured with an API (or one was started).

    Prefect's settings (environment, profile, prefect.toml) take a second to import and read; the
    server is spawned before that, unless PREFECT_API_URL is in the environment, and stopped again
    if the settings turn out to name an API or to forbid a temporary server. The server reads the same
    settings itself: same environment, same PREFECT_HOME, same working folder."""
    global _migrated
    if _server is not None or os.environ.get("PREFECT_API_URL"):
        return
    spec = importlib.util.find_spec("prefect")  # where it is installed; not imported yet
    if spec is None or spec.origin is None:
        return
    build = _build(Path(spec.origin))
    marker = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser() / MIGRATED
    known = _read_marker(marker, build)
    _spawn(Path(spec.origin), migrate=known is None)
    from prefect.settings import get_current_settings

    current = get_current_settings()
    if current.api.url or not current.server.ephemeral.enabled:
        stop()
        return
    database = current.server.database.connection_url
    database = database.get_secret_value() if database is not None else ""
    if known is not None and (known != database or Path(current.home) / MIGRATED != marker):
        stop()  # the settings name another database (or home) than the one migrated: check its migrations
        _spawn(Path(spec.origin), migrate=True)
        known = None
    if known is None and database.startswith("sqlite") and not _operator_decides():
        _migrated = (Path(current.home) / MIGRATED, f"{build}\n{database}")


def _build(origin: Path) -> str:
    """The installed Prefect's version and commit (its `_build_info.py`), without importing it."""
    try:
        return " ".join((origin.parent / "_build_info.py").read_text().split())
    except OSError:
        return ""


def _read_marker(marker: Path, build: str) -> str | None:
    """The SQLite database a temporary server of this Prefect build has migrated, if it is still there."""
    if not build or _operator_decides():
        return None
    try:
        migrated_build, database = marker.read_text().split("\n", 1)
    except (OSError, ValueError):
        return None
    path = database.split(":///", 1)[-1]
    if migrated_build != build or not database.startswith("sqlite") or not os.path.isfile(path):
        return None
    return database


def _operator_decides() -> bool:
    """Whether the environment says if the server migrates its database (then it is left to that)."""
    return any(name in os.environ for name in _MIGRATE_SETTINGS)


def _spawn(origin: Path, *, migrate: bool) -> None:
    global _server, _url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # what Prefect sets for its own temporary server: no UI, ephemeral mode
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", **compat.EPHEMERAL_SERVER_ENV}
    if not migrate:
        env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
    _server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn",
            "--app-dir", str(origin.parent.parent),
            "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    _url = f"http://127.0.0.1:{port}/api"
    atexit.unregister(stop)  # once, however many servers were spawned
    atexit.register(stop)


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, ask for SIGTERM when this command dies, however it dies
    (atexit does not run on SIGKILL), so that no server is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 15, 0, 0, 0)


def starting() -> bool:
    """Whether a temporary server was started and has not yet been waited for (`use`)."""
    return _server is not None and not _answered


@contextmanager
def use() -> Iterator[None]:
    """Run what is inside against the server `start_if_needed` started, once it answers; a no-op
    when none was started (Prefect then does as it is configured)."""
    if _server is None or _url is None:
        yield
        return
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from .serve import wait_healthy

    global _answered
    wait_healthy(
        _url, max(60, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()), proc=_server, every=0.1
    )
    _answered = True
    _remember_migrated()
    # No flow-run heartbeats: they tell a lasting server that a run is still alive, and this server
    # lives exactly as long as the command (killed, the command takes it along). Prefect's heartbeat
    # thread sleeps in one-second steps, and a flow run's end waits for it: up to 1 s per command.
    with temporary_settings(updates={PREFECT_API_URL: _url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _remember_migrated() -> None:
    """Once a server that ran the migrations has answered: the marker, written whole or not at all."""
    global _migrated
    if _migrated is None:
        return
    marker, text = _migrated
    _migrated = None
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, marker)
    except OSError:  # a read-only PREFECT_HOME: the next start checks the migrations again
        tmp.unlink(missing_ok=True)


def stop() -> None:
    global _server, _url, _answered, _migrated
    server, _server, _url, _answered, _migrated = _server, None, None, False, None
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
