"""The case catalogue: returns that must be REJECTED (one primary error id each, forms.md §6) and
accepted returns that must carry a given warning.

A case edits a freshly built submission; `apply` returns False when the submission cannot
carry it (the planner then picks another sender). Rules cases are derived from `schemas.forms`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import (
    DJ2,
    FORMS,
    HEADER_CODE,
    HEADER_CURRENT,
    HEADER_NAME,
    HEADER_UNIT,
    Kind,
    Rule,
)

from .layout import build_doc
from .submission import Ctx, Submission, add_sheet, instructions_sheet, mobile, note_row, person, resident_id
from .values import township
from .workbook import Cell, docx_bytes, pdf_bytes

ANY_FORM = tuple(FORMS)
SHEET_KINDS = ("xlsx", "xlsm", "xls", "ods")
CN_DIGITS = "零一二三四五六七八九十"


@dataclass(frozen=True)
class Case:
    """A named way a return goes wrong (error) or gets flagged (warning)."""

    name: str
    check_id: CheckId
    apply: Callable[[Submission, Ctx], bool]
    forms: tuple[str, ...] = ANY_FORM  # forms whose senders can carry it
    kinds: tuple[str, ...] = SHEET_KINDS  # kinds it may be written in (first = preferred)
    needs_prior: bool = False  # needs a value loaded for the year before


# ---------------------------------------------------------------- E-FILE


def _raw(suffix: str, make: Callable[[Submission, Ctx], bytes]) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        sub.payload, sub.suffix = make(sub, ctx), suffix
        return True

    return apply


def _random_bytes(sub: Submission, ctx: Ctx) -> bytes:
    return b"\x17\x03" + ctx.rng.randbytes(ctx.rng.randint(2000, 9000))


def _table_lines(sub: Submission) -> list[list[str]]:
    lines = [[HEADER_NAME, HEADER_CODE, HEADER_UNIT, HEADER_CURRENT]]
    lines += [[i.name, i.code, i.unit, str(sub.values[i.code])] for i in sub.form.indicators]
    return lines


def _csv(sub: Submission, ctx: Ctx) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(
        [[sub.form.title], [f"组织代码：{sub.org_code}", f"统计年度：{sub.year}"], *_table_lines(sub)]
    )
    return buf.getvalue().encode("utf-8-sig")


def _txt(sub: Submission, ctx: Ctx) -> bytes:
    return f"市委组织部：\n    {sub.org.name}{sub.year}年党建统计年报已填好，数据见表格，请查收。\n".encode()


def _pdf(sub: Submission, ctx: Ctx) -> bytes:
    return pdf_bytes([f"DJ report {sub.org_code} {sub.year}"])


def _docx(sub: Submission, ctx: Ctx) -> bytes:
    assert sub.saved_at is not None
    lines = [f"{sub.org.name}{sub.year}年度党建工作总结"] + ["\t".join(line) for line in _table_lines(sub)]
    return docx_bytes(lines, sub.saved_at)


def _truncated(sub: Submission, ctx: Ctx) -> bool:
    sub.truncate = True
    return True


def _no_cells(sub: Submission, ctx: Ctx) -> bool:
    sub.doc = None
    return True


# ---------------------------------------------------------------- E-FORM, E-ORG, E-YEAR


def _no_form_id(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.cover_rows = [[(k, s) for k, s in line if k != "form_id"] for line in sub.doc.cover_rows]
    sub.doc.sheet_name = "Sheet1"
    return True


def _unknown_form_id(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.cover["form_id"].value = "DJ-9"
    sub.doc.sheet_name = "Sheet1"
    return True


def _no_header(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.header = False
    return True


def _org_code(make: Callable[[Submission, Ctx], object]) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        value = make(sub, ctx)
        if value is False:
            return False
        sub.doc.cover["org_code"].value = value
        return True

    return apply


def _unknown_code(sub: Submission, ctx: Ctx) -> object:
    for _ in range(50):
        code = sub.org_code[:9] + f"{ctx.rng.randint(400, 999):03d}"
        if not ctx.registry.known(code):
            return code
    return False


def _eleven_digits(sub: Submission, ctx: Ctx) -> object:
    cut = ctx.rng.randint(6, 11)
    return sub.org_code[:cut] + sub.org_code[cut + 1 :]


def _wrong_level(sub: Submission, ctx: Ctx) -> bool:
    """A village fills in the township form (DJ-2) by mistake, with its own code."""
    if sub.form.level != "village":
        return False
    values = township(ctx.rng, [sub.values], 1, None)
    sub.form, sub.values = DJ2, values
    assert sub.doc is not None and sub.saved_at is not None
    old = sub.doc
    sub.doc = build_doc(
        DJ2,
        org_name=str(old.cover["org_name"].value),
        org_code=sub.org_code,
        year=sub.year,
        values=values,
        prior=None,
        head=str(old.footer["head"].value),
        filler=str(old.footer["filler"].value),
        phone=str(old.footer["phone"].value),
        report_date=sub.saved_at.date(),
    )
    return True


def _year(value: object) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        sub.doc.cover["year"].value = value
        sub.pinned.add("year")
        return True

    return apply


def _future_year(sub: Submission, ctx: Ctx) -> bool:
    return _year(str(max(2031, sub.year + 6)))(sub, ctx)


# ---------------------------------------------------------------- E-CODE


def _row_missing(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.rows.remove(ctx.rng.choice(sub.doc.indicator_rows()[1:]))
    return True


def _code_twice(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    rows = sub.doc.rows
    row = ctx.rng.choice(sub.doc.indicator_rows())
    twin = type(row)(
        row.indicator, row.code, row.name, row.unit, Cell(row.current.value), Cell(row.prior.value)
    )
    rows.insert(rows.index(row) + 1, twin)
    return True


def _code_undefined(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    code = f"{len(sub.form.indicators) + 1:02d}"
    assert not sub.form.has(code)
    extra = note_row("其他需要说明的事项")
    extra.code, extra.unit, extra.current = code, "个", Cell(ctx.rng.randint(1, 5))
    sub.doc.rows.append(extra)
    return True


# ---------------------------------------------------------------- E-VALUE


Spell = Callable[[float, Submission, Ctx], Cell]


def _bad_cell(kind: Kind, pick: Callable[[float], bool], spell: Spell) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        rows = [r for r in sub.doc.indicator_rows() if r.indicator and r.indicator.kind is kind]
        rows = [r for r in rows if r.indicator and pick(float(sub.values[r.indicator.code]))]
        if not rows:
            return False
        row = ctx.rng.choice(rows)
        assert row.indicator is not None
        row.current, row.touched = spell(float(sub.values[row.indicator.code]), sub, ctx), True
        return True

    return apply


def _any(value: float) -> bool:
    return True


# ---------------------------------------------------------------- E-RULE


def _break_rule(rule: Rule, sub: Submission, ctx: Ctx) -> bool:
    """Make `small` exceed `large`, the way such slips happen (a flag set without its parent,
    a sub-count typed above its total)."""
    large_kind = sub.form.indicator(rule.large).kind
    if large_kind is Kind.FLAG:
        sub.set_value(rule.large, 0)
        sub.set_value(rule.small, 1)
    else:
        sub.set_value(rule.small, sub.values[rule.large] + ctx.rng.randint(1, 3))
    return True


def _rule_cases() -> list[Case]:
    return [
        Case(
            f"rule_{form.form_id}_{rule.small}_gt_{rule.large}",
            CheckId.E_RULE,
            partial(_break_rule, rule),
            forms=(form.form_id,),
        )
        for form in FORMS.values()
        for rule in form.rules
    ]


# ---------------------------------------------------------------- E-PII


def _id_in_note(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    if "note" not in sub.doc.columns:
        sub.doc.columns.append("note")
    row = ctx.rng.choice(sub.doc.indicator_rows())
    row.note = Cell(f"联系人{person(ctx.rng)}，身份证{resident_id(ctx.rng, sub.year)}")
    sub.pinned.add("note")
    return True


def _mobile_in_note_row(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.rows.append(note_row(f"注：数据如有疑问请联系{person(ctx.rng)}，{mobile(ctx.rng)}"))
    return True


def _mobile_other_sheet(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    extra = f"四、联系人：{person(ctx.rng)}，手机{mobile(ctx.rng)}"
    add_sheet(sub.doc, instructions_sheet(sub.doc, sub.year, extra), before=ctx.rng.random() < 0.5)
    return True


# ---------------------------------------------------------------- warnings on accepted returns


def _footer_drop(key: str) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        sub.doc.footer_rows = [[(k, s) for k, s in line if k != key] for line in sub.doc.footer_rows]
        sub.pinned.add("footer")
        return True

    return apply


def _footer_blank_date(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.footer["date"].value = None
    sub.pinned.add("footer")
    return True


def _prior_mismatch(sub: Submission, ctx: Ctx) -> bool:
    """The 上年 column of one indicator disagrees with what was loaded for last year (a typo)."""
    assert sub.doc is not None and sub.loaded_prior is not None
    codes = [i.code for i in sub.form.indicators if i.kind is Kind.COUNT]
    code = ctx.rng.choice(codes)
    if "prior" not in sub.doc.columns:
        sub.doc.columns.insert(sub.doc.columns.index("current") + 1, "prior")
    row = sub.doc.row(code)
    row.prior = Cell(int(sub.loaded_prior[code]) + ctx.rng.randint(1, 9))
    sub.pinned.add("prior")
    return True


def _jump(sub: Submission, ctx: Ctx) -> bool:
    """A count moves more than 3× against last year (either way), with the larger at least 10."""
    assert sub.loaded_prior is not None
    code = "11" if sub.form.level == "village" else ctx.rng.choice(("04", "14", "17"))
    before = int(sub.loaded_prior[code])
    if before >= 14 and ctx.rng.random() < 0.4:
        after = int(before / ctx.rng.uniform(3.5, 5))
    else:
        after = max(12, round(before * ctx.rng.uniform(3.5, 5)))
    sub.set_value(code, after)
    return True


def _rollup_count(sub: Submission, ctx: Ctx) -> bool:
    """A township's DJ-2 01 disagrees with the registry (typically: last year's count kept after a merge)."""
    true_count = int(sub.values["01"])
    floor = max(int(sub.values["08"]), int(sub.values["09"]))
    before = len(ctx.registry.villages_of(sub.org_code, sub.year - 1))
    if before and before != true_count and before >= floor:
        wrong = before
    elif true_count - 1 >= floor and ctx.rng.random() < 0.5:
        wrong = true_count - 1
    else:
        wrong = true_count + 1
    sub.set_value("01", wrong)
    return True


def _rollup_villages(sub: Submission, ctx: Ctx) -> bool:
    """A township's 08 (one-shoulder villages) disagrees with its villages' returns."""
    v08, v01 = int(sub.values["08"]), int(sub.values["01"])
    if v01 == 0:
        return False
    sub.set_value("08", v08 + 1 if v08 + 1 <= v01 else v08 - 1)
    return True


# ---------------------------------------------------------------- catalogues

ERROR_CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("file_truncated", CheckId.E_FILE, _truncated, kinds=("xlsx",)),
        Case("file_random_bytes", CheckId.E_FILE, _raw(".xlsx", _random_bytes), kinds=("xlsx",)),
        Case("file_empty", CheckId.E_FILE, _raw(".xlsx", lambda s, c: b""), kinds=("xlsx",)),
        Case("file_txt", CheckId.E_FILE, _raw(".txt", _txt), kinds=("xlsx",)),
        Case("file_csv", CheckId.E_FILE, _raw(".csv", _csv), kinds=("xlsx",)),
        Case("file_pdf", CheckId.E_FILE, _raw(".pdf", _pdf), kinds=("xlsx",)),
        Case("file_docx", CheckId.E_FILE, _raw(".docx", _docx), kinds=("xlsx",)),
        Case("file_no_cells", CheckId.E_FILE, _no_cells, kinds=("xlsx",)),
        Case("form_no_form_id", CheckId.E_FORM, _no_form_id),
        Case("form_unknown_form_id", CheckId.E_FORM, _unknown_form_id),
        Case("form_no_header", CheckId.E_FORM, _no_header),
        Case("org_unknown", CheckId.E_ORG, _org_code(_unknown_code)),
        Case("org_11_digits", CheckId.E_ORG, _org_code(_eleven_digits)),
        Case("org_missing", CheckId.E_ORG, _org_code(lambda s, c: None)),
        Case("org_wrong_level", CheckId.E_ORG, _wrong_level, forms=("DJ-1",)),
        Case("year_missing", CheckId.E_YEAR, _year(None)),
        Case("year_word", CheckId.E_YEAR, _year("去年")),
        Case("year_future", CheckId.E_YEAR, _future_year),
        Case("code_row_missing", CheckId.E_CODE, _row_missing),
        Case("code_twice", CheckId.E_CODE, _code_twice),
        Case("code_undefined", CheckId.E_CODE, _code_undefined),
        Case(
            "value_chinese_numeral",
            CheckId.E_VALUE,
            _bad_cell(Kind.COUNT, lambda v: 1 <= v <= 10, lambda v, s, c: Cell(CN_DIGITS[int(v)])),
        ),
        Case(
            "value_approx",
            CheckId.E_VALUE,
            _bad_cell(Kind.COUNT, lambda v: v > 0, lambda v, s, c: Cell(f"约{int(v)}")),
        ),
        Case(
            "value_wrong_unit",
            CheckId.E_VALUE,
            _bad_cell(Kind.COUNT, lambda v: v > 0, lambda v, s, c: Cell(f"{int(v)}户")),
        ),
        Case(
            "value_date",
            CheckId.E_VALUE,
            _bad_cell(Kind.COUNT, _any, lambda v, s, c: Cell(date(s.year, 12, c.rng.randint(1, 31)))),
        ),
        Case("value_negative", CheckId.E_VALUE, _bad_cell(Kind.COUNT, _any, lambda v, s, c: Cell(-3))),
        Case("value_fraction", CheckId.E_VALUE, _bad_cell(Kind.COUNT, _any, lambda v, s, c: Cell(2.5))),
        Case(
            "value_flag_2",
            CheckId.E_VALUE,
            _bad_cell(Kind.FLAG, _any, lambda v, s, c: Cell(2)),
            forms=("DJ-1",),
        ),
        Case(
            "value_amount_3dp",
            CheckId.E_VALUE,
            _bad_cell(Kind.AMOUNT, _any, lambda v, s, c: Cell(1.234)),
            forms=("DJ-1",),
        ),
        Case(
            "value_formula_uncached",
            CheckId.E_VALUE,
            _bad_cell(Kind.COUNT, lambda v: v > 0, lambda v, s, c: Cell(None, formula=f"={int(v)}")),
            kinds=("xlsx", "xlsm"),
        ),
        *_rule_cases(),
        Case("pii_id_in_note", CheckId.E_PII, _id_in_note),
        Case("pii_mobile_in_note_row", CheckId.E_PII, _mobile_in_note_row),
        Case("pii_mobile_other_sheet", CheckId.E_PII, _mobile_other_sheet),
    )
}

# a return for an org the registry no longer has that year (a merged township's old code);
# planned separately: there is no real sender to correct it
NOT_VALID_IN_YEAR = "org_not_valid_in_year"

WARNING_CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("footer_missing_filler", CheckId.W_FOOTER, _footer_drop("filler")),
        Case("footer_blank_date", CheckId.W_FOOTER, _footer_blank_date),
        Case("prior_mismatch", CheckId.W_PRIOR, _prior_mismatch, needs_prior=True),
        Case("jump", CheckId.W_JUMP, _jump, needs_prior=True),
        Case("rollup_count", CheckId.W_ROLLUP, _rollup_count, forms=("DJ-2",)),
        Case("rollup_villages", CheckId.W_ROLLUP, _rollup_villages, forms=("DJ-2",)),
    )
}

# W-LATE comes from the arrival time alone
LATE_CASES = ("late", "late_edge")
