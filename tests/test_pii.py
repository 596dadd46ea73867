"""Personal numbers (forms.md §6 E-PII) in a return leave no trace in the warehouse (every table, every
column), the run's logs, Prefect's artifacts, or the feedback's 问题清单 — on SQLite and PostgreSQL.
The archive keeps files as received, and the submitter's own sheets in the feedback are theirs."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import create_engine, inspect, text

from pbstats.flows.ingest import ingest
from pbstats.flows.settings import Settings
from pbstats.transforms.feedback import LIST_SHEET
from pbstats.warehouse.db import normalise_url
from tests.builders import drop, gen_return, make_return

pytestmark = pytest.mark.usefixtures("prefect_harness")

MOBILE = "13912345678"
RESIDENT_ID = "11010519491231002X"
RAW = (MOBILE, RESIDENT_ID, RESIDENT_ID[:17])  # an ID may lose its check letter on the way


def edited(data: bytes, change) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(data))
    change(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def roster(book):  # a second sheet with the branch's members: names, IDs, phones
    sheet = book.create_sheet("党员名册")
    sheet.append(["姓名", "身份证号", "手机"])
    sheet.append(["张三", RESIDENT_ID, int(MOBILE)])
    sheet.sheet_state = "hidden"


RETURNS = {
    "备注里的手机号.xlsx": make_return(notes={"03": f"联系人 {MOBILE}"}),
    "备注里的身份证.xlsx": make_return(notes={"01": f"书记身份证{RESIDENT_ID}"}),
    "手机号当人数.xlsx": make_return(values={"02": int(MOBILE)}),  # would break 02 ≤ 01 too
    "身份证当金额.xlsx": make_return(values={"07": RESIDENT_ID}),
    "填报单位.xlsx": edited(make_return(), lambda b: b.active.__setitem__("A3", f"填报单位：张三{MOBILE}")),
    "统计年度.xlsx": make_return(year=f"2025 {MOBILE}"),
    "组织代码.xlsx": make_return(org_code=MOBILE),
    "表号.xlsx": make_return(form_label=RESIDENT_ID),
    "工作表名.xlsx": make_return(sheet_title=f"张三{MOBILE}", values={"01": "三"}),
    "名册.xlsx": edited(make_return(), roster),
}


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs():
    handler = Captured()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    names = ["", "pbstats", "prefect", "prefect.flow_runs", "prefect.task_runs"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler.lines
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def found_in(text_: str) -> list[str]:
    return [raw for raw in RAW if raw in text_ or raw.lower() in text_]


def test_personal_numbers_reach_no_table_log_artifact_or_listed_feedback(
    tmp_path: Path, warehouse_url: str, captured_logs, capsys, monkeypatch
):
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    settings = Settings()
    inbox = tmp_path / "inbox"
    for name, data in RETURNS.items():
        drop(inbox, name, data)
    summary = ingest(str(inbox))
    assert summary.received == len(RETURNS)

    engine = create_engine(normalise_url(settings.url))
    leaks: list[str] = []
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT file_name, status FROM submission")).fetchall())
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for column, value in row._mapping.items():
                    leaks += [f"{table}.{column}: {raw}" for raw in found_in(str(value))]
        pii = conn.execute(
            text(
                "SELECT s.file_name FROM submission_issue i JOIN submission s USING (submission_id) "
                "WHERE i.check_id = 'E-PII'"
            )
        ).scalars()
        flagged = set(pii)
        feedback = conn.execute(text("SELECT feedback_path FROM submission WHERE feedback_path IS NOT NULL"))
        feedback_paths = [p for (p,) in feedback]
        flow_run_id = conn.execute(text("SELECT flow_run_id FROM load_run")).scalar_one()
        assert flow_run_id
    engine.dispose()
    assert not leaks, leaks

    # every return was rejected for its personal number
    assert set(statuses.values()) == {"rejected"}
    assert flagged == set(RETURNS)

    # the feedback's own text is masked; the submitter's copied sheets are theirs
    assert len(feedback_paths) == len(RETURNS)
    for rel in feedback_paths:
        assert not found_in(rel)
        book = CalamineWorkbook.from_filelike(io.BytesIO((settings.quarantine / rel).read_bytes()))
        assert book.sheet_names[0] == LIST_SHEET
        listed = " ".join(str(v) for row in book.get_sheet_by_name(LIST_SHEET).to_python() for v in row)
        assert not found_in(listed), (rel, found_in(listed))
    for path in settings.quarantine.rglob("*"):
        assert not found_in(path.name), path.name

    # logs: python logging and Prefect's (captured here, and as stored by the Prefect API)
    api_logs = asyncio.run(_prefect_logs(flow_run_id))
    out = capsys.readouterr()
    for where, lines in (
        ("logging", captured_logs),
        ("prefect api", api_logs),
        ("stdout", [out.out]),
        ("stderr", [out.err]),
    ):
        assert not [line for line in lines if found_in(line)], where
    assert captured_logs or api_logs  # the run did log something
    assert not [a for a in asyncio.run(_prefect_artifacts(flow_run_id)) if found_in(a)]


async def _prefect_logs(flow_run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    found: list[str] = []
    async with get_client() as client:
        while True:
            page = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
                offset=len(found),
            )
            found += [log.message for log in page]
            if len(page) < 200:
                return found


async def _prefect_artifacts(flow_run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return [f"{a.key} {a.description} {a.data}" for a in artifacts]


def test_a_personal_number_is_never_read_as_a_value():
    from datetime import UTC, datetime

    from pbstats.schemas.registry import Registry, default_spans
    from pbstats.transforms.checks import Rulebook, check_file
    from pbstats.transforms.model import Received

    rules = Rulebook(Registry(default_spans()), today=date(2026, 11, 26))
    data = make_return(values={"02": int(MOBILE)})
    ret, _ = check_file(
        Received("x.xlsx", "0" * 64, len(data), datetime(2026, 1, 10, tzinfo=UTC), "x"), data, rules
    )
    assert "02" not in ret.values and ret.rejected
    assert [f.cell for f in ret.findings if f.check_id == "E-PII"] == ["D7"]
    assert all(MOBILE not in f"{f.message} {f.observed}" for f in ret.findings)


def test_a_personal_number_in_a_file_name_stays_out_of_the_warehouse(
    tmp_path: Path, warehouse_url: str, monkeypatch
):
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    drop(tmp_path / "inbox", f"张三{MOBILE}.xlsx", make_return())
    ingest(str(tmp_path / "inbox"))
    engine = create_engine(normalise_url(Settings().url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM submission")).scalar_one() == "accepted"
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                assert not [v for v in row if found_in(str(v))], table
    engine.dispose()


def _judged(data: bytes):
    from datetime import UTC, datetime

    from pbstats.schemas.registry import Registry, default_spans
    from pbstats.transforms.checks import Rulebook, check_file
    from pbstats.transforms.model import Received

    rules = Rulebook(Registry(default_spans()), today=date(2026, 11, 26))
    return check_file(
        Received("x.xlsx", "0" * 64, len(data), datetime(2026, 1, 10, tzinfo=UTC), "x"), data, rules
    )[0]


def _contact(phone: str, style: str):
    """The 联系电话 field holding `phone`, after its label (full) or in the cell to its right (next)."""

    def change(doc):
        doc.footer["phone"].value = phone
        for item in doc.footer.values():
            item.style = style
        doc.footer_rows = [[("head", 0), ("filler", 2)], [("phone", 0), ("date", 2)]]

    return change


@pytest.mark.parametrize("style", ["full", "next"])
@pytest.mark.parametrize(
    "phone",
    [
        "13812345678、13987654321",
        "13812345678/0571-87654321",
        "138 1234 5678；139-8765-4321",
        "13812345678，13987654321（王芳）",
        "+86 138-1234-5678 / 139 8765 4321",
    ],
)
def test_the_contact_cell_may_hold_several_numbers(phone, style):
    """forms.md §6: only a mobile outside the 联系电话 cell is personal data out of place."""
    ret = _judged(gen_return(change=_contact(phone, style)))
    assert [f.check_id for f in ret.findings] == []


@pytest.mark.parametrize("style", ["full", "next"])
def test_an_id_number_in_the_contact_cell_is_still_personal_data(style):
    ret = _judged(gen_return(change=_contact(f"13812345678 身份证{RESIDENT_ID}", style)))
    found = [f for f in ret.findings if f.check_id == "E-PII"]
    assert [f.cell for f in found] == ["B20" if style == "next" else "A20"]
    assert "身份证号" in found[0].message and RESIDENT_ID not in (found[0].observed or "")


def test_a_mobile_beside_the_contact_cell_is_still_personal_data():
    def beside(doc):
        _contact("13812345678", "next")(doc)
        doc.footer["date"].value = "13987654321"

    found = [f.cell for f in _judged(gen_return(change=beside)).findings if f.check_id == "E-PII"]
    assert found == ["D20"]
