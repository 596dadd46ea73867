"""Small, exact workbooks for unit tests: the standard layout of forms.md §3, with knobs."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path

import openpyxl

from pbstats.gen.layout import ReturnDoc, build_doc, render
from pbstats.gen.workbook import Book, Grid, write_book
from pbstats.schemas.forms import FORMS

VILLAGE = "990181101201"  # 枫虎坪村 under 青石镇 990181101000
TOWNSHIP = "990181101000"


def good_values(form_id: str) -> dict[str, object]:
    """Values that pass every rule of the form."""
    if form_id == "DJ-1":
        return {
            "01": 60,
            "02": 3,
            "03": 2,
            "04": 1,
            "05": 1,
            "06": 0,
            "07": 12.5,
            "08": 0,
            "09": 0,
            "10": 8,
            "11": 120,
            "12": 0,
        }
    return {
        f"{i:02d}": v
        for i, v in enumerate([19, 7, 3, 27, 1, 2, 1, 17, 9, 4, 8, 4, 4, 32, 5, 6, 1119], start=1)
    }


def make_return(
    form_id: str = "DJ-1",
    org_code: object = VILLAGE,
    year: object = 2025,
    values: Mapping[str, object] | None = None,
    *,
    priors: Mapping[str, object] | None = None,
    notes: Mapping[str, object] | None = None,
    footer: bool = True,
    phone: str = "13812345678",
    extra_rows: list[tuple[str, object, object]] = (),
    drop_codes: tuple[str, ...] = (),
    codes_as_numbers: bool = False,
    label_in_next_cell: bool = False,
    form_label: str | None = None,
    sheet_title: str = "DJ",
    leading_sheet: bool = False,
    offset: tuple[int, int] = (0, 0),
    formulas: Mapping[str, str] | None = None,
) -> bytes:
    """An .xlsx return in the city's layout (openpyxl writes formulas with no cached value)."""
    form = FORMS[form_id]
    vals = dict(good_values(form_id), **(values or {}))
    wb = openpyxl.Workbook()
    ws = wb.active
    if leading_sheet:
        ws.title = "填表说明"
        ws["A1"] = "请按制度填写"
        ws = wb.create_sheet(sheet_title)
    else:
        ws.title = sheet_title
    r0, c0 = offset

    def put(r: int, c: int, v: object) -> None:
        ws.cell(row=r0 + r, column=c0 + c, value=v)

    put(1, 1, form.title)
    ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r0 + 1, end_column=c0 + 6)
    _cover(put, form_label or form_id, org_code, year, label_in_next_cell)
    r = 6
    for ind in form.indicators:
        if ind.code in drop_codes:
            continue
        put(r, 1, ind.name)
        put(r, 2, int(ind.code) if codes_as_numbers else ind.code)
        put(r, 3, ind.unit)
        if formulas and ind.code in formulas:
            put(r, 4, formulas[ind.code])
        else:
            put(r, 4, vals.get(ind.code))
        if priors and ind.code in priors:
            put(r, 5, priors[ind.code])
        if notes and ind.code in notes:
            put(r, 6, notes[ind.code])
        r += 1
    for name, code, value in extra_rows:
        put(r, 1, name)
        put(r, 2, code)
        put(r, 4, value)
        r += 1
    if footer:
        _footer(put, r + 1, phone)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def gen_return(
    kind: str = "xlsx",
    form_id: str = "DJ-1",
    change: Callable[[ReturnDoc], object] | None = None,
    *,
    sheets_after: list[Grid] = (),
    shared_strings: bool = False,
) -> bytes:
    """The same clean return as `make_return`, laid out and written by the generator (gen/) in any file
    kind, after `change` has edited its layout."""
    org_code = VILLAGE if form_id == "DJ-1" else TOWNSHIP
    doc = build_doc(
        FORMS[form_id],
        org_name="测试单位",
        org_code=org_code,
        year=2025,
        values=dict(good_values(form_id)),
        prior=None,
        head="李明",
        filler="王芳",
        phone="13812345678",
        report_date=date(2026, 1, 12),
    )
    doc.after.extend(sheets_after)
    if change is not None:
        change(doc)
    return write_book(Book(render(doc)[0], datetime(2026, 1, 12, 9, 30), shared_strings=shared_strings), kind)


def _cover(put, form_label: str, org_code: object, year: object, label_in_next_cell: bool) -> None:
    """Rows 2 to 5: the form's number and issuer, the org and year, and the table's two heading rows."""
    put(2, 1, f"表号：{form_label}")
    put(2, 3, "制定机关：中共示例市委组织部")
    if label_in_next_cell:
        put(3, 1, "填报单位")
        put(3, 2, "测试单位")
        put(3, 3, "组织代码")
        put(3, 4, org_code)
        put(3, 5, "统计年度")
        put(3, 6, year)
    else:
        put(3, 1, "填报单位：测试单位")
        put(3, 3, f"组织代码：{org_code}" if org_code is not None else "组织代码：")
        put(3, 5, f"统计年度：{year}" if year is not None else "统计年度：")
    for c, label in enumerate(["指标名称", "代码", "计量单位", "本年", "上年", "备注"], start=1):
        put(4, c, label)
    for c, label in enumerate(["甲", "乙", "丙", "1", "2", "3"], start=1):
        put(5, c, label)


def _footer(put, r: int, phone: str) -> None:
    put(r, 1, "单位负责人：李明")
    put(r, 2, "填表人：王芳")
    put(r, 4, f"联系电话：{phone}")
    put(r, 5, "报出日期：2026年1月12日")


def drop(inbox: Path, name: str, data: bytes, when: datetime | None = None) -> Path:
    """Put a file in the inbox, arriving at `when` (its mtime)."""
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_bytes(data)
    when = when or datetime(2026, 1, 10, 9, 0)
    ts = when.timestamp()
    os.utime(path, (ts, ts))
    return path
