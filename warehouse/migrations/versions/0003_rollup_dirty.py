"""Rollup checks once per run: the (year, township) pairs a run's batches changed, until re-checked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_dirty",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("year", "township_code"),
        comment="(year, township) whose W-ROLLUP check must run again: written in the transaction that changed"
        " its returns, cleared when the run re-checks it, so an interrupted run leaves it to the next.",
    )


def downgrade() -> None:
    op.drop_table("rollup_dirty")
