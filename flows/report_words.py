"""What every rendering of the year-end review says alike: its title, where the data stands, the
names of the checks, and how a figure fills the cells of a table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pbstats.schemas.checks import CHECKS
from pbstats.transforms.review import Review, Summary
from pbstats.transforms.review_figures import Figure
from pbstats.transforms.review_sentences import number, signed

TZ = ZoneInfo("Asia/Shanghai")
CHECK_TITLES = {check_id: check.title for check_id, check in CHECKS.items()}
# the columns of the completeness table after the township's name, and their headings
COMPLETENESS_KEYS = ("expected", "accepted_on_time", "accepted_late", "rejected", "missing")
COMPLETENESS_HEADINGS = ("应报", "按时", "逾期", "退回未改", "未报")


@dataclass(frozen=True)
class ReportMeta:
    """Where the data stands: shown on every rendering of the review."""

    city: str
    as_of: datetime | None
    run_id: str | None
    flow_run_id: str | None
    generated_at: datetime

    @property
    def as_of_text(self) -> str:
        return when(self.as_of) if self.as_of else "尚无运行记录"


def when(t: datetime) -> str:
    return f"{t.astimezone(TZ):%Y年%m月%d日 %H:%M}"


def title_of(review: Review | Summary, meta: ReportMeta) -> str:
    scope = review.scope if review.township else meta.city
    return f"{scope}{review.year}年度党建工作统计年报"


def year_state(review: Review | Summary) -> str:
    return "已关账" if review.closed else "未关账"


def pct(f: Figure) -> str:
    """The change as a share of last year's figure (— when last year had none)."""
    if f.change is None or not f.prior:
        return "—"
    return f"{f.change / f.prior * 100:+.1f}%"


def unit_value(f: Figure) -> str:
    """This year's figure in a table of units: 是/否 for one org's flag."""
    if f.value is None:
        return "—"
    if f.flag:
        return "是" if f.value else "否"
    return number(f.value, f.decimals)


def figure_cells(f: Figure) -> list[str]:
    """A figure's cells in a year-over-year table: this year, last year, the change."""
    return [number(f.value, f.decimals), number(f.prior, f.decimals), signed(f.change, f.decimals)]


def year_over_year(f: Figure) -> list[str]:
    """A figure's row of a table of indicators: its name, unit, this year, last year, the change."""
    return [f.label, f.unit, *figure_cells(f)]


def warning_tally(counts: Iterable[tuple[str, int]]) -> str:
    """“空白按0处理（W-BLANK）3 条；…”."""
    return "；".join(f"{CHECK_TITLES.get(k, k)}（{k}）{n} 条" for k, n in counts)
