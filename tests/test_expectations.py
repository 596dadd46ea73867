"""The GX suites follow the rulebook, and validation finds each broken value and rule on its row."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pbstats.expectations import run
from pbstats.expectations.run import SuiteError, Violation, validate
from pbstats.expectations.suites import build_suite, stored_suite, suite_json
from pbstats.schemas.checks import CHECKS, CheckId
from pbstats.schemas.forms import DJ1, DJ2, FORMS, Form, Kind, Rule

REGEX = "expect_column_values_to_match_regex"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"

Values = dict[str, float | None]  # indicator code -> value; None: the cell could not be read


def canonical_text(value: float) -> str:
    """What the reader writes beside a value: "12", "2.5", "-3", "1234.567"."""
    return str(int(value)) if value.is_integer() else repr(value)


def returns_frame(form: Form, returns: dict[int, Values], index_name: str | None = None) -> pd.DataFrame:
    """One row per return (index = row id); indicators not given are 0."""
    columns: dict[str, list[object]] = {}
    for indicator in form.indicators:
        values = [row.get(indicator.code, 0) for row in returns.values()]
        columns[f"v{indicator.code}"] = [math.nan if v is None else float(v) for v in values]
        columns[f"t{indicator.code}"] = [None if v is None else canonical_text(float(v)) for v in values]
    return pd.DataFrame(columns, index=pd.Index(list(returns), name=index_name))


@pytest.mark.parametrize("form", FORMS.values(), ids=lambda f: f.form_id)
def test_stored_suites_are_what_the_rulebook_gives(form: Form) -> None:
    regenerate = "the rulebook changed: run `python -m pbstats.expectations.suites`"
    assert stored_suite(form.form_id) == build_suite(form), regenerate
    stored_text = Path(run.__file__).with_name(f"{form.form_id}.json").read_text(encoding="utf-8")
    assert stored_text == suite_json(form), regenerate


def test_suites_name_known_checks_and_indicators() -> None:
    for form in FORMS.values():
        for expectation in build_suite(form)["expectations"]:
            meta = expectation["meta"]
            assert meta["check_id"] in CHECKS
            assert all(form.has(code) for code in meta["codes"])
    assert {CheckId.E_VALUE, CheckId.E_RULE} <= set(CHECKS)


def test_suite_json_is_serialisable_and_keeps_chinese() -> None:
    assert "乡镇（街道）党建工作情况年报" in suite_json(DJ2)
    assert json.loads(suite_json(DJ1)) == build_suite(DJ1)


@pytest.mark.parametrize("form", FORMS.values(), ids=lambda f: f.form_id)
def test_good_returns_have_no_violations(form: Form) -> None:
    every_one = {i.code: 1 for i in form.indicators}
    amounts = {i.code: 1234.56 for i in form.indicators if i.kind is Kind.AMOUNT}
    large = {i.code: 9876 for i in form.indicators if i.kind is Kind.COUNT}
    frame = returns_frame(form, {1: {}, 2: every_one, 3: every_one | amounts, 4: large})
    assert validate(form.form_id, frame) == []


def value_violations(
    code: str, *expectation_types: str
) -> list[tuple[tuple[str, ...], str, str, Rule | None]]:
    return [((code,), CheckId.E_VALUE, t, None) for t in expectation_types]


BAD_VALUES = [
    pytest.param(DJ1, {"01": 2.5}, value_violations("01", REGEX), id="count 2.5"),
    pytest.param(DJ1, {"07": 1234.567}, value_violations("07", REGEX), id="amount with 3 decimals"),
    pytest.param(DJ1, {"07": -0.5}, value_violations("07", REGEX, BETWEEN), id="negative amount"),
    pytest.param(DJ1, {"03": -3}, value_violations("03", REGEX, BETWEEN), id="negative count"),
    pytest.param(DJ2, {"17": -3}, value_violations("17", REGEX, BETWEEN), id="negative count DJ-2"),
    pytest.param(DJ1, {"04": 2}, value_violations("04", REGEX, IN_SET), id="flag 2"),
    pytest.param(DJ1, {"12": 0.5}, value_violations("12", REGEX, IN_SET), id="flag 0.5"),
]
BROKEN_RULES = [
    pytest.param(
        form,
        {rule.small: 5, rule.large: 4},
        [((rule.small, rule.large), CheckId.E_RULE, PAIR, rule)],
        id=f"{form.form_id} {rule.small}<={rule.large}",
    )
    for form in FORMS.values()
    for rule in form.rules
    if form.indicator(rule.small).kind is Kind.COUNT
] + [
    # flags: 09 = 1 (rectified) while 08 = 0 (not a weak branch)
    pytest.param(
        DJ1, {"09": 1, "08": 0}, [(("09", "08"), CheckId.E_RULE, PAIR, Rule("09", "08"))], id="DJ-1 09<=08"
    ),
]


@pytest.mark.parametrize("form,bad,want", BAD_VALUES + BROKEN_RULES)
def test_each_violation_is_found_on_its_row(form: Form, bad: Values, want: list) -> None:
    frame = returns_frame(form, {7: {}, 42: bad, 3: {}})
    found = validate(form.form_id, frame)
    assert found == [Violation(42, codes, check_id, kind, rule) for codes, check_id, kind, rule in want]


def test_every_rule_of_both_forms_is_tested() -> None:
    tested = {p.id for p in BROKEN_RULES}
    assert tested == {f"{f.form_id} {r.small}<={r.large}" for f in FORMS.values() for r in f.rules}


@pytest.mark.parametrize("form", FORMS.values(), ids=lambda f: f.form_id)
def test_unreadable_values_break_nothing(form: Form) -> None:
    unreadable = {i.code: None for i in form.indicators}
    # the larger side of each rule unreadable: the rule cannot be checked, so it is not broken
    half = {code: v for rule in form.rules for code, v in ((rule.large, None), (rule.small, 1))}
    frame = returns_frame(form, {1: unreadable, 2: half, 3: {}})
    assert validate(form.form_id, frame) == []


def test_repeated_validation_in_one_process_sees_each_frame_afresh() -> None:
    first = returns_frame(DJ2, {10: {"07": 3, "06": 1}, 11: {}}, index_name="return_id")
    second = returns_frame(DJ2, {20: {}, 21: {"17": -1}}, index_name="return_id")
    rule = Rule("07", "06")
    assert validate("DJ-2", first) == [Violation(10, ("07", "06"), CheckId.E_RULE, PAIR, rule)]
    assert validate("DJ-2", second) == [
        Violation(21, ("17",), CheckId.E_VALUE, REGEX),
        Violation(21, ("17",), CheckId.E_VALUE, BETWEEN),
    ]
    assert validate("DJ-2", second.iloc[:1]) == []
    assert validate("DJ-2", first) == [Violation(10, ("07", "06"), CheckId.E_RULE, PAIR, rule)]
    assert validate("DJ-1", returns_frame(DJ1, {5: {"04": 3}}))[0].row == 5


def test_violations_come_in_row_order() -> None:
    frame = returns_frame(DJ1, {9: {"02": 5, "01": 1}, 2: {"01": 2.5}})
    assert [(v.row, v.check_id) for v in validate("DJ-1", frame)] == [
        (9, CheckId.E_RULE),
        (2, CheckId.E_VALUE),
    ]


def test_an_empty_frame_needs_no_great_expectations() -> None:
    code = (
        "import sys, pandas as pd\n"
        "from pbstats.expectations.run import validate\n"
        "assert validate('DJ-1', pd.DataFrame()) == []\n"
        "assert 'great_expectations' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_frame_without_the_suites_columns_is_refused() -> None:
    frame = returns_frame(DJ1, {1: {}}).drop(columns=["v02", "t07"])
    with pytest.raises(SuiteError, match="t07, v02"):
        validate("DJ-1", frame)


def test_an_unknown_form_is_refused() -> None:
    with pytest.raises(SuiteError, match="DJ-9"):
        validate("DJ-9", returns_frame(DJ1, {1: {}}))


def test_a_suite_gx_cannot_build_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = build_suite(DJ1)
    broken["expectations"].append({"type": "expect_no_such_thing", "kwargs": {"column": "v01"}})
    monkeypatch.setattr(run, "stored_suite", lambda form_id: broken)
    run._suite.cache_clear()
    try:
        with pytest.raises(SuiteError, match="dropped"):
            validate("DJ-1", returns_frame(DJ1, {1: {}}))
    finally:
        run._suite.cache_clear()


def test_a_frame_gx_cannot_compute_is_refused() -> None:
    frame = returns_frame(DJ1, {1: {}, 2: {}})
    frame["v01"] = ["a", "b"]
    with pytest.raises(SuiteError, match="could not run"):
        validate("DJ-1", frame)
