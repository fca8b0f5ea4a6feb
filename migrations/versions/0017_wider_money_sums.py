"""Sums of orders' money (a customer's total spent, a subscriber's) hold 18 digits, not 14:
a handful of large orders no longer overflows them, which failed every later sync of the
source on PostgreSQL.

SQLite is left as it is: it stores any number in any numeric column, and declaring the
columns anew would rebuild the customers table, whose drop deletes every order.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 06:00:00.000000
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMS = ("customers", "subscriber_purchases")  # each one's total_spent
NARROW, WIDE = sa.Numeric(precision=14, scale=2), sa.Numeric(precision=18, scale=2)


def upgrade() -> None:
    _retype(NARROW, WIDE)


def downgrade() -> None:
    """Fails, naming the value, if a sum has since grown past 14 digits."""
    _retype(WIDE, NARROW)


def _retype(before: sa.Numeric[Decimal], after: sa.Numeric[Decimal]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in SUMS:
        op.alter_column(table, "total_spent", type_=after, existing_type=before)
