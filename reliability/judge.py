"""Judge files out of process, within a time and memory budget, the way the pipeline judges them:
`flows.readers.check_file`, then for a rejected return its `build_feedback` and a look inside the
feedback workbook.

A `Judge` keeps one server process (`python -m reliability.judge`, limited by RLIMIT_AS) and sends
it one file at a time; a file that kills the server is a crash, one that outlasts the time budget is
a hang (the server is killed and restarted either way), so neither takes the caller down.
"""

from __future__ import annotations

import json
import os
import re
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SECONDS = 30.0
MEMORY = 2 << 30
_HEADER = struct.Struct("<Q")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Verdict:
    """What became of one file: `rejected` / `accepted` (with the checks that fired), or `crash` / `hang`."""

    outcome: str
    checks: list[str] = field(default_factory=list)
    reason: str = ""
    feedback_problem: str | None = None
    seconds: float = 0.0
    memory_mb: int = 0  # the judge's peak resident memory so far

    @property
    def judged(self) -> bool:
        """Ended as a submission with a reason, and any feedback workbook is clean."""
        return self.outcome in ("rejected", "accepted") and self.feedback_problem is None


class Judge:
    def __init__(self, seconds: float = SECONDS, memory: int = MEMORY) -> None:
        self.seconds, self.memory = seconds, memory
        self.process: subprocess.Popen | None = self._start()  # now, while this process is small

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        return subprocess.Popen(
            [sys.executable, "-m", "reliability.judge", str(self.memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )

    def __call__(self, file_name: str, data: bytes) -> Verdict:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        request = json.dumps({"name": file_name}, ensure_ascii=True).encode()
        started = time.monotonic()
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(_HEADER.pack(len(request)) + request + _HEADER.pack(len(data)) + data)
            self.process.stdin.flush()
            answer = _read(self.process, started + self.seconds)
        except (BrokenPipeError, OSError):
            answer = None
        took = time.monotonic() - started
        if isinstance(answer, bytes):
            verdict = Verdict(**json.loads(answer))
            verdict.seconds = took
            return verdict
        self.close()
        if answer == "time":
            return Verdict("hang", seconds=took)
        return Verdict(
            "crash", reason=f"judge exited ({self.process and self.process.returncode})", seconds=took
        )

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                pipe.close()  # type: ignore[union-attr]
            self.process = None

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read(process: subprocess.Popen, deadline: float) -> bytes | str | None:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buf = b""
    need = _HEADER.size
    header_done = False
    while True:
        while len(buf) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return "time"
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            buf += chunk
        if header_done:
            return buf[:need]
        need = _HEADER.unpack(buf[: _HEADER.size])[0]
        buf = buf[_HEADER.size :]
        header_done = True


# --- the server ---------------------------------------------------------------------------------

_PII = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|(?<!\d)1[3-9]\d{9}(?!\d)")


def inspect_feedback(workbook: bytes) -> str | None:
    """What is wrong with a feedback workbook: not an .xlsx, not opening on 问题清单, a formula, a link or
    macro part, or a personal number in the list sheet's own text. None if nothing."""
    import io
    import zipfile

    from python_calamine import CalamineWorkbook

    from pbstats.schemas.feedback_text import LIST_SHEET

    try:
        archive = zipfile.ZipFile(io.BytesIO(workbook))
        names = archive.namelist()
        for name in names:
            part = archive.read(name)
            if re.search(rb"<(\w+:)?f[ >/]", part):
                return f"formula in {name}"
            if name.endswith(".rels") and re.search(
                rb"relationships/(hyperlink|oleObject|externalLink)", part
            ):
                return f"link relationship in {name}"
            if re.search(rb"<(\w+:)?hyperlink[ >/]", part):
                return f"hyperlink element in {name}"
        if any("vbaProject" in n or "externalLink" in n or "embeddings" in n for n in names):
            return "macro, external link or embedded object part"
        book = CalamineWorkbook.from_filelike(io.BytesIO(workbook))
        if book.sheet_names[0] != LIST_SHEET:
            return f"first sheet is {book.sheet_names[0]!r}"
        text = " ".join(str(v) for row in book.get_sheet_by_name(LIST_SHEET).to_python() for v in row)
        found = _PII.search(text)
        if found:
            return f"personal number in the list sheet: {found.group(0)[:3]}…"
    except Exception as e:
        return f"feedback unreadable: {type(e).__name__}: {e}"
    return None


def _judge(name: str, data: bytes) -> dict:
    from datetime import UTC, date, datetime

    from pbstats.flows.readers import build_feedback, check_file
    from pbstats.schemas.registry import Registry, default_spans
    from pbstats.transforms.checks import Rulebook
    from pbstats.transforms.model import Received

    rules = Rulebook(Registry(default_spans()), today=date(2026, 11, 26))
    received = Received(name, "0" * 64, len(data), datetime(2026, 1, 10, tzinfo=UTC), "x")
    ret = check_file(received, data, rules)
    checks = sorted({f.check_id for f in ret.findings})
    reason = next((f.message for f in ret.findings if f.is_error), "")
    problem = None
    if ret.rejected:
        problem = inspect_feedback(build_feedback(data, name, ret.findings))
    elif not ret.values:
        problem = "accepted with no values"
    return {
        "outcome": "rejected" if ret.rejected else "accepted",
        "checks": checks,
        "reason": reason[:300],
        "feedback_problem": problem,
    }


def _serve(memory: int) -> None:
    import resource

    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    requests = sys.stdin.buffer
    while True:
        head = requests.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        meta = json.loads(requests.read(_HEADER.unpack(head)[0]))
        data = requests.read(_HEADER.unpack(requests.read(_HEADER.size))[0])
        try:
            verdict = _judge(meta["name"], data)
        except BaseException as e:  # an exception out of check_file is a crash of the run
            verdict = {"outcome": "crash", "reason": f"{type(e).__name__}: {e}"[:500]}
        verdict["memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        reply = json.dumps(verdict, ensure_ascii=True).encode()
        answers.write(_HEADER.pack(len(reply)) + reply)
        answers.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY)
