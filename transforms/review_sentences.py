"""The year-end review's sentences: how a figure is printed and quoted, and the headline sentences of
forms.md §7 with every figure filled in (their wording is schemas/review_text.py)."""

from __future__ import annotations

from pbstats.schemas import review_text as words

from .review_figures import CROSS_CHECK, HEADLINE, Figure, figure
from .review_hierarchy import Totals


def number(x: float | None, decimals: int = 0) -> str:
    """A figure as the review prints it: 1,234 or 1,234.50; “—” for no data."""
    if x is None:
        return "—"
    return f"{x:,.{decimals}f}"


def signed(x: float | None, decimals: int = 0) -> str:
    if x is None:
        return "—"
    if abs(x) < 0.5 * 10**-decimals:
        return "0"
    return f"{x:+,.{decimals}f}"


def quoted(f: Figure) -> str:
    """“120人（上年112人，增加8人）”."""
    if f.value is None:
        return words.NO_DATA
    now = f"{number(f.value, f.decimals)}{f.unit}"
    if f.prior is None:
        return words.quoted(now, None, None, False)
    change = f.change or 0.0
    moved = None if abs(change) < 0.5 * 10**-f.decimals else f"{number(abs(change), f.decimals)}{f.unit}"
    return words.quoted(now, f"{number(f.prior, f.decimals)}{f.unit}", moved, change > 0)


def headline_paragraphs(
    scope: str, year: int, now: Totals | None, before: Totals | None, reported: int, expected: int
) -> list[str]:
    """The year-end review's headline sentences (forms.md §7) with every figure from the totals."""
    q = {m[1]: quoted(figure(m, now, before)) for m in HEADLINE}
    cross = quoted(figure(CROSS_CHECK, now, before))
    return words.headline(scope, year, q, cross, reported, expected)
