"""The ingest flow end to end, run for real (Prefect's test harness) on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import openpyxl
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from pbstats.flows.ingest import anything_new, ingest
from tests.builders import TOWNSHIP, VILLAGE, drop, make_return

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def night(tmp_path: Path, night_settings):
    """Run one night over the inbox; returns a function that runs it and a query helper."""
    settings = night_settings
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    engine = create_engine(settings.url.replace("postgresql://", "postgresql+psycopg://"))

    class Night:
        def __init__(self):
            self.inbox, self.settings = inbox, settings

        def run(self):
            return ingest(str(inbox))

        def q(self, sql: str, **params):
            with engine.begin() as conn:
                result = conn.execute(text(sql), params)
                return result.fetchall() if result.returns_rows else None

    yield Night()
    engine.dispose()


def statuses(n) -> dict[str, str]:
    return dict(n.q("select file_name, status from submission"))


def members_now(n) -> list[tuple[float]]:
    """The village's current 党员总数 (01) in the warehouse."""
    return n.q("select value from fact_metric where org_code=:o and indicator_code='01'", o=VILLAGE)


def one_a_night(n, *returns: tuple[str, dict, datetime]) -> None:
    """Each (file name, values, arrival) a return of the village, each run on a night of its own."""
    for name, values, when in returns:
        drop(n.inbox, name, make_return(values=values), when)
        n.run()


def test_a_night_loads_accepted_returns_and_rejects_bad_ones(night):
    drop(night.inbox, "村.xlsx", make_return())
    drop(night.inbox, "镇.xlsx", make_return("DJ-2", TOWNSHIP))
    drop(night.inbox, "坏.xlsx", make_return(org_code="990181202201", values={"02": 99}))  # 02 > 01
    drop(night.inbox, "负数.xlsx", make_return(org_code="990181202202", values={"03": -3, "10": 2.5}))
    drop(night.inbox, "说明.txt", b"not a return")
    summary = night.run()
    assert statuses(night) == {
        "村.xlsx": "accepted",
        "镇.xlsx": "accepted",
        "坏.xlsx": "rejected",
        "负数.xlsx": "rejected",
        "说明.txt": "rejected",
    }
    assert summary.totals["accepted"] == 2 and summary.totals["rejected"] == 3
    assert members_now(night) == [(60.0,)]
    issues = night.q(
        "select s.file_name, i.check_id, i.cell from submission_issue i join submission s using (submission_id) "
        "where i.severity='error' order by 1, 3"
    )
    assert ("坏.xlsx", "E-RULE", "D7") in issues
    assert ("负数.xlsx", "E-VALUE", "D8") in issues and ("负数.xlsx", "E-VALUE", "D15") in issues
    assert ("说明.txt", "E-FILE", None) in issues
    # nothing of a rejected return reaches the facts
    assert night.q("select count(*) from fact_metric where org_code='990181202201'") == [(0,)]
    # every file archived by hash, every rejection quarantined with a feedback workbook
    for (path,) in night.q("select archive_path from submission"):
        assert (night.settings.archive / path).read_bytes()
    for (fb,) in night.q("select feedback_path from submission where status='rejected'"):
        book = openpyxl.load_workbook(night.settings.quarantine / fb)
        assert book.sheetnames[0] == "问题清单"
    run = night.q("select outcome, files_received, accepted, rejected, flow_run_id from load_run")
    assert run[0][:4] == ("completed", 5, 2, 3) and run[0][4]


def test_value_rules_validated_in_shares_judge_as_validated_at_once(night, monkeypatch):
    """A province's values are validated every VALUE_RULES_EVERY returns and let go of; here after each
    file (read one per task): the same verdicts and findings, on the right files and cells."""
    from pbstats.flows import ingest as ingest_flow

    monkeypatch.setattr(ingest_flow, "VALUE_RULES_EVERY", 1)
    monkeypatch.setattr(ingest_flow, "FEEDBACK_AHEAD", 1)  # and the feedback handed over a batch at a time
    monkeypatch.setenv("PBSTATS_BATCH_SIZE", "1")
    drop(night.inbox, "村.xlsx", make_return())
    drop(night.inbox, "坏.xlsx", make_return(org_code="990181202201", values={"02": 99}))  # 02 > 01
    drop(night.inbox, "好.xlsx", make_return(org_code="990181202203"))
    drop(night.inbox, "负数.xlsx", make_return(org_code="990181202202", values={"03": -3, "10": 2.5}))
    night.run()
    assert statuses(night) == {
        "村.xlsx": "accepted",
        "坏.xlsx": "rejected",
        "好.xlsx": "accepted",
        "负数.xlsx": "rejected",
    }
    issues = night.q(
        "select s.file_name, i.check_id, i.cell from submission_issue i join submission s using (submission_id) "
        "where i.severity='error'"
    )
    assert sorted(issues) == [  # sorted here: a database's collation may order Chinese names otherwise
        ("坏.xlsx", "E-RULE", "D7"),
        ("负数.xlsx", "E-VALUE", "D15"),
        ("负数.xlsx", "E-VALUE", "D8"),
    ]
    for (fb,) in night.q("select feedback_path from submission where status='rejected'"):
        assert openpyxl.load_workbook(night.settings.quarantine / fb).sheetnames[0] == "问题清单"


def test_a_second_night_over_the_same_inbox_reads_nothing(night):
    drop(night.inbox, "村.xlsx", make_return())
    night.run()
    second = night.run()
    assert second.received == 0
    assert night.q("select count(*) from submission") == [(1,)]
    assert night.q("select files_received from load_run order by started_at") == [(1,), (0,)]


def test_two_files_whose_names_mask_alike_are_both_judged_and_the_next_night_is_clean(night):
    """138****5678 is what both names show; the inbox remembers each file by its real path."""
    drop(night.inbox, "13812345678.xlsx", make_return())
    drop(night.inbox, "13899995678.xlsx", make_return(org_code="990181202201"))
    first = night.run()
    assert first.received == 2 and first.totals["accepted"] == 2
    assert night.q("select file_name from submission") == [("138****5678.xlsx",)] * 2
    second = night.run()
    assert second.received == 0
    assert night.q("select outcome from load_run order by started_at") == [("completed",)] * 2


def test_the_look_ahead_sees_what_the_night_will_read(night):
    """`anything_new` (whether the CLI warms GX up while Prefect starts) agrees with `discover`."""
    url = night.settings.url
    assert not anything_new(night.inbox, url)  # empty inbox
    drop(night.inbox, "村.xlsx", make_return())
    assert anything_new(night.inbox, url)  # a warehouse with no tables yet cannot tell: assume new
    night.run()
    assert not anything_new(night.inbox, url)  # taken in
    drop(night.inbox, "村.xlsx", make_return(values={"01": 99}), datetime(2026, 1, 11, 9, 0))
    assert anything_new(night.inbox, url)  # the same path, sent again later


def test_the_listing_the_command_made_while_prefect_started_is_the_runs(night, monkeypatch):
    """The CLI lists the inbox while Prefect's server starts (`anything_new(keep=True)`); the run
    that follows takes that listing instead of making another, as if it had listed the inbox then:
    a file that came in between waits for the next night. Kept too long, it is not taken."""
    from pbstats.flows import ingest as ingest_flow

    url = night.settings.url
    drop(night.inbox, "甲村.xlsx", make_return())
    assert anything_new(night.inbox, url, keep=True)
    drop(night.inbox, "乙村.xlsx", make_return(org_code="990181101202"))
    assert night.run().received == 1
    assert night.q("select file_name from submission") == [("甲村.xlsx",)]
    assert night.run().received == 1  # the next night lists the inbox itself
    assert sorted(night.q("select file_name from submission")) == [("乙村.xlsx",), ("甲村.xlsx",)]

    drop(night.inbox, "丙村.xlsx", make_return(org_code="990181101203"))
    assert anything_new(night.inbox, url)  # not kept: the run lists the inbox
    monkeypatch.setattr(ingest_flow, "KEPT_FOR_S", 0.0)
    anything_new(night.inbox, url, keep=True)  # kept, but too long ago by the time the run starts
    drop(night.inbox, "丁村.xlsx", make_return(org_code="990181101204"))
    assert night.run().received == 2


def test_a_corrected_return_supersedes_and_keeps_history(night):
    one_a_night(
        night,
        ("村.xlsx", {"01": 60}, datetime(2026, 1, 10)),
        ("村（更正）.xlsx", {"01": 66}, datetime(2026, 1, 20)),
    )
    assert statuses(night) == {"村.xlsx": "superseded", "村（更正）.xlsx": "accepted"}
    assert members_now(night) == [(66.0,)]
    hist = night.q("select old_value, new_value from fact_metric_history where indicator_code='01'")
    assert hist == [(60.0, 66.0)]
    assert night.q("select count(*) from fact_metric_history") == [(12,)]


def test_a_rejected_correction_leaves_the_accepted_return_current(night):
    correction = {"01": 66, "02": 99}  # 02 > 01: the correction is rejected
    one_a_night(
        night,
        ("村.xlsx", {"01": 60}, datetime(2026, 1, 10)),
        ("村（更正）.xlsx", correction, datetime(2026, 1, 20)),
    )
    assert statuses(night) == {"村.xlsx": "accepted", "村（更正）.xlsx": "rejected"}
    assert members_now(night) == [(60.0,)]
    assert night.q("select count(*) from fact_metric_history") == [(0,)]


def test_an_older_version_arriving_later_does_not_become_current(night):
    one_a_night(
        night, ("新.xlsx", {"01": 66}, datetime(2026, 1, 20)), ("旧.xlsx", {"01": 60}, datetime(2026, 1, 10))
    )
    assert statuses(night) == {"新.xlsx": "accepted", "旧.xlsx": "superseded"}
    assert members_now(night) == [(66.0,)]


def test_a_byte_identical_file_is_a_duplicate(night):
    data = make_return()
    drop(night.inbox, "村.xlsx", data)
    drop(night.inbox, "村 (2).xlsx", data, datetime(2026, 1, 11))
    night.run()
    drop(night.inbox, "村-副本.xlsx", data)
    night.run()
    assert statuses(night) == {"村.xlsx": "accepted", "村 (2).xlsx": "duplicate", "村-副本.xlsx": "duplicate"}
    assert night.q("select count(*) from fact_metric") == [(12,)]
    assert night.q("select org_code from submission where status='duplicate'") == [(VILLAGE,), (VILLAGE,)]


def test_last_years_values_check_prior_column_and_jumps(night):
    drop(
        night.inbox, "2024.xlsx", make_return(year=2024, values={"01": 60, "11": 100}), datetime(2025, 1, 10)
    )
    drop(
        night.inbox,
        "2025.xlsx",
        make_return(year=2025, values={"01": 62, "11": 400}, priors={"01": 58, "11": 100}),
        datetime(2026, 1, 10),
    )
    night.run()  # both years in one night: 2024 loads first
    found = night.q(
        "select i.check_id, i.cell, i.indicator_code from submission_issue i join submission s using (submission_id) "
        "where s.year = 2025 order by 1"
    )
    assert found == [("W-JUMP", "D16", "11"), ("W-PRIOR", "E6", "01")]


def test_rollup_is_pending_until_every_village_reports_then_checked(night):
    town = make_return("DJ-2", TOWNSHIP, values={"07": 0, "08": 1, "09": 0})
    drop(night.inbox, "镇.xlsx", town)
    night.run()
    states = dict(
        night.q("select indicator_code, state from rollup_check where township_code=:t", t=TOWNSHIP)
    )
    assert states == {"01": "ok", "07": "pending", "08": "pending", "09": "pending"}
    assert night.q("select count(*) from v_open_warnings where check_id='W-ROLLUP'") == [(0,)]
    villages = [
        c
        for (c,) in night.q(
            "select org_code from dim_org where parent_code=:t and valid_from<=2025 and (valid_to is null or valid_to>=2025)",
            t=TOWNSHIP,
        )
    ]
    for code in villages:  # every village: one-shoulder only in the first, so 08 must be 1
        one = 1 if code == villages[0] else 0
        drop(night.inbox, f"{code}.xlsx", make_return(org_code=code, values={"04": one, "07": 5}))
    night.run()
    states = dict(
        night.q("select indicator_code, state from rollup_check where township_code=:t", t=TOWNSHIP)
    )
    assert states == {"01": "ok", "07": "ok", "08": "ok", "09": "ok"}
    # a corrected village return changes the count; the township's return is re-checked
    drop(
        night.inbox,
        "更正.xlsx",
        make_return(org_code=villages[1], values={"04": 1, "07": 5}),
        datetime(2026, 1, 25),
    )
    night.run()
    warned = night.q("select indicator_code, cell from v_open_warnings where check_id='W-ROLLUP'")
    assert warned == [("08", "D13")]


def load_attempts(state) -> list[int]:
    """How many times each load task of a flow run ran (Prefect's record of the run)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids = FlowRunFilterId(any_=[state.state_details.flow_run_id])
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=ids))
    return [r.run_count for r in runs if r.name.rsplit("-", 1)[0] == "load"]


def test_a_load_that_breaks_a_constraint_fails_at_once_without_retries(night, monkeypatch):
    """A bug or a broken constraint fails the same way every time: it surfaces on the first try."""
    monkeypatch.setenv("PBSTATS_LOAD_RETRY_DELAYS", "[0.5, 0.5, 0.5]")
    night.run()  # the warehouse as the migrations make it, then altered: no two facts of one value
    night.q("CREATE UNIQUE INDEX one_fact_per_value ON fact_metric (value)")
    drop(night.inbox, "村.xlsx", make_return())  # 04 and 05 are both 1
    state = ingest(str(night.inbox), return_state=True)
    assert state.is_failed()
    with pytest.raises((IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)):
        state.result()  # SQLAlchemy's, or the driver's where rows go in through its cursor
    assert load_attempts(state) == [1]


@pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)
def test_a_load_that_meets_a_passing_database_error_is_tried_again(night, monkeypatch):
    """What can pass on a second try (here a deadlock the database reports once) is retried."""
    monkeypatch.setenv("PBSTATS_LOAD_RETRY_DELAYS", "[0.5, 0.5, 0.5]")
    night.run()
    night.q(
        "CREATE SEQUENCE trips; "
        "CREATE FUNCTION trip_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF nextval('trips') = 1 THEN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END IF; "
        "RETURN NEW; END $$; "
        "CREATE TRIGGER trip BEFORE INSERT ON submission FOR EACH ROW EXECUTE FUNCTION trip_once()"
    )
    drop(night.inbox, "村.xlsx", make_return())
    state = ingest(str(night.inbox), return_state=True)
    assert state.is_completed()
    assert load_attempts(state) == [2]
    assert statuses(night) == {"村.xlsx": "accepted"}


def test_a_database_that_is_down_fails_the_run_with_a_clear_message(tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from pbstats.flows.cli import app

    drop(tmp_path / "inbox", "村.xlsx", make_return())
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "inbox")])
    assert result.exit_code == 2
    assert "数据仓库无法连接" in result.output
