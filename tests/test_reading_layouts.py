"""What other programs write, read as the rulebook says (forms.md §3, §5, §6): formulas whose cached
value is an error, headers and labels in merged cells, large sheets beside the form, and XML escapes
in sheet names, in every file kind the generator writes."""

from __future__ import annotations

import io
import random
import zipfile

import openpyxl
import pytest

from pbstats.gen.sheets import appendix_sheet
from pbstats.gen.workbook import Cell, CellError, Grid
from tests.builders import gen_return, good_values, make_return
from tests.test_reading import VILLAGE, _repacked, ids, judge

ERROR_VALUES = ("#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!")


def _errs(ret) -> list[tuple[str, str | None, str | None]]:
    return [(f.check_id, f.cell, f.observed) for f in ret.findings]


@pytest.mark.parametrize("kind", ["xlsx", "xlsm", "xls", "ods"])
@pytest.mark.parametrize("error", ERROR_VALUES)
def test_a_formula_whose_cached_value_is_an_error_is_named_not_read_as_blank(kind, error):
    """forms.md §5: an error value is not blank; calamine reads it as an empty string, so the reader
    finds it in the file's own structure (t="e", a BIFF error result, calcext:value-type="error")."""

    def broken(doc):
        doc.row("05").current = Cell(CellError(error), formula="=1/0")

    ret = judge(gen_return(kind, change=broken), f"张家村2025年报.{kind}")
    assert _errs(ret) == [("E-VALUE", "D10", error)]
    assert "05" not in ret.values and error in ret.findings[0].message


# LibreOffice's own error codes (Excel 365 saves its newer errors, #SPILL! and the like, as #VALUE!)
@pytest.mark.parametrize("kind,error", [("ods", "Err:502"), ("ods", "Err:504"), ("ods", "#NAME?")])
def test_any_other_error_value_is_named_too(kind, error):
    def broken(doc):
        doc.row("01").current = Cell(CellError(error), formula="=SEQUENCE(2)")

    assert _errs(judge(gen_return(kind, change=broken), f"a.{kind}")) == [("E-VALUE", "D6", error)]


def test_an_error_value_typed_without_a_formula_is_named():
    def typed(doc):
        doc.row("03").current = Cell(CellError("#N/A"))

    assert _errs(judge(gen_return("xlsx", change=typed))) == [("E-VALUE", "D8", "#N/A")]


@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
def test_a_formula_without_a_cached_value_is_an_error_in_every_kind(kind):
    """xlwt, like openpyxl, computes nothing: its formulas carry a blank result, which is no value."""

    def uncached(doc):
        doc.row("01").current = Cell(None, formula="=50+10")

    assert [(f.check_id, f.cell) for f in judge(gen_return(kind, change=uncached), f"a.{kind}").findings] == [
        ("E-VALUE", "D6")
    ]


def _cover(style: str, span: int = 1, value_span: int = 1):
    """Each cover item on a line of its own from column B, in cells merged as given."""

    def change(doc):
        for item in doc.cover.values():
            item.style, item.span, item.value_span = style, span, value_span
        doc.cover_rows = [[(key, 1)] for key in ("form_id", "issuer", "org_name", "org_code", "year")]

    return change


def _footer(style: str, span: int = 1, value_span: int = 1):
    def change(doc):
        for item in doc.footer.values():
            item.style, item.span, item.value_span = style, span, value_span
        step = span + (value_span if style == "next" else 0)
        doc.footer_rows = [[("head", 0), ("filler", step)], [("phone", 0), ("date", step)]]

    return change


def _set(**attrs):
    def change(doc):
        for name, value in attrs.items():
            setattr(doc, name, value)

    return change


MERGED_LAYOUTS = {
    "header-over-two-rows": _set(header_rows=2),
    "header-over-two-rows-no-prior": _set(header_rows=2, columns=["name", "code", "unit", "current", "note"]),
    "header-over-two-rows-prior-first": _set(
        header_rows=2, columns=["name", "code", "unit", "prior", "current", "note"]
    ),
    "header-over-two-rows-no-number-row": _set(header_rows=2, column_numbers=False),
    "figures-merged-across-two-columns": _set(current_span=2),
    "figures-merged-under-a-two-row-header": _set(current_span=2, header_rows=2),
    "cover-labels-merged": _cover("next", span=2),
    "cover-labels-merged-wide": _cover("next", span=4),
    "cover-values-merged": _cover("next", value_span=2),
    "cover-label-and-value-merged": _cover("full", span=3),
    "footer-labels-merged": _footer("next", span=2),
    "footer-labels-merged-wide": _footer("next", span=4),
    "footer-values-merged": _footer("next", value_span=2),
    "footer-label-and-value-merged": _footer("full", span=2),
}


@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
@pytest.mark.parametrize("layout", MERGED_LAYOUTS)
def test_merged_headers_labels_and_figures_read_as_the_plain_layout(layout, kind):
    """forms.md §3: a merged range's value stands in every cell it covers when labels are looked for
    (the second row of a two-row header holds 指标名称, 代码 and 本年), and a figure merged across
    columns sits in the merged range's top-left cell."""
    ret = judge(gen_return(kind, change=MERGED_LAYOUTS[layout]), f"张家村2025年报.{kind}")
    assert ids(ret) == [], [f.message for f in ret.findings]
    assert (ret.form_id, ret.org_code, ret.year) == ("DJ-1", VILLAGE, 2025)
    assert {k: float(v) for k, v in ret.values.items()} == {
        k: float(v) for k, v in good_values("DJ-1").items()
    }


def test_a_figure_merged_across_two_columns_is_named_by_its_top_left_cell():
    def merged(doc):
        doc.current_span, doc.header_rows = 2, 2
        doc.row("01").current = Cell("三")

    ret = judge(gen_return("ods", change=merged), "a.ods")
    assert [(f.check_id, f.cell) for f in ret.findings] == [("E-VALUE", "D7")]
    assert ret.cells["02"] == "D8" and ret.prior_cells == {}


def _unpacked(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sum(i.file_size for i in zf.infolist())


@pytest.fixture(scope="module")
def with_appendix() -> dict[str, bytes]:
    """The clean return beside an appendix of 11,000 members × 30 columns (330,000 cells), as Excel
    saves it (shared strings: 1.3 MB, 11 MB unpacked) and as WPS saves an .xls."""
    appendix = appendix_sheet(random.Random(9), 11_000, 30)
    return {
        "xlsx": gen_return("xlsx", sheets_after=[appendix], shared_strings=True),
        "xls": gen_return("xls", sheets_after=[appendix]),
    }


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_a_large_side_sheet_is_read_and_the_form_found(with_appendix, kind):
    """forms.md §6: the 10,000-row limit is the form sheet's; a file within 20 MB / 100 MB is read."""
    data = with_appendix[kind]
    if kind == "xlsx":
        assert 1_000_000 < len(data) < 2_000_000 and 10_000_000 < _unpacked(data) < 20_000_000
    ret = judge(data, f"张家村2025年报.{kind}")
    assert ids(ret) == [], [f.message for f in ret.findings]
    assert {k: float(v) for k, v in ret.values.items()} == {
        k: float(v) for k, v in good_values("DJ-1").items()
    }


def test_a_large_side_sheet_is_not_kept_beyond_its_head(with_appendix):
    """Only the form's sheet is kept whole: of a sheet too large to be the form, the head (where a
    表号 would stand) and the cells that may hold personal data; nothing else reaches Python."""
    from pbstats.transforms.locate import COVER_SCAN_ROWS
    from pbstats.transforms.workbook import read_workbook

    book = read_workbook(with_appendix["xlsx"], "a.xlsx")
    form, appendix = book.sheets
    assert form.whole and not appendix.whole and appendix.total_rows == 11_001
    assert len(appendix.rows[0]) == 30 and not any(appendix.rows[COVER_SCAN_ROWS:])


def _long_sheet(rows: int, at: tuple[int, int], value: object) -> Grid:
    """A narrow side sheet of `rows` rows, its data from column B, with `value` at `at`."""
    grid = Grid("名单")
    for r in range(rows):
        grid.put(r, 1, f"第{r + 1}户")
        grid.put(r, 2, r % 7)
    grid.put(*at, value)
    return grid


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_a_personal_number_deep_in_a_large_side_sheet_is_still_found(kind):
    sheet = _long_sheet(10_500, (10_400, 3), "联系人 13912345678")
    ret = judge(gen_return(kind, sheets_after=[sheet]), f"a.{kind}")
    assert [(f.check_id, f.sheet, f.cell) for f in ret.findings] == [("E-PII", "名单", "D10401")]


def test_a_contact_number_deep_in_a_large_side_sheet_is_let_through():
    sheet = _long_sheet(10_500, (10_400, 3), "联系电话")
    sheet.put(10_400, 4, "13912345678")
    assert ids(judge(gen_return("xlsx", sheets_after=[sheet]))) == []


def test_a_form_sheet_over_10000_rows_is_still_refused():
    edited = openpyxl.load_workbook(io.BytesIO(make_return()))
    edited.active["A10500"] = "以下空白"
    out = io.BytesIO()
    edited.save(out)
    ret = judge(out.getvalue())
    assert ids(ret) == ["E-FILE"] and "10000 行" in ret.findings[0].message


def test_a_form_sheet_too_wide_for_a_form_is_still_refused():
    edited = openpyxl.load_workbook(io.BytesIO(make_return()))
    edited.active.cell(row=9000, column=40, value="x")
    out = io.BytesIO()
    edited.save(out)
    ret = judge(out.getvalue())
    assert ids(ret) == ["E-FILE"] and "远超报表的规模" in ret.findings[0].message


@pytest.mark.parametrize(
    "kind,written", [("xlsx", b"&amp;"), ("xlsx", b"&#38;"), ("xlsx", b"&#x26;"), ("ods", b"&#38;")]
)
def test_a_sheet_name_is_unescaped_as_xml_says(kind, written):
    """What the survey finds in a sheet (here a formula with no cached value) is matched to the sheet
    calamine reads by its name: `&#38;` is as much an ampersand as `&amp;`."""

    def uncached(doc):
        doc.sheet_name = "村&社区"
        doc.row("01").current = Cell(None, formula="=50+10")

    data = gen_return(kind, change=uncached)
    name = 'name="村&amp;社区"'.encode()
    part = "xl/workbook.xml" if kind == "xlsx" else "content.xml"
    data = _repacked(data, {}, {part: (name, name.replace(b"&amp;", written))})
    ret = judge(data, f"a.{kind}")
    assert (ret.sheet, [(f.check_id, f.cell) for f in ret.findings]) == ("村&社区", [("E-VALUE", "D6")])
