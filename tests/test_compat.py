"""pbstats/compat.py: each private door still opens on the installed libraries, and an upgrade of
a library it reaches into fails here first (read compat.py again, then change WRITTEN_FOR)."""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
from importlib.metadata import version

import openpyxl
import pytest

from pbstats import compat


@pytest.mark.parametrize("library", sorted(compat.WRITTEN_FOR))
def test_the_installed_library_is_the_version_compat_was_written_for(library):
    assert version(library) == compat.WRITTEN_FOR[library], (
        f"{library} changed: check every use of it in pbstats/compat.py, then update WRITTEN_FOR"
    )


def test_the_interpreter_is_one_whose_exit_compat_repeats():
    low, high = compat.PYTHON
    assert sys.implementation.name == "cpython" and low <= sys.version_info[:2] <= high


def test_prefect_still_starts_its_temporary_server_with_the_settings_compat_names():
    from prefect.server.api import server

    source = inspect.getsource(server)
    for name, value in compat.EPHEMERAL_SERVER_ENV.items():
        assert f'"{name}": "{value}"' in source


def test_a_taken_task_value_is_let_go_of(prefect_harness):
    from prefect import flow, task

    @task
    def batch() -> list[int]:
        return list(range(1000))

    @flow
    def night():
        future = batch.submit()
        value = future.result()
        held = future._final_state.data is not None
        compat.let_go_of_future(future)
        state = batch(return_state=True)
        compat.let_go_of_value(state)
        return value, held, future._final_state.data, state.data

    value, held, after, state_data = night()
    assert value == list(range(1000)) and held  # the door is real: the state held the value
    assert after is None and state_data is None


def test_the_in_memory_writer_saves_what_openpyxl_saves():
    import zipfile

    book = openpyxl.Workbook()
    book.active["B2"] = "党员总数"
    book.active["C2"] = 46
    book.create_sheet("第二页")["A1"] = 1.5
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        compat.in_memory_excel_writer()(book, archive).write_data()
    stock = io.BytesIO()
    book.save(stock)
    ours, theirs = zipfile.ZipFile(out), zipfile.ZipFile(stock)
    assert sorted(ours.namelist()) == sorted(theirs.namelist())
    for name in ours.namelist():
        if name.startswith("xl/worksheets/"):
            assert ours.read(name) == theirs.read(name)


def test_exit_now_joins_threads_runs_atexit_and_keeps_the_code():
    program = (
        "import atexit, threading, time\n"
        "from pbstats import compat\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True))).start()\n"
        "print('leaving', end=' ')\n"
        "compat.exit_now(3)\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.split("\n")[:3] == ["leaving thread done", "atexit ran", ""]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_mallopt_reaches_glibc():
    M_ARENA_MAX = -8
    assert compat.mallopt(M_ARENA_MAX, 2) is True
