"""`pbstats check`: a submitter's dry run reports what ingest would find, writes the feedback workbook
beside the file, reads last year's values from the warehouse, and never writes to it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, func, inspect, select
from typer.testing import CliRunner

from pbstats.flows.cli import app
from pbstats.flows.ingest import ingest
from pbstats.warehouse.tables import metadata
from tests.builders import TOWNSHIP, VILLAGE, drop, make_return


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        counts = {
            t: conn.execute(select(func.count()).select_from(metadata.tables[t])).scalar_one()
            for t in names
            if t in metadata.tables
        }
        counts["alembic_version"] = len(conn.exec_driver_sql("select * from alembic_version").all())
    engine.dispose()
    assert {"submission", "fact_metric", "load_run"} <= set(counts)
    return counts


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_TODAY", "2026-01-20")  # before the 2025 deadline: not late
    return monkeypatch


@pytest.mark.slow  # an ingest and three dry runs: about 8 s, more on a busy machine
@pytest.mark.usefixtures("prefect_harness")
def test_check_reports_reads_last_year_and_leaves_the_warehouse_unchanged(
    tmp_path: Path, warehouse_url: str, env
):
    env.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    drop(
        tmp_path / "inbox",
        "2024.xlsx",
        make_return(year=2024, values={"01": 60, "11": 100}),
        datetime(2025, 1, 10),
    )
    ingest(str(tmp_path / "inbox"))
    before = row_counts(warehouse_url)

    work = tmp_path / "work"
    good = drop(
        work, "张家村2025年报.xlsx", make_return(year=2025, values={"01": 62, "11": 400}, priors={"01": 58})
    )
    bad = drop(
        work, "李家村2025年报.xlsx", make_return(org_code="990181101202", values={"02": 99, "03": "三"})
    )
    result = CliRunner().invoke(app, ["check", str(good), str(bad)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "E-RULE" in out and "E-VALUE" in out and "请用阿拉伯数字填写" in out
    assert "W-PRIOR" in out and "W-JUMP" in out  # last year's values came from the warehouse
    assert "1 个可以通过，1 个有错误" in out

    feedback = work / "李家村2025年报-审核意见.xlsx"
    book = openpyxl.load_workbook(feedback)
    assert book.sheetnames[0] == "问题清单"
    listed = " ".join(str(r[2]) for r in book["问题清单"].iter_rows(values_only=True))
    assert "E-RULE" in listed and "E-VALUE" in listed
    assert (work / "张家村2025年报-审核意见.xlsx").exists()  # warnings are worth a workbook too
    assert row_counts(warehouse_url) == before

    clean = drop(work, "王家村.xlsx", make_return("DJ-2", TOWNSHIP, 2025))
    ok = CliRunner().invoke(app, ["check", str(clean)])
    assert ok.exit_code == 0, ok.output
    assert "可以通过，未发现问题" in ok.output
    assert not (work / "王家村-审核意见.xlsx").exists()
    assert row_counts(warehouse_url) == before


def test_check_without_a_warehouse_skips_last_years_checks_and_creates_none(tmp_path: Path, env):
    url = f"sqlite:///{tmp_path / 'home' / 'warehouse.db'}"
    env.setenv("PBSTATS_WAREHOUSE_URL", url)
    path = drop(tmp_path, f"{VILLAGE}.xlsx", make_return(year=2025, priors={"01": 1}))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "未找到数据仓库" in result.output and "可以通过，未发现问题" in result.output  # no W-PRIOR
    assert not (tmp_path / "home" / "warehouse.db").exists()


def test_check_of_a_file_that_is_no_spreadsheet_exits_1_with_feedback(tmp_path: Path, env):
    env.setenv("PBSTATS_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    path = tmp_path / "说明.xlsx"
    path.write_bytes(b"not a workbook")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "E-FILE" in result.output
    assert openpyxl.load_workbook(tmp_path / "说明-审核意见.xlsx").sheetnames == ["问题清单"]
