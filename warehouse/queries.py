"""Read-side queries the CLI and the flows print from."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from pbstats.schemas import review_text as words
from pbstats.schemas.registry import Registry

from .tables import fact_metric_history, load_run, submission, submission_issue


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
    corrections: int = 0  # returns of this run that replaced one loaded earlier
    townships: list[TownshipLine] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)


def _township(registry: Registry, org_code: str | None, year: int | None) -> str | None:
    """The township's code that year; for a code the registry does not know, the township its digits name."""
    if not org_code or not year:
        return None
    town = registry.township_code_of(org_code, year)
    if town is None and len(org_code) == 12:
        town = registry.township_code_of(org_code[:9] + "000", year)
    return town


def run_summary(conn: Connection, run_id: str, registry: Registry) -> RunSummary:
    run = conn.execute(select(load_run).where(load_run.c.run_id == run_id)).mappings().one()
    warn_counts = _warnings_by_submission(conn, run_id)
    received, totals, lines, rejected = _count_by_township(conn, run_id, registry, warn_counts)
    reasons = _error_reasons(conn, [s["submission_id"] for s in rejected])
    corrections = conn.execute(
        select(func.count(func.distinct(fact_metric_history.c.new_submission_id))).where(
            fact_metric_history.c.run_id == run_id
        )
    ).scalar_one()
    return RunSummary(
        run_id=run_id,
        corrections=corrections,
        flow_run_id=run["flow_run_id"],
        outcome=run["outcome"],
        received=received,
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
            for s in rejected
        ],
    )


def _warnings_by_submission(conn: Connection, run_id: str) -> dict[int, int]:
    """submission id → its warnings, for the run's submissions that have any."""
    return dict(
        conn.execute(
            select(submission_issue.c.submission_id, func.count())
            .join(submission, submission.c.submission_id == submission_issue.c.submission_id)
            .where(submission.c.run_id == run_id, submission_issue.c.severity == "warning")
            .group_by(submission_issue.c.submission_id)
        ).all()
    )


def _count_by_township(
    conn: Connection, run_id: str, registry: Registry, warn_counts: dict[int, int]
) -> tuple[int, dict[str, int], dict[str, TownshipLine], list[dict]]:
    """The run's submissions counted: how many, how many of each status, each township's line, and
    the rejected ones."""
    # only the columns summed here, row by row: a province's run is 100,000 submissions, and the whole
    # rows (their value cells) held at once were the largest thing in memory at the end of its night
    subs = conn.execute(
        select(
            submission.c.submission_id,
            submission.c.status,
            submission.c.org_code,
            submission.c.year,
            submission.c.file_name,
            submission.c.feedback_path,
        )
        .where(submission.c.run_id == run_id)
        .order_by(submission.c.submission_id)
    ).mappings()
    lines: dict[str, TownshipLine] = {}
    totals = {"accepted": 0, "rejected": 0, "superseded": 0, "duplicate": 0, "held": 0}
    rejected = []
    received = 0
    for s in subs:
        received += 1
        totals[s["status"]] = totals.get(s["status"], 0) + 1
        key = _township(registry, s["org_code"], s["year"]) or "-"
        line = lines.get(key)
        if line is None:
            town = registry.org(key, s["year"]) if key != "-" else None
            line = lines[key] = TownshipLine(key, town.name if town else words.UNKNOWN_TOWNSHIP)
        setattr(line, s["status"], getattr(line, s["status"]) + 1)
        line.warnings += warn_counts.get(s["submission_id"], 0)
        if s["status"] == "rejected":
            rejected.append(s)
    return received, totals, lines, rejected


def _error_reasons(conn: Connection, submission_ids: list[int]) -> dict[int, list[str]]:
    """submission id → its errors, one line each (check, cell, message)."""
    reasons: dict[int, list[str]] = {}
    if not submission_ids:
        return reasons
    for r in conn.execute(
        select(
            submission_issue.c.submission_id,
            submission_issue.c.check_id,
            submission_issue.c.cell,
            submission_issue.c.message,
        )
        .where(submission_issue.c.submission_id.in_(submission_ids), submission_issue.c.severity == "error")
        .order_by(submission_issue.c.issue_id)
    ):
        reasons.setdefault(r.submission_id, []).append(
            f"{r.check_id} {r.cell or ''} {r.message}".replace("  ", " ")
        )
    return reasons


@dataclass
class YearLine:
    """One year of the warehouse at a glance: completeness and a few headline figures."""

    year: int
    expected: int
    on_time: int
    late: int
    rejected: int
    missing: int
    figures: dict[str, float]


HEADLINE = words.OVERVIEW_FIGURES


def overview(conn: Connection) -> list[YearLine]:
    from sqlalchemy import text

    lines = []
    rows = conn.execute(
        text(
            "SELECT year, SUM(expected), SUM(accepted_on_time), SUM(accepted_late), SUM(rejected), SUM(missing) "
            "FROM v_completeness GROUP BY year ORDER BY year"
        )
    ).all()
    review = {
        (r.year, r.form, r.indicator_code): r.value
        for r in conn.execute(text("SELECT year, form, indicator_code, value FROM v_year_review"))
    }
    for year, *counts in rows:
        figures = {label: review.get((year, form, code), 0.0) for form, code, label in HEADLINE}
        lines.append(YearLine(int(year), *(int(c or 0) for c in counts), figures=figures))
    return lines


def closed_years(conn: Connection) -> set[int]:
    """The statistical years closed now (their later returns are held, not loaded)."""
    from .tables import year_state

    return set(conn.execute(select(year_state.c.year).where(year_state.c.closed.is_(True))).scalars())


def archived_submissions(
    conn: Connection, year: int, org_code: str | None = None, form: str | None = None
) -> list[dict]:
    """The files of a year's returns (optionally one org, one form) as received, to judge again."""
    q = select(
        submission.c.submission_id,
        submission.c.file_name,
        submission.c.sha256,
        submission.c.size_bytes,
        submission.c.received_at,
        submission.c.archive_path,
    ).where(submission.c.year == year, submission.c.status != "duplicate")
    if org_code:
        q = q.where(submission.c.org_code == org_code)
    if form:
        q = q.where(submission.c.form == form)
    return [dict(r) for r in conn.execute(q.order_by(submission.c.submission_id)).mappings()]


def completeness_rows(conn: Connection, years: list[int]) -> list[dict]:
    """v_completeness of those years, with Chinese column names for the UI."""
    from sqlalchemy import text

    if not years:
        return []
    rows = conn.execute(
        text(
            "SELECT year, township_code, township_name, expected, accepted_on_time, accepted_late, rejected, missing "
            "FROM v_completeness ORDER BY year, township_code"
        )
    ).all()
    columns = words.COMPLETENESS_COLUMNS
    return [{shown: getattr(r, name) for name, shown in columns.items()} for r in rows if r.year in years]


def received_files(conn: Connection) -> set[tuple[str, str]]:
    """(sha256, file_name) of every file the warehouse has a submission for."""
    return {
        (r.sha256, r.file_name) for r in conn.execute(select(submission.c.sha256, submission.c.file_name))
    }
