"""The year-end review's wording (forms.md §7), in Chinese: short metric names for tables and charts,
the headline sentences, and the titles and notes of its tables. transforms/review.py computes the
figures and fills them in; flows/ renders them (HTML, docx, Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .forms import DJ2, ROLLUPS

Metric = tuple[str, str]  # (form, indicator code)

CITY = "全市"  # the scope of the whole city
_INCOME_THRESHOLD = next(r.threshold for r in ROLLUPS if r.township_code == "09")

# short names of metrics where the form's own name is too long for a table or chart
SHORT: dict[Metric, str] = {
    ("DJ-2", "02"): "驻村第一书记",
    ("DJ-2", "03"): "乡村振兴指导员",
    ("DJ-2", "04"): "干部参与重点工作",
    ("DJ-2", "05"): "示范党支部",
    ("DJ-2", "06"): "软弱涣散党组织",
    ("DJ-2", "07"): "已完成整顿",
    ("DJ-2", "08"): "“一肩挑”村",
    ("DJ-2", "09"): f"集体收入超{_INCOME_THRESHOLD:g}万元村",
    ("DJ-2", "10"): "典型问题（起）",
    ("DJ-2", "11"): "典型问题（人）",
    ("DJ-2", "12"): "腐败作风（起）",
    ("DJ-2", "13"): "腐败作风（人）",
    ("DJ-2", "14"): "四种形态（人次）",
    ("DJ-2", "15"): "立案（件）",
    ("DJ-2", "16"): "立案（人）",
    ("DJ-1", "01"): "党员总数",
    ("DJ-1", "09"): "村级年报完成整顿",
}
# a township's table of its villages: one org's values each
VILLAGE_SHORT: dict[Metric, str] = {
    ("DJ-1", "01"): "党员总数",
    ("DJ-1", "07"): "集体经济收入（万元）",
    ("DJ-1", "04"): "“一肩挑”",
    ("DJ-1", "08"): "软弱涣散",
    ("DJ-1", "09"): "本年完成整顿",
    ("DJ-1", "12"): "示范党支部",
}
FLAG_UNIT = "个"  # a flag summed over orgs counts them
CROSS_CHECK = "（对照）村（社区）年报中本年完成整顿的"
VILLAGE_NOT_IN = "未报或未通过审核"

# --- a figure with last year's: “120人（上年112人，增加8人）” ------------------------------------------

NO_DATA = "暂无数据"


def quoted(now: str, prior: str | None, change: str | None, up: bool) -> str:
    """`now` and `prior` with their unit; `change` None when the two are equal."""
    if prior is None:
        return f"{now}（上年无数据）"
    how = "与上年持平" if change is None else f"{'增加' if up else '减少'}{change}"
    return f"{now}（上年{prior}，{how}）"


# --- the headline sentences ----------------------------------------------------------------------


def headline(
    scope: str, year: int, q: Mapping[str, str], cross: str, reported: int, expected: int
) -> list[str]:
    """`q`: DJ-2 indicator code → its quoted figure; `cross`: DJ-1 09 (villages' own returns) quoted."""
    if reported == 0:
        return [f"{year}年度{scope}尚无已通过审核的乡镇（街道）年报（DJ-2），以下各项暂无数据。"]
    lead = f"{year}年，{scope}各级党组织认真落实全面从严治党要求，扎实推进基层党建各项工作。"
    if expected > 1:
        lead += f"以下数据来自已通过审核的{reported}份乡镇（街道）年报（应报{expected}份）。"
    return [
        lead,
        f"一是选派力量持续加强。全年选派驻村第一书记{q['02']}，选派乡村振兴指导员{q['03']}；"
        f"选派干部参与文明城市创建、重点项目建设、志愿服务等重点工作{q['04']}。",
        f"二是组织建设不断夯实。{DJ2.indicator('05').name}{q['05']}；"
        f"{DJ2.indicator('09').name}{q['09']}；书记、主任“一肩挑”的村（社区）{q['08']}。",
        f"三是正风肃纪保持高压。查处典型问题{q['10']}、涉及{q['11']}；"
        f"查处群众身边腐败和作风问题{q['12']}、涉及{q['13']}；"
        f"运用“四种形态”批评教育帮助和处理{q['14']}；立案查处{q['15']}、涉及{q['16']}。",
        f"四是软弱涣散基层党组织整顿有力。确定软弱涣散基层党组织{q['06']}，其中已完成整顿{q['07']}；"
        f"村（社区）年报中本年完成整顿的{cross}。",
    ]


def merged_here(names: Sequence[str]) -> str:
    return f"注：上年数按本年区划还原，含{'、'.join(names)}（已并入）的上年数据。"


# --- comparisons by township ---------------------------------------------------------------------

AS_REPORTED = "按乡镇（街道）同比：按各年度上报时的区划"


def as_reported_hierarchy(year: int) -> str:
    return f"本年数按{year}年度区划汇总，上年数按{year - 1}年度区划汇总（区划调整的乡镇数据不可直接比较）"


def restated(year: int) -> str:
    return f"按乡镇（街道）同比：按{year}年度区划还原"


def restated_hierarchy(year: int) -> str:
    return f"本年数与上年数均按{year}年度区划汇总（上年数据按各村（社区）{year}年所属乡镇重新归集）"


def gone_note(year: int, successor: str | None) -> str:
    return f"{year}年已并入{successor}" if successor else f"{year}年已撤销"


def took_over_note(year: int, names: Sequence[str]) -> str:
    return f"{year}年起含原{'、'.join(names)}"


def restated_note(names: Sequence[str]) -> str:
    return f"上年数含原{'、'.join(names)}"


# --- tables and charts ---------------------------------------------------------------------------


def townships_title(year: int) -> str:
    return f"{year}年度各乡镇（街道）主要指标（按{year}年度区划）"


def villages_title(year: int, scope: str) -> str:
    return f"{year}年度{scope}各村（社区）主要指标"


DISPATCHED_CHART = "各乡镇（街道）选派干部人数（第一书记、乡村振兴指导员、参与重点工作干部合计）"
CITY_YEARS_CHART = "全市主要指标逐年对比"


def members_chart(scope: str) -> str:
    return f"{scope}各村（社区）党员人数"


def scope_years_chart(scope: str) -> str:
    return f"{scope}主要指标同比（上年按本年区划还原）"


# --- warehouse/queries.py: the run summary and the overview of years --------------------------------

UNKNOWN_TOWNSHIP = "（无法确定乡镇）"
# v_completeness's columns as the UI shows them (`rejected`: no accepted return, one rejected or held)
COMPLETENESS_COLUMNS = {
    "year": "年度",
    "township_name": "乡镇（街道）",
    "township_code": "代码",
    "expected": "应报",
    "accepted_on_time": "按时",
    "accepted_late": "逾期",
    "rejected": "退回未改",
    "missing": "未报",
}
# the overview's figures of each year
OVERVIEW_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("DJ-2", "02", "选派第一书记"),
    ("DJ-2", "03", "选派乡村振兴指导员"),
    ("DJ-2", "04", "干部参与重点工作"),
    ("DJ-2", "07", "软弱涣散党组织完成整顿"),
    ("DJ-2", "10", "查处典型问题（起）"),
    ("DJ-2", "15", "立案查处（件）"),
)
