"""Test fixtures: every warehouse test runs on SQLite and on PostgreSQL (a database made for this
session and dropped after it; a missing PostgreSQL fails the run), and Prefect runs against a
temporary home with analytics off."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="pbstats-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)

PG_ADMIN = os.environ.get("PBSTATS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database of this session's own, dropped at its end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"pbstats_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # a missing PostgreSQL is a failure, never a skip
        pytest.fail(f"PostgreSQL is required for the warehouse tests ({PG_ADMIN}): {e}")
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path: Path) -> str:
    """An empty warehouse URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("fresh_pg")()


@pytest.fixture
def night_settings(tmp_path: Path, warehouse_url: str, monkeypatch):
    """The settings a run and a command see, from the environment as in production: a home in
    tmp_path, the empty warehouse of this backend, and a day long after the 2025 returns were due."""
    from pbstats.flows.settings import Settings

    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    return Settings()


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the session (Prefect's own test harness)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def prefect_api_env():
    """A real Prefect server for the session (on a free port, its own PREFECT_HOME), as the
    environment a separate `pbstats` process needs to report to it."""
    import shutil
    import socket

    from pbstats.flows.serve import PROJECT_DIR, start_server, stop, wait_healthy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="pbstats-server-")
    env = dict(
        os.environ,
        PREFECT_HOME=home,
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PWD=str(PROJECT_DIR),
    )
    server = start_server("127.0.0.1", port, env)
    try:
        wait_healthy(env["PREFECT_API_URL"], timeout=120)
        yield env
    finally:
        stop(server)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def fresh_pg(pg_database):
    """A function that empties this session's PostgreSQL database and returns its URL."""
    from sqlalchemy import create_engine, text

    def reset() -> str:
        engine = create_engine(pg_database)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return pg_database

    return reset
