"""The readers of submitted files, each run in a guarded worker process (`flows.sandbox`): what the
pipeline and a submitter's dry run call. The readers themselves (`pbstats.transforms`) are pure and
read in whatever process calls them; here, at the edge, each runs where a file that aborts, hangs or
eats memory costs only that file, which is then rejected with a reason. Where no worker can be had the
call raises `Unavailable`: a file is never read unguarded."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pbstats.schemas import messages as msg
from pbstats.schemas.checks import CheckId
from pbstats.transforms import checks, feedback
from pbstats.transforms.checks import Rulebook, scrub
from pbstats.transforms.model import CheckedReturn, Finding, Received

from . import sandbox
from .sandbox import Unavailable

__all__ = ["Unavailable", "build_feedback", "check_file", "check_files", "not_read"]

log = logging.getLogger("pbstats")


def not_read(e: Unavailable) -> str:
    """What an operator or a submitter is told when files were left unread for want of a worker."""
    first = scrub(e.files[0], 200) if e.files else "报表文件"  # a name may hold a mobile
    more = msg.NOT_READ_MORE.format(count=len(e.files)) if len(e.files) > 1 else ""
    log.error("no reader process could be started: %s", e.cause)  # the cause is for the operator's log
    return msg.NOT_READ.format(first=first, more=more)


def check_files(files: Sequence[tuple[Received, bytes]], rules: Rulebook) -> list[CheckedReturn]:
    """`transforms.checks.check_file` for each file, in a guarded worker process that reads the whole
    batch and answers file by file: one round trip per batch, and the reading runs beside the caller
    (threads calling at once use as many workers). Never raises for bad content: a file that breaks
    the reader, or its worker, is rejected with a reason. Raises `Unavailable` (naming the files) where
    no worker can be started: the batch is then not judged at all."""
    try:
        answers = sandbox.map_each(_check_in_worker, files, rules)
    except Unavailable as e:
        raise Unavailable(e.cause, tuple(received.file_name for received, _ in files)) from e
    out = []
    for (received, _), got in zip(files, answers, strict=True):
        if isinstance(got, sandbox.Failed):
            if got.why == "error":  # a reader bug must not stop the night
                log.error("reading %s failed: %s", scrub(received.file_name, 200), got.detail)
                got = CheckedReturn(received=received, findings=[Finding(CheckId.E_FILE, msg.READER_FAILED)])
            else:
                found = Finding(CheckId.E_FILE, msg.OVER_BUDGET[got.why])
                got = CheckedReturn(received=received, findings=[found])
        else:
            got.received = received  # the caller's own record of the file: never taken from a worker
        out.append(got)
    return out


def check_file(received: Received, data: bytes, rules: Rulebook) -> CheckedReturn:
    """One file, as `check_files` judges it."""
    return check_files([(received, data)], rules)[0]


def _check_in_worker(rules: Rulebook, received: Received, data: bytes) -> CheckedReturn:
    ret = checks.check_file(received, data, rules)[0]
    ret.received = None  # type: ignore[assignment]  # the caller puts its own back
    return ret


def build_feedback(original: bytes, file_name: str, findings: Sequence[Finding]) -> bytes:
    """`transforms.feedback.build_feedback` in a guarded worker (it opens the submitted file). Where the
    worker fails on the file, the list alone: the submitter still learns what to fix. Raises
    `Unavailable` where no worker can be started."""
    try:
        built = sandbox.call(feedback.build_feedback, original, file_name, list(findings))
    except Unavailable as e:
        raise Unavailable(e.cause, (file_name,)) from e
    except Exception:  # a bug on a strange file: the list alone still reaches the submitter
        log.exception(
            "feedback with the submitted sheets failed for %s; the list only", scrub(file_name, 200)
        )
        built = None
    if isinstance(built, bytes):
        return built
    if built is not None:
        log.warning("feedback for %s: its worker stopped (%s); the list only", scrub(file_name, 200), built)
    return feedback.list_only(file_name, findings)
