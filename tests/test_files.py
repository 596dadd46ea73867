"""The archive edge: the same bytes archived by many writers at once end as one whole file."""

from __future__ import annotations

import threading
from pathlib import Path

from flows.files import archive_all, sha256_of


def test_threads_archiving_the_same_bytes_at_once_all_succeed(tmp_path: Path):
    data = b"x" * 200_000
    sha = sha256_of(data)
    errors: list[Exception] = []

    def write() -> None:
        try:
            archive_all(tmp_path, [(data, sha, "镇.xlsx")])
        except Exception as e:  # the race this test pins down raised FileNotFoundError
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{sha}.xlsx"] and files[0].read_bytes() == data


def test_a_batch_is_archived_whole_under_its_hashes_with_no_temporary_left(tmp_path: Path):
    books = [(f"第{i}份".encode() * (i + 1), f"村{i}.xlsx") for i in range(30)]
    files = [(data, sha256_of(data), name) for data, name in books]
    files.append(files[3])  # the same bytes twice in one batch (a re-sent file) end as one file
    rels = archive_all(tmp_path, files)
    assert rels == [f"{sha[:2]}/{sha}.xlsx" for _, sha, _ in files]
    on_disk = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == {rel: data for rel, (data, _, _) in zip(rels, files, strict=True)}
    # archiving the batch again writes nothing new and says the same paths
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert archive_all(tmp_path, files) == rels
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == before
