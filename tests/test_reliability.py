"""Killed, doubled, cut off or out of disk: the warehouse ends as one clean run would leave it.
Small versions of reliability/scenarios.py (`make reliability` runs them at full size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability import scenarios
from reliability.harness import run_to_end, snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path: Path):
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_pg")
    counter = iter(range(10_000))
    return lambda: f"sqlite:///{tmp_path / f'w{next(counter)}.db'}"


def test_a_run_killed_at_any_point_finishes_as_if_never_killed(prefect_api_env, fresh_url, tmp_path):
    killed = scenarios.kills(prefect_api_env, fresh_url, tmp_path, points=3)
    assert killed.survived == killed.tried, killed.failures
    assert killed.tried >= 1 and sum(killed.landed.values()) == killed.tried, killed
    assert set(killed.landed) <= set(scenarios.PHASES)


def test_a_kill_that_comes_after_the_run_has_ended_is_not_a_survived_kill(prefect_api_env, tmp_path):
    counter = iter(range(10))
    killed = scenarios.kills(
        prefect_api_env, lambda: f"sqlite:///{tmp_path / f'w{next(counter)}.db'}", tmp_path, 1, moments=[600]
    )
    assert (killed.tried, killed.survived, killed.missed, sum(killed.landed.values())) == (0, 0, 1, 0)


def test_a_kill_is_placed_in_the_phase_the_run_had_reached(prefect_api_env, tmp_path):
    """What a run leaves tells how far it got: no run recorded, nothing archived, nothing loaded, part
    of the returns loaded, all of them."""
    counter = iter(range(10))
    url = [f"sqlite:///{tmp_path / f'w{next(counter)}.db'}" for _ in range(3)]
    home = [tmp_path / f"home-{n}" for n in range(3)]
    assert scenarios.phase_of(url[0], home[0], 1) == "start"
    (tmp_path / "empty").mkdir()
    assert (
        run_to_end(scenarios.env_for(prefect_api_env, url[1], home[1]), "ingest", str(tmp_path / "empty"))[0]
        == 0
    )
    assert scenarios.phase_of(url[1], home[1], 1) == "discover"
    (home[1] / "archive" / "ab").mkdir(parents=True)
    (home[1] / "archive" / "ab" / "abcd.xlsx").write_bytes(b"archived")
    assert scenarios.phase_of(url[1], home[1], 1) == "read"
    scenarios.make_inbox(tmp_path / "inbox")
    rc, out = run_to_end(
        scenarios.env_for(prefect_api_env, url[2], home[2]), "ingest", str(tmp_path / "inbox")
    )
    assert rc == 0, out
    loaded = len(snapshot(url[2], home[2])["submission"])
    assert scenarios.phase_of(url[2], home[2], loaded) == "finish"
    assert scenarios.phase_of(url[2], home[2], loaded + 1) == "load"


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
