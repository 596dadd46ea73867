"""The archive edge: the same bytes archived by many writers at once end as one whole file."""

from __future__ import annotations

import threading
from pathlib import Path

from flows.files import archive, sha256_of


def test_threads_archiving_the_same_bytes_at_once_all_succeed(tmp_path: Path):
    data = b"x" * 200_000
    sha = sha256_of(data)
    errors: list[Exception] = []

    def write() -> None:
        try:
            archive(tmp_path, data, sha, "镇.xlsx")
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
