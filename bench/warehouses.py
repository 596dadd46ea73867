"""The warehouses the benchmark fills: a fresh SQLite file or PostgreSQL database per run, and the
environment a measured `pbstats` command runs in."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from province import YEAR

PG_ADMIN = os.environ.get("PBSTATS_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SOURCE: Path | None = None  # --source: the pbstats code measured, when not this checkout
EXTRA_ENV: dict[str, str] = {}  # --env KEY=VALUE: settings for an experiment (e.g. the task runner's size)


class Backend:
    def __init__(self, name: str, work: Path):
        self.name, self.work = name, work
        self.db_name: str | None = None
        if name == "sqlite":
            self.url = f"sqlite:///{work / 'home' / 'warehouse.db'}"
        elif name == "postgresql":
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            self.db_name = f"pbstats_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            admin.dispose()
            self.url = make_url(PG_ADMIN).set(database=self.db_name).render_as_string(hide_password=False)
        else:
            raise SystemExit(f"unknown backend {name!r}")

    def last_run(self) -> dict:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM load_run ORDER BY started_at DESC LIMIT 1")).mappings().one()
            )
            out = dict(row)
            out["submissions_total"] = conn.execute(text("SELECT COUNT(*) FROM submission")).scalar_one()
            out["facts_total"] = conn.execute(text("SELECT COUNT(*) FROM fact_metric")).scalar_one()
        engine.dispose()
        return out

    def superseded(self) -> int:
        """Submissions a later return has replaced."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.connect() as conn:
            n = conn.execute(text("SELECT COUNT(*) FROM submission WHERE status = 'superseded'")).scalar_one()
        engine.dispose()
        return n

    def drop(self) -> None:
        if self.db_name is None:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": self.db_name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}"'))
        admin.dispose()


def bench_env(backend: Backend, prefect_home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PBSTATS_"))}
    env |= {
        "PBSTATS_WAREHOUSE_URL": backend.url,
        "PBSTATS_HOME": str(backend.work / "home"),
        "PBSTATS_TODAY": f"{YEAR + 1}-03-01",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    if SOURCE is not None:  # measure another checkout (e.g. a `git archive` of a commit) with this venv
        env["PYTHONPATH"] = str(SOURCE)
    env |= EXTRA_ENV
    prefect_home.mkdir(parents=True, exist_ok=True)
    return env
