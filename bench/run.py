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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from province import YEAR, ensure_province  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
PBSTATS = str(VENV_BIN / "pbstats")
PYTHON = str(VENV_BIN / "python")
PG_ADMIN = os.environ.get("PBSTATS_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PAGE = os.sysconf("SC_PAGE_SIZE")
SOURCE: Path | None = None  # --source: the pbstats code measured, when not this checkout
EXTRA_ENV: dict[str, str] = {}  # --env KEY=VALUE: settings for an experiment (e.g. the task runner's size)

# the temporary server a command starts (flows.local_api), started once and stopped: its first start
# creates Prefect's database (migrations) and registers Prefect's block types in it
FIRST_START = "from flows import local_api\nlocal_api.start_if_needed()\nwith local_api.use():\n    pass"

TARGET_COLD_S = 40.0  # 25,000 returns on SQLite, end to end
TARGET_RATIO = 30.0
TARGET_RSS_MB = 1024.0
TARGET_NOCHANGE_S = 10.0
TARGET_PG_FACTOR = 1.5
TARGET_SCALE_GROWTH = 0.03  # "100,000 returns within the same peak": the peak of one run moves by ~1-2%


# ---------------------------------------------------------------- measuring a process tree


@dataclass
class Measured:
    cmd: list[str]
    wall: float
    rc: int
    peak_tree_mb: float
    main_maxrss_mb: float
    cpu_s: float  # user + sys of the process and the children it waited for
    stdout: str
    stderr: str
    extra: dict = field(default_factory=dict)


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            with open(f"/proc/{entry}/statm", "rb") as fh:
                resident = int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        pid = int(entry)
        children.setdefault(ppid, []).append(pid)
        rss[pid] = resident * PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat, all CPUs)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


QUIET = {"share": 1.0, "max_wait": 0.0}  # --quiet: wait for the machine to calm down before a measurement


def machine_ms() -> float:
    """How fast this machine is right now: the best of three timings of a fixed piece of the
    interpreter's work (pickling, a dict, a sort, text), in ms. The same machine gives figures ~15%
    apart over an hour; this says how much of a change between two runs was the machine's own."""
    import pickle

    rows = [{"code": f"{i:02d}", "value": i * 1.5, "name": f"指标{i}"} for i in range(200)]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(200):
            back = pickle.loads(pickle.dumps(rows))
            index = {r["code"]: r for r in back}
            sorted(index, reverse=True)
            "".join(r["name"] for r in back).encode("utf-8")
        best = min(best, time.perf_counter() - start)
    return best * 1000


def wait_for_quiet() -> None:
    """On a shared machine, wait (up to --quiet-wait seconds) until others use under --quiet of the CPUs."""
    if QUIET["max_wait"] <= 0:
        return
    deadline = time.monotonic() + QUIET["max_wait"]
    cpus = os.cpu_count() or 1
    while True:
        before = _busy_cpu_s()
        time.sleep(5)
        share = (_busy_cpu_s() - before) / (5 * cpus)
        if share < QUIET["share"]:
            return
        if time.monotonic() > deadline:
            print(f"  (machine still {share:.0%} busy with other work; measuring anyway)", flush=True)
            return


def measure(
    cmd: list[str], env: dict, cwd: Path, *, poll: bool = True, timeout: float | None = None
) -> Measured:
    """Run `cmd`; with `timeout`, its process group is terminated after that many seconds."""
    wait_for_quiet()
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    busy_before = _busy_cpu_s()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out_f, stderr=err_f, start_new_session=True)
    peak = 0
    done = threading.Event()
    timed_out = False

    def poller() -> None:
        nonlocal peak, timed_out
        while not done.is_set():
            if timeout is not None and not timed_out and time.perf_counter() - started > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGTERM)  # the group of the process started here, nothing else
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.1)

    thread = threading.Thread(target=poller, daemon=True)
    if poll or timeout is not None:
        thread.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted: take the measured process group down with us
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    wall = time.perf_counter() - started
    done.set()
    if poll or timeout is not None:
        thread.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    # what else kept the CPUs busy meanwhile (other users of the machine, and this script's polling)
    others = max(0.0, _busy_cpu_s() - busy_before - cpu)
    out_f.seek(0)
    err_f.seek(0)
    return Measured(
        cmd=cmd,
        wall=wall,
        rc=proc.returncode,
        peak_tree_mb=peak / 2**20,
        main_maxrss_mb=usage.ru_maxrss / 1024,
        cpu_s=cpu,
        stdout=out_f.read().decode("utf-8", "replace"),
        stderr=err_f.read().decode("utf-8", "replace"),
        extra={
            "other_cpu_s": others,
            "other_cpu_share": others / (wall * (os.cpu_count() or 1)),
            "timed_out": timed_out,
        },
    )


def _check(m: Measured, what: str) -> None:
    if m.rc != 0:
        tail = "\n".join((m.stdout + "\n" + m.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"{what} failed (exit {m.rc}):\n{tail}")


# ---------------------------------------------------------------- warehouses


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


# ---------------------------------------------------------------- the nights


def copy_tree(src: Path, dst: Path, names: list[str] | None = None) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names if names is not None else sorted(os.listdir(src)):
        shutil.copy2(src / name, dst / name)


def replace_files(src: Path, inbox: Path) -> int:
    """Corrections over the inbox: new bytes and the later mtime of the corrected file."""
    n = 0
    for name in sorted(os.listdir(src)):
        tmp = inbox / f".{name}.bench-tmp"
        shutil.copy2(src / name, tmp)
        os.replace(tmp, inbox / name)
        n += 1
    return n


def count_inbox_opens(trace: Path, inbox: Path) -> tuple[int, int]:
    """(files, opens): inbox files opened other than as directories, from an strace -f log."""
    prefix = str(inbox) + "/"
    pattern = re.compile(r'open(?:at2?)?\((?:[^,]*, )?"([^"]*)", ([^)]*)\)')
    files: set[str] = set()
    opens = 0
    for line in trace.read_text(errors="replace").splitlines():
        m = pattern.search(line)
        if not m or "O_DIRECTORY" in m.group(2):
            continue
        path = m.group(1)
        if path.startswith(prefix) or (not path.startswith("/") and path.startswith(inbox.name + "/")):
            files.add(path)
            opens += 1
    return len(files), opens


def run_backend(name: str, province: Path, manifest: dict, args, out: dict) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"pbstats-bench-{name}-"))
    backend = Backend(name, work)
    res: dict = {"backend": name}
    out[name] = res
    try:
        inbox = work / "inbox"
        print(f"\n[{name}] copying {manifest['files']} returns to {inbox} …", flush=True)
        copy_tree(province / "returns", inbox)
        env = bench_env(backend, work / "prefect")

        m = measure([PBSTATS, "registry", "load", str(province / "orgs.csv")], env, work)
        _check(m, "registry load")
        res["registry_load_s"] = m.wall
        print(f"[{name}] registry load: {m.wall:.1f} s", flush=True)

        # Prefect's own database, as on any machine after its first run (`pbstats serve` or an ingest):
        # its server's first start, here, so that the cold ingest starts Prefect's server, not its setup
        m = measure([PYTHON, "-c", FIRST_START], env, work)
        _check(m, "Prefect's first start")
        res["prefect_db_s"] = m.wall
        print(f"[{name}] Prefect's first start: {m.wall:.1f} s (once per machine)", flush=True)

        ingest = [PBSTATS, "ingest", str(inbox)]
        cold_cmd = ingest
        runs = 1 if args.py_spy else max(1, args.cold_runs)
        if args.py_spy:
            prof = Path(args.py_spy).resolve() / f"cold-{name}.collapsed.txt"
            prof.parent.mkdir(parents=True, exist_ok=True)
            cold_cmd = [
                str(VENV_BIN / "py-spy"), "record", "--subprocesses", "--idle", "--format", "raw",
                "--rate", "50", "-o", str(prof), "--", *ingest,
            ]  # fmt: skip
        # The same cold night `runs` times, each into a warehouse and PBSTATS_HOME of its own (the inbox and
        # Prefect's database shared): the figures are the median run's, as one run is within the machine's
        # own spread (README); the last run's warehouse goes on to the later nights.
        colds: list[dict] = []
        for i in range(runs):
            last = i == runs - 1
            target = backend if last else Backend(name, work / f"cold-{i + 1}")
            if not last:
                EXTRA_BACKENDS.append(target)
            target_env = env if last else bench_env(target, work / "prefect")
            if not last:
                m = measure([PBSTATS, "registry", "load", str(province / "orgs.csv")], target_env, work)
                _check(m, "registry load")
            speed = machine_ms()
            print(
                f"[{name}] cold ingest of {manifest['files']} returns ({i + 1} of {runs}; machine {speed:.1f} ms) …",
                flush=True,
            )
            m = measure(cold_cmd, target_env, work, timeout=args.cold_timeout)
            if m.extra["timed_out"]:
                res["cold"] = {
                    "stopped_after_s": m.wall,
                    "peak_tree_mb": m.peak_tree_mb,
                    "main_maxrss_mb": m.main_maxrss_mb,
                    "cpu_s": m.cpu_s,
                    "other_cpu_share": m.extra["other_cpu_share"],
                }
                print(f"[{name}] cold ingest stopped after {m.wall:.0f} s: {_fmt(res['cold'])}", flush=True)
                return
            _check(m, "cold ingest")
            colds.append(_cold_figures(m, target.last_run(), manifest) | {"machine_ms": speed})
            print(f"[{name}] cold run {i + 1}: {_fmt(colds[-1])}", flush=True)
        res["cold"] = dict(sorted(colds, key=lambda c: c["wall_s"])[len(colds) // 2])  # the median run
        res["cold"] |= {
            "runs_wall_s": [c["wall_s"] for c in colds],
            "runs_cpu_s": [c["cpu_s"] for c in colds],
            "runs_machine_ms": [c["machine_ms"] for c in colds],
            "peak_tree_mb": max(c["peak_tree_mb"] for c in colds),  # memory: the highest of the runs
            "main_maxrss_mb": max(c["main_maxrss_mb"] for c in colds),
        }
        print(f"[{name}] cold: {_fmt(res['cold'])}", flush=True)

        m = measure(ingest, env, work)
        _check(m, "no-change night")
        run = backend.last_run()
        res["nochange"] = {
            "wall_s": m.wall,
            "received": run["files_received"],
            "peak_tree_mb": m.peak_tree_mb,
            "cpu_s": m.cpu_s,
            "other_cpu_share": m.extra["other_cpu_share"],
        }
        if shutil.which("strace"):
            trace = work / "nochange.strace"
            cmd = ["strace", "-f", "--seccomp-bpf", "-e", "trace=open,openat,openat2", "-o", str(trace)]
            m = measure([*cmd, *ingest], env, work, poll=False)
            _check(m, "no-change night under strace")
            files, opens = count_inbox_opens(trace, inbox)
            res["nochange"] |= {
                "files_read": files,
                "opens": opens,
                "received_strace_run": backend.last_run()["files_received"],
                "strace_wall_s": m.wall,
            }
        else:
            res["nochange"]["files_read"] = None
        print(f"[{name}] no-change: {_fmt(res['nochange'])}", flush=True)

        n_corr = replace_files(province / "corrections", inbox)
        m = measure(ingest, env, work)
        _check(m, "corrected night")
        run = backend.last_run()
        res["corrected"] = {
            "files_rewritten": n_corr,
            "wall_s": m.wall,
            "received": run["files_received"],
            "accepted": run["accepted"],
            "superseded_earlier": _superseded(backend),
            "peak_tree_mb": m.peak_tree_mb,
        }
        print(f"[{name}] corrected night: {_fmt(res['corrected'])}", flush=True)

        res["report"] = run_report(env, work)
        print(f"[{name}] report: {_fmt(res['report'])}", flush=True)

        if args.naive_returns > 0:
            res["naive"] = run_naive(backend, province, manifest, args, work)
            res["naive"]["ratio_end_to_end"] = res["naive"]["s_per_return"] / res["cold"]["s_per_return"]
            res["naive"]["ratio_marginal"] = res["naive"]["loop_s_per_return"] / res["cold"]["s_per_return"]
            res["naive"]["ratio_cpu"] = res["naive"]["cpu_s_per_return"] / (
                res["cold"]["cpu_s"] / manifest["files"]
            )
            print(f"[{name}] naive: {_fmt(res['naive'])}", flush=True)
    finally:
        backend.drop()
        while EXTRA_BACKENDS:
            EXTRA_BACKENDS.pop().drop()
        if not args.keep:
            TO_REMOVE.append(work)
        else:
            print(f"[{name}] kept {work}")


# Work folders are removed after every backend has run, not between: on an ext4 without a journal (as
# on this project's machines) a file created within minutes of the deletion of many others costs ~0.4 ms
# of kernel time, against ~0.1 ms otherwise (the inode allocator steps over every recently deleted
# inode it finds: `recently_deleted` in perf), and the next backend's cold ingest creates ~50,000 files
# (the inbox's copy, the archive) just after the previous one's ~60,000 were deleted.
TO_REMOVE: list[Path] = []


def run_scale(n: int, args, baseline: dict, out: dict) -> None:
    """Memory as the province grows: one cold SQLite ingest of `n` returns (a province of its own,
    generated and cached as the first), its peak beside the peak of the cold runs above."""
    province, manifest = ensure_province(n, args.seed)
    work = Path(tempfile.mkdtemp(prefix="pbstats-bench-scale-"))
    TO_REMOVE.append(work)
    backend = Backend("sqlite", work)
    inbox = work / "inbox"
    print(f"\n[scale] copying {manifest['files']} returns to {inbox} …", flush=True)
    copy_tree(province / "returns", inbox)
    env = bench_env(backend, work / "prefect")
    _check(measure([PBSTATS, "registry", "load", str(province / "orgs.csv")], env, work), "registry load")
    _check(measure([PYTHON, "-c", FIRST_START], env, work), "Prefect's first start")
    speed = machine_ms()
    print(f"[scale] cold ingest of {manifest['files']} returns (machine {speed:.1f} ms) …", flush=True)
    m = measure([PBSTATS, "ingest", str(inbox)], env, work, timeout=args.cold_timeout)
    if m.extra["timed_out"]:
        out["scale"] = {
            "returns": manifest["files"],
            "stopped_after_s": m.wall,
            "peak_tree_mb": m.peak_tree_mb,
        }
    else:
        _check(m, "cold ingest at scale")
        out["scale"] = _cold_figures(m, backend.last_run(), manifest) | {
            "returns": manifest["files"],
            "machine_ms": speed,
            "expected_accepted": manifest["expected"]["accepted"],
        }
    out["scale"]["baseline_returns"] = baseline["returns"]
    out["scale"]["baseline_peak_tree_mb"] = baseline["peak_tree_mb"]
    print(f"[scale] {_fmt(out['scale'])}", flush=True)


def _cold_figures(m: Measured, run: dict, manifest: dict) -> dict:
    return {
        "wall_s": m.wall,
        "returns_per_s": manifest["files"] / m.wall,
        "s_per_return": m.wall / manifest["files"],
        "peak_tree_mb": m.peak_tree_mb,
        "main_maxrss_mb": m.main_maxrss_mb,
        "cpu_s": m.cpu_s,
        "other_cpu_share": m.extra["other_cpu_share"],
        "received": run["files_received"],
        "accepted": run["accepted"],
        "rejected": run["rejected"],
        "duplicates": run["duplicates"],
        "warnings": run["warnings"],
        "facts": run["facts_total"],
    }


# the warehouses of the cold runs before the last (PostgreSQL: a database each), dropped at the end
EXTRA_BACKENDS: list[Backend] = []


def remove_work_folders() -> None:
    while TO_REMOVE:
        shutil.rmtree(TO_REMOVE.pop(), ignore_errors=True)


def _superseded(backend: Backend) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(backend.url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM submission WHERE status = 'superseded'")).scalar_one()
    engine.dispose()
    return n


def run_report(env: dict, work: Path) -> dict:
    helped = subprocess.run([PBSTATS, "report", "--help"], env=env, cwd=work, capture_output=True, text=True)
    if helped.returncode != 0:
        return {"available": False}
    cmd = [PBSTATS, "report"]
    if "--year" in helped.stdout:
        cmd += ["--year", str(YEAR)]
    if "--out" in helped.stdout:
        cmd += ["--out", str(work / "report")]
    m = measure(cmd, env, work)
    return {"available": True, "cmd": " ".join(cmd[1:]), "wall_s": m.wall, "rc": m.rc}


def run_naive(backend: Backend, province: Path, manifest: dict, args, work: Path) -> dict:
    names = sorted(manifest["by_file"])
    sample = sorted(random.Random(args.seed).sample(names, min(args.naive_returns, len(names))))
    inbox = work / "naive-inbox"
    copy_tree(province / "returns", inbox, sample)
    url = backend.url if backend.name != "sqlite" else f"sqlite:///{work / 'naive.db'}"
    env = bench_env(backend, work / "prefect-naive")
    print(f"[{backend.name}] naive baseline on {len(sample)} returns …", flush=True)
    m = measure([PYTHON, str(BENCH / "naive.py"), str(inbox), "--url", url], env, work)
    _check(m, "naive baseline")
    inner = json.loads(m.stdout.strip().splitlines()[-1])
    return {
        "returns": len(sample),
        "wall_s": m.wall,
        "s_per_return": m.wall / len(sample),
        "loop_s_per_return": inner["loop_seconds"] / len(sample),
        "cpu_s_per_return": m.cpu_s / len(sample),
        "accepted": inner["accepted"],
        "rejected": inner["rejected"],
        "peak_tree_mb": m.peak_tree_mb,
        "cpu_s": m.cpu_s,
        "other_cpu_share": m.extra["other_cpu_share"],
    }


def _fmt(d: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


# ---------------------------------------------------------------- the table and the targets


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


def git_head() -> str:
    """What is measured: this checkout's HEAD (and how many files differ from it), or --source's REVISION."""
    if SOURCE is not None:
        rev = SOURCE / "REVISION"
        return f"{SOURCE} ({rev.read_text().strip() if rev.exists() else 'no REVISION file'})"
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


def print_table(results: dict, manifest: dict, args) -> list[tuple[str, bool | None, str]]:
    backends = [b for b in ("sqlite", "postgresql") if b in results]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:
        cells = []
        for b in backends:
            try:
                cells.append(fn(results[b]))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("—")
        rows.append((label, cells))

    n = manifest["files"]
    row("registry load (s)", lambda r: f"{r['registry_load_s']:.1f}")
    row("Prefect's first start (s)", lambda r: f"{r.get('prefect_db_s', 0):.1f}")
    row(f"cold ingest of {n} returns: wall (s), median run", lambda r: f"{r['cold']['wall_s']:.1f}")
    row("  each run (s)", lambda r: " / ".join(f"{w:.1f}" for w in r["cold"]["runs_wall_s"]))
    row(
        "  the machine before each run (ms, `machine_ms`)",
        lambda r: " / ".join(f"{w:.1f}" for w in r["cold"]["runs_machine_ms"]),
    )
    row("  stopped (--cold-timeout) after (s)", lambda r: f"{r['cold']['stopped_after_s']:.0f}")
    row("  returns/s", lambda r: f"{r['cold']['returns_per_s']:.0f}")
    row("  ms per return", lambda r: f"{r['cold']['s_per_return'] * 1000:.2f}")
    row("  peak RSS, process tree (MB), highest run", lambda r: f"{r['cold']['peak_tree_mb']:.0f}")
    row("  peak RSS, pbstats process (MB), highest run", lambda r: f"{r['cold']['main_maxrss_mb']:.0f}")
    row("  CPU user+sys (s)", lambda r: f"{r['cold']['cpu_s']:.1f}")
    row("  CPU ms per return", lambda r: f"{r['cold']['cpu_s'] / n * 1000:.2f}")
    row("  other load on the CPUs meanwhile", lambda r: f"{r['cold']['other_cpu_share'] * 100:.0f}%")
    row(
        "  accepted / rejected+duplicate (expected)",
        lambda r: (
            f"{r['cold']['accepted']} / {r['cold']['rejected'] + r['cold']['duplicates']} "
            f"({manifest['expected']['accepted']} / {manifest['expected']['rejected']})"
        ),
    )
    row("  warnings", lambda r: str(r["cold"]["warnings"]))
    row("no-change night: wall (s)", lambda r: f"{r['nochange']['wall_s']:.1f}")
    row("  new submissions", lambda r: str(r["nochange"]["received"]))
    row("  other load on the CPUs meanwhile", lambda r: f"{r['nochange']['other_cpu_share'] * 100:.0f}%")
    row(
        "  inbox files whose content was opened (strace)",
        lambda r: "n/a" if r["nochange"]["files_read"] is None else str(r["nochange"]["files_read"]),
    )
    row(
        "corrected night (1%): wall (s)",
        lambda r: f"{r['corrected']['wall_s']:.1f} ({r['corrected']['files_rewritten']} files)",
    )
    row(
        "  received / superseded",
        lambda r: f"{r['corrected']['received']} / {r['corrected']['superseded_earlier']}",
    )
    row(
        f"report {YEAR}",
        lambda r: (
            f"{r['report']['wall_s']:.1f} s (rc {r['report']['rc']})"
            if r["report"]["available"]
            else "report: not available yet"
        ),
    )
    row("naive baseline: returns", lambda r: str(r["naive"]["returns"]))
    row("  wall (s)", lambda r: f"{r['naive']['wall_s']:.1f}")
    row("  ms per return, end to end", lambda r: f"{r['naive']['s_per_return'] * 1000:.1f}")
    row("  ms per return, task loop only", lambda r: f"{r['naive']['loop_s_per_return'] * 1000:.1f}")
    row("  CPU ms per return, end to end", lambda r: f"{r['naive']['cpu_s_per_return'] * 1000:.1f}")
    row("  ratio naive/pipeline, end to end", lambda r: f"{r['naive']['ratio_end_to_end']:.1f}×")
    row("  ratio naive/pipeline, CPU per return", lambda r: f"{r['naive']['ratio_cpu']:.1f}×")
    row("  ratio naive loop/pipeline end to end", lambda r: f"{r['naive']['ratio_marginal']:.1f}×")

    width = max(len(label) for label, _ in rows) + 2
    colw = max(22, *(len(c) for _, cells in rows for c in cells)) + 2
    print()
    print("".ljust(width) + "".join(b.ljust(colw) for b in backends))
    for label, cells in rows:
        print(label.ljust(width) + "".join(c.ljust(colw) for c in cells))

    targets: list[tuple[str, bool | None, str]] = []
    sq = results.get("sqlite", {})
    pg = results.get("postgresql", {})
    if "wall_s" in sq.get("cold", {}):
        limit = TARGET_COLD_S * n / 25_000
        targets.append(
            (
                f"cold ingest on SQLite under {limit:.0f} s (40 s per 25,000)",
                sq["cold"]["wall_s"] < limit,
                f"{sq['cold']['wall_s']:.1f} s",
            )
        )
    for b in backends:
        r = results[b]
        if "accepted" in r.get("cold", {}):
            want = manifest["expected"]["accepted"]
            targets.append(
                (
                    f"{b}: every return judged as the generator meant (accepted {want})",
                    r["cold"]["accepted"] == want,
                    f"accepted {r['cold']['accepted']}, rejected {r['cold']['rejected']}, "
                    f"duplicate {r['cold'].get('duplicates', 0)}",
                )
            )
        if "naive" in r:
            targets.append(
                (
                    f"{b}: ≥30× faster per return than the naive baseline (its task loop only)",
                    r["naive"]["ratio_marginal"] >= TARGET_RATIO,
                    f"{r['naive']['ratio_marginal']:.1f}× (end to end {r['naive']['ratio_end_to_end']:.1f}×)",
                )
            )
        if "cold" in r:
            targets.append(
                (
                    f"{b}: peak memory under 1 GB (process tree)",
                    r["cold"]["peak_tree_mb"] < TARGET_RSS_MB,
                    f"{r['cold']['peak_tree_mb']:.0f} MB",
                )
            )
        if "nochange" in r:
            ok = r["nochange"]["wall_s"] < TARGET_NOCHANGE_S and r["nochange"]["received"] == 0
            read = r["nochange"].get("files_read")
            targets.append(
                (
                    f"{b}: no-change night under 10 s, nothing new",
                    ok,
                    f"{r['nochange']['wall_s']:.1f} s, {r['nochange']['received']} new",
                )
            )
            targets.append(
                (
                    f"{b}: no-change night reads no file's content",
                    None if read is None else read == 0,
                    str(read),
                )
            )
    scale = results.get("scale")
    if scale is not None:
        growth = scale["peak_tree_mb"] / scale["baseline_peak_tree_mb"] - 1
        print(
            f"\nmemory as the province grows (SQLite, one cold run): {scale['returns']} returns peak at "
            f"{scale['peak_tree_mb']:.0f} MB, {scale['baseline_returns']} at {scale['baseline_peak_tree_mb']:.0f} MB "
            f"(highest of its runs); {scale.get('wall_s', scale.get('stopped_after_s', 0)):.1f} s"
            + (
                f", accepted {scale['accepted']} of {scale['expected_accepted']}"
                if "accepted" in scale
                else ""
            )
        )
        targets.append(
            (
                f"peak memory at {scale['returns']} returns within that at {scale['baseline_returns']} "
                f"(within {TARGET_SCALE_GROWTH:.0%}, the spread of one run's peak)",
                growth <= TARGET_SCALE_GROWTH,
                f"{scale['peak_tree_mb']:.0f} MB against {scale['baseline_peak_tree_mb']:.0f} MB ({growth:+.1%})",
            )
        )
    if "wall_s" in sq.get("cold", {}) and "wall_s" in pg.get("cold", {}):
        factor = pg["cold"]["wall_s"] / sq["cold"]["wall_s"]
        targets.append(
            ("PostgreSQL within 1.5× of SQLite (cold ingest)", factor <= TARGET_PG_FACTOR, f"{factor:.2f}×")
        )
    print("\ntargets")
    for what, ok, got in targets:
        mark = "n/a " if ok is None else "MET " if ok else "MISS"
        print(f"  [{mark}] {what}: {got}")
    if n != 25_000:
        print(f"  (targets are stated for 25,000 returns; this run has {n}: the cold-ingest limit is scaled)")
    return targets


def main(argv: list[str] | None = None) -> None:
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
    args = p.parse_args(argv)
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(143)
    )  # so that work folders and databases are cleaned up
    QUIET.update(share=args.quiet_share, max_wait=args.quiet_wait)
    EXTRA_ENV.update(kv.split("=", 1) for kv in args.env)
    global SOURCE
    if args.source:
        SOURCE = Path(args.source).resolve()

    started = datetime.now()
    head = git_head()
    print(f"pbstats bench at {head}, {started:%Y-%m-%d %H:%M}; {machine()}")
    if EXTRA_ENV:
        print(f"extra environment: {EXTRA_ENV}")
    province, manifest = ensure_province(args.returns, args.seed)
    results: dict = {}
    try:
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            run_backend(name, province, manifest, args, results)
        base = results.get("sqlite", {}).get("cold")
        if args.scale_returns and args.scale_returns != manifest["files"] and base and "peak_tree_mb" in base:
            run_scale(args.scale_returns, args, base | {"returns": manifest["files"]}, results)
    finally:
        remove_work_folders()
    targets = print_table(results, manifest, args)
    record = {
        "git": head,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "extra_env": EXTRA_ENV,
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
