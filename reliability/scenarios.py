"""The reliability scenarios, sized by their callers: tests/test_reliability.py runs a few of each,
`make reliability` (reliability/run.py) runs them at full size. Each returns (tried, survived,
failures), but `kills`, which also says where its kills landed (`Kills`)."""

from __future__ import annotations

import random
import resource
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from reliability.harness import differences, kill_after, pbstats, run_to_end, snapshot, wait_for
from reliability.proxy import Proxy
from tests.builders import TOWNSHIP, drop, make_return

VILLAGES = [f"990181101{n:03d}" for n in (1, 2, 201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214)]


def make_inbox(inbox: Path, copies: int = 1) -> None:
    """A realistic night: accepted village and township returns, rejected ones (feedback workbooks),
    a byte-identical re-send and a correction; `copies` repeats the villages under other names."""
    when = datetime(2026, 1, 10, 9)
    for k in range(copies):
        for i, code in enumerate(VILLAGES):
            values = {"01": 40 + i + k, "02": 2}
            if i % 5 == 4:
                values["02"] = 99  # E-RULE: rejected with a feedback workbook
            drop(inbox, f"{k}-村{i}.xlsx", make_return(org_code=code, values=values), when.replace(minute=i))
    drop(inbox, "镇.xlsx", make_return("DJ-2", TOWNSHIP), when.replace(hour=10))
    drop(inbox, "镇 (2).xlsx", make_return("DJ-2", TOWNSHIP), when.replace(hour=11))
    drop(inbox, "说明.docx", b"PK\x03\x04 not really", when.replace(hour=12))


def env_for(base: dict, url: str, home: Path, **extra: str) -> dict:
    return dict(
        base,
        PBSTATS_WAREHOUSE_URL=url,
        PBSTATS_HOME=str(home),
        PBSTATS_BATCH_SIZE="4",
        PBSTATS_LOAD_RETRY_DELAYS="[0.5, 1, 1]",
        PBSTATS_LOCK_WAIT="300",
        **extra,
    )


def reference(base: dict, url: str, work: Path, inbox: Path) -> tuple[dict, float]:
    home = work / "ref-home"
    started = time.monotonic()
    rc, out = run_to_end(env_for(base, url, home), "ingest", str(inbox))
    assert rc == 0, out
    return snapshot(url, home), time.monotonic() - started


# where a killed run was, in order: the process and Prefect starting and the run not yet recorded; the
# inbox listed and nothing archived; files archived, read and checked and nothing loaded; batches loading;
# every return loaded and the run's summary, review and artifacts still to come
PHASES = ("start", "discover", "read", "load", "finish")


@dataclass
class Kills:
    """Runs killed and whether each finished as if never killed. Only a kill that found the run still
    going counts: one whose moment came after the run had ended is `missed`, not survived."""

    tried: int = 0
    survived: int = 0
    failures: list[str] = field(default_factory=list)
    landed: Counter = field(default_factory=Counter)  # phase → kills there
    missed: int = 0


def kills(
    base: dict, fresh_url, work: Path, points: int, seed: int = 1, moments: Sequence[float] | None = None
) -> Kills:
    """SIGKILL a run at `points` moments spread over its length (or at `moments`, seconds after its
    start), finish it, compare with one clean run."""
    inbox = work / "inbox"
    make_inbox(inbox)
    want, length = reference(base, fresh_url(), work, inbox)
    if moments is None:
        rng = random.Random(seed)
        moments = sorted(0.2 + (length - 0.2) * (i + rng.random()) / points for i in range(points))
    out = Kills()
    for n, t in enumerate(moments):
        url, home = fresh_url(), work / f"home-{n}"
        env = env_for(base, url, home)
        if not kill_after(env, t, "ingest", str(inbox)):
            out.missed += 1  # it had ended: nothing was killed, so nothing survived a kill
            shutil.rmtree(home, ignore_errors=True)
            continue
        phase = phase_of(url, home, len(want["submission"]))
        out.tried += 1
        out.landed[phase] += 1
        rc, output = run_to_end(env, "ingest", str(inbox))
        diff = differences(want, snapshot(url, home))
        if rc == 0 and not diff:
            out.survived += 1
        else:
            out.failures.append(
                f"killed at {t:.2f}s ({phase}): rc={rc} {diff[:3]} {output[-300:] if rc else ''}"
            )
        shutil.rmtree(home, ignore_errors=True)
    return out


def phase_of(url: str, home: Path, submissions: int) -> str:
    """Where a killed run was (one of PHASES), from what it left behind: its run recorded, files in the
    archive, and how many of the `submissions` a whole run records are in."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return "start"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            count = {
                name: conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one() if name in tables else 0
                for name in ("load_run", "submission")
            }
    finally:
        engine.dispose()
    archive = home / "archive"
    archived = archive.is_dir() and any(
        p.is_file() and p.name != "receipts.jsonl" for p in archive.rglob("*")
    )
    if not count["load_run"]:
        return "start"
    if not archived:
        return "discover"
    if not count["submission"]:
        return "read"
    return "load" if count["submission"] < submissions else "finish"


def concurrent(base: dict, fresh_url, work: Path) -> tuple[int, int, list[str]]:
    """Two ingests of one inbox at once; an ingest together with a rerun of the same year."""
    inbox = work / "inbox-c"
    make_inbox(inbox)
    want, _ = reference(base, fresh_url(), work / "c", inbox)
    tried = survived = 0
    failures = []
    url, home = fresh_url(), work / "c-home-1"
    env = env_for(base, url, home)
    procs = [pbstats(env, "ingest", str(inbox)) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    tried += 1
    diff = differences(want, snapshot(url, home))
    if all(p.returncode == 0 for p in procs) and not diff:
        survived += 1
    else:
        failures.append(f"two ingests: {diff[:3]} {outs}")
    # an ingest together with a rerun of the same year: the same end as one after the other
    early = sorted(inbox.iterdir())[:6]  # the same bytes both times (a workbook's bytes carry its save time)
    first, first2 = work / "inbox-first", work / "inbox-first2"
    for folder in (first, first2):
        folder.mkdir(parents=True, exist_ok=True)
        for p in early:
            shutil.copy2(p, folder / p.name)
    url_a, home_a = fresh_url(), work / "c-home-seq"
    env_a = env_for(base, url_a, home_a)
    assert run_to_end(env_a, "ingest", str(first))[0] == 0
    for p in inbox.iterdir():
        shutil.copy2(p, first / p.name)
    assert run_to_end(env_a, "ingest", str(first))[0] == 0
    assert run_to_end(env_a, "rerun", "--year", "2025")[0] == 0
    want_seq = snapshot(url_a, home_a)
    url_b, home_b = fresh_url(), work / "c-home-par"
    env_b = env_for(base, url_b, home_b)
    assert run_to_end(env_b, "ingest", str(first2))[0] == 0
    for p in inbox.iterdir():
        shutil.copy2(p, first2 / p.name)
    procs = [pbstats(env_b, "ingest", str(first2)), pbstats(env_b, "rerun", "--year", "2025")]
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert run_to_end(env_b, "rerun", "--year", "2025")[0] == 0  # both orders end the same once rerun last
    tried += 1
    diff = differences(want_seq, snapshot(url_b, home_b))
    if all(p.returncode == 0 for p in procs) and not diff:
        survived += 1
    else:
        failures.append(f"ingest with rerun: {diff[:3]} {outs}")
    return tried, survived, failures


def outage(base: dict, fresh_url, work: Path, cuts: int = 1) -> tuple[int, int, list[str]]:
    """PostgreSQL unreachable in the middle of a run: retries, a clear failure, nothing half-written;
    the next run completes the work."""
    inbox = work / "inbox-o"
    make_inbox(inbox, copies=2)
    want, _ = reference(base, fresh_url(), work / "o", inbox)
    tried = survived = 0
    failures = []
    for n in range(cuts):
        url = fresh_url()
        proxy = Proxy(("127.0.0.1", 5432))
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        home = work / f"o-home-{n}"
        env = env_for(base, proxied, home)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

        def loaded(engine=engine) -> bool:
            with engine.connect() as conn:
                try:
                    return conn.execute(text("SELECT COUNT(*) FROM submission")).scalar_one() > 0
                except Exception:
                    return False

        p = pbstats(env, "ingest", str(inbox))
        wait_for(loaded, timeout=120)
        proxy.cut()
        out = p.communicate(timeout=300)[0].decode()
        tried += 1
        clear = p.returncode == 2 and "数据仓库无法连接" in out
        whole = _batches_whole(engine)
        proxy.restore()
        rc, out2 = run_to_end(env, "ingest", str(inbox))
        diff = differences(want, snapshot(proxied, home))
        if clear and whole and rc == 0 and not diff:
            survived += 1
        else:
            failures.append(
                f"outage {n}: exit {p.returncode} clear={clear} whole={whole} rc={rc} {diff[:3]} {out[-400:]}"
            )
        engine.dispose()
        proxy.close()
    return tried, survived, failures


def _batches_whole(engine) -> bool:
    """Every current return has all its facts and every recorded inbox file its submission."""
    with engine.connect() as conn:
        partial = conn.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT submission_id, COUNT(*) AS n, MIN(form) AS form FROM fact_metric "
                "GROUP BY submission_id) f WHERE (f.form = 'DJ-1' AND f.n <> 12) OR (f.form = 'DJ-2' AND f.n <> 17)"
            )
        ).scalar_one()
        orphans = conn.execute(
            text(
                "SELECT COUNT(*) FROM inbox_file i WHERE NOT EXISTS (SELECT 1 FROM submission s WHERE s.sha256 = i.sha256)"
            )
        ).scalar_one()
    return partial == 0 and orphans == 0


def full_disk(base: dict, fresh_url, work: Path) -> tuple[int, int, list[str]]:
    """The archive's disk fills up while a run archives: the run fails clearly and records nothing it
    did not finish; with room again, the next run completes the work."""
    inbox = work / "inbox-d"
    make_inbox(inbox)
    rng = random.Random(3)
    noise = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(40_000))  # does not compress
    drop(
        inbox, "大文件.xlsx", make_return(org_code="990181101211", notes={"01": noise}), datetime(2026, 1, 9)
    )
    want, _ = reference(base, fresh_url(), work / "d", inbox)
    url, home = fresh_url(), work / "d-home"
    env = env_for(base, url, home)

    def small_disk() -> None:  # writes past 60 KB fail with EFBIG, as they would with ENOSPC
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    p = pbstats(env, "ingest", str(inbox), preexec_fn=small_disk)
    out = p.communicate(timeout=300)[0].decode()
    clear = p.returncode == 4 and "磁盘空间不足" in out
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        recorded = conn.execute(text("SELECT COUNT(*) FROM inbox_file")).scalar_one()
        subs = conn.execute(text("SELECT COUNT(*) FROM submission")).scalar_one()
    engine.dispose()
    rc, out2 = run_to_end(env, "ingest", str(inbox))
    diff = differences(want, snapshot(url, home))
    if clear and recorded == 0 and subs == 0 and rc == 0 and not diff:
        return 1, 1, []
    return (
        1,
        0,
        [
            f"full disk: exit {p.returncode} clear={clear} recorded={recorded} subs={subs} rc={rc} {diff[:3]} {out[-400:]}"
        ],
    )
