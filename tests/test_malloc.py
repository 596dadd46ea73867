"""The allocator's settings a command gives itself and the processes it starts (flows/malloc.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pbstats.flows import malloc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's settings")

SEEN_BY_A_CHILD = (
    "import os; print(os.environ.get('MALLOC_ARENA_MAX'), os.environ.get('MALLOC_MMAP_THRESHOLD_'))"
)


def test_the_processes_a_command_starts_get_the_settings(monkeypatch):
    for name in malloc.SETTINGS:
        monkeypatch.setenv(name, "")  # so that the environment as it was comes back after the test
        monkeypatch.delenv(name)
    malloc.tune()
    child = subprocess.run(
        [sys.executable, "-c", SEEN_BY_A_CHILD], capture_output=True, text=True, check=True
    )
    assert child.stdout.split() == ["2", "131072"]


def test_an_operators_own_settings_are_kept(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "not a number")
    malloc.tune()  # glibc ignores what is not a number; so does tune, without failing
    child = subprocess.run(
        [sys.executable, "-c", SEEN_BY_A_CHILD], capture_output=True, text=True, check=True
    )
    assert child.stdout.split() == ["4", "not", "a", "number"]
