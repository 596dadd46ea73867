"""The year-end review (forms.md §7) of the city or of one township, and the city's year in brief,
as pure functions over plain values read from the warehouse.

What is summed under which hierarchy is review_hierarchy.py, which figures are shown
review_figures.py, the sentences review_sentences.py, and where the returns stand review_states.py;
this module puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pbstats.schemas import review_text as words

from .review_figures import (
    DISPATCHED,
    SHORT,
    TOWNSHIP_YEAR,
    VILLAGE_METRICS,
    VILLAGE_SHORT,
    YEAR_CHART,
    Comparison,
    Figure,
    TownRow,
    comparisons,
    figure,
    form_figures,
    headline,
    township_rows,
)
from .review_hierarchy import (
    Merge,
    Metric,
    Org,
    Totals,
    Values,
    by_township,
    merges,
    per_org,
    restated_map,
    totals,
    township_map,
)
from .review_sentences import headline_paragraphs
from .review_states import Completeness, completeness, mismatches, most_first, pending_rollups, states


@dataclass(frozen=True)
class ReviewInput:
    """Everything the review is computed from, as read from the warehouse."""

    year: int
    township: str | None  # None: the whole city
    orgs_now: Sequence[Org]  # this year's registry
    orgs_before: Sequence[Org]  # last year's registry
    values_now: Values
    values_before: Values
    city_years: Mapping[int, Totals]  # city totals of every year loaded
    completeness: Sequence[Mapping]  # v_completeness rows of the year
    warnings: Sequence[Mapping]  # v_open_warnings rows of the year, with names
    rollups: Sequence[Mapping]  # rollup_check rows of the year
    closed: bool


@dataclass
class Review:
    """The year-end review of a scope (the city or one township), ready to render."""

    year: int
    scope: str  # 全市 / the township's name
    township: str | None
    closed: bool
    paragraphs: list[str]
    headline: list[Figure]
    forms: list[tuple[str, list[Figure]]]  # every metric of each form, summed over the scope
    units_title: str
    units_metrics: tuple[str, ...]
    units: tuple[TownRow, ...]  # this year by township (city) or by village (township)
    as_reported: Comparison
    restated: Comparison
    merges: list[Merge]
    chart_units_title: str
    chart_units: list[tuple[str, float | None, float | None]]  # (name, this year, last year restated)
    chart_years_title: str
    chart_years: dict[str, dict[int, float]]  # metric label → year → value
    completeness: Completeness
    warnings: list[dict]
    warning_counts: list[tuple[str, int]]
    pending: list[dict]
    mismatches: int

    @property
    def warnings_open(self) -> int:
        return len(self.warnings)


class UnknownTownship(ValueError):
    """The township asked for is not in that year's registry."""


def build_review(data: ReviewInput) -> Review:
    """The review's figures for the city, or for one township of that year's registry."""
    only = data.township
    scope, now_orgs, before_orgs = _scope(data)
    now = totals(data.values_now, now_orgs) or None  # None: no figure at all that year (—), not 0
    before = totals(data.values_before, before_orgs) or None
    as_reported, restated, found = comparisons(
        data.year, data.values_now, data.values_before, data.orgs_now, data.orgs_before, only=only
    )
    units = _townships(data) if only is None else _villages(data, scope, now, before)
    return Review(
        year=data.year,
        scope=scope,
        township=only,
        closed=data.closed,
        paragraphs=_paragraphs(data, scope, now, before),
        headline=headline(now, before),
        forms=form_figures(now, before),
        as_reported=as_reported,
        restated=restated,
        merges=[m for m in found if only is None or m.successor_code == only],
        **units,
        **states(data.completeness, data.warnings, data.rollups, only),
    )


def _scope(data: ReviewInput) -> tuple[str, set[str] | None, set[str] | None]:
    """The scope's name and the orgs summed for it this year and last year (None: every org)."""
    only = data.township
    if only is None:
        return words.CITY, None, None
    town = next((o for o in data.orgs_now if o.code == only and o.level == "township"), None)
    if town is None:
        raise UnknownTownship(only)
    now_orgs = {o for o, t in township_map(data.orgs_now).items() if t == only}
    before_orgs = {o for o, t in restated_map(data.orgs_before, data.orgs_now).items() if t == only}
    return town.name, now_orgs, before_orgs


def _towns_in_scope(data: ReviewInput) -> list[Org]:
    only = data.township
    return [o for o in data.orgs_now if o.level == "township" and (only is None or o.code == only)]


def _paragraphs(data: ReviewInput, scope: str, now: Totals | None, before: Totals | None) -> list[str]:
    """The headline sentences, and for a township that took in another, a note that last year's
    figures include it."""
    towns = _towns_in_scope(data)
    reported = sum(1 for o in towns if any((o.code, "DJ-2", c) in data.values_now for c in ("01", "02")))
    paragraphs = headline_paragraphs(scope, data.year, now, before, reported, len(towns))
    merged_here = [
        m.name for m in merges(data.orgs_before, data.orgs_now) if m.successor_code == data.township
    ]
    if data.township is not None and merged_here:
        paragraphs.append(words.merged_here(merged_here))
    return paragraphs


def _townships(data: ReviewInput) -> dict:
    """The city's units: this year's table by township, the cadres each dispatched against last year
    (restated), and the city's headline metrics year by year; as the review's fields of those names."""
    year = data.year
    now_by = by_township(data.values_now, township_map(data.orgs_now))
    before_by = by_township(data.values_before, restated_map(data.orgs_before, data.orgs_now))
    towns = sorted((o.code, o.name) for o in _towns_in_scope(data))
    return {
        "units_title": words.townships_title(year),
        "units_metrics": tuple(SHORT[m] for m in TOWNSHIP_YEAR),
        "units": township_rows(towns, now_by, {}, TOWNSHIP_YEAR),
        "chart_units_title": words.DISPATCHED_CHART,
        "chart_units": [
            (
                name,
                _sum(now_by.get(code), DISPATCHED),
                _sum(before_by.get(code), DISPATCHED) if data.values_before else None,
            )
            for code, name in towns
        ],
        "chart_years_title": words.CITY_YEARS_CHART,
        "chart_years": {
            SHORT[m]: {y: t.get(m, 0.0) for y, t in sorted(data.city_years.items()) if y <= year}
            for m in YEAR_CHART
        },
    }


def _villages(data: ReviewInput, scope: str, now: Totals | None, before: Totals | None) -> dict:
    """A township's units: its villages' own figures this year, their members against last year, and
    the township's headline metrics against last year (restated); as the review's fields of those names."""
    year = data.year
    villages = sorted(
        (o for o in data.orgs_now if o.level == "village" and o.township_code == data.township),
        key=lambda o: o.code,
    )
    own_now, own_before = per_org(data.values_now), per_org(data.values_before)
    members = ("DJ-1", "01")
    return {
        "units_title": words.villages_title(year, scope),
        "units_metrics": tuple(VILLAGE_SHORT[m] for m in VILLAGE_METRICS),
        "units": tuple(
            TownRow(
                v.code,
                v.name,
                tuple(
                    figure(m, own_now.get(v.code), own_before.get(v.code), VILLAGE_SHORT[m], single=True)
                    for m in VILLAGE_METRICS
                ),
                "" if v.code in own_now else words.VILLAGE_NOT_IN,
            )
            for v in villages
        ),
        "chart_units_title": words.members_chart(scope),
        "chart_units": [
            (v.name, own_now.get(v.code, {}).get(members), own_before.get(v.code, {}).get(members))
            for v in villages
        ],
        "chart_years_title": words.scope_years_chart(scope),
        "chart_years": {
            SHORT[m]: ({year - 1: before.get(m, 0.0)} if before else {})
            | ({year: now.get(m, 0.0)} if now else {})
            for m in YEAR_CHART
        },
    }


def _sum(t: Totals | None, metrics: Iterable[Metric]) -> float | None:
    return None if t is None else sum(t.get(m, 0.0) for m in metrics)


# ---- the city's year in brief ------------------------------------------------------------------------


@dataclass
class Summary:
    """The city's year in brief (the nightly run's artifact): the review's headline, completeness and
    open questions, without its tables by township or village, and its warnings counted, not listed.
    Made from the warehouse's aggregates and its townships, so that neither its time nor its memory
    grows with the returns loaded or the villages of the registry."""

    year: int
    scope: str
    township: str | None
    closed: bool
    paragraphs: list[str]
    headline: list[Figure]
    merges: list[Merge]
    completeness: Completeness
    warnings_open: int
    warning_counts: list[tuple[str, int]]
    pending: list[dict]
    mismatches: int


@dataclass(frozen=True)
class SummaryInput:
    """What the summary is computed from: `ReviewInput`'s registry and states, with city totals in
    place of the values org by org."""

    year: int
    # each year's townships, and the villages of last year's townships gone this year (`merges` needs
    # no other village): warehouse/review.py `regrouping`
    orgs_now: Sequence[Org]
    orgs_before: Sequence[Org]
    city_years: Mapping[int, Totals]  # v_year_review
    dj2_reported: set[str]  # orgs with an accepted DJ-2 (its 01 or 02) that year
    completeness: Sequence[Mapping]
    warning_counts: Mapping[str, int]  # check id → open warnings
    rollups: Sequence[Mapping]  # rollup_check rows of the year: the pending and mismatched ones suffice
    closed: bool


def build_summary(data: SummaryInput) -> Summary:
    """What `build_review` says of the whole city in its headline, completeness and open questions."""
    year = data.year
    now = data.city_years.get(year) or None
    before = data.city_years.get(year - 1) or None
    towns = [o for o in data.orgs_now if o.level == "township"]
    reported = sum(1 for o in towns if o.code in data.dj2_reported)
    return Summary(
        year=year,
        scope=words.CITY,
        township=None,
        closed=data.closed,
        paragraphs=headline_paragraphs(words.CITY, year, now, before, reported, len(towns)),
        headline=headline(now, before),
        merges=merges(data.orgs_before, data.orgs_now),
        completeness=completeness(data.completeness),
        warnings_open=sum(data.warning_counts.values()),
        warning_counts=most_first(data.warning_counts),
        pending=pending_rollups(data.rollups),
        mismatches=mismatches(data.rollups),
    )
