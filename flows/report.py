"""The year-end review rendered: a self-contained HTML page, a Word document and a markdown summary
(the nightly run's artifact). Figures come from transforms/review.py over what warehouse/review.py
reads; this module only draws and lays out."""

from __future__ import annotations

import base64
import io
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pbstats.schemas.checks import CHECKS
from pbstats.transforms import review as rv
from pbstats.warehouse import review as wr

TZ = ZoneInfo("Asia/Shanghai")
FONT_FAMILY = "PbstatsCJK"
WARNINGS_SHOWN = 300  # the HTML lists this many open warnings; the rest are in v_open_warnings
CHECK_TITLES = {check_id: check.title for check_id, check in CHECKS.items()}


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
        return _when(self.as_of) if self.as_of else "尚无运行记录"


def _when(t: datetime) -> str:
    return f"{t.astimezone(TZ):%Y年%m月%d日 %H:%M}"


# ---- reading --------------------------------------------------------------------------------------


def _orgs(rows: Iterable[wr.OrgInYear]) -> list[rv.Org]:
    return [rv.Org(r.org_code, r.name, r.level, r.township_code, r.township_name) for r in rows]


def load_review(conn: Connection, year: int, township: str | None = None) -> tuple[rv.Review, ReportMeta]:
    """Read what the review needs and compute it (raises rv.UnknownTownship for a township not in
    that year's registry)."""
    values: dict[int, dict[tuple[str, str, str], float]] = {year: {}, year - 1: {}}
    for v in wr.metric_values(conn, (year - 1, year)):
        values[v.year][(v.org_code, v.form, v.indicator_code)] = v.value
    data = rv.ReviewInput(
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
    return rv.build_review(data), _meta(conn)


def _meta(conn: Connection) -> ReportMeta:
    at = wr.as_of(conn)
    return ReportMeta(wr.city_name(conn) or "", at.at, at.run_id, at.flow_run_id, datetime.now(UTC))


# ---- charts ---------------------------------------------------------------------------------------


@cache
def cjk_font() -> Path | None:
    """A font with simplified Chinese glyphs: the one locked with the project (a wheel), else the
    system's (fc-list), else None."""
    try:
        import pylopdf_fonts_zh_cn

        path = pylopdf_fonts_zh_cn.sans_path()
        if path.is_file():
            return path
    except ImportError:
        pass
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return Path(files[0]) if files else None


@cache
def _pyplot():
    """matplotlib, headless, with the CJK font named explicitly (no reliance on its font cache)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = cjk_font()
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        name = font_manager.FontProperties(fname=str(font)).get_name()
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return plt


NOW_COLOUR, BEFORE_COLOUR = "#b22222", "#c9a66b"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def chart_units(review: rv.Review) -> bytes:
    """Horizontal bars, one pair per township (or village): this year and last year (restated)."""
    plt = _pyplot()
    units = review.chart_units
    height = max(3.0, 0.3 * len(units) + 1.0)
    fig, ax = plt.subplots(figsize=(9, height))
    ys = range(len(units))
    now = [u[1] or 0 for u in units]
    before = [u[2] or 0 for u in units]
    ax.barh([y + 0.2 for y in ys], before, height=0.4, color=BEFORE_COLOUR, label=f"{review.year - 1}年")
    bars = ax.barh([y - 0.2 for y in ys], now, height=0.4, color=NOW_COLOUR, label=f"{review.year}年")
    ax.bar_label(
        bars, labels=[rv.number(u[1]) if u[1] is not None else "" for u in units], padding=2, fontsize=8
    )
    ax.set_yticks(list(ys), [u[0] for u in units], fontsize=9)
    ax.invert_yaxis()
    ax.set_title(review.chart_units_title, fontsize=11)
    ax.legend(loc="lower right", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.12)
    return _png(fig)


def chart_years(review: rv.Review) -> bytes:
    """Small multiples: one panel per headline metric, one bar per year."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    series = review.chart_years
    cols = 5
    rows = max(1, (len(series) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.3 * rows + 0.5), squeeze=False)
    for ax, (label, by_year) in zip(axes.flat, series.items(), strict=False):
        years = sorted(by_year)
        colours = [NOW_COLOUR if y == review.year else BEFORE_COLOUR for y in years]
        bars = ax.bar([str(y) for y in years], [by_year[y] for y in years], color=colours, width=0.6)
        ax.bar_label(bars, labels=[rv.number(by_year[y]) for y in years], fontsize=8, padding=1)
        ax.set_title(label, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        ax.set_ylim(0, (max(by_year.values(), default=0) or 1) * 1.25)  # counts: never below 0
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    fig.suptitle(review.chart_years_title, fontsize=12)
    fig.tight_layout()
    return _png(fig)


def charts(review: rv.Review) -> dict[str, bytes]:
    return {"units": chart_units(review), "years": chart_years(review)}


# ---- HTML -----------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
/*FONT-FACE*/
body { font-family: "{{ font }}", "Noto Sans SC", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       color: #222; margin: 0; background: #f4f1ec; font-size: 14px; line-height: 1.7; }
main { max-width: 1180px; margin: 0 auto; background: #fff; padding: 28px 44px 40px; }
h1 { color: #a0141e; text-align: center; font-size: 26px; margin: 4px 0 6px; letter-spacing: 1px; }
h2 { color: #a0141e; font-size: 19px; border-left: 5px solid #a0141e; padding-left: 10px; margin: 30px 0 10px; }
h3 { font-size: 15px; margin: 18px 0 4px; }
.meta { text-align: center; color: #555; font-size: 13px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 3px; color: #fff; background: #2e7d32; }
.badge.open { background: #b26a00; }
p.lead { text-indent: 2em; margin: 6px 0; font-size: 15px; }
.hier { color: #6a4b00; background: #fff7e0; border: 1px solid #efd9a0; padding: 4px 10px; font-size: 13px; margin: 4px 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0 12px; }
th, td { border: 1px solid #d8d2c8; padding: 3px 6px; }
th { background: #f3e9e0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.up { color: #b22222; } td.down { color: #1f6f3f; }
tr.total td { font-weight: 600; background: #faf6f0; }
td.note { color: #6a4b00; font-size: 12px; }
img.chart { display: block; max-width: 100%; margin: 8px auto; }
.small { color: #666; font-size: 12px; }
footer { margin-top: 30px; color: #777; font-size: 12px; border-top: 1px solid #ddd; padding-top: 8px; }
</style>
</head>
<body><main>
<h1>{{ title }}</h1>
<div class="meta">数据截至 {{ meta.as_of_text }}　运行编号 {{ meta.run_id or "—" }}
{% if meta.flow_run_id %}（Prefect 流程运行 {{ meta.flow_run_id }}）{% endif %}
　年度状态 <span class="badge{% if not r.closed %} open{% endif %}">{{ "已关账" if r.closed else "未关账" }}</span></div>

<h2>一、总体情况</h2>
{% for p in r.paragraphs %}<p class="lead">{{ p }}</p>
{% endfor %}

<h2>二、主要指标</h2>
<div class="hier">{{ "全市合计（不受区划调整影响）" if not r.township else "上年数按" ~ r.year ~ "年度区划还原" }}</div>
<table>
<tr><th>指标</th><th>单位</th><th>{{ r.year }}年</th><th>{{ r.year - 1 }}年</th><th>增减</th><th>增减幅度</th></tr>
{% for f in r.headline %}<tr><td>{{ f.label }}</td><td>{{ f.unit }}</td><td class="n">{{ num(f.value, f.decimals) }}</td>
<td class="n">{{ num(f.prior, f.decimals) }}</td><td class="n {{ trend(f) }}">{{ sgn(f.change, f.decimals) }}</td><td class="n">{{ pct(f) }}</td></tr>
{% endfor %}</table>

<h2>三、{{ "分乡镇（街道）情况" if not r.township else "分村（社区）情况" }}</h2>
<h3>{{ r.units_title }}</h3>
<table>
{% set notes = r.units | selectattr("note") | list %}
<tr><th>{{ "乡镇（街道）" if not r.township else "村（社区）" }}</th>{% for m in r.units_metrics %}<th>{{ m }}</th>{% endfor %}{% if notes %}<th>备注</th>{% endif %}</tr>
{% for u in r.units %}<tr><td>{{ u.name }}</td>{% for f in u.figures %}<td class="n">{{ val(f) }}</td>{% endfor %}{% if notes %}<td class="note">{{ u.note }}</td>{% endif %}</tr>
{% endfor %}</table>
<img class="chart" alt="{{ r.chart_units_title }}" src="data:image/png;base64,{{ charts.units }}">

<h2>四、同比情况</h2>
{% for m in r.merges %}<div class="hier">区划调整：{{ m.name }}（{{ m.code }}）{{ r.year }}年度起{% if m.successor_name %}并入{{ m.successor_name }}（{{ m.successor_code }}），其所辖村（社区）改属{{ m.successor_name }}{% else %}撤销{% endif %}。按本年区划还原的表中，其上年数据计入{{ m.successor_name or "—" }}。</div>
{% endfor %}
{% for c in (r.restated, r.as_reported) %}
<h3>{{ c.title }}</h3>
<div class="hier">口径：{{ c.hierarchy }}</div>
<table>
<tr><th rowspan="2">乡镇（街道）</th>{% for m in c.metrics %}<th colspan="3">{{ m }}</th>{% endfor %}<th rowspan="2">说明</th></tr>
<tr>{% for m in c.metrics %}<th>本年</th><th>上年</th><th>增减</th>{% endfor %}</tr>
{% for row in c.rows %}<tr><td>{{ row.name }}</td>{% for f in row.figures %}<td class="n">{{ num(f.value, f.decimals) }}</td><td class="n">{{ num(f.prior, f.decimals) }}</td><td class="n {{ trend(f) }}">{{ sgn(f.change, f.decimals) }}</td>{% endfor %}<td class="note">{{ row.note }}</td></tr>
{% endfor %}</table>
{% endfor %}
<img class="chart" alt="{{ r.chart_years_title }}" src="data:image/png;base64,{{ charts.years }}">

<h2>五、报送完整性</h2>
<p>应报 {{ r.completeness.expected }} 份，已通过审核 {{ r.completeness.accepted }} 份（按时 {{ r.completeness.accepted_on_time }}、逾期 {{ r.completeness.accepted_late }}），退回未改 {{ r.completeness.rejected }} 份，未报 {{ r.completeness.missing }} 份。</p>
<table>
<tr><th>乡镇（街道）</th><th>应报</th><th>按时</th><th>逾期</th><th>退回未改</th><th>未报</th></tr>
{% for t in r.completeness.townships %}<tr><td>{{ t.township_name }}</td><td class="n">{{ t.expected }}</td><td class="n">{{ t.accepted_on_time }}</td><td class="n">{{ t.accepted_late }}</td><td class="n">{{ t.rejected }}</td><td class="n">{{ t.missing }}</td></tr>
{% endfor %}<tr class="total"><td>合计</td><td class="n">{{ r.completeness.expected }}</td><td class="n">{{ r.completeness.accepted_on_time }}</td><td class="n">{{ r.completeness.accepted_late }}</td><td class="n">{{ r.completeness.rejected }}</td><td class="n">{{ r.completeness.missing }}</td></tr>
</table>

<h2>六、待核实事项</h2>
<h3>乡镇年报与村级汇总核对（W-ROLLUP）</h3>
{% if r.pending %}<p>以下乡镇（街道）所辖村（社区）年报尚未全部通过审核，第07–09项的核对暂缓进行：</p>
<table><tr><th>乡镇（街道）</th><th>待核对指标</th><th>村（社区）已通过 / 应报</th></tr>
{% for p in r.pending %}<tr><td>{{ p.township_name }}</td><td>{{ p.indicators | join("、") }}</td><td class="n">{{ p.villages_accepted }} / {{ p.villages_expected }}</td></tr>
{% endfor %}</table>{% else %}<p>无待核对事项（各乡镇所辖村（社区）年报均已通过审核，或乡镇年报未报）。</p>{% endif %}
<p>核对不一致 {{ r.mismatches }} 项（见下方“与村级汇总不符”提示）。</p>
<h3>未处理的提示（{{ r.warnings | length }} 条）</h3>
{% if r.warning_counts %}<p>{% for cid, n in r.warning_counts %}{{ titles.get(cid, cid) }}（{{ cid }}）{{ n }} 条{% if not loop.last %}；{% endif %}{% endfor %}。</p>
<table><tr><th>乡镇（街道）</th><th>单位</th><th>表号</th><th>提示</th><th>单元格</th><th>说明</th></tr>
{% for w in r.warnings[:shown] %}<tr><td>{{ w.township_name or "" }}</td><td>{{ w.org_name or w.org_code }}</td><td>{{ w.form }}</td><td>{{ titles.get(w.check_id, w.check_id) }}</td><td>{{ w.cell or "" }}</td><td>{{ w.message }}</td></tr>
{% endfor %}</table>
{% if r.warnings | length > shown %}<p class="small">另有 {{ r.warnings | length - shown }} 条，见数据仓库视图 v_open_warnings。</p>{% endif %}
{% else %}<p>无。</p>{% endif %}

<h2>附表：全部指标</h2>
<div class="hier">{{ "全市合计" if not r.township else r.scope ~ "及所辖村（社区）合计，上年数按本年区划还原" }}；“是/否”类指标为填“是”的单位个数</div>
{% for title, figs in r.forms %}<h3>{{ title }}</h3>
<table><tr><th>指标</th><th>单位</th><th>{{ r.year }}年</th><th>{{ r.year - 1 }}年</th><th>增减</th></tr>
{% for f in figs %}<tr><td>{{ f.label }}</td><td>{{ f.unit }}</td><td class="n">{{ num(f.value, f.decimals) }}</td><td class="n">{{ num(f.prior, f.decimals) }}</td><td class="n {{ trend(f) }}">{{ sgn(f.change, f.decimals) }}</td></tr>
{% endfor %}</table>
{% endfor %}

<footer>本报告由 pbstats 根据数据仓库生成（{{ generated }}）。数据截至 {{ meta.as_of_text }}，运行编号 {{ meta.run_id or "—" }}。</footer>
</main></body></html>
"""


def title_of(review: rv.Review | rv.Summary, meta: ReportMeta) -> str:
    scope = review.scope if review.township else meta.city
    return f"{scope}{review.year}年度党建工作统计年报"


def _pct(f: rv.Figure) -> str:
    if f.change is None or not f.prior:
        return "—"
    return f"{f.change / f.prior * 100:+.1f}%"


def _trend(f: rv.Figure) -> str:
    c = f.change
    return "" if c is None or abs(c) < 1e-9 else ("up" if c > 0 else "down")


def _val(f: rv.Figure) -> str:
    if f.value is None:
        return "—"
    if f.flag:
        return "是" if f.value else "否"
    return rv.number(f.value, f.decimals)


def render_html(review: rv.Review, meta: ReportMeta, pngs: dict[str, bytes]) -> str:
    """The report as one HTML file: charts inline, and the Chinese glyphs it uses embedded as a font."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    page = env.from_string(HTML).render(
        r=review,
        meta=meta,
        title=title_of(review, meta),
        font=FONT_FAMILY,
        charts={k: base64.b64encode(v).decode() for k, v in pngs.items()},
        num=rv.number,
        sgn=rv.signed,
        pct=_pct,
        trend=_trend,
        val=_val,
        titles=CHECK_TITLES,
        shown=WARNINGS_SHOWN,
        generated=_when(meta.generated_at),
    )
    return page.replace("/*FONT-FACE*/", font_face(page))


def font_face(text: str) -> str:
    """An @font-face holding just the glyphs `text` uses, so the page shows Chinese on any machine."""
    font = cjk_font()
    if font is None:
        return ""
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont

        options = subset.Options()
        options.flavor = "woff"
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        face = TTFont(str(font), fontNumber=0)
        sub = subset.Subsetter(options)
        sub.populate(text="".join(sorted({c for c in text if not c.isspace()})) + " ")
        sub.subset(face)
        face.flavor = "woff"
        buf = io.BytesIO()
        face.save(buf)
    except Exception:  # a font that cannot be subset: the page falls back to the reader's own fonts
        return ""
    data = base64.b64encode(buf.getvalue()).decode()
    return f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url(data:font/woff;base64,{data}) format("woff"); }}'


# ---- the files -----------------------------------------------------------------------------------


def write_report(conn: Connection, year: int, out: Path, township: str | None = None) -> tuple[Path, Path]:
    """Write the HTML report and the Word document into `out`; returns their paths."""
    from .report_docx import render_docx

    review, meta = load_review(conn, year, township)
    pngs = charts(review)
    out.mkdir(parents=True, exist_ok=True)
    stem = title_of(review, meta)
    html_path, docx_path = out / f"{stem}.html", out / f"{stem}.docx"
    html_path.write_text(render_html(review, meta, pngs), encoding="utf-8")
    docx_path.write_bytes(render_docx(review, meta, pngs))
    return html_path, docx_path


# ---- the nightly artifact --------------------------------------------------------------------------


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "｜") for c in cells) + " |"


def load_summary(conn: Connection, year: int) -> tuple[rv.Summary, ReportMeta]:
    """The city's year in brief, from the warehouse's aggregates and townships (neither its time nor its
    memory grows with the returns or the villages)."""
    before, now = wr.regrouping(conn, year)
    data = rv.SummaryInput(
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
    return rv.build_summary(data), _meta(conn)


def review_markdown(conn: Connection, year: int) -> str:
    """The year's review as a Chinese markdown summary (the Prefect artifact of each nightly run)."""
    review, meta = load_summary(conn, year)
    lines = [
        f"# {title_of(review, meta)}（摘要）",
        "",
        f"> 数据截至 {meta.as_of_text}；运行编号 {meta.run_id or '—'}；"
        f"年度状态：{'已关账' if review.closed else '未关账'}",
        "",
        "## 总体情况",
        "",
    ]
    lines += [p + "\n" for p in review.paragraphs]
    lines += [
        "## 主要指标（全市合计）",
        "",
        _md_row(["指标", "单位", f"{year}年", f"{year - 1}年", "增减"]),
        _md_row(["---"] * 5),
    ]
    lines += [
        _md_row(
            [
                f.label,
                f.unit,
                rv.number(f.value, f.decimals),
                rv.number(f.prior, f.decimals),
                rv.signed(f.change),
            ]
        )
        for f in review.headline
    ]
    c = review.completeness
    lines += [
        "",
        "## 报送完整性",
        "",
        f"应报 {c.expected} 份，已通过 {c.accepted} 份（按时 {c.accepted_on_time}、逾期 {c.accepted_late}），"
        f"退回未改 {c.rejected} 份，未报 {c.missing} 份。",
        "",
    ]
    from .artifacts import MAX_ROWS, more_line

    towns, heading = c.townships, "乡镇（街道）"
    if len(towns) > MAX_ROWS:  # a province: the townships with the most returns outstanding
        towns = sorted(towns, key=lambda t: -(t["missing"] + t["rejected"]))[:MAX_ROWS]
        heading += f"（未报与退回最多的 {MAX_ROWS} 个）"
    lines += [_md_row([heading, "应报", "按时", "逾期", "退回未改", "未报"]), _md_row(["---"] * 6)]
    lines += [
        _md_row(
            [
                t["township_name"],
                t["expected"],
                t["accepted_on_time"],
                t["accepted_late"],
                t["rejected"],
                t["missing"],
            ]
        )
        for t in towns
    ]
    lines += more_line(len(c.townships), len(towns), "视图 v_completeness")
    lines += ["", "## 待核实事项", ""]
    if review.warning_counts:
        lines.append(
            f"- 未处理的提示 {review.warnings_open} 条："
            + "；".join(f"{CHECK_TITLES.get(k, k)}（{k}）{n} 条" for k, n in review.warning_counts)
        )
    else:
        lines.append("- 无未处理的提示")
    if review.pending:
        shown = review.pending[:MAX_ROWS]
        lines.append(
            f"- 乡镇年报与村级汇总核对待定 {len(review.pending)} 个乡镇（街道）："
            + "；".join(
                f"{p['township_name']}（村（社区）已通过 {p['villages_accepted']}/{p['villages_expected']}）"
                for p in shown
            )
            + (
                f"；……另有 {len(review.pending) - len(shown)} 个，见数据仓库 rollup_check 表"
                if len(review.pending) > len(shown)
                else ""
            )
        )
    lines.append(f"- 乡镇年报与村级汇总核对不一致 {review.mismatches} 项")
    for m in review.merges:
        lines.append(
            f"- 区划调整：{m.name}{year}年度起并入{m.successor_name or '—'}；按乡镇同比时上年数据按本年区划还原"
        )
    return "\n".join(lines) + "\n"
