"""One cell as the rulebook reads it (forms.md §5)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from pbstats.schemas import messages as msg
from pbstats.schemas.forms import (
    APPROXIMATE_FIRST,
    APPROXIMATE_LAST,
    CHINESE_NUMERALS,
    FLAG_FALSE,
    FLAG_TRUE,
    FLAG_UNIT,
    ZERO_TOKENS,
    Indicator,
    Kind,
)

from .model import CellValue

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


@dataclass(frozen=True)
class Read:
    """What a cell gives: a number, or blank, or the reason it cannot be read."""

    value: Decimal | None
    blank: bool = False
    problem: str | None = None  # Chinese, for the submitter (schemas.messages)


BLANK = Read(Decimal(0), blank=True)
ZERO = Read(Decimal(0))


_BLANKS = re.compile(r"\s+")


@lru_cache(maxsize=4096)  # labels, names and units repeat across thousands of returns
def norm_text(s: str) -> str:
    """Full-width to half-width and no surrounding or inner blanks (U+3000 included)."""
    return _BLANKS.sub("", unicodedata.normalize("NFKC", s))


def plain(d: Decimal) -> Decimal:
    """The same number without trailing zeros or exponent (5E+2 → 500, 12.50 → 12.5)."""
    return Decimal(canonical(d))


@lru_cache(maxsize=1 << 14)  # the numbers in returns are mostly small and repeat
def from_float(x: float) -> Decimal:
    """A stored binary float as the decimal a person typed (15.670000000000002 → 15.67)."""
    return plain(Decimal(repr(round(x, 9))))


def canonical(d: Decimal) -> str:
    """The decimal as plain text for the type rules: 12, 2.5, -3, 1234.567."""
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "0.0") else text


def read_value(raw: CellValue, ind: Indicator) -> Read:
    if raw is None:
        return BLANK
    if isinstance(raw, bool):
        return Read(Decimal(int(raw)))
    if isinstance(raw, int):
        return Read(Decimal(raw))
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            return Read(None, problem=msg.NOT_A_NUMBER)
        return Read(from_float(raw))
    if isinstance(raw, datetime | date | time | timedelta):
        return Read(None, problem=msg.A_DATE)
    return _read_text(str(raw), ind)


def _read_text(text: str, ind: Indicator) -> Read:
    if not text.strip():
        return BLANK
    s = norm_text(text)
    if s in ZERO_TOKENS:
        return ZERO
    if ind.kind is Kind.FLAG:
        if s in FLAG_TRUE:
            return Read(Decimal(1))
        if s in FLAG_FALSE:
            return Read(Decimal(0))
    elif ind.unit != FLAG_UNIT and s.endswith(norm_text(ind.unit)):
        s = s[: -len(norm_text(ind.unit))]
    if _GROUPED.match(s):
        s = s.replace(",", "")
    if _NUMBER.match(s):
        try:
            return Read(plain(Decimal(s)))
        except InvalidOperation:
            pass
    return Read(None, problem=_why_not(s, ind))


def _why_not(s: str, ind: Indicator) -> str:
    if any(ch in CHINESE_NUMERALS for ch in s) and not re.search(r"\d", s):
        return msg.CHINESE_NUMERALS
    if s[:1] in APPROXIMATE_FIRST or s.endswith(APPROXIMATE_LAST):
        return msg.NOT_EXACT
    if ind.kind is Kind.FLAG:
        return msg.NOT_A_FLAG
    m = re.match(r"^[+-]?[\d.]+(.+)$", s)
    if m:
        return msg.wrong_unit(m.group(1), ind)
    return msg.NO_NUMBER
