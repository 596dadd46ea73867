"""Bulk writes and key lookups shared by the loader and the rollup check: rows inserted by the driver's
own bulk path (executemany, COPY), and rows found or deleted by their (form, org, year) keys in one
statement whatever the number of keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from .db import chunks


def insert_rows(conn: Connection, table, rows: Sequence[dict]) -> None:
    """Insert many rows in the caller's transaction: PostgreSQL's COPY where it is PostgreSQL (a few µs
    a row, the bulk path the warehouse is sized for), executemany elsewhere."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name == "sqlite":
        # the driver's executemany over tuples, each value bound as SQLAlchemy binds it (its type's bind
        # processor, e.g. datetimes as text): ~5 µs a row against ~8 through insert() with dicts
        binds = [
            (c, table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)) for c in columns
        ]
        if any(b for _, b in binds):
            params = [tuple(b(r[c]) if b else r[c] for c, b in binds) for r in rows]
        else:
            params = [tuple(r[c] for c in columns) for r in rows]
        quoted = ", ".join(f'"{c}"' for c in columns)
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(
                f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})', params
            )
        finally:
            cursor.close()
        return
    if len(rows) < COPY_FROM:
        conn.execute(insert(table), list(rows))
        return
    quoted = ", ".join(f'"{c}"' for c in columns)
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


COPY_FROM = 50  # rows: below this, COPY's set-up costs more than it saves


def key_match(conn: Connection, table, keys):
    """Rows of these (form, org, year) keys. PostgreSQL: a join with the keys as arrays (`_asked_pg`).
    SQLite plans a row-value IN over a list as a scan of the table, so there an OR of equalities,
    which it answers from the key's index term by term."""
    if conn.dialect.name == "postgresql":
        asked = _asked_pg(keys)
        return and_(
            table.c.org_code == asked.c.org_code, table.c.year == asked.c.year, table.c.form == asked.c.form
        )
    return or_(*(and_(table.c.form == f, table.c.org_code == o, table.c.year == y) for f, o, y in keys))


def _asked_pg(keys):
    """The keys as a table for PostgreSQL: unnest of three arrays, one parameter each. A row-value IN
    over a list is planned as one index probe per key, then every fetched row is checked again against
    the whole list (0.7 s for 1,000 keys over a province's facts; this join: 0.03 s)."""
    unique = distinct(keys)
    forms, orgs, years = (list(c) for c in zip(*unique, strict=True)) if unique else ([], [], [])
    return (
        func.unnest(
            bindparam("asked_forms", forms, type_=ARRAY(String)),
            bindparam("asked_orgs", orgs, type_=ARRAY(String)),
            bindparam("asked_years", years, type_=ARRAY(Integer)),
        )
        .table_valued("form", "org_code", "year")
        .render_derived(name="asked")
    )


def distinct(keys) -> list[tuple]:
    """The keys in the order asked, each once: a key asked twice must not join (and match) twice."""
    return list(dict.fromkeys(tuple(k) for k in keys))


# the keys asked about, in a temporary table of the connection (SQLite): one join, one statement
_asked = Table(
    "pbstats_asked_keys",
    MetaData(),
    Column("form", String(8)),
    Column("org_code", String(12)),
    Column("year", Integer),
    prefixes=["TEMPORARY"],
)


def rows_of_keys(conn: Connection, table, columns, keys, *where):
    """Rows of `table` whose (form, org, year) is one of `keys`. PostgreSQL joins the keys as arrays
    (one statement whatever the keys). SQLite plans that as a scan, and an OR of equalities
    costs SQLAlchemy a new statement to compile per chunk (half the load's time at province scale):
    there the keys go into a temporary table, joined through the table's key index."""
    if conn.dialect.name == "postgresql":
        for chunk in chunks(list(keys), 5000):
            yield from conn.execute(select(*columns).where(key_match(conn, table, chunk), *where))
        return
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS pbstats_asked_keys (form TEXT, org_code TEXT, year INTEGER)"
    )
    conn.execute(delete(_asked))
    if not keys:
        return
    conn.execute(insert(_asked), [{"form": f, "org_code": o, "year": y} for f, o, y in distinct(keys)])
    on = and_(
        table.c.org_code == _asked.c.org_code, table.c.year == _asked.c.year, table.c.form == _asked.c.form
    )
    yield from conn.execute(select(*columns).select_from(_asked.join(table, on)).where(*where))
