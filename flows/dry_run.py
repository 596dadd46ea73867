"""A submitter's dry run: the checks ingest would make, with the warehouse read (never written)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from pbstats.schemas.checks import CheckId
from pbstats.schemas.messages import READER_FAILED_DRY_RUN
from pbstats.schemas.registry import Registry, default_spans
from pbstats.transforms.checks import Rulebook
from pbstats.transforms.model import CheckedReturn, Finding, Received
from pbstats.transforms.prior import compare_with_last_year
from pbstats.warehouse.catalogue import load_registry
from pbstats.warehouse.load import last_year_values
from pbstats.warehouse.review import read_only_engine

from .files import sha256_of
from .readers import Unavailable, build_feedback, check_file
from .settings import Settings
from .stages import apply_value_rules

log = logging.getLogger("pbstats")
FEEDBACK_SUFFIX = "-审核意见.xlsx"


@dataclass
class DryRun:
    """What the checks found in each file, and whether last year's values were at hand."""

    returns: list[CheckedReturn]
    feedback: dict[str, Path]  # file path → the feedback workbook written beside it
    compared_with_warehouse: bool


def feedback_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}{FEEDBACK_SUFFIX}")


def dry_run(paths: Sequence[Path], settings: Settings, now: datetime | None = None) -> DryRun:
    """Check files as the nightly run would (received now); write each one's feedback beside it."""
    engine = read_only_engine(settings.url)
    try:
        if engine is not None:
            with engine.connect() as conn:
                registry = load_registry(conn)
        else:
            registry = Registry(default_spans())
        rules = Rulebook(registry, settings.today_or_now(), settings.deadline_month_day)
        now = now or _now(settings)
        datas = [p.read_bytes() for p in paths]
        returns = [
            _check(Received(p.name, sha256_of(d), len(d), now, ""), d, rules)
            for p, d in zip(paths, datas, strict=True)
        ]
        apply_value_rules(returns)
        if engine is not None:
            keys = [(r.form_id, r.org_code, r.year) for r in returns if r.form_id and r.org_code and r.year]
            with engine.connect() as conn:
                last = last_year_values(conn, keys)
            for r in returns:
                r.findings.extend(compare_with_last_year(r, last.get((r.form_id, r.org_code, r.year), {})))
    finally:
        if engine is not None:
            engine.dispose()
    written = {}
    for path, data, ret in zip(paths, datas, returns, strict=True):
        if ret.findings:
            target = feedback_path(path)
            target.write_bytes(build_feedback(data, path.name, ret.findings))
            written[str(path)] = target
    return DryRun(returns, written, engine is not None)


def _now(settings: Settings) -> datetime:
    """When the file would arrive if sent now (PBSTATS_TODAY, at noon, when a past day is replayed)."""
    if settings.today is None:
        return datetime.now(UTC)
    return datetime.combine(settings.today, time(12), tzinfo=ZoneInfo("Asia/Shanghai"))


def _check(rec: Received, data: bytes, rules: Rulebook) -> CheckedReturn:
    try:
        return check_file(rec, data, rules)
    except Unavailable:  # no guarded reader here: the file is not read at all (the command says so)
        raise
    except Exception:  # a reader bug: the submitter still gets an answer
        log.exception("reading %s failed", rec.file_name)
        ret = CheckedReturn(received=rec)
        ret.findings.append(Finding(CheckId.E_FILE, READER_FAILED_DRY_RUN))
        return ret
