"""The warehouse of DESIGN.md: tables, analyst views.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from pbstats.warehouse.views import create_views, drop_views

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dim_metric",
        sa.Column("form", sa.String(length=8), nullable=False),
        sa.Column("indicator_code", sa.String(length=2), nullable=False),
        sa.Column("metric_key", sa.Text(), nullable=False),
        sa.Column("metric_name", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="count / flag / amount"),
        sa.PrimaryKeyConstraint("form", "indicator_code"),
        comment="One row per form × indicator.",
    )
    op.create_table(
        "dim_org",
        sa.Column(
            "org_code", sa.String(length=12), nullable=False, comment="12-digit statistical division code"
        ),
        sa.Column("valid_from", sa.Integer(), nullable=False, comment="first statistical year of this span"),
        sa.Column(
            "valid_to",
            sa.Integer(),
            nullable=True,
            comment="last statistical year of this span; null = still valid",
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False, comment="city / township / village"),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.PrimaryKeyConstraint("org_code", "valid_from"),
        comment="One row per org × validity span (the registry).",
    )
    op.create_table(
        "fact_metric_history",
        sa.Column(
            "history_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=8), nullable=False),
        sa.Column("indicator_code", sa.String(length=2), nullable=False),
        sa.Column("metric_key", sa.Text(), nullable=False),
        sa.Column("old_value", sa.Float(), nullable=True),
        sa.Column("new_value", sa.Float(), nullable=True),
        sa.Column("old_submission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("new_submission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("history_id"),
        comment="One row per value replaced when a return was superseded.",
    )
    op.create_table(
        "inbox_file",
        sa.Column("path", sa.Text(), nullable=False, comment="absolute path in the inbox"),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path"),
        comment="One row per inbox path already taken in, so an unchanged file is never read again.",
    )
    op.create_table(
        "load_run",
        sa.Column("run_id", sa.String(length=36), nullable=False, comment="pbstats run id (uuid)"),
        sa.Column(
            "flow_run_id",
            sa.String(length=36),
            nullable=True,
            comment="Prefect flow-run id, to find the run in the UI",
        ),
        sa.Column("flow_name", sa.Text(), nullable=True),
        sa.Column("inbox", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_received", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False, comment="running / completed / failed"),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
        comment="One row per pipeline run.",
    )
    op.create_table(
        "pipeline_lock",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        comment="One row per lock; loads take it so two runs never interleave.",
    )
    op.create_table(
        "rollup_check",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=False),
        sa.Column("indicator_code", sa.String(length=2), nullable=False),
        sa.Column(
            "state", sa.String(length=10), nullable=False, comment="ok / mismatch / pending / no_return"
        ),
        sa.Column("reported", sa.Float(), nullable=True, comment="the township's DJ-2 value"),
        sa.Column(
            "expected", sa.Float(), nullable=True, comment="what the registry and villages' returns say"
        ),
        sa.Column("villages_expected", sa.Integer(), nullable=False),
        sa.Column("villages_accepted", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", "township_code", "indicator_code"),
        comment="One row per township × year × rolled-up DJ-2 indicator (W-ROLLUP state).",
    )
    op.create_table(
        "submission",
        sa.Column(
            "submission_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("file_name", sa.Text(), nullable=False, comment="as received, no folder"),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the file arrived in the inbox (its mtime)",
        ),
        sa.Column("form", sa.String(length=8), nullable=True),
        sa.Column("org_code", sa.String(length=12), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.String(length=12),
            nullable=False,
            comment="accepted / rejected / superseded / duplicate / held",
        ),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("org_name_reported", sa.Text(), nullable=True, comment="填报单位 as written on the cover"),
        sa.Column("sheet", sa.Text(), nullable=True, comment="the sheet that holds the form"),
        sa.Column(
            "value_cells",
            sa.Text(),
            nullable=True,
            comment="JSON: indicator code → A1 cell of its value, for findings",
        ),
        sa.Column("archive_path", sa.Text(), nullable=False, comment="relative to the archive root"),
        sa.Column(
            "feedback_path",
            sa.Text(),
            nullable=True,
            comment="relative to the quarantine root, for rejected returns",
        ),
        sa.Column("superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("duplicate_of", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["load_run.run_id"],
        ),
        sa.PrimaryKeyConstraint("submission_id"),
        comment="One row per file received.",
    )
    op.create_index("ix_submission_return", "submission", ["form", "org_code", "year"], unique=False)
    op.create_index("ix_submission_sha256", "submission", ["sha256"], unique=False)
    op.create_table(
        "fact_metric",
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=8), nullable=False),
        sa.Column("indicator_code", sa.String(length=2), nullable=False),
        sa.Column("metric_key", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("submission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.submission_id"],
        ),
        sa.PrimaryKeyConstraint("org_code", "year", "form", "indicator_code"),
        comment="One row per org × year × indicator: the current value.",
    )
    op.create_table(
        "submission_issue",
        sa.Column(
            "issue_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("submission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("check_id", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=True),
        sa.Column("cell", sa.String(length=16), nullable=True),
        sa.Column("indicator_code", sa.String(length=8), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("observed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.submission_id"],
        ),
        sa.PrimaryKeyConstraint("issue_id"),
        comment="One row per finding on a submission.",
    )
    op.create_index("ix_issue_submission", "submission_issue", ["submission_id"], unique=False)
    create_views(op.execute)


def downgrade() -> None:
    drop_views(op.execute)
    for table in (
        "submission_issue",
        "fact_metric",
        "submission",
        "rollup_check",
        "pipeline_lock",
        "load_run",
        "inbox_file",
        "fact_metric_history",
        "dim_org",
        "dim_metric",
    ):
        op.drop_table(table)
