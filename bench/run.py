"""Province-scale benchmark of `pbstats ingest`, on SQLite and PostgreSQL, against a naive baseline.

    python bench/run.py [--returns N] [--cold-runs K] [--naive-returns M] [--backends sqlite,postgresql] [--seed S]

For each backend, in a fresh temporary PBSTATS_HOME / PREFECT_HOME (PostgreSQL: a fresh database
on 127.0.0.1:5432, dropped after):

1. `pbstats registry load` with the province's orgs.csv (bench/province.py, cached by (N, seed)),
   and Prefect's temporary server started once and stopped (`FIRST_START`), as on any machine after
   its first run: the cold ingest then starts Prefect's server (~5 s) without what only its first
   start does — create its database (~7 s) and register Prefect's block types in it (~1 s) — nor,
   as any later start of the same Prefect build (flows/local_api.py), check its migrations again;
2. cold ingest of the N returns, --cold-runs times (default 3), each into a fresh warehouse and
   PBSTATS_HOME, the median run's figures shown (memory: the highest run's), as the machine's own
   speed moves by ~15% between runs (`machine_ms`, timed before each run, shows by how much):
   `.venv/bin/pbstats ingest INBOX` as a subprocess — wall time,
   returns/s, CPU, and peak RSS of the whole process tree (the CLI and the temporary Prefect API
   it starts; /proc polled every 50 ms, RSS summed over the tree) besides the CLI's own ru_maxrss;
3. a no-change night over the same inbox: wall time, new submissions (must be 0), and the number
   of inbox files whose content was opened (must be 0), counted by a second no-change run under
   `strace -f --seccomp-bpf -e trace=open,openat,openat2`: every read of a file's content needs an
   open of it; directory opens (os.walk's scandir) are not counted;
4. the corrected night: 1% of the returns rewritten with changed values and a later mtime;
5. `pbstats report` for the year when the command exists;
6. the naive baseline (bench/naive.py) on M of the same returns: one Prefect task per file,
   openpyxl, ORM inserts with a commit per file; seconds per return and the ratio;
7. after the backends, memory as the province grows: one cold SQLite ingest of a province of
   --scale-returns (default 100,000; generated and cached like the first), its peak RSS beside the
   first's (the target: within 3%, about the spread of one run's peak).

Prints a table and the targets met or missed; the figures also go to bench/.cache/results-*.json.
Needs `strace` for the read count (apt-get install -y strace); without it that figure is "n/a".

The nights are bench/nights.py, how a command is measured bench/measure.py, the warehouses and the
environment of a run bench/warehouses.py, the table and the targets bench/table.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import measure  # noqa: E402
import nights  # noqa: E402
import warehouses  # noqa: E402
from province import ensure_province  # noqa: E402
from table import print_table  # noqa: E402


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except OSError:
        mem = 0
    return f"{os.cpu_count()} vCPU {cpu}, {mem:.0f} GB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def git_head(source: Path | None) -> str:
    """What is measured: this checkout's HEAD (and how many files differ from it), or --source's REVISION."""
    if source is not None:
        rev = source / "REVISION"
        return f"{source} ({rev.read_text().strip() if rev.exists() else 'no REVISION file'})"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
        changed = sum(1 for line in dirty if line.strip())
        return f"{head} + {changed} uncommitted files" if changed else head
    except OSError:
        return "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="province-scale benchmark of pbstats ingest")
    p.add_argument("--returns", type=int, default=25_000, help="returns in the province (default 25,000)")
    p.add_argument("--naive-returns", type=int, default=1000, help="returns for the naive baseline (0: skip)")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temporary work folders")
    p.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        metavar="K",
        help="cold ingests per backend, each into a fresh warehouse; the median run's figures are shown (default 3)",
    )
    p.add_argument(
        "--scale-returns",
        type=int,
        default=100_000,
        metavar="M",
        help="then one cold SQLite ingest of M returns, for memory as the province grows (0: skip)",
    )
    p.add_argument("--py-spy", metavar="DIR", help="record the cold ingest with py-spy into DIR (slows it)")
    p.add_argument(
        "--source",
        metavar="DIR",
        help="measure the pbstats code in DIR (e.g. `git archive HEAD | tar -x -C DIR`) instead of this checkout",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="before each measurement wait up to S seconds for other processes to use under --quiet-share",
    )
    p.add_argument(
        "--cold-timeout",
        type=float,
        metavar="S",
        help="stop the cold ingest after S seconds (e.g. a --returns 100000 memory check) and skip the rest",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the pbstats runs, e.g. PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS=2",
    )
    p.add_argument("--quiet-share", type=float, default=0.15, help="CPU share of other work taken as quiet")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(143)
    )  # so that work folders and databases are cleaned up
    measure.QUIET.update(share=args.quiet_share, max_wait=args.quiet_wait)
    warehouses.EXTRA_ENV.update(kv.split("=", 1) for kv in args.env)
    if args.source:
        warehouses.SOURCE = Path(args.source).resolve()

    started = datetime.now()
    head = git_head(warehouses.SOURCE)
    print(f"pbstats bench at {head}, {started:%Y-%m-%d %H:%M}; {machine()}")
    if warehouses.EXTRA_ENV:
        print(f"extra environment: {warehouses.EXTRA_ENV}")
    province, manifest = ensure_province(args.returns, args.seed)
    results: dict = {}
    try:
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            nights.run_backend(name, province, manifest, args, results)
        base = results.get("sqlite", {}).get("cold")
        if args.scale_returns and args.scale_returns != manifest["files"] and base and "peak_tree_mb" in base:
            nights.run_scale(args.scale_returns, args, base | {"returns": manifest["files"]}, results)
    finally:
        nights.remove_work_folders()
    targets = print_table(results, manifest)
    record = {
        "git": head,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "extra_env": warehouses.EXTRA_ENV,
        "returns": manifest["files"],
        "province": {k: v for k, v in manifest.items() if k != "by_file"},
        "results": results,
        "targets": [{"target": t, "met": ok, "measured": got} for t, ok, got in targets],
    }
    path = BENCH / ".cache" / f"results-{started:%Y%m%d-%H%M%S}-N{manifest['files']}.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(f"\nfigures saved to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
