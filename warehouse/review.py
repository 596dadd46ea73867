"""What the year-end review and the templates read from the warehouse: plain rows over the analyst
views, each year's hierarchy from dim_org's validity spans. No figures are computed here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from sys import intern

from sqlalchemy import Connection, Engine, bindparam, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from .db import chunks, normalise_url
from .queries import closed_years
from .tables import fact_metric
from .views import VALID_IN


@dataclass(frozen=True, slots=True)
class OrgInYear:
    """An org as the registry had it in one year, with the township it then belonged to."""

    org_code: str
    name: str
    level: str  # township / village
    township_code: str | None
    township_name: str | None


@dataclass(frozen=True)
class MetricValue:
    """A current value of one org and year (v_metric_values)."""

    org_code: str
    year: int
    form: str
    indicator_code: str
    value: float


@dataclass(frozen=True)
class AsOf:
    """The run the warehouse's data stands at."""

    at: datetime | None  # aware (UTC)
    run_id: str | None
    flow_run_id: str | None


def hierarchy(conn: Connection, year: int, where: str = "", **params) -> Iterator[OrgInYear]:
    """Every township and village of that year's registry, with its township, as they come (a province
    has 100,000; the names and codes that repeat are interned). `where`: a further condition on the org
    (`o`), with its parameters (a list is expanded, for `IN :name`)."""
    sql = f"""
SELECT o.org_code, o.name, o.level,
       CASE WHEN o.level = 'township' THEN o.org_code ELSE t.org_code END AS township_code,
       CASE WHEN o.level = 'township' THEN o.name ELSE t.name END AS township_name
FROM dim_org o
LEFT JOIN dim_org t ON o.level = 'village' AND t.org_code = o.parent_code AND {VALID_IN.format(a="t", y=":y")}
WHERE o.level IN ('township', 'village') AND {VALID_IN.format(a="o", y=":y")} {f"AND ({where})" if where else ""}
ORDER BY o.org_code
"""
    query = text(sql).bindparams(
        *(bindparam(k, expanding=True) for k, v in params.items() if isinstance(v, list))
    )
    for code, name, level, town_code, town_name in conn.execute(query, {"y": year, **params}):
        yield OrgInYear(code, name, intern(level), _interned(town_code), _interned(town_name))


def regrouping(conn: Connection, year: int) -> tuple[list[OrgInYear], list[OrgInYear]]:
    """What the merges of townships from last year's registry to this year's are worked out from,
    without every village of a province: (last year, this year), each with every township of its year,
    and the villages of last year's townships that are gone this year, as each year had them."""
    before = list(hierarchy(conn, year - 1, "o.level = 'township'"))
    now = list(hierarchy(conn, year, "o.level = 'township'"))
    gone = sorted({o.org_code for o in before} - {o.org_code for o in now})
    moved: list[str] = []
    for chunk in chunks(gone, 500):
        villages = list(
            hierarchy(conn, year - 1, "o.level = 'village' AND o.parent_code IN :towns", towns=chunk)
        )
        before += villages
        moved += [v.org_code for v in villages]
    for chunk in chunks(moved, 500):
        now += hierarchy(conn, year, "o.org_code IN :codes", codes=chunk)
    return before, now


def _interned(value: str | None) -> str | None:
    return None if value is None else intern(value)


def metric_values(conn: Connection, years: tuple[int, ...]) -> Iterator[MetricValue]:
    """The current values of those years, org by org, as they come (a province's year is a few hundred
    thousand values: the caller keeps what it needs). Codes are interned: each repeats per indicator."""
    rows = conn.execute(
        text(
            "SELECT org_code, year, form, indicator_code, value FROM v_metric_values "
            "WHERE year >= :lo AND year <= :hi"
        ),
        {"lo": min(years), "hi": max(years)},
    )
    for r in rows:
        if int(r[1]) in years:
            yield MetricValue(intern(r[0]), int(r[1]), intern(r[2]), intern(r[3]), float(r[4]))


def city_by_year(conn: Connection) -> dict[int, dict[tuple[str, str], float]]:
    """City-wide totals of every year loaded (v_year_review): year → (form, code) → value."""
    out: dict[int, dict[tuple[str, str], float]] = {}
    for year, form, code, value in conn.execute(
        text("SELECT year, form, indicator_code, value FROM v_year_review")
    ):
        out.setdefault(int(year), {})[(form, code)] = float(value)
    return out


def reporting_orgs(conn: Connection, year: int, form: str, codes: tuple[str, ...]) -> set[str]:
    """Orgs with a current value of any of these indicators of `form` that year."""
    rows = conn.execute(
        select(fact_metric.c.org_code)
        .distinct()
        .where(
            fact_metric.c.year == year, fact_metric.c.form == form, fact_metric.c.indicator_code.in_(codes)
        )
    )
    return set(rows.scalars())


def completeness(conn: Connection, year: int) -> list[dict]:
    """One row per township of that year (v_completeness)."""
    rows = conn.execute(
        text(
            "SELECT township_code, township_name, expected, accepted_on_time, accepted_late, rejected, missing "
            "FROM v_completeness WHERE year = :y ORDER BY township_code"
        ),
        {"y": year},
    ).mappings()
    return [
        {k: (int(v) if k not in ("township_code", "township_name") else v) for k, v in r.items()}
        for r in rows
    ]


def open_warnings(conn: Connection, year: int) -> list[dict]:
    """Warnings on that year's current returns (v_open_warnings), with org and township names of that year."""
    sql = f"""
SELECT w.submission_id, w.org_code, o.name AS org_name,
       CASE WHEN o.level = 'township' THEN o.org_code ELSE t.org_code END AS township_code,
       CASE WHEN o.level = 'township' THEN o.name ELSE t.name END AS township_name,
       w.form, w.check_id, w.sheet, w.cell, w.indicator_code, w.message
FROM v_open_warnings w
LEFT JOIN dim_org o ON o.org_code = w.org_code AND {VALID_IN.format(a="o", y="w.year")}
LEFT JOIN dim_org t ON o.level = 'village' AND t.org_code = o.parent_code AND {VALID_IN.format(a="t", y="w.year")}
WHERE w.year = :y
ORDER BY 4, w.org_code, w.check_id, w.indicator_code
"""
    return [dict(r) for r in conn.execute(text(sql), {"y": year}).mappings()]


def open_warning_counts(conn: Connection, year: int) -> dict[str, int]:
    """check id → the number of warnings on that year's current returns (v_open_warnings)."""
    rows = conn.execute(
        text("SELECT check_id, COUNT(*) FROM v_open_warnings WHERE year = :y GROUP BY check_id"), {"y": year}
    )
    return {check: int(n) for check, n in rows}


def rollup_states(conn: Connection, year: int, states: tuple[str, ...] | None = None) -> list[dict]:
    """The W-ROLLUP state of every township's rolled-up indicators that year (only those in `states`)."""
    sql = f"""
SELECT r.township_code, t.name AS township_name, r.indicator_code, r.state, r.reported, r.expected,
       r.villages_expected, r.villages_accepted
FROM rollup_check r
LEFT JOIN dim_org t ON t.org_code = r.township_code AND {VALID_IN.format(a="t", y="r.year")}
WHERE r.year = :y {"AND r.state IN :states" if states is not None else ""}
ORDER BY r.township_code, r.indicator_code
"""
    query, params = text(sql), {"y": year}
    if states is not None:
        query, params = (
            query.bindparams(bindparam("states", expanding=True)),
            params | {"states": list(states)},
        )
    return [dict(r) for r in conn.execute(query, params).mappings()]


def as_of(conn: Connection) -> AsOf:
    """The last completed run (or, before any completed, the last run at all)."""
    row = conn.execute(
        text(
            "SELECT ended_at, started_at, run_id, flow_run_id FROM load_run "
            "ORDER BY CASE WHEN outcome = 'completed' THEN 0 ELSE 1 END, started_at DESC LIMIT 1"
        )
    ).first()
    if row is None:
        return AsOf(None, None, None)
    return AsOf(_aware(row[0] or row[1]), row[2], row[3])


def is_closed(conn: Connection, year: int) -> bool:
    """Whether the year is closed now (a warehouse from before closing existed has no closed year)."""
    return inspect(conn).has_table("year_state") and year in closed_years(conn)


def prior_values(
    conn: Connection, year: int, org_codes: list[str]
) -> dict[tuple[str, str], dict[str, float]]:
    """(org, form) → {code: value} loaded for `year` (what a template's 上年 column shows)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    wanted = set(org_codes)
    for org, form, code, value in conn.execute(
        text("SELECT org_code, form, indicator_code, value FROM fact_metric WHERE year = :y"), {"y": year}
    ):
        if org in wanted:
            out.setdefault((org, form), {})[code] = float(value)
    return out


def _aware(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand back text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_only_engine(url: str) -> Engine | None:
    """An engine that cannot write, on a warehouse that exists; None when there is none to read.

    SQLite: the file opened read-only (a missing file is not created). PostgreSQL: every
    transaction read-only. Either way, a warehouse without the fact table is no warehouse yet.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if not path or path == ":memory:":
            return None
        from pathlib import Path

        if not Path(path).is_file():
            return None
        engine = create_engine(f"sqlite:///file:{Path(path).resolve()}?mode=ro&uri=true")
    else:
        engine = create_engine(
            url, connect_args={"connect_timeout": 10, "options": "-c default_transaction_read_only=on"}
        )
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("fact_metric"):
                engine.dispose()
                return None
    except Exception:  # unreachable: the dry run goes on without last year's values
        engine.dispose()
        return None
    return engine


def city_name(conn: Connection) -> str | None:
    """The name of the city the registry describes (its one org of level city)."""
    return conn.execute(
        text("SELECT name FROM dim_org WHERE level = 'city' ORDER BY valid_from DESC")
    ).scalar()
