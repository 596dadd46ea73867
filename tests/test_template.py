"""Blank forms: the cover, 上年 from the warehouse, Excel data validation, protection; and a template
filled in with openpyxl goes through ingest accepted, its values loaded as written."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from pbstats.flows.ingest import ingest
from pbstats.schemas.forms import DJ1, DJ2, FORMS, Kind
from pbstats.schemas.registry import Registry, default_spans
from pbstats.transforms.checks import Rulebook, check_file
from pbstats.transforms.model import Received
from pbstats.transforms.template import FIRST_ROW, build_template
from tests.builders import TOWNSHIP, VILLAGE, drop, gen_return, good_values, make_return


def sheet_of(data: bytes, form_id: str):
    return openpyxl.load_workbook(io.BytesIO(data))[form_id]


def validation_of(ws, ref: str):
    found = [dv for dv in ws.data_validations.dataValidation if ref in dv.sqref]
    assert len(found) == 1, ref
    return found[0]


@pytest.mark.parametrize("form", [DJ1, DJ2], ids=lambda f: f.form_id)
def test_a_template_has_its_cover_validation_and_protection(form):
    prior = {
        i.code: (1 if i.kind is Kind.FLAG else 12.5 if i.kind is Kind.AMOUNT else 7) for i in form.indicators
    }
    ws = sheet_of(build_template(form, "990181101201", "枫虎坪村", 2025, prior), form.form_id)
    cover = " ".join(str(ws[c].value) for c in ("A2", "A3", "C3", "E3"))
    assert f"表号：{form.form_id}" in cover and "填报单位：枫虎坪村" in cover
    assert "组织代码：990181101201" in cover and "统计年度：2025" in cover
    assert [ws.cell(row=4, column=c).value for c in range(1, 7)] == [
        "指标名称",
        "代码",
        "计量单位",
        "本年",
        "上年",
        "备注",
    ]
    assert ws.protection.sheet
    for n, ind in enumerate(form.indicators):
        row = FIRST_ROW + n
        assert ws.cell(row=row, column=2).value == ind.code
        assert ws.cell(row=row, column=1).protection.locked  # labels protected
        current = ws.cell(row=row, column=4)
        assert not current.protection.locked and current.value is None
        dv = validation_of(ws, current.coordinate)
        if ind.kind is Kind.COUNT:
            assert (dv.type, dv.operator, dv.formula1) == ("whole", "greaterThanOrEqual", "0")
            assert ws.cell(row=row, column=5).value == 7
        elif ind.kind is Kind.FLAG:
            assert (dv.type, dv.formula1) == ("list", '"是,否"')
            assert ws.cell(row=row, column=5).value == "是"
        else:
            ref = current.coordinate
            assert (
                dv.type == "custom" and dv.formula1 == f"AND(ISNUMBER({ref}),{ref}>=0,ROUND({ref},2)={ref})"
            )
            assert current.number_format == "0.00" and ws.cell(row=row, column=5).value == 12.5
        assert dv.showErrorMessage and dv.error
    labels = {ws.cell(row=r, column=c).value for r in range(1, ws.max_row + 1) for c in (1, 4)}
    assert {"单位负责人：", "填表人：", "联系电话：", "报出日期："} <= labels


@pytest.mark.parametrize("form", [DJ1, DJ2], ids=lambda f: f.form_id)
def test_a_template_and_a_generated_return_share_the_standard_layout(form):
    """One writer (transforms/layout.py) lays out both: title, cover lines, header, column numbers and
    the table stand on the same cells; the template adds only its entry cells and styles."""
    org = VILLAGE if form is DJ1 else TOWNSHIP
    template = sheet_of(build_template(form, org, "测试单位", 2025), form.form_id)
    generated = sheet_of(gen_return("xlsx", form.form_id), form.form_id)
    table = range(1, FIRST_ROW + len(form.indicators))
    for row in table:
        for col in range(1, 7):
            want = generated.cell(row=row, column=col).value
            if row in (2, 3) and want is not None:  # the cover: the same label on the same cell
                want = want.split("：")[0]
                assert str(template.cell(row=row, column=col).value).startswith(want), (row, col)
            elif not (row >= FIRST_ROW and col in (4, 5)):  # 本年 and 上年 differ by design
                assert template.cell(row=row, column=col).value == want, (row, col)
    assert template.freeze_panes == f"A{FIRST_ROW}"


def test_a_blank_template_reads_with_w_blank_and_nothing_worse():
    registry = Registry(default_spans())
    data = build_template(DJ1, VILLAGE, "枫虎坪村", 2025)
    ret, _ = check_file(
        Received("t.xlsx", "-", len(data), datetime(2026, 1, 5, tzinfo=UTC), ""),
        data,
        Rulebook(registry, datetime(2026, 11, 26).date()),
    )
    assert (ret.form_id, ret.org_code, ret.year) == ("DJ-1", VILLAGE, 2025)
    assert {f.check_id for f in ret.findings} == {"W-BLANK", "W-FOOTER"}
    assert sum(f.check_id == "W-BLANK" for f in ret.findings) == len(DJ1.indicators)


def fill(data: bytes, form_id: str, values: dict[str, object]) -> bytes:
    """What a clerk does in Excel: the 本年 column and the footer."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book[form_id]
    form = FORMS[form_id]
    for n, ind in enumerate(form.indicators):
        v = values[ind.code]
        ws.cell(row=FIRST_ROW + n, column=4, value=("是" if v else "否") if ind.kind is Kind.FLAG else v)
    footer = FIRST_ROW + len(form.indicators) + 1
    ws.cell(row=footer, column=2, value="李明")
    ws.cell(row=footer, column=5, value="王芳")
    ws.cell(row=footer + 1, column=2, value="13812345678")
    ws.cell(row=footer + 1, column=5, value=datetime(2026, 1, 12))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.usefixtures("prefect_harness")
def test_a_filled_template_round_trips_through_ingest(tmp_path: Path, night_settings):
    from pbstats.flows.templates import write_templates
    from pbstats.warehouse.review import read_only_engine

    settings = night_settings
    inbox = tmp_path / "inbox"
    last_village = good_values("DJ-1") | {"01": 58, "07": 11.25, "04": 0}
    last_town = good_values("DJ-2")
    drop(inbox, "v2024.xlsx", make_return("DJ-1", VILLAGE, 2024, last_village), datetime(2025, 1, 10))
    drop(inbox, "t2024.xlsx", make_return("DJ-2", TOWNSHIP, 2024, last_town), datetime(2025, 1, 10))
    ingest(str(inbox))

    engine = read_only_engine(settings.url)
    [zipped] = write_templates(engine, 2025, tmp_path / "templates", township=TOWNSHIP)
    engine.dispose()
    registry = Registry(default_spans())
    villages = registry.villages_of(TOWNSHIP, 2025)
    with zipfile.ZipFile(zipped) as z:
        files = {name: z.read(name) for name in z.namelist()}
    assert len(files) == 1 + len(villages)
    by_code = {name.rsplit("-", 1)[1].removesuffix(".xlsx"): data for name, data in files.items()}
    assert set(by_code) == {TOWNSHIP} | {v.org_code for v in villages}

    village_ws = sheet_of(by_code[VILLAGE], "DJ-1")
    priors = {village_ws.cell(row=FIRST_ROW + n, column=5).value for n in range(len(DJ1.indicators))}
    assert {58, 11.25, "否"} <= priors  # 上年 as loaded for 2024

    now_village = good_values("DJ-1") | {"01": 61, "07": 13.4}
    now_town = good_values("DJ-2") | {"01": len(villages)}
    drop(inbox, "v2025.xlsx", fill(by_code[VILLAGE], "DJ-1", now_village), datetime(2026, 1, 12))
    drop(inbox, "t2025.xlsx", fill(by_code[TOWNSHIP], "DJ-2", now_town), datetime(2026, 1, 12))
    ingest(str(inbox))

    engine = create_engine(settings.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        status = dict(conn.execute(text("select file_name, status from submission where year = 2025")).all())
        facts = {
            (o, c): v
            for o, c, v in conn.execute(
                text("select org_code, indicator_code, value from fact_metric where year = 2025")
            )
        }
        issues = (
            conn.execute(
                text(
                    "select i.check_id from submission_issue i join submission s using (submission_id) "
                    "where s.year = 2025"
                )
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert status == {"v2025.xlsx": "accepted", "t2025.xlsx": "accepted"}
    assert {c: facts[(VILLAGE, c)] for c in now_village} == pytest.approx(
        {c: float(v) for c, v in now_village.items()}
    )
    assert {c: facts[(TOWNSHIP, c)] for c in now_town} == pytest.approx(
        {c: float(v) for c, v in now_town.items()}
    )
    assert not {"W-FOOTER", "W-BLANK", "W-PRIOR", "E-PII"} & set(issues), issues


def test_the_command_writes_one_org_or_a_zip_per_township(tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from pbstats.flows.cli import app

    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'none.db'}")  # no warehouse yet
    one = CliRunner().invoke(
        app, ["template", "--year", "2025", "--org", "990181203201", "--out", str(tmp_path / "a")]
    )
    assert one.exit_code == 0, one.output
    [made] = list((tmp_path / "a").iterdir())
    assert made.suffix == ".xlsx" and "990181203201" in made.name
    assert "组织代码：990181203201" in sheet_of(made.read_bytes(), "DJ-1")["C3"].value
    everything = CliRunner().invoke(app, ["template", "--year", "2025", "--out", str(tmp_path / "b")])
    assert everything.exit_code == 0, everything.output
    zips = sorted(p.name for p in (tmp_path / "b").iterdir())
    towns = Registry(default_spans()).orgs(2025, "township")
    assert len(zips) == len(towns) and not any("竹坪乡" in z for z in zips)
    gone = CliRunner().invoke(app, ["template", "--year", "2025", "--township", "990181203000"])
    assert gone.exit_code == 1 and "不在2025年度组织名录中" in gone.output
    assert not (tmp_path / "none.db").exists()  # templates never create a warehouse
