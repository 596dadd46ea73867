"""The year-end review as one self-contained HTML page: charts inline, and the Chinese glyphs it uses
embedded as a font, so that it shows the same on any machine."""

from __future__ import annotations

import base64
import io

from pbstats.transforms.review import Review
from pbstats.transforms.review_figures import Figure
from pbstats.transforms.review_sentences import number, signed

from .report_charts import cjk_font
from .report_words import CHECK_TITLES, ReportMeta, pct, title_of, unit_value, when

FONT_FAMILY = "PbstatsCJK"
WARNINGS_SHOWN = 300  # the HTML lists this many open warnings; the rest are in v_open_warnings

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


def _trend(f: Figure) -> str:
    c = f.change
    return "" if c is None or abs(c) < 1e-9 else ("up" if c > 0 else "down")


# what the template calls, by the names it calls them
TEMPLATE_GLOBALS = {
    "num": number,
    "sgn": signed,
    "pct": pct,
    "trend": _trend,
    "val": unit_value,
    "titles": CHECK_TITLES,
    "shown": WARNINGS_SHOWN,
}


def render_html(review: Review, meta: ReportMeta, pngs: dict[str, bytes]) -> str:
    """The report as one HTML file: charts inline, and the Chinese glyphs it uses embedded as a font."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    env.globals.update(TEMPLATE_GLOBALS)
    page = env.from_string(HTML).render(
        r=review,
        meta=meta,
        title=title_of(review, meta),
        font=FONT_FAMILY,
        charts={k: base64.b64encode(v).decode() for k, v in pngs.items()},
        generated=when(meta.generated_at),
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
