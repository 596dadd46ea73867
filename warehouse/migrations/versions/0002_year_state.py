"""Closing a year: its state and the record of every close and reopen.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "year_state",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "closed",
            sa.Boolean(),
            nullable=False,
            comment="a closed year holds later returns instead of loading them",
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("year"),
        comment="One row per statistical year that was ever closed: whether it is closed now.",
    )
    op.create_table(
        "year_state_event",
        sa.Column("event_id", ID, autoincrement=True, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False, comment="close / reopen"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_user", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
        comment="One row per close or reopen of a year (the record of who froze what, when, why).",
    )


def downgrade() -> None:
    op.drop_table("year_state_event")
    op.drop_table("year_state")
