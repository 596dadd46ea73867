"""Inbox files known by the sha256 of their real path; the unused pipeline_lock table dropped.

The inbox's memory was keyed by the path as shown, personal numbers masked: 13812345678.xlsx and
13899995678.xlsx both showed 138****5678.xlsx, and the second one's row broke the primary key of
every night after. The key is now the sha256 of the path's bytes (no personal number in clear); the
masked path stays beside it, for people to read.

An old row's key is the sha256 of its stored text. That text is the real path for every file whose
path held no personal number and no bytes that are not UTF-8 (nearly all): those are not read
again. A path that was masked or escaped gets a key no file has, so its file is listed once more as
new; its bytes are hashed, found in `submission` by their sha256 and taken as already known
(nothing is judged or loaded twice), and it is remembered under its right key. The stale row stays,
like the row of any file since removed from the inbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COMMENT = "One row per inbox path already taken in, so an unchanged file is never read again."
COPY_ROWS = 5_000  # rows carried over at a time


def _inbox_file(name: str, *, keyed: bool) -> None:
    key = [
        sa.Column("path_sha256", sa.String(64), nullable=False, comment="sha256 of the absolute path's bytes")
    ]
    op.create_table(
        name,
        *(key if keyed else []),
        sa.Column(
            "path",
            sa.Text(),
            nullable=False,
            comment="absolute path in the inbox, personal numbers masked"
            if keyed
            else "absolute path in the inbox",
        ),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path_sha256" if keyed else "path"),
        comment=COMMENT,
    )


def _columns(name: str, *names: str) -> sa.Table:
    return sa.table(name, *(sa.column(n) for n in names))


def _replace_inbox_file(keyed: bool, rows_of) -> None:
    """inbox_file made again under a new key: a new table filled from the old, which then takes its name."""
    conn = op.get_bind()
    _inbox_file("inbox_file_new", keyed=keyed)
    columns = ("path", "size_bytes", "mtime_ns", "sha256", "seen_at")
    old = _columns("inbox_file", *columns)
    new = _columns("inbox_file_new", *columns, *(("path_sha256",) if keyed else ()))
    # newest first: where rows collapse into one (the downgrade), the newest stays
    result = conn.execute(sa.select(*(old.c[c] for c in columns)).order_by(old.c.seen_at.desc()))
    while batch := result.fetchmany(COPY_ROWS):
        rows = rows_of([dict(r._mapping) for r in batch])
        if rows:
            conn.execute(sa.insert(new), rows)
    result.close()
    op.drop_table("inbox_file")
    op.rename_table("inbox_file_new", "inbox_file")
    if conn.dialect.name == "postgresql":  # a renamed table keeps its key's name, inbox_file_new_pkey
        op.execute("ALTER TABLE inbox_file RENAME CONSTRAINT inbox_file_new_pkey TO inbox_file_pkey")


def upgrade() -> None:
    op.drop_table("pipeline_lock")  # never used: runs serialise through warehouse.runlock

    def keyed(rows: list[dict]) -> list[dict]:
        for r in rows:
            r["path_sha256"] = hashlib.sha256(r["path"].encode("utf-8", "surrogateescape")).hexdigest()
        return rows

    _replace_inbox_file(True, keyed)


def downgrade() -> None:
    kept: set[str] = set()

    def by_path(rows: list[dict]) -> list[dict]:
        # paths that show alike were two rows; keyed by the shown path, one of them stays
        out = []
        for r in rows:
            if r["path"] not in kept:
                kept.add(r["path"])
                out.append(r)
        return out

    _replace_inbox_file(False, by_path)
    op.create_table(
        "pipeline_lock",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        comment="One row per lock; loads take it so two runs never interleave.",
    )
