"""Run a reader on submitted bytes in a worker process with a time and memory budget.

python-calamine (Rust) aborts the whole process when an allocation fails, and a parser can spin on
bytes nobody foresaw; neither can be caught in Python. So whatever opens a submitted file runs in a
worker of its own: if the worker dies, runs out of its memory or out of its time, the caller gets a
`Failed` (the file is then rejected with a reason) and the next call gets a fresh worker. The readers
themselves (`pbstats.transforms`) are pure; this is the process edge around them (`flows.readers`).

A worker is a fresh interpreter (`python -P -m pbstats.flows.sandbox`, never a fork of a process that
may hold threads and locks), kept between calls and used by one caller at a time: any number of threads
may call at once. After MAX_SERVED files it is replaced by a fresh one, so that a night's size does
not show in a worker's memory. Its answers are unpickled with only the plain types a reader returns
allowed, so even a worker taken over by a hostile file cannot run code in the caller.

Isolation fails closed: where no worker can be started, or one dies before it is ready, the call
raises `Unavailable` (an outage: the run stops and the files wait for the next) and nothing is read
in this process.

`concurrent.futures.ProcessPoolExecutor(max_tasks_per_child=…)` was measured against this pool and not
taken: it cannot stop the one worker that overruns its time (a dead worker breaks the whole pool and
fails every pending file), it unpickles whatever a worker sends, and it sends the rulebook with every
task; and it is slower: 2,000 generated returns through two workers took 3.10 s with a future per file
(the only way to a verdict per file) and 4.40 s with one per batch of 100, against 2.66 s here.
"""

from __future__ import annotations

import atexit
import fcntl
import io
import itertools
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("pbstats")

SECONDS = 10.0  # per call; a real return is read in milliseconds
MEMORY = 2 << 30  # address space of a worker (RLIMIT_AS)
MAX_IDLE = 8  # workers kept waiting between calls
# files a worker reads before it is replaced: its capped caches fill and its allocator's pools spread with
# what it reads, so that a worker's memory is that of its first 20,000 files whatever the size of the inbox
MAX_SERVED = 20_000
START_SECONDS = 60.0  # for a worker to start and import the readers (~0.5 s on an idle machine)
START_ATTEMPTS = (0.0, 0.2, 1.0)  # pauses before each try to start one: a fork may fail for a moment
# what the readers' calls need, imported before a worker says it is ready
_PRELOAD = ("pbstats.flows.readers",)
_HEADER = struct.Struct("<Q")
_READY = _HEADER.pack(0)  # a worker's first word, once it has imported the readers (no answer is empty)


@dataclass(frozen=True)
class Failed:
    """Why a guarded call gave no result: `time`, `memory` or `crash` (the worker died), or `error`
    (the function raised, in `map_each`)."""

    why: str
    detail: str = ""


class Unavailable(RuntimeError):
    """No worker could be started, or none came up: isolation is not to be had here, so nothing is
    read at all (never in this process). An outage, not a bad file: `files` are those left unread."""

    def __init__(self, cause: str, files: tuple[str, ...] = ()) -> None:
        super().__init__(cause, files)  # as pickle rebuilds it (a Dask worker sends it back)
        self.cause, self.files = cause, tuple(files)

    def __str__(self) -> str:
        shown = f" ({len(self.files)} files unread, the first {self.files[0]!r})" if self.files else ""
        return f"no reader process could be started: {self.cause}{shown}"


_NOT_READY = "not ready"  # `Failed.why` of a worker that never came up: raised as `Unavailable`


class _Worker:
    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.shared: int | None = None  # the token of the `map_each` object this worker holds
        self.served = 0  # calls and items answered
        self.ready = False  # its first word (an empty answer, sent once it has imported the readers) taken
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            # -P: nothing of the current directory on the worker's path; pbstats comes from where this
            # process has it (`_worker_env`)
            [sys.executable, "-P", "-m", "pbstats.flows.sandbox", str(memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a Rust abort prints a backtrace: the caller logs the outcome
            env=_worker_env(),
        )
        self._pending, self._at = b"", 0  # answer bytes taken from the pipe and not yet handed out
        self._into = memoryview(bytearray(ANSWER_PIPE))  # what a read of the pipe lands in

    def ask(self, request: bytes, seconds: float) -> bytes | Failed:
        """Send a request and wait for its (first) answer."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(_HEADER.pack(len(request)) + request)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):  # it died: before it came up, or on this request
            if not self.ready:
                self._await_ready(time.monotonic() + 1.0)
            self.stop()
            return self._lost(None)
        return self.answer(seconds)

    def _await_ready(self, deadline: float) -> bytes | str | None:
        """Take the worker's first word; what was read instead if it is not that it is ready."""
        try:
            head = self._take(_HEADER.size, deadline)
        except OSError:
            head = None
        self.ready = head == _READY
        return head

    def answer(self, seconds: float) -> bytes | Failed:
        """The next answer, within `seconds` (the worker's start not counted); a worker that overruns
        or dies is stopped."""
        if not self.ready:
            head = self._await_ready(self.started + START_SECONDS)
            if not self.ready:
                self.stop()
                return self._lost(head)
        deadline = time.monotonic() + seconds
        try:
            head = self._take(_HEADER.size, deadline)
            if isinstance(head, bytes):
                head = self._take(_HEADER.unpack(head)[0], deadline)
        except OSError:
            head = None
        if isinstance(head, bytes):
            return head
        self.stop()
        if head == "time":
            return Failed("time", f"{seconds:g} s")
        return self._lost(head)

    def _lost(self, why: bytes | str | None) -> Failed:
        """What the death of this (stopped) worker means: a crash on what it was reading, or, before it
        said it was ready, that it never came up (it has read nothing yet)."""
        if not self.ready:
            said = "no word" if why is None else "too slow" if why == "time" else f"said {why!r:.40}"
            return Failed(
                _NOT_READY, f"{said} within {START_SECONDS:g} s, exit code {self.process.returncode}"
            )
        return Failed("crash", f"exit code {self.process.returncode}")

    def _take(self, count: int, deadline: float) -> bytes | str | None:
        """The next `count` bytes of the answers, or "time" when the deadline passes, or None at the end
        of the stream (the worker died). The pipe is read for whatever it holds, up to ANSWER_PIPE at a
        time: a batch's answers wait there while the caller is busy, and are then taken a few hundred
        per read instead of with a select and a read for each answer's header and each answer."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        have = len(self._pending) - self._at
        if have < count:
            chunks = [self._pending[self._at :]]
            while have < count:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    return "time"
                n = os.readv(fd, [self._into])  # a pipe gives at most what it holds
                if not n:
                    return None
                chunks.append(bytes(self._into[:n]))  # exact size: os.read(fd, 1 MB) allocates 1 MB a read
                have += n
            self._pending, self._at = b"".join(chunks), 0
        got = self._pending[self._at : self._at + count]
        self._at += count
        return got

    def stop(self) -> None:
        try:
            self.process.kill()
            self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()  # type: ignore[union-attr]
            except OSError:
                pass


_idle: list[_Worker] = []
_lock = threading.Lock()


def call(fn: Callable[..., Any], *args: Any, seconds: float = SECONDS, memory: int = MEMORY) -> Any:
    """`fn(*args)` in a worker within the budget; its result, or `Failed`. `fn` must be module-level.
    Raises `Unavailable` where no worker can be had."""
    request = pickle.dumps(("call", fn, args), protocol=pickle.HIGHEST_PROTOCOL)
    worker, answer = _ask(memory, lambda _: request, seconds)
    if isinstance(answer, Failed):
        log.warning("reader worker gave no result: %s (%s)", answer.why, answer.detail)
        return answer
    try:
        status, payload = _SafeUnpickler(io.BytesIO(answer)).load()
    except Exception as e:  # an answer that is not what a reader returns
        worker.stop()
        return Failed("crash", f"unexpected answer: {type(e).__name__}")
    if status == "memory":
        worker.stop()  # a worker that ran out of memory is not trusted with the next file
        return Failed("memory", str(payload))
    worker.served += 1
    _give_back(worker)
    if status == "error":
        raise RuntimeError(f"guarded call failed: {payload}")
    return payload


def _ask(memory: int, request: Callable[[_Worker], bytes], seconds: float) -> tuple[_Worker, bytes | Failed]:
    """A worker, asked `request(worker)`, and its first answer. A worker that never comes up (one kept
    waiting may have been killed meanwhile) is replaced once by one started now; if that one does not
    come up either, `Unavailable`."""
    worker = _take(memory)
    got = worker.ask(request(worker), seconds)
    if isinstance(got, Failed) and got.why == _NOT_READY:
        log.warning("a reader process did not come up (%s); starting another", got.detail)
        worker = _start(memory)
        got = worker.ask(request(worker), seconds)
        if isinstance(got, Failed) and got.why == _NOT_READY:
            raise Unavailable(f"a reader process did not come up: {got.detail}")
    return worker, got


def _take(memory: int) -> _Worker:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.memory == memory and worker.process.poll() is None:
                return worker
            worker.stop()
    return _start(memory)


def _start(memory: int) -> _Worker:
    """A new worker, or `Unavailable` when the system will not start one after a few tries."""
    for pause in START_ATTEMPTS:
        time.sleep(pause)
        try:
            return _Worker(memory)
        except OSError as e:  # out of processes, file descriptors or memory; no interpreter there
            error = e
            log.warning("cannot start a reader process: %s", e)
    raise Unavailable(f"{type(error).__name__}: {error}") from error


def _worker_env() -> dict[str, str]:
    """This process's environment, and where a checkout keeps pbstats when that is not a place the
    interpreter looks anyway (an installed pbstats is found where it is installed)."""
    import site

    import pbstats

    env = dict(os.environ)
    home = str(Path(pbstats.__file__).resolve().parent.parent)
    if home not in {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (home, env.get("PYTHONPATH")) if p)
    return env


def map_each(
    fn: Callable[..., Any],
    items: Sequence[tuple],
    shared: Any = None,
    *,
    seconds: float = SECONDS,
    memory: int = MEMORY,
) -> list[Any]:
    """`fn(shared, *item)` for each item, in one worker, each within its own budget: for each item
    its result, or `Failed` ("time", "memory", "crash", or "error" when `fn` raised). Raises
    `Unavailable` where no worker can be had (the answers had so far are dropped: nothing is half-read).

    The items go to the worker in one request and come back one answer at a time, so a batch costs
    one round trip, not one per item. `shared` (e.g. the rulebook) is sent once per worker. When the
    worker dies or overruns on an item, that item gets its `Failed` and the rest go to a fresh worker.
    """
    out: list[Any] = []
    while len(out) < len(items):
        out.extend(_map_in(memory, fn, items[len(out) :], shared, seconds))
    return out


def _map_in(memory: int, fn, items: Sequence[tuple], shared: Any, seconds: float) -> list[Any]:
    """Answers from one worker until the items are done or the worker is lost (the last answer is
    then the `Failed` of the item it was lost on)."""
    key, blob = _shared_blob(shared)

    def request(worker: _Worker) -> bytes:
        payload = None if worker.shared == key else blob
        return pickle.dumps(("map", fn, key, payload, list(items)), protocol=pickle.HIGHEST_PROTOCOL)

    worker, got = _ask(memory, request, seconds)
    answers: list[Any] = []
    while True:
        if isinstance(got, Failed):
            log.warning("reader worker gave no result: %s (%s)", got.why, got.detail)
            answers.append(got)
            return answers  # the worker was stopped; the caller goes on with a fresh one
        worker.shared = key
        try:
            status, result = _SafeUnpickler(io.BytesIO(got)).load()
        except Exception as e:
            worker.stop()
            answers.append(Failed("crash", f"unexpected answer: {type(e).__name__}"))
            return answers
        if status == "memory":
            worker.stop()
            answers.append(Failed("memory", str(result)))
            return answers
        answers.append(Failed("error", str(result)) if status == "error" else result)
        if len(answers) == len(items):
            worker.served += len(items)
            _give_back(worker)
            return answers
        got = worker.answer(seconds)


# what `map_each` shares with workers, pickled once: id → (the object, kept so that its id stays
# its own; a token that is never reused; its bytes)
_SHARED: dict[int, tuple[Any, int, bytes]] = {}
_tokens = itertools.count(1)


def _shared_blob(shared: Any) -> tuple[int, bytes]:
    with _lock:
        got = _SHARED.get(id(shared))
        if got is None or got[0] is not shared:
            while len(_SHARED) >= 4:
                _SHARED.pop(next(iter(_SHARED)))
            got = _SHARED[id(shared)] = (shared, next(_tokens), pickle.dumps(shared, pickle.HIGHEST_PROTOCOL))
    return got[1], got[2]


@atexit.register
def _shutdown() -> None:
    """Idle workers end when their input closes; wait for them briefly so none is left behind."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        try:
            worker.process.stdin.close()  # type: ignore[union-attr]
            worker.process.wait(2)
            worker.process.stdout.close()  # type: ignore[union-attr]
        except (OSError, subprocess.TimeoutExpired):
            worker.stop()


def prestart(count: int, memory: int = MEMORY) -> None:
    """Have `count` workers waiting, started now: a worker's interpreter and the readers' imports take
    about half a second of its own, which a caller that knows work is coming can overlap with its own."""
    with _lock:
        missing = min(count, MAX_IDLE) - sum(1 for w in _idle if w.memory == memory)
    for _ in range(max(0, missing)):
        try:
            worker = _Worker(memory)
        except OSError:  # a call will try again, and raise `Unavailable` if it cannot either
            log.warning("cannot start a reader process ahead of the work", exc_info=True)
            return
        _give_back(worker)


def _give_back(worker: _Worker) -> None:
    if worker.served >= MAX_SERVED:  # replaced, by a worker started now to be ready for the next call
        worker.stop()
        try:
            worker = _Worker(worker.memory)
        except OSError:  # the next call starts one, or raises `Unavailable`
            return
    with _lock:
        if len(_idle) < MAX_IDLE:
            _idle.append(worker)
            return
    worker.stop()


class _SafeUnpickler(pickle.Unpickler):
    """Only what readers return: our plain result types, containers, numbers, text and dates."""

    ALLOWED = {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "object"),
        ("copyreg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
        ("pbstats.schemas.checks", "CheckId"),
        ("pbstats.transforms.model", "CheckedReturn"),
        ("pbstats.transforms.model", "Finding"),
        ("pbstats.transforms.model", "Workbook"),
        ("pbstats.transforms.model", "Sheet"),
        ("pbstats.transforms.workbook", "Unreadable"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not a reader's result")
        return super().find_class(module, name)


def _serve(memory: int) -> None:
    """The worker: limit itself, then answer calls until its input closes."""
    import resource

    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints must not mix with the answers
    _widen(answers.fileno())
    requests = sys.stdin.buffer
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)  # a worker may not raise the limit it was started under
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort leaves no core file behind
    for module in _PRELOAD:
        __import__(module)
    answers.write(_READY)
    answers.flush()
    shared: dict[int, Any] = {}
    while True:
        head = requests.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        _answer(requests, _HEADER.unpack(head)[0], shared, answers)


def _answer(requests, size: int, shared: dict[int, Any], answers) -> None:
    """Answer one request of `size` bytes. What it brought is let go of as soon as it is unpacked: the
    request's bytes, and the shared object's pickle once unpickled (the rulebook's registry: ~6 MB for
    a province of 100,000 orgs, which would otherwise sit in the worker twice while it reads)."""
    request = pickle.loads(requests.read(size))
    if request[0] == "map":
        _, fn, key, payload, items = request
        del request
        if payload is not None:
            shared.clear()  # one shared object at a time: a worker serves one run
            shared[key] = pickle.loads(payload)
            del payload
        for item in items:
            _reply(answers, fn, (shared[key], *item))
    else:
        _, fn, args = request
        del request
        _reply(answers, fn, args)


# The answers' pipe holds ~300 answers instead of ~20 (Linux's default of 64 KB): a reader goes on
# reading while the thread that takes its answers waits its turn for the command's interpreter (with the
# default, the readers spent ~12% of a province's night blocked on a full pipe)
ANSWER_PIPE = 1 << 20


def _widen(fd: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, ANSWER_PIPE)
    except (OSError, AttributeError):  # over the system's limit, or not Linux: the default serves
        pass


def _reply(answers, fn: Callable[..., Any], args: tuple) -> None:
    try:
        reply = ("ok", fn(*args))
    except MemoryError as e:
        reply = ("memory", repr(e)[:200])
    except BaseException as e:  # a Rust panic arrives as a BaseException; the caller decides
        reply = ("error", f"{type(e).__name__}: {e}"[:500])
    try:
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        data = pickle.dumps(("memory", "result too large"))
    answers.write(_HEADER.pack(len(data)) + data)
    answers.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY)
