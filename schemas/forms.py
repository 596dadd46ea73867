"""The two official return forms (forms.md §3-§4) as data: a new indicator is an edit here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property


class Kind(StrEnum):
    """How a value cell is read and which range it must fall in."""

    COUNT = "count"  # non-negative integer
    FLAG = "flag"  # 1 = 是, 0 = 否
    AMOUNT = "amount"  # non-negative decimal, at most 2 decimals


@dataclass(frozen=True)
class Indicator:
    """One row of a form: what is counted, in which unit, read how."""

    code: str  # "01"
    name: str  # 党员总数
    unit: str  # 人
    kind: Kind
    metric_key: str  # party_members


@dataclass(frozen=True)
class Rule:
    """A within-form rule: the value of `small` must not exceed the value of `large` (E-RULE)."""

    small: str
    large: str

    def describe(self, form: Form) -> str:
        return f"“{form.indicator(self.small).name}”（{self.small}）不得大于“{form.indicator(self.large).name}”（{self.large}）"


@dataclass(frozen=True)
class Form:
    """One return form: who files it and what it holds."""

    form_id: str  # 表号, e.g. DJ-1
    title: str
    level: str  # registry level of the org that files it
    indicators: tuple[Indicator, ...]
    rules: tuple[Rule, ...]

    def indicator(self, code: str) -> Indicator:
        return self._by_code[code]

    def has(self, code: str) -> bool:
        return code in self._by_code

    @cached_property
    def _by_code(self) -> dict[str, Indicator]:  # asked for each cell a return's rows hold
        return {i.code: i for i in self.indicators}


def _ind(code: str, name: str, unit: str, kind: Kind, key: str) -> Indicator:
    return Indicator(code, name, unit, kind, key)


C, F, A = Kind.COUNT, Kind.FLAG, Kind.AMOUNT
FLAG_UNIT = "是=1/否=0"

DJ1 = Form(
    form_id="DJ-1",
    title="村（社区）党组织建设情况年报",
    level="village",
    indicators=(
        _ind("01", "党员总数", "人", C, "party_members"),
        _ind("02", "其中：预备党员", "人", C, "probationary_members"),
        _ind("03", "本年发展党员", "人", C, "new_members"),
        _ind("04", '党组织书记、村（居）委会主任"一肩挑"', FLAG_UNIT, F, "one_shoulder"),
        _ind("05", "在岗驻村第一书记", "人", C, "first_secretaries_stationed"),
        _ind("06", "在岗乡村振兴指导员", "人", C, "revitalisation_instructors_stationed"),
        _ind("07", "村（社区）集体经济收入", "万元", A, "collective_income"),
        _ind("08", "是否列为软弱涣散基层党组织", FLAG_UNIT, F, "weak_branch"),
        _ind("09", "其中：本年完成整顿", FLAG_UNIT, F, "weak_branch_rectified"),
        _ind("10", '党建网格数（"N+1"网格化共建）', "个", C, "grid_units"),
        _ind("11", "党员参加教育培训", "人次", C, "member_training_attendances"),
        _ind("12", "获评党史学习教育示范党支部", FLAG_UNIT, F, "demo_branch"),
    ),
    rules=(Rule("02", "01"), Rule("09", "08")),
)

DJ2 = Form(
    form_id="DJ-2",
    title="乡镇（街道）党建工作情况年报",
    level="township",
    indicators=(
        _ind("01", "辖村（社区）数", "个", C, "villages_governed"),
        _ind("02", "选派驻村第一书记", "人", C, "first_secretaries_dispatched"),
        _ind("03", "选派乡村振兴指导员", "人", C, "revitalisation_instructors_dispatched"),
        _ind(
            "04",
            "选派干部参与重点工作（文明城市创建、重点项目建设、志愿服务等）",
            "人",
            C,
            "cadres_on_key_tasks",
        ),
        _ind("05", "创建党史学习教育示范党支部", "个", C, "demo_branches_created"),
        _ind("06", "确定软弱涣散基层党组织", "个", C, "weak_branches_identified"),
        _ind("07", "其中：已完成整顿", "个", C, "weak_branches_rectified"),
        _ind("08", '书记、主任"一肩挑"的村（社区）', "个", C, "one_shoulder_villages"),
        _ind("09", "集体经济收入超10万元的村（社区）", "个", C, "villages_income_over_threshold"),
        _ind("10", "查处典型问题（起）", "起", C, "typical_problems_cases"),
        _ind("11", "查处典型问题（人）", "人", C, "typical_problems_persons"),
        _ind("12", "查处群众身边腐败和作风问题（起）", "起", C, "grassroots_corruption_cases"),
        _ind("13", "查处群众身边腐败和作风问题（人）", "人", C, "grassroots_corruption_persons"),
        _ind("14", '运用"四种形态"批评教育帮助和处理', "人次", C, "four_forms_person_times"),
        _ind("15", "立案查处（件）", "件", C, "cases_filed"),
        _ind("16", "立案查处（人）", "人", C, "cases_filed_persons"),
        _ind("17", "党员教育培训", "人次", C, "member_training_attendances"),
    ),
    rules=(
        Rule("07", "06"),
        Rule("08", "01"),
        Rule("09", "01"),
        Rule("10", "11"),
        Rule("12", "13"),
        Rule("15", "16"),
    ),
)

FORMS: dict[str, Form] = {f.form_id: f for f in (DJ1, DJ2)}
FORM_BY_LEVEL: dict[str, Form] = {f.level: f for f in FORMS.values()}


@dataclass(frozen=True)
class Rollup:
    """A DJ-2 indicator that must agree with the villages' DJ-1 returns (W-ROLLUP).

    `village_code` / `village_test` say which villages are counted: those whose DJ-1 value of
    `village_code` passes the test. A rollup without a village code counts the registry.
    """

    township_code: str
    village_code: str | None
    threshold: float  # village value must be > threshold (flags: > 0)
    counted: str  # what is counted, in Chinese; {threshold} stands for the threshold

    @property
    def describe(self) -> str:
        return self.counted.format(threshold=f"{self.threshold:g}")


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("01", None, 0, "登记在册的村（社区）数"),
    Rollup("07", "09", 0, "村（社区）年报中“本年完成整顿”为“是”的个数"),
    Rollup("08", "04", 0, '村（社区）年报中"一肩挑"为“是”的个数'),
    Rollup("09", "07", 10, "村（社区）年报中集体经济收入超过{threshold}万元的个数"),
)

# §3: 统计年度 may be written 2025, 2025年 or 2025年度
YEAR_SUFFIXES = ("年度", "年")

# §3: cover labels (value in the same cell after a colon, or in a cell to the right)
LABEL_FORM_ID = "表号"
LABEL_ORG_NAME = "填报单位"
LABEL_ORG_CODE = "组织代码"
LABEL_YEAR = "统计年度"
LABEL_FILLER = "填表人"
LABEL_REPORT_DATE = "报出日期"
LABEL_PHONE = "联系电话"
LABEL_HEAD = "单位负责人"
LABEL_ISSUER = "制定机关"
COVER_LABELS = (LABEL_FORM_ID, LABEL_ORG_NAME, LABEL_ORG_CODE, LABEL_YEAR)
FOOTER_LABELS = (LABEL_HEAD, LABEL_FILLER, LABEL_PHONE, LABEL_REPORT_DATE)
ALL_LABELS = COVER_LABELS + FOOTER_LABELS + (LABEL_ISSUER,)
LABEL_COLON = "："  # how the city's form writes a label before its value: 组织代码：990181101201
DATE_SPELLING = "{0.year}年{0.month}月{0.day}日"  # a date as the form spells it: DATE_SPELLING.format(d)

# §3: the header row and its columns
HEADER_NAME = "指标名称"
HEADER_CODE = "代码"
HEADER_UNIT = "计量单位"
HEADER_CURRENT = "本年"
HEADER_PRIOR = "上年"
HEADER_NOTE = "备注"
HEADER_REQUIRED = (HEADER_NAME, HEADER_CODE, HEADER_CURRENT)
HEADER_GROUP = "数值"  # a group label over 本年 and 上年 when the header takes two rows
# the row under the header that numbers its columns, 指标名称 … 备注
COLUMN_NUMBERS = ("甲", "乙", "丙", "1", "2", "3")

# §5: value spellings
# A dash, a slash or 无 is how a statistical table writes "none": a figure the submitter did write,
# so it reads as 0 with no warning; only an empty cell is W-BLANK. Compared after NFKC, which folds
# the full-width － and ／ into - and /; the em dash, its GB2312 twin ― (U+2015) and the en dash,
# single or doubled, stay apart.
ZERO_TOKENS = frozenset({"无", "-", "/", "—", "——", "―", "――", "–"})
# what makes a cell that cannot be read worth a precise reason: numbers in Chinese, approximations
CHINESE_NUMERALS = "一二三四五六七八九十百千万两零〇"
APPROXIMATE_FIRST = "约近超多余大概"  # 约12, 近百
APPROXIMATE_LAST = ("余", "多", "左右")  # 12余, 十多, 12左右
FLAG_YES, FLAG_NO = "是", "否"  # how the template writes a flag
FLAG_TRUE = frozenset({FLAG_YES, "√", "✓", "✔"})
FLAG_FALSE = frozenset({FLAG_NO, "×", "✗", "✘", "x", "X"})

# forms.md §1 / §6: accepted file kinds and size guards (messages quote them: schemas/messages.py)
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
MB = 1024 * 1024
MAX_FILE_MB = 20  # on disk
MAX_UNPACKED_MB = 100  # a zip-based file's parts, unpacked
MAX_FILE_BYTES = MAX_FILE_MB * MB
MAX_UNPACKED_BYTES = MAX_UNPACKED_MB * MB
MAX_SHEET_ROWS = 10_000  # of the form sheet

# §1: returns for year Y are due by this (month, day) of Y+1, Asia/Shanghai end of day (the default;
# the deadline is configuration: Settings.deadline)
DEADLINE_MONTH_DAY = (1, 31)

# §2 and §4: an org code's length; an amount's decimals
ORG_CODE_DIGITS = 12
AMOUNT_DECIMALS = 2

# §6 W-JUMP
JUMP_FACTOR = 3.0
JUMP_MIN = 10.0
