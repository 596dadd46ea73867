"""The file-system edges: the inbox's listing, and the archive, where the same bytes archived by many
writers at once end as one whole file."""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.context import FlowRunContext

from pbstats.flows.files import archive_all, list_inbox, read_entry, sha256_of
from pbstats.flows.ingest import Whole


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


def test_a_file_is_read_whole_whatever_its_size_and_also_when_it_grew_after_its_fstat(
    tmp_path: Path, monkeypatch
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sizes = {"空.xlsx": 0, "小.xlsx": 7, "大.xlsx": 3_000_001}
    for name, size in sizes.items():
        (inbox / name).write_bytes(os.urandom(size))
    entries, _ = list_inbox(inbox)
    for e in entries:
        assert read_entry(e) == Path(e.path).read_bytes()
    real_fstat = os.fstat  # the file grows between the fstat and the read: the read says more than fstat

    def stale(fd):
        st = real_fstat(fd)
        return os.stat_result((*st[:6], st.st_size // 3, *st[7:10]))

    monkeypatch.setattr(os, "fstat", stale)
    for e in entries:
        assert read_entry(e) == Path(e.path).read_bytes()


def test_the_listing_gives_each_file_as_listed_by_position_slice_and_selection(tmp_path: Path):
    """Compact columns, entries made when asked: the same names, paths, sizes and times as the files
    have, across sub-folders, a GB18030 name and a name holding an ID number (masked)."""
    inbox = tmp_path / "收件箱"
    (inbox / "二镇").mkdir(parents=True)
    files = {
        inbox / "一村.xlsx": b"a",
        inbox / "二镇" / "二村.xls": b"bb",
        inbox / "张三110101199003074514.xlsx": b"ccc",
    }
    for path, data in files.items():
        path.write_bytes(data)
    gbk = os.path.join(os.fsencode(inbox), "三村.xlsx".encode("gb18030"))
    with open(gbk, "wb") as fh:
        fh.write(b"dddd")
    entries, skipped = list_inbox(inbox)
    assert skipped == [] and len(entries) == 4
    by_name = {e.name: e for e in entries}
    assert sorted(by_name) == sorted(["一村.xlsx", "二村.xls", "三村.xlsx", "张三110101********4514.xlsx"])
    for e in entries:
        st = os.stat(e.path)
        assert (e.size, e.mtime_ns) == (st.st_size, st.st_mtime_ns)
        assert len(read_entry(e)) == e.size
    assert by_name["二村.xls"].path == str(inbox / "二镇" / "二村.xls")
    assert os.fsencode(by_name["三村.xlsx"].path) == gbk
    assert "110101199003074514" not in by_name["张三110101********4514.xlsx"].shown
    assert list(entries.states()) == [(e.key, e.size, e.mtime_ns) for e in entries]
    assert entries[1:3] == [entries[1], entries[2]] and entries[-1] == entries[3]
    picked = entries.select([3, 0])
    assert list(picked) == [entries[3], entries[0]]
    assert list(pickle.loads(pickle.dumps(picked))) == list(picked)


@pytest.mark.usefixtures("prefect_harness")
def test_a_task_returning_a_whole_is_tracked_once_by_the_flow_run():
    """Why `read_and_check` returns a `Whole`: a returned list has every item tracked by Prefect until
    the flow run ends."""

    class Item:
        pass

    @task
    def as_list() -> list:
        return [Item() for _ in range(500)]

    @task
    def as_whole() -> Whole:
        return Whole([Item() for _ in range(500)])

    @flow
    def tracked(make) -> int:
        before = len(FlowRunContext.get().run_results)
        got = make()
        assert len(got if isinstance(got, list) else got.value) == 500
        return len(FlowRunContext.get().run_results) - before

    assert tracked(as_list) > 500
    assert tracked(as_whole) == 1
