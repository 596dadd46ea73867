"""What a run shows in the Prefect UI (in Chinese): a summary, the rejected returns, completeness."""

from __future__ import annotations

import time

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from pbstats.warehouse.queries import RunSummary

STATUS_CN = {
    "accepted": "通过",
    "rejected": "退回",
    "superseded": "被替代",
    "duplicate": "重复",
    "held": "暂存（年度已关账）",
}


MAX_ROWS = 200  # rows of a table or list in one artifact: a province has thousands of townships, and
# Prefect refuses an artifact event over 1.5 MB; the warehouse holds every row


def more_line(total: int, shown: int, where: str) -> list[str]:
    """The line closing a capped list: how many more and where to find them all (empty if none)."""
    return [f"- ……另有 {total - shown} 项未列出，完整清单见{where}"] if total > shown else []


def summary_markdown(summary: RunSummary, title: str, quarantine_root: str) -> str:
    t = summary.totals
    lines = [
        f"# {title}",
        "",
        f"- 运行编号：`{summary.run_id}`",
        f"- 处理文件：**{summary.received}**；通过 **{t.get('accepted', 0)}**，退回 **{t.get('rejected', 0)}**，"
        f"被替代 {t.get('superseded', 0)}，重复 {t.get('duplicate', 0)}，暂存 {t.get('held', 0)}；提示 {summary.warnings} 条",
    ]
    if summary.corrections:
        lines.append(f"- 其中 {summary.corrections} 份为更正报表，已替代此前入库的版本")
    if summary.townships:
        lines += [
            "",
            "## 按乡镇（街道）",
            "",
            "| 乡镇（街道） | 代码 | 通过 | 退回 | 被替代 | 重复 | 提示 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for x in summary.townships[:MAX_ROWS]:
            lines.append(
                f"| {x.township_name} | {x.township_code} | {x.accepted} | {x.rejected} | {x.superseded} | {x.duplicate} | {x.warnings} |"
            )
        lines += more_line(len(summary.townships), MAX_ROWS, "数据仓库 submission 表（按 run_id）")
    if summary.rejections:
        lines += ["", "## 退回的报表", ""]
        for r in summary.rejections[:MAX_ROWS]:
            reasons = "；".join(r["reasons"][:5]) or "见审核意见"
            where = f"{quarantine_root}/{r['feedback_path']}" if r["feedback_path"] else "（无）"
            lines.append(
                f"- **{r['file_name']}**（{r['org_code'] or '组织代码不明'}，{r['year'] or '年度不明'}）：{reasons}  \n  审核意见表：`{where}`"
            )
        lines += more_line(len(summary.rejections), MAX_ROWS, f"退回目录 `{quarantine_root}`")
    return "\n".join(lines)


def publish_run(summary: RunSummary, title: str, quarantine_root: str, completeness: list[dict]) -> None:
    """The run's artifacts: its summary, its rejected returns, and completeness of the years it touched."""
    create_markdown_artifact(
        summary_markdown(summary, title, quarantine_root),
        key="pbstats-run-summary",
        description="本次运行概况",
    )
    rejected = [
        {
            "文件名": r["file_name"],
            "组织代码": r["org_code"] or "",
            "年度": r["year"] or "",
            "原因": "；".join(r["reasons"][:5]),
            "审核意见表": f"{quarantine_root}/{r['feedback_path']}" if r["feedback_path"] else "",
        }
        for r in summary.rejections[:MAX_ROWS]
    ]
    create_table_artifact(
        rejected or [{"文件名": "（本次没有退回的报表）"}],
        key="pbstats-rejected",
        description="本次退回的报表"
        + (
            f"（列出前 {MAX_ROWS} 份，共 {len(summary.rejections)} 份）"
            if len(rejected) < len(summary.rejections)
            else ""
        ),
    )
    if completeness:
        worst = sorted(completeness, key=lambda r: -(r.get("未报", 0) + r.get("退回未改", 0)))[:MAX_ROWS]
        create_table_artifact(
            worst if len(completeness) > MAX_ROWS else completeness,
            key="pbstats-completeness",
            description="报送完整性（按乡镇）"
            + (
                f"（未报与退回最多的 {MAX_ROWS} 个，共 {len(completeness)} 个；全部见视图 v_completeness）"
                if len(completeness) > MAX_ROWS
                else ""
            ),
        )


class Progress:
    """A progress artifact for long runs: updated as batches finish, at most every `every` seconds (each
    update is a call to the API the flow waits for; a province night finishes ~60 batches), and at 100%."""

    def __init__(self, total: int, description: str, every: float = 1.0):
        self.total, self.done, self.every = max(total, 1), 0, every
        self.id = create_progress_artifact(0.0, key="pbstats-progress", description=description)
        self._shown_at = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or now - self._shown_at >= self.every:
            update_progress_artifact(self.id, min(100.0, 100.0 * self.done / self.total))
            self._shown_at = now


def review_texts(engine, years: list[int]) -> dict[int, str]:
    """The year-end review's summary of each year, as the warehouse now stands (reads only: it may run
    in a thread of its own, beside the run's other summaries)."""
    from .report import review_markdown

    texts = {}
    for year in years:
        with engine.connect() as conn:
            texts[year] = review_markdown(conn, year)
    return texts


def publish_review(texts: dict[int, str]) -> None:
    """The review's summaries as the run's artifacts (in the flow run's own thread: its context links them)."""
    for year, text in texts.items():
        create_markdown_artifact(
            text, key=f"pbstats-review-{year}", description=f"{year}年度党建工作统计摘要"
        )
