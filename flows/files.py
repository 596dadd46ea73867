"""The file-system edges: the inbox, the archive (by content hash) and the quarantine."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import re
import stat
import uuid
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import overload

from pbstats.schemas.texts import Texts
from pbstats.transforms.checks import mask_pii
from pbstats.transforms.workbook import suffix_of

log = logging.getLogger("pbstats")


@dataclass(frozen=True)
class InboxEntry:
    """A file in the inbox as listed (nothing read yet)."""

    path: str  # absolute, as the file system has it (undecodable bytes as surrogate escapes): to open
    name: str  # the file's name as the submitter's machine wrote it, decoded, personal numbers masked
    size: int
    mtime_ns: int

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)

    @property
    def key(self) -> str:
        """What `inbox_file` knows the file by: `path_key` of its real path."""
        return path_key(os.fsencode(self.path))

    @property
    def shown(self) -> str:
        """The path as text any database and log can take: undecodable bytes as \\xNN escapes,
        personal numbers masked. Two paths may show alike (138****5678.xlsx), so this is never a key."""
        return mask_pii(text_of_path(os.fsencode(self.path)))


def path_key(raw: bytes) -> str:
    """An inbox path's identity in the warehouse: the sha256 of its bytes, so that no personal number
    in a name is stored in clear and two names that mask alike stay two files."""
    return hashlib.sha256(raw).hexdigest()


def text_of_path(raw: bytes) -> str:
    """A path's bytes as text: UTF-8 where it is, and its undecodable bytes as \\xNN escapes, so that
    PostgreSQL, SQLite and the logs can hold it and two different paths never read alike."""
    return raw.decode("utf-8", "backslashreplace")


def name_of(raw: bytes) -> str:
    """A file name's bytes as the submitter meant them: UTF-8, else GB18030 (names made on Chinese
    Windows and carried over in zips or on USB sticks), else with replacement characters."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


class Listing(Sequence[InboxEntry]):
    """Files listed in an inbox, in compact columns (one bytes text of the paths below the inbox,
    one of the names, arrays of sizes and times): a province's 100,000 files take about 10 MB here,
    against about 50 MB as entry objects. An entry is made when asked for; a slice is a list of them.
    To Prefect, a task returning a Listing returns one object (a list's items would each be
    tracked for the rest of the flow run)."""

    def __init__(self, root: bytes) -> None:
        self.root = root
        self._paths, self._names = Texts(), Texts()  # the paths below the root, as bytes
        self._sizes, self._mtimes = array("q"), array("q")

    def append(self, raw_path: bytes, name: str, size: int, mtime_ns: int) -> None:
        """A file at `raw_path`, under the root."""
        self._paths.append_bytes(raw_path[len(self.root) :].lstrip(os.sep.encode()))
        self._names.append(name)
        self._sizes.append(size)
        self._mtimes.append(mtime_ns)

    def __len__(self) -> int:
        return len(self._sizes)

    @overload
    def __getitem__(self, index: int) -> InboxEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[InboxEntry]: ...
    def __getitem__(self, index: int | slice) -> InboxEntry | list[InboxEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[index]
        return InboxEntry(os.fsdecode(self._path(i)), self._names[i], self._sizes[i], self._mtimes[i])

    def _path(self, i: int) -> bytes:
        return os.path.join(self.root, self._paths.bytes_at(i))

    def states(self) -> Iterator[tuple[str, int, int]]:
        """(key, size, mtime_ns) of each file, as `InboxEntry` gives them, without making the entries."""
        for i in range(len(self)):
            yield path_key(self._path(i)), self._sizes[i], self._mtimes[i]

    def select(self, positions: Iterable[int]) -> Listing:
        """The files at these positions, as a listing of their own."""
        out = Listing(self.root)
        for i in positions:
            out.append(self._path(i), self._names[i], self._sizes[i], self._mtimes[i])
        return out


def list_inbox(inbox: Path, *, report: bool = True) -> tuple[Listing, list[str]]:
    """Regular files under the inbox (sub-folders too); and what was skipped, with why.

    Office's owner files (~$…) and hidden files are not returns; symlinks, to files or folders, are
    not followed, so a link cannot bring in a file from outside the inbox. Names are taken as bytes:
    a name that is not UTF-8 is still a file to judge.
    """
    skipped = []
    root = os.fsencode(os.path.abspath(inbox))
    entries = Listing(root)
    for folder, dirs, files in os.walk(root, followlinks=False):
        for d in sorted(dirs):
            if os.path.islink(os.path.join(folder, d)):
                skipped.append(
                    f"{mask_pii(text_of_path(os.path.join(folder, d)))}: symbolic link, not followed"
                )
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(b".") and not os.path.islink(os.path.join(folder, d))
        )
        for raw_name in sorted(files):
            raw_path = os.path.join(folder, raw_name)
            shown = text_of_path(raw_path)  # masked below, before it is kept or logged
            if raw_name.startswith((b"~$", b".")):
                skipped.append(f"{mask_pii(shown)}: temporary or hidden file")
                continue
            try:
                st = os.lstat(raw_path)
            except OSError as e:  # gone between listing and looking
                skipped.append(f"{mask_pii(shown)}: {e.strerror}")
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = "symbolic link, not followed" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                skipped.append(f"{mask_pii(shown)}: {kind}")
                continue
            # a personal number in a name must not reach the warehouse or the logs (forms.md §6 E-PII)
            name = mask_pii(name_of(raw_name))
            entries.append(raw_path, name, st.st_size, st.st_mtime_ns)
    if report:
        report_skipped(skipped)
    return entries, skipped


def report_skipped(skipped: Sequence[str]) -> None:
    for line in skipped:  # a link is worth an operator's look; owner files are routine
        (log.warning if "symbolic link" in line else log.info)("inbox: skipped %s", line)


def read_entry(entry: InboxEntry) -> bytes:
    """The bytes of a listed file; never through a symlink put in its place after the listing.

    Four system calls (open, fstat, read, close) where a Python file object makes ten (more fstats, a
    tty check, seeks, a read to find the end): each lets go of the interpreter and waits to take it
    back from the command's other threads, and a night reads every file of the inbox this way."""
    fd = os.open(os.fsencode(entry.path), os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{entry.shown}: no longer a regular file")
        # a regular file's read comes back short only at its end: one byte more than its size tells
        # that the whole file was read, without another read
        data = os.read(fd, info.st_size + 1)
        if len(data) <= info.st_size:
            return data
        chunks = [data]  # it grew since its fstat: read on to its end
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes, *, synced: bool = True) -> None:
    """`data` under `path`, never half-written under that name. `synced=False` leaves the fsync to the
    caller: until its `sync`, a crash may leave the file empty, as if it was never written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # unique per writer: two threads may archive the same bytes (a re-sent file) at the same moment
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        _write_new(tmp, data, synced=synced)
        os.replace(tmp, path)
    except BaseException:  # a full disk or a kill: no half-written file stays behind under any name
        tmp.unlink(missing_ok=True)
        raise


def archive_all(root: Path, files: Sequence[tuple[bytes, str, str]]) -> list[str]:
    """Keep each file of a batch — (bytes, sha256, file name) — as received under its hash; returns the
    paths relative to the archive root. Each file is written under a temporary name, the file system is synced once for the batch, then every file is renamed into place and the
    renames synced. As safe as a sync per file (nothing is under its final name before its bytes are on
    disk), at the cost of two syncs per batch instead of one per file (25,000 syncs a province)."""
    rels, pending, folders = [], [], set()
    try:
        for data, sha, file_name in files:
            suffix = suffix_of(file_name)
            suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
            rel = f"{sha[:2]}/{sha}{suffix}"
            rels.append(rel)
            target = root / rel
            if _size(target) == len(data):
                continue
            if target.parent not in folders:  # 256 of them: made once a batch, not once a file
                target.parent.mkdir(parents=True, exist_ok=True)
                folders.add(target.parent)
            # unique per writer: two threads may archive the same bytes (a re-sent file) at the same moment
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            pending.append((tmp, target))
            _write_new(tmp, data)
        if pending:
            sync(root, [tmp for tmp, _ in pending])
            for tmp, target in pending:
                os.replace(tmp, target)
            sync(root, sorted({target.parent for _, target in pending}))
    except BaseException:  # a full disk or a kill: no half-written file stays behind under any name
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    return rels


def _write_new(path: Path, data: bytes, *, synced: bool = False) -> None:
    """A new file holding `data` (fsynced if `synced`), in three system calls (open, write, close;
    `open()` adds an fstat, a tty check and a seek)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if synced:
            os.fsync(fd)
    finally:
        os.close(fd)


def _size(path: Path) -> int | None:
    """The file's size; None when there is none (one system call, where exists() and stat() are two)."""
    try:
        return os.stat(path).st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def sync(root: Path, paths: Sequence[Path]) -> None:
    """Everything written under `root` on disk: one syncfs(2) of its file system where there is one
    (Linux), else an fsync of each path given (files or folders)."""
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _syncfs():
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def safe_name(file_name: str, limit: int = 120) -> str:
    """A file name safe to write anywhere: no folders, no control characters, no personal numbers,
    nothing a file system cannot encode, and at most `limit` characters and 150 bytes of UTF-8 (so
    that a prefix and a suffix still fit the usual 255-byte limit)."""
    name = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|\ud800-\udfff]", "_", mask_pii(file_name)).strip(". ") or "file"
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 8:
        stem, dot, ext = name, "", ""
    while stem and (len(stem + dot + ext) > limit or len((stem + dot + ext).encode()) > 150):
        stem = stem[:-1]
    return (stem.rstrip(". ") or "file") + dot + ext


def quarantine(
    root: Path,
    data: bytes,
    feedback: bytes,
    sha: str,
    file_name: str,
    year: int | None,
    org: str | None,
    *,
    synced: bool = True,
) -> str:
    """Keep a rejected return and its feedback workbook together; returns the feedback path, relative.
    `synced=False` leaves the files to the caller's `sync` (one for many files, instead of an fsync each)."""
    kept, rel = quarantine_paths(sha, file_name, year, org)
    _write_atomic(root / kept, data, synced=synced)
    _write_atomic(root / rel, feedback, synced=synced)
    return str(rel)


def quarantine_paths(sha: str, file_name: str, year: int | None, org: str | None) -> tuple[Path, Path]:
    """Where `quarantine` keeps a rejected return and its feedback workbook (relative to its root)."""
    folder = Path(str(year or "年度不明")) / (org or "组织不明")
    name = safe_name(file_name)
    stem = name.rsplit(".", 1)[0]
    return folder / f"{sha[:8]}-{name}", folder / f"{sha[:8]}-{stem}-审核意见.xlsx"


RECEIPTS = "receipts.jsonl"


def record_receipts(root: Path, receipts: list[tuple[str, str, datetime, str]]) -> None:
    """Append what arrived, when and as what name — (sha256, file name, received at, archive path) —
    one write and one fsync per batch. With the bytes by hash, the archive alone can rebuild the
    warehouse (backfill). Written before the files are read; a repeated line is harmless."""
    import json

    if not receipts:
        return
    lines = "".join(
        json.dumps(
            {"sha256": sha, "file_name": name, "received_at": at.isoformat(), "archive_path": rel},
            ensure_ascii=False,
        )
        + "\n"
        for sha, name, at, rel in receipts
    )
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / RECEIPTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, lines.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_receipts(root: Path) -> list[dict]:
    """Every receipt once (by hash and name), in arrival order; a torn last line is ignored."""
    import json

    path = root / RECEIPTS
    if not path.exists():
        return []
    seen, out = set(), []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            r = json.loads(line)
            key = (r["sha256"], r["file_name"])
            r["received_at"] = datetime.fromisoformat(r["received_at"])
        except (ValueError, KeyError, TypeError):
            continue
        if key not in seen:
            seen.add(key)
            out.append(r)
    return sorted(out, key=lambda r: (r["received_at"], r["file_name"]))
