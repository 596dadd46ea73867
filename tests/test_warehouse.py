"""The warehouse contract of DESIGN.md, created by the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from pbstats.flows.cli import app
from pbstats.schemas.registry import read_csv
from pbstats.warehouse.db import make_engine, upgrade
from pbstats.warehouse.tables import metadata
from tests.builders import drop

# dim_metric's columns, which the analyst views repeat
METRIC = {"form", "indicator_code", "metric_key", "metric_name", "unit"}
CONTRACT = {
    "dim_org": {"org_code", "name", "level", "kind", "parent_code", "valid_from", "valid_to"},
    "dim_metric": METRIC,
    "submission": {
        "submission_id",
        "file_name",
        "sha256",
        "received_at",
        "form",
        "org_code",
        "year",
        "status",
        "run_id",
    },
    "submission_issue": {
        "submission_id",
        "check_id",
        "severity",
        "sheet",
        "cell",
        "indicator_code",
        "message",
        "observed",
    },
    "fact_metric": {"org_code", "year", "form", "indicator_code", "metric_key", "value", "submission_id"},
    "fact_metric_history": {"old_value", "new_value", "new_submission_id", "changed_at"},
    "load_run": {"flow_run_id", "started_at", "ended_at", "outcome"},
    "v_metric_values": {"org_code", "org_name", "township_code", "township_name", "year", "value", *METRIC},
    "v_year_review": {"year", "value", "prior_value", "change", *METRIC},
    "v_township_year": {
        "year",
        "township_code",
        "township_name",
        "form",
        "indicator_code",
        "metric_key",
        "value",
    },
    "v_completeness": {
        "year",
        "township_code",
        "township_name",
        "expected",
        "accepted_on_time",
        "accepted_late",
        "rejected",
        "missing",
    },
    "v_open_warnings": {
        "submission_id",
        "org_code",
        "year",
        "form",
        "check_id",
        "sheet",
        "cell",
        "indicator_code",
        "message",
    },
}


def test_the_migrations_create_the_analyst_contract(warehouse_url):
    engine = make_engine(warehouse_url)
    upgrade(engine)
    insp = inspect(engine)
    names = set(insp.get_table_names()) | set(insp.get_view_names())
    for name, columns in CONTRACT.items():
        assert name in names, name
        got = {c["name"] for c in insp.get_columns(name)}
        assert columns <= got, (name, columns - got)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from dim_metric")).scalar_one() == 29
        assert conn.execute(text("select count(*) from dim_org")).scalar_one() == 268
    engine.dispose()


def test_the_migrations_match_the_table_definitions(warehouse_url):
    engine = make_engine(warehouse_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_changes_nothing(warehouse_url):
    engine = make_engine(warehouse_url)
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from dim_metric")).scalar_one() == 29
    engine.dispose()


def test_a_warehouse_upgraded_from_masked_inbox_keys_reads_only_the_masked_files_again(
    warehouse_url, tmp_path: Path
):
    """0004 keys the inbox by the sha256 of the real path: a row keyed by a clean path keeps its file
    unread; a masked one no longer matches, so its file is listed again (and known by its sha256)."""
    from alembic import command

    from pbstats.flows.files import list_inbox
    from pbstats.flows.ingest import changed
    from pbstats.warehouse.db import alembic_config

    inbox = tmp_path / "inbox"
    drop(inbox, "一村.xlsx", b"a")
    drop(inbox, "13812345678.xlsx", b"bb")
    entries, _ = list_inbox(inbox)
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
        for e in entries:  # as 0003 remembered them: by the path as shown
            conn.execute(
                text("INSERT INTO inbox_file VALUES (:p, :size, :mtime, :sha, :at)"),
                {"p": e.shown, "size": e.size, "mtime": e.mtime_ns, "sha": "0" * 64, "at": datetime.now(UTC)},
            )
    upgrade(engine)
    assert [e.name for e in changed(entries, engine)] == ["138****5678.xlsx"]
    assert "pipeline_lock" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
        assert sorted(conn.execute(text("SELECT path FROM inbox_file")).scalars()) == sorted(
            e.shown for e in entries
        )
    upgrade(engine)
    assert len(changed(entries, engine)) == 1
    engine.dispose()


def test_only_what_a_second_try_can_pass_is_an_outage(tmp_path: Path):
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    from pbstats.warehouse.db import is_outage

    refused = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(DBAPIError) as down:
        refused.connect()
    assert is_outage(down.value)
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    upgrade(engine)
    with engine.connect() as conn, pytest.raises(DBAPIError) as typo:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert not is_outage(typo.value)
    with engine.begin() as conn, pytest.raises(DBAPIError) as broken:
        conn.execute(text("INSERT INTO dim_metric (form) VALUES ('DJ-1')"))
    assert not is_outage(broken.value)
    holder = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        sqlite3.connect(tmp_path / "w.db", timeout=0).execute("BEGIN IMMEDIATE")
    holder.close()
    assert is_outage(busy.value)
    assert not is_outage(ValueError("a bug"))
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_registry_load_replaces_the_registry_keeping_validity_spans(
    warehouse_url, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path))
    csv = tmp_path / "orgs.csv"
    csv.write_text(
        "org_code,name,level,kind,parent_code,valid_from,valid_to\n"
        "990181000000,示例市,city,市,,2020,\n"
        "990181101000,青石镇,township,镇,990181000000,2020,\n"
        "990181101201,枫虎坪村,village,村,990181101000,2020,2024\n"
        "990181101201,新枫虎坪村,village,村,990181101000,2025,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["registry", "load", str(csv)])
    assert result.exit_code == 0, result.output
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("select name, valid_from, valid_to from dim_org where org_code='990181101201' order by 2")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("枫虎坪村", 2020, 2024), ("新枫虎坪村", 2025, None)]
    assert len(read_csv(csv)) == 4


def test_registry_load_refuses_overlapping_spans(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path))
    csv = tmp_path / "orgs.csv"
    csv.write_text(
        "org_code,name,level,kind,parent_code,valid_from,valid_to\n"
        "990181101201,甲村,village,村,990181101000,2020,\n"
        "990181101201,乙村,village,村,990181101000,2024,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["registry", "load", str(csv)])
    assert result.exit_code == 1 and "overlap" in result.output


def test_bulk_rows_are_stored_as_sqlalchemy_stores_them(warehouse_url):
    """insert_rows takes the driver's own bulk path (executemany over tuples, COPY): what it stores
    reads back the same as rows inserted through SQLAlchemy, datetimes, NULLs and text included."""
    from sqlalchemy import insert, select

    from pbstats.warehouse.bulk import COPY_FROM, insert_rows
    from pbstats.warehouse.tables import fact_metric_history as history

    engine = make_engine(warehouse_url)
    upgrade(engine)
    rows = [
        {
            "org_code": f"9901{i:08d}",
            "year": 2024 + i % 2,
            "form": "DJ-1",
            "indicator_code": f"{i % 25 + 1:02d}",
            "metric_key": "村（社区）党员人数",
            "old_value": None if i % 3 else i / 7,
            "new_value": i * 1.5,
            "old_submission_id": None if i % 2 else i,
            "new_submission_id": i + 1,
            "changed_at": datetime(2026, 3, 1, 12, 0, i % 60, i * 1000 % 1_000_000, tzinfo=UTC),
            "run_id": f"run-{i}",
        }
        for i in range(COPY_FROM * 2)
    ]
    columns = [history.c[c] for c in rows[0]]
    with engine.begin() as conn:
        insert_rows(conn, history, rows)
        bulk = conn.execute(select(*columns).order_by(history.c.history_id)).all()
        conn.execute(history.delete())
        conn.execute(insert(history), rows)
        plain = conn.execute(select(*columns).order_by(history.c.history_id)).all()
        conn.execute(history.delete())
    engine.dispose()
    assert len(bulk) == len(rows) and bulk == plain
    assert bulk[1].changed_at.microsecond == 1000 and bulk[1].old_value is None


def test_rows_are_found_and_deleted_by_their_keys_exactly(warehouse_url):
    """The settle's key lookups (a join with unnested arrays on PostgreSQL, a temporary table on
    SQLite) and its stale-facts delete match exactly the rows of the keys asked, each once, however
    often a key is asked and whether or not it has rows."""
    from sqlalchemy import delete, func, select

    from pbstats.warehouse.bulk import insert_rows, key_match, rows_of_keys
    from pbstats.warehouse.tables import fact_metric_history as history

    engine = make_engine(warehouse_url)
    upgrade(engine)
    rows = [
        {
            "org_code": f"99010100{i % 40:04d}",
            "year": 2024 + i % 2,
            "form": ("DJ-1", "DJ-2")[i % 3 == 0],
            "indicator_code": f"{i % 12 + 1:02d}",
            "metric_key": "m",
            "new_value": float(i),
            "changed_at": datetime(2026, 3, 1, tzinfo=UTC),
            "run_id": "r",
        }
        for i in range(600)
    ]
    keys = sorted({(r["form"], r["org_code"], r["year"]) for r in rows})
    asked = keys[::3] + keys[::6] + [("DJ-1", "990199999999", 2025)]  # repeats, and one with no rows
    expected = sorted(r["new_value"] for r in rows if (r["form"], r["org_code"], r["year"]) in set(asked))
    with engine.begin() as conn:
        insert_rows(conn, history, rows)
        found = sorted(r.new_value for r in rows_of_keys(conn, history, (history.c.new_value,), asked))
        conn.execute(delete(history).where(key_match(conn, history, asked)))
        left = conn.execute(select(func.count()).select_from(history)).scalar_one()
        conn.execute(delete(history))
    engine.dispose()
    assert found == expected and len(expected) > 50
    assert left == len(rows) - len(expected)


def test_rollup_checks_count_each_villages_current_values(warehouse_url):
    """The rollup re-check fetches only the indicators a rollup counts, one row per village: its states,
    expected counts and findings are those of `evaluate_rollup` over every current value, with a
    village whose counted indicators are all missing still counted as having returned."""
    import json
    import random

    from sqlalchemy import select

    from pbstats.flows.stages import rerun_rollups
    from pbstats.schemas.registry import Registry, default_spans
    from pbstats.transforms.rollup import evaluate_rollup
    from pbstats.warehouse.bulk import insert_rows
    from pbstats.warehouse.runs import start_run
    from pbstats.warehouse.tables import fact_metric, rollup_check, submission, submission_issue

    registry, year, rng = Registry(default_spans()), 2025, random.Random(5)
    cells = {"01": "D6", "07": "D12", "08": "D13", "09": "D14"}
    townships = [t.org_code for t in registry.orgs(year, "township")]
    engine = make_engine(warehouse_url)
    upgrade(engine)
    at = datetime(2026, 1, 10, tzinfo=UTC)
    facts, villages_of = [], {t: [v.org_code for v in registry.villages_of(t, year)] for t in townships}
    returned = [(t, "DJ-2") for t in townships[1:]]  # the first township has not reported
    for t in townships:
        vs = villages_of[t]
        returned += [(v, "DJ-1") for v in (vs if rng.random() < 0.7 else vs[1:])]  # some pending
    subs = [
        {"file_name": f"{org}.xlsx", "sha256": f"{i:064d}", "size_bytes": 1, "received_at": at, "form": form,
         "org_code": org, "year": year, "status": "accepted", "late": False, "archive_path": "x", "run_id": "r",
         "loaded_at": at, "sheet": "Sheet1", "value_cells": json.dumps(cells)}
        for i, (org, form) in enumerate(returned)
    ]  # fmt: skip
    with engine.begin() as conn:
        start_run(conn, "r", None, "test", None)
        insert_rows(conn, submission, subs)
        sid = {(r.org_code, r.form): r.submission_id for r in conn.execute(select(submission))}
        for (org, form), s in sid.items():
            codes = ("01", "07", "08", "09") if form == "DJ-2" else ("01", "04", "07", "09")
            if form == "DJ-1" and rng.random() < 0.1:
                codes = ("01",)  # none of the counted indicators
            for code in codes:
                value = float(rng.choice([0, 1, 3, 12])) if form == "DJ-1" else float(rng.randint(0, 4))
                facts.append({"org_code": org, "year": year, "form": form, "indicator_code": code,
                              "metric_key": "m", "value": value, "submission_id": s})  # fmt: skip
        insert_rows(conn, fact_metric, facts)
        rerun_rollups(conn, [(year, t) for t in townships], registry, at)
        got = {
            (r.township_code, r.indicator_code): (r.state, r.reported, r.expected, r.villages_accepted)
            for r in conn.execute(select(rollup_check))
        }
        warned = sorted(
            (r.submission_id, r.indicator_code, r.cell)
            for r in conn.execute(select(submission_issue).where(submission_issue.c.check_id == "W-ROLLUP"))
        )
    engine.dispose()
    values: dict = {}
    for f in facts:
        values.setdefault((f["org_code"], f["form"]), {})[f["indicator_code"]] = f["value"]
    want, want_warned = {}, []
    for t in townships:
        accepted = [values[(v, "DJ-1")] for v in villages_of[t] if (v, "DJ-1") in values]
        for r in evaluate_rollup(values.get((t, "DJ-2")), len(villages_of[t]), accepted):
            want[(t, r.indicator_code)] = (r.state, r.reported, r.expected, len(accepted))
            if r.finding is not None:
                want_warned.append((sid[(t, "DJ-2")], r.indicator_code, cells[r.indicator_code]))
    assert got == want
    assert warned == sorted(want_warned)
    states = {s for s, *_ in got.values()}
    assert {"ok", "mismatch", "pending", "no_return"} <= states, states


def test_sqlite_wal_is_copied_back_beside_the_run(tmp_path: Path):
    """A batch's commit leaves the WAL to `checkpoints_beside`: the rows reach the database file while
    the run goes on, without a commit stopping to copy them."""
    import sqlite3
    import time
    from contextlib import closing

    from pbstats.warehouse.bulk import insert_rows
    from pbstats.warehouse.db import checkpoints_beside
    from pbstats.warehouse.tables import fact_metric_history as history

    db = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with closing(sqlite3.connect(db)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = [
        {"org_code": f"{i:012d}", "year": 2025, "form": "DJ-1", "indicator_code": "01", "metric_key": "m" * 200,
         "new_value": float(i), "changed_at": datetime(2026, 3, 1, tzinfo=UTC), "run_id": "r"}
        for i in range(20_000)
    ]  # fmt: skip
    before = db.stat().st_size
    with engine.begin() as conn:  # ~5 MB: past SQLite's own 1,000-page checkpoint, not past ours
        insert_rows(conn, history, rows)
    assert db.stat().st_size == before  # the commit copied nothing back itself
    with checkpoints_beside(engine, every=0.05):
        deadline = time.monotonic() + 10
        while db.stat().st_size < before + 4_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
    engine.dispose()
    assert db.stat().st_size >= before + 4_000_000
