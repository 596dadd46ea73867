"""W-ROLLUP in the warehouse: the (year, township) pairs whose check a batch's changes can move
(`rollup_dirty`), what each township's check is made from (its current DJ-2, its villages' current
DJ-1 values), and the results stored (`rollup_check`, the W-ROLLUP findings on the DJ-2). The check
itself is `transforms.rollup`'s; `flows.stages.settle_rollups` wires the three."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, case, delete, func, select

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import ROLLUPS
from pbstats.schemas.registry import Registry

from .bulk import insert_rows
from .db import chunks
from .runlock import load_lock
from .tables import fact_metric, rollup_check, rollup_dirty, submission, submission_issue


def noted_rollups(conn: Connection) -> list[tuple[int, str]]:
    """The (year, township) pairs noted for a re-check, taken under the loader's lock (to the end of the
    caller's transaction): no batch notes more meanwhile."""
    load_lock(conn)
    return sorted(
        (r.year, r.township_code)
        for r in conn.execute(select(rollup_dirty.c.year, rollup_dirty.c.township_code))
    )


def clear_rollup_notes(conn: Connection) -> None:
    conn.execute(delete(rollup_dirty))


@dataclass
class RollupInput:
    """What one township's rollup check of one year is made from, as the warehouse holds it now."""

    year: int
    township_code: str
    submission_id: int | None  # its current DJ-2 return, if it has one
    reported: dict[str, float] | None  # that return's values
    sheet: str | None
    cells: dict[str, str]  # where that return's values are (indicator code → cell)
    villages_expected: int  # its villages that year, as the registry has them
    village_values: list[dict[str, float]]  # the counted values of each of those with a current DJ-1


ROLLUP_CHUNK = 40  # townships per round of statements (~25 villages each: ~1,000 orgs in one IN)


def rollup_inputs(
    conn: Connection, pairs: Sequence[tuple[int, str]], registry: Registry
) -> list[RollupInput]:
    """Each (year, township)'s inputs, in the order asked. Townships go ROLLUP_CHUNK at a time, a few
    statements per chunk (a province night has a thousand)."""
    by_year: dict[int, list[str]] = {}
    for year, township in pairs:
        by_year.setdefault(year, []).append(township)
    out: list[RollupInput] = []
    for year, townships in sorted(by_year.items()):
        for chunk in chunks(townships, ROLLUP_CHUNK):
            out += _chunk_inputs(conn, year, chunk, registry)
    return out


def _chunk_inputs(
    conn: Connection, year: int, townships: Sequence[str], registry: Registry
) -> list[RollupInput]:
    villages = {t: [v.org_code for v in registry.villages_of(t, year)] for t in townships}
    reported: dict[str, dict[str, float]] = {}
    township_sid: dict[str, int] = {}
    for org, code, value, sid in conn.execute(
        select(
            fact_metric.c.org_code,
            fact_metric.c.indicator_code,
            fact_metric.c.value,
            fact_metric.c.submission_id,
        ).where(
            fact_metric.c.year == year, fact_metric.c.form == "DJ-2", fact_metric.c.org_code.in_(townships)
        )
    ).all():
        reported.setdefault(org, {})[code] = value
        township_sid[org] = sid
    returned = _village_values(conn, year, sorted({v for vs in villages.values() for v in vs}))
    placed: dict[int, tuple[str | None, dict]] = {}
    if township_sid:
        for r in conn.execute(
            select(submission.c.submission_id, submission.c.sheet, submission.c.value_cells).where(
                submission.c.submission_id.in_(sorted(township_sid.values()))
            )
        ):
            placed[r.submission_id] = (r.sheet, json.loads(r.value_cells or "{}"))
    out = []
    for township in townships:
        sid = township_sid.get(township)
        sheet, cells = placed.get(sid, (None, {})) if sid is not None else (None, {})
        values = [returned[v] for v in villages[township] if v in returned]
        out.append(
            RollupInput(
                year, township, sid, reported.get(township), sheet, cells, len(villages[township]), values
            )
        )
    return out


def _village_values(conn: Connection, year: int, villages: Sequence[str]) -> dict[str, dict[str, float]]:
    """village → its current DJ-1's values of the indicators a rollup counts, one row per village (its
    other ~300k values a province night would fetch row by row are not needed); a village with none of
    them filled still counts as having returned."""
    counted = sorted({rule.village_code for rule in ROLLUPS if rule.village_code is not None})
    pivot = [
        func.max(case((fact_metric.c.indicator_code == code, fact_metric.c.value))).label(f"v{code}")
        for code in counted
    ]
    out = {}
    for part in chunks(villages, 1000):
        for org, *got in conn.execute(
            select(fact_metric.c.org_code, *pivot)
            .where(fact_metric.c.year == year, fact_metric.c.form == "DJ-1", fact_metric.c.org_code.in_(part))
            .group_by(fact_metric.c.org_code)
        ).all():
            out[org] = {code: v for code, v in zip(counted, got, strict=True) if v is not None}
    return out


def write_rollup_checks(
    conn: Connection, checked: Sequence[tuple[RollupInput, Sequence]], now: datetime
) -> None:
    """Each township's check results (`transforms.rollup.RollupResult`s) replace its earlier ones, and
    their findings the W-ROLLUP findings of its current DJ-2."""
    by_year: dict[int, list[str]] = {}
    for inputs, _ in checked:
        by_year.setdefault(inputs.year, []).append(inputs.township_code)
    for year, townships in by_year.items():
        for chunk in chunks(townships, 500):
            conn.execute(
                delete(rollup_check).where(
                    rollup_check.c.year == year, rollup_check.c.township_code.in_(chunk)
                )
            )
    insert_rows(conn, rollup_check, [row for i, results in checked for row in _check_rows(i, results, now)])
    sids = sorted({i.submission_id for i, _ in checked if i.submission_id is not None})
    for chunk in chunks(sids, 500):
        conn.execute(
            delete(submission_issue).where(
                submission_issue.c.submission_id.in_(chunk), submission_issue.c.check_id == CheckId.W_ROLLUP
            )
        )
    insert_rows(conn, submission_issue, [row for i, results in checked for row in _finding_rows(i, results)])


def _check_rows(inputs: RollupInput, results: Sequence, now: datetime) -> list[dict]:
    return [
        {
            "year": inputs.year,
            "township_code": inputs.township_code,
            "indicator_code": r.indicator_code,
            "state": r.state,
            "reported": r.reported,
            "expected": r.expected,
            "villages_expected": inputs.villages_expected,
            "villages_accepted": len(inputs.village_values),
            "checked_at": now,
        }
        for r in results
    ]


def _finding_rows(inputs: RollupInput, results: Sequence) -> list[dict]:
    """The findings as warnings on the township's current DJ-2 (none without one)."""
    if inputs.submission_id is None:
        return []
    return [
        {
            "submission_id": inputs.submission_id,
            "check_id": f.check_id,
            "severity": "warning",
            "sheet": f.sheet,
            "cell": f.cell,
            "indicator_code": f.indicator_code,
            "message": f.message,
            "observed": f.observed,
        }
        for f in (r.finding for r in results)
        if f is not None
    ]


def note_rollups(conn: Connection, rows: Sequence[dict]) -> None:
    """Note (year, township) pairs for a re-check (rows of `rollup_dirty` not noted yet)."""
    insert_rows(conn, rollup_dirty, rows)
