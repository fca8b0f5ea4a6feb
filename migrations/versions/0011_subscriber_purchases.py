"""Purchase facts per subscriber, summed over their linked customers (crm_sync.facts keeps
them), so audience rules on purchases join one row per subscriber.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 22:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriber_purchases",
        sa.Column(
            "subscriber_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        # 18 digits, as 0017 widens every sum to: two customers' totals of 14 digits each
        # (as 0001 allowed) add up past 14, and PostgreSQL refused the fill below. SQLite
        # keeps what it declared (it holds any number; 0017 leaves it).
        sa.Column(
            "total_spent",
            sa.Numeric(precision=18, scale=2).with_variant(sa.Numeric(14, 2), "sqlite"),
            nullable=False,
        ),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_purchases_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", name=op.f("pk_subscriber_purchases")),
    )
    op.execute(
        "INSERT INTO subscriber_purchases "
        "(subscriber_id, customers, orders_count, total_spent, last_order_at) "
        "SELECT subscriber_id, count(*), sum(orders_count), sum(total_spent), "
        "max(last_order_at) FROM customers WHERE subscriber_id IS NOT NULL "
        "GROUP BY subscriber_id"
    )


def downgrade() -> None:
    op.drop_table("subscriber_purchases")
