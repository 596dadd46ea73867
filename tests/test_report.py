"""The year-end review: its figures against sums made here from the returns sent (not from the
report's SQL), the year-over-year comparison across the 2025 merge of 竹坪乡 into 长岭镇, and the
files it writes (HTML, Word, markdown), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import io
import random
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from pbstats.flows.ingest import ingest
from pbstats.schemas.forms import DJ1, DJ2, FORMS
from pbstats.schemas.registry import Registry, default_spans
from pbstats.transforms.review import Summary
from pbstats.transforms.review_figures import CROSS_CHECK, HEADLINE, TOWNSHIP_METRICS, Figure
from pbstats.transforms.review_hierarchy import (
    Merge,
    Org,
    by_township,
    merges,
    restated_map,
    totals,
    township_map,
)
from pbstats.transforms.review_sentences import headline_paragraphs, quoted
from pbstats.warehouse import review as wr
from tests.builders import drop, make_return

ZHUPING, CHANGLING, QINGSHI = "990181203000", "990181108000", "990181101000"
CORRECTED, REJECTED = "990181108201", "990181101203"
SENT = {  # year -> the orgs that send a return
    2024: [
        ZHUPING,
        "990181203201",
        "990181203202",
        CHANGLING,
        "990181108201",
        "990181108202",
        QINGSHI,
        "990181101201",
    ],
    2025: [
        CHANGLING,
        "990181203201",
        "990181203202",
        "990181108201",
        QINGSHI,
        "990181101201",
        "990181101202",
    ],
}


def dj1_values(rng: random.Random) -> dict[str, object]:
    members = rng.randint(20, 150)
    weak = rng.randint(0, 1)
    return {
        "01": members,
        "02": rng.randint(0, 5),
        "03": rng.randint(0, 4),
        "04": rng.randint(0, 1),
        "05": rng.randint(0, 1),
        "06": rng.randint(0, 1),
        "07": round(rng.uniform(0, 60), 2),
        "08": weak,
        "09": weak * rng.randint(0, 1),
        "10": rng.randint(1, 12),
        "11": members * 2,
        "12": rng.randint(0, 1),
    }


def dj2_values(rng: random.Random) -> dict[str, object]:
    v = {f"{i:02d}": rng.randint(4, 9) for i in range(1, 18)}
    v["06"] = rng.randint(0, 5)
    v["07"] = rng.randint(0, v["06"])
    v["08"], v["09"] = rng.randint(0, v["01"]), rng.randint(0, v["01"])
    v["11"], v["13"], v["16"] = v["10"] + rng.randint(0, 3), v["12"] + 2, v["15"] + 1
    v["17"] = rng.randint(300, 900)
    return v


def send_two_years(inbox: Path, seed: int = 3) -> dict[int, dict[str, tuple[str, dict]]]:
    """Drop both years' returns into the inbox; returns year → org → (form, values sent)."""
    rng = random.Random(seed)
    registry = Registry(default_spans())
    sent: dict[int, dict[str, tuple[str, dict]]] = {}
    for year, orgs in SENT.items():
        for code in orgs:
            level = registry.org(code, year).level
            form = "DJ-2" if level == "township" else "DJ-1"
            values = dj2_values(rng) if form == "DJ-2" else dj1_values(rng)
            sent.setdefault(year, {})[code] = (form, values)
            drop(
                inbox,
                f"{code}-{year}.xlsx",
                make_return(form, code, year, values),
                datetime(year + 1, 1, 10, 9, 0),
            )
    # a correction replaces a village's values; a rejected return counts nowhere
    corrected = dj1_values(rng)
    drop(inbox, "更正.xlsx", make_return("DJ-1", CORRECTED, 2025, corrected), datetime(2026, 1, 20, 9, 0))
    sent[2025][CORRECTED] = ("DJ-1", corrected)
    drop(inbox, "退回.xlsx", make_return("DJ-1", REJECTED, 2025, {"01": 3, "02": 9}), datetime(2026, 1, 20))
    return sent


def town_of(code: str, year: int) -> str:
    return Registry(default_spans()).township_of(code, year).org_code


def city_sum(sent, year: int, form: str, code: str) -> float:
    return sum(float(v[code]) for f, v in sent[year].values() if f == form)


def town_sum(sent, year: int, town: str, form: str, code: str, hierarchy_year: int) -> float:
    """Sum over the orgs of `year` that the registry of `hierarchy_year` puts under `town`; a township
    the later registry no longer has counts under the township its villages joined."""
    total = 0.0
    for org, (f, v) in sent[year].items():
        t = town_of(org, hierarchy_year) if Registry(default_spans()).org(org, hierarchy_year) else None
        if t is None and org == ZHUPING:
            t = CHANGLING
        if f == form and t == town:
            total += float(v[code])
    return total


@pytest.fixture
def loaded(tmp_path: Path, night_settings, prefect_harness):
    settings = night_settings
    sent = send_two_years(tmp_path / "inbox")
    ingest(str(tmp_path / "inbox"))
    engine = create_engine(settings.url.replace("postgresql://", "postgresql+psycopg://"))
    yield settings, engine, sent
    engine.dispose()


def test_the_reviews_figures_equal_the_returns_sent(loaded, tmp_path: Path):
    from pbstats.flows.report import load_review, load_summary, review_markdown, write_report

    settings, engine, sent = loaded
    with engine.connect() as conn:
        review, meta = load_review(conn, 2025)
        summary, _ = load_summary(conn, 2025)
        markdown = review_markdown(conn, 2025)
        regrouped = wr.regrouping(conn, 2025)
        html, docx_path = write_report(conn, 2025, tmp_path / "out")

    # the nightly summary, from the warehouse's aggregates, says what the full review says of the city
    for field in dataclasses.fields(Summary):
        assert getattr(summary, field.name) == getattr(review, field.name), field.name
    assert summary.paragraphs and summary.headline and summary.pending
    assert summary.warnings_open == len(review.warnings) > 0
    # the summary's merges come from the townships and the villages of the one township gone (竹坪乡),
    # not from every village of both years
    registry = Registry(default_spans())
    zhuping = {v.org_code for v in registry.villages_of(ZHUPING, 2024)}
    before, now = regrouped
    assert {o.org_code for o in before if o.level == "village"} == zhuping
    assert {o.org_code for o in now if o.level == "village"} == zhuping
    assert {o.org_code for o in now if o.level == "township"} == {
        o.org_code for o in registry.orgs(2025, "township")
    }
    assert summary.merges == [Merge(ZHUPING, "竹坪乡", CHANGLING, "长岭镇")]

    # the headline, city-wide: every figure and last year's, summed here from what was sent
    for f, metric in zip(review.headline, [*HEADLINE, CROSS_CHECK], strict=True):
        assert f.value == pytest.approx(city_sum(sent, 2025, *metric)), metric
        assert f.prior == pytest.approx(city_sum(sent, 2024, *metric)), metric
    for (title, figs), form in zip(review.forms, (DJ1, DJ2), strict=True):
        assert title.startswith(form.form_id)
        for f, ind in zip(figs, form.indicators, strict=True):
            assert f.value == pytest.approx(city_sum(sent, 2025, form.form_id, ind.code))
            assert f.prior == pytest.approx(city_sum(sent, 2024, form.form_id, ind.code))
    first = city_sum(sent, 2025, "DJ-2", "02")
    assert (
        f"选派驻村第一书记{first:,.0f}人（上年{city_sum(sent, 2024, 'DJ-2', '02'):,.0f}人，"
        in review.paragraphs[1]
    )

    # by township this year: DJ-2 02 of each township as sent
    by_town = {row.name: row for row in review.units}
    assert by_town["长岭镇"].figures[0].value == sent[2025][CHANGLING][1]["02"]
    assert "竹坪乡" not in by_town  # not in the 2025 registry

    # completeness: the 2025 registry's townships and villages, counted here
    expected = len(registry.orgs(2025, "township")) + len(registry.orgs(2025, "village"))
    done = review.completeness
    assert (done.expected, done.accepted_on_time, done.accepted_late, done.rejected) == (
        expected,
        len(SENT[2025]),
        0,
        1,
    )
    assert done.missing == expected - len(SENT[2025]) - 1
    # the rollup of every township that sent a DJ-2 waits for its villages
    assert {p["township_code"] for p in review.pending} == {CHANGLING, QINGSHI}
    assert meta.run_id and meta.as_of is not None
    assert review.closed is False

    # the files: HTML with both charts inline, Word with both pictures, the markdown summary
    page = html.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "@font-face" in page
    assert "未关账" in page and meta.run_id in page
    assert "按2025年度区划还原" in page and "按各年度上报时的区划" in page
    from docx import Document

    doc = Document(str(docx_path))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert review.paragraphs[1] in text and "未关账" in text
    assert len(doc.inline_shapes) == 2
    assert review.paragraphs[1] in markdown and "未关账" in markdown and meta.run_id in markdown


def test_year_over_year_is_restated_across_the_merge(loaded):
    from pbstats.flows.report import load_review

    _, engine, sent = loaded
    with engine.connect() as conn:
        city, _ = load_review(conn, 2025)
        town, _ = load_review(conn, 2025, CHANGLING)
    metrics = TOWNSHIP_METRICS

    restated = {row.code: row for row in city.restated.rows}
    assert ZHUPING not in restated
    for f, (form, code) in zip(restated[CHANGLING].figures, metrics, strict=True):
        assert f.value == pytest.approx(town_sum(sent, 2025, CHANGLING, form, code, 2025))
        # last year: 长岭镇's own return and villages, and 竹坪乡's return and villages
        assert f.prior == pytest.approx(town_sum(sent, 2024, CHANGLING, form, code, 2025))
    assert (
        restated[CHANGLING].figures[1].prior == sent[2024][CHANGLING][1]["02"] + sent[2024][ZHUPING][1]["02"]
    )
    assert "竹坪乡" in restated[CHANGLING].note
    assert "2025年度区划" in city.restated.hierarchy

    reported = {row.code: row for row in city.as_reported.rows}
    assert reported[CHANGLING].figures[1].prior == sent[2024][CHANGLING][1]["02"]
    assert reported[ZHUPING].figures[1].value is None
    assert reported[ZHUPING].figures[1].prior == sent[2024][ZHUPING][1]["02"]
    assert "并入长岭镇" in reported[ZHUPING].note
    assert "2024年度区划" in city.as_reported.hierarchy
    members_2024 = sum(sent[2024][v][1]["01"] for v in ("990181108201", "990181108202"))
    assert reported[CHANGLING].figures[0].prior == members_2024  # its own villages only, as reported
    assert city.merges == [Merge(ZHUPING, "竹坪乡", CHANGLING, "长岭镇")]

    # a township's review compares with last year restated to this year's hierarchy
    assert town.scope == "长岭镇"
    first = town.headline[0]
    assert first.value == sent[2025][CHANGLING][1]["02"]
    assert first.prior == sent[2024][CHANGLING][1]["02"] + sent[2024][ZHUPING][1]["02"]
    assert any("竹坪乡" in p for p in town.paragraphs)
    assert {row.code for row in town.as_reported.rows} == {CHANGLING, ZHUPING}
    assert {u.code for u in town.units} == {
        o.org_code for o in Registry(default_spans()).villages_of(CHANGLING, 2025)
    }


def test_a_closed_year_says_so_and_the_command_writes_both_files(loaded, tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from pbstats.flows.cli import app
    from pbstats.warehouse.tables import year_state

    settings, engine, _ = loaded
    with engine.begin() as conn:
        conn.execute(insert(year_state), {"year": 2025, "closed": True, "changed_at": datetime(2026, 3, 1)})
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--year", "2025", "--township", CHANGLING, "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out / "长岭镇2025年度党建工作统计年报.html"
    assert "已关账" in html.read_text(encoding="utf-8")
    with zipfile.ZipFile(io.BytesIO((out / "长岭镇2025年度党建工作统计年报.docx").read_bytes())) as z:
        assert "已关账" in z.read("word/document.xml").decode()
    bad = CliRunner().invoke(app, ["report", "--year", "2025", "--township", ZHUPING, "--out", str(out)])
    assert bad.exit_code == 1 and "不是2025年度组织名录中的乡镇" in bad.output


# ---- pure: the hierarchy arithmetic ------------------------------------------------------------------


def orgs(year: int) -> list[Org]:
    reg = Registry(default_spans())
    out = []
    for o in reg.orgs(year):
        if o.level in ("township", "village"):
            t = reg.township_of(o.org_code, year)
            out.append(Org(o.org_code, o.name, o.level, t.org_code, t.name))
    return out


def test_a_merged_townships_successor_is_where_its_villages_went():
    before, after = orgs(2024), orgs(2025)
    assert merges(before, after) == [Merge(ZHUPING, "竹坪乡", CHANGLING, "长岭镇")]
    mapping = restated_map(before, after)
    assert mapping[ZHUPING] == CHANGLING
    assert mapping["990181203201"] == CHANGLING
    assert mapping["990181101201"] == QINGSHI
    assert merges(after, after) == []


def test_restating_moves_values_and_keeps_the_city_total():
    before, after = orgs(2024), orgs(2025)
    values = {
        (ZHUPING, "DJ-2", "02"): 3.0,
        ("990181203201", "DJ-1", "01"): 40.0,
        (CHANGLING, "DJ-2", "02"): 5.0,
    }
    as_reported = by_township(values, township_map(before))
    restated = by_township(values, restated_map(before, after))
    assert as_reported[ZHUPING] == {("DJ-2", "02"): 3.0, ("DJ-1", "01"): 40.0}
    assert restated == {CHANGLING: {("DJ-2", "02"): 8.0, ("DJ-1", "01"): 40.0}}
    assert totals(values) == {("DJ-2", "02"): 8.0, ("DJ-1", "01"): 40.0}


@pytest.mark.parametrize(
    "value,prior,want",
    [
        (120, 112, "120人（上年112人，增加8人）"),
        (5, 9, "5人（上年9人，减少4人）"),
        (7, 7, "7人（上年7人，与上年持平）"),
        (7, None, "7人（上年无数据）"),
        (None, 3, "暂无数据"),
    ],
    ids=str,
)
def test_a_figure_is_quoted_with_last_year_and_the_change(value, prior, want):
    assert quoted(Figure("x", "人", value, prior)) == want


def test_headline_names_every_indicator_of_forms_section_7():
    codes = {c for f, c in HEADLINE}
    assert codes == {"02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16"}
    assert all(FORMS[f].has(c) for f, c in HEADLINE)
    text = "".join(headline_paragraphs("全市", 2025, {m: 1.0 for m in HEADLINE}, {}, 1, 1))
    assert "暂无数据" not in text and text.count("上年0") == 16
