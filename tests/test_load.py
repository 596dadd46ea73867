"""A batch's load (flows/stages.py `load`): what it reads from the warehouse before it writes, in one
transaction, on SQLite and PostgreSQL — returns of one key in the same batch, two years in one batch,
and bytes the warehouse has seen before."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from pbstats.flows import stages
from pbstats.flows.files import path_key
from pbstats.flows.stages import Judged, Rejudged
from pbstats.schemas.registry import Registry, default_spans
from pbstats.transforms.checks import Rulebook, check_file
from pbstats.transforms.model import Received
from pbstats.warehouse.db import make_engine, upgrade
from pbstats.warehouse.load import Incoming, SeenFile
from pbstats.warehouse.runs import start_run
from tests.builders import VILLAGE, make_return

REGISTRY = Registry(default_spans())
RULES = Rulebook(REGISTRY, date(2026, 11, 26))


def judge(files: Sequence[tuple[str, bytes, datetime]], quarantine: Path) -> list[Judged]:
    """Files read from the inbox and judged, as the night's reading leaves them for the load."""
    judged = []
    for name, data, at in files:
        sha = hashlib.sha256(data).hexdigest()
        rec = Received(name, sha, len(data), at, f"x/{name}")
        checked, _ = check_file(rec, data, RULES)
        incoming = Incoming(name, sha, len(data), at, rec.archive_path, "pending")
        path = f"/inbox/{name}"
        seen = SeenFile(path_key(path.encode()), len(data), 1, sha, path)
        judged.append(Judged(incoming, seen, checked))
    stages.apply_value_rules([j.checked for j in judged])
    stages.conclude(judged, quarantine)
    return judged


@pytest.fixture
def warehouse(warehouse_url: str, tmp_path: Path):
    """An empty warehouse with one run recorded; returns (load, query)."""
    engine = make_engine(warehouse_url)
    upgrade(engine)
    with engine.begin() as conn:
        start_run(conn, "r", None, "test", None)

    def load(*files: tuple[str, bytes, datetime]):
        return stages.load(engine, "r", judge(files, tmp_path / "quarantine"), REGISTRY)

    def q(sql: str, **params):
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    load.engine = engine  # type: ignore[attr-defined]
    yield load, q
    engine.dispose()


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 9, 0, tzinfo=UTC)


def test_a_correction_in_the_same_batch_as_the_original_supersedes_it(warehouse):
    """The return received last is current whatever the batch's order; the original is superseded by
    it, and with nothing loaded before there is no history."""
    load, q = warehouse
    counts = load(
        ("村（更正）.xlsx", make_return(values={"01": 66}), at(1, 20)),
        ("村.xlsx", make_return(values={"01": 60}), at(1, 10)),
    )
    assert (counts.received, counts.accepted, counts.superseded) == (2, 1, 1)
    rows = q(
        "select s.file_name, s.status, w.file_name from submission s "
        "left join submission w on w.submission_id = s.superseded_by order by s.received_at"
    )
    assert rows == [("村.xlsx", "superseded", "村（更正）.xlsx"), ("村（更正）.xlsx", "accepted", None)]
    assert q("select value from fact_metric where org_code=:o and indicator_code='01'", o=VILLAGE) == [
        (66.0,)
    ]
    assert q("select count(*) from fact_metric_history") == [(0,)]


def test_a_batch_holding_two_years_compares_with_last_year_as_loaded_before_it(warehouse):
    """Last year's checks (W-PRIOR, W-JUMP) compare with the warehouse as it was before the batch: a
    year's return and a correction of the year before in one batch do not see each other (the night's
    plan, `plan_batches`, loads the earlier year in a batch of its own first)."""
    load, q = warehouse
    load(("2024.xlsx", make_return(year=2024, values={"01": 50, "11": 100}), at(1, 10, 2025)))
    load(
        ("2024（更正）.xlsx", make_return(year=2024, values={"01": 60, "11": 100}), at(1, 9)),
        ("2025.xlsx", make_return(values={"01": 62, "11": 400}, priors={"01": 60, "11": 100}), at(1, 10)),
    )
    found = q(
        "select i.check_id, i.cell, i.observed from submission_issue i join submission s using (submission_id) "
        "where s.year = 2025 order by 1"
    )
    assert found == [("W-JUMP", "D16", "400"), ("W-PRIOR", "E6", "60")]  # 60 against the 50 loaded
    assert q("select value from fact_metric where year=2024 and indicator_code='01'") == [(60.0,)]
    # the next batch sees the correction
    load(("2025（更正）.xlsx", make_return(values={"01": 62, "11": 100}, priors={"01": 60}), at(1, 12)))
    found = q(
        "select i.check_id from submission_issue i join submission s using (submission_id) "
        "where s.file_name = '2025（更正）.xlsx'"
    )
    assert found == []


def test_bytes_seen_before_are_seen_again_under_their_name_and_a_duplicate_under_another(warehouse):
    load, q = warehouse
    data = make_return()
    load(("村.xlsx", data, at(1, 10)))
    again = load(
        ("村.xlsx", data, at(1, 11)), ("村-副本.xlsx", data, at(1, 12)), ("村 (2).xlsx", data, at(1, 13))
    )
    assert (again.received, again.seen_again, again.duplicates, again.accepted) == (2, 1, 2, 0)
    rows = q("select file_name, status, org_code, year, duplicate_of from submission order by submission_id")
    assert rows == [
        ("村.xlsx", "accepted", VILLAGE, 2025, None),
        ("村-副本.xlsx", "duplicate", VILLAGE, 2025, 1),
        ("村 (2).xlsx", "duplicate", VILLAGE, 2025, 1),
    ]
    assert q("select count(*) from inbox_file") == [(3,)]


def test_a_rejudged_batch_loaded_again_records_last_years_findings_once(warehouse, tmp_path: Path):
    """A reload retried after a failed attempt takes the same re-judged returns again: last year's
    checks are made anew for what is written, never added to the returns themselves."""
    load, q = warehouse
    load(("2024.xlsx", make_return(year=2024, values={"01": 50}), at(1, 10, 2025)))
    files = [("2025.xlsx", make_return(values={"01": 62}, priors={"01": 60}), at(1, 10))]
    load(*files)
    (sid,) = q("select submission_id from submission where file_name = '2025.xlsx'")[0]
    again = [Rejudged(sid, j.incoming, j.checked) for j in judge(files, tmp_path / "quarantine")]
    for _ in range(2):  # the first attempt committed, as far as the retry knows, nothing
        counts = stages.load_rejudged(load.engine, "r", again, REGISTRY)
    assert (counts.received, counts.accepted, counts.warnings) == (1, 1, 1)
    assert q("select check_id, observed from submission_issue where submission_id = :s", s=sid) == [
        ("W-PRIOR", "60")
    ]


@pytest.mark.usefixtures("prefect_harness")
def test_a_night_with_a_correction_of_last_year_compares_this_year_with_the_correction(
    warehouse_url: str, tmp_path: Path, monkeypatch
):
    """The night's plan loads the earlier year first, in batches of its own: this year's return is
    compared with last year's correction that came the same night, not with what it corrects."""
    from pbstats.flows.ingest import ingest
    from tests.builders import drop

    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    inbox = tmp_path / "inbox"
    drop(inbox, "2024.xlsx", make_return(year=2024, values={"01": 50, "11": 100}), datetime(2025, 1, 10))
    ingest(str(inbox))
    drop(
        inbox, "2025.xlsx", make_return(values={"01": 62, "11": 400}, priors={"01": 60}), datetime(2026, 1, 9)
    )
    drop(
        inbox,
        "2024（更正）.xlsx",
        make_return(year=2024, values={"01": 60, "11": 100}),
        datetime(2026, 1, 10),
    )
    ingest(str(inbox))
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "select i.check_id, i.observed from submission_issue i join submission s using (submission_id) "
                "where s.year = 2025 order by 1"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in found] == [("W-JUMP", "400")]  # no W-PRIOR: 60 is the corrected figure
