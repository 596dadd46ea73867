"""The inbox's bookkeeping (`inbox_file`): which paths were taken in as they are now, and which bytes
were received before, so that an unchanged file is never read again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, select

from .bulk import insert_rows
from .db import chunks
from .tables import inbox_file, submission


def known_files(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
    """path key (sha256 of the real path) → (size, mtime_ns) of inbox paths already taken in."""
    out = {}
    key = inbox_file.c.path_sha256
    for chunk in chunks(list(keys), 500):
        for r in conn.execute(
            select(key, inbox_file.c.size_bytes, inbox_file.c.mtime_ns).where(key.in_(chunk))
        ):
            out[r.path_sha256] = (r.size_bytes, r.mtime_ns)
    return out


def known_hashes(conn: Connection, shas: Iterable[str]) -> set[str]:
    """The contents (sha256) among `shas` taken in before, under any name."""
    found: set[str] = set()
    for chunk in chunks(sorted(set(shas)), 500):
        found.update(
            conn.execute(select(submission.c.sha256).where(submission.c.sha256.in_(chunk))).scalars()
        )
    return found


def remember_files(conn: Connection, rows: Sequence[dict]) -> None:
    """Record inbox paths as taken in (`inbox_file` rows), replacing what was recorded of them."""
    if not rows:
        return
    for chunk in chunks([r["path_sha256"] for r in rows], 500):
        conn.execute(delete(inbox_file).where(inbox_file.c.path_sha256.in_(chunk)))
    insert_rows(conn, inbox_file, rows)
