"""The feedback workbook's own wording (its 问题清单 sheet and the comments on marked cells), in Chinese.

What each finding says is in schemas/messages.py; this is the frame around the findings. The caps a
note quotes are the feedback writer's own (transforms/feedback.py), passed in by it.
"""

from __future__ import annotations

LIST_SHEET = "问题清单"
HEADER = ("序号", "类别", "检查项", "工作表", "单元格", "指标代码", "说明", "填写内容")
ERROR, WARNING = "错误", "提示"  # the 类别 of a finding
COMMENT_AUTHOR = "审核程序"
CLOSING = (
    "请在原报表文件中逐项修改以上问题（本文件后面附有您报送的工作表，出错的单元格标红、需核实的单元格标黄，"
    f"并附批注说明），修改后重新报送即可，文件名可保持不变。“{WARNING}”类问题请核实，确属实际情况的可不修改。"
)
NOT_ATTACHED = "原文件无法打开，未附原表，请对照本清单修改。"
TOO_BIG = "原文件解压后超过大小限制，未附原表，请对照本清单修改。"


def title(file_name: str, findings: int, errors: int) -> str:
    return (
        f"《{file_name}》审核意见：共发现 {findings} 个问题，"
        f"其中{ERROR} {errors} 个（须修改后重新报送）、{WARNING} {findings - errors} 个"
    )


def comment_line(category: str, check: str, message: str) -> str:
    return f"【{category}】{check}：{message}"


def not_listed(count: int) -> str:
    return f"……另有 {count} 个问题未列出。"


def too_many_sheets(limit: int) -> str:
    return f"原文件超过{limit}个工作表，其余工作表未附上。"


def sheet_unreadable(sheet_name: str) -> str:
    return f"工作表“{sheet_name}”无法读取，未附上。"


def sheet_cut(sheet_name: str, rows: int, cols: int) -> str:
    return f"工作表“{sheet_name}”超过{rows}行或{cols}列，超出部分未附上。"


def text_cut(sheet_name: str, chars: int) -> str:
    return f"工作表“{sheet_name}”中有超过{chars}个字的内容，只附上了前{chars}个字。"
