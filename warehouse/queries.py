"""Read-side queries the CLI and the flows print from."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from schemas.registry import Registry

from .tables import load_run, submission, submission_issue


@dataclass
class TownshipLine:
    township_code: str
    township_name: str
    accepted: int = 0
    rejected: int = 0
    superseded: int = 0
    duplicate: int = 0
    held: int = 0
    warnings: int = 0


@dataclass
class RunSummary:
    """What one run did, by township (of the return's year), and its rejections with their reasons."""

    run_id: str
    flow_run_id: str | None
    outcome: str
    received: int
    totals: dict[str, int]
    warnings: int
    townships: list[TownshipLine] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)


def _township(registry: Registry, org_code: str | None, year: int | None):
    """The township of that year; for a code the registry does not know, the township its digits name."""
    if not org_code or not year:
        return None
    town = registry.township_of(org_code, year)
    if town is None and len(org_code) == 12:
        town = registry.org(org_code[:9] + "000", year)
    return town if town is not None and town.level == "township" else None


def run_summary(conn: Connection, run_id: str, registry: Registry) -> RunSummary:
    run = conn.execute(select(load_run).where(load_run.c.run_id == run_id)).mappings().one()
    warn_counts = dict(
        conn.execute(
            select(submission_issue.c.submission_id, func.count())
            .join(submission, submission.c.submission_id == submission_issue.c.submission_id)
            .where(submission.c.run_id == run_id, submission_issue.c.severity == "warning")
            .group_by(submission_issue.c.submission_id)
        ).all()
    )
    subs = (
        conn.execute(
            select(submission).where(submission.c.run_id == run_id).order_by(submission.c.submission_id)
        )
        .mappings()
        .all()
    )
    lines: dict[str, TownshipLine] = {}
    totals = {"accepted": 0, "rejected": 0, "superseded": 0, "duplicate": 0, "held": 0}
    rejected_ids = []
    for s in subs:
        totals[s["status"]] = totals.get(s["status"], 0) + 1
        town = _township(registry, s["org_code"], s["year"])
        key = town.org_code if town else "-"
        line = lines.setdefault(key, TownshipLine(key, town.name if town else "（无法确定乡镇）"))
        setattr(line, s["status"], getattr(line, s["status"]) + 1)
        line.warnings += warn_counts.get(s["submission_id"], 0)
        if s["status"] == "rejected":
            rejected_ids.append(s)
    reasons: dict[int, list[str]] = {}
    if rejected_ids:
        for r in conn.execute(
            select(
                submission_issue.c.submission_id,
                submission_issue.c.check_id,
                submission_issue.c.cell,
                submission_issue.c.message,
            )
            .where(
                submission_issue.c.submission_id.in_([s["submission_id"] for s in rejected_ids]),
                submission_issue.c.severity == "error",
            )
            .order_by(submission_issue.c.issue_id)
        ):
            reasons.setdefault(r.submission_id, []).append(
                f"{r.check_id} {r.cell or ''} {r.message}".replace("  ", " ")
            )
    return RunSummary(
        run_id=run_id,
        flow_run_id=run["flow_run_id"],
        outcome=run["outcome"],
        received=len(subs),
        totals=totals,
        warnings=sum(warn_counts.values()),
        townships=sorted(lines.values(), key=lambda x: x.township_code),
        rejections=[
            {
                "file_name": s["file_name"],
                "org_code": s["org_code"],
                "year": s["year"],
                "reasons": reasons.get(s["submission_id"], []),
                "feedback_path": s["feedback_path"],
            }
            for s in rejected_ids
        ],
    )
