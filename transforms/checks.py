"""The checks a file can be judged by on its own (forms.md §6): identity, codes, values, PII, footer,
lateness. Checks that need other returns (value rules in GX, prior year, rollup) live beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache

from pbstats.schemas import messages as msg
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import (
    DEADLINE_MONTH_DAY,
    FORM_BY_LEVEL,
    FORMS,
    LABEL_FILLER,
    LABEL_ORG_CODE,
    LABEL_ORG_NAME,
    LABEL_PHONE,
    LABEL_REPORT_DATE,
    LABEL_YEAR,
    MAX_SHEET_ROWS,
    ORG_CODE_DIGITS,
    YEAR_SUFFIXES,
    Form,
)
from pbstats.schemas.registry import Registry

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
from .model import CellAt, CheckedReturn, Finding, Received, Sheet, Workbook
from .values import norm_text, read_value
from .workbook import Unreadable, read_workbook


@dataclass(frozen=True)
class Rulebook:
    """What the checks need to know beyond the file: who exists, what day it is, when returns are due."""

    registry: Registry
    today: date
    deadline_month_day: tuple[int, int] = DEADLINE_MONTH_DAY  # of year Y+1, Asia/Shanghai end of day

    def deadline(self, year: int) -> datetime:
        from zoneinfo import ZoneInfo

        month, day = self.deadline_month_day
        return datetime(year + 1, month, day, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai"))


MAX_SAME_CHECK = 100  # findings of one check listed per file; the rest are counted in one more


def check_file(received: Received, data: bytes, rules: Rulebook) -> tuple[CheckedReturn, Workbook | None]:
    """Read one file and judge it on its own; never raises for bad content. The reading happens in this
    process: the pipeline runs this in a guarded worker (`flows.readers.check_files`).

    Whatever leaves here as text (findings, the org's name, the sheet's name) is safe to store and to
    show: personal numbers masked, no control characters, bounded in length (forms.md §6 E-PII).
    """
    out, book = _check_file(received, data, rules)
    out.findings = [_scrubbed(f) for f in _capped(out.findings)]
    out.org_name = scrub(out.org_name, 200) if out.org_name else out.org_name
    out.sheet = scrub(out.sheet, 200) if out.sheet else out.sheet
    return out, book


def _check_file(received: Received, data: bytes, rules: Rulebook) -> tuple[CheckedReturn, Workbook | None]:
    out = CheckedReturn(received=received)
    book = read_workbook(data, received.file_name)
    if isinstance(book, Unreadable):
        out.findings.append(Finding(CheckId.E_FILE, book.reason))
        return out, None
    out.findings.extend(find_pii(book))
    sheet, form_id = find_form_sheet(book)
    if sheet is None:
        why = msg.unknown_form_id(form_id) if form_id else msg.NO_FORM_ID
        out.findings.append(Finding(CheckId.E_FORM, why))
        return out, book
    form = FORMS[form_id]
    out.form_id, out.sheet = form.form_id, sheet.name
    if sheet.total_rows > MAX_SHEET_ROWS:
        out.findings.append(Finding(CheckId.E_FILE, msg.sheet_too_long(sheet.total_rows), sheet=sheet.name))
        return out, book
    header = find_header(sheet)
    if header is None:
        out.findings.append(Finding(CheckId.E_FORM, msg.NO_HEADER, sheet=sheet.name))
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
                Finding(CheckId.W_FOOTER, msg.footer_missing(label), sheet=sheet.name, cell=_ref(got))
            )
    if out.year is not None and received.received_at > rules.deadline(out.year):
        due = rules.deadline(out.year)
        out.findings.append(
            Finding(
                CheckId.W_LATE,
                msg.late(out.year, due, received.received_at.astimezone(due.tzinfo)),
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
    m = re.fullmatch(rf"(\d{{4}})({'|'.join(YEAR_SUFFIXES)})?", year_text or "")
    if not year_text:
        out.findings.append(Finding(CheckId.E_YEAR, msg.NO_YEAR, sheet=sheet, cell=_ref(year_label)))
    elif not m:
        out.findings.append(
            Finding(
                CheckId.E_YEAR,
                msg.NOT_A_YEAR,
                sheet=sheet,
                cell=_ref(year_label),
                observed=year_text,
            )
        )
    elif int(m.group(1)) > rules.today.year:
        out.findings.append(
            Finding(
                CheckId.E_YEAR,
                msg.future_year(int(m.group(1))),
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
        out.findings.append(Finding(CheckId.E_ORG, msg.NO_ORG_CODE, sheet=sheet, cell=cell))
        return
    if not re.fullmatch(rf"\d{{{ORG_CODE_DIGITS}}}", code):
        out.findings.append(
            Finding(
                CheckId.E_ORG,
                msg.org_code_length(code),
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
                Finding(CheckId.E_ORG, msg.org_unknown(code), sheet=sheet, cell=cell, observed=code)
            )
        return
    org = rules.registry.org(code, out.year)
    if org is None:
        why = msg.org_gone(code, out.year) if rules.registry.known(code) else msg.org_unknown(code)
        out.findings.append(Finding(CheckId.E_ORG, why, sheet=sheet, cell=cell, observed=code))
    elif org.level != form.level:
        own = FORM_BY_LEVEL.get(org.level)
        why = (
            msg.org_on_wrong_form(org.name, code, org.level, own, form)
            if own
            else msg.city_files_no_return(org.name, code)
        )
        out.findings.append(Finding(CheckId.E_ORG, why, sheet=sheet, cell=cell, observed=code))


def _check_rows(out: CheckedReturn, form: Form, rows) -> None:
    seen: dict[str, CellAt] = {}
    for row in rows:
        at = row.current
        if not form.has(row.code):
            out.findings.append(
                Finding(
                    CheckId.E_CODE,
                    msg.code_not_in_form(row.code, form),
                    sheet=at.sheet,
                    cell=at.ref,
                    observed=row.code,
                )
            )
            continue
        if row.code in seen:
            out.findings.append(
                Finding(
                    CheckId.E_CODE,
                    msg.code_twice(row.code, seen[row.code].ref),
                    sheet=at.sheet,
                    cell=at.ref,
                    indicator_code=row.code,
                )
            )
            continue
        seen[row.code] = at
        ind = form.indicator(row.code)
        out.cells[row.code] = at.ref
        if at.uncached_formula:
            out.findings.append(
                Finding(
                    CheckId.E_VALUE,
                    msg.uncached_formula(ind),
                    sheet=at.sheet,
                    cell=at.ref,
                    indicator_code=row.code,
                )
            )
            continue
        if _is_pii(at.raw):  # E-PII names this cell; the number is never read as a value
            continue
        got = read_value(at.raw, ind)
        if got.problem:
            out.findings.append(
                Finding(
                    CheckId.E_VALUE,
                    msg.unreadable(ind, got.problem),
                    sheet=at.sheet,
                    cell=at.ref,
                    indicator_code=row.code,
                    observed=mask_pii(text_of(at.raw))[:200],
                )
            )
            continue
        if got.blank:
            out.findings.append(
                Finding(CheckId.W_BLANK, msg.blank(ind), sheet=at.sheet, cell=at.ref, indicator_code=row.code)
            )
        out.values[row.code] = got.value
        if row.prior is not None and not row.prior.uncached_formula and not _is_pii(row.prior.raw):
            prior = read_value(row.prior.raw, ind)
            if prior.value is not None and not prior.blank:
                out.priors[row.code] = prior.value
                out.prior_cells[row.code] = row.prior.ref
    for ind in form.indicators:
        if ind.code not in seen:
            out.findings.append(
                Finding(
                    CheckId.E_CODE,
                    msg.row_missing(ind),
                    sheet=out.sheet,
                    indicator_code=ind.code,
                )
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
            found.append(Finding(CheckId.E_PII, msg.pii_in_sheet_name(kind), sheet=sheet.name))
        allowed = _phone_cells(sheet)
        for r, row in enumerate(sheet.rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                text = v if v.__class__ is str else _pii_text(v)
                if not text or len(text) < 11:
                    continue
                if (r, c) in allowed:  # the 联系电话 value: only what else the cell holds counts
                    text = (
                        re.sub(r"^.*?联系电话[:：]?[-+\d]+", "", norm_text(text))
                        if LABEL_PHONE in text
                        else ""
                    )
                kind = _pii_kind(text)
                if kind and len(found) >= MAX_SAME_CHECK:
                    more += 1  # counted, not described: a roster of thousands needs no list of thousands
                elif kind:
                    found.append(
                        Finding(
                            CheckId.E_PII,
                            msg.pii_in_cell(kind),
                            sheet=sheet.name,
                            cell=CellAt(sheet.name, r, c, None).ref,
                            observed=mask_pii(text[:400])[:200],
                        )
                    )
    return found + ([_more(CheckId.E_PII, more)] if more else [])


def _pii_kind(text: str) -> str | None:
    return _short_pii_kind(text) if len(text) <= _MEMO_LEN else _scan_pii_kind(text)


def _scan_pii_kind(text: str) -> str | None:
    return msg.ID_NUMBER if ID_RE.search(text) else msg.MOBILE if MOBILE_RE.search(text) else None


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


def _more(check_id: CheckId, count: int) -> Finding:
    return Finding(check_id, msg.more_of_the_same(count))


def _capped(findings: list[Finding]) -> list[Finding]:
    """At most MAX_SAME_CHECK findings of each check, and one more that counts the rest."""
    seen: dict[CheckId, int] = {}
    out = []
    for f in findings:
        counted = msg.MORE_OF_THE_SAME.match(f.message) if f.cell is None else None
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
