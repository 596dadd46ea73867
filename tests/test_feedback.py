"""The feedback workbook: the list of findings first, the submitter's sheets marked, nothing live copied."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import datetime

import openpyxl
import pytest
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from python_calamine import CalamineWorkbook

from pbstats.transforms import feedback
from pbstats.transforms.feedback import ERROR_FILL, LIST_SHEET, WARNING_FILL, build_feedback
from pbstats.transforms.model import Finding

LOOKS_LIKE_A_FORMULA = '=HYPERLINK("http://x","y")'


def xlsx(fill: Callable[[openpyxl.Workbook], None]) -> bytes:
    book = openpyxl.Workbook()
    book.active.title = "DJ-1"
    fill(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def village_return(book: openpyxl.Workbook) -> None:
    sheet = book["DJ-1"]
    sheet["A1"] = "村（社区）党组织建设情况年报"
    sheet.merge_cells("A1:F1")
    sheet.append([])
    sheet.append(["表号：DJ-1"])
    sheet.append(["指标名称", "代码", "计量单位", "本年", "上年", "备注"])
    sheet.append(["党员总数", "01", "人", "三", 44])
    sheet.append(["其中：预备党员", "02", "人", None, 3])
    sheet.column_dimensions["A"].width = 30


def xls(rows: dict[tuple[int, int], object], merges: tuple[tuple[int, int, int, int], ...] = ()) -> bytes:
    book, rows = xlwt.Workbook(), dict(rows)
    sheet = book.add_sheet("DJ-1")
    for r0, r1, c0, c1 in merges:
        sheet.write_merge(r0, r1, c0, c1, rows.pop((r0, c0), ""))
    for (row, col), value in rows.items():
        date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
        sheet.write(row, col, value, date_style if isinstance(value, datetime) else xlwt.Style.default_style)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ods(rows: list[list[object]]) -> bytes:
    document = OpenDocumentSpreadsheet()
    table = Table(name="DJ-1")
    for values in rows:
        row = TableRow()
        for value in values:
            if isinstance(value, int | float):
                cell = TableCell(valuetype="float", value=value)
            else:
                cell = TableCell(valuetype="string")
            cell.addElement(P(text=str(value)))
            row.addElement(cell)
        table.addElement(row)
    document.spreadsheet.addElement(table)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def rezip(
    original: bytes, edit: Callable[[str, bytes], bytes], added: dict[str, bytes] | None = None
) -> bytes:
    """The same package with each part passed through `edit`, and `added` parts."""
    source = zipfile.ZipFile(io.BytesIO(original))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            target.writestr(name, edit(name, source.read(name)))
        for name, part in (added or {}).items():
            target.writestr(name, part)
    return out.getvalue()


def with_cached_values(original: bytes, cached: dict[str, tuple[str, str]]) -> bytes:
    """Give formula cells a cached value, as Excel would have saved them (openpyxl writes none)."""

    def cache(name: str, part: bytes) -> bytes:
        for ref, (kind, value) in cached.items() if name == "xl/worksheets/sheet1.xml" else ():
            pattern = rf'<c r="{ref}"([^>]*)><f>(.*?)</f>(?:<v ?/>|<v></v>)'.encode()
            part, n = re.subn(pattern, rf'<c r="{ref}" t="{kind}"><f>\2</f><v>{value}</v>'.encode(), part)
            assert n == 1, ref
        return part

    return rezip(original, cache)


def opened(workbook: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(workbook))


def listed(workbook: bytes) -> list[tuple]:
    """The rows of the findings table on 问题清单."""
    rows = list(opened(workbook)[LIST_SHEET].iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == "序号") + 1
    return [row for row in rows[start:] if isinstance(row[0], int)]


def list_text(workbook: bytes) -> str:
    return "\n".join(
        str(v) for row in opened(workbook)[LIST_SHEET].iter_rows(values_only=True) for v in row if v
    )


def has_formula(workbook: bytes) -> bool:
    archive = zipfile.ZipFile(io.BytesIO(workbook))
    return any(re.search(rb"<(\w+:)?f[ >/]", archive.read(name)) for name in archive.namelist())


VALUE = Finding("E-VALUE", "“三”不能读成人数", "DJ-1", "D5", "01", "三")
BLANK = Finding("W-BLANK", "本年数为空，已按0读取", "DJ-1", "D6", "02")
RULE = Finding("E-RULE", "预备党员不得多于党员总数", "DJ-1", "D6", "02")
NO_CELL = Finding("E-FORM", "找不到表头行")
ELSEWHERE = Finding("E-PII", "含有手机号", "不存在的表", "A1")


def test_a_marked_cell_is_filled_and_carries_the_check_and_message():
    out = build_feedback(xlsx(village_return), "张家村2025年报.xlsx", [BLANK, VALUE])
    sheet = opened(out)["DJ-1"]
    assert sheet["D5"].fill.fgColor.rgb == ERROR_FILL.fgColor.rgb
    assert "数值无法识别" in sheet["D5"].comment.text and VALUE.message in sheet["D5"].comment.text
    assert sheet["D6"].fill.fgColor.rgb == WARNING_FILL.fgColor.rgb
    assert BLANK.message in sheet["D6"].comment.text
    assert sheet["D5"].value == "三" and sheet["E5"].value == 44  # the rest as submitted
    assert "A1:F1" in {str(r) for r in sheet.merged_cells.ranges} and sheet.column_dimensions["A"].width == 30


def test_the_workbook_is_made_in_memory_with_no_temporary_file(monkeypatch):
    """openpyxl's own save writes each sheet to a temporary file: the builder writes none."""
    import openpyxl.worksheet._writer as sheet_writer

    def no_file(suffix=""):
        raise AssertionError("a temporary file was asked for")

    original = xlsx(village_return)  # openpyxl's own save, before the patch
    monkeypatch.setattr(sheet_writer, "create_temporary_file", no_file)
    out = build_feedback(original, "x.xlsx", [VALUE])
    book = opened(out)
    assert book.sheetnames == [LIST_SHEET, "DJ-1"]  # not the list alone (what a failed copy gives)
    assert book["DJ-1"]["D5"].comment is not None and book["DJ-1"]["E5"].value == 44
    assert "xl/comments/comment1.xml" in zipfile.ZipFile(io.BytesIO(out)).namelist()


def test_several_findings_on_one_cell_share_one_comment_and_the_error_colour():
    sheet = opened(build_feedback(xlsx(village_return), "x.xlsx", [BLANK, RULE]))["DJ-1"]
    assert BLANK.message in sheet["D6"].comment.text and RULE.message in sheet["D6"].comment.text
    assert sheet["D6"].fill.fgColor.rgb == ERROR_FILL.fgColor.rgb


def test_a_finding_inside_a_merge_marks_the_merged_cell():
    finding = Finding("E-FORM", "标题不对", "DJ-1", "C1")
    sheet = opened(build_feedback(xlsx(village_return), "x.xlsx", [finding]))["DJ-1"]
    assert finding.message in sheet["A1"].comment.text


def test_the_list_comes_first_and_lists_every_finding_errors_first():
    out = build_feedback(xlsx(village_return), "张家村2025年报.xlsx", [BLANK, VALUE, NO_CELL])
    assert opened(out).sheetnames == [LIST_SHEET, "DJ-1"]
    text = list_text(out)
    assert "《张家村2025年报.xlsx》" in text and "共发现 3 个问题" in text
    assert "错误 2 个" in text and "提示 1 个" in text
    assert "重新报送" in text.splitlines()[-1]
    assert listed(out) == [
        (1, "错误", "E-VALUE 数值无法识别", "DJ-1", "D5", "01", VALUE.message, "三"),
        (2, "错误", "E-FORM 找不到报表", None, None, None, NO_CELL.message, None),
        (3, "提示", "W-BLANK 空白按0处理", "DJ-1", "D6", "02", BLANK.message, None),
    ]
    assert opened(out)[LIST_SHEET].freeze_panes == "A3"  # title, header


def test_findings_without_a_cell_or_on_a_missing_sheet_are_only_listed():
    odd = Finding("E-VALUE", "单元格写法不对", "DJ-1", "not a cell")
    out = build_feedback(xlsx(village_return), "x.xlsx", [ELSEWHERE, NO_CELL, odd])
    assert [row[6] for row in listed(out)] == [ELSEWHERE.message, NO_CELL.message, odd.message]
    assert not [cell for row in opened(out)["DJ-1"].iter_rows() for cell in row if cell.comment]


def test_formulas_come_out_as_their_cached_values_and_never_as_formulas():
    def with_formulas(book):
        village_return(book)
        book["DJ-1"]["D7"] = "=E5+1"
        book["DJ-1"]["D8"] = LOOKS_LIKE_A_FORMULA
        book["DJ-1"]["D9"] = "=1/0"
        book["DJ-1"]["D10"] = '="=1+1"'

    original = with_cached_values(
        xlsx(with_formulas),
        {"D7": ("n", "45"), "D8": ("str", "y"), "D9": ("e", "#DIV/0!"), "D10": ("str", "=1+1")},
    )
    assert has_formula(original) and opened(original)["DJ-1"]["D7"].value == "=E5+1"
    out = build_feedback(original, "x.xlsx", [Finding("E-VALUE", "公式", "DJ-1", "D7")])
    assert not has_formula(out)
    sheet = opened(out)["DJ-1"]
    assert [sheet[f"D{row}"].value for row in range(7, 11)] == [45, "y", "#DIV/0!", "=1+1"]
    rows = CalamineWorkbook.from_filelike(io.BytesIO(out)).get_sheet_by_name("DJ-1").to_python()
    assert rows[6][3] == 45 and rows[7][3] == "y"


def test_a_formula_without_a_cached_value_comes_out_blank():
    out = build_feedback(xlsx(lambda book: book["DJ-1"].__setitem__("A1", "=SUM(B1:B2)")), "x.xlsx", [])
    assert not has_formula(out) and opened(out)["DJ-1"]["A1"].value is None


def text_cell(book: openpyxl.Workbook) -> None:
    cell = book["DJ-1"]["B2"]
    cell.value = LOOKS_LIKE_A_FORMULA
    cell.data_type = "s"  # a text cell, as Excel saves one typed with a leading apostrophe


@pytest.mark.parametrize(
    "original",
    [xlsx(text_cell), xls({(1, 1): LOOKS_LIKE_A_FORMULA}), ods([[], ["", LOOKS_LIKE_A_FORMULA]])],
    ids=["xlsx", "xls", "ods"],
)
def test_text_that_looks_like_a_formula_stays_text(original):
    observed = Finding("E-VALUE", "不能读成数值", "DJ-1", "B2", observed=LOOKS_LIKE_A_FORMULA)
    out = build_feedback(original, "x", [observed])
    assert not has_formula(out)
    sheet = opened(out)["DJ-1"]
    assert sheet["B2"].value == LOOKS_LIKE_A_FORMULA and sheet["B2"].data_type == "s"
    assert listed(out)[0][7] == LOOKS_LIKE_A_FORMULA


def test_links_validations_and_names_are_not_copied():
    def live(book):
        sheet = book["DJ-1"]
        sheet["A1"] = "点此"
        sheet["A1"].hyperlink = "http://example.invalid/"
        validation = DataValidation(type="list", formula1='"是,否"')
        validation.add("B1:B5")
        sheet.add_data_validation(validation)
        book.defined_names["secret"] = DefinedName("secret", attr_text="'DJ-1'!$A$1")

    out = build_feedback(xlsx(live), "x.xlsx", [])
    archive = zipfile.ZipFile(io.BytesIO(out))
    xml = b"".join(archive.read(name) for name in archive.namelist())
    assert b"hyperlink" not in xml and b"dataValidation" not in xml
    assert not re.search(rb"<definedName[ >]", xml)
    assert b"example.invalid" not in xml and opened(out)["DJ-1"]["A1"].value == "点此"


def test_macros_of_an_xlsm_are_not_copied():
    def macro_enabled(name: str, part: bytes) -> bytes:
        if name == "[Content_Types].xml":
            part = part.replace(
                b"openxmlformats-officedocument.spreadsheetml.sheet.main", b"ms-excel.sheet.macroEnabled.main"
            )
            return part.replace(
                b"<Default ",
                b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default ',
                1,
            )
        if name == "xl/_rels/workbook.xml.rels":
            kind = b"http://schemas.microsoft.com/office/2006/relationships/vbaProject"
            vba = b'<Relationship Id="rId99" Type="' + kind + b'" Target="vbaProject.bin"/>'
            return part.replace(b"</Relationships>", vba + b"</Relationships>")
        return part

    original = rezip(xlsx(village_return), macro_enabled, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 macros"})
    assert opened(original).sheetnames == ["DJ-1"]  # openpyxl reads it: the styled copy is the one tested
    out = build_feedback(original, "x.xlsm", [VALUE])
    archive = zipfile.ZipFile(io.BytesIO(out))
    assert "xl/vbaProject.bin" not in archive.namelist()
    assert b"macroEnabled" not in archive.read("[Content_Types].xml")
    assert VALUE.message in opened(out)["DJ-1"]["D5"].comment.text


def test_xls_is_rebuilt_with_values_and_merges():
    original = xls(
        {
            (0, 0): "村（社区）党组织建设情况年报",
            (4, 0): "党员总数",
            (4, 1): "01",
            (4, 3): "三",
            (5, 3): 2,
            (10, 0): datetime(2026, 1, 15),
        },
        merges=((0, 0, 0, 5),),
    )
    out = build_feedback(original, "张家村.xls", [VALUE, Finding("E-FORM", "标题", "DJ-1", "B1")])
    sheet = opened(out)["DJ-1"]
    assert (sheet["A5"].value, sheet["B5"].value, sheet["D6"].value) == ("党员总数", "01", 2)
    assert sheet["A11"].value == datetime(2026, 1, 15)
    assert "A1:F1" in {str(r) for r in sheet.merged_cells.ranges} and "标题" in sheet["A1"].comment.text
    assert sheet["D5"].fill.fgColor.rgb == ERROR_FILL.fgColor.rgb
    assert VALUE.message in sheet["D5"].comment.text


def test_ods_is_rebuilt_with_values():
    out = build_feedback(
        ods([["表号：DJ-1"], [], [], [], ["党员总数", "01", "人", "三", 44]]), "x.ods", [VALUE]
    )
    sheet = opened(out)["DJ-1"]
    assert (sheet["A1"].value, sheet["E5"].value) == ("表号：DJ-1", 44)
    assert VALUE.message in sheet["D5"].comment.text


def garbage_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<not xml")
        archive.writestr("xl/workbook.xml", b"\x00\x01")
    return out.getvalue()


@pytest.mark.parametrize(
    "original",
    [b"", b"not a spreadsheet at all", bytes(range(256)) * 40, xlsx(village_return)[:500], garbage_zip()],
    ids=["empty", "text", "binary", "truncated-xlsx", "garbage-zip"],
)
def test_unreadable_input_gives_just_the_list(original):
    findings = [Finding("E-FILE", "文件已损坏"), Finding("X-UNKNOWN", "未知检查", "DJ-1", "A1")]
    out = build_feedback(original, "坏文件.xlsx", findings)
    assert opened(out).sheetnames == [LIST_SHEET]
    assert feedback.NOT_ATTACHED in list_text(out) and len(listed(out)) == 2


def test_a_submitted_sheet_called_like_the_list_is_kept_renamed_and_marked():
    def clash(book):
        book["DJ-1"].title = LIST_SHEET
        book[LIST_SHEET]["A1"] = "我自己的表"

    out = build_feedback(xlsx(clash), "x.xlsx", [Finding("E-FORM", "找不到表号", LIST_SHEET, "A1")])
    book = opened(out)
    assert book.sheetnames[0] == LIST_SHEET and len(book.sheetnames) == 2
    assert book.worksheets[1]["A1"].value == "我自己的表"
    assert "找不到表号" in book.worksheets[1]["A1"].comment.text


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_copies_are_capped_and_the_list_says_so(monkeypatch, kind):
    monkeypatch.setattr(feedback, "MAX_ROWS", 5)
    monkeypatch.setattr(feedback, "MAX_COLS", 3)
    monkeypatch.setattr(feedback, "MAX_TEXT", 10)
    cells = {(0, 0): "一二三四五六七八九十十一十二", (1, 4): "far right", (8, 0): "far down", (2, 1): 7}
    if kind == "xlsx":
        original = xlsx(lambda book: [book["DJ-1"].cell(r + 1, c + 1, v) for (r, c), v in cells.items()])
    else:
        original = xls(cells)
    out = build_feedback(original, "x", [Finding("E-VALUE", "太远", "DJ-1", "A9")])
    sheet = opened(out)["DJ-1"]
    assert (sheet.max_row, sheet.max_column) == (3, 2)  # far right and far down left out
    assert sheet["A1"].value == "一二三四五六七八九十" and sheet["B3"].value == 7
    text = list_text(out)
    assert "超过5行或3列" in text and "前10个字" in text and "太远" in text


def test_a_far_away_cell_does_not_make_a_dense_grid():
    def far(book):
        book["DJ-1"]["A1"] = "党员总数"
        book["DJ-1"]["XFD1048576"] = "x"

    out = build_feedback(xlsx(far), "x.xlsx", [])
    sheet = opened(out)["DJ-1"]
    assert sheet["A1"].value == "党员总数" and sheet.max_row == 1 and "超出部分未附上" in list_text(out)


def test_a_huge_merge_is_not_handed_to_openpyxl(monkeypatch):
    monkeypatch.setattr(feedback, "MAX_DENSE_CELLS", 100)
    opened_by_openpyxl = []
    real = feedback._from_openpyxl
    monkeypatch.setattr(feedback, "_from_openpyxl", lambda data: opened_by_openpyxl.append(1) or real(data))

    def big_merge(book):
        book["DJ-1"]["A1"] = "标题"
        book["DJ-1"].merge_cells("A1:Z100")

    out = build_feedback(xlsx(big_merge), "x.xlsx", [])
    assert not opened_by_openpyxl and opened(out)["DJ-1"]["A1"].value == "标题"
    assert build_feedback(xlsx(village_return), "x.xlsx", []) and opened_by_openpyxl


def test_an_xlsx_openpyxl_refuses_is_rebuilt_from_its_values():
    def bad_title(
        name: str, part: bytes
    ) -> bytes:  # openpyxl rejects ":" in a sheet title, calamine does not
        return part.replace(b'name="DJ-1"', b'name="DJ:1"') if name == "xl/workbook.xml" else part

    original = rezip(xlsx(village_return), bad_title)
    with pytest.raises(ValueError):
        opened(original)
    out = build_feedback(original, "x.xlsx", [Finding("E-VALUE", "不是数字", "DJ:1", "D5")])
    sheet = opened(out)["DJ_1"]
    assert sheet["A5"].value == "党员总数" and "不是数字" in sheet["D5"].comment.text


def bad_title_xlsx() -> bytes:
    """An .xlsx openpyxl refuses (":" in a sheet title) and calamine reads."""
    return rezip(
        xlsx(village_return),
        lambda name, part: (
            part.replace(b'name="DJ-1"', b'name="DJ:1"') if name == "xl/workbook.xml" else part
        ),
    )


def unpacks_too_big() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", bytes(feedback.MAX_UNPACKED_BYTES + 1))
    return out.getvalue()


@pytest.mark.parametrize(
    "original,why",
    [
        (xlsx(village_return)[:500], "list only"),
        (garbage_zip(), "list only"),
        (bad_title_xlsx(), "openpyxl could not copy"),
        (unpacks_too_big(), "unpacks to"),
    ],
    ids=["truncated-xlsx", "garbage-zip", "openpyxl-refuses", "too-big"],
)
def test_each_degraded_copy_logs_why(original, why, caplog):
    """A feedback workbook without (some of) the submitted sheets, or copied without their styles, says
    so in the log: an operator must be able to tell a bug from a bad file."""
    caplog.set_level("INFO", logger="pbstats.transforms.feedback")
    build_feedback(original, "坏文件13812345678.xlsx", [Finding("E-FILE", "文件已损坏")])
    said = [r for r in caplog.records if r.name == "pbstats.transforms.feedback" and r.levelname == "WARNING"]
    assert any(why in r.getMessage() for r in said), [r.getMessage() for r in said]
    assert all("13812345678" not in r.getMessage() for r in said)  # file names are logged masked


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_a_full_copy_logs_no_warning(kind, caplog):
    original = xlsx(village_return) if kind == "xlsx" else xls({(0, 0): "党员总数", (0, 3): "三"})
    build_feedback(original, "x", [Finding("E-VALUE", "不是数字", "DJ-1", "D5")])
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
