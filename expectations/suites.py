"""The Great Expectations suite of each form (forms.md §4, §6), derived from the rulebook alone.

A suite validates a frame with one row per return and, for each indicator code XX of the form,
two columns: `vXX`, the value as a float (NaN where the cell could not be read as a number, which
is reported elsewhere, so NaN never breaks an expectation), and `tXX`, the value's canonical
decimal text ("12", "2.5", "-3"; None where `vXX` is NaN).

The suites are stored as JSON beside this module and loaded from there at run time. After an
edit to schemas/forms.py, regenerate them with `python -m expectations.suites`; a test fails
until the stored files equal what `build_suite` gives.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS, Form, Indicator, Kind, Rule

# The canonical text of a value must match its kind's pattern (forms.md §4). GX runs these
# with pandas `str.contains`, which warns on every call about a capturing group: hence `(?:`.
TEXT_PATTERNS: dict[Kind, str] = {
    Kind.COUNT: r"^\d+$",
    Kind.FLAG: r"^[01]$",
    Kind.AMOUNT: r"^\d+(?:\.\d{1,2})?$",
}
FLAG_VALUES = (0, 1)

Expectation = dict[str, Any]


def value_column(code: str) -> str:
    """The frame column holding indicator `code`'s value as a float."""
    return f"v{code}"


def text_column(code: str) -> str:
    """The frame column holding indicator `code`'s value as canonical decimal text."""
    return f"t{code}"


def build_suite(form: Form) -> dict[str, Any]:
    """The GX 1.x ExpectationSuite of `form`, as a JSON-serialisable dict."""
    expectations = [e for indicator in form.indicators for e in _indicator_expectations(indicator)]
    expectations += [_rule_expectation(rule) for rule in form.rules]
    return {
        "name": form.form_id,
        "expectations": expectations,
        "meta": {
            "form_id": form.form_id,
            "title": form.title,
            "generated_by": "python -m expectations.suites",
        },
    }


def stored_suite(form_id: str) -> dict[str, Any]:
    """The suite of `form_id` as stored in this package (what validation runs)."""
    text = resources.files("pbstats.expectations").joinpath(_file_name(form_id)).read_text(encoding="utf-8")
    return json.loads(text)


def suite_json(form: Form) -> str:
    """The stored text of `form`'s suite: pretty, keys sorted, Chinese kept readable."""
    return json.dumps(build_suite(form), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Rewrite the stored suite of every form from the rulebook."""
    here = Path(__file__).parent
    for form in FORMS.values():
        path = here / _file_name(form.form_id)
        path.write_text(suite_json(form), encoding="utf-8")
        print(f"wrote {path}")


def _file_name(form_id: str) -> str:
    return f"{form_id}.json"


def _indicator_expectations(indicator: Indicator) -> list[Expectation]:
    """The value's text fits its kind, and the value is in its kind's range (E-VALUE)."""
    code = indicator.code
    text = {"column": text_column(code), "regex": TEXT_PATTERNS[indicator.kind]}
    expectations = [_expectation("expect_column_values_to_match_regex", text, _value_meta(code))]
    if indicator.kind is Kind.FLAG:
        in_set = {"column": value_column(code), "value_set": list(FLAG_VALUES)}
        expectations.append(_expectation("expect_column_values_to_be_in_set", in_set, _value_meta(code)))
    else:
        at_least_0 = {"column": value_column(code), "min_value": 0}
        expectations.append(_expectation("expect_column_values_to_be_between", at_least_0, _value_meta(code)))
    return expectations


def _value_meta(code: str) -> dict[str, Any]:
    return {"check_id": CheckId.E_VALUE, "codes": [code]}


def _rule_expectation(rule: Rule) -> Expectation:
    """v{small} <= v{large}, skipping rows where either value is missing (reported elsewhere)."""
    kwargs = {
        "column_A": value_column(rule.large),
        "column_B": value_column(rule.small),
        "or_equal": True,
        "ignore_row_if": "either_value_is_missing",
    }
    meta = {
        "check_id": CheckId.E_RULE,
        "codes": [rule.small, rule.large],
        "rule": {"small": rule.small, "large": rule.large},
    }
    return _expectation("expect_column_pair_values_a_to_be_greater_than_b", kwargs, meta)


def _expectation(expectation_type: str, kwargs: dict[str, Any], meta: dict[str, Any]) -> Expectation:
    return {"type": expectation_type, "kwargs": kwargs, "meta": meta}


if __name__ == "__main__":
    main()
