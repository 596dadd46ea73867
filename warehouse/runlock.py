"""One pipeline run at a time per warehouse: the nightly and a manual rerun never interleave.

PostgreSQL: a session advisory lock on a connection held for the run. SQLite: an exclusive
flock on a file beside the database. Both vanish with the process that held them, so a run
killed with SIGKILL never leaves a stale lock behind.

Within a run, each batch's load (and the rollup re-check) holds `load_lock` from its first read to
its commit, so that what it read cannot change before it writes.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

RUN_LOCK_KEY = 4_242_000
LOAD_LOCK_KEY = 4_242_001  # pg advisory lock of a batch's load transaction


class RunLockBusy(RuntimeError):
    """Another run holds the warehouse and did not finish within the wait."""


@contextmanager
def run_lock(engine: Engine, wait_seconds: float, poll: float = 0.5) -> Iterator[None]:
    deadline = time.monotonic() + max(wait_seconds, 0)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK_KEY}).scalar_one():
                conn.rollback()
                if time.monotonic() >= deadline:
                    raise RunLockBusy("another pbstats run holds the warehouse")
                time.sleep(poll)
            conn.commit()
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK_KEY})
                    conn.commit()
                except Exception:  # the session is gone (an outage): so is its lock
                    conn.invalidate()
        return
    path = _sqlite_lock_path(engine)
    if path is None:  # in-memory database: one process, nothing to share
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockBusy("another pbstats run holds the warehouse") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _sqlite_lock_path(engine: Engine) -> str | None:
    db = engine.url.database
    if not db or db == ":memory:":
        return None
    return f"{db}.runlock"


def load_lock(conn: Connection) -> None:
    """Serialise loads to the end of the caller's transaction: PostgreSQL by an advisory lock; SQLite's
    BEGIN IMMEDIATE (warehouse.db) already holds the single write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOAD_LOCK_KEY})
