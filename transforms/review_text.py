"""The year-end review's words: how a figure is printed and quoted, and the headline sentences of
forms.md §7 with every figure filled in."""

from __future__ import annotations

from .review_figures import CROSS_CHECK, HEADLINE, Figure, figure
from .review_hierarchy import Totals


def number(x: float | None, decimals: int = 0) -> str:
    """A figure as the review prints it: 1,234 or 1,234.50; “—” for no data."""
    if x is None:
        return "—"
    return f"{x:,.{decimals}f}"


def signed(x: float | None, decimals: int = 0) -> str:
    if x is None:
        return "—"
    if abs(x) < 0.5 * 10**-decimals:
        return "0"
    return f"{x:+,.{decimals}f}"


def quoted(f: Figure) -> str:
    """“120人（上年112人，增加8人）”."""
    if f.value is None:
        return "暂无数据"
    now = f"{number(f.value, f.decimals)}{f.unit}"
    if f.prior is None:
        return f"{now}（上年无数据）"
    change = f.change or 0.0
    if abs(change) < 0.5 * 10**-f.decimals:
        how = "与上年持平"
    else:
        how = f"{'增加' if change > 0 else '减少'}{number(abs(change), f.decimals)}{f.unit}"
    return f"{now}（上年{number(f.prior, f.decimals)}{f.unit}，{how}）"


def headline_paragraphs(
    scope: str, year: int, now: Totals | None, before: Totals | None, reported: int, expected: int
) -> list[str]:
    """The year-end review's headline sentences (forms.md §7) with every figure from the totals."""
    q = {m[1]: quoted(figure(m, now, before)) for m in HEADLINE}
    cross = quoted(figure(CROSS_CHECK, now, before))
    if reported == 0:
        return [f"{year}年度{scope}尚无已通过审核的乡镇（街道）年报（DJ-2），以下各项暂无数据。"]
    lead = f"{year}年，{scope}各级党组织认真落实全面从严治党要求，扎实推进基层党建各项工作。"
    if expected > 1:
        lead += f"以下数据来自已通过审核的{reported}份乡镇（街道）年报（应报{expected}份）。"
    return [
        lead,
        f"一是选派力量持续加强。全年选派驻村第一书记{q['02']}，选派乡村振兴指导员{q['03']}；"
        f"选派干部参与文明城市创建、重点项目建设、志愿服务等重点工作{q['04']}。",
        f"二是组织建设不断夯实。创建党史学习教育示范党支部{q['05']}；"
        f"集体经济收入超10万元的村（社区）{q['09']}；书记、主任“一肩挑”的村（社区）{q['08']}。",
        f"三是正风肃纪保持高压。查处典型问题{q['10']}、涉及{q['11']}；"
        f"查处群众身边腐败和作风问题{q['12']}、涉及{q['13']}；"
        f"运用“四种形态”批评教育帮助和处理{q['14']}；立案查处{q['15']}、涉及{q['16']}。",
        f"四是软弱涣散基层党组织整顿有力。确定软弱涣散基层党组织{q['06']}，其中已完成整顿{q['07']}；"
        f"村（社区）年报中本年完成整顿的{cross}。",
    ]
