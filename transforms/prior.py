"""Checks against last year's loaded values (forms.md §6 W-PRIOR, W-JUMP)."""

from __future__ import annotations

from collections.abc import Mapping

from pbstats.schemas import messages as msg
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS, JUMP_FACTOR, JUMP_MIN, Kind

from .model import CheckedReturn, Finding
from .values import canonical, from_float


def compare_with_last_year(ret: CheckedReturn, last_year: Mapping[str, float]) -> list[Finding]:
    """W-PRIOR where the 上年 column disagrees with what was loaded; W-JUMP where a count moved > 3×."""
    if not last_year or ret.form_id is None:
        return []
    form = FORMS[ret.form_id]
    found = []
    for code, written in ret.priors.items():
        loaded = last_year.get(code)
        if loaded is not None and abs(float(written) - loaded) > 0.005:
            found.append(
                Finding(
                    CheckId.W_PRIOR,
                    msg.prior_differs(form.indicator(code), canonical(written), ret.year - 1, _show(loaded)),
                    sheet=ret.sheet,
                    cell=ret.prior_cells.get(code),
                    indicator_code=code,
                    observed=canonical(written),
                )
            )
    for ind in form.indicators:
        if ind.kind is not Kind.COUNT or ind.code not in ret.values or ind.code not in last_year:
            continue
        now, before = float(ret.values[ind.code]), last_year[ind.code]
        if max(now, before) < JUMP_MIN:
            continue
        low, high = sorted((now, before))
        if low == 0 or high / low > JUMP_FACTOR:
            found.append(
                Finding(
                    CheckId.W_JUMP,
                    msg.jumped(ind, _show(before), _show(now)),
                    sheet=ret.sheet,
                    cell=ret.cells.get(ind.code),
                    indicator_code=ind.code,
                    observed=_show(now),
                )
            )
    return found


def _show(x: float) -> str:
    return canonical(from_float(x))
