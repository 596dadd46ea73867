"""How a night's files are cut into read and load batches (flows/stages.py plan_batches, flows/ingest.py
read_slices), how the night's feedback workbooks are built beside the loads, and how a province-sized
night is shown (capped artifact lists)."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest

from pbstats.flows.files import archive_all, quarantine_paths
from pbstats.flows.ingest import FIRST_READ, read_slices
from pbstats.flows.spool import Spool
from pbstats.flows.stages import Feedback, Judged, plan_batches
from pbstats.transforms.model import CheckedReturn, Finding, Received
from pbstats.warehouse.load import Incoming
from tests.builders import make_return


@pytest.mark.parametrize("seed", range(20))
def test_batches_keep_years_apart_in_order_and_spread_the_yearless(seed: int):
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    keys = [
        (
            rng.choice([0, 0, 2023, 2024, 2025, 2025, 2025]) if seed % 5 else 0,
            start + timedelta(minutes=rng.randrange(10_000)),
            f"报表{i}.xlsx",
        )
        for i in range(rng.randrange(0, 400))
    ]
    size = rng.choice([1, 7, 25, 100])
    batches = plan_batches(keys, size)

    assert sorted(p for b in batches for p in b) == list(range(len(keys)))  # each file exactly once
    years = [sorted({keys[p][0] for p in b if keys[p][0]}) for b in batches]
    assert all(len(y) <= 1 for y in years)  # never two years in one batch
    dated = [y[0] for y in years if y]
    assert dated == sorted(dated)  # earlier years first
    for b in batches:  # within a year, in arrival order
        arrived = [keys[p][1:] for p in b if keys[p][0]]
        assert arrived == sorted(arrived)
    yearless = [sum(1 for p in b if not keys[p][0]) for b in batches]
    if any(dated):
        assert max(yearless) - min(yearless) <= 1  # spread evenly over the dated batches
        assert all(sum(1 for p in b if keys[p][0]) <= size for b in batches)
    else:
        assert all(len(b) <= size for b in batches)


def _plan_by_tuples(keys, size):
    """The plan as first written, by sorting the key tuples: what the compact one must give."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    yearless = [p for p in order if not keys[p][0]]
    batches: list[list[int]] = []
    for p in order[len(yearless) :]:
        if not batches or len(batches[-1]) >= size or keys[batches[-1][-1]][0] != keys[p][0]:
            batches.append([])
        batches[-1].append(p)
    if not batches:
        return [yearless[i : i + size] for i in range(0, len(yearless), size)]
    for i, p in enumerate(yearless):
        batches[i % len(batches)].append(p)
    return batches


@pytest.mark.parametrize("seed", range(30))
def test_the_plan_made_from_compact_keys_is_the_plan_of_the_sorted_tuples(seed: int):
    """Ties of year and time — all of them in an inbox unpacked from a zip (two-second times) — are
    ordered by name, code point by code point, whatever the script; equal keys keep their positions."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    names = ["报表.xlsx", "报表1.xlsx", "b.xls", "B.xls", "b\udcff.xls", "😀.xlsx", "ｂ.xlsx", "a", "a\x00"]
    spread = rng.choice([1, 3, 10_000])  # a few distinct times (many ties) or hardly any ties
    keys = [
        (
            rng.choice([0, 2024, 2025, 2025]),
            start + timedelta(seconds=2 * rng.randrange(spread), microseconds=rng.choice([0, 0, 7])),
            rng.choice(names) + rng.choice(["", str(rng.randrange(20))]),
        )
        for _ in range(rng.randrange(0, 600))
    ]
    size = rng.choice([1, 5, 64, 1000])
    assert [list(b) for b in plan_batches(keys, size)] == _plan_by_tuples(keys, size)


def test_the_spool_gives_back_each_return_as_added_one_at_a_time_or_a_batch_at_once(tmp_path):
    rng = random.Random(9)
    added = []
    with Spool(tmp_path) as spool:
        for size in [1, 0, 7, 1, 250, 3]:
            batch = []
            for _ in range(size):
                i = len(added) + len(batch)
                received = Received(f"报表{i}.xlsx", f"{i:064d}", i, datetime(2026, 1, 5, tzinfo=UTC), "x")
                checked = CheckedReturn(
                    received=received, year=2025, form_id="DJ-1", values={"01": Decimal(rng.randrange(99))}
                )
                incoming = Incoming(
                    received.file_name, received.sha256, i, received.received_at, "x", "pending"
                )
                batch.append(Judged(incoming, None, checked if i % 4 else None))
            if size == 1:
                assert spool.add(batch[0]) == len(added)
            else:
                spool.extend(batch)
            added += batch
        assert len(spool) == len(added)
        assert [spool[p] for p in range(len(added))] == added
        assert len(spool.values) == sum(1 for j in added if j.checked is not None)


def test_the_spool_keeps_each_returns_key_and_plans_the_loads_from_them(tmp_path):
    """The spool's compact keys give back each (year, received at, name) exactly, microseconds, a name
    with an undecodable byte (surrogate escape) and a time without a zone (UTC) included, and its load
    plan is `plan_batches` over them."""
    rng = random.Random(4)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    keys = []
    with Spool(tmp_path) as spool:
        for i in range(300):
            year = rng.choice([None, 2024, 2025])
            at = start + timedelta(seconds=rng.randrange(500), microseconds=rng.randrange(10**6))
            name = rng.choice([f"报表{i}.xlsx", f"b\udcff{i}.xls", "同名.xlsx"])
            received = Received(name, "0" * 64, 1, at.replace(tzinfo=None) if i % 7 == 0 else at, "x")
            checked = CheckedReturn(received=received, year=year) if i % 3 else None
            incoming = Incoming(name, "0" * 64, 1, received.received_at, "x", "pending", year=year)
            spool.add(Judged(incoming, None, checked))
            keys.append((year or 0, at, name))
        assert [spool._keys[p] for p in range(len(keys))] == keys and spool._keys[-1] == keys[-1]
        assert spool.load_batches(25) == plan_batches(keys, 25)
        # and the spool grows on after a plan
        spool.add(Judged(Incoming("后来.xlsx", "0" * 64, 1, start, "x", "pending"), None, None))
        assert len(spool.load_batches(25)[0]) > 0 and spool._keys[-1] == (0, start, "后来.xlsx")


@pytest.mark.parametrize(
    "files,size", [(0, 1000), (1, 1000), (24, 1000), (25_000, 1000), (3_000, 25), (77, 7)]
)
def test_read_tasks_start_small_and_grow_to_the_batch_size(files: int, size: int):
    slices = read_slices(files, size)
    covered = [i for s in slices for i in range(s.start, s.stop)]
    assert covered == list(range(files))  # each file once, in order
    sizes = [s.stop - s.start for s in slices]
    assert all(0 < n <= size for n in sizes)
    if sizes:
        assert sizes[0] == min(files, size, FIRST_READ)  # the readers get their first files at once
    full = sizes[:-1]  # the last one takes what is left
    assert full == sorted(full) and all(b in (a, min(size, 2 * a)) for a, b in itertools.pairwise(full))
    if files >= 25_000:
        assert len(slices) <= files // size + 8  # a province is still read in about files/size tasks


def test_feedback_built_ahead_is_on_disk_when_waited_for_and_a_failed_one_is_built_again(tmp_path):
    data = make_return()
    sha = hashlib.sha256(data).hexdigest()
    archive, quarantine = tmp_path / "archive", tmp_path / "quarantine"
    (rel,) = archive_all(archive, [(data, sha, "村.xlsx")])
    verdicts = {
        key: CheckedReturn(
            received=Received(f"村{key}.xlsx", sha, len(data), datetime(2026, 1, 5, tzinfo=UTC), rel),
            year=2025,
            org_code="990101001202" if key == 5 else "990101001201",
            findings=[Finding("E-RULE", f"第{key}个问题", sheet="DJ-1", cell="D9")],
        )
        for key in range(6)
    }
    paths = {
        k: quarantine / quarantine_paths(sha, r.received.file_name, 2025, r.org_code)[1]
        for k, r in verdicts.items()
    }
    blocked = paths[5].parent
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the folder should be")  # the first attempt for this org fails
    with Feedback(verdicts.__getitem__, archive, quarantine, workers=2) as feedback:
        feedback.submit([0, 1, 2, 5])
        assert len(feedback) == 4
        feedback.wait([0, 1, 2])
        assert all(paths[k].exists() for k in (0, 1, 2))
        assert len(feedback) == 1  # what was waited for is let go of
        feedback.wait([3])  # not handed over ahead: built when asked for
        assert paths[3].exists() and not paths[4].exists() and len(feedback) == 1
        with pytest.raises(OSError):
            feedback.wait([5])  # fails the load that waits ...
        assert len(feedback) == 1
        blocked.unlink()
        feedback.wait([5])  # ... and its retry finds it built again
        assert len(feedback) == 0
    book = openpyxl.load_workbook(paths[5])
    assert "第5个问题" in [c.value for row in book["问题清单"].iter_rows() for c in row]


def test_a_provinces_run_summary_lists_at_most_the_cap_and_says_where_the_rest_are():
    from pbstats.flows.artifacts import MAX_ROWS, summary_markdown
    from pbstats.warehouse.queries import RunSummary, TownshipLine

    towns = [
        TownshipLine(f"9901{i:05d}000", f"第{i}镇", accepted=i % 7, rejected=i % 3)
        for i in range(MAX_ROWS + 57)
    ]
    rejections = [
        {
            "file_name": f"退回{i}.xlsx",
            "org_code": None,
            "year": None,
            "reasons": ["E-FILE"],
            "feedback_path": None,
        }
        for i in range(MAX_ROWS + 9)
    ]
    summary = RunSummary(
        "r", None, "completed", 900, {"accepted": 500}, 0, townships=towns, rejections=rejections
    )
    text = summary_markdown(summary, "夜间入库运行概况", "/q")
    assert text.count("| 第") == MAX_ROWS and "另有 57 项未列出" in text
    assert text.count("**退回") == MAX_ROWS and "另有 9 项未列出，完整清单见退回目录 `/q`" in text

    small = RunSummary("r", None, "completed", 2, {}, 0, townships=towns[:3], rejections=rejections[:2])
    assert "另有" not in summary_markdown(small, "夜间入库运行概况", "/q")


def test_the_terminal_shows_a_provinces_townships_with_most_rejected_first_and_a_citys_all():
    from pbstats.flows import cli
    from pbstats.flows.settings import Settings
    from pbstats.warehouse.queries import RunSummary, TownshipLine

    towns = [
        TownshipLine(f"9901{i:05d}000", f"第{i}镇", accepted=20, rejected=(i * 7) % 11) for i in range(300)
    ]
    summary = RunSummary("r", None, "completed", 6000, {"accepted": 6000}, 0, townships=towns)
    with cli.console.capture() as got:
        cli.print_summary(summary, Settings())
    shown = [t for t in towns if f"{t.township_name} {t.township_code}" in got.get()]
    assert len(shown) == cli.MAX_TOWNSHIP_LINES and "共 300 个" in got.get()
    assert min(t.rejected for t in shown) >= max(t.rejected for t in towns if t not in shown)

    city = RunSummary("r", None, "completed", 60, {"accepted": 60}, 0, townships=towns[:12])
    with cli.console.capture() as got:
        cli.print_summary(city, Settings())
    assert all(f"第{i}镇" in got.get() for i in range(12)) and "共 12 个" not in got.get()
