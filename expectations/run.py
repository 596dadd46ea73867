"""Run a form's stored expectation suite over a frame of returns; say which rows broke what.

Great Expectations is imported only when a non-empty frame is validated (the import takes
seconds), and its context, data source and batch definition are built once per process.
The frame format is described in expectations/suites.py.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pbstats.expectations.suites import stored_suite
from pbstats.schemas.checks import CheckId
from pbstats.schemas.forms import FORMS, Rule

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

# GX is handed the frame with its rows renumbered 0..n-1 under this index name, so that any
# caller's index (named or not, unique or not) maps back the same way.
_POSITION = "__position__"

# The context and its data source are shared, and a GX execution engine keeps the batch it
# is computing as state, so validations run one at a time (Prefect may run tasks in threads).
_gx_lock = threading.Lock()


@dataclass(frozen=True)
class Violation:
    """One return (frame row) breaking one expectation of its form's suite."""

    row: int  # the frame's index value for the return
    codes: tuple[str, ...]  # indicator codes involved, e.g. ("02", "01") for rule 02 <= 01
    check_id: CheckId  # E-VALUE or E-RULE
    expectation_type: str  # e.g. expect_column_values_to_match_regex
    rule: Rule | None = None  # the within-form rule, for E-RULE


class SuiteError(Exception):
    """A stored suite or a frame GX cannot run as given: a bug in the pipeline, not bad data."""


def validate(form_id: str, frame: pd.DataFrame) -> list[Violation]:
    """Every violation of `form_id`'s suite in `frame`, ordered by row then by suite order."""
    if form_id not in FORMS:
        raise SuiteError(f"no expectation suite for form {form_id!r}")
    if frame.empty:
        return []
    positioned = frame.reset_index(drop=True).rename_axis(_POSITION)
    with _gx_lock:
        suite = _suite(form_id)
        _require_columns(suite, frame)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": positioned})
        outcome = batch.validate(suite, result_format="COMPLETE")
    rows = frame.index.tolist()
    found: list[tuple[int, int, Violation]] = []
    for order, result in enumerate(outcome.results):
        for position in _unexpected_positions(result):
            found.append((position, order, _violation(rows[position], result)))
    return [violation for _, _, violation in sorted(found, key=lambda f: f[:2])]


def warm_up() -> None:
    """Import GX and build the suites and the batch definition now, so a later `validate` is quick."""
    with _gx_lock:
        for form_id in FORMS:
            _suite(form_id)
        _batch_definition()


def warm_up_in_background() -> threading.Thread:
    """`warm_up` in a daemon thread: the seconds GX's import takes overlap with other work (a failure
    here is only logged; `validate` builds what it needs and raises there)."""

    def run() -> None:
        try:
            warm_up()
        except Exception:
            logging.getLogger("pbstats").warning("warming up Great Expectations failed", exc_info=True)

    thread = threading.Thread(target=run, name="gx-warm-up", daemon=True)
    thread.start()
    return thread


@cache
def _gx() -> ModuleType:
    """Great Expectations, imported on first use; at INFO it logs hundreds of lines on import."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations

    return great_expectations


@cache
def _suite(form_id: str) -> ExpectationSuite:
    stored = stored_suite(form_id)
    suite = _gx().ExpectationSuite(**stored)
    # GX logs and drops an expectation it cannot build instead of raising.
    if len(suite.expectations) != len(stored["expectations"]):
        raise SuiteError(f"GX dropped expectations of the stored suite {form_id}; see its log")
    return suite


@cache
def _batch_definition() -> BatchDefinition:
    """The whole-dataframe batch definition of an in-memory context, built once per process."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),  # no tqdm bars on the CLI's output
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("pbstats").add_dataframe_asset("returns")
    return asset.add_batch_definition_whole_dataframe("whole frame")


def _require_columns(suite: ExpectationSuite, frame: pd.DataFrame) -> None:
    needed = {
        value
        for expectation in suite.expectations
        for key, value in expectation.configuration.kwargs.items()
        if key in ("column", "column_A", "column_B")
    }
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise SuiteError(f"frame for suite {suite.name} lacks columns {', '.join(missing)}")


def _unexpected_positions(result: ExpectationValidationResult) -> list[int]:
    """Row positions GX found unexpected: for a named index GX 1.x lists dicts holding the
    index value under the index name (and the domain values); otherwise the bare index values."""
    if "unexpected_index_list" not in result.result:
        if result.success and not _exception_messages(result):
            return []
        messages = "; ".join(_exception_messages(result)) or "no unexpected_index_list"
        raise SuiteError(f"{result.expectation_config.type} could not run: {messages}")
    entries: list[Any] = result.result["unexpected_index_list"]
    return [int(entry[_POSITION] if isinstance(entry, dict) else entry) for entry in entries]


def _exception_messages(result: ExpectationValidationResult) -> list[str]:
    """GX reports an exception either as one flat ExceptionInfo dict or, when a metric failed,
    as a dict of them keyed by metric id."""
    info: dict[str, Any] = result.exception_info or {}
    infos = [info] if "raised_exception" in info else [i for i in info.values() if isinstance(i, dict)]
    return [str(i.get("exception_message")) for i in infos if i.get("raised_exception", True)]


def _violation(row: int, result: ExpectationValidationResult) -> Violation:
    config = result.expectation_config
    meta = config.meta
    rule = Rule(**meta["rule"]) if "rule" in meta else None
    return Violation(row, tuple(meta["codes"]), CheckId(meta["check_id"]), config.type, rule)
