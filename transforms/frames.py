"""One DataFrame per form per batch for the value rules (GX), and its violations back to cells."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from schemas.forms import FORMS, Kind, Rule

from .model import CheckedReturn, Finding
from .values import canonical


def value_frame(returns: Sequence[CheckedReturn], form_id: str) -> pd.DataFrame:
    """Rows: the returns of that form (index = position in `returns`); columns vXX (number) and tXX (text)."""
    form = FORMS[form_id]
    index = [i for i, r in enumerate(returns) if r.form_id == form_id]
    data: dict[str, list] = {}
    for ind in form.indicators:
        vals = [returns[i].values.get(ind.code) for i in index]
        data[f"v{ind.code}"] = [float(v) if v is not None else float("nan") for v in vals]
        data[f"t{ind.code}"] = [canonical(v) if v is not None else None for v in vals]
    return pd.DataFrame(data, index=index)


def violation_findings(
    returns: Sequence[CheckedReturn], form_id: str, violations: Iterable
) -> list[tuple[int, Finding]]:
    """(position, finding) for every violation, one finding per cell and check (-3 breaks two expectations)."""
    out: dict[tuple[int, str, tuple[str, ...]], Finding] = {}
    for v in violations:
        ret = returns[v.row]
        if v.check_id == "E-RULE" and v.rule is not None:
            key = (v.row, "E-RULE", (v.rule.small, v.rule.large))
            out.setdefault(key, _rule_finding(ret, form_id, v.rule))
        else:
            for code in v.codes:
                out.setdefault((v.row, "E-VALUE", (code,)), _value_finding(ret, form_id, code))
    return [(row, f) for (row, _, _), f in sorted(out.items(), key=lambda kv: kv[0])]


def _value_finding(ret: CheckedReturn, form_id: str, code: str) -> Finding:
    ind = FORMS[form_id].indicator(code)
    value = ret.values.get(code)
    want = {
        Kind.COUNT: f"应填写不小于0的整数（单位：{ind.unit}）",
        Kind.FLAG: "应填写“是”或“否”（或1、0）",
        Kind.AMOUNT: f"应填写不小于0、最多两位小数的数值（单位：{ind.unit}）",
    }[ind.kind]
    shown = canonical(value) if value is not None else ""
    return Finding(
        "E-VALUE",
        f"“{ind.name}”{want}，实际填写为{shown}",
        sheet=ret.sheet,
        cell=ret.cells.get(code),
        indicator_code=code,
        observed=shown,
    )


def _rule_finding(ret: CheckedReturn, form_id: str, rule: Rule) -> Finding:
    form = FORMS[form_id]
    small, large = ret.values.get(rule.small), ret.values.get(rule.large)
    return Finding(
        "E-RULE",
        f"{rule.describe(form)}，本表填写为{canonical(small)}和{canonical(large)}",
        sheet=ret.sheet,
        cell=ret.cells.get(rule.small),
        indicator_code=rule.small,
        observed=f"{rule.small}={canonical(small)}，{rule.large}={canonical(large)}",
    )
