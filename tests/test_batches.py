"""How a night's files are cut into load batches (flows/stages.py plan_batches), and how a province-sized
night is shown (capped artifact lists)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from flows.ingest import FIRST_READ, read_slices
from flows.stages import plan_batches


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


@pytest.mark.parametrize("files,size", [(0, 1000), (1, 1000), (24, 1000), (25_000, 1000), (3_000, 25), (77, 7)])
def test_read_tasks_start_small_and_grow_to_the_batch_size(files: int, size: int):
    slices = read_slices(files, size)
    assert [i for s in slices for i in range(s.start, s.stop)] == list(range(files))  # each file once, in order
    sizes = [s.stop - s.start for s in slices]
    assert all(0 < n <= size for n in sizes)
    if sizes:
        assert sizes[0] == min(files, size, FIRST_READ)  # the readers get their first files at once
    full = sizes[:-1]  # the last one takes what is left
    assert full == sorted(full) and all(b in (a, min(size, 2 * a)) for a, b in zip(full, full[1:]))
    if files >= 25_000:
        assert len(slices) <= files // size + 8  # a province is still read in about files/size tasks


def test_a_provinces_run_summary_lists_at_most_the_cap_and_says_where_the_rest_are():
    from flows.artifacts import MAX_ROWS, summary_markdown
    from warehouse.queries import RunSummary, TownshipLine

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
