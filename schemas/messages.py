"""What a submitter is told about each finding (forms.md §5, §6), in Chinese.

Every limit, label and form id a message quotes is formatted from the constant that the check itself
uses (schemas/forms.py), so a changed limit changes its message. A function takes only what varies
from return to return; a constant is a message that never does.
"""

from __future__ import annotations

import re
from datetime import datetime

from .forms import (
    AMOUNT_DECIMALS,
    FORMS,
    HEADER_REQUIRED,
    JUMP_FACTOR,
    LABEL_ORG_CODE,
    LABEL_YEAR,
    MAX_FILE_MB,
    MAX_SHEET_ROWS,
    MAX_UNPACKED_MB,
    MB,
    ORG_CODE_DIGITS,
    SPREADSHEET_SUFFIXES,
    Form,
    Indicator,
    Kind,
)

LEVEL_NAMES = {"village": "村（社区）", "township": "乡镇（街道）", "city": "市"}
ID_NUMBER, MOBILE = "身份证号", "手机号"  # the kinds of personal number E-PII names
_FORM_IDS = " 或 ".join(FORMS)
_YEAR_EXAMPLE = "2025"

# --- E-FILE --------------------------------------------------------------------------------------

READER_FAILED = "文件内容异常，系统无法读取，请重新导出后报送；如仍有问题请联系市委组织部"
READER_FAILED_DRY_RUN = "文件内容异常，系统无法读取，请重新导出后再检查"


def sheet_too_long(rows: int, limit: int = MAX_SHEET_ROWS) -> str:
    return f"报表所在工作表有 {rows} 行，超过 {limit} 行的上限"


def form_sheet_too_large(rows: int, cols: int) -> str:
    """The form's own sheet, far beyond a form's size (only its head was kept)."""
    return f"报表所在工作表的使用范围达 {rows} 行 × {cols} 列，远超报表的规模，请删除无关内容后报送"


# why the reader cannot read a file at all
CORRUPT = "文件已损坏（无法解压），请重新导出后报送"
BAD_MEMBER = "文件已损坏（压缩包校验失败），请重新导出后报送"
MALFORMED = "文件已损坏（内部结构异常），请用 Excel 或 WPS 重新打开并另存后报送"
NOT_A_SPREADSHEET = "文件已损坏或不是电子表格（无法识别的文件内容），请重新导出后报送"
NOT_XLS = "文件内容不是 Excel 97-2003 (.xls) 格式，可能已损坏或被改了扩展名"
XLSB = "文件是 Excel 二进制工作簿（.xlsb），请另存为 .xlsx 后报送"
ENCRYPTED = "文件设置了密码（已加密），请取消密码后重新报送"
EMPTY_FILE = "文件为空（0 字节），请重新导出后报送"
EMPTY_BOOK = "文件中没有任何内容（所有工作表都是空的）"
UNKNOWN_FORMAT = "无法识别的文件格式"  # in place of the reader's own error text
TOO_MANY_CELLS = "工作簿中各工作表的单元格总数远超报表的规模，请删除无关的工作表后报送"
TOO_MUCH_TEXT = "工作簿中的文字内容远超报表的规模，请删除无关内容后报送"
NOT_READ = "无法安全读取“{first}”{more}：系统未能启动受保护的读取进程（进程数、文件句柄或内存不足），为安全起见文件未被读取"
NOT_READ_MORE = "等 {count} 个文件"
OVER_BUDGET = {  # a reader worker stopped for: (time, memory, crash)
    "time": "文件读取超时（文件结构异常或内容过多），请删除无关内容、重新导出后报送",
    "memory": "文件读取所需内存超过上限（文件结构异常或内容过多），请删除无关内容、重新导出后报送",
    "crash": "文件结构异常，系统无法读取，请用 Excel 或 WPS 重新打开并另存后报送",
}


def not_a_spreadsheet_kind(suffix: str) -> str:
    shown = suffix[:20] or "无扩展名"
    kinds = "、".join(SPREADSHEET_SUFFIXES[:-1]) + " 或 " + SPREADSHEET_SUFFIXES[-1]
    return f"文件类型“{shown}”不是电子表格，请使用 {kinds} 格式报送"


def file_too_big(size_bytes: int, limit_mb: int = MAX_FILE_MB) -> str:
    return f"文件大小 {size_bytes / MB:.1f} MB，超过 {limit_mb} MB 的上限，请删除无关内容后报送"


def unpacks_too_big(unpacked_bytes: int, limit_mb: int = MAX_UNPACKED_MB) -> str:
    return f"文件解压后达 {unpacked_bytes / MB:.0f} MB，超过 {limit_mb} MB 的上限，请删除无关内容后报送"


def corrupt(reader_error: str) -> str:
    return f"文件已损坏，无法读取（{reader_error}），请重新导出后报送"


def too_many_sheets(sheets: int, at_least: bool = False) -> str:
    return f"工作簿有{'超过' if at_least else ''} {sheets} 个工作表，远超报表的规模，请删除无关的工作表后报送"


def used_range_too_large(sheet_name: str | None, rows: int, cols: int) -> str:
    """`sheet_name` None: a sheet's declared range, before its name is known."""
    sheet = f"工作表“{sheet_name[:40]}”" if sheet_name is not None else "工作表声明"
    return f"{sheet}的使用范围达 {rows} 行 × {cols} 列，远超报表的规模，请删除无关内容后报送"


def nth_sheet(n: int) -> str:
    """A sheet named by its place, where its name is not read yet."""
    return f"第{n}个工作表"


# --- E-FORM --------------------------------------------------------------------------------------

NO_FORM_ID = f"在所有工作表中都没有找到表号（{_FORM_IDS}），请使用统一下发的报表模板"
NO_HEADER = f"找不到表头行（应有{''.join(f'“{h}”' for h in HEADER_REQUIRED)}列标题），请勿删改表头"


def unknown_form_id(form_id: str) -> str:
    return f"表号“{form_id[:40]}”不是本制度规定的报表（应为 {_FORM_IDS}）"


# --- E-YEAR --------------------------------------------------------------------------------------

NO_YEAR = f"封面缺少“{LABEL_YEAR}”，请填写如“{_YEAR_EXAMPLE}”"
NOT_A_YEAR = f"“{LABEL_YEAR}”应填写四位年份，如“{_YEAR_EXAMPLE}”"


def future_year(year: int) -> str:
    return f"{LABEL_YEAR}{year}是未来年份"


# --- E-ORG ---------------------------------------------------------------------------------------

NO_ORG_CODE = f"封面缺少“{LABEL_ORG_CODE}”，请填写{ORG_CODE_DIGITS}位{LABEL_ORG_CODE}"


def org_code_length(code: str, digits: int = ORG_CODE_DIGITS) -> str:
    return f"{LABEL_ORG_CODE}应为{digits}位数字，填写的“{code[:40]}”有{len(code)}位"


def org_unknown(code: str) -> str:
    return f"{LABEL_ORG_CODE}{code}不在全市组织名录中，请核对代码"


def org_gone(code: str, year: int) -> str:
    return f"{LABEL_ORG_CODE}{code}在{year}年度已不在组织名录中（可能已撤并），请核实"


def org_on_wrong_form(name: str, code: str, level: str, own: Form, filed: Form) -> str:
    return f"{name}（{code}）是{LEVEL_NAMES[level]}，应填报 {own.form_id}，不应填报 {filed.form_id}"


def city_files_no_return(name: str, code: str) -> str:
    return (
        f"{LABEL_ORG_CODE} {code}（{name}）是市本级，市本级不填报年报；"
        f"请填写本单位（{LEVEL_NAMES['township']}或{LEVEL_NAMES['village']}）的{LABEL_ORG_CODE}"
    )


# --- E-CODE --------------------------------------------------------------------------------------


def code_not_in_form(code: str, form: Form) -> str:
    return f"指标代码“{code}”不是 {form.form_id} 规定的代码，请勿增加指标行"


def code_twice(code: str, other_cell: str) -> str:
    return f"指标代码{code}出现了两次（另见{other_cell}），请删除重复的行"


def row_missing(ind: Indicator) -> str:
    return f"缺少指标“{ind.name}”（代码{ind.code}）这一行，请使用统一下发的报表模板"


# --- E-VALUE: why a cell cannot be read (§5), then why a read value is out of its type's range (§4)


def uncached_formula(ind: Indicator) -> str:
    return f"“{ind.name}”是公式但没有计算结果，请在 Excel 中重新计算并保存，或直接填写数值"


def formula_error(ind: Indicator, error: str) -> str:
    """`error` the error value the cell holds, as its program spells it (#DIV/0!, #N/A, Err:502)."""
    return f"“{ind.name}”的单元格是错误值“{error}”（如公式计算出错），请修正公式或直接填写数值"


def unreadable(ind: Indicator, why: str) -> str:
    """`why` is one of the reasons below."""
    return f"“{ind.name}”{why}"


NOT_A_NUMBER = "不是有效数字"
A_DATE = "填写的是日期或时间，不是数值"
CHINESE_NUMERALS = "请用阿拉伯数字填写，不要用汉字数字"
NOT_EXACT = "请填写确切的数字，不要写“约”“余”“左右”等"
NOT_A_FLAG = "请填写“是”或“否”（或 1、0）"
NO_NUMBER = "无法识别为数字"


def wrong_unit(written: str, ind: Indicator) -> str:
    return f"单位“{written}”与本行计量单位“{ind.unit}”不符，请只填写数字"


def out_of_range(ind: Indicator, shown: str, decimals: int = AMOUNT_DECIMALS) -> str:
    want = {
        Kind.COUNT: f"应填写不小于0的整数（单位：{ind.unit}）",
        Kind.FLAG: "应填写“是”或“否”（或1、0）",
        Kind.AMOUNT: f"应填写不小于0、最多{decimals}位小数的数值（单位：{ind.unit}）",
    }[ind.kind]
    return f"“{ind.name}”{want}，实际填写为{shown}"


# --- E-RULE, E-PII -------------------------------------------------------------------------------


def rule_broken(rule_described: str, small: str, large: str) -> str:
    return f"{rule_described}，本表填写为{small}和{large}"


def pii_in_sheet_name(kind: str) -> str:
    return f"工作表名称中有{kind}，统计报表不得填写个人信息，请修改"


def pii_in_cell(kind: str) -> str:
    return f"单元格中有{kind}，统计报表不得填写个人信息，请删除"


# --- warnings ------------------------------------------------------------------------------------


def blank(ind: Indicator) -> str:
    return f"“{ind.name}”未填写，已按0处理；如确为0请直接填写0"


def footer_missing(label: str) -> str:
    return f"表尾缺少“{label}”，请补填"


def late(year: int, due: datetime, received: datetime) -> str:
    """`received` in the deadline's time zone."""
    return (
        f"{year}年度报表应于{due.year}年{due.month}月{due.day}日前报送，"
        f"本表于{received:%Y年%m月%d日}收到，已逾期"
    )


def prior_differs(ind: Indicator, written: str, year: int, loaded: str) -> str:
    return f"“{ind.name}”上年数填写{written}，与已入库的{year}年度数据{loaded}不一致"


def jumped(ind: Indicator, before: str, now: str, factor: float = JUMP_FACTOR) -> str:
    return f"“{ind.name}”由上年的{before}变为{now}，变化超过{factor:g}倍，请核实"


def rollup_differs(ind: Indicator, reported: str, counted: str, expected: str) -> str:
    return f"“{ind.name}”填报{reported}，按{counted}应为{expected}，请核实"


# --- a check with many findings lists the first ones and counts the rest -------------------------


def more_of_the_same(count: int) -> str:
    return f"……同类问题另有 {count} 处，未逐一列出"


MORE_OF_THE_SAME = re.compile(r"^……同类问题另有 (\d+) 处")  # reads the count back
