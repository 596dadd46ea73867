"""The record of pipeline runs (`load_run`): started, finished with counts taken from the submissions
themselves, or found dead by the next run."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, text, update

from .tables import load_run


def now_utc() -> datetime:
    return datetime.now(UTC)


def start_run(
    conn: Connection, run_id: str, flow_run_id: str | None, flow_name: str, inbox: str | None
) -> None:
    conn.execute(
        insert(load_run),
        {
            "run_id": run_id,
            "flow_run_id": flow_run_id,
            "flow_name": flow_name,
            "inbox": inbox,
            "started_at": now_utc(),
            "outcome": "running",
            "files_received": 0,
            "accepted": 0,
            "rejected": 0,
            "superseded": 0,
            "duplicates": 0,
            "held": 0,
            "warnings": 0,
        },
    )


def mark_interrupted_runs(conn: Connection) -> int:
    """Runs recorded as running while the caller holds the run lock died mid-way (killed, power cut)."""
    result = conn.execute(
        update(load_run)
        .where(load_run.c.outcome == "running")
        .values(
            outcome="interrupted", ended_at=now_utc(), message="the process ended before the run finished"
        )
    )
    return result.rowcount or 0


def finish_run(conn: Connection, run_id: str, outcome: str, message: str | None = None) -> None:
    """Counts come from the submissions themselves, so a run's row always agrees with them."""
    counts = {"accepted": 0, "rejected": 0, "superseded": 0, "duplicate": 0, "held": 0}
    for status, n in conn.execute(
        text("SELECT status, COUNT(*) FROM submission WHERE run_id = :r GROUP BY status"), {"r": run_id}
    ):
        counts[status] = n
    warnings = conn.execute(
        text(
            "SELECT COUNT(*) FROM submission_issue i JOIN submission s ON s.submission_id = i.submission_id "
            "WHERE s.run_id = :r AND i.severity = 'warning'"
        ),
        {"r": run_id},
    ).scalar_one()
    conn.execute(
        update(load_run)
        .where(load_run.c.run_id == run_id)
        .values(
            ended_at=now_utc(),
            outcome=outcome,
            message=message,
            files_received=sum(counts.values()),
            accepted=counts["accepted"],
            rejected=counts["rejected"],
            superseded=counts["superseded"],
            duplicates=counts["duplicate"],
            held=counts["held"],
            warnings=warnings,
        )
    )
