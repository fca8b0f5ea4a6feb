"""RFM scores: half of each page left free (PostgreSQL), so a rescore updates in place.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rfm_scores SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rfm_scores RESET (fillfactor)")
