"""A synthetic province for the benchmark: a registry of ~N reporting orgs and one return from each.

    python bench/province.py [--returns N] [--seed S]    # writes (or finds) bench/.cache/province-N<n>-s<s>/

Writing 25,000 workbooks with openpyxl would take minutes, so most returns are *stamped*: for each
form and each of a handful of layout variants, gen's own writers (gen/layout.py, gen/workbook.py)
render ONE template whose variable cells hold sentinels; a return is the template's zip with the
sentinels of its sheet XML (and shared strings) replaced by the org's cover, footer and values.
The variety that matters to the reader stays real:

- layouts: Excel-style shared strings, openpyxl-style inline strings, shifted tables behind an
  instructions sheet, codes and org code as numbers with the cover values in the next cell, .xlsm
  with half-width colons and blank rows inside the table; zeros sometimes spelled 无 or —;
  the 上年 column sometimes left blank;
- a few percent of returns go through gen's full path instead (gen/city.py's planner): every error
  case of gen/cases.py (E-FILE truncated / random bytes / pdf / docx …, E-FORM, E-ORG, E-YEAR, E-CODE,
  E-VALUE, E-RULE, E-PII) for `bad_share`, and gen's accepted quirks, including .xls and .ods,
  for `quirky_share` (byte-identical bad files, such as empty ones, come out as `duplicate`);
- a small share arrives after the deadline (W-LATE).

The cache directory holds `orgs.csv` (forms.md §2 format), `returns/` (the inbox, file mtimes =
arrival times), `corrections/` (1% of the accepted stamped returns again with corrected values, same
file names, for the "corrected night") and `manifest.json` (what each file must come to).

Codes follow forms.md §2's structure at province scale: `99 01 CC TTT VVV` — the root
`990100000000` (level city), townships `9901CCTTT000` (TTT 001–099 街道, 100–199 镇, 200–299 乡; CC
numbers blocks of 300 townships), villages `9901CCTTTVVV` (001–199 社区, 200–399 村).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pbstats.gen.cases import ERROR_CASES  # noqa: E402
from pbstats.gen.city import _Planner  # noqa: E402
from pbstats.gen.layout import build_doc, chinese_date, render  # noqa: E402
from pbstats.gen.submission import (  # noqa: E402
    Ctx,
    add_sheet,
    book_of,
    file_bytes,
    instructions_sheet,
    mobile,
    note_row,
    person,
)
from pbstats.gen.values import corrected, guess_prior, new_village, township  # noqa: E402
from pbstats.gen.workbook import Book, Cell, write_book  # noqa: E402
from pbstats.schemas.forms import DJ1, DJ2, FORM_BY_LEVEL, Form, Kind  # noqa: E402
from pbstats.schemas.registry import COLUMNS, OrgSpan, Registry  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
YEAR = 2025
TZ = ZoneInfo("Asia/Shanghai")
ROOT_CODE = "990100000000"
VALID_FROM = 2020
VILLAGES_PER_TOWNSHIP = 24  # so that N returns ≈ N/25 townships + the rest villages
FORMAT_VERSION = 3  # bump when the generator's output changes (invalidates the cache)

PLACES = (
    "青石 白沙 红旗 东山 西河 南岭 北坪 清泉 黄土 柳林 桃源 杏花 梨园 竹溪 松柏 枫树 金鸡 银山 凤凰 龙潭 "
    "马头 牛角 羊角 石门 铁炉 铜鼓 新华 和平 团结 胜利 光明 长兴 永安 太平 福田 高桥 双河 三合 四方 五里 "
    "六塘 七星 八一 九龙 十里 大湾 小溪 上坪 下庄 中和 前进 后山 沙坪 泉水 云台 碧波 丰收 兴隆 富民 安乐"
).split()


# ---------------------------------------------------------------- the registry


def registry_spans(n_returns: int, rng: random.Random) -> list[OrgSpan]:
    """The root, ~n/25 townships and the rest villages: exactly `n_returns` reporting orgs."""
    n_towns = max(1, round(n_returns / (VILLAGES_PER_TOWNSHIP + 1)))
    n_villages = n_returns - n_towns
    counts = [1] * n_towns
    for _ in range(n_villages - n_towns):
        counts[rng.randrange(n_towns)] += 1  # roughly binomial around 24, never 0
    while max(counts) > 399:
        i = counts.index(max(counts))
        counts[i] -= 1
        counts[counts.index(min(counts))] += 1
    spans = [OrgSpan(ROOT_CODE, "示范省", "city", "市", None, VALID_FROM, None)]
    used_town_names: set[str] = set()
    for k, n_vill in enumerate(counts):
        block, ttt = k // 300 + 1, k % 300 + 1
        kind = "街道" if ttt < 100 else "镇" if ttt < 200 else "乡"
        name = _unique(f"{rng.choice(PLACES)}{rng.choice(PLACES)[0]}{kind}", used_town_names)
        town = f"9901{block:02d}{ttt:03d}000"
        spans.append(OrgSpan(town, name, "township", kind, ROOT_CODE, VALID_FROM, None))
        share_communities = 0.8 if kind == "街道" else 0.1
        n_comm = sum(1 for _ in range(n_vill) if rng.random() < share_communities)
        names: set[str] = set()
        for j in range(n_vill):
            community = j < n_comm
            vvv = j + 1 if community else 200 + (j - n_comm)
            vkind = "社区" if community else "村"
            vname = _unique(f"{rng.choice(PLACES)}{vkind}", names)
            spans.append(OrgSpan(town[:9] + f"{vvv:03d}", vname, "village", vkind, town, VALID_FROM, None))
    return spans


def _unique(name: str, taken: set[str]) -> str:
    base, n = name, 2
    while name in taken:
        name = f"{base[:-1]}{n}{base[-1]}" if len(base) > 1 else f"{base}{n}"
        n += 1
    taken.add(name)
    return name


def write_registry(spans: list[OrgSpan], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for s in spans:
            w.writerow(
                [s.org_code, s.name, s.level, s.kind, s.parent_code or "", s.valid_from, s.valid_to or ""]
            )


def province_values(rng: random.Random, spans: list[OrgSpan]) -> dict[str, dict]:
    """Every org's true values for YEAR: villages first, their township's DJ-2 from them (gen/values.py)."""
    villages_of: dict[str, list[OrgSpan]] = {}
    for s in spans:
        if s.level == "village":
            villages_of.setdefault(s.parent_code or "", []).append(s)
    out: dict[str, dict] = {}
    for town in (s for s in spans if s.level == "township"):
        block = [new_village(rng, v) for v in villages_of.get(town.org_code, [])]
        for v, values in zip(villages_of.get(town.org_code, []), block, strict=True):
            out[v.org_code] = values
        out[town.org_code] = township(rng, block, len(block), None)
    return out


# ---------------------------------------------------------------- templates and stamping


SENT_BASE = 8_760_000  # current value of indicator NN: 8760NN1, its 上年 cell: 8760NN2
SENT_ORG_CODE_NUMBER = 999_999_999_999
STRINGS = ("NAME", "CODE", "HEAD", "FILLER", "PHONE", "DATE")
_STRING_RE = re.compile(r"@@(" + "|".join(STRINGS) + r")@@")
_NUM_CELL_RE = re.compile(r'<c r="([A-Z]+\d+)"([^>]*)><v>(876\d{4})</v></c>')
_T_ATTR_RE = re.compile(r'\s+t="[^"]*"')

# name -> (weight, file kind); the layouts are described in build_template
VARIANTS = {
    "excel": (0.45, "xlsx"),
    "inline": (0.20, "xlsx"),
    "shifted": (0.12, "xlsx"),
    "numeric": (0.12, "xlsx"),
    "xlsm": (0.11, "xlsm"),
}


@dataclass
class Template:
    """A rendered return, split at its value cells; the rest of the package kept as it is."""

    form: Form
    kind: str
    order: list[str]  # zip member order
    parts: dict[str, bytes]  # members without sentinels
    sheets: dict[str, list]  # member -> [text, (slot, code, ref, attrs), text, ...]
    saved_at: datetime


def build_template(form: Form, variant: str, rng: random.Random) -> Template:
    sentinel = {i.code: SENT_BASE + int(i.code) * 10 + 1 for i in form.indicators}
    doc = build_doc(
        form,
        org_name="@@NAME@@",
        org_code="@@CODE@@",
        year=YEAR,
        values={c: 0 for c in sentinel},
        prior=None,
        head="@@HEAD@@",
        filler="@@FILLER@@",
        phone="@@PHONE@@",
        report_date=date(YEAR + 1, 1, 10),
    )
    for row in doc.indicator_rows():
        assert row.indicator is not None
        row.current = Cell(sentinel[row.indicator.code])
        row.prior = Cell(sentinel[row.indicator.code] + 1)
    doc.footer["date"].value = "@@DATE@@"
    shared = variant in ("excel", "shifted", "numeric")
    if variant == "shifted":
        doc.top, doc.left = 2, 1
        doc.title_merge = "none"
        add_sheet(doc, instructions_sheet(doc, YEAR), before=True)
    elif variant == "numeric":
        for row in doc.indicator_rows():
            row.code = int(row.code)
        for key in ("org_name", "org_code", "year"):
            doc.cover[key].style = "next"
        doc.cover_rows = [[("form_id", 0), ("issuer", 3)], [("org_name", 0), ("org_code", 2), ("year", 4)]]
        doc.cover["org_code"].value = SENT_ORG_CODE_NUMBER
        doc.cover["year"].value = YEAR
        doc.sheet_name = f"{YEAR}年报"
    elif variant == "xlsm":
        for item in (*doc.cover.values(), *doc.footer.values()):
            item.style = "half"
        doc.cover["year"].value = f"{YEAR}年度"
        doc.rows.insert(len(doc.rows) // 2, note_row(""))
        doc.rows.append(note_row("注：本表数据截至12月31日"))
        doc.sheet_name = "Sheet1"
    saved_at = datetime(YEAR + 1, 1, 10, 9, rng.randint(0, 59))
    kind = VARIANTS[variant][1]
    data = write_book(Book(render(doc)[0], saved_at, shared_strings=shared), kind)
    src = zipfile.ZipFile(io.BytesIO(data))
    order = [i.filename for i in src.infolist()]
    parts, sheets = {}, {}
    for name in order:
        raw = src.read(name)
        text = raw.decode("utf-8", "replace") if name.endswith(".xml") else ""
        if "876" in text or "@@" in text:
            sheets[name] = _split(text, sentinel)
        else:
            parts[name] = raw
    found = {seg[1] for segs in sheets.values() for seg in segs if isinstance(seg, tuple)}
    assert found == set(sentinel), f"{form.form_id}/{variant}: sentinels lost: {set(sentinel) - found}"
    return Template(form, kind, order, parts, sheets, saved_at)


def build_templates(seed: int) -> dict[tuple[str, str], Template]:
    """(form, variant) → its template, each variant of each form with a random generator of its own."""
    return {
        (form.form_id, v): build_template(form, v, random.Random(seed + i))
        for i, (form, v) in enumerate((f, v) for f in (DJ1, DJ2) for v in VARIANTS)
    }


def _split(text: str, sentinel: dict[str, int]) -> list:
    by_value = {str(v): ("current", c) for c, v in sentinel.items()} | {
        str(v + 1): ("prior", c) for c, v in sentinel.items()
    }
    out: list = []
    pos = 0
    for m in _NUM_CELL_RE.finditer(text):
        slot = by_value.get(m.group(3))
        if slot is None:
            continue
        out.append(text[pos : m.start()])
        out.append((slot[0], slot[1], m.group(1), m.group(2)))
        pos = m.end()
    out.append(text[pos:])
    return out


def _num(v: float | int) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(round(f, 2))


def _cell(ref: str, attrs: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return f'<c r="{ref}"{_T_ATTR_RE.sub("", attrs)} t="inlineStr"><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"{attrs}><v>{_num(value)}</v></c>'


def stamp(t: Template, spec: dict) -> bytes:
    """The template filled in: spec has strings, current/prior cell contents (number, text or None)."""
    strings = spec["strings"]
    cells = {"current": spec["current"], "prior": spec["prior"]}

    def fill(segments: list) -> bytes:
        text = "".join(
            seg if isinstance(seg, str) else _cell(seg[2], seg[3], cells[seg[0]].get(seg[1]))
            for seg in segments
        )
        text = _STRING_RE.sub(lambda m: strings[m.group(1)], text)
        return text.replace(f"<v>{SENT_ORG_CODE_NUMBER}</v>", f"<v>{strings['CODE']}</v>").encode()

    out = io.BytesIO()
    stamp_time = t.saved_at.timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in t.order:
            info = zipfile.ZipInfo(name, date_time=stamp_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, fill(t.sheets[name]) if name in t.sheets else t.parts[name])
    return out.getvalue()


def stamp_spec(rng: random.Random, org: OrgSpan, form: Form, values: dict, variant: str) -> dict:
    """How this org fills in the template: its names, numbers and the spelling of its cells."""
    prior = guess_prior(rng, form, values)
    blank_prior = rng.random() < 0.3
    dash_zeros = rng.random() < 0.04  # a clerk who writes — for nothing (a written 0)
    wu_zeros = rng.random() < 0.08  # … or 无 (a plain 0)
    current, prior_cells = {}, {}
    for ind in form.indicators:
        v = values[ind.code]
        if float(v) == 0 and dash_zeros:
            current[ind.code] = "—"
        elif float(v) == 0 and wu_zeros:
            current[ind.code] = "无"
        else:
            current[ind.code] = v if ind.kind is Kind.AMOUNT else int(v)
        prior_cells[ind.code] = None if blank_prior else prior[ind.code]
    saved = datetime(YEAR + 1, 1, rng.randint(3, 25), rng.randint(8, 18), rng.randint(0, 59))
    return {
        "variant": variant,
        "strings": {
            "NAME": _unit_name(org, rng),
            "CODE": org.org_code,
            "HEAD": person(rng),
            "FILLER": person(rng),
            "PHONE": mobile(rng),
            "DATE": chinese_date(saved.date()),
        },
        "current": current,
        "prior": prior_cells,
    }


def _unit_name(org: OrgSpan, rng: random.Random) -> str:
    if org.level == "township":
        return rng.choice((f"中共{org.name}委员会", f"{org.name}党委"))
    return rng.choice((f"{org.name}党支部", f"{org.name}党总支", f"中共{org.name}支部委员会"))


# ---------------------------------------------------------------- the province


def arrival(rng: random.Random, late: bool = False) -> datetime:
    if late:
        return datetime(YEAR + 1, 2, rng.randint(3, 20), rng.randint(8, 18), rng.randint(0, 59), tzinfo=TZ)
    return datetime(
        YEAR + 1, 1, rng.randint(3, 25), rng.randint(8, 18), rng.randint(0, 59), rng.randint(0, 59), tzinfo=TZ
    )


def cache_dir(n: int, seed: int) -> Path:
    return CACHE / f"province-N{n}-s{seed}-v{FORMAT_VERSION}"


def generate(
    out: Path,
    n: int,
    seed: int,
    *,
    bad_share: float = 0.03,
    quirky_share: float = 0.02,
    late_share: float = 0.005,
    correction_share: float = 0.01,
) -> dict:
    """Write the province into `out` (a fresh directory) and return its manifest."""
    started = time.perf_counter()
    rng = random.Random(seed)
    spans = registry_spans(n, rng)
    out.mkdir(parents=True)
    write_registry(spans, out / "orgs.csv")
    registry = Registry(spans)
    truth = province_values(rng, spans)
    senders = [s for s in spans if s.level != "city"]
    rng.shuffle(senders)
    n_bad, n_quirky = round(bad_share * n), round(quirky_share * n)
    n_late = round(late_share * n)
    templates = build_templates(seed)
    weights = [w for w, _ in VARIANTS.values()]
    planner = _Planner(Ctx(random.Random(seed + 1), registry), bad_share=0.0, quirk_share=1.0)

    returns, corrections = out / "returns", out / "corrections"
    returns.mkdir()
    corrections.mkdir()
    names: set[str] = set()
    files: dict[str, dict] = {}
    stamped: list[tuple[str, OrgSpan, dict]] = []
    counts = {"stamped": 0, "gen_rejected": 0, "gen_quirky": 0, "late": 0}
    for index, org in enumerate(senders):
        form = FORM_BY_LEVEL[org.level]
        values = truth[org.org_code]
        spec = None
        if index < n_bad + n_quirky:
            bad = index < n_bad
            data, suffix, received, entry = _through_gen(planner, rng, org, values, bad)
            counts["gen_rejected" if bad else "gen_quirky"] += 1
        else:
            variant = rng.choices(list(VARIANTS), weights)[0]
            spec = stamp_spec(rng, org, form, values, variant)
            data = stamp(templates[(form.form_id, variant)], spec)
            suffix = f".{VARIANTS[variant][1]}"
            late = index < n_bad + n_quirky + n_late
            received = arrival(rng, late=late)
            counts["stamped"] += 1
            counts["late"] += late
            entry = {"status": "accepted", "case": "late" if late else "stamped", "variant": variant}
        name = _file_name(rng, org, suffix, names, registry)
        if spec is not None:
            stamped.append((name, org, spec))
        _write(returns / name, data, received)
        files[name] = {"org_code": org.org_code, "form": form.form_id, **entry}

    n_corr = max(1, round(correction_share * n))
    _write_corrections(corrections, rng, rng.sample(stamped, min(n_corr, len(stamped))), templates, truth)
    manifest = {
        "returns": n,
        "seed": seed,
        "year": YEAR,
        "format": FORMAT_VERSION,
        "townships": sum(1 for s in spans if s.level == "township"),
        "villages": sum(1 for s in spans if s.level == "village"),
        "files": len(files),
        "expected": {s: sum(1 for f in files.values() if f["status"] == s) for s in ("accepted", "rejected")},
        "corrections": len(list(corrections.iterdir())),
        "counts": counts,
        "bytes": sum(p.stat().st_size for p in returns.iterdir()),
        "seconds": round(time.perf_counter() - started, 1),
        "by_file": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return manifest


def _through_gen(
    planner: _Planner, rng: random.Random, org: OrgSpan, values: dict, bad: bool
) -> tuple[bytes, str, datetime, dict]:
    """A return made by gen's full path: one of its error cases (`bad`) or its accepted quirks; its
    bytes, file suffix, arrival and what it must come to."""
    form = FORM_BY_LEVEL[org.level]
    sub = planner.fresh(org, YEAR, values, {}, night=1)
    if bad:
        cases = list(ERROR_CASES.values())
        for _ in range(20):
            case = rng.choice(cases)
            if form.form_id in case.forms and planner.apply_case(sub, case):
                break
            sub = planner.fresh(org, YEAR, values, {}, night=1)
        else:
            raise RuntimeError(f"no error case fits {org.org_code}")
        entry = {"status": "rejected", "case": sub.case, "errors": sub.errors}
    else:
        planner.add_quirks(sub)
        entry = {"status": "accepted", "case": "quirky", "quirks": sub.quirks}
    return _cache_formulas(file_bytes(sub), sub), sub.file_suffix, sub.received, entry


def _write_corrections(
    folder: Path,
    rng: random.Random,
    chosen: list[tuple[str, OrgSpan, dict]],
    templates: dict[tuple[str, str], Template],
    truth: dict[str, dict],
) -> None:
    """The corrected night: the chosen stamped returns again, a few figures changed, same names."""
    for name, org, spec in chosen:
        form = FORM_BY_LEVEL[org.level]
        new_values = corrected(rng, form, truth[org.org_code])
        spec = dict(spec, current={**spec["current"]})
        for ind in form.indicators:
            if isinstance(spec["current"][ind.code], int | float):
                v = new_values[ind.code]
                spec["current"][ind.code] = v if ind.kind is Kind.AMOUNT else int(v)
        received = datetime(YEAR + 1, 1, 28, rng.randint(8, 18), rng.randint(0, 59), tzinfo=TZ)
        _write(folder / name, stamp(templates[(form.form_id, spec["variant"])], spec), received)


_FORMULA_RE = re.compile(r'<c r="([A-Z]+\d+)"([^>]*)><f>(.*?)</f><v></v></c>')


def _cache_formulas(data: bytes, sub) -> bytes:
    """gen/workbook.py's _patch_xlsx gives formulas their cached value only where openpyxl writes
    `<v />`; openpyxl 3.1.5 writes `<v></v>`, so a formula quirk would read as uncached (E-VALUE).
    Patch the cached values in here (the same bug fails tests/test_gen.py at HEAD; gen/ is not ours
    to change in this task)."""
    if sub.kind not in ("xlsx", "xlsm") or sub.truncate or sub.payload is not None:
        return data
    from openpyxl.utils import get_column_letter

    cached = {}
    for index, grid in enumerate(book_of(sub).sheets):
        for (r, c), cell in grid.cells.items():
            if cell.formula is not None and cell.value is not None:
                cached[(index, f"{get_column_letter(c + 1)}{r + 1}")] = cell.value
    if not cached:
        return data
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            raw = src.read(info.filename)
            m = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", info.filename)
            if m:
                index = int(m.group(1)) - 1

                def fix(mm: re.Match[str], index: int = index) -> str:
                    value = cached.get((index, mm.group(1)))
                    if value is None:
                        return mm.group(0)
                    return f'<c r="{mm.group(1)}"{mm.group(2)}><f>{mm.group(3)}</f><v>{_num(value)}</v></c>'

                raw = _FORMULA_RE.sub(fix, raw.decode("utf-8")).encode("utf-8")
            zf.writestr(info, raw)
    return out.getvalue()


def _file_name(rng: random.Random, org: OrgSpan, suffix: str, taken: set[str], registry: Registry) -> str:
    roll = rng.random()
    if roll < 0.05:
        stem = f"新建 Microsoft Excel 工作表 ({len(taken) + 1})"
    elif roll < 0.25:
        town = registry.township_of(org.org_code, YEAR)
        prefix = town.name if town is not None and org.level == "village" else ""
        stem = rng.choice(("{p}{n}{y}年报（最终版）", "{p}{n}{y}年度党建统计", "副本{p}{n}{y}年报")).format(
            p=prefix, n=org.name, y=YEAR
        )
    else:
        town = registry.township_of(org.org_code, YEAR)
        prefix = town.name if town is not None and org.level == "village" else ""
        stem = f"{prefix}{org.name}{YEAR}年报"
    name, n = stem + suffix, 2
    while name in taken:
        name, n = f"{stem}({n}){suffix}", n + 1
    taken.add(name)
    return name


def _write(path: Path, data: bytes, received: datetime) -> None:
    path.write_bytes(data)
    stamp_s = received.timestamp()
    os.utime(path, (stamp_s, stamp_s))


def ensure_province(n: int, seed: int, *, log=print) -> tuple[Path, dict]:
    """The cached province for (n, seed), generated on first use."""
    folder = cache_dir(n, seed)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        log(f"province: cached {folder} ({manifest['files']} returns, generated in {manifest['seconds']} s)")
        return folder, manifest
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted generation
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    log(f"province: generating {n} returns (seed {seed}) into {folder} …")
    manifest = generate(tmp, n, seed)
    tmp.rename(folder)
    log(
        f"province: {manifest['files']} returns ({manifest['townships']} townships, {manifest['villages']} "
        f"villages), {manifest['bytes'] / 1e6:.0f} MB, {manifest['counts']}, in {manifest['seconds']} s"
    )
    return folder, manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--returns", type=int, default=25_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    ensure_province(args.returns, args.seed)


if __name__ == "__main__":
    main()
