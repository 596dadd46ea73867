"""The nights the benchmark measures on one warehouse: the cold ingest (run several times), the
no-change night, the corrected night, the report, the naive baseline; and the cold ingest of a
larger province for memory as it grows."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from measure import Measured, check, machine_ms, measure
from province import YEAR, ensure_province
from warehouses import Backend, bench_env

BENCH = Path(__file__).resolve().parent
VENV_BIN = BENCH.parent / ".venv" / "bin"
PBSTATS = str(VENV_BIN / "pbstats")
PYTHON = str(VENV_BIN / "python")

# the temporary server a command starts (flows.local_api), started once and stopped: its first start
# creates Prefect's database (migrations) and registers Prefect's block types in it
FIRST_START = (
    "from pbstats.flows import local_api\nlocal_api.start_if_needed()\nwith local_api.use():\n    pass"
)

# Work folders are removed after every backend has run, not between: on an ext4 without a journal (as
# on this project's machines) a file created within minutes of the deletion of many others costs ~0.4 ms
# of kernel time, against ~0.1 ms otherwise (the inode allocator steps over every recently deleted
# inode it finds: `recently_deleted` in perf), and the next backend's cold ingest creates ~50,000 files
# (the inbox's copy, the archive) just after the previous one's ~60,000 were deleted.
TO_REMOVE: list[Path] = []
# the warehouses of the cold runs before the last (PostgreSQL: a database each), dropped at the end
EXTRA_BACKENDS: list[Backend] = []


def remove_work_folders() -> None:
    while TO_REMOVE:
        shutil.rmtree(TO_REMOVE.pop(), ignore_errors=True)


def fmt(d: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


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


def _inbox(label: str, province: Path, manifest: dict, work: Path) -> Path:
    """The province's returns copied into the work folder's inbox."""
    inbox = work / "inbox"
    print(f"\n[{label}] copying {manifest['files']} returns to {inbox} …", flush=True)
    copy_tree(province / "returns", inbox)
    return inbox


def _set_up(province: Path, env: dict, work: Path) -> tuple[Measured, Measured]:
    """The registry loaded, and Prefect's own database made as on any machine after its first run
    (`pbstats serve` or an ingest): its server's first start, here, so that the cold ingest starts
    Prefect's server, not its setup."""
    registry = measure([PBSTATS, "registry", "load", str(province / "orgs.csv")], env, work)
    check(registry, "registry load")
    prefect = measure([PYTHON, "-c", FIRST_START], env, work)
    check(prefect, "Prefect's first start")
    return registry, prefect


def run_backend(name: str, province: Path, manifest: dict, args, out: dict) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"pbstats-bench-{name}-"))
    backend = Backend(name, work)
    res: dict = {"backend": name}
    out[name] = res
    try:
        inbox = _inbox(name, province, manifest, work)
        env = bench_env(backend, work / "prefect")
        registry, prefect = _set_up(province, env, work)
        res["registry_load_s"] = registry.wall
        print(f"[{name}] registry load: {registry.wall:.1f} s", flush=True)
        res["prefect_db_s"] = prefect.wall
        print(f"[{name}] Prefect's first start: {prefect.wall:.1f} s (once per machine)", flush=True)

        res["cold"] = cold_nights(backend, province, manifest, args, env)
        if "stopped_after_s" in res["cold"]:
            return
        res["nochange"] = nochange_night(backend, inbox, env)
        res["corrected"] = corrected_night(backend, province, inbox, env)
        res["report"] = run_report(env, work)
        print(f"[{name}] report: {fmt(res['report'])}", flush=True)
        if args.naive_returns > 0:
            res["naive"] = run_naive(backend, province, manifest, args, work, res["cold"])
    finally:
        backend.drop()
        while EXTRA_BACKENDS:
            EXTRA_BACKENDS.pop().drop()
        if not args.keep:
            TO_REMOVE.append(work)
        else:
            print(f"[{name}] kept {work}")


def _py_spy(folder: str, name: str, ingest: list[str]) -> list[str]:
    """The ingest recorded by py-spy into `folder`."""
    prof = Path(folder).resolve() / f"cold-{name}.collapsed.txt"
    prof.parent.mkdir(parents=True, exist_ok=True)
    return [
        str(VENV_BIN / "py-spy"), "record", "--subprocesses", "--idle", "--format", "raw",
        "--rate", "50", "-o", str(prof), "--", *ingest,
    ]  # fmt: skip


def cold_nights(backend: Backend, province: Path, manifest: dict, args, env: dict) -> dict:
    """The same cold night `--cold-runs` times, each into a warehouse and PBSTATS_HOME of its own (the
    inbox and Prefect's database shared): the figures are the median run's, as one run is within the
    machine's own spread (README); the last run's warehouse, `backend`, goes on to the later nights.
    A run stopped by --cold-timeout ends them: its figures so far."""
    name, work = backend.name, backend.work
    cold_cmd = [PBSTATS, "ingest", str(work / "inbox")]
    runs = max(1, args.cold_runs)
    if args.py_spy:
        cold_cmd, runs = _py_spy(args.py_spy, name, cold_cmd), 1
    colds: list[dict] = []
    for i in range(runs):
        target, target_env = backend, env
        if i < runs - 1:
            target = Backend(name, work / f"cold-{i + 1}")
            EXTRA_BACKENDS.append(target)
            target_env = bench_env(target, work / "prefect")
            m = measure([PBSTATS, "registry", "load", str(province / "orgs.csv")], target_env, work)
            check(m, "registry load")
        speed = machine_ms()
        print(
            f"[{name}] cold ingest of {manifest['files']} returns ({i + 1} of {runs}; machine {speed:.1f} ms) …",
            flush=True,
        )
        m = measure(cold_cmd, target_env, work, timeout=args.cold_timeout)
        if m.extra["timed_out"]:
            stopped = {
                "stopped_after_s": m.wall,
                "peak_tree_mb": m.peak_tree_mb,
                "main_maxrss_mb": m.main_maxrss_mb,
                "cpu_s": m.cpu_s,
                "other_cpu_share": m.extra["other_cpu_share"],
            }
            print(f"[{name}] cold ingest stopped after {m.wall:.0f} s: {fmt(stopped)}", flush=True)
            return stopped
        check(m, "cold ingest")
        colds.append(_cold_figures(m, target.last_run(), manifest) | {"machine_ms": speed})
        print(f"[{name}] cold run {i + 1}: {fmt(colds[-1])}", flush=True)
    cold = dict(sorted(colds, key=lambda c: c["wall_s"])[len(colds) // 2])  # the median run
    cold |= {
        "runs_wall_s": [c["wall_s"] for c in colds],
        "runs_cpu_s": [c["cpu_s"] for c in colds],
        "runs_machine_ms": [c["machine_ms"] for c in colds],
        "peak_tree_mb": max(c["peak_tree_mb"] for c in colds),  # memory: the highest of the runs
        "main_maxrss_mb": max(c["main_maxrss_mb"] for c in colds),
    }
    print(f"[{name}] cold: {fmt(cold)}", flush=True)
    return cold


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


def nochange_night(backend: Backend, inbox: Path, env: dict) -> dict:
    """The same inbox again: its time, and (under strace, when there is one) the inbox files read."""
    work, ingest = backend.work, [PBSTATS, "ingest", str(inbox)]
    m = measure(ingest, env, work)
    check(m, "no-change night")
    run = backend.last_run()
    res = {
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
        check(m, "no-change night under strace")
        files, opens = count_inbox_opens(trace, inbox)
        res |= {
            "files_read": files,
            "opens": opens,
            "received_strace_run": backend.last_run()["files_received"],
            "strace_wall_s": m.wall,
        }
    else:
        res["files_read"] = None
    print(f"[{backend.name}] no-change: {fmt(res)}", flush=True)
    return res


def corrected_night(backend: Backend, province: Path, inbox: Path, env: dict) -> dict:
    """1% of the returns rewritten with changed values and a later mtime."""
    n_corr = replace_files(province / "corrections", inbox)
    m = measure([PBSTATS, "ingest", str(inbox)], env, backend.work)
    check(m, "corrected night")
    run = backend.last_run()
    res = {
        "files_rewritten": n_corr,
        "wall_s": m.wall,
        "received": run["files_received"],
        "accepted": run["accepted"],
        "superseded_earlier": backend.superseded(),
        "peak_tree_mb": m.peak_tree_mb,
    }
    print(f"[{backend.name}] corrected night: {fmt(res)}", flush=True)
    return res


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


def run_naive(backend: Backend, province: Path, manifest: dict, args, work: Path, cold: dict) -> dict:
    """The naive baseline on --naive-returns of the returns, and how it compares with the `cold` run."""
    names = sorted(manifest["by_file"])
    sample = sorted(random.Random(args.seed).sample(names, min(args.naive_returns, len(names))))
    inbox = work / "naive-inbox"
    copy_tree(province / "returns", inbox, sample)
    url = backend.url if backend.name != "sqlite" else f"sqlite:///{work / 'naive.db'}"
    env = bench_env(backend, work / "prefect-naive")
    print(f"[{backend.name}] naive baseline on {len(sample)} returns …", flush=True)
    m = measure([PYTHON, str(BENCH / "naive.py"), str(inbox), "--url", url], env, work)
    check(m, "naive baseline")
    inner = json.loads(m.stdout.strip().splitlines()[-1])
    naive = {
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
    naive["ratio_end_to_end"] = naive["s_per_return"] / cold["s_per_return"]
    naive["ratio_marginal"] = naive["loop_s_per_return"] / cold["s_per_return"]
    naive["ratio_cpu"] = naive["cpu_s_per_return"] / (cold["cpu_s"] / manifest["files"])
    print(f"[{backend.name}] naive: {fmt(naive)}", flush=True)
    return naive


def run_scale(n: int, args, baseline: dict, out: dict) -> None:
    """Memory as the province grows: one cold SQLite ingest of `n` returns (a province of its own,
    generated and cached as the first), its peak beside the peak of the cold runs above."""
    province, manifest = ensure_province(n, args.seed)
    work = Path(tempfile.mkdtemp(prefix="pbstats-bench-scale-"))
    TO_REMOVE.append(work)
    backend = Backend("sqlite", work)
    inbox = _inbox("scale", province, manifest, work)
    env = bench_env(backend, work / "prefect")
    _set_up(province, env, work)
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
        check(m, "cold ingest at scale")
        out["scale"] = _cold_figures(m, backend.last_run(), manifest) | {
            "returns": manifest["files"],
            "machine_ms": speed,
            "expected_accepted": manifest["expected"]["accepted"],
        }
    out["scale"]["baseline_returns"] = baseline["returns"]
    out["scale"]["baseline_peak_tree_mb"] = baseline["peak_tree_mb"]
    print(f"[scale] {fmt(out['scale'])}", flush=True)
