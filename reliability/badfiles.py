"""Hostile and broken spreadsheet files, made by code: for every reader kind (.xlsx, .xlsm, .xls,
.ods) the seeds (real returns), the named hostile cases, and a mutator for fuzzing.

Each maker returns the bytes of one file; `size` scales the heavy ones (1 = full size, as in the
reliability run; the test-suite uses smaller ones where the point survives the scaling). The cases
are made by kind: zip bombs (bad_zip.py), XML entities (bad_xml.py), .xlsx/.xlsm (bad_xlsx.py),
.xls (bad_xls.py) and .ods (bad_ods.py), all from the seeds (seeds.py); the mutator is fuzz.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reliability import bad_ods, bad_xls, bad_xlsx, bad_xml, bad_zip
from reliability.fuzz import mutate
from reliability.seeds import KINDS, ZIP_KINDS, Case, book_of, seed

__all__ = ["KINDS", "Hostile", "book_of", "hostile_cases", "mutate", "seed"]

MOBILE = "13912345678"
RESIDENT_ID = "11010519491231002X"


@dataclass(frozen=True)
class Hostile:
    """One hostile file: a name for the test id, the file's name in the inbox, and how to make it."""

    case: str
    kind: str
    make: Callable[[], bytes]

    @property
    def file_name(self) -> str:
        return f"{self.case}.{self.kind}"


def hostile_cases(size: float = 1.0) -> list[Hostile]:
    """Every named hostile case on every reader kind it applies to; `size` scales the heavy ones."""
    out = [Hostile(case, kind, make) for kind in KINDS for case, make in _damaged(kind)]
    for kind in ZIP_KINDS:
        out += [Hostile(case, kind, make) for case, make in [*bad_zip.cases(kind), *bad_xml.cases(kind)]]
    for kind in ("xlsx", "xlsm"):
        out += [Hostile(case, kind, make) for case, make in bad_xlsx.cases(kind, size)]
    out += [Hostile(case, "xls", make) for case, make in bad_xls.cases(size)]
    out += [Hostile(case, "ods", make) for case, make in bad_ods.cases(size)]
    return out


def _damaged(kind: str) -> list[Case]:
    """A seed cut short or with flipped bits, and a return with personal data where a count goes."""
    data = seed(kind)
    return [
        ("truncated-half", lambda: data[: len(data) // 2]),
        ("truncated-head", lambda: data[:700]),
        ("bitflipped", lambda: bytes(b ^ 0x5A if i % 97 == 13 else b for i, b in enumerate(data))),
        ("pii-number-as-count", lambda: _pii_return(kind)),
    ]


def _pii_return(kind: str) -> bytes:
    from pbstats.gen.workbook import write_book
    from tests.builders import make_return

    xlsx = make_return(values={"01": int(MOBILE)}, notes={"02": f"书记身份证{RESIDENT_ID}"})
    return xlsx if kind == "xlsx" else write_book(book_of(xlsx), kind)
