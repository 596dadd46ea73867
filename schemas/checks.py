"""Every check id of forms.md §6 with its severity and its Chinese wording for submitters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Check:
    """One rule of the rulebook: an error rejects the return, a warning flags it for review."""

    check_id: str
    severity: Severity
    title: str  # short Chinese name, shown in lists
    rule: str  # the rule as the rulebook states it, in Chinese


E, W = Severity.ERROR, Severity.WARNING

CHECKS: dict[str, Check] = {
    c.check_id: c
    for c in (
        Check("E-FILE", E, "文件无法读取", "文件损坏、加密、为空、不是电子表格，或超过大小限制"),
        Check("E-FORM", E, "找不到报表", "没有工作表含有已知表号（DJ-1/DJ-2），或找不到表头行"),
        Check("E-ORG", E, "组织代码有误", "组织代码缺失、不是12位、不在当年登记名录中，或与报表层级不符"),
        Check("E-YEAR", E, "统计年度有误", "统计年度缺失、不是年份，或是未来年份"),
        Check("E-CODE", E, "指标代码有误", "缺少指标行、代码重复，或出现报表未定义的代码"),
        Check("E-VALUE", E, "数值无法识别", "填写的内容无法按制度读成数值，或超出该指标的取值范围"),
        Check("E-RULE", E, "表内逻辑不符", "违反表内审核关系"),
        Check("E-PII", E, "含有个人信息", "表内出现身份证号或手机号（联系电话栏除外）"),
        Check("W-BLANK", W, "空白按0处理", "指标值为空，已按0读取"),
        Check("W-PRIOR", W, "上年数不一致", "“上年”栏与已入库的上年数不一致"),
        Check("W-JUMP", W, "变动幅度过大", "与上年相比变化超过3倍"),
        Check("W-ROLLUP", W, "与村级汇总不符", "乡镇年报与所辖村（社区）年报及登记名录不一致"),
        Check("W-LATE", W, "逾期报送", "在截止日期之后收到"),
        Check("W-FOOTER", W, "表尾信息缺失", "缺少填表人或报出日期"),
    )
}
