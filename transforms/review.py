"""The year-end review's figures (forms.md §7), as pure functions over plain values.

A value belongs to an org and a year; a township's figure is the sum over the orgs the chosen
year's registry puts under it (flags: the count of orgs with 1). Two hierarchies are used:
*as reported* (each year by its own registry) and *restated* (last year's values regrouped by
this year's registry, so a township merged away shows up inside its successor instead of as a
collapse of one township and a jump of another).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pbstats.schemas import review_text as words
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS, Kind

Metric = tuple[str, str]  # (form, indicator code)
Values = Mapping[tuple[str, str, str], float]  # (org code, form, code) -> value, one year
Totals = dict[Metric, float]


@dataclass(frozen=True, slots=True)
class Org:
    """An org in one year's registry, and the township it then belonged to."""

    code: str
    name: str
    level: str  # township / village
    township_code: str | None
    township_name: str | None


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


@dataclass(frozen=True)
class Merge:
    """A township of last year that this year's registry no longer has, and where its villages went."""

    code: str
    name: str
    successor_code: str | None
    successor_name: str | None


# ---- what is summed --------------------------------------------------------------------------------


def totals(values: Values, orgs: Iterable[str] | None = None) -> Totals:
    """(form, code) → the sum over the orgs (all when `orgs` is None)."""
    keep = None if orgs is None else set(orgs)
    out: Totals = {}
    for (org, form, code), v in values.items():
        if keep is None or org in keep:
            out[(form, code)] = out.get((form, code), 0.0) + v
    return out


def by_township(values: Values, township_of: Mapping[str, str | None]) -> dict[str, Totals]:
    """township code → (form, code) → sum over the orgs the mapping puts under it."""
    out: dict[str, Totals] = {}
    for (org, form, code), v in values.items():
        town = township_of.get(org)
        if town is None:
            continue
        t = out.setdefault(town, {})
        t[(form, code)] = t.get((form, code), 0.0) + v
    return out


def township_map(orgs: Iterable[Org]) -> dict[str, str | None]:
    return {o.code: o.township_code for o in orgs}


def merges(before: Sequence[Org], after: Sequence[Org]) -> list[Merge]:
    """Townships of the earlier registry missing from the later one; the successor of each is the
    township that took most of its villages (None if its villages went nowhere)."""
    now = {o.code: o for o in after}
    gone = [o for o in before if o.level == "township" and o.code not in now]
    out = []
    for town in gone:
        went = Counter(
            now[v.code].township_code
            for v in before
            if v.level == "village" and v.township_code == town.code and v.code in now
        )
        went.pop(None, None)
        if went:
            code = sorted(went.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            name = next(o.township_name for o in after if o.township_code == code)
            out.append(Merge(town.code, town.name, code, name))
        else:
            out.append(Merge(town.code, town.name, None, None))
    return out


def restated_map(before: Sequence[Org], after: Sequence[Org]) -> dict[str, str | None]:
    """Last year's orgs → this year's township: each org where this year's registry has it; a merged
    township's own return goes to its successor."""
    now = township_map(after)
    out: dict[str, str | None] = {o.code: now.get(o.code) for o in before}
    for m in merges(before, after):
        out[m.code] = m.successor_code
    return out


# ---- the headline ----------------------------------------------------------------------------------

# forms.md §7, in the order the review's sentences quote them
HEADLINE: tuple[Metric, ...] = tuple(
    ("DJ-2", c)
    for c in ("02", "03", "04", "05", "09", "08", "10", "11", "12", "13", "14", "15", "16", "06", "07")
)
CROSS_CHECK: Metric = ("DJ-1", "09")  # villages that finished rectification, by their own returns
SHORT = words.SHORT
# the year-over-year tables by township
TOWNSHIP_METRICS: tuple[Metric, ...] = (("DJ-1", "01"), ("DJ-2", "02"), ("DJ-2", "03"), ("DJ-2", "15"))
# the township table of this year
TOWNSHIP_YEAR: tuple[Metric, ...] = (
    ("DJ-2", "02"),
    ("DJ-2", "03"),
    ("DJ-2", "04"),
    ("DJ-2", "05"),
    ("DJ-2", "06"),
    ("DJ-2", "07"),
    ("DJ-2", "08"),
    ("DJ-2", "09"),
    ("DJ-2", "10"),
    ("DJ-2", "12"),
    ("DJ-2", "14"),
    ("DJ-2", "15"),
)
DISPATCHED = (("DJ-2", "02"), ("DJ-2", "03"), ("DJ-2", "04"))  # "cadres dispatched" (forms.md §4)


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
    found = merges(orgs_before, orgs_now)
    now_by = by_township(values_now, township_map(orgs_now))
    reported_before = by_township(values_before, township_map(orgs_before))
    restated_before = by_township(values_before, restated_map(orgs_before, orgs_now))
    towns_now = _towns(orgs_now)
    towns_before = _towns(orgs_before)

    merged_into: dict[str, list[str]] = {}
    for m in found:
        if m.successor_code:
            merged_into.setdefault(m.successor_code, []).append(m.name)
    gone = {m.code: m for m in found}
    as_reported_towns = sorted(set(towns_now) | set(towns_before))
    reported_notes = {code: words.gone_note(year, gone[code].successor_name) for code in gone}
    reported_notes |= {code: words.took_over_note(year, names) for code, names in merged_into.items()}
    restated_notes = {code: words.restated_note(names) for code, names in merged_into.items()}
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


def _towns(orgs: Iterable[Org]) -> dict[str, str]:
    return {o.code: o.name for o in orgs if o.level == "township"}


# ---- completeness, warnings, rollup ----------------------------------------------------------------


@dataclass
class Completeness:
    """Returns expected and received, for the scope (a sum over its townships)."""

    expected: int = 0
    accepted_on_time: int = 0
    accepted_late: int = 0
    rejected: int = 0
    missing: int = 0
    townships: list[dict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.accepted_on_time + self.accepted_late


def completeness(rows: Sequence[Mapping]) -> Completeness:
    out = Completeness(townships=[dict(r) for r in rows])
    for r in rows:
        out.expected += r["expected"]
        out.accepted_on_time += r["accepted_on_time"]
        out.accepted_late += r["accepted_late"]
        out.rejected += r["rejected"]
        out.missing += r["missing"]
    return out


# the order a reviewer reads open warnings in: disagreements first, blanks read as 0 last
WARNING_ORDER = (
    CheckId.W_ROLLUP,
    CheckId.W_JUMP,
    CheckId.W_PRIOR,
    CheckId.W_LATE,
    CheckId.W_FOOTER,
    CheckId.W_BLANK,
)


def by_importance(warnings: Sequence[Mapping]) -> list[dict]:
    rank = {c: i for i, c in enumerate(WARNING_ORDER)}
    return sorted(
        (dict(w) for w in warnings),
        key=lambda w: (rank.get(w["check_id"], len(rank)), w.get("township_code") or "", w["org_code"] or ""),
    )


def warning_counts(warnings: Sequence[Mapping]) -> list[tuple[str, int]]:
    """check id → number of open warnings, most frequent first."""
    return most_first(Counter(w["check_id"] for w in warnings))


def most_first(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def pending_rollups(states: Sequence[Mapping]) -> list[dict]:
    """Townships whose W-ROLLUP check waits for villages' returns: one row per township."""
    out: dict[str, dict] = {}
    for s in states:
        if s["state"] != "pending":
            continue
        row = out.setdefault(
            s["township_code"],
            {
                "township_code": s["township_code"],
                "township_name": s["township_name"],
                "indicators": [],
                "villages_accepted": s["villages_accepted"],
                "villages_expected": s["villages_expected"],
            },
        )
        row["indicators"].append(s["indicator_code"])
    return list(out.values())


# ---- the whole review ------------------------------------------------------------------------------

VILLAGE_METRICS: tuple[Metric, ...] = (
    ("DJ-1", "01"),
    ("DJ-1", "07"),
    ("DJ-1", "04"),
    ("DJ-1", "08"),
    ("DJ-1", "09"),
    ("DJ-1", "12"),
)
VILLAGE_SHORT = words.VILLAGE_SHORT
YEAR_CHART: tuple[Metric, ...] = (
    ("DJ-2", "02"),
    ("DJ-2", "03"),
    ("DJ-2", "04"),
    ("DJ-2", "05"),
    ("DJ-2", "06"),
    ("DJ-2", "07"),
    ("DJ-2", "10"),
    ("DJ-2", "12"),
    ("DJ-2", "14"),
    ("DJ-2", "15"),
)


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
    year, only = data.year, data.township
    now_map = township_map(data.orgs_now)
    restated = restated_map(data.orgs_before, data.orgs_now)
    if only is None:
        scope = words.CITY
        now_orgs, before_orgs = None, None
    else:
        town = next((o for o in data.orgs_now if o.code == only and o.level == "township"), None)
        if town is None:
            raise UnknownTownship(only)
        scope = town.name
        now_orgs = {o for o, t in now_map.items() if t == only}
        before_orgs = {o for o, t in restated.items() if t == only}
    now = totals(data.values_now, now_orgs) or None  # None: no figure at all that year (—), not 0
    before = totals(data.values_before, before_orgs) or None
    towns_in_scope = [o for o in data.orgs_now if o.level == "township" and (only is None or o.code == only)]
    dj2_reported = sum(
        1 for o in towns_in_scope if any((o.code, "DJ-2", c) in data.values_now for c in ("01", "02"))
    )
    paragraphs = headline_paragraphs(scope, year, now, before, dj2_reported, len(towns_in_scope))
    merged_here = [m.name for m in merges(data.orgs_before, data.orgs_now) if m.successor_code == only]
    if only is not None and merged_here:
        paragraphs.append(words.merged_here(merged_here))
    headline = [figure(m, now, before) for m in HEADLINE] + [
        figure(CROSS_CHECK, now, before, words.CROSS_CHECK)
    ]
    forms = [
        (f"{f.form_id} {f.title}", figures(((f.form_id, i.code) for i in f.indicators), now, before))
        for f in FORMS.values()
    ]

    as_reported, restated_cmp, found = comparisons(
        year, data.values_now, data.values_before, data.orgs_now, data.orgs_before, only=only
    )
    if only is None:
        now_by = by_township(data.values_now, now_map)
        towns = sorted((o.code, o.name) for o in towns_in_scope)
        units = township_rows(towns, now_by, {}, TOWNSHIP_YEAR)
        units_title = words.townships_title(year)
        units_metrics = tuple(SHORT[m] for m in TOWNSHIP_YEAR)
        before_by = by_township(data.values_before, restated)
        chart_units = [
            (
                name,
                _sum(now_by.get(code), DISPATCHED),
                _sum(before_by.get(code), DISPATCHED) if data.values_before else None,
            )
            for code, name in towns
        ]
        chart_units_title = words.DISPATCHED_CHART
        chart_years = {
            SHORT[m]: {y: t.get(m, 0.0) for y, t in sorted(data.city_years.items()) if y <= year}
            for m in YEAR_CHART
        }
        chart_years_title = words.CITY_YEARS_CHART
    else:
        villages = sorted(
            (o for o in data.orgs_now if o.level == "village" and o.township_code == only),
            key=lambda o: o.code,
        )
        own_now = _per_org(data.values_now)
        own_before = _per_org(data.values_before)
        units = tuple(
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
        )
        units_title = words.villages_title(year, scope)
        units_metrics = tuple(VILLAGE_SHORT[m] for m in VILLAGE_METRICS)
        member = ("DJ-1", "01")
        chart_units = [
            (
                v.name,
                own_now[v.code].get(member) if v.code in own_now else None,
                own_before[v.code].get(member) if v.code in own_before else None,
            )
            for v in villages
        ]
        chart_units_title = words.members_chart(scope)
        chart_years = {
            SHORT[m]: ({year - 1: before.get(m, 0.0)} if before else {})
            | ({year: now.get(m, 0.0)} if now else {})
            for m in YEAR_CHART
        }
        chart_years_title = words.scope_years_chart(scope)

    tail = _states(data.completeness, data.warnings, data.rollups, only)
    return Review(
        year=year,
        scope=scope,
        township=only,
        closed=data.closed,
        paragraphs=paragraphs,
        headline=headline,
        forms=forms,
        units_title=units_title,
        units_metrics=units_metrics,
        units=units,
        as_reported=as_reported,
        restated=restated_cmp,
        merges=[m for m in found if only is None or m.successor_code == only],
        chart_units_title=chart_units_title,
        chart_units=chart_units,
        chart_years_title=chart_years_title,
        chart_years=chart_years,
        **tail,
    )


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
        headline=[figure(m, now, before) for m in HEADLINE]
        + [figure(CROSS_CHECK, now, before, words.CROSS_CHECK)],
        merges=merges(data.orgs_before, data.orgs_now),
        completeness=completeness(data.completeness),
        warnings_open=sum(data.warning_counts.values()),
        warning_counts=most_first(data.warning_counts),
        pending=pending_rollups(data.rollups),
        mismatches=sum(1 for r in data.rollups if r["state"] == "mismatch"),
    )


def _states(
    completeness_rows: Sequence[Mapping],
    warnings: Sequence[Mapping],
    rollups: Sequence[Mapping],
    only: str | None,
) -> dict:
    """Completeness, open warnings and rollup checks of the scope (`only`: one township)."""
    done = completeness([r for r in completeness_rows if only is None or r["township_code"] == only])
    kept = by_importance([w for w in warnings if only is None or w.get("township_code") == only])
    checks = [r for r in rollups if only is None or r["township_code"] == only]
    return {
        "completeness": done,
        "warnings": kept,
        "warning_counts": warning_counts(kept),
        "pending": pending_rollups(checks),
        "mismatches": sum(1 for r in checks if r["state"] == "mismatch"),
    }


def _sum(t: Totals | None, metrics: Iterable[Metric]) -> float | None:
    return None if t is None else sum(t.get(m, 0.0) for m in metrics)


def _per_org(values: Values) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for (org, form, code), v in values.items():
        out.setdefault(org, {})[(form, code)] = v
    return out
