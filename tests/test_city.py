"""A whole generated city, night by night through the real flow, against its manifest: every file's
status, every current value, every error and warning, and the analyst views (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pbstats.flows.ingest import ingest
from pbstats.flows.settings import Settings
from pbstats.gen.city import generate_city

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("city")
    return out, generate_city(out)


def test_a_city_over_two_years_loads_as_its_manifest_says(
    city, tmp_path: Path, warehouse_url: str, monkeypatch
):
    corpus, manifest = city
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("PBSTATS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PBSTATS_WAREHOUSE_URL", warehouse_url)
    settings = Settings()
    for night in manifest["nights"]:
        for name in night["files"]:
            shutil.copy2(corpus / night["dir"] / name, inbox / name)
        ingest(str(inbox))
    engine = create_engine(settings.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        subs = {
            n: (sid, s)
            for sid, n, s in conn.execute(text("select submission_id, file_name, status from submission"))
        }
        issues: dict[int, Counter] = {}
        for sid, check in conn.execute(text("select submission_id, check_id from submission_issue")):
            issues.setdefault(sid, Counter())[check] += 1
        facts = {
            (o, y, c): v
            for o, y, c, v in conn.execute(
                text("select org_code, year, indicator_code, value from fact_metric")
            )
        }
        review = {
            (y, f, c): (v, p)
            for y, f, c, v, p in conn.execute(
                text("select year, form, indicator_code, value, prior_value from v_year_review")
            )
        }
        completeness = {
            y: tuple(r)
            for y, *r in conn.execute(
                text(
                    "select year, sum(expected), sum(accepted_on_time), sum(accepted_late), sum(rejected), sum(missing) "
                    "from v_completeness group by year"
                )
            )
        }
        assert conn.execute(
            text("select count(*) from load_run where outcome='completed'")
        ).scalar_one() == len(manifest["nights"])
    engine.dispose()

    finals, totals = {}, Counter()
    for night in manifest["nights"]:
        for name, e in night["files"].items():
            sid, status = subs[name]
            want = e["status"]
            if want == "accepted" and e.get("superseded_by"):
                want = "superseded"
            assert status == want, (name, e["case"])
            found = set(issues.get(sid, ()))
            if e["status"] == "rejected":
                assert set(e["errors"]) <= found, (name, e["case"], found)
            elif e["status"] == "accepted":
                assert {c for c in found} == set(e["warnings"]), (name, e["case"], found)
                finals[(e["org_code"], e["year"])] = e
    for (org, year), e in finals.items():
        if e.get("superseded_by"):
            continue
        for code, v in e["values"].items():
            assert facts[(org, year, code)] == pytest.approx(v), (org, year, code)
            totals[(year, e["form"], code)] += v
    for (year, form, code), v in totals.items():
        assert review[(year, form, code)][0] == pytest.approx(v)
        if (year - 1, form, code) in totals:
            assert review[(year, form, code)][1] == pytest.approx(totals[(year - 1, form, code)])
    for year in {y for _, y in finals}:
        current = [e for (o, y), e in finals.items() if y == year and not e.get("superseded_by")]
        late = sum(1 for e in current if "W-LATE" in e["warnings"])
        assert completeness[year] == (len(current), len(current) - late, late, 0, 0)
