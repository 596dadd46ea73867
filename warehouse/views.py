"""The analyst views (DESIGN.md): marts only aggregate; each says what one row is.

Written in the SQL both SQLite and PostgreSQL speak, so one definition serves both.
"""

from __future__ import annotations

VALID_IN = "{a}.valid_from <= {y} AND ({a}.valid_to IS NULL OR {a}.valid_to >= {y})"

VIEWS: dict[str, str] = {
    # One row per current value, with the names and township of that year's registry.
    "v_metric_values": f"""
SELECT f.org_code, o.name AS org_name,
       CASE WHEN o.level = 'township' THEN o.org_code ELSE t.org_code END AS township_code,
       CASE WHEN o.level = 'township' THEN o.name ELSE t.name END AS township_name,
       f.year, f.form, f.indicator_code, f.metric_key, m.metric_name, m.unit, f.value
FROM fact_metric f
LEFT JOIN dim_org o ON o.org_code = f.org_code AND {VALID_IN.format(a="o", y="f.year")}
LEFT JOIN dim_org t ON o.level = 'village' AND t.org_code = o.parent_code AND {VALID_IN.format(a="t", y="f.year")}
LEFT JOIN dim_metric m ON m.form = f.form AND m.indicator_code = f.indicator_code
""",
    # One row per year × metric, city-wide (flags: the count of orgs with 1), with last year's figure.
    "v_year_review": """
WITH y AS (
    SELECT year, form, indicator_code, metric_key, SUM(value) AS value
    FROM fact_metric GROUP BY year, form, indicator_code, metric_key
)
SELECT y.year, y.form, y.indicator_code, y.metric_key, m.metric_name, m.unit, y.value,
       p.value AS prior_value, y.value - p.value AS change
FROM y
LEFT JOIN y p ON p.year = y.year - 1 AND p.form = y.form AND p.indicator_code = y.indicator_code
LEFT JOIN dim_metric m ON m.form = y.form AND m.indicator_code = y.indicator_code
""",
    # One row per township × year × metric, summed over that year's hierarchy.
    "v_township_year": """
SELECT year, township_code, township_name, form, indicator_code, metric_key, SUM(value) AS value
FROM v_metric_values
WHERE township_code IS NOT NULL
GROUP BY year, township_code, township_name, form, indicator_code, metric_key
""",
    # One row per year × township: orgs expected (the township and its villages that year), by current state.
    "v_completeness": f"""
WITH years AS (
    SELECT DISTINCT year FROM submission WHERE year IS NOT NULL
),
expected AS (
    SELECT y.year, o.org_code,
           CASE WHEN o.level = 'township' THEN o.org_code ELSE o.parent_code END AS township_code
    FROM years y JOIN dim_org o ON {VALID_IN.format(a="o", y="y.year")}
    WHERE o.level IN ('township', 'village')
),
state AS (
    SELECT org_code, year,
           MAX(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END) AS accepted,
           MAX(CASE WHEN status = 'accepted' AND late THEN 1 ELSE 0 END) AS late,
           MAX(CASE WHEN status IN ('rejected', 'held') THEN 1 ELSE 0 END) AS rejected
    FROM submission WHERE org_code IS NOT NULL AND year IS NOT NULL
    GROUP BY org_code, year
)
SELECT e.year, e.township_code, t.name AS township_name,
       COUNT(*) AS expected,
       SUM(CASE WHEN s.accepted = 1 AND s.late = 0 THEN 1 ELSE 0 END) AS accepted_on_time,
       SUM(CASE WHEN s.accepted = 1 AND s.late = 1 THEN 1 ELSE 0 END) AS accepted_late,
       SUM(CASE WHEN COALESCE(s.accepted, 0) = 0 AND s.rejected = 1 THEN 1 ELSE 0 END) AS rejected,
       SUM(CASE WHEN COALESCE(s.accepted, 0) = 0 AND COALESCE(s.rejected, 0) = 0 THEN 1 ELSE 0 END) AS missing
FROM expected e
LEFT JOIN state s ON s.org_code = e.org_code AND s.year = e.year
LEFT JOIN dim_org t ON t.org_code = e.township_code AND {VALID_IN.format(a="t", y="e.year")}
GROUP BY e.year, e.township_code, t.name
""",
    # One row per warning on a current (accepted) return.
    "v_open_warnings": """
SELECT i.submission_id, s.org_code, s.year, s.form, i.check_id, i.sheet, i.cell, i.indicator_code, i.message
FROM submission_issue i
JOIN submission s ON s.submission_id = i.submission_id
WHERE i.severity = 'warning' AND s.status = 'accepted'
""",
}


def create_views(execute) -> None:
    for name, sql in VIEWS.items():
        execute(f"CREATE VIEW {name} AS {sql}")


def drop_views(execute) -> None:
    for name in reversed(list(VIEWS)):
        execute(f"DROP VIEW IF EXISTS {name}")
