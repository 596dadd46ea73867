"""Operating the pipeline: reruns after a correction, backfill from the archive, closing a year,
and one run at a time — run for real on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from pbstats.flows.cli import app
from pbstats.flows.ingest import ingest
from pbstats.flows.rerun import YearClosed, backfill, rerun
from pbstats.warehouse.db import make_engine
from pbstats.warehouse.runlock import RunLockBusy, run_lock
from tests.builders import TOWNSHIP, VILLAGE, drop, make_return

pytestmark = pytest.mark.usefixtures("prefect_harness")
NEW_VILLAGE = "990181101398"  # not in the registry until it is corrected


@pytest.fixture
def wh(tmp_path: Path, warehouse_url: str, monkeypatch):
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_LOCK_WAIT", "30")
    engine = create_engine(warehouse_url.replace("postgresql://", "postgresql+psycopg://"))

    class W:
        inbox = tmp_path / "inbox"
        home = tmp_path / "home"
        url = warehouse_url

        def q(self, sql: str, **params):
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]

    yield W()
    engine.dispose()


def test_a_rerun_after_a_registry_correction_accepts_what_was_rejected(wh, tmp_path: Path):
    drop(wh.inbox, "新村.xlsx", make_return(org_code=NEW_VILLAGE))
    drop(wh.inbox, "村.xlsx", make_return())
    ingest(str(wh.inbox))
    assert wh.q("select file_name, status from submission order by 1") == [
        ("新村.xlsx", "rejected"),
        ("村.xlsx", "accepted"),
    ]
    registry = tmp_path / "orgs.csv"
    shutil.copy(Path(__file__).parents[1] / "schemas" / "data" / "orgs.csv", registry)
    with registry.open("a", encoding="utf-8") as fh:
        fh.write(f"{NEW_VILLAGE},新设村,village,村,{TOWNSHIP},2025,\n")
    assert CliRunner().invoke(app, ["registry", "load", str(registry)]).exit_code == 0
    summary = rerun(2025, org_code=NEW_VILLAGE)
    assert summary.totals["accepted"] == 1
    assert wh.q("select file_name, status from submission order by 1") == [
        ("新村.xlsx", "accepted"),
        ("村.xlsx", "accepted"),
    ]
    assert wh.q(
        "select count(*) from submission_issue i join submission s using (submission_id) where s.file_name='新村.xlsx' and i.severity='error'"
    ) == [(0,)]
    assert wh.q("select count(*) from fact_metric where org_code=:o", o=NEW_VILLAGE) == [(12,)]
    # a rerun reads nothing new: no new submissions, the same files judged again
    assert wh.q("select count(*) from submission") == [(2,)]
    assert wh.q("select flow_name, outcome from load_run order by started_at") == [
        ("nightly-ingest", "completed"),
        ("rerun", "completed"),
    ]


def test_a_rerun_of_a_whole_year_keeps_the_newest_return_current(wh):
    drop(wh.inbox, "村.xlsx", make_return(values={"01": 60}), datetime(2026, 1, 10))
    ingest(str(wh.inbox))
    drop(wh.inbox, "村（更正）.xlsx", make_return(values={"01": 66}), datetime(2026, 1, 20))
    ingest(str(wh.inbox))
    before = wh.q("select org_code, indicator_code, value, submission_id from fact_metric order by 1, 2")
    rerun(2025)
    assert wh.q("select file_name, status from submission order by 1") == [
        ("村.xlsx", "superseded"),
        ("村（更正）.xlsx", "accepted"),
    ]
    assert (
        wh.q("select org_code, indicator_code, value, submission_id from fact_metric order by 1, 2") == before
    )
    assert wh.q("select count(*) from fact_metric_history") == [(12,)]  # no new history: nothing changed


def test_backfill_rebuilds_a_lost_warehouse_from_the_archive(wh, tmp_path: Path, monkeypatch):
    drop(wh.inbox, "村.xlsx", make_return(values={"01": 60}), datetime(2026, 1, 10))
    drop(wh.inbox, "镇.xlsx", make_return("DJ-2", TOWNSHIP), datetime(2026, 1, 11))
    drop(wh.inbox, "坏.xlsx", make_return(values={"02": 99}), datetime(2026, 1, 12))
    drop(wh.inbox, "2024.xlsx", make_return(year=2024), datetime(2025, 1, 12))
    ingest(str(wh.inbox))
    drop(wh.inbox, "村（更正）.xlsx", make_return(values={"01": 66}), datetime(2026, 1, 20))
    ingest(str(wh.inbox))
    facts = wh.q("select org_code, year, indicator_code, value from fact_metric order by 1, 2, 3")
    statuses = wh.q("select file_name, status, received_at from submission order by 1")
    # the warehouse is lost; the archive (bytes + receipts) is all that is left
    rebuilt = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", rebuilt)
    backfill(2025, 2025)
    engine = create_engine(rebuilt)
    with engine.connect() as conn:
        assert [
            tuple(r)
            for r in conn.execute(
                text("select org_code, year, indicator_code, value from fact_metric order by 1, 2, 3")
            )
        ] == [f for f in facts if f[1] == 2025]
        got = [tuple(r) for r in conn.execute(text("select file_name, status from submission order by 1"))]
    engine.dispose()
    assert got == [(n, s) for n, s, _ in statuses if n != "2024.xlsx"]


def test_a_closed_year_holds_a_late_return_and_reopening_loads_it(wh):
    drop(wh.inbox, "村.xlsx", make_return(values={"01": 60}), datetime(2026, 1, 10))
    ingest(str(wh.inbox))
    assert CliRunner().invoke(app, ["close-year", "2025", "--reason", "年报已发布"]).exit_code == 0
    drop(wh.inbox, "村（补报）.xlsx", make_return(values={"01": 70}), datetime(2026, 3, 1))
    ingest(str(wh.inbox))
    assert wh.q("select file_name, status from submission order by 1") == [
        ("村.xlsx", "accepted"),
        ("村（补报）.xlsx", "held"),
    ]
    assert wh.q("select value from fact_metric where org_code=:o and indicator_code='01'", o=VILLAGE) == [
        (60.0,)
    ]
    with pytest.raises(YearClosed):
        rerun(2025)
    result = CliRunner().invoke(app, ["reopen-year", "2025", "--reason", "补报更正"])
    assert result.exit_code == 0, result.output
    assert wh.q("select file_name, status from submission order by 1") == [
        ("村.xlsx", "superseded"),
        ("村（补报）.xlsx", "accepted"),
    ]
    assert wh.q("select value from fact_metric where org_code=:o and indicator_code='01'", o=VILLAGE) == [
        (70.0,)
    ]
    assert wh.q("select action, reason from year_state_event order by event_id") == [
        ("close", "年报已发布"),
        ("reopen", "补报更正"),
    ]


def test_a_run_waits_for_the_one_before_it(wh):
    engine = make_engine(wh.url)
    from pbstats.warehouse.db import upgrade

    upgrade(engine)
    drop(wh.inbox, "村.xlsx", make_return())
    held = threading.Event()
    release = threading.Event()

    def hold():
        with run_lock(engine, 5):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    with pytest.raises(RunLockBusy):
        with run_lock(engine, 0.5):
            pass
    started = time.monotonic()
    threading.Timer(1.5, release.set).start()
    summary = ingest(str(wh.inbox))  # waits until the first holder lets go
    t.join()
    assert time.monotonic() - started >= 1.4
    assert summary.totals["accepted"] == 1
    engine.dispose()
