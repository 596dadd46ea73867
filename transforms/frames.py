"""One DataFrame per form per batch for the value rules (GX), and its violations back to cells."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pbstats.schemas import messages as msg
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS, Rule

from .model import CheckedReturn, Finding
from .values import canonical

NAN = float("nan")


class ValueRows:
    """The value frames of a run, built a return at a time in compact columns (8 bytes a number, one
    shared object a distinct text), so that a run can let go of each return once it is read; and
    emptied (`clear`) once validated, so that a run holds the values of a share of its returns only."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._index: dict[str, array] = {f: array("q") for f in FORMS}
        self._numbers: dict[str, dict[str, array]] = {
            f: {ind.code: array("d") for ind in form.indicators} for f, form in FORMS.items()
        }
        self._texts: dict[str, dict[str, list]] = {
            f: {ind.code: [] for ind in form.indicators} for f, form in FORMS.items()
        }
        self._shared: dict[str, str] = {}

    def __len__(self) -> int:
        return sum(len(index) for index in self._index.values())

    def add(self, position: int, ret: CheckedReturn) -> None:
        if ret.form_id not in FORMS:
            return
        self._index[ret.form_id].append(position)
        numbers, texts = self._numbers[ret.form_id], self._texts[ret.form_id]
        for code, column in numbers.items():
            v = ret.values.get(code)
            column.append(float(v) if v is not None else NAN)
            text = canonical(v) if v is not None else None
            texts[code].append(self._shared.setdefault(text, text) if text is not None else None)

    def frame(self, form_id: str) -> pd.DataFrame:
        data: dict[str, object] = {}
        for code, column in self._numbers[form_id].items():
            data[f"v{code}"] = np.array(column, dtype=np.float64)
            data[f"t{code}"] = self._texts[form_id][code]
        return pd.DataFrame(data, index=list(self._index[form_id]))


def violation_findings(
    returns: Sequence[CheckedReturn], form_id: str, violations: Iterable
) -> list[tuple[int, Finding]]:
    """(position, finding) for every violation, one finding per cell and check (-3 breaks two expectations)."""
    out: dict[tuple[int, str, tuple[str, ...]], Finding] = {}
    for v in violations:
        ret = returns[v.row]
        if v.check_id == CheckId.E_RULE and v.rule is not None:
            key = (v.row, CheckId.E_RULE, (v.rule.small, v.rule.large))
            out.setdefault(key, _rule_finding(ret, form_id, v.rule))
        else:
            for code in v.codes:
                out.setdefault((v.row, CheckId.E_VALUE, (code,)), _value_finding(ret, form_id, code))
    return [(row, f) for (row, _, _), f in sorted(out.items(), key=lambda kv: kv[0])]


def _value_finding(ret: CheckedReturn, form_id: str, code: str) -> Finding:
    ind = FORMS[form_id].indicator(code)
    value = ret.values.get(code)
    shown = canonical(value) if value is not None else ""
    return Finding(
        CheckId.E_VALUE,
        msg.out_of_range(ind, shown),
        sheet=ret.sheet,
        cell=ret.cells.get(code),
        indicator_code=code,
        observed=shown,
    )


def _rule_finding(ret: CheckedReturn, form_id: str, rule: Rule) -> Finding:
    form = FORMS[form_id]
    small, large = ret.values.get(rule.small), ret.values.get(rule.large)
    return Finding(
        CheckId.E_RULE,
        msg.rule_broken(rule.describe(form), canonical(small), canonical(large)),
        sheet=ret.sheet,
        cell=ret.cells.get(rule.small),
        indicator_code=rule.small,
        observed=f"{rule.small}={canonical(small)}，{rule.large}={canonical(large)}",
    )
