"""`pbstats db grant-analyst`: an analyst role reads the contract and can change nothing (PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from pbstats.flows.cli import app
from pbstats.warehouse.db import make_engine, normalise_url, upgrade
from pbstats.warehouse.roles import analyst_objects
from pbstats.warehouse.views import VIEWS


@pytest.fixture
def pg_warehouse(pg_database: str, monkeypatch) -> str:
    """A migrated, empty PostgreSQL warehouse that the CLI points at."""
    engine = create_engine(normalise_url(pg_database))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    engine = make_engine(pg_database)
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", pg_database)
    return pg_database


@pytest.fixture
def role(pg_warehouse: str):
    """A fresh role name; the role (cluster-wide) is dropped after the test."""
    name = f"analyst_{uuid.uuid4().hex[:8]}"
    yield name
    admin = create_engine(normalise_url(pg_warehouse), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first():
            conn.execute(text(f'DROP OWNED BY "{name}"'))
            conn.execute(text(f'DROP ROLE "{name}"'))
    admin.dispose()


def login_as(url: str, role: str, password: str):
    target = make_url(normalise_url(url)).set(username=role, password=password)
    return create_engine(target, isolation_level="AUTOCOMMIT")


def grant(*args: str):
    return CliRunner().invoke(app, ["db", "grant-analyst", *args])


FORBIDDEN = [
    "INSERT INTO fact_metric (org_code, year, form, indicator_code, metric_key, value, submission_id) "
    "VALUES ('990181101201', 2025, 'DJ-1', '01', 'party_members', 1, 1)",
    "UPDATE dim_org SET name = 'x'",
    "DELETE FROM dim_metric",
    "TRUNCATE submission_issue",
    "CREATE TABLE mine (x int)",
    "CREATE VIEW mine AS SELECT 1",
    "DROP VIEW v_year_review",
    "DROP TABLE fact_metric_history",
    "ALTER TABLE load_run ADD COLUMN x int",
    "SELECT * FROM inbox_file",  # not in the analyst contract
]


def test_an_analyst_reads_the_contract_and_can_change_nothing(pg_warehouse, role):
    result = grant(role, "--create", "--password", "s3cret")
    assert result.exit_code == 0, result.output
    assert "只读" in result.output
    engine = login_as(pg_warehouse, role, "s3cret")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == role
            for name in analyst_objects():
                conn.execute(text(f"SELECT * FROM {name} LIMIT 1")).fetchall()
            assert conn.execute(text("SELECT count(*) FROM dim_org")).scalar_one() > 0
            for statement in FORBIDDEN:
                with pytest.raises(DBAPIError) as refused:
                    conn.execute(text(statement))
                assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value), (
                    statement
                )
    finally:
        engine.dispose()


def test_granting_again_is_harmless_and_takes_back_what_was_granted_by_hand(pg_warehouse, role):
    assert grant(role, "--create", "--password", "pw").exit_code == 0
    admin = create_engine(normalise_url(pg_warehouse), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'GRANT INSERT, DELETE ON fact_metric TO "{role}"'))
    admin.dispose()
    assert grant(role).exit_code == 0  # the role exists now: no --create needed
    engine = login_as(pg_warehouse, role, "pw")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM v_metric_values")).scalar_one() == 0
            with pytest.raises(DBAPIError):
                conn.execute(text("DELETE FROM fact_metric"))
    finally:
        engine.dispose()


def test_a_missing_role_is_not_created_unasked(pg_warehouse, role):
    result = grant(role)
    assert result.exit_code == 1 and "不存在" in result.output
    result = grant(role, "--create")
    assert result.exit_code == 1 and "密码" in result.output


def test_the_pipelines_own_role_cannot_be_made_an_analyst(pg_warehouse):
    owner = make_url(normalise_url(pg_warehouse)).username
    result = grant(owner)
    assert result.exit_code == 1
    assert "超级用户" in result.output or "唯一可写入" in result.output


def test_on_sqlite_the_command_says_it_does_not_apply(tmp_path, monkeypatch):
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    result = grant("alice")
    assert result.exit_code == 1 and "只适用于 PostgreSQL" in result.output


def test_the_contract_lists_every_view_and_no_pipeline_table():
    objects = analyst_objects()
    assert set(VIEWS) <= set(objects)
    assert {"dim_org", "dim_metric", "submission", "submission_issue", "fact_metric", "load_run"} <= set(
        objects
    )
    assert not {"inbox_file", "rollup_dirty", "year_state"} & set(objects)
