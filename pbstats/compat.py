"""The private doors into other libraries that pbstats keeps, all of them here.

Each is kept because it pays (bench/README.md has the figures) and each was written against the
version in `WRITTEN_FOR`; `tests/test_compat.py` fails when an installed version differs, so that an
upgrade reads this module again before it lands. Everything else in pbstats uses public APIs only.
This module imports nothing of pbstats, so every layer may use it.

- Prefect keeps every finished task's state, and with it the task's value, in the flow run's
  context until the run ends: a province's read batches would stay in memory all night. There is
  no public way to let go of a value once it has been taken (`cache_result_in_memory=False` writes
  every result to storage instead, which costs a write and a read per batch).
- Prefect starts its own temporary server with two private settings (ephemeral mode); pbstats
  starts the same server itself, as early as it can, so that it is ready when the flow starts.
- openpyxl saves each sheet through a temporary file; the feedback workbooks are made in memory
  (~3 ms of a ~17 ms workbook, in the reader that builds it).
- CPython tears down every object of a night's run at exit (~1 s); the command ends with
  `os._exit` once what the interpreter's exit does in Python (joining threads, atexit) is done.
- glibc's allocator is set for many threads and short-lived objects (mallopt: the whole process
  tree's peak 822 -> 753 MB on a cold night of 25,000 returns).
"""

from __future__ import annotations

import atexit
import ctypes
import io
import os
import sys
import threading
from functools import cache
from typing import Any

WRITTEN_FOR = {"prefect": "3.9.1", "openpyxl": "3.1.5"}
PYTHON = ((3, 11), (3, 13))  # CPython versions whose exit sequence `exit_now` repeats


# --- Prefect ---------------------------------------------------------------------------------------

# the environment Prefect's own `SubprocessASGIServer` gives the temporary server it starts
EPHEMERAL_SERVER_ENV = {"PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def let_go_of_value(state: Any) -> None:
    """A finished task's state no longer holds its value (the caller has taken it)."""
    state.data = None


def let_go_of_future(future: Any) -> None:
    """A finished Prefect future's final state no longer holds the value its `result()` returned:
    the future and its thread's future refer to each other, so without this the state and its value
    wait for a full garbage collection. A future whose state was never read is left alone (reading
    `state` would ask the API)."""
    state = getattr(future, "_final_state", None)
    if state is not None:
        state.data = None


# --- openpyxl --------------------------------------------------------------------------------------


@cache
def in_memory_excel_writer() -> type:
    """openpyxl's `ExcelWriter` with each sheet's XML made in memory instead of in a temporary file
    (its `write_worksheet`, as of openpyxl 3.1.5, with a `BytesIO` in place of the file)."""
    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.worksheet._writer import WorksheetWriter
    from openpyxl.writer.excel import ExcelWriter

    class InMemoryWriter(ExcelWriter):
        def write_worksheet(self, ws) -> None:
            ws._drawing = SpreadsheetDrawing()
            ws._drawing.charts = ws._charts
            ws._drawing.images = ws._images
            writer = WorksheetWriter(ws, io.BytesIO())
            writer.write()
            ws._rels = writer._rels
            self._archive.writestr(ws.path[1:], writer.read())
            self.manifest.append(ws)

    return InMemoryWriter


# --- CPython ---------------------------------------------------------------------------------------


def exit_now(code: int) -> None:
    """Exit as the interpreter would — other threads joined, atexit functions run, output flushed —
    but without tearing down every object; the usual `sys.exit` where this is not CPython."""
    shutdown = getattr(threading, "_shutdown", None)
    exit_funcs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or exit_funcs is None or sys.implementation.name != "cpython":
        sys.exit(code)
    shutdown()
    exit_funcs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a closed pipe: nothing more can be said there
            pass
    os._exit(code)


# --- glibc -----------------------------------------------------------------------------------------


def mallopt(parameter: int, value: int) -> bool:
    """glibc's `mallopt` for this process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(fn(parameter, value))
