"""Hostile and broken files on every reader path (.xlsx, .xlsm, .xls, .ods through python-calamine,
openpyxl in the feedback builder) end as a rejected or accepted submission with a reason — never a
crash, a hang past the time budget or memory past its budget. Each file is judged in a separate
process with RLIMIT_AS and a timeout (reliability/judge.py), so a failure here fails a test, not
the test run. PBSTATS_FUZZ=full runs the heavy cases at full size and thousands of fuzzed files;
`python reliability/hostile.py` is the same at full size on its own."""

from __future__ import annotations

import fcntl
import os
import pickle
import random
import termios
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbstats.flows import sandbox
from pbstats.flows.files import list_inbox, quarantine, read_entry, safe_name
from pbstats.gen.workbook import write_book
from pbstats.schemas.messages import OVER_BUDGET
from pbstats.transforms.feedback import build_feedback
from pbstats.transforms.model import Finding
from reliability.badfiles import KINDS, book_of, hostile_cases, mutate, seed
from reliability.judge import Judge, inspect_feedback
from tests.builders import drop, make_return

FULL = os.environ.get("PBSTATS_FUZZ") == "full"
SIZE = 1.0 if FULL else 0.1
settings.register_profile("make-test", max_examples=200, deadline=None, database=None, derandomize=True)
settings.register_profile("full", max_examples=4000, deadline=None, database=None)
settings.load_profile("full" if FULL else "make-test")

CASES = hostile_cases(SIZE)
HEAVY = {"million-rows", "million-rows-no-ref", "zip-lying-sizes", "zip-ratio", "thousands-of-sheets"}
# the known weak spots: each must be refused by the survey, for a reason the submitter can act on
REFUSED_BY_SURVEY = {
    ("far-cell", "xlsx"),
    ("far-cell", "xls"),
    ("far-column", "xls"),
    ("dimensions-lie", "xls"),
    ("dimensions-wrap", "xls"),
    ("far-cell", "ods"),
    ("repeated-content", "ods"),
    ("megabyte-cell-repeated", "ods"),
    ("shared-string-copies", "xlsx"),
    ("shared-string-copies", "xls"),
    ("sst-count-lie", "xlsx"),
    ("bad-cell-ref", "xlsx"),
    ("zip-lying-sizes", "xlsx"),
    ("zip-overlapping-entries", "ods"),
    ("million-rows", "xlsx"),
    ("encrypted", "ods"),
    ("ole-loop", "xls"),
    ("unclosed-table", "ods"),
    ("unclosed-row", "ods"),
}


@pytest.fixture(scope="module")
def judge():
    with Judge(seconds=30.0, memory=2 << 30) as j:
        yield j


def _param(case):
    marks = [pytest.mark.slow] if case.case in HEAVY else []
    return pytest.param(case, id=case.file_name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_a_hostile_file_ends_as_a_judged_submission(judge, case):
    verdict = judge(case.file_name, case.make())
    assert verdict.judged, (verdict.outcome, verdict.reason, verdict.feedback_problem)
    assert verdict.seconds < 30
    if (case.case, case.kind) in REFUSED_BY_SURVEY:
        assert verdict.outcome == "rejected" and "E-FILE" in verdict.checks
        assert verdict.reason not in OVER_BUDGET.values(), verdict.reason
    if case.case.startswith(("truncated", "bitflipped", "entity-bomb", "external-entity", "zip-lying")):
        assert verdict.outcome == "rejected"
    if case.case == "pii-number-as-count":
        assert "E-PII" in verdict.checks
    if case.case == "uncached-formula":
        assert verdict.checks == ["E-VALUE"]


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_fuzzed_returns_end_as_judged_submissions(judge, kind, data):
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    mutated = mutate(seed(kind), kind, rng, steps=data.draw(st.integers(1, 4), label="steps"))
    verdict = judge(f"fuzz.{kind}", mutated)
    assert verdict.judged, (verdict.outcome, verdict.reason, verdict.feedback_problem)


@pytest.mark.parametrize("kind", KINDS)
def test_formulas_and_links_never_reach_the_feedback_live(kind):
    case = next(c for c in CASES if c.case == "formulas" and c.kind == kind)
    original = case.make()
    findings = [Finding("E-VALUE", "公式", "DJ", "F6"), Finding("E-FORM", "找不到表头行")]
    out = build_feedback(original, case.file_name, findings)
    assert inspect_feedback(out) is None


def test_the_ods_formula_without_a_value_is_found():
    from pbstats.transforms.workbook import read_workbook

    book = read_workbook(next(c for c in CASES if c.file_name == "formulas.ods").make(), "x.ods")
    assert book.sheets[0].uncached_formulas == {(0, 3)}  # of:=1+1 with no office:value-type


# --- the guarded worker ---------------------------------------------------------------------------


def test_a_reader_that_aborts_hangs_or_eats_memory_costs_only_its_file():
    assert sandbox.call(os.abort).why == "crash"
    started = time.monotonic()
    assert sandbox.call(time.sleep, 60, seconds=1.0).why == "time"
    assert time.monotonic() - started < 10
    assert sandbox.call(bytearray, 3 << 30, memory=1 << 30).why in ("memory", "crash")
    assert sandbox.call(len, b"still works") == 11


def test_a_batch_goes_on_past_the_file_that_kills_or_hangs_its_worker():
    # map_each(fn, items, shared) calls fn(shared, *item) in a worker: here eval(expression, {"x": …})
    expression = (
        "__import__('os').abort() if x == 0 else __import__('time').sleep(60) if x == 5 "
        "else 1 // (x - 7) if x == 7 else x * 2"
    )
    items = [({"x": x},) for x in (1, 0, 2, 5, 3, 7, 4)]
    started = time.monotonic()
    got = sandbox.map_each(eval, items, expression, seconds=2.0)
    assert time.monotonic() - started < 20
    assert [g if not isinstance(g, sandbox.Failed) else g.why for g in got] == [
        2, "crash", 4, "time", 6, "error", 8,
    ]  # fmt: skip
    assert "ZeroDivisionError" in got[5].detail


def test_workers_started_ahead_are_the_ones_that_answer():
    sandbox.prestart(2)
    waiting = {w.process.pid for w in sandbox._idle}
    assert len(waiting) >= 2 and all(w.process.poll() is None for w in sandbox._idle)
    pids = sandbox.map_each(eval, [({},)] * 3, "__import__('os').getpid()")
    assert set(pids) <= waiting and os.getpid() not in pids


def test_a_worker_that_has_read_its_share_is_replaced_by_one_started_at_once(monkeypatch):
    """A worker's memory stays that of its first MAX_SERVED files, however large the night: after them it
    is stopped and a fresh one, started at once, answers the next call (and is sent the shared object)."""
    monkeypatch.setattr(sandbox, "MAX_SERVED", 5)
    ask = "(__import__('os').getpid(), x)"
    first = sandbox.map_each(eval, [({"x": x},) for x in range(5)], ask)
    (pid,) = {p for p, _ in first}
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped
    assert pid not in {w.process.pid for w in sandbox._idle}
    second = sandbox.map_each(eval, [({"x": x},) for x in range(3)], ask)
    assert {p for p, _ in second} != {pid} and [x for _, x in second] == [0, 1, 2]
    assert sandbox.call(len, b"still works") == 11


def test_a_worker_answers_on_while_its_answers_wait_to_be_taken():
    """A worker's answers pile up in its pipe while the caller is busy elsewhere: ~300 answers, not the
    ~20 a default pipe of 64 KB holds before the worker must stop and wait."""
    worker = sandbox._Worker(sandbox.MEMORY)
    try:
        items = [({},)] * 40
        request = pickle.dumps(("map", eval, 1, pickle.dumps("b'x' * 10_000"), items))
        worker.process.stdin.write(sandbox._HEADER.pack(len(request)) + request)
        worker.process.stdin.flush()
        answer = pickle.dumps(("ok", b"x" * 10_000), protocol=pickle.HIGHEST_PROTOCOL)
        expected = len(sandbox._READY) + len(items) * (sandbox._HEADER.size + len(answer))
        assert expected > 4 * 65_536
        waiting, deadline = 0, time.monotonic() + 20
        while waiting < expected and time.monotonic() < deadline:
            time.sleep(0.05)
            waiting = int.from_bytes(
                fcntl.ioctl(worker.process.stdout.fileno(), termios.FIONREAD, b"\0" * 4), "little"
            )
        assert waiting == expected  # every answer written, none taken yet
        assert [worker.answer(20) for _ in items] == [answer] * len(items)  # all taken, in order
    finally:
        worker.stop()


def test_a_worker_cannot_send_back_anything_but_a_readers_result():
    got = sandbox.call(Path, "/tmp")  # a Path is no reader's result: refused, never unpickled
    assert isinstance(got, sandbox.Failed) and got.why == "crash"


# Where no worker can be started, nothing is read: run in a process of its own, which first reads a good
# return in-process (it would be accepted), then cannot open one more file descriptor (a worker's pipes)
NO_WORKER_FOR_A_GOOD_RETURN = """
import json, os, resource, sys
from datetime import UTC, date, datetime
from pathlib import Path

from pbstats.flows import readers
from pbstats.schemas.registry import Registry, default_spans
from pbstats.transforms.checks import Rulebook, check_file
from pbstats.transforms.model import Received

data = Path(sys.argv[1]).read_bytes()
rules = Rulebook(Registry(default_spans()), today=date(2026, 11, 26))
received = Received("张家村13812345678.xlsx", "0" * 64, len(data), datetime(2026, 1, 10, tzinfo=UTC), "x")
assert not check_file(received, data, rules)[0].rejected  # a good return, when read in this process
lowest_free = os.dup(0)
os.close(lowest_free)
resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
try:
    ret = readers.check_files([(received, data)], rules)[0]
    print(json.dumps({"outcome": "rejected" if ret.rejected else "accepted"}))
except readers.Unavailable as e:
    print(json.dumps({"outcome": "unread", "files": e.files, "message": readers.not_read(e)}))
"""


def test_a_file_is_never_read_unguarded_when_no_worker_can_be_started(tmp_path: Path):
    """Out of file descriptors (or processes, or memory), the reader's worker cannot be started: the
    batch is left unread, the files named, rather than read in the caller with no limit of time or
    memory. The run then stops and the files wait for the next one."""
    import json
    import subprocess
    import sys

    (tmp_path / "return.xlsx").write_bytes(make_return())
    done = subprocess.run(
        [sys.executable, "-c", NO_WORKER_FOR_A_GOOD_RETURN, str(tmp_path / "return.xlsx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["outcome"] == "unread", got
    assert got["files"] == ["张家村13812345678.xlsx"] and "“张家村138****5678.xlsx”" in got["message"]
    assert "Too many open files" in done.stderr  # it was the worker's start that failed, as meant


def test_a_worker_that_never_comes_up_is_an_outage_not_a_bad_file():
    """A worker that dies before it is ready has read nothing: its file is not rejected as broken."""
    started = time.monotonic()
    with pytest.raises(sandbox.Unavailable, match="did not come up"):
        sandbox.call(len, b"x", memory=1 << 20)  # too little memory to import the readers
    assert time.monotonic() - started < 30
    assert sandbox.call(len, b"still works") == 11


# --- names and links in the inbox -----------------------------------------------------------------


def test_links_in_the_inbox_are_not_followed_and_are_logged(tmp_path: Path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.xlsx").write_bytes(make_return())
    inbox = tmp_path / "inbox"
    drop(inbox, "村.xlsx", make_return())
    (inbox / "链接.xlsx").symlink_to(outside / "secret.xlsx")
    (inbox / "目录").symlink_to(outside, target_is_directory=True)
    (inbox / "断链.xlsx").symlink_to(tmp_path / "nowhere.xlsx")
    (inbox / "~$村.xlsx").write_bytes(b"owner")
    os.mkfifo(inbox / "管道.xlsx")
    with caplog.at_level("INFO", logger="pbstats"):
        entries, skipped = list_inbox(inbox)
    assert [e.name for e in entries] == ["村.xlsx"]
    assert len(skipped) == 5
    assert sum("symbolic link" in line for line in skipped) == 3
    assert sum("symbolic link" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records) == 3
    # a file swapped for a link after the listing is not read through the link
    (inbox / "村.xlsx").unlink()
    (inbox / "村.xlsx").symlink_to(outside / "secret.xlsx")
    with pytest.raises(OSError):
        read_entry(entries[0])


@pytest.mark.parametrize(
    "name",
    [
        "../../../etc/passwd.xlsx",
        "..\\..\\evil.xlsx",
        "a\x00b\x01c\nd\te.xlsx",
        "长" * 300 + ".xlsx",
        "x" * 300 + ".xlsx",
        "bad-\udcff\udcfe.xlsx",
        ".",
        "",
    ],
    ids=["dotdot", "backslash", "control", "cjk-300", "ascii-300", "not-utf8", "dot", "empty"],
)
def test_quarantine_keeps_any_name_inside_its_folder(tmp_path: Path, name):
    root = tmp_path / "quarantine"
    rel = quarantine(root, b"data", b"feedback", "ab" * 32, name, 2025, "990181101201")
    written = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(written) == 2 and (root / rel).exists()
    for path in written:
        assert path.resolve().is_relative_to(root.resolve())
        assert len(path.name.encode()) <= 255
        path.name.encode("utf-8")  # no lone surrogates
    assert safe_name(name) == safe_name(safe_name(name))


def test_names_no_encoding_can_hold_are_listed_as_text(tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    gbk = "村报表".encode("gb18030") + b".xlsx"
    raw = os.fsencode(str(inbox)) + b"/" + gbk
    with open(raw, "wb") as fh:
        fh.write(make_return())
    with open(os.fsencode(str(inbox)) + b"/\xff\xfe.xlsx", "wb") as fh:
        fh.write(b"junk")
    (inbox / ("长" * 80 + "\x07.xlsx")).write_bytes(make_return())
    entries, _ = list_inbox(inbox)
    assert {e.name for e in entries} >= {"村报表.xlsx", "\ufffd\ufffd.xlsx"}
    for entry in entries:
        entry.shown.encode("utf-8")  # storable and loggable
        entry.name.encode("utf-8")
        assert read_entry(entry)
    assert len({e.shown for e in entries}) == len({e.key for e in entries}) == len(entries)


# --- a night over a hostile inbox ------------------------------------------------------------------


def _hostile_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    drop(inbox, "村.xlsx", make_return())
    drop(inbox, "a\x01b\nc\td.xlsx", make_return(org_code="990181101202"))
    drop(inbox, "长" * 80 + ".xlsx", make_return(org_code="990181101203"))
    drop(inbox, "x" * 250 + ".xls", write_book(book_of(make_return(org_code="990181101205")), "xls"))
    for case in CASES:
        if case.file_name in (
            "far-cell.xls",
            "dimensions-lie.xls",
            "repeated-content.ods",
            "entity-bomb.xlsx",
        ):
            drop(inbox, case.file_name, case.make())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.xlsx").write_bytes(make_return(org_code="990181101204"))
    (inbox / "链接.xlsx").symlink_to(outside / "secret.xlsx")
    (inbox / "目录").symlink_to(outside, target_is_directory=True)
    (inbox / "~$村.xlsx").write_bytes(b"owner file")
    return inbox


@pytest.mark.usefixtures("prefect_harness")
def test_a_night_over_a_hostile_inbox_judges_every_file_and_follows_no_link(
    tmp_path: Path, warehouse_url: str, monkeypatch
):
    from sqlalchemy import create_engine, text

    from pbstats.flows.ingest import ingest
    from pbstats.warehouse.db import normalise_url

    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    inbox = _hostile_inbox(tmp_path)
    summary = ingest(str(inbox))
    assert summary.received == 8
    engine = create_engine(normalise_url(warehouse_url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT submission_id, file_name, status FROM submission")).fetchall()
        reasons = dict(
            conn.execute(
                text(
                    "SELECT submission_id, min(message) FROM submission_issue WHERE severity = 'error' GROUP BY 1"
                )
            ).fetchall()
        )
        secret = conn.execute(
            text("SELECT count(*) FROM submission WHERE org_code = '990181101204'")
        ).scalar()
    engine.dispose()
    statuses = {name: status for _, name, status in rows}
    assert statuses["村.xlsx"] == statuses["a\x01b\nc\td.xlsx"] == "accepted"
    assert statuses["长" * 80 + ".xlsx"] == statuses["x" * 250 + ".xls"] == "accepted"
    for submission_id, name, status in rows:
        assert status in ("accepted", "rejected"), name
        assert status == "accepted" or reasons.get(submission_id), name
    assert {n for n, s in statuses.items() if s == "rejected"} == {
        "far-cell.xls",
        "dimensions-lie.xls",
        "repeated-content.ods",
        "entity-bomb.xlsx",
    }
    assert secret == 0  # the link out of the inbox was not followed


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_whose_name_is_not_utf8_is_judged(tmp_path: Path, monkeypatch):
    from pbstats.flows.ingest import ingest

    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("PBSTATS_TODAY", "2026-11-26")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with open(os.fsencode(str(inbox)) + b"/" + "村报表".encode("gb18030") + b".xlsx", "wb") as fh:
        fh.write(make_return())
    assert ingest(str(inbox)).received == 1


def test_an_ods_indicator_that_is_a_formula_without_a_value_is_an_error():
    from datetime import UTC, date, datetime

    from pbstats.gen.workbook import Cell
    from pbstats.schemas.registry import Registry, default_spans
    from pbstats.transforms.checks import Rulebook, check_file
    from pbstats.transforms.model import Received

    book = book_of(make_return())
    book.sheets[0].cells[(5, 3)] = Cell(None, formula="=50+10")  # D6, 党员总数: never calculated
    data = write_book(book, "ods")
    rules = Rulebook(Registry(default_spans()), today=date(2026, 11, 26))
    ret, _ = check_file(
        Received("x.ods", "0" * 64, len(data), datetime(2026, 1, 10, tzinfo=UTC), "x"), data, rules
    )
    assert [(f.check_id, f.cell) for f in ret.findings] == [("E-VALUE", "D6")]
