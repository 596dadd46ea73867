"""The year-end review read from the warehouse and written out: the HTML page and the Word document
(`pbstats report`), and the markdown summary (the nightly run's artifact). Figures come from
transforms/review.py over what warehouse/review.py reads; the renderings are report_html.py,
report_docx.py, report_markdown.py and report_charts.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from pbstats.transforms.review import Review, ReviewInput, Summary, SummaryInput, build_review, build_summary
from pbstats.transforms.review_hierarchy import Org
from pbstats.warehouse import review as wr

from .report_charts import charts
from .report_html import render_html
from .report_markdown import render_markdown
from .report_words import ReportMeta, title_of


def _orgs(rows: Iterable[wr.OrgInYear]) -> list[Org]:
    return [Org(r.org_code, r.name, r.level, r.township_code, r.township_name) for r in rows]


def _meta(conn: Connection) -> ReportMeta:
    at = wr.as_of(conn)
    return ReportMeta(wr.city_name(conn) or "", at.at, at.run_id, at.flow_run_id, datetime.now(UTC))


def load_review(conn: Connection, year: int, township: str | None = None) -> tuple[Review, ReportMeta]:
    """Read what the review needs and compute it (raises UnknownTownship for a township not in
    that year's registry)."""
    values: dict[int, dict[tuple[str, str, str], float]] = {year: {}, year - 1: {}}
    for v in wr.metric_values(conn, (year - 1, year)):
        values[v.year][(v.org_code, v.form, v.indicator_code)] = v.value
    data = ReviewInput(
        year=year,
        township=township,
        orgs_now=_orgs(wr.hierarchy(conn, year)),
        orgs_before=_orgs(wr.hierarchy(conn, year - 1)),
        values_now=values[year],
        values_before=values[year - 1],
        city_years=wr.city_by_year(conn),
        completeness=wr.completeness(conn, year),
        warnings=wr.open_warnings(conn, year),
        rollups=wr.rollup_states(conn, year),
        closed=wr.is_closed(conn, year),
    )
    return build_review(data), _meta(conn)


def load_summary(conn: Connection, year: int) -> tuple[Summary, ReportMeta]:
    """The city's year in brief, from the warehouse's aggregates and townships (neither its time nor its
    memory grows with the returns or the villages)."""
    before, now = wr.regrouping(conn, year)
    data = SummaryInput(
        year=year,
        orgs_now=_orgs(now),
        orgs_before=_orgs(before),
        city_years=wr.city_by_year(conn),
        dj2_reported=wr.reporting_orgs(conn, year, "DJ-2", ("01", "02")),
        completeness=wr.completeness(conn, year),
        warning_counts=wr.open_warning_counts(conn, year),
        rollups=wr.rollup_states(conn, year, ("pending", "mismatch")),
        closed=wr.is_closed(conn, year),
    )
    return build_summary(data), _meta(conn)


def write_report(conn: Connection, year: int, out: Path, township: str | None = None) -> tuple[Path, Path]:
    """Write the HTML report and the Word document into `out`; returns their paths."""
    from .report_docx import (
        render_docx,  # python-docx: not for the nightly run, which needs the markdown only
    )

    review, meta = load_review(conn, year, township)
    pngs = charts(review)
    out.mkdir(parents=True, exist_ok=True)
    stem = title_of(review, meta)
    html_path, docx_path = out / f"{stem}.html", out / f"{stem}.docx"
    html_path.write_text(render_html(review, meta, pngs), encoding="utf-8")
    docx_path.write_bytes(render_docx(review, meta, pngs))
    return html_path, docx_path


def review_markdown(conn: Connection, year: int) -> str:
    """The year's review as a Chinese markdown summary (the Prefect artifact of each nightly run)."""
    return render_markdown(*load_summary(conn, year))
