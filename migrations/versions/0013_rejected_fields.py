"""A rejected row may name a `field`: the record was stored, and only that value (a phone or
an email that is not one) was left out of it. Rows rejected before this revision were
left out whole, as a NULL field says.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rejected_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("field", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rejected_rows", schema=None) as batch_op:
        batch_op.drop_column("field")
