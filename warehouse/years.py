"""Closing and reopening a statistical year, with the record of who did it, when and why."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert

from .runs import now_utc
from .tables import year_state, year_state_event


def set_year_closed(conn: Connection, year: int, closed: bool, reason: str | None, user: str | None) -> None:
    now = now_utc()
    conn.execute(delete(year_state).where(year_state.c.year == year))
    conn.execute(insert(year_state), {"year": year, "closed": closed, "changed_at": now, "reason": reason})
    conn.execute(
        insert(year_state_event),
        {
            "year": year,
            "action": "close" if closed else "reopen",
            "reason": reason,
            "at": now,
            "by_user": user,
        },
    )
