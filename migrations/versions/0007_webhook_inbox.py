"""The webhook inbox: updates stored before they are acknowledged (core/inbox.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_inbound_updates")),
    )
    op.create_index(
        "ix_inbound_updates_pending", "inbound_updates", ["handled_at", "update_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_updates_pending", table_name="inbound_updates")
    op.drop_table("inbound_updates")
