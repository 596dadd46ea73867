"""Plain data passed between stages: findings, workbook grids, parsed returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pbstats.schemas.checks import CHECKS, CheckId, Severity

CellValue = str | int | float | bool | datetime | None


def a1(row: int, col: int) -> str:
    """A1 notation of a 0-based (row, col)."""
    letters = ""
    n = col + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return f"{letters}{row + 1}"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a return, where it is, and what to tell the submitter (in Chinese)."""

    check_id: CheckId
    message: str
    sheet: str | None = None
    cell: str | None = None  # A1
    indicator_code: str | None = None
    observed: str | None = None

    @property
    def severity(self) -> Severity:
        return CHECKS[self.check_id].severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


@dataclass
class Sheet:
    """One worksheet as cached values: rows of cells, plus what values alone do not tell."""

    name: str
    rows: list[list[CellValue]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # (r0, c0, r1, c1) inclusive
    uncached_formulas: set[tuple[int, int]] = field(default_factory=set)  # formulas with no cached value
    total_rows: int = 0  # rows the sheet declares, even where only its head was kept
    # (row, col, label, rest) of its labelled cells, once asked (transforms.locate.label_cells)
    labels: list[tuple[int, int, str, str]] | None = field(default=None, repr=False, compare=False)

    def value(self, row: int, col: int) -> CellValue:
        if 0 <= row < len(self.rows) and 0 <= col < len(self.rows[row]):
            return self.rows[row][col]
        return None


@dataclass
class Workbook:
    """A spreadsheet file reduced to its sheets' cached values."""

    sheets: list[Sheet]


@dataclass(frozen=True)
class CellAt:
    """A raw cell and where it stands."""

    sheet: str
    row: int
    col: int
    raw: CellValue
    uncached_formula: bool = False

    @property
    def ref(self) -> str:
        return a1(self.row, self.col)


@dataclass
class IndicatorRow:
    """One indicator row of the form as found in the sheet."""

    code: str
    current: CellAt
    prior: CellAt | None


@dataclass
class Received:
    """A file as it arrived: its name, bytes' identity and arrival time."""

    file_name: str
    sha256: str
    size: int
    received_at: datetime
    archive_path: str  # relative to the archive root


@dataclass
class CheckedReturn:
    """A received file after reading and the file-level checks: values, findings, and identity."""

    received: Received
    form_id: str | None = None
    org_code: str | None = None
    org_name: str | None = None  # 填报单位 as written
    year: int | None = None
    sheet: str | None = None
    values: dict[str, Decimal] = field(default_factory=dict)  # indicator code -> value
    priors: dict[str, Decimal] = field(default_factory=dict)  # 上年 column as written
    cells: dict[str, str] = field(default_factory=dict)  # indicator code -> A1 of its 本年 cell
    prior_cells: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return any(f.is_error for f in self.findings)
