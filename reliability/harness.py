"""Running pbstats as a separate process and comparing warehouses: what the kill, concurrency and
outage checks (tests/test_reliability.py and `make reliability`) are made of."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

PBSTATS = str(Path(sys.executable).with_name("pbstats"))

# columns that differ between two equal histories: surrogate ids, run ids, processing times
VOLATILE = {
    "submission_id",
    "issue_id",
    "history_id",
    "event_id",
    "run_id",
    "loaded_at",
    "seen_at",
    "checked_at",
    "changed_at",
    "at",
    "flow_run_id",
    "started_at",
    "ended_at",
}
ID_REFS = {"submission_id", "superseded_by", "duplicate_of", "old_submission_id", "new_submission_id"}


def pbstats(env: dict, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [PBSTATS, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kw,
    )


def run_to_end(env: dict, *args: str, timeout: float = 600) -> tuple[int, str]:
    p = pbstats(env, *args)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out.decode(errors="replace")


def kill_after(env: dict, seconds: float, *args: str) -> bool:
    """Start a run and SIGKILL its whole process group after `seconds`; True if it was still running."""
    p = pbstats(env, *args)
    try:
        p.wait(seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return True


def snapshot(url: str, home: Path) -> dict:
    """Every table and view as sorted rows (ids replaced by the file they stand for), the archive's
    bytes, the receipts and the quarantine's file names."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    out: dict = {}
    with engine.connect() as conn:
        files = {
            r.submission_id: (r.sha256, r.file_name)
            for r in conn.execute(text("SELECT submission_id, sha256, file_name FROM submission"))
        }
        insp = inspect(conn)
        names = sorted(set(insp.get_table_names()) | set(insp.get_view_names()))
        for name in names:
            if name in ("alembic_version", "load_run"):
                continue
            rows = conn.execute(text(f"SELECT * FROM {name}")).mappings().all()
            norm = []
            for r in rows:
                item = {}
                for k, v in r.items():
                    if k in ID_REFS and v is not None:
                        item[k] = files.get(v, v)
                    elif k in VOLATILE:
                        continue
                    elif name == "inbox_file" and k == "path_sha256":
                        continue  # the hash of the path below: where the inbox is does not matter
                    elif name == "inbox_file" and k == "path":
                        item[k] = Path(v).name  # where the inbox is does not matter, what it held does
                    else:
                        item[k] = (
                            round(v, 6)
                            if isinstance(v, float)
                            else (v.isoformat() if hasattr(v, "isoformat") else v)
                        )
                norm.append(json.dumps(item, sort_keys=True, default=str, ensure_ascii=False))
            out[name] = sorted(norm)
        # runs differ by design (killed ones are interrupted, cut-off ones failed); none may stay running
        out["load_run (still running)"] = [
            r[0] for r in conn.execute(text("SELECT run_id FROM load_run WHERE outcome = 'running'"))
        ]
    engine.dispose()
    archive = home / "archive"
    out["archive"] = sorted(
        (str(p.relative_to(archive)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in archive.rglob("*")
        if p.is_file() and p.name != "receipts.jsonl"
    )
    receipts = archive / "receipts.jsonl"
    out["receipts"] = (
        sorted(set(receipts.read_text(encoding="utf-8").splitlines())) if receipts.exists() else []
    )
    quarantine = home / "quarantine"
    out["quarantine"] = sorted(str(p.relative_to(quarantine)) for p in quarantine.rglob("*") if p.is_file())
    return out


def differences(a: dict, b: dict) -> list[str]:
    diffs = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            only_a = set(a.get(key, [])) - set(b.get(key, []))
            only_b = set(b.get(key, [])) - set(a.get(key, []))
            diffs.append(
                f"{key}: {len(only_a)} rows only in the first, {len(only_b)} only in the second; e.g. {sorted(only_a)[:1]} {sorted(only_b)[:1]}"
            )
    return diffs


def wait_for(predicate, timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False
