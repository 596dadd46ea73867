"""The file-system edges: the inbox, the archive (by content hash) and the quarantine."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from transforms.workbook import suffix_of


@dataclass(frozen=True)
class InboxEntry:
    """A file in the inbox as listed (nothing read yet)."""

    path: str  # absolute
    name: str
    size: int
    mtime_ns: int

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)


def list_inbox(inbox: Path) -> tuple[list[InboxEntry], list[str]]:
    """Regular files under the inbox (sub-folders too); and what was skipped, with why.

    Office's owner files (~$…) and hidden files are not returns; symlinks are not followed, so a
    link cannot bring in a file from outside the inbox.
    """
    entries, skipped = [], []
    for root, dirs, files in os.walk(inbox, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.startswith(("~$", ".")):
                skipped.append(f"{path}: temporary or hidden file")
                continue
            st = os.lstat(path)
            if not os.path.isfile(path) or os.path.islink(path):
                skipped.append(f"{path}: not a regular file")
                continue
            entries.append(InboxEntry(os.path.abspath(path), name, st.st_size, st.st_mtime_ns))
    return entries, skipped


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or a kill: no half-written file stays behind under any name
        tmp.unlink(missing_ok=True)
        raise


def archive(root: Path, data: bytes, sha: str, file_name: str) -> str:
    """Keep the bytes as received under their hash; returns the path relative to the archive root."""
    suffix = suffix_of(file_name)
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
    rel = f"{sha[:2]}/{sha}{suffix}"
    target = root / rel
    if not target.exists() or target.stat().st_size != len(data):
        _write_atomic(target, data)
    return rel


def safe_name(file_name: str, limit: int = 120) -> str:
    """A file name safe to write anywhere: no folders, no control characters, bounded length."""
    name = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]", "_", file_name).strip(". ") or "file"
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else name[:limit]
    return name


def quarantine(
    root: Path, data: bytes, feedback: bytes, sha: str, file_name: str, year: int | None, org: str | None
) -> str:
    """Keep a rejected return and its feedback workbook together; returns the feedback path, relative."""
    folder = Path(str(year or "年度不明")) / (org or "组织不明")
    name = safe_name(file_name)
    stem = name.rsplit(".", 1)[0]
    _write_atomic(root / folder / f"{sha[:8]}-{name}", data)
    rel = folder / f"{sha[:8]}-{stem}-审核意见.xlsx"
    _write_atomic(root / rel, feedback)
    return str(rel)


RECEIPTS = "receipts.jsonl"


def record_receipt(root: Path, sha: str, file_name: str, received_at: datetime, rel: str) -> None:
    """Append what arrived, when and as what name: with the bytes by hash, the archive alone can
    rebuild the warehouse (backfill). Written before the file is read; a repeat line is harmless."""
    import json

    line = json.dumps(
        {"sha256": sha, "file_name": file_name, "received_at": received_at.isoformat(), "archive_path": rel},
        ensure_ascii=False,
    )
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / RECEIPTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
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
