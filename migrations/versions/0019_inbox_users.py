"""A stored webhook update names its user (`inbound_updates.user_id`), so that bot
processes sharing the inbox never handle one user's updates out of order: an update is
not claimed while an earlier one of its user is held by a claim.

Updates stored before this revision name nobody: they are claimed as before.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_inbound_updates_user"), ["user_id", "handled_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_updates_user"))
        batch_op.drop_column("user_id")
