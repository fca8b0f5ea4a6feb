"""Deliveries say who claimed them and whether their request may have left
(`claimed_by`, `attempted_at`), so a crash makes `unknown` only what was in flight and
queues the rest again; senders' heartbeats (`broadcast_senders`) tell a live sender's
claims from a stopped one's.

Claims made before this revision (`sending`) may have gone out: they count as attempted.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast_senders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_senders")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_deliveries_in_flight",
            ["claimed_by"],
            unique=False,
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )
    op.execute("UPDATE deliveries SET attempted_at = claimed_at WHERE status = 'sending'")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_in_flight")
        batch_op.drop_column("attempted_at")
        batch_op.drop_column("claimed_by")
    op.drop_table("broadcast_senders")
