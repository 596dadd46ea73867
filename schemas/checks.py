"""Every check id of forms.md §6 with its severity and its Chinese name and rule; what a finding of
each check tells the submitter is in schemas/messages.py."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .forms import FORMS, JUMP_FACTOR, ORG_CODE_DIGITS


class CheckId(StrEnum):
    """The id of a rule of forms.md §6, as stored in `submission_issue.check_id` and shown to users."""

    E_FILE = "E-FILE"
    E_FORM = "E-FORM"
    E_ORG = "E-ORG"
    E_YEAR = "E-YEAR"
    E_CODE = "E-CODE"
    E_VALUE = "E-VALUE"
    E_RULE = "E-RULE"
    E_PII = "E-PII"
    W_BLANK = "W-BLANK"
    W_PRIOR = "W-PRIOR"
    W_JUMP = "W-JUMP"
    W_ROLLUP = "W-ROLLUP"
    W_LATE = "W-LATE"
    W_FOOTER = "W-FOOTER"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Check:
    """One rule of the rulebook: an error rejects the return, a warning flags it for review."""

    check_id: CheckId
    severity: Severity
    title: str  # short Chinese name, shown in lists
    rule: str  # the rule as the rulebook states it, in Chinese


E, W = Severity.ERROR, Severity.WARNING
C = CheckId

CHECKS: dict[str, Check] = {
    c.check_id: c
    for c in (
        Check(C.E_FILE, E, "文件无法读取", "文件损坏、加密、为空、不是电子表格，或超过大小限制"),
        Check(C.E_FORM, E, "找不到报表", f"没有工作表含有已知表号（{'/'.join(FORMS)}），或找不到表头行"),
        Check(
            C.E_ORG,
            E,
            "组织代码有误",
            f"组织代码缺失、不是{ORG_CODE_DIGITS}位、不在当年登记名录中，或与报表层级不符",
        ),
        Check(C.E_YEAR, E, "统计年度有误", "统计年度缺失、不是年份，或是未来年份"),
        Check(C.E_CODE, E, "指标代码有误", "缺少指标行、代码重复，或出现报表未定义的代码"),
        Check(C.E_VALUE, E, "数值无法识别", "填写的内容无法按制度读成数值，或超出该指标的取值范围"),
        Check(C.E_RULE, E, "表内逻辑不符", "违反表内审核关系"),
        Check(C.E_PII, E, "含有个人信息", "表内出现身份证号或手机号（联系电话栏除外）"),
        Check(C.W_BLANK, W, "空白按0处理", "指标值为空，已按0读取"),
        Check(C.W_PRIOR, W, "上年数不一致", "“上年”栏与已入库的上年数不一致"),
        Check(C.W_JUMP, W, "变动幅度过大", f"与上年相比变化超过{JUMP_FACTOR:g}倍"),
        Check(C.W_ROLLUP, W, "与村级汇总不符", "乡镇年报与所辖村（社区）年报及登记名录不一致"),
        Check(C.W_LATE, W, "逾期报送", "在截止日期之后收到"),
        Check(C.W_FOOTER, W, "表尾信息缺失", "缺少填表人或报出日期"),
    )
}
assert set(CHECKS) == set(CheckId), "every check id has its rule"
