"""Measuring a command as the benchmark does: wall time, CPU, and the peak resident memory of its
whole process tree (from /proc), with the machine's own speed and load at the time."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


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


def check(m: Measured, what: str) -> None:
    if m.rc != 0:
        tail = "\n".join((m.stdout + "\n" + m.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"{what} failed (exit {m.rc}):\n{tail}")
