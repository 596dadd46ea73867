"""A return as the submitter laid it out (forms.md §3): the city's form (transforms/layout.py), filled
in, with the sheets around it.

Quirks and cases move, respell or drop parts of a `ReturnDoc`; `render` draws the form's sheet with
the same writer the blank templates use, then adds the side sheets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pbstats.schemas.forms import DATE_SPELLING, Form, Kind
from pbstats.schemas.template_text import DEFAULT_ISSUER
from pbstats.transforms.layout import (
    GAP,
    Cell,
    FormLayout,
    Grid,
    cover_items,
    draw,
    footer_items,
)
from pbstats.transforms.layout import Row as FormRow

__all__ = ["GAP", "ReturnDoc", "Row", "build_doc", "chinese_date", "number_cell", "render"]


@dataclass
class Row(FormRow):
    touched: bool = False  # a quirk or case already chose how this row's 本年 cell is spelled


@dataclass
class ReturnDoc(FormLayout):
    """Everything on the form's sheet, plus the sheets around it."""

    before: list[Grid] = field(default_factory=list)
    after: list[Grid] = field(default_factory=list)

    def free_rows(self) -> list[Row]:
        return [r for r in self.indicator_rows() if isinstance(r, Row) and not r.touched]

    def blank_codes(self) -> list[str]:
        """Indicator codes whose 本年 cell is blank (read as 0 with W-BLANK)."""
        return [r.indicator.code for r in self.indicator_rows() if r.indicator and _reads_blank(r.current)]

    def footer_missing(self) -> bool:
        """True when 填表人 or 报出日期 is absent or empty (W-FOOTER)."""
        placed = {key for line in self.footer_rows for key, _ in line}
        for key in ("filler", "date"):
            item = self.footer.get(key)
            if key not in placed or item is None or item.value in (None, ""):
                return True
        return False


def _reads_blank(cell: Cell) -> bool:
    """Empty or only spaces: the one spelling the rulebook reads as 0 with W-BLANK (forms.md §5); a
    dash, a slash or 无 is a written 0."""
    return cell.blank or (cell.formula is None and isinstance(cell.value, str) and not cell.value.strip())


def number_cell(value: int | float, kind: Kind) -> Cell:
    return Cell(float(value) if kind is Kind.AMOUNT else int(value))


def build_doc(
    form: Form,
    *,
    org_name: str,
    org_code: str,
    year: int,
    values: dict[str, int | float],
    prior: dict[str, int | float] | None,
    head: str,
    filler: str,
    phone: str,
    report_date: date,
) -> ReturnDoc:
    """The return as the city's form lays it out, filled in plainly."""
    rows = [
        Row(
            indicator=ind,
            code=ind.code,
            name=ind.name,
            unit=ind.unit,
            current=number_cell(values[ind.code], ind.kind),
            prior=number_cell(prior[ind.code], ind.kind) if prior is not None else Cell(),
        )
        for ind in form.indicators
    ]
    cover = cover_items(form, issuer=DEFAULT_ISSUER, org_name=org_name, org_code=org_code, year=year)
    footer = footer_items({"head": head, "filler": filler, "phone": phone, "date": chinese_date(report_date)})
    return ReturnDoc.standard(form, cover, rows, footer)


def chinese_date(d: date) -> str:
    return DATE_SPELLING.format(d)


def render(doc: ReturnDoc) -> tuple[list[Grid], int]:
    """The sheets of the workbook, and the index of the form's sheet among them."""
    grid, _ = draw(doc)
    return [*doc.before, grid, *doc.after], len(doc.before)
