"""One file a sender puts into the inbox, and what the pipeline must make of it.

Quirks (gen/quirks.py) and cases (gen/cases.py) edit a `Submission` in place; `file_bytes`
renders it. The helpers here are the small edits both of them share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime

from pbstats.schemas.forms import Form, Kind
from pbstats.schemas.registry import OrgSpan, Registry

from .layout import ReturnDoc, Row, number_cell, render
from .values import Values
from .workbook import Book, Cell, Grid, write_book

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅玉兰志文斌海波辉鹏飞琴云凤林"
AUTHORS = ("Administrator", "user", "lenovo", "微软用户", "HP", "dell", "WPS_1589", "党建办")


@dataclass
class Ctx:
    """What quirks and cases may draw on: the run's random source and the registry."""

    rng: random.Random
    registry: Registry


@dataclass
class Submission:
    """A file for the inbox: who sent it, what it holds, and the outcome it must have."""

    org: OrgSpan  # the sender (for a rejected file: the org it was meant to be from)
    form: Form
    year: int
    values: Values  # what must load when accepted (blank cells included, as 0)
    loaded_prior: Values | None  # what was loaded for year - 1 (the W-PRIOR / W-JUMP baseline)
    doc: ReturnDoc | None
    kind: str = "xlsx"
    night: int = 1
    status: str = "accepted"
    case: str = "clean"
    quirks: list[str] = field(default_factory=list)
    warnings: set[str] = field(default_factory=set)  # the warnings the case and quirks mean to cause
    errors: list[str] = field(default_factory=list)
    payload: bytes | None = None  # raw bytes of a file that is not a rendered workbook
    suffix: str | None = None  # file suffix when not the kind's own
    truncate: bool = False
    shared_strings: bool = False
    name_style: str = "plain"  # plain | renamed | generic
    file_name: str = ""
    received: datetime | None = None  # aware; becomes the file's mtime
    saved_at: datetime | None = None  # naive local time the sender's program saved the file
    author: str = "Administrator"
    pinned: set[str] = field(default_factory=set)  # parts of the doc a case relies on (quirks keep off)
    extra: dict[str, str] = field(default_factory=dict)  # duplicate_of, superseded_by
    original: Submission | None = None  # for a duplicate: the file whose bytes it repeats
    data: bytes | None = None  # the file's bytes, once written

    @property
    def org_code(self) -> str:
        return self.org.org_code

    @property
    def file_suffix(self) -> str:
        return self.suffix or f".{self.kind}"

    def set_value(self, code: str, value: int | float) -> None:
        """Change what the return says (and must load) for one indicator, written as a plain number."""
        ind = self.form.indicator(code)
        value = round(float(value), 2) if ind.kind is Kind.AMOUNT else int(value)
        self.values[code] = value
        if self.doc is not None:
            row = self.doc.row(code)
            row.current = number_cell(value, ind.kind)
            row.touched = True


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"


def resident_id(rng: random.Random, year: int) -> str:
    """An 18-character resident ID number with a valid check character."""
    born = date(rng.randint(1950, year - 20), rng.randint(1, 12), rng.randint(1, 28))
    body = f"430181{born:%Y%m%d}{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def note_row(text: str) -> Row:
    """A table row with a blank code: a note or sub-heading the reader must skip."""
    return Row(indicator=None, code=None, name=text, unit="", current=Cell(), prior=Cell())


def add_sheet(doc: ReturnDoc, grid: Grid, *, before: bool) -> None:
    taken = {g.name for g in (*doc.before, *doc.after)} | {doc.sheet_name}
    base, n = grid.name, 2
    while grid.name in taken:
        grid.name, n = f"{base}{n}", n + 1
    (doc.before if before else doc.after).append(grid)


def instructions_sheet(doc: ReturnDoc, year: int, extra: str | None = None) -> Grid:
    who = "各村（社区）" if doc.form.level == "village" else "各乡镇（街道）"
    lines = [
        "填表说明",
        f"一、本表由{who}党组织填报，统计时点为{year}年末。",
        f"二、请于{year + 1}年1月底前报送市委组织部组织科。",
        "三、计量单位见表内，金额保留两位小数，没有的填0。",
    ]
    if extra:
        lines.append(extra)
    grid = Grid("填表说明")
    for i, line in enumerate(lines):
        grid.put(i, 0, line, bold=i == 0)
    grid.widths[0] = 60.0
    return grid


def book_of(sub: Submission) -> Book:
    assert sub.saved_at is not None
    sheets = render(sub.doc)[0] if sub.doc is not None else [Grid("Sheet1")]
    return Book(sheets, sub.saved_at, author=sub.author, shared_strings=sub.shared_strings)


def file_bytes(sub: Submission) -> bytes:
    if sub.payload is not None:
        return sub.payload
    data = write_book(book_of(sub), sub.kind)
    return data[: len(data) * 3 // 5] if sub.truncate else data
