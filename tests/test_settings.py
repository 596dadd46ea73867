"""Settings: read from the environment once, as a command starts, and checked there; a setting that
cannot be used is one Chinese line on stderr and exit code 5 (bad arguments)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pbstats.flows.settings import BadSettings, Settings, current, use

PBSTATS = str(Path(sys.executable).with_name("pbstats"))
CJK = re.compile(r"[\u4e00-\u9fff]")


def env_with(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBSTATS_", "PREFECT_API"))}
    return dict(env, **settings)


@pytest.mark.parametrize(
    "name,value",
    [
        ("PBSTATS_BATCH_SIZE", "abc"),
        ("PBSTATS_BATCH_SIZE", "0"),
        ("PBSTATS_DEADLINE", "13-45"),
        ("PBSTATS_DEADLINE", "02-29"),  # not a day of every year
        ("PBSTATS_TASK_RUNNER", "spark"),
        ("PBSTATS_LOAD_RETRY_DELAYS", "2,8"),
        ("PBSTATS_TODAY", "yesterday"),
        ("PBSTATS_WAREHOUSE_URL", "no url at all"),
    ],
)
def test_a_setting_that_cannot_be_used_stops_the_command_with_one_chinese_line(
    name: str, value: str, tmp_path: Path
):
    (tmp_path / "inbox").mkdir()
    env = env_with(PBSTATS_HOME=str(tmp_path / "home"), **{name: value})
    done = subprocess.run(
        [PBSTATS, "ingest", str(tmp_path / "inbox")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 5, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and CJK.search(lines[0]), done.stderr
    assert not (tmp_path / "home").exists()  # nothing was started or written


@pytest.mark.parametrize(
    "command", [["rerun", "--year", "2025"], ["report", "--year", "2025"], ["close-year", "2025"]]
)
def test_every_command_reads_its_settings_first(command: list[str], tmp_path: Path):
    env = env_with(PBSTATS_HOME=str(tmp_path / "home"), PBSTATS_DEADLINE="13-45")
    done = subprocess.run([PBSTATS, *command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 5 and "PBSTATS_DEADLINE=13-45" in done.stderr, done.stderr


def test_a_password_in_a_bad_setting_is_not_repeated(monkeypatch):
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", "postgresql://me:s3cret@db:port/pbstats")
    with pytest.raises(BadSettings) as bad:
        Settings.from_environment()
    assert "PBSTATS_WAREHOUSE_URL" in str(bad.value) and "s3cret" not in str(bad.value)


def test_no_module_reads_the_environment_when_imported(tmp_path: Path):
    """Every module of the package imports with settings no command could use."""
    root = Path(__file__).resolve().parent.parent
    modules = sorted(
        "pbstats." + ".".join(p.relative_to(root).with_suffix("").parts)
        for package in ("schemas", "transforms", "expectations", "warehouse", "flows", "gen")
        for p in (root / package).rglob("*.py")
        if "migrations" not in p.parts and p.name != "__init__.py"
    )
    env = env_with(PBSTATS_BATCH_SIZE="abc", PBSTATS_TASK_RUNNER="spark", PBSTATS_DEADLINE="13-45")
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    done = subprocess.run(
        [sys.executable, "-c", code, *modules], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_settings_read_from_the_environment_are_checked_and_tidied(monkeypatch):
    monkeypatch.setenv("PBSTATS_DEADLINE", "2-5")
    monkeypatch.setenv("PBSTATS_LOAD_RETRY_DELAYS", "[1, 2]")
    settings = Settings.from_environment()
    assert settings.deadline == "02-05" and settings.deadline_month_day == (2, 5)
    assert settings.load_retry_delays == [1, 2]


def test_the_settings_a_command_hands_down_are_the_ones_its_flows_use(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "elsewhere"))
    handed = Settings(home=tmp_path / "home")
    with use(handed):
        assert current() is handed
    assert current().home == tmp_path / "elsewhere"  # read when asked, outside a command


@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_run_uses_the_settings_its_command_handed_down(tmp_path: Path, monkeypatch):
    from pbstats.flows.ingest import ingest
    from tests.builders import drop, make_return

    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    drop(tmp_path / "inbox", "村.xlsx", make_return())
    with use(Settings(home=tmp_path / "home")):
        summary = ingest(str(tmp_path / "inbox"))
    assert summary.totals["accepted"] == 1
    assert (tmp_path / "home" / "warehouse.db").exists() and not (tmp_path / "elsewhere").exists()
