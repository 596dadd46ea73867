"""The warehouse tables (DESIGN.md, the analyst contract). Each says what one row is."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
TS = DateTime(timezone=True)
ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY

dim_org = Table(
    "dim_org",
    metadata,
    Column("org_code", String(12), primary_key=True, comment="12-digit statistical division code"),
    Column("valid_from", Integer, primary_key=True, comment="first statistical year of this span"),
    Column("valid_to", Integer, comment="last statistical year of this span; null = still valid"),
    Column("name", Text, nullable=False),
    Column("level", String(10), nullable=False, comment="city / township / village"),
    Column("kind", Text, nullable=False),
    Column("parent_code", String(12)),
    comment="One row per org × validity span (the registry).",
)

dim_metric = Table(
    "dim_metric",
    metadata,
    Column("form", String(8), primary_key=True),
    Column("indicator_code", String(2), primary_key=True),
    Column("metric_key", Text, nullable=False),
    Column("metric_name", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("kind", String(8), nullable=False, comment="count / flag / amount"),
    comment="One row per form × indicator.",
)

load_run = Table(
    "load_run",
    metadata,
    Column("run_id", String(36), primary_key=True, comment="pbstats run id (uuid)"),
    Column("flow_run_id", String(36), comment="Prefect flow-run id, to find the run in the UI"),
    Column("flow_name", Text),
    Column("inbox", Text),
    Column("started_at", TS, nullable=False),
    Column("ended_at", TS),
    Column("files_received", Integer, nullable=False, default=0),
    Column("accepted", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("superseded", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("held", Integer, nullable=False, default=0),
    Column("warnings", Integer, nullable=False, default=0),
    Column("outcome", String(12), nullable=False, comment="running / completed / failed"),  # or interrupted
    Column("message", Text),
    comment="One row per pipeline run.",
)

submission = Table(
    "submission",
    metadata,
    Column("submission_id", ID, primary_key=True, autoincrement=True),
    Column("file_name", Text, nullable=False, comment="as received, no folder"),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("received_at", TS, nullable=False, comment="when the file arrived in the inbox (its mtime)"),
    Column("form", String(8)),
    Column("org_code", String(12)),
    Column("year", Integer),
    Column(
        "status", String(12), nullable=False, comment="accepted / rejected / superseded / duplicate / held"
    ),
    Column("late", Boolean, nullable=False, default=False),
    Column("org_name_reported", Text, comment="填报单位 as written on the cover"),
    Column("sheet", Text, comment="the sheet that holds the form"),
    Column("value_cells", Text, comment="JSON: indicator code → A1 cell of its value, for findings"),
    Column("archive_path", Text, nullable=False, comment="relative to the archive root"),
    Column("feedback_path", Text, comment="relative to the quarantine root, for rejected returns"),
    Column("superseded_by", ID),
    Column("duplicate_of", ID),
    # the run that last judged the file (a rerun takes it over)
    Column("run_id", String(36), ForeignKey("load_run.run_id"), nullable=False),
    Column("loaded_at", TS, nullable=False),
    comment="One row per file received.",
)
Index("ix_submission_sha256", submission.c.sha256)
Index("ix_submission_return", submission.c.form, submission.c.org_code, submission.c.year)

submission_issue = Table(
    "submission_issue",
    metadata,
    Column("issue_id", ID, primary_key=True, autoincrement=True),
    Column("submission_id", ID, ForeignKey("submission.submission_id"), nullable=False),
    Column("check_id", String(10), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("sheet", Text),
    Column("cell", String(16)),
    Column("indicator_code", String(8)),
    Column("message", Text, nullable=False),
    Column("observed", Text),
    comment="One row per finding on a submission.",
)
Index("ix_issue_submission", submission_issue.c.submission_id)

fact_metric = Table(
    "fact_metric",
    metadata,
    Column("org_code", String(12), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("form", String(8), primary_key=True),
    Column("indicator_code", String(2), primary_key=True),
    Column("metric_key", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("submission_id", ID, ForeignKey("submission.submission_id"), nullable=False),
    comment="One row per org × year × indicator: the current value.",
)

fact_metric_history = Table(
    "fact_metric_history",
    metadata,
    Column("history_id", ID, primary_key=True, autoincrement=True),
    Column("org_code", String(12), nullable=False),
    Column("year", Integer, nullable=False),
    Column("form", String(8), nullable=False),
    Column("indicator_code", String(2), nullable=False),
    Column("metric_key", Text, nullable=False),
    Column("old_value", Float),
    Column("new_value", Float),
    Column("old_submission_id", ID),
    Column("new_submission_id", ID),
    Column("changed_at", TS, nullable=False),
    Column("run_id", String(36), nullable=False),
    comment="One row per value replaced when a return was superseded.",
)

rollup_check = Table(
    "rollup_check",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("township_code", String(12), primary_key=True),
    Column("indicator_code", String(2), primary_key=True),
    Column("state", String(10), nullable=False, comment="ok / mismatch / pending / no_return"),
    Column("reported", Float, comment="the township's DJ-2 value"),
    Column("expected", Float, comment="what the registry and villages' returns say"),
    Column("villages_expected", Integer, nullable=False),
    Column("villages_accepted", Integer, nullable=False),
    Column("checked_at", TS, nullable=False),
    comment="One row per township × year × rolled-up DJ-2 indicator (W-ROLLUP state).",
)

rollup_dirty = Table(
    "rollup_dirty",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("township_code", String(12), primary_key=True),
    comment="(year, township) whose W-ROLLUP check must run again: written in the transaction that changed"
    " its returns, cleared when the run re-checks it, so an interrupted run leaves it to the next.",
)

inbox_file = Table(
    "inbox_file",
    metadata,
    Column("path_sha256", String(64), primary_key=True, comment="sha256 of the absolute path's bytes"),
    Column("path", Text, nullable=False, comment="absolute path in the inbox, personal numbers masked"),
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("seen_at", TS, nullable=False),
    comment="One row per inbox path already taken in, so an unchanged file is never read again.",
)

year_state = Table(
    "year_state",
    metadata,
    Column("year", Integer, primary_key=True),
    Column(
        "closed", Boolean, nullable=False, comment="a closed year holds later returns instead of loading them"
    ),
    Column("changed_at", TS, nullable=False),
    Column("reason", Text),
    comment="One row per statistical year that was ever closed: whether it is closed now.",
)

year_state_event = Table(
    "year_state_event",
    metadata,
    Column("event_id", ID, primary_key=True, autoincrement=True),
    Column("year", Integer, nullable=False),
    Column("action", String(8), nullable=False, comment="close / reopen"),
    Column("reason", Text),
    Column("at", TS, nullable=False),
    Column("by_user", Text),
    comment="One row per close or reopen of a year (the record of who froze what, when, why).",
)
