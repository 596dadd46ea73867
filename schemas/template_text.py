"""The wording of the blank form each org is sent (transforms/template.py), in Chinese: file name, data
validation prompts and errors, and the 填表说明 sheet. Limits and the deadline are formatted from
schemas/forms.py."""

from __future__ import annotations

from .forms import (
    AMOUNT_DECIMALS,
    DEADLINE_MONTH_DAY,
    FLAG_NO,
    FLAG_YES,
    HEADER_CURRENT,
    HEADER_NOTE,
    HEADER_PRIOR,
    LABEL_PHONE,
    Form,
    Indicator,
    Kind,
)

GUIDE_SHEET = "填表说明"
DEFAULT_ISSUER = "中共示例市委组织部"
REPORT_DATE_FORMAT = "yyyy年m月d日"  # Excel's number format of the 报出日期 cell
ERROR_TITLE = "填写有误"
_CHOOSE_FLAG = f"请选择“{FLAG_YES}”或“{FLAG_NO}”"


def file_name(form: Form, org_code: str, org_name: str, year: int) -> str:
    """The org's name first, as submitters keep files."""
    return f"{org_name}{year}年{form.form_id}年报-{org_code}.xlsx"


def validation_prompt(ind: Indicator, decimals: int = AMOUNT_DECIMALS) -> str:
    return {
        Kind.COUNT: f"填写不小于0的整数，单位：{ind.unit}",
        Kind.FLAG: _CHOOSE_FLAG,
        Kind.AMOUNT: f"填写不小于0的数值，最多{decimals}位小数，单位：{ind.unit}",
    }[ind.kind]


def validation_error(ind: Indicator, decimals: int = AMOUNT_DECIMALS) -> str:
    want = {
        Kind.COUNT: f"应填写不小于0的整数（单位：{ind.unit}）",
        Kind.FLAG: _CHOOSE_FLAG,
        Kind.AMOUNT: f"应填写不小于0、最多{decimals}位小数的数值（单位：{ind.unit}）",
    }[ind.kind]
    return f"“{ind.name}”{want}"


def guide(
    form: Form, year: int, due: tuple[int, int] = DEADLINE_MONTH_DAY, decimals: int = AMOUNT_DECIMALS
) -> list[str]:
    """The lines of the 填表说明 sheet; `due` is (month, day) of the next year."""
    month, day = due
    return [
        f"{form.title}（{form.form_id}）填表说明",
        f"1. 本表统计{year}年度情况，请于{year + 1}年{month}月{day}日前报送。封面信息已按组织名录填好，请勿修改。",
        f"2. 只在淡黄色单元格中填写：“{HEADER_CURRENT}”列、{HEADER_NOTE}列和表尾各项。"
        f"“{HEADER_PRIOR}”列为已入库的上年数据，供核对。",
        f"3. 人数、个数等填写不小于0的整数；“{FLAG_YES}/{FLAG_NO}”类指标从下拉列表中选择；"
        f"金额填写不小于0的数值，最多{decimals}位小数。",
        "4. 确无数据的填写0，不要留空，也不要填写“—”“/”。请勿增删指标行、改动代码列。",
        f"5. 表内不得填写身份证号、手机号等个人信息（表尾{LABEL_PHONE}除外）。",
    ]
