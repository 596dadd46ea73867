"""The checks a file can be judged by on its own (forms.md §6): identity, codes, values, PII, footer,
lateness. Checks that need other returns (value rules in GX, prior year, rollup) live beside it."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache

from pbstats.schemas.forms import (
    FORMS,
    LABEL_FILLER,
    LABEL_ORG_CODE,
    LABEL_ORG_NAME,
    LABEL_PHONE,
    LABEL_REPORT_DATE,
    LABEL_YEAR,
    MAX_SHEET_ROWS,
    Form,
    Indicator,
)
from pbstats.schemas.registry import Registry

from . import sandbox
from .locate import (
    Labelled,
    find_form_sheet,
    find_header,
    find_labels,
    footer_start,
    indicator_rows,
    label_cells,
    text_of,
)
from .model import CellAt, CheckedReturn, Finding, IndicatorRow, Received, Sheet, Workbook
from .values import norm_text, read_value
from .workbook import OVER_BUDGET, Unreadable, read_workbook

log = logging.getLogger("pbstats")

LEVEL_NAMES = {"village": "村（社区）", "township": "乡镇（街道）", "city": "市"}


@dataclass(frozen=True)
class Rulebook:
    """What the checks need to know beyond the file: who exists, what day it is, when returns are due."""

    registry: Registry
    today: date
    deadline_month_day: tuple[int, int] = (1, 31)  # of year Y+1, Asia/Shanghai end of day

    def deadline(self, year: int) -> datetime:
        from zoneinfo import ZoneInfo

        month, day = self.deadline_month_day
        return datetime(year + 1, month, day, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai"))


MAX_SAME_CHECK = 100  # findings of one check listed per file; the rest are counted in one more


def check_file(received: Received, data: bytes, rules: Rulebook) -> tuple[CheckedReturn, Workbook | None]:
    """Read one file and judge it on its own; never raises for bad content.

    Whatever leaves here as text (findings, the org's name, the sheet's name) is safe to store and to
    show: personal numbers masked, no control characters, bounded in length (forms.md §6 E-PII).
    """
    out, book = _check_file(received, data, rules)
    out.findings = [_scrubbed(f) for f in _capped(out.findings)]
    out.org_name = scrub(out.org_name, 200) if out.org_name else out.org_name
    out.sheet = scrub(out.sheet, 200) if out.sheet else out.sheet
    return out, book


def check_files(files: Sequence[tuple[Received, bytes]], rules: Rulebook) -> list[CheckedReturn]:
    """`check_file` for each file, in a guarded worker process (`transforms.sandbox`) that reads the
    whole batch and answers file by file: one round trip per batch, and the reading runs beside the
    caller (threads calling at once use as many workers). Never raises for bad content: a file that
    breaks the reader, or its worker, is rejected with a reason."""
    answers = sandbox.map_each(_check_in_worker, files, rules)
    out = []
    for (received, _), got in zip(files, answers, strict=True):
        if isinstance(got, sandbox.Failed):
            if got.why == "error":  # a reader bug must not stop the night
                log.error("reading %s failed: %s", received.file_name, got.detail)
                got = CheckedReturn(received=received, findings=[Finding("E-FILE", READER_FAILED)])
            else:
                got = CheckedReturn(received=received, findings=[Finding("E-FILE", OVER_BUDGET[got.why])])
        else:
            got.received = received  # the caller's own record of the file: never taken from a worker
        out.append(got)
    return out


READER_FAILED = "文件内容异常，系统无法读取，请重新导出后报送；如仍有问题请联系市委组织部"


def _check_in_worker(rules: Rulebook, received: Received, data: bytes) -> CheckedReturn:
    ret = check_file(received, data, rules)[0]
    ret.received = None  # type: ignore[assignment]  # the caller puts its own back
    return ret


def _check_file(received: Received, data: bytes, rules: Rulebook) -> tuple[CheckedReturn, Workbook | None]:
    out = CheckedReturn(received=received)
    book = read_workbook(data, received.file_name)
    if isinstance(book, Unreadable):
        out.findings.append(Finding("E-FILE", book.reason))
        return out, None
    out.findings.extend(find_pii(book))
    sheet, form_id = find_form_sheet(book)
    if sheet is None:
        why = (
            f"表号“{form_id[:40]}”不是本制度规定的报表（应为 DJ-1 或 DJ-2）"
            if form_id
            else "在所有工作表中都没有找到表号（DJ-1 或 DJ-2），请使用统一下发的报表模板"
        )
        out.findings.append(Finding("E-FORM", why))
        return out, book
    form = FORMS[form_id]
    out.form_id, out.sheet = form.form_id, sheet.name
    if sheet.total_rows > MAX_SHEET_ROWS:
        out.findings.append(
            Finding(
                "E-FILE", f"报表所在工作表有 {sheet.total_rows} 行，超过 10000 行的上限", sheet=sheet.name
            )
        )
        return out, book
    if not sheet.whole:  # kept in part only: it is far beyond a form's size
        out.findings.append(
            Finding(
                "E-FILE",
                f"报表所在工作表的使用范围达 {len(sheet.rows)} 行 × {sheet.total_cols} 列，"
                "远超报表的规模，请删除无关内容后报送",
                sheet=sheet.name,
            )
        )
        return out, book
    header = find_header(sheet)
    if header is None:
        out.findings.append(
            Finding(
                "E-FORM", "找不到表头行（应有“指标名称”“代码”“本年”三列标题），请勿删改表头", sheet=sheet.name
            )
        )
        return out, book
    cover = find_labels(sheet, range(header.row))
    _check_identity(out, form, cover, rules)
    stop = footer_start(sheet, header)
    _check_rows(out, form, indicator_rows(sheet, header, stop))
    footer = find_labels(sheet, range(header.row + 1, len(sheet.rows)))
    for label in (LABEL_FILLER, LABEL_REPORT_DATE):
        got = footer.get(label)
        if got is None or not got.text:
            out.findings.append(
                Finding("W-FOOTER", f"表尾缺少“{label}”，请补填", sheet=sheet.name, cell=_ref(got))
            )
    if out.year is not None and received.received_at > rules.deadline(out.year):
        due = rules.deadline(out.year)
        out.findings.append(
            Finding(
                "W-LATE",
                f"{out.year}年度报表应于{due.year}年{due.month}月{due.day}日前报送，"
                f"本表于{received.received_at.astimezone(due.tzinfo):%Y年%m月%d日}收到，已逾期",
            )
        )
    return out, book


def _ref(got: Labelled | None) -> str | None:
    return got.value.ref if got and got.value else None


def _check_identity(out: CheckedReturn, form: Form, cover: dict[str, Labelled], rules: Rulebook) -> None:
    sheet = out.sheet
    name = cover.get(LABEL_ORG_NAME)
    out.org_name = name.text if name and name.text else None

    year_label = cover.get(LABEL_YEAR)
    year_text = year_label.text if year_label else ""
    m = re.fullmatch(r"(\d{4})(年度|年)?", year_text or "")
    if not year_text:
        out.findings.append(
            Finding("E-YEAR", "封面缺少“统计年度”，请填写如“2025”", sheet=sheet, cell=_ref(year_label))
        )
    elif not m:
        out.findings.append(
            Finding(
                "E-YEAR",
                "“统计年度”应填写四位年份，如“2025”",
                sheet=sheet,
                cell=_ref(year_label),
                observed=year_text,
            )
        )
    elif int(m.group(1)) > rules.today.year:
        out.findings.append(
            Finding(
                "E-YEAR",
                f"统计年度{m.group(1)}是未来年份",
                sheet=sheet,
                cell=_ref(year_label),
                observed=year_text,
            )
        )
    else:
        out.year = int(m.group(1))

    code_label = cover.get(LABEL_ORG_CODE)
    code = (code_label.text or "") if code_label else ""
    cell = _ref(code_label)
    if not code:
        out.findings.append(
            Finding("E-ORG", "封面缺少“组织代码”，请填写12位组织代码", sheet=sheet, cell=cell)
        )
        return
    if not re.fullmatch(r"\d{12}", code):
        out.findings.append(
            Finding(
                "E-ORG",
                f"组织代码应为12位数字，填写的“{code[:40]}”有{len(code)}位",
                sheet=sheet,
                cell=cell,
                observed=code,
            )
        )
        return
    out.org_code = code
    if out.year is None:
        if not rules.registry.known(code):
            out.findings.append(
                Finding("E-ORG", f"组织代码{code}不在全市组织名录中", sheet=sheet, cell=cell, observed=code)
            )
        return
    org = rules.registry.org(code, out.year)
    if org is None:
        why = (
            f"组织代码{code}在{out.year}年度已不在组织名录中（可能已撤并），请核实"
            if rules.registry.known(code)
            else f"组织代码{code}不在全市组织名录中，请核对代码"
        )
        out.findings.append(Finding("E-ORG", why, sheet=sheet, cell=cell, observed=code))
    elif org.level != form.level:
        out.findings.append(
            Finding(
                "E-ORG",
                f"{org.name}（{code}）是{LEVEL_NAMES[org.level]}，应填报"
                f"{'DJ-1' if org.level == 'village' else 'DJ-2'}，不应填报 {form.form_id}",
                sheet=sheet,
                cell=cell,
                observed=code,
            )
        )


def _check_rows(out: CheckedReturn, form: Form, rows: list[IndicatorRow]) -> None:
    seen: dict[str, CellAt] = {}
    for row in rows:
        at = row.current
        if not form.has(row.code):
            out.findings.append(
                Finding(
                    "E-CODE",
                    f"指标代码“{row.code}”不是 {form.form_id} 规定的代码，请勿增加指标行",
                    sheet=at.sheet,
                    cell=at.ref,
                    observed=row.code,
                )
            )
            continue
        if row.code in seen:
            out.findings.append(
                Finding(
                    "E-CODE",
                    f"指标代码{row.code}出现了两次（另见{seen[row.code].ref}），请删除重复的行",
                    sheet=at.sheet,
                    cell=at.ref,
                    indicator_code=row.code,
                )
            )
            continue
        seen[row.code] = at
        _read_row(out, form.indicator(row.code), row)
    for ind in form.indicators:
        if ind.code not in seen:
            out.findings.append(
                Finding(
                    "E-CODE",
                    f"缺少指标“{ind.name}”（代码{ind.code}）这一行，请使用统一下发的报表模板",
                    sheet=out.sheet,
                    indicator_code=ind.code,
                )
            )


def _read_row(out: CheckedReturn, ind: Indicator, row: IndicatorRow) -> None:
    """The 本年 value of one indicator row (forms.md §5), and its 上年 figure where one is written."""
    at = row.current
    out.cells[row.code] = at.ref
    no_value = _formula_without_value(at, ind, row.code)
    if no_value:
        out.findings.append(no_value)
        return
    if _is_pii(at.raw):  # E-PII names this cell; the number is never read as a value
        return
    got = read_value(at.raw, ind)
    if got.problem:
        out.findings.append(
            Finding(
                "E-VALUE",
                f"“{ind.name}”{got.problem}",
                sheet=at.sheet,
                cell=at.ref,
                indicator_code=row.code,
                observed=mask_pii(text_of(at.raw))[:200],
            )
        )
        return
    if got.blank:
        shown = text_of(at.raw).strip()
        what = f"填写的是“{shown}”" if shown else "未填写"
        out.findings.append(
            Finding(
                "W-BLANK",
                f"“{ind.name}”{what}，已按0处理；如确为0请直接填写0",
                sheet=at.sheet,
                cell=at.ref,
                indicator_code=row.code,
                observed=shown or None,
            )
        )
    out.values[row.code] = got.value
    prior = row.prior
    if prior and not (prior.uncached_formula or prior.error or _is_pii(prior.raw)):
        was = read_value(prior.raw, ind)
        if was.value is not None and not was.blank:
            out.priors[row.code] = was.value
            out.prior_cells[row.code] = prior.ref


def _formula_without_value(at: CellAt, ind: Indicator, code: str) -> Finding | None:
    """E-VALUE for a cell that gives no value to read (forms.md §5): a formula with no cached value, or
    an error value where a figure should be (calamine reads both as an empty cell)."""
    if at.uncached_formula:
        why = "是公式但没有计算结果，请在 Excel 中重新计算并保存，或直接填写数值"
    elif at.error:
        why = f"的公式计算结果是错误值“{at.error}”，请修正公式后重新计算并保存，或直接填写数值"
    else:
        return None
    return Finding(
        "E-VALUE", f"“{ind.name}”{why}", sheet=at.sheet, cell=at.ref, indicator_code=code, observed=at.error
    )


# §6 E-PII: resident ID numbers (18 characters, checksum digit or X) and mobile numbers
ID_RE = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_LONG_RUN = re.compile(r"[\dXx*]{12,}")  # digits run together: look inside them too
_ID_INSIDE = re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_MOBILE_INSIDE = re.compile(r"1[3-9]\d{9}")
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")


def mask_pii(text: str) -> str:
    """The same text with every ID or mobile number masked (110105********002X, 138****5678), also
    where one runs into other digits ("2025 13812345678" once its blank is gone: 2025138****5678)."""
    text = ID_RE.sub(_mask_id, text)
    text = MOBILE_RE.sub(lambda m: re.sub(r"\d{4}(?=\D*\d{4}\D*$)", "****", m.group(0), count=1), text)
    return _LONG_RUN.sub(
        lambda m: _MOBILE_INSIDE.sub(_mask_mobile, _ID_INSIDE.sub(_mask_id, m.group(0))), text
    )


def _mask_id(m: re.Match[str]) -> str:
    return m.group(0)[:6] + "*" * 8 + m.group(0)[14:]


def _mask_mobile(m: re.Match[str]) -> str:
    return m.group(0)[:3] + "****" + m.group(0)[7:]


def _pii_text(v) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer() and 1e10 <= abs(v) < 1e18:
        return str(int(v))
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def find_pii(book: Workbook) -> list[Finding]:
    """Every ID or mobile number in any sheet, except the value of the 联系电话 field (the first
    MAX_SAME_CHECK of them, and one more finding that counts the rest)."""
    found: list[Finding] = []
    more = 0
    for sheet in book.sheets:
        kind = _pii_kind(sheet.name)
        if kind:
            found.append(
                Finding("E-PII", f"工作表名称中有{kind}，统计报表不得填写个人信息，请修改", sheet=sheet.name)
            )
        allowed = _phone_cells(sheet)
        for r, row in enumerate(sheet.rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                text = v if v.__class__ is str else _pii_text(v)
                if not text or len(text) < 11:
                    continue
                if (r, c) in allowed:
                    text = _besides_phone_numbers(text)
                kind = _pii_kind(text)
                if kind and len(found) >= MAX_SAME_CHECK:
                    more += 1  # counted, not described: a roster of thousands needs no list of thousands
                elif kind:
                    found.append(
                        Finding(
                            "E-PII",
                            f"单元格中有{kind}，统计报表不得填写个人信息，请删除",
                            sheet=sheet.name,
                            cell=CellAt(sheet.name, r, c, None).ref,
                            observed=mask_pii(text[:400])[:200],
                        )
                    )
    return found + ([_more("E-PII", more)] if more else [])


def _besides_phone_numbers(text: str) -> str:
    """What the 联系电话 cell holds besides the contact's numbers, which may be several (a mobile and a
    landline, two mobiles): the text before the label, and after it all but the mobile numbers. An ID
    number there is still personal data out of place."""
    before, label, after = norm_text(text).rpartition(LABEL_PHONE)
    return f"{before}{label} {MOBILE_RE.sub(' ', after)}"


def _pii_kind(text: str) -> str | None:
    return _short_pii_kind(text) if len(text) <= _MEMO_LEN else _scan_pii_kind(text)


def _scan_pii_kind(text: str) -> str | None:
    return "身份证号" if ID_RE.search(text) else "手机号" if MOBILE_RE.search(text) else None


_MEMO_LEN = 80  # a template's texts (indicator names, notes) repeat in every return: remembered
_short_pii_kind = lru_cache(maxsize=2048)(_scan_pii_kind)


def _is_pii(v) -> bool:
    text = _pii_text(v)
    return bool(text and len(text) >= 11 and _pii_kind(text))


# text that cannot be stored (NUL in PostgreSQL), encoded (lone surrogates) or written to XML
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def scrub(text: str, limit: int = 1000) -> str:
    """Text from a submitted file made safe to store, log and show: personal numbers masked, control
    characters and what no encoding can carry replaced, at most `limit` characters."""
    return _UNSAFE.sub("\ufffd", mask_pii(str(text)[: limit * 2]))[:limit]


def _scrubbed(f: Finding) -> Finding:
    return replace(
        f,
        message=scrub(f.message, 2000),
        sheet=scrub(f.sheet, 200) if f.sheet is not None else None,
        observed=scrub(f.observed, 200) if f.observed is not None else None,
    )


_MORE = "……同类问题另有 {} 处，未逐一列出"
_MORE_RE = re.compile(r"^……同类问题另有 (\d+) 处")


def _more(check_id: str, count: int) -> Finding:
    return Finding(check_id, _MORE.format(count))


def _capped(findings: list[Finding]) -> list[Finding]:
    """At most MAX_SAME_CHECK findings of each check, and one more that counts the rest."""
    seen: dict[str, int] = {}
    out = []
    for f in findings:
        counted = _MORE_RE.match(f.message) if f.cell is None else None
        seen[f.check_id] = seen.get(f.check_id, 0) + (int(counted.group(1)) if counted else 1)
        if not counted and seen[f.check_id] <= MAX_SAME_CHECK:
            out.append(f)
    for check_id, count in seen.items():
        if count > MAX_SAME_CHECK:
            out.append(_more(check_id, count - MAX_SAME_CHECK))
    return out


def _phone_cells(sheet: Sheet) -> set[tuple[int, int]]:
    """The cell of the 联系电话 field's value, where the sheet writes 联系电话 as such."""
    got = find_labels(sheet, range(len(sheet.rows))).get(LABEL_PHONE)
    if got is None or got.value is None or not _mentions_phone(sheet):
        return set()
    return {(got.value.row, got.value.col)}


def _mentions_phone(sheet: Sheet) -> bool:
    for r, c, label, _ in label_cells(sheet):  # most often the label's own cell says so
        if label == LABEL_PHONE and LABEL_PHONE in sheet.rows[r][c]:
            return True
    return any(isinstance(v, str) and LABEL_PHONE in v for row in sheet.rows for v in row)
