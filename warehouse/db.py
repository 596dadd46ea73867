"""Connecting to the warehouse: SQLite (WAL) by default, PostgreSQL by URL; schema by Alembic."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger("pbstats")


def normalise_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername not in ("postgres", "postgresql"):
        return url
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    """The warehouse's engine; `pooled=False` for a short job in another process or task (each use
    opens a connection and closes it, so nothing is left open behind it)."""
    url = normalise_url(url)
    pool = {} if pooled else {"poolclass": NullPool}
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60}, **pool)
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, **pool)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL so analysts read while a run writes; BEGIN IMMEDIATE so a batch takes the write lock up front."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# a batch's commit copies the WAL back into the database itself (and waits for the disk) only past this
# many pages (of 4 KB; SQLite's default is 1,000): during a run `checkpoints_beside` does it meanwhile
AUTOCHECKPOINT_PAGES = 16_384


@contextmanager
def checkpoints_beside(engine: Engine, every: float = 0.25) -> Iterator[None]:
    """SQLite: while a run writes, a thread of its own copies the WAL back into the database file every
    `every` seconds (a passive checkpoint: it never waits for, nor holds up, a reader or the writer).
    Left to the commits, a province night's batch stopped at its commit for the copy and its disk
    sync; the thread's sync waits outside the interpreter's lock. Nothing to do for PostgreSQL."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or engine.url.query.get("mode") == "memory":
        yield
        return
    stop = threading.Event()

    def run() -> None:
        try:
            conn = sqlite3.connect(path, timeout=1, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the commits checkpoint, as without this thread
        try:
            while not stop.wait(every):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as e:  # a checkpoint is an optimisation: the commits still make them
            log.warning("background WAL checkpoints stopped: %s", e)
        finally:
            conn.close()

    thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def alembic_config(engine_or_conn=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("pbstats.warehouse") / "migrations"))
    if engine_or_conn is not None:
        cfg.attributes["connection"] = engine_or_conn
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration and the catalogues (metrics) up to date."""
    from alembic import command

    from .catalogue import sync_metrics, sync_registry_if_empty

    with engine.begin() as conn:
        _serialise(conn)  # two runs starting on a new warehouse must not both create it
        command.upgrade(alembic_config(conn), "head")
        sync_metrics(conn)
        sync_registry_if_empty(conn)


SCHEMA_LOCK_KEY = 4_242_002


def _serialise(conn) -> None:
    """PostgreSQL: a transaction advisory lock; SQLite's BEGIN IMMEDIATE already serialises."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})


# SQLite's result codes for a database that was busy, locked or could not be read or written at that
# moment; its other OperationalErrors ("no such table", a syntax error) fail the same way every time
SQLITE_PASSING = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) says the warehouse could not be reached or was busy:
    what a second try can get past. A broken constraint, a bad statement or a bug is not one."""
    while exc is not None:
        if isinstance(exc, sa_exc.DisconnectionError):
            return True
        if isinstance(exc, sa_exc.DBAPIError):
            if exc.connection_invalidated:
                return True
            if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
                return exc.orig is None or _driver_outage(exc.orig)
            return False
        if _driver_outage(exc):  # rows written through the driver's own cursor (COPY, executemany)
            return True
        exc = exc.__cause__
    return False


def _driver_outage(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return isinstance(exc, sqlite3.OperationalError) and (exc.sqlite_errorname or "").startswith(
            SQLITE_PASSING
        )
    psycopg = sys.modules.get("psycopg")  # not imported: no PostgreSQL error can have been raised
    return psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """`items` in slices of `size` (the IN lists of a query stay under the drivers' limits)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
