"""Killed, doubled, cut off or out of disk: the warehouse ends as one clean run would leave it.
Small versions of reliability/scenarios.py (`make reliability` runs them at full size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability import scenarios

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path: Path):
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_pg")
    counter = iter(range(10_000))
    return lambda: f"sqlite:///{tmp_path / f'w{next(counter)}.db'}"


def test_a_run_killed_at_any_point_finishes_as_if_never_killed(prefect_api_env, fresh_url, tmp_path):
    tried, survived, failures = scenarios.kills(prefect_api_env, fresh_url, tmp_path, points=3)
    assert survived == tried, failures


def test_two_runs_at_once_load_nothing_twice(prefect_api_env, fresh_url, tmp_path):
    tried, survived, failures = scenarios.concurrent(prefect_api_env, fresh_url, tmp_path)
    assert survived == tried, failures


def test_a_database_outage_mid_run_fails_clearly_and_the_next_run_completes(
    prefect_api_env, fresh_pg, tmp_path
):
    tried, survived, failures = scenarios.outage(prefect_api_env, fresh_pg, tmp_path, cuts=1)
    assert survived == tried, failures


def test_a_full_disk_while_archiving_fails_clearly_and_marks_nothing_done(
    prefect_api_env, fresh_pg, tmp_path
):
    tried, survived, failures = scenarios.full_disk(prefect_api_env, fresh_pg, tmp_path)
    assert survived == tried, failures
