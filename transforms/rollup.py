"""W-ROLLUP (forms.md §6): a township's DJ-2 against its villages' DJ-1 returns and the registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pbstats.schemas import messages as msg
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import DJ2, ROLLUPS

from .model import Finding
from .values import canonical, from_float


@dataclass(frozen=True)
class RollupResult:
    """One rolled-up indicator of one township: ok, mismatch, pending (villages missing) or no_return."""

    indicator_code: str
    state: str
    reported: float | None
    expected: float | None
    finding: Finding | None


def evaluate_rollup(
    township: Mapping[str, float] | None,
    villages_expected: int,
    village_values: Sequence[Mapping[str, float]],
    sheet: str | None = None,
    cells: Mapping[str, str] | None = None,
) -> list[RollupResult]:
    """`village_values` are the accepted DJ-1 returns of the villages the registry puts under the township."""
    results = []
    complete = len(village_values) >= villages_expected
    for rule in ROLLUPS:
        if rule.village_code is None:
            expected: float | None = float(villages_expected)
        elif complete:
            expected = float(sum(1 for v in village_values if v.get(rule.village_code, 0) > rule.threshold))
        else:
            expected = None
        reported = None if township is None else township.get(rule.township_code)
        if reported is None:
            results.append(RollupResult(rule.township_code, "no_return", None, expected, None))
        elif expected is None:
            results.append(RollupResult(rule.township_code, "pending", reported, None, None))
        elif abs(reported - expected) > 1e-9:
            ind = DJ2.indicator(rule.township_code)
            finding = Finding(
                CheckId.W_ROLLUP,
                msg.rollup_differs(ind, _show(reported), rule.describe, _show(expected)),
                sheet=sheet,
                cell=(cells or {}).get(rule.township_code),
                indicator_code=rule.township_code,
                observed=_show(reported),
            )
            results.append(RollupResult(rule.township_code, "mismatch", reported, expected, finding))
        else:
            results.append(RollupResult(rule.township_code, "ok", reported, expected, None))
    return results


def _show(x: float) -> str:
    return canonical(from_float(x))
