"""What submitters are told quotes the rulebook's limits through their constants, never as typed numbers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pbstats.schemas import messages as msg
from pbstats.schemas import template_text
from pbstats.schemas.checks import CHECKS, CheckId
from pbstats.schemas.forms import (
    AMOUNT_DECIMALS,
    DEADLINE_MONTH_DAY,
    DJ1,
    JUMP_FACTOR,
    MAX_FILE_MB,
    MAX_SHEET_ROWS,
    MAX_UNPACKED_MB,
    MB,
    ORG_CODE_DIGITS,
    ROLLUPS,
    Rollup,
)

SCHEMAS = Path(msg.__file__).parent
COUNT, AMOUNT = DJ1.indicator("01"), DJ1.indicator("07")

# each message that quotes a limit, made with the limit the rulebook sets and with another one
QUOTING = {
    "sheet rows": (lambda n: msg.sheet_too_long(12_345, n), MAX_SHEET_ROWS, 777),
    "file size": (lambda n: msg.file_too_big(250 * MB, n), MAX_FILE_MB, 33),
    "unpacked size": (lambda n: msg.unpacks_too_big(999 * MB, n), MAX_UNPACKED_MB, 444),
    "jump factor": (lambda n: msg.jumped(COUNT, "5", "50", n), JUMP_FACTOR, 7.5),
    "org code digits": (lambda n: msg.org_code_length("123", n), ORG_CODE_DIGITS, 14),
    "amount decimals": (lambda n: msg.out_of_range(AMOUNT, "1.234", n), AMOUNT_DECIMALS, 4),
    "template decimals": (lambda n: template_text.validation_error(AMOUNT, n), AMOUNT_DECIMALS, 4),
    "template prompt": (lambda n: template_text.validation_prompt(AMOUNT, n), AMOUNT_DECIMALS, 4),
    "guide decimals": (lambda n: "".join(template_text.guide(DJ1, 2025, decimals=n)), AMOUNT_DECIMALS, 4),
}


def shows(number: float) -> re.Pattern[str]:
    """The number as a message may print it, standing alone (10000, 10,000; 3 for 3.0)."""
    forms = {f"{number:g}", f"{number:,g}", str(int(number)) if number == int(number) else f"{number}"}
    return re.compile(r"(?<![\d.,])(?:" + "|".join(re.escape(f) for f in forms) + r")(?![\d.,])")


@pytest.mark.parametrize("name", QUOTING)
def test_a_message_follows_the_limit_it_quotes(name):
    make, limit, other = QUOTING[name]
    assert shows(limit).search(make(limit)), make(limit)
    changed = make(other)
    assert shows(other).search(changed) and not shows(limit).search(changed), changed


def test_by_default_a_message_quotes_the_rulebooks_limit():
    assert shows(MAX_SHEET_ROWS).search(msg.sheet_too_long(12_345))
    assert shows(MAX_FILE_MB).search(msg.file_too_big(250 * MB))
    assert shows(MAX_UNPACKED_MB).search(msg.unpacks_too_big(999 * MB))
    assert shows(JUMP_FACTOR).search(msg.jumped(COUNT, "5", "50"))
    assert shows(ORG_CODE_DIGITS).search(msg.org_code_length("123"))
    assert shows(AMOUNT_DECIMALS).search(msg.out_of_range(AMOUNT, "1.234"))
    assert shows(ORG_CODE_DIGITS).search(msg.NO_ORG_CODE)
    assert shows(JUMP_FACTOR).search(CHECKS[CheckId.W_JUMP].rule)
    assert shows(ORG_CODE_DIGITS).search(CHECKS[CheckId.E_ORG].rule)


def test_the_templates_guide_gives_the_deadline_it_is_told():
    assert (
        f"2026年{DEADLINE_MONTH_DAY[0]}月{DEADLINE_MONTH_DAY[1]}日前报送" in template_text.guide(DJ1, 2025)[1]
    )
    assert "2026年2月15日前报送" in template_text.guide(DJ1, 2025, due=(2, 15))[1]


def test_a_rollups_description_follows_its_threshold():
    income = next(r for r in ROLLUPS if r.township_code == "09")
    assert shows(income.threshold).search(income.describe)
    other = Rollup(income.township_code, income.village_code, 25, income.counted)
    assert shows(25).search(other.describe) and not shows(income.threshold).search(other.describe)


LIMITS = {
    "MAX_SHEET_ROWS": MAX_SHEET_ROWS,
    "MAX_FILE_MB": MAX_FILE_MB,
    "MAX_UNPACKED_MB": MAX_UNPACKED_MB,
    "JUMP_FACTOR": JUMP_FACTOR,
    "ORG_CODE_DIGITS": ORG_CODE_DIGITS,
    "AMOUNT_DECIMALS": AMOUNT_DECIMALS,
}


def literal_texts(path: Path) -> list[str]:
    """The typed parts of every string in a module: f-string placeholders left out, docstrings kept."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return texts


@pytest.mark.parametrize("module", ["messages.py", "checks.py", "feedback_text.py", "template_text.py"])
def test_no_message_types_a_limit_as_a_number(module):
    """A limit typed into a message would not follow when its constant changes."""
    chinese = [t for t in literal_texts(SCHEMAS / module) if re.search(r"[\u4e00-\u9fff]", t)]
    assert chinese
    for name, limit in LIMITS.items():
        typed = [t for t in chinese if shows(limit).search(t)]
        assert not typed, f"{name} typed into {typed}"
    assert not [t for t in chinese if "两位" in t or "三倍" in t]


REPO = SCHEMAS.parent
# left where they are: the reader's layout markers and a label pattern, in modules being reworked
# elsewhere (transforms/locate.py, the PII check's 联系电话 cell)
READING_MARKS = {
    ("transforms/locate.py", "甲"),
    ("transforms/locate.py", "乙"),
    ("transforms/locate.py", "丙"),
    ("transforms/checks.py", r"^.*?联系电话[:：]?[-+\d]+"),
}


def wording_outside_schemas(path: Path) -> list[str]:
    """Chinese string literals of a module that are neither docstrings nor column comments."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))  # a docstring
        if isinstance(node, ast.keyword) and node.arg == "comment":
            skip |= {id(n) for n in ast.walk(node.value)}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and re.search(r"[\u4e00-\u9fff]", node.value)
    ]


@pytest.mark.parametrize("package", ["transforms", "warehouse", "expectations"])
def test_user_wording_lives_in_schemas(package):
    found = [
        (str(path.relative_to(REPO)), text)
        for path in sorted((REPO / package).rglob("*.py"))
        for text in wording_outside_schemas(path)
    ]
    assert not [f for f in found if f not in READING_MARKS], found
