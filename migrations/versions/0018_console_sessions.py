"""A console sign-in link's row records the browser session it started, so the session
can be signed out (`console_links.session_digest`, `console_links.signed_out_at`).

Sessions started before this revision have no digest, so their cookies are refused: their
admins sign in again with a new link.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("console_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_digest", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("signed_out_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_console_links_session_digest"), ["session_digest"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("console_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_links_session_digest"))
        batch_op.drop_column("signed_out_at")
        batch_op.drop_column("session_digest")
