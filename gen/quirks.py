"""The variety of returns the pipeline must ACCEPT (forms.md §3 and §5), one named quirk each.

A quirk edits a submission's layout or the spelling of its cells without changing what must
load; `apply` returns False when the submission has no place for it (e.g. no zero cell to
write as "—"), and the planner then tries another quirk. Only `blank_cell` causes a warning.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FLAG_FALSE, FLAG_TRUE, ZERO_TOKENS, Kind

from .layout import GAP, Row
from .submission import Ctx, Submission, add_sheet, instructions_sheet, note_row
from .workbook import Cell, Grid

FULLWIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
YES, NO = "是", "否"
assert YES in FLAG_TRUE and NO in FLAG_FALSE and "√" in FLAG_TRUE and "×" in FLAG_FALSE
# §5 spellings of zero: 无, 0, a dash or a slash all read as 0 with no warning (only a blank cell is W-BLANK)
ZERO_SPELLINGS = {
    "zero_emdash": "—",
    "zero_double_emdash": "——",
    "zero_en_dash": "–",
    "zero_hyphen": "-",
    "zero_fw_hyphen": "－",
    "zero_slash": "/",
    "zero_fw_slash": "／",
    "zero_wu": "无",
    "zero_text": "0",
}
assert {unicodedata.normalize("NFKC", t) for t in ZERO_SPELLINGS.values()} <= ZERO_TOKENS | {"0"}
COUNT_UNITS = ("人", "个", "人次", "起", "件")


@dataclass(frozen=True)
class Quirk:
    """A named kind of accepted variety."""

    name: str
    apply: Callable[[Submission, Ctx], bool]
    kinds: tuple[str, ...] = ("xlsx", "xlsm", "xls", "ods")  # file kinds it can be written in


# ---------------------------------------------------------------- sheets


def _sheet_after_others(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    roll = ctx.rng.random()
    if roll < 0.7:
        add_sheet(sub.doc, instructions_sheet(sub.doc, sub.year), before=True)
    if roll > 0.4:
        add_sheet(sub.doc, breakdown_sheet(sub, ctx), before=True)
    return True


def breakdown_sheet(sub: Submission, ctx: Ctx) -> Grid:
    """An 附表 the sender keeps beside the form: how 01 splits up (党员 or 村/社区)."""
    value = int(sub.values["01"])
    if sub.form.level == "village":
        parts = (("正式党员", value - int(sub.values["02"])), ("预备党员", int(sub.values["02"])))
    else:
        communities = ctx.rng.randint(0, value // 3)
        parts = (("社区", communities), ("行政村", value - communities))
    grid = Grid("附表1")
    grid.put(0, 0, "项目", bold=True)
    grid.put(0, 1, "数量", bold=True)
    for i, (label, n) in enumerate(parts, start=1):
        grid.put(i, 0, label)
        grid.put(i, 1, n)
    return grid


def _sheet_renamed(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    level = "村级" if sub.form.level == "village" else "乡镇"
    sub.doc.sheet_name = ctx.rng.choice(
        ("Sheet1", "年报", f"{sub.year}年报", f"{level}年报表", "统计表", "报表(2)")
    )
    return True


def _extra_sheet_after(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    add_sheet(sub.doc, Grid(ctx.rng.choice(("Sheet2", "Sheet3", "备用"))), before=False)
    return True


# ---------------------------------------------------------------- table layout


def _shifted(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.top, sub.doc.left = ctx.rng.randint(1, 3), ctx.rng.randint(1, 2)
    return True


def _blank_rows_inside(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    rows = sub.doc.rows
    for _ in range(ctx.rng.randint(1, 2)):
        rows.insert(ctx.rng.randint(1, len(rows) - 1), note_row(""))
    sub.doc.blank_rows_after_cover = ctx.rng.randint(0, 1)
    return True


def _blank_col_inside(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    cols = sub.doc.columns
    if GAP in cols:
        return False
    cols.insert(ctx.rng.randint(1, len(cols) - 1), GAP)
    return True


def _title_merged_tall(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    if sub.doc.title_merge != "cols":
        return False
    sub.doc.title_merge = "tall"
    return True


def _title_unmerged(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    if sub.doc.title_merge != "cols":
        return False
    sub.doc.title_merge = "none"
    return True


def _no_column_numbers_row(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.column_numbers = False
    return True


def _note_row_bottom(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    sub.doc.rows.append(
        note_row("注：1.本表数据统计截至当年年末；2.集体经济收入以万元为单位，保留两位小数。")
    )
    return True


def _subheading_row(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    rows = sub.doc.rows
    code, heading = ("05", "驻村力量：") if sub.form.level == "village" else ("10", "执纪问责情况：")
    heading = ctx.rng.choice((heading, "其中："))
    at = next(i for i, r in enumerate(rows) if r.indicator is not None and r.indicator.code == code)
    rows.insert(at, note_row(heading))
    return True


def _no_prior_col(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    if "prior" in sub.pinned or "prior" not in sub.doc.columns:
        return False
    sub.doc.columns.remove("prior")
    return True


def _no_note_col(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    if "note" in sub.pinned or "note" not in sub.doc.columns or any(not r.note.blank for r in sub.doc.rows):
        return False
    sub.doc.columns.remove("note")
    return True


def _cols_reordered(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    orders = (
        ["code", "name", "unit", "current", "prior", "note"],
        ["name", "code", "unit", "prior", "current", "note"],
        ["name", "code", "current", "prior", "unit", "note"],
        ["name", "code", "unit", "current", "note", "prior"],
    )
    present = [c for c in sub.doc.columns if c != GAP]
    options = [[c for c in order if c in present] for order in orders]
    options = [o for o in options if o != present]
    if not options:
        return False
    sub.doc.columns = ctx.rng.choice(options)
    return True


def _notes_filled(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    if "note" not in sub.doc.columns:
        return False
    texts = {
        "01": ("含流动党员{n}名", 2, 6),
        "10": ("新增网格{n}个", 1, 3),
        "11": ("含线上培训", 0, 0),
        "04": ("换届后实现", 0, 0),
        "17": ("含“万名党员进党校”轮训", 0, 0),
        "02": ("均为上年发展", 0, 0),
        "14": ("第一种形态为主", 0, 0),
    }
    done = False
    for row in sub.doc.indicator_rows():
        assert row.indicator is not None
        spec = texts.get(row.indicator.code)
        if spec and ctx.rng.random() < 0.7:
            row.note = Cell(spec[0].format(n=ctx.rng.randint(spec[1], max(spec[1], spec[2]))))
            done = True
    return done


# ---------------------------------------------------------------- cover block


def _cover_halfwidth_colon(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    items = [i for i in sub.doc.cover.values() if i.style == "full"]
    for item in items:
        item.style = "half"
    return bool(items)


def _cover_next_cell(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    keys = ["form_id", "org_name", "org_code", "year"]
    chosen = [k for k in keys if ctx.rng.random() < 0.6] or [ctx.rng.choice(keys)]
    for key in chosen:
        sub.doc.cover[key].style = "next"
    return True


def _cover_split(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    layouts = (
        [[("form_id", 0), ("year", 4)], [("org_name", 0)], [("org_code", 0), ("issuer", 3)]],
        [[("issuer", 0), ("form_id", 4)], [("org_name", 0), ("year", 2), ("org_code", 4)]],
        [[("form_id", 0)], [("issuer", 0)], [("org_name", 0)], [("org_code", 0)], [("year", 0)]],
        [[("form_id", 0), ("org_code", 2), ("year", 4)], [("org_name", 0), ("issuer", 2)]],
    )
    sub.doc.cover_rows = [list(line) for line in ctx.rng.choice(layouts)]
    return True


def _org_code_number(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    item = sub.doc.cover["org_code"]
    item.value, item.style = int(sub.org_code), "next"
    return True


def _year_spelling(
    make: Callable[[int], object], next_cell: bool | None
) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        item = sub.doc.cover["year"]
        if "year" in sub.pinned:
            return False
        item.value = make(sub.year)
        sub.pinned.add("year")  # one spelling of the year per return
        if next_cell or (next_cell is None and ctx.rng.random() < 0.5):
            item.style = "next"
        return True

    return apply


# ---------------------------------------------------------------- cell spellings (forms.md §5)


def _code_as_number(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    for row in sub.doc.indicator_rows():
        assert row.indicator is not None
        row.code = int(row.indicator.code)
    return True


def _respell(
    pick: Callable[[Row, float], bool], spell: Callable[[Row, float, Ctx], Cell], every: bool = False
):
    """A quirk that writes the 本年 cell of one (or every) fitting untouched row another way."""

    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        rows = [
            r for r in sub.doc.free_rows() if r.indicator and pick(r, float(sub.values[r.indicator.code]))
        ]
        if not rows:
            return False
        for row in rows if every else [ctx.rng.choice(rows)]:
            assert row.indicator is not None
            row.current = spell(row, float(sub.values[row.indicator.code]), ctx)
            row.touched = True
        return True

    return apply


def _is(kind: Kind, positive: bool | None = None) -> Callable[[Row, float], bool]:
    def pick(row: Row, value: float) -> bool:
        assert row.indicator is not None
        return row.indicator.kind is kind and (positive is None or (value > 0) == positive)

    return pick


def _zero(row: Row, value: float) -> bool:
    return value == 0


def _count_text(value: float) -> str:
    return str(int(value))


def _amount_text(value: float) -> str:
    return f"{value:.2f}"


def _thousands(value: float) -> str:
    text = f"{value:,.2f}"
    return text[:-1] if text.endswith("0") else text


def _with_unit(row: Row, value: float) -> bool:
    return _is(Kind.COUNT, True)(row, value) and row.unit in COUNT_UNITS


def _formula_sum(sub: Submission, ctx: Ctx) -> bool:
    """01 as =SUM over a breakdown on an extra sheet, with its cached result."""
    assert sub.doc is not None
    row = sub.doc.row("01")
    value = int(sub.values["01"])
    if row.touched or value < 2:
        return False
    grid = breakdown_sheet(sub, ctx)
    add_sheet(sub.doc, grid, before=False)
    row.current = Cell(value, formula=f"=SUM('{grid.name}'!B2:B3)")
    row.touched = True
    return True


def _formula_literal(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    rows = [r for r in sub.doc.free_rows() if r.indicator and r.indicator.kind is Kind.COUNT]
    rows = [r for r in rows if r.indicator and sub.values[r.indicator.code] > 0]
    if not rows:
        return False
    row = ctx.rng.choice(rows)
    assert row.indicator is not None
    value = int(sub.values[row.indicator.code])
    row.current = Cell(value, formula=f"={value}")
    row.touched = True
    return True


# ---------------------------------------------------------------- footer


def _footer_next_cell(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None
    for item in sub.doc.footer.values():
        item.style = "next"
    placed = [k for line in sub.doc.footer_rows for k, _ in line]
    sub.doc.footer_rows = [
        [(k, 3 * (i % 2)) for i, k in enumerate(placed[j : j + 2])] for j in range(0, len(placed), 2)
    ]
    return True


def _report_date_cell(sub: Submission, ctx: Ctx) -> bool:
    assert sub.doc is not None and sub.saved_at is not None
    item = sub.doc.footer["date"]
    if item.value in (None, "") or "footer" in sub.pinned:
        return False
    item.value, item.style = sub.saved_at.date(), "next"
    return True


# ---------------------------------------------------------------- file level


def _shared_strings(sub: Submission, ctx: Ctx) -> bool:
    sub.shared_strings = True
    return True


def _name_style(style: str) -> Callable[[Submission, Ctx], bool]:
    def apply(sub: Submission, ctx: Ctx) -> bool:
        if sub.name_style != "plain":
            return False
        sub.name_style = style
        return True

    return apply


def _blank(row: Row, value: float, ctx: Ctx) -> Cell:
    return Cell()


QUIRKS: dict[str, Quirk] = {
    q.name: q
    for q in (
        Quirk("sheet_after_others", _sheet_after_others),
        Quirk("sheet_renamed", _sheet_renamed),
        Quirk("extra_sheet_after", _extra_sheet_after),
        Quirk("shifted", _shifted),
        Quirk("blank_rows_inside", _blank_rows_inside),
        Quirk("blank_col_inside", _blank_col_inside),
        Quirk("title_merged_tall", _title_merged_tall),
        Quirk("title_unmerged", _title_unmerged),
        Quirk("no_column_numbers_row", _no_column_numbers_row),
        Quirk("note_row_bottom", _note_row_bottom),
        Quirk("subheading_row", _subheading_row),
        Quirk("no_prior_col", _no_prior_col),
        Quirk("no_note_col", _no_note_col),
        Quirk("cols_reordered", _cols_reordered),
        Quirk("notes_filled", _notes_filled),
        Quirk("cover_halfwidth_colon", _cover_halfwidth_colon),
        Quirk("cover_next_cell", _cover_next_cell),
        Quirk("cover_split", _cover_split),
        Quirk("org_code_number", _org_code_number),
        Quirk("year_number", _year_spelling(lambda y: y, True)),
        Quirk("year_text", _year_spelling(str, True)),
        Quirk("year_nian", _year_spelling(lambda y: f"{y}年", None)),
        Quirk("year_niandu", _year_spelling(lambda y: f"{y}年度", None)),
        Quirk("code_as_number", _code_as_number),
        Quirk("num_float", _respell(_is(Kind.COUNT, True), lambda r, v, c: Cell(float(v)))),
        Quirk("num_text", _respell(_is(Kind.COUNT, True), lambda r, v, c: Cell(_count_text(v)))),
        Quirk("num_padded", _respell(_is(Kind.COUNT, True), lambda r, v, c: Cell(f" {_count_text(v)} "))),
        Quirk(
            "num_fullwidth",
            _respell(_is(Kind.COUNT, True), lambda r, v, c: Cell(_count_text(v).translate(FULLWIDTH))),
        ),
        Quirk("num_with_unit", _respell(_with_unit, lambda r, v, c: Cell(f"{_count_text(v)}{r.unit}"))),
        Quirk(
            "amount_thousands",
            _respell(lambda r, v: _is(Kind.AMOUNT)(r, v) and v >= 1000, lambda r, v, c: Cell(_thousands(v))),
        ),
        Quirk("amount_text", _respell(_is(Kind.AMOUNT, True), lambda r, v, c: Cell(_amount_text(v)))),
        Quirk("flag_yes_no", _respell(_is(Kind.FLAG), lambda r, v, c: Cell(YES if v else NO), every=True)),
        Quirk(
            "flag_check_cross", _respell(_is(Kind.FLAG), lambda r, v, c: Cell("√" if v else "×"), every=True)
        ),
        *(
            Quirk(name, _respell(_zero, lambda r, v, c, t=token: Cell(t)))
            for name, token in ZERO_SPELLINGS.items()
        ),
        Quirk("blank_cell", _respell(_zero, _blank)),
        Quirk("formula_sum", _formula_sum, kinds=("xlsx", "xlsm")),
        Quirk("formula_literal", _formula_literal, kinds=("xlsx", "xlsm")),
        Quirk("footer_next_cell", _footer_next_cell),
        Quirk("report_date_cell", _report_date_cell),
        Quirk("shared_strings", _shared_strings, kinds=("xlsx", "xlsm")),
        Quirk("renamed_file", _name_style("renamed")),
        Quirk("generic_file_name", _name_style("generic")),
    )
}

# file kinds other than .xlsx are quirks too; the planner picks them before the rest
KIND_QUIRKS = ("xlsm", "xls", "ods")
CATALOGUE = (*QUIRKS, *KIND_QUIRKS)
WARNING_OF_QUIRK = {"blank_cell": CheckId.W_BLANK}
