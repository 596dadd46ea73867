"""The year-end review as a Word document officials edit: the same sections and charts as the HTML."""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from pbstats.transforms.review import Review

from .report_words import (
    CHECK_TITLES,
    COMPLETENESS_HEADINGS,
    COMPLETENESS_KEYS,
    ReportMeta,
    figure_cells,
    pct,
    title_of,
    unit_value,
    warning_tally,
    when,
    year_over_year,
    year_state,
)

BODY_FONT, HEAD_FONT = "仿宋", "黑体"
WARNINGS_LISTED = 100
PAGE_WIDTH_CM = 25.0  # A4 landscape within its margins


def _font(style_or_run, east_asian: str, size: float | None = None, bold: bool | None = None) -> None:
    font = style_or_run.font
    font.name = "Times New Roman"
    if size:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    rpr = style_or_run.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(rfonts)
    rfonts.set(qn("w:eastAsia"), east_asian)


def _heading(doc, text: str, level: int = 1) -> None:
    p = doc.add_heading(text, level=level)
    for run in p.runs:
        _font(run, HEAD_FONT, 14 if level == 1 else 12, bold=level == 1)
        run.font.color.rgb = RGBColor(0, 0, 0)


def _note(doc, text: str) -> None:
    p = doc.add_paragraph()
    run = p.add_run(text)
    _font(run, "楷体", 10)
    run.font.color.rgb = RGBColor(0x6A, 0x4B, 0x00)


def _table(
    doc,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric_from: int = 1,
    size: float = 9,
    widths: Sequence[float] | None = None,
):
    """A grid table; `widths` in cm per column (Word otherwise splits the page evenly)."""
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        _font(run, HEAD_FONT, size, bold=True)
    for row in rows:
        cells = table.add_row().cells
        for i, (cell, text) in enumerate(zip(cells, row, strict=True)):
            para = cell.paragraphs[0]
            run = para.add_run(str(text))
            _font(run, BODY_FONT, size)
            if i >= numeric_from:
                para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if widths:
        table.autofit = False
        for column, width in zip(table.columns, widths, strict=True):
            column.width = Cm(width)  # the grid, which LibreOffice and WPS go by
            for cell in column.cells:  # the cells, which Word goes by
                cell.width = Cm(width)
    doc.add_paragraph()
    return table


def _picture(doc, png: bytes, width_cm: float) -> None:
    doc.add_picture(io.BytesIO(png), width=Cm(width_cm))
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER


def render_docx(review: Review, meta: ReportMeta, pngs: dict[str, bytes]) -> bytes:
    """The review as a landscape A4 Word document, section by section as the HTML page."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.0))
    section.top_margin = section.bottom_margin = Cm(2.0)
    _font(doc.styles["Normal"], BODY_FONT, 12)

    _title(doc, review, meta)
    _overview(doc, review)
    _headline(doc, review)
    _units(doc, review, pngs["units"])
    _year_over_year(doc, review, pngs["years"])
    _completeness(doc, review)
    _open_questions(doc, review)
    _all_indicators(doc, review)
    _note(doc, f"本报告由 pbstats 根据数据仓库生成（{when(meta.generated_at)}）。")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _title(doc, review: Review, meta: ReportMeta) -> None:
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run(title_of(review, meta)), "宋体", 20, bold=True)
    sub = doc.add_paragraph()
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(
        sub.add_run(
            f"数据截至 {meta.as_of_text}　运行编号 {meta.run_id or '—'}　年度状态：{year_state(review)}"
        ),
        BODY_FONT,
        10,
    )


def _overview(doc, review: Review) -> None:
    _heading(doc, "一、总体情况")
    for text in review.paragraphs:
        p = doc.add_paragraph(text)
        p.paragraph_format.first_line_indent = Pt(24)
        p.paragraph_format.line_spacing = 1.5


def _headline(doc, review: Review) -> None:
    _heading(doc, "二、主要指标")
    _note(
        doc, "全市合计（不受区划调整影响）" if not review.township else f"上年数按{review.year}年度区划还原"
    )
    _table(
        doc,
        ["指标", "单位", f"{review.year}年", f"{review.year - 1}年", "增减", "增减幅度"],
        [[*year_over_year(f), pct(f)] for f in review.headline],
        numeric_from=2,
        widths=(12, 2, 2.8, 2.8, 2.5, 2.8),
    )


def _units(doc, review: Review, chart: bytes) -> None:
    _heading(doc, "三、分乡镇（街道）情况" if not review.township else "三、分村（社区）情况")
    _heading(doc, review.units_title, 2)
    notes = any(u.note for u in review.units)
    _table(
        doc,
        [
            "乡镇（街道）" if not review.township else "村（社区）",
            *review.units_metrics,
            *(["备注"] if notes else []),
        ],
        [[u.name, *(unit_value(f) for f in u.figures), *([u.note] if notes else [])] for u in review.units],
        size=8,
    )
    _picture(doc, chart, 16)


def _year_over_year(doc, review: Review, chart: bytes) -> None:
    _heading(doc, "四、同比情况")
    for m in review.merges:
        _note(
            doc,
            f"区划调整：{m.name}（{m.code}）{review.year}年度起"
            + (f"并入{m.successor_name}（{m.successor_code}）" if m.successor_name else "撤销")
            + "。按本年区划还原的表中，其上年数据计入"
            + (m.successor_name or "—")
            + "。",
        )
    for c in (review.restated, review.as_reported):
        _heading(doc, c.title, 2)
        _note(doc, f"口径：{c.hierarchy}")
        header = ["乡镇（街道）"]
        for m in c.metrics:
            header += [f"{m} 本年", "上年", "增减"]
        _table(
            doc,
            [*header, "说明"],
            [[row.name, *(x for f in row.figures for x in figure_cells(f)), row.note] for row in c.rows],
            size=8,
        )
    _picture(doc, chart, PAGE_WIDTH_CM)


def _completeness(doc, review: Review) -> None:
    _heading(doc, "五、报送完整性")
    done = review.completeness
    doc.add_paragraph(
        f"应报 {done.expected} 份，已通过审核 {done.accepted} 份（按时 {done.accepted_on_time}、"
        f"逾期 {done.accepted_late}），退回未改 {done.rejected} 份，未报 {done.missing} 份。"
    )
    _table(
        doc,
        ["乡镇（街道）", *COMPLETENESS_HEADINGS],
        [[t["township_name"], *(t[k] for k in COMPLETENESS_KEYS)] for t in done.townships]
        + [["合计", *(getattr(done, k) for k in COMPLETENESS_KEYS)]],
    )


def _open_questions(doc, review: Review) -> None:
    _heading(doc, "六、待核实事项")
    if review.pending:
        doc.add_paragraph("以下乡镇（街道）所辖村（社区）年报尚未全部通过审核，第07–09项的核对暂缓进行：")
        _table(
            doc,
            ["乡镇（街道）", "待核对指标", "村（社区）已通过 / 应报"],
            [
                [
                    p["township_name"],
                    "、".join(p["indicators"]),
                    f"{p['villages_accepted']} / {p['villages_expected']}",
                ]
                for p in review.pending
            ],
            numeric_from=2,
        )
    else:
        doc.add_paragraph("乡镇年报与村级汇总核对：无待核对事项。")
    doc.add_paragraph(f"乡镇年报与村级汇总核对不一致 {review.mismatches} 项。")
    if review.warnings:
        _warnings(doc, review)
    else:
        doc.add_paragraph("未处理的提示：无。")


def _warnings(doc, review: Review) -> None:
    doc.add_paragraph(
        f"未处理的提示 {len(review.warnings)} 条：" + warning_tally(review.warning_counts) + "。"
    )
    _table(
        doc,
        ["乡镇（街道）", "单位", "表号", "提示", "单元格", "说明"],
        [
            [
                w.get("township_name") or "",
                w.get("org_name") or w["org_code"],
                w["form"],
                CHECK_TITLES.get(w["check_id"], w["check_id"]),
                w.get("cell") or "",
                w["message"],
            ]
            for w in review.warnings[:WARNINGS_LISTED]
        ],
        numeric_from=99,
        size=8,
        widths=(2.6, 3.2, 1.4, 3.0, 1.6, 13.2),
    )
    if len(review.warnings) > WARNINGS_LISTED:
        _note(doc, f"另有 {len(review.warnings) - WARNINGS_LISTED} 条，见数据仓库视图 v_open_warnings。")


def _all_indicators(doc, review: Review) -> None:
    _heading(doc, "附表：全部指标")
    for title, figs in review.forms:
        _heading(doc, title, 2)
        _table(
            doc,
            ["指标", "单位", f"{review.year}年", f"{review.year - 1}年", "增减"],
            [year_over_year(f) for f in figs],
            numeric_from=2,
            widths=(13, 2.4, 3.2, 3.2, 3.2),
        )
