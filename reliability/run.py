"""`make reliability`: every reliability scenario at full size, one line per area.

    python reliability/run.py [--kills 30] [--backends sqlite,postgresql] [--fuzz 3000]

Starts its own Prefect server (the runs report to it, as they would in production), makes its own
PostgreSQL database and drops it, and prints:

    kills survived N/N (landed in start N, discover N, read N, load N, finish N; N after the run had
    ended, not counted), concurrent runs N/N, outages N/N, bad files tried N (crashes 0, hangs 0), PII leaks 0
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from pbstats.flows.serve import PROJECT_DIR, start_server, stop, wait_healthy  # noqa: E402
from reliability import scenarios  # noqa: E402

PG_ADMIN = os.environ.get("PBSTATS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class PgDatabase:
    """A database of this run's own; `fresh()` empties it and returns its URL."""

    def __init__(self):
        self.name = f"pbstats_rel_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def fresh(self) -> str:
        engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return self.url

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(
                text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'")
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))


def sqlite_urls(folder: Path):
    """A function giving a new SQLite warehouse URL at each call."""
    counter = iter(range(1_000_000))
    folder.mkdir(parents=True, exist_ok=True)
    return lambda: f"sqlite:///{folder / f'w{next(counter)}.db'}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=30, help="kill points per backend")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--fuzz", type=int, default=3000, help="fuzzed files for the hostile-file run")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pbstats-reliability-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ,
        PREFECT_HOME=str(work / "prefect"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PWD=str(PROJECT_DIR),
    )
    server = start_server("127.0.0.1", port, env)
    pg = PgDatabase()
    totals = {"kills": [0, 0], "concurrent": [0, 0], "outages": [0, 0]}
    landed: Counter = Counter()  # phase → kills there, over the backends
    missed = 0
    failures: list[str] = []
    try:
        wait_healthy(env["PREFECT_API_URL"], timeout=120)
        for backend in args.backends.split(","):
            fresh = pg.fresh if backend == "postgresql" else sqlite_urls(work / backend)
            killed = scenarios.kills(env, fresh, work / f"kills-{backend}", points=args.kills)
            landed += killed.landed
            missed += killed.missed
            for area, (tried, ok, fails) in (
                ("kills", (killed.tried, killed.survived, killed.failures)),
                ("concurrent", scenarios.concurrent(env, fresh, work / f"concurrent-{backend}")),
            ):
                totals[area][0] += tried
                totals[area][1] += ok
                failures += [f"{area} {backend}: {x}" for x in fails]
                print(f"{area} on {backend}: {ok}/{tried}", file=sys.stderr, flush=True)
        for area, run in (
            ("outages", lambda w: scenarios.outage(env, pg.fresh, w, cuts=3)),
            ("outages", lambda w: scenarios.full_disk(env, pg.fresh, w)),
        ):
            tried, ok, fails = run(work / f"{area}-{len(failures)}")
            totals[area][0] += tried
            totals[area][1] += ok
            failures += [f"{area}: {x}" for x in fails]
    finally:
        stop(server)
        pg.drop()
    for line in failures:
        print(line[:2000], file=sys.stderr)
    hostile = subprocess.run(
        [sys.executable, str(ROOT / "reliability" / "hostile.py"), "--fuzz", str(args.fuzz)],
        capture_output=True,
        text=True,
    )
    sys.stderr.write(hostile.stderr[-4000:])
    bad_files = (hostile.stdout.strip().splitlines() or ["bad files tried 0 (hostile run failed)"])[-1]
    pii = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_pii.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    leaks = 0 if pii.returncode == 0 else "some (tests/test_pii.py failed)"
    shutil.rmtree(work, ignore_errors=True)
    k, c, o = (totals[a] for a in ("kills", "concurrent", "outages"))
    where = ", ".join(f"{phase} {landed[phase]}" for phase in scenarios.PHASES)
    print(
        f"kills survived {k[1]}/{k[0]} (landed in {where}; {missed} after the run had ended, not counted), "
        f"concurrent runs {c[1]}/{c[0]}, outages {o[1]}/{o[0]}, {bad_files}, PII leaks {leaks}"
    )
    ok = k[0] > 0 and k[0] == k[1] and c[0] == c[1] and o[0] == o[1]
    ok = ok and hostile.returncode == 0 and pii.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
