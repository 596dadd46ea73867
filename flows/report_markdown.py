"""The city's year in brief as Chinese markdown: the Prefect artifact of each nightly run."""

from __future__ import annotations

from pbstats.transforms.review import Summary

from .report_words import (
    COMPLETENESS_HEADINGS,
    COMPLETENESS_KEYS,
    ReportMeta,
    title_of,
    warning_tally,
    year_over_year,
    year_state,
)


def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "｜") for c in cells) + " |"


def render_markdown(summary: Summary, meta: ReportMeta) -> str:
    """The summary's headline, completeness and open questions, each table capped for an artifact."""
    lines = [
        f"# {title_of(summary, meta)}（摘要）",
        "",
        f"> 数据截至 {meta.as_of_text}；运行编号 {meta.run_id or '—'}；年度状态：{year_state(summary)}",
        "",
        "## 总体情况",
        "",
    ]
    lines += [p + "\n" for p in summary.paragraphs]
    lines += [
        "## 主要指标（全市合计）",
        "",
        _row(["指标", "单位", f"{summary.year}年", f"{summary.year - 1}年", "增减"]),
        _row(["---"] * 5),
    ]
    lines += [_row(year_over_year(f)) for f in summary.headline]
    lines += _completeness(summary)
    lines += ["", "## 待核实事项", ""]
    lines += _open_questions(summary)
    return "\n".join(lines) + "\n"


def _completeness(summary: Summary) -> list[str]:
    from .artifacts import MAX_ROWS, more_line

    c = summary.completeness
    lines = [
        "",
        "## 报送完整性",
        "",
        f"应报 {c.expected} 份，已通过 {c.accepted} 份（按时 {c.accepted_on_time}、逾期 {c.accepted_late}），"
        f"退回未改 {c.rejected} 份，未报 {c.missing} 份。",
        "",
    ]
    towns, heading = c.townships, "乡镇（街道）"
    if len(towns) > MAX_ROWS:  # a province: the townships with the most returns outstanding
        towns = sorted(towns, key=lambda t: -(t["missing"] + t["rejected"]))[:MAX_ROWS]
        heading += f"（未报与退回最多的 {MAX_ROWS} 个）"
    lines += [_row([heading, *COMPLETENESS_HEADINGS]), _row(["---"] * 6)]
    lines += [_row([t["township_name"], *(t[k] for k in COMPLETENESS_KEYS)]) for t in towns]
    return lines + more_line(len(c.townships), len(towns), "视图 v_completeness")


def _open_questions(summary: Summary) -> list[str]:
    from .artifacts import MAX_ROWS

    lines = []
    if summary.warning_counts:
        lines.append(f"- 未处理的提示 {summary.warnings_open} 条：" + warning_tally(summary.warning_counts))
    else:
        lines.append("- 无未处理的提示")
    if summary.pending:
        shown = summary.pending[:MAX_ROWS]
        lines.append(
            f"- 乡镇年报与村级汇总核对待定 {len(summary.pending)} 个乡镇（街道）："
            + "；".join(
                f"{p['township_name']}（村（社区）已通过 {p['villages_accepted']}/{p['villages_expected']}）"
                for p in shown
            )
            + (
                f"；……另有 {len(summary.pending) - len(shown)} 个，见数据仓库 rollup_check 表"
                if len(summary.pending) > len(shown)
                else ""
            )
        )
    lines.append(f"- 乡镇年报与村级汇总核对不一致 {summary.mismatches} 项")
    for m in summary.merges:
        lines.append(
            f"- 区划调整：{m.name}{summary.year}年度起并入{m.successor_name or '—'}；按乡镇同比时上年数据按本年区划还原"
        )
    return lines
