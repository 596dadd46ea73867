"""Reading rules of forms.md §3, §5 and the file-level checks of §6, on generated workbooks."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from pbstats.flows.readers import check_files
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import DJ1, DJ2
from pbstats.schemas.registry import Registry, default_spans
from pbstats.transforms.checks import Rulebook, check_file, mask_pii
from pbstats.transforms.model import Received
from pbstats.transforms.values import canonical, read_value
from tests.builders import TOWNSHIP, VILLAGE, good_values, make_return

CITY = "990181000000"  # 示例市 itself

RULES = Rulebook(Registry(default_spans()), today=date(2026, 11, 26))


def judge(data: bytes, name: str = "张家村2025年报.xlsx", when: datetime | None = None):
    rec = Received(name, "0" * 64, len(data), when or datetime(2026, 1, 10, tzinfo=UTC), "x")
    ret, _ = check_file(rec, data, RULES)
    return ret


def ids(ret) -> list[str]:
    return sorted({f.check_id for f in ret.findings})


@pytest.mark.parametrize(
    "raw,code,want",
    [
        ("12", "01", "12"),
        (12, "01", "12"),
        (12.0, "01", "12"),
        ("12.0", "01", "12"),
        (" 12 ", "01", "12"),
        ("１２", "01", "12"),
        ("12人", "01", "12"),
        ("12个", "10", "12"),
        ("12人次", "11", "12"),
        ("1,234.5", "07", "1234.5"),
        ("1234.50", "07", "1234.5"),
        (15.670000000000002, "07", "15.67"),
        ("是", "04", "1"),
        ("否", "04", "0"),
        ("√", "04", "1"),
        ("×", "04", "0"),
        (1, "04", "1"),
        ("0", "04", "0"),
        ("无", "01", "0"),
        ("0", "01", "0"),
        ("-3", "01", "-3"),  # readable as a number; the GX range rule rejects it
        (2.5, "01", "2.5"),  # likewise the count type rule
    ],
    ids=str,
)
def test_cells_read_as_the_rulebook_says(raw, code, want):
    got = read_value(raw, DJ1.indicator(code))
    assert got.problem is None and not got.blank
    assert canonical(got.value) == want


@pytest.mark.parametrize("raw", [None, "", "  ", "\u3000"], ids=repr)
def test_a_blank_cell_reads_as_zero_with_a_blank_flag(raw):
    got = read_value(raw, DJ1.indicator("05"))
    assert got.value == Decimal(0) and got.blank


# forms.md §5: a dash, a slash or 无 is how a statistical table writes "nothing": 0, no warning
ZERO_MARKS = ["—", "——", "―", "–", "-", "－", "/", "／", "无", "0", "０"]


@pytest.mark.parametrize("raw", ZERO_MARKS + [f" {m} " for m in ZERO_MARKS] + ["\u3000—\u3000"], ids=repr)
@pytest.mark.parametrize("code", ["05", "04", "07"])  # count, flag, amount
def test_a_dash_slash_or_wu_reads_as_a_written_zero(raw, code):
    got = read_value(raw, DJ1.indicator(code))
    assert got.value == Decimal(0) and not got.blank and got.problem is None


@pytest.mark.parametrize("mark", ["—", "-", "－", "/", "／", "无", " – "], ids=repr)
def test_a_dash_cell_gives_no_blank_warning(mark):
    ret = judge(make_return(values={"05": mark, "06": mark}))
    assert ids(ret) == [] and ret.values["05"] == 0 and ret.values["06"] == 0


@pytest.mark.parametrize("raw", ["三", "约12", "12户", "12余", datetime(2025, 1, 1), "abc", "是"], ids=repr)
def test_unreadable_cells_are_named(raw):
    got = read_value(raw, DJ1.indicator("01"))
    assert got.value is None and got.problem


def test_a_clean_return_reads_every_value():
    ret = judge(make_return())
    assert ids(ret) == []
    assert (ret.form_id, ret.org_code, ret.year) == ("DJ-1", VILLAGE, 2025)
    assert {k: float(v) for k, v in ret.values.items()} == {
        k: float(v) for k, v in good_values("DJ-1").items()
    }
    assert ret.cells["01"] == "D6" and ret.cells["12"] == "D17"


@pytest.mark.parametrize(
    "knobs",
    [
        {"codes_as_numbers": True},
        {"label_in_next_cell": True},
        {"label_in_next_cell": True, "org_code": 990181101201},
        {"year": "2025年"},
        {"year": "2025年度"},
        {"offset": (3, 2)},
        {"leading_sheet": True, "sheet_title": "Sheet3"},
        {"extra_rows": [("注：本表为年报", None, None)]},
    ],
    ids=lambda k: ",".join(k),
)
def test_layout_variations_are_accepted(knobs):
    ret = judge(make_return(**knobs))
    assert ids(ret) == []
    assert ret.org_code == VILLAGE and ret.year == 2025 and len(ret.values) == 12


def test_cells_are_named_where_they_stand_after_a_shift():
    ret = judge(make_return(offset=(3, 2), values={"01": "三"}))
    bad = [f for f in ret.findings if f.check_id == "E-VALUE"]
    assert [(f.cell, f.indicator_code, f.observed) for f in bad] == [("F9", "01", "三")]


def test_a_full_width_colon_and_a_half_width_colon_both_label():
    data = make_return(org_code="990181101201")
    assert judge(data).org_code == VILLAGE
    # the builder writes full-width colons; rewrite one cell with a half-width colon

    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["C3"] = "组织代码:990181101201"
    buf = io.BytesIO()
    wb.save(buf)
    assert judge(buf.getvalue()).org_code == VILLAGE


def test_a_formula_without_a_cached_value_is_an_error():
    ret = judge(make_return(formulas={"01": "=50+10"}))
    assert [(f.check_id, f.cell) for f in ret.findings] == [("E-VALUE", "D6")]


def test_findings_come_back_from_a_reader_worker_with_their_check_ids():
    data = make_return(values={"05": None, "01": "三"})
    rec = Received("张家村2025年报.xlsx", "0" * 64, len(data), datetime(2026, 1, 10, tzinfo=UTC), "x")
    [ret] = check_files([(rec, data)], RULES)  # read in a guarded worker process
    assert [(f.check_id, f.cell) for f in ret.findings] == [(CheckId.E_VALUE, "D6"), (CheckId.W_BLANK, "D10")]
    assert all(type(f.check_id) is CheckId for f in ret.findings)


def test_a_blank_cell_is_zero_with_a_warning():
    ret = judge(make_return(values={"05": None}))
    assert ids(ret) == ["W-BLANK"] and ret.values["05"] == 0


@pytest.mark.parametrize(
    "knobs,check",
    [
        ({"form_label": "DJ-9"}, "E-FORM"),
        ({"org_code": "99018110120"}, "E-ORG"),
        ({"org_code": "990181101398"}, "E-ORG"),
        ({"org_code": None}, "E-ORG"),
        ({"org_code": TOWNSHIP}, "E-ORG"),  # a township filing the village form
        ({"org_code": "990181203201", "year": 2024, "form_id": "DJ-2"}, "E-ORG"),
        (
            {"org_code": "990181203000", "year": 2025, "form_id": "DJ-2"},
            "E-ORG",
        ),  # 竹坪乡 merged away in 2025
        ({"year": None}, "E-YEAR"),
        ({"year": "去年"}, "E-YEAR"),
        ({"year": 2031}, "E-YEAR"),
        ({"drop_codes": ("05",)}, "E-CODE"),
        ({"extra_rows": [("多出的行", "13", 5)]}, "E-CODE"),
        ({"extra_rows": [("重复的行", "01", 5)]}, "E-CODE"),
        ({"values": {"01": "约12"}}, "E-VALUE"),
        ({"values": {"01": "12户"}}, "E-VALUE"),
        ({"notes": {"01": "书记身份证 11010519491231002X"}}, "E-PII"),
        ({"notes": {"02": "联系人 13912345678"}}, "E-PII"),
    ],
    ids=lambda x: str(x),
)
def test_each_error_is_found(knobs, check):
    ret = judge(make_return(**knobs))
    assert check in ids(ret)
    assert ret.rejected


@pytest.mark.parametrize("form_id", ["DJ-1", "DJ-2"])
def test_the_city_itself_is_told_it_files_no_return(form_id):
    ret = judge(make_return(form_id, org_code=CITY, values=good_values(form_id)))
    [found] = [f for f in ret.findings if f.check_id == "E-ORG"]
    assert "市本级不填报年报" in found.message and "应填报" not in found.message, found.message
    assert CITY in found.message and found.cell == "C3"


@pytest.mark.parametrize(
    "code,form_id,should", [(TOWNSHIP, "DJ-1", "DJ-2"), (VILLAGE, "DJ-2", "DJ-1")], ids=str
)
def test_an_org_on_the_wrong_form_is_told_which_form_it_files(code, form_id, should):
    ret = judge(make_return(form_id, org_code=code, values=good_values(form_id)))
    [found] = [f for f in ret.findings if f.check_id == "E-ORG"]
    assert f"应填报 {should}，不应填报 {form_id}" in found.message, found.message


def test_the_contact_phone_is_not_personal_data_but_elsewhere_it_is():
    assert "E-PII" not in ids(judge(make_return(phone="13812345678")))
    found = [f for f in judge(make_return(notes={"03": "13812345678"})).findings if f.check_id == "E-PII"]
    assert found and found[0].cell == "F8" and "13812345678" not in (found[0].observed or "")


def test_personal_numbers_are_masked():
    assert mask_pii("身份证11010519491231002X") == "身份证110105********002X"
    assert mask_pii("手机13812345678") == "手机138****5678"


def test_a_missing_footer_is_a_warning():
    assert ids(judge(make_return(footer=False))) == ["W-FOOTER"]


def test_a_late_return_is_flagged():
    ret = judge(make_return(), when=datetime(2026, 2, 3, tzinfo=UTC))
    assert ids(ret) == ["W-LATE"]


def test_the_township_form_reads_too():
    ret = judge(make_return("DJ-2", TOWNSHIP))
    assert ids(ret) == [] and len(ret.values) == len(DJ2.indicators)


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,data",
    [
        ("a.xlsx", b""),
        ("a.txt", b"hello"),
        ("a.pdf", b"%PDF-1.4"),
        ("a.xlsx", b"\x00garbage" * 100),
        ("a.xlsx", make_return()[:2000]),
        ("a.xls", b"not an ole file"),
        (
            "a.xlsx",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 512,
        ),
        ("a.xlsx", _zip_bytes({"hello.txt": b"x"})),
    ],
    ids=["empty", "txt", "pdf", "garbage", "truncated", "fake-xls", "encrypted", "zip-not-xlsx"],
)
def test_unreadable_files_are_rejected_with_a_reason(name, data):
    ret = judge(data, name)
    assert ids(ret) == ["E-FILE"]
    assert ret.findings[0].message


def test_a_zip_bomb_is_refused_before_unpacking():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (101 * 1024 * 1024))
    ret = judge(buf.getvalue())
    assert ids(ret) == ["E-FILE"] and "100 MB" in ret.findings[0].message


def _corrupted(data: bytes, member: str) -> bytes:
    """The package with a few bytes of one member's packed data flipped: it no longer unpacks to the
    size and CRC it declares (or not at all); every header stays as it was."""
    import struct

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    out = bytearray(data)
    name_length, extra_length = struct.unpack_from("<HH", out, info.header_offset + 26)
    middle = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
    for i in range(middle, middle + min(4, info.compress_size)):
        out[i] ^= 0xFF
    return bytes(out)


def _repacked(data: bytes, rename: dict[str, str], edit: dict[str, tuple[bytes, bytes]]) -> bytes:
    """The package with members renamed and text replaced in members (by their new names)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            name = rename.get(info.filename, info.filename)
            body = src.read(info)
            if name in edit:
                body = body.replace(*edit[name])
            dst.writestr(name, body)
    return out.getvalue()


def _names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.namelist()


UNREAD = {"xlsx": ("xl/theme/theme1.xml", "docProps/app.xml", "docProps/core.xml", "[Content_Types].xml")}
UNREAD["ods"] = ("meta.xml", "styles.xml")


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_a_broken_member_calamine_never_reads_costs_the_return_nothing(kind):
    """The survey leaves a theme, the document properties or an .ods's styles packed: calamine never
    reads them, so the return reads exactly as the intact one (which it is in every figure)."""
    from reliability.badfiles import seed

    intact = judge(seed(kind), f"张家村2025年报.{kind}")
    assert ids(intact) == []
    for member in UNREAD[kind]:
        assert member in _names(seed(kind))
        broken = judge(_corrupted(seed(kind), member), f"张家村2025年报.{kind}")
        assert ids(broken) == [], member
        assert broken.values == intact.values and broken.org_code == intact.org_code


@pytest.mark.parametrize(
    "kind,member",
    [
        ("xlsx", "xl/worksheets/sheet1.xml"),
        ("ods", "META-INF/manifest.xml"),
        ("xlsx", "xl/styles.xml"),
        ("xlsx", "xl/workbook.xml"),
        ("xlsx", "_rels/.rels"),
        ("ods", "content.xml"),
    ],
)
def test_a_broken_member_calamine_reads_is_refused(kind, member):
    from reliability.badfiles import seed

    ret = judge(_corrupted(seed(kind), member), f"张家村2025年报.{kind}")
    assert ids(ret) == ["E-FILE"] and "压缩包校验失败" in ret.findings[0].message, member


def test_a_sheet_kept_under_an_unread_name_is_checked_all_the_same():
    """A workbook may put its sheet where a theme usually is: the survey reads it, so it unpacks and
    checks it as any sheet."""
    moved = _repacked(
        make_return(),
        {"xl/worksheets/sheet1.xml": "xl/theme/sheet1.xml"},
        {"xl/_rels/workbook.xml.rels": (b"/xl/worksheets/sheet1.xml", b"/xl/theme/sheet1.xml")},
    )
    assert "xl/theme/sheet1.xml" in _names(moved) and "xl/worksheets/sheet1.xml" not in _names(moved)
    assert ids(judge(moved)) == []  # calamine finds it there
    ret = judge(_corrupted(moved, "xl/theme/sheet1.xml"))
    assert ids(ret) == ["E-FILE"] and "压缩包校验失败" in ret.findings[0].message


def test_every_member_is_checked_where_the_package_names_another_document():
    """Calamine finds the workbook through _rels/.rels: a package that names another one is not laid
    out as the survey assumes, so nothing in it is left packed."""
    odd = _repacked(
        make_return(), {}, {"_rels/.rels": (b'Target="xl/workbook.xml"', b'Target="xl/../xl/workbook.xml"')}
    )
    assert b"xl/../xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(odd)).read("_rels/.rels")
    ret = judge(_corrupted(odd, "xl/theme/theme1.xml"))
    assert ids(ret) == ["E-FILE"] and "压缩包校验失败" in ret.findings[0].message


def test_a_sheet_named_in_another_case_is_surveyed_as_calamine_finds_it():
    """calamine looks members up by their names folded to lower case: a workbook that names its sheet
    as /XL/Worksheets/Sheet1.XML is read from xl/worksheets/sheet1.xml, and so is it surveyed (here a
    cell at the far corner is refused before calamine would allocate the grid up to it)."""

    wb = openpyxl.Workbook()
    wb.active["A1"] = "表号：DJ-1"
    buf = io.BytesIO()
    wb.save(buf)
    rels = {"xl/_rels/workbook.xml.rels": (b"/xl/worksheets/sheet1.xml", b"/XL/Worksheets/Sheet1.XML")}
    plain = _repacked(buf.getvalue(), {}, rels)
    assert ids(judge(plain)) == ["E-FORM"]  # calamine finds the sheet: it reads, and is no return
    far = _repacked(
        plain,
        {},
        {
            "xl/worksheets/sheet1.xml": (
                b"</sheetData>",
                b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
            )
        },
    )
    ret = judge(far)
    assert ids(ret) == ["E-FILE"] and "1048576" in ret.findings[0].message


def test_a_cell_at_the_sheets_far_corner_is_refused_before_reading():

    wb = openpyxl.Workbook()
    wb.active["A1"] = "表号：DJ-1"
    wb.active["XFD1048576"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    ret = judge(buf.getvalue())  # calamine would try to allocate 17 billion cells
    assert ids(ret) == ["E-FILE"] and "1048576" in ret.findings[0].message
