"""The year-end review's figures (forms.md §7): which metrics it shows, each with last year's and the
change, and the year-over-year tables by township under both hierarchies (review_hierarchy.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pbstats.schemas import review_text as words
from pbstats.schemas.forms import FORMS, Kind

from . import review_hierarchy as hierarchy
from .review_hierarchy import Merge, Metric, Org, Totals, Values


@dataclass(frozen=True)
class Figure:
    """One figure of the review with last year's and the change (None: no data)."""

    label: str
    unit: str
    value: float | None
    prior: float | None
    decimals: int = 0
    flag: bool = False  # a single org's yes/no (shown 是/否), not a count

    @property
    def change(self) -> float | None:
        if self.value is None or self.prior is None:
            return None
        return self.value - self.prior


@dataclass(frozen=True)
class TownRow:
    """One township in a comparison table: its figures under the table's hierarchy."""

    code: str
    name: str
    figures: tuple[Figure, ...]
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """A year-over-year table by township and the hierarchy it is computed over."""

    title: str
    hierarchy: str  # said above the table, in Chinese
    metrics: tuple[str, ...]  # column labels
    rows: tuple[TownRow, ...]


def _metrics(form: str, *codes: str) -> tuple[Metric, ...]:
    return tuple((form, c) for c in codes)


# forms.md §7, in the order the review's sentences quote them
HEADLINE = _metrics(
    "DJ-2", "02", "03", "04", "05", "09", "08", "10", "11", "12", "13", "14", "15", "16", "06", "07"
)
CROSS_CHECK: Metric = ("DJ-1", "09")  # villages that finished rectification, by their own returns
SHORT = words.SHORT
# the year-over-year tables by township
TOWNSHIP_METRICS: tuple[Metric, ...] = (("DJ-1", "01"), ("DJ-2", "02"), ("DJ-2", "03"), ("DJ-2", "15"))
# the township table of this year
TOWNSHIP_YEAR = _metrics("DJ-2", "02", "03", "04", "05", "06", "07", "08", "09", "10", "12", "14", "15")
# the chart of the headline metrics year by year
YEAR_CHART = _metrics("DJ-2", "02", "03", "04", "05", "06", "07", "10", "12", "14", "15")
DISPATCHED = _metrics("DJ-2", "02", "03", "04")  # "cadres dispatched" (forms.md §4)
# a township's table of its villages: their own returns' metrics, in this order
VILLAGE_SHORT = words.VILLAGE_SHORT
VILLAGE_METRICS: tuple[Metric, ...] = tuple(VILLAGE_SHORT)


def label_of(metric: Metric) -> str:
    form, code = metric
    return FORMS[form].indicator(code).name


def unit_of(metric: Metric) -> str:
    form, code = metric
    ind = FORMS[form].indicator(code)
    return words.FLAG_UNIT if ind.kind is Kind.FLAG else ind.unit


def figure(
    metric: Metric, now: Totals | None, before: Totals | None, label: str | None = None, single: bool = False
) -> Figure:
    """The metric's figure in `now` with last year's from `before` (None: no data that year);
    `single`: the totals are one org's, so a flag is that org's yes/no."""
    form, code = metric
    kind = FORMS[form].indicator(code).kind
    return Figure(
        label=label or label_of(metric),
        unit=unit_of(metric),
        value=None if now is None else now.get(metric, 0.0),
        prior=None if before is None else before.get(metric, 0.0),
        decimals=2 if kind is Kind.AMOUNT else 0,
        flag=single and kind is Kind.FLAG,
    )


def figures(metrics: Iterable[Metric], now: Totals | None, before: Totals | None) -> list[Figure]:
    return [figure(m, now, before) for m in metrics]


def headline(now: Totals | None, before: Totals | None) -> list[Figure]:
    """The headline metrics, then the villages' own count of finished rectifications to compare."""
    return figures(HEADLINE, now, before) + [figure(CROSS_CHECK, now, before, words.CROSS_CHECK)]


def form_figures(now: Totals | None, before: Totals | None) -> list[tuple[str, list[Figure]]]:
    """Every metric of each form, under the form's title."""
    return [
        (f"{f.form_id} {f.title}", figures(((f.form_id, i.code) for i in f.indicators), now, before))
        for f in FORMS.values()
    ]


# ---- comparisons by township -------------------------------------------------------------------------


def township_rows(
    towns: Sequence[tuple[str, str]],
    now: Mapping[str, Totals],
    before: Mapping[str, Totals],
    metrics: Sequence[Metric],
    notes: Mapping[str, str] | None = None,
) -> tuple[TownRow, ...]:
    """One row per township of `towns` (code, name): this year's and last year's figure of each metric;
    a township with no orgs that year has no figure that year (—)."""
    return tuple(
        TownRow(
            code,
            name,
            tuple(figure(m, now.get(code), before.get(code), SHORT.get(m)) for m in metrics),
            (notes or {}).get(code, ""),
        )
        for code, name in towns
    )


def _merge_notes(year: int, found: Sequence[Merge]) -> tuple[dict[str, str], dict[str, str]]:
    """What each table says beside a township a merge touched: (as reported, restated)."""
    merged_into: dict[str, list[str]] = {}
    for m in found:
        if m.successor_code:
            merged_into.setdefault(m.successor_code, []).append(m.name)
    reported = {m.code: words.gone_note(year, m.successor_name) for m in found}
    reported |= {code: words.took_over_note(year, names) for code, names in merged_into.items()}
    restated = {code: words.restated_note(names) for code, names in merged_into.items()}
    return reported, restated


def comparisons(
    year: int,
    values_now: Values,
    values_before: Values,
    orgs_now: Sequence[Org],
    orgs_before: Sequence[Org],
    metrics: Sequence[Metric] = TOWNSHIP_METRICS,
    only: str | None = None,
) -> tuple[Comparison, Comparison, list[Merge]]:
    """The two year-over-year tables by township: as reported (each year's own registry) and restated
    (last year regrouped by this year's registry). `only`: one township (of this year)."""
    found = hierarchy.merges(orgs_before, orgs_now)
    now_by = hierarchy.by_township(values_now, hierarchy.township_map(orgs_now))
    reported_before = hierarchy.by_township(values_before, hierarchy.township_map(orgs_before))
    restated_before = hierarchy.by_township(values_before, hierarchy.restated_map(orgs_before, orgs_now))
    towns_now = hierarchy.township_names(orgs_now)
    towns_before = hierarchy.township_names(orgs_before)
    reported_notes, restated_notes = _merge_notes(year, found)
    as_reported_towns = sorted(set(towns_now) | set(towns_before))
    if only is not None:
        keep = {only} | {m.code for m in found if m.successor_code == only}
        as_reported_towns = [c for c in as_reported_towns if c in keep]
        towns_now = {c: n for c, n in towns_now.items() if c == only}
    names = towns_before | towns_now
    as_reported = Comparison(
        title=words.AS_REPORTED,
        hierarchy=words.as_reported_hierarchy(year),
        metrics=tuple(SHORT.get(m, label_of(m)) for m in metrics),
        rows=township_rows(
            [(c, names[c]) for c in as_reported_towns], now_by, reported_before, metrics, reported_notes
        ),
    )
    restated = Comparison(
        title=words.restated(year),
        hierarchy=words.restated_hierarchy(year),
        metrics=as_reported.metrics,
        rows=township_rows(sorted(towns_now.items()), now_by, restated_before, metrics, restated_notes),
    )
    return as_reported, restated, found
