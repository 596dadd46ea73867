"""Where the year's returns stand, for the review: completeness, open warnings in the order a
reviewer reads them, and the W-ROLLUP checks still waiting for villages' returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pbstats.schemas.checks import CheckId


@dataclass
class Completeness:
    """Returns expected and received, for the scope (a sum over its townships)."""

    expected: int = 0
    accepted_on_time: int = 0
    accepted_late: int = 0
    rejected: int = 0
    missing: int = 0
    townships: list[dict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.accepted_on_time + self.accepted_late


def completeness(rows: Sequence[Mapping]) -> Completeness:
    out = Completeness(townships=[dict(r) for r in rows])
    for r in rows:
        out.expected += r["expected"]
        out.accepted_on_time += r["accepted_on_time"]
        out.accepted_late += r["accepted_late"]
        out.rejected += r["rejected"]
        out.missing += r["missing"]
    return out


# the order a reviewer reads open warnings in: disagreements first, blanks read as 0 last
WARNING_ORDER = (
    CheckId.W_ROLLUP,
    CheckId.W_JUMP,
    CheckId.W_PRIOR,
    CheckId.W_LATE,
    CheckId.W_FOOTER,
    CheckId.W_BLANK,
)


def by_importance(warnings: Sequence[Mapping]) -> list[dict]:
    rank = {c: i for i, c in enumerate(WARNING_ORDER)}
    return sorted(
        (dict(w) for w in warnings),
        key=lambda w: (rank.get(w["check_id"], len(rank)), w.get("township_code") or "", w["org_code"] or ""),
    )


def warning_counts(warnings: Sequence[Mapping]) -> list[tuple[str, int]]:
    """check id → number of open warnings, most frequent first."""
    return most_first(Counter(w["check_id"] for w in warnings))


def most_first(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def pending_rollups(states: Sequence[Mapping]) -> list[dict]:
    """Townships whose W-ROLLUP check waits for villages' returns: one row per township."""
    out: dict[str, dict] = {}
    for s in states:
        if s["state"] != "pending":
            continue
        row = out.setdefault(
            s["township_code"],
            {
                "township_code": s["township_code"],
                "township_name": s["township_name"],
                "indicators": [],
                "villages_accepted": s["villages_accepted"],
                "villages_expected": s["villages_expected"],
            },
        )
        row["indicators"].append(s["indicator_code"])
    return list(out.values())


def mismatches(rollups: Sequence[Mapping]) -> int:
    """W-ROLLUP checks whose township and villages disagree."""
    return sum(1 for r in rollups if r["state"] == "mismatch")


def states(
    completeness_rows: Sequence[Mapping],
    warnings: Sequence[Mapping],
    rollups: Sequence[Mapping],
    only: str | None,
) -> dict:
    """Completeness, open warnings and rollup checks of the scope (`only`: one township), as the
    review's fields of those names."""
    done = completeness([r for r in completeness_rows if only is None or r["township_code"] == only])
    kept = by_importance([w for w in warnings if only is None or w.get("township_code") == only])
    checks = [r for r in rollups if only is None or r["township_code"] == only]
    return {
        "completeness": done,
        "warnings": kept,
        "warning_counts": warning_counts(kept),
        "pending": pending_rollups(checks),
        "mismatches": mismatches(checks),
    }
