"""RFM runs: what the scores are as of lives once per rescore; a score row keeps its
customer's last order (not a recency that grows daily), so a rescore rewrites only the
rows that changed.

Stored scores are kept: each gets its customer's last order from the purchase facts (a
score whose customer has none is dropped; the next rescore brings it back if it should
be there), and one run records the day they were as of.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rfm_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("scored_at", Timestamp, nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rfm_runs")),
    )
    op.create_index(op.f("ix_rfm_runs_scored_at"), "rfm_runs", ["scored_at"], unique=False)
    op.execute(
        "INSERT INTO rfm_runs (as_of, scored_at, customers, changed, segments) "
        "SELECT max(as_of), max(scored_at), count(*), count(*), '{}' FROM rfm_scores "
        "HAVING count(*) > 0"
    )
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_ordered_at", Timestamp, nullable=True))
    op.execute(
        "UPDATE rfm_scores SET last_ordered_at = "
        "(SELECT last_order_at FROM customers WHERE customers.id = rfm_scores.customer_id)"
    )
    op.execute("DELETE FROM rfm_scores WHERE last_ordered_at IS NULL")
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.alter_column("last_ordered_at", existing_type=Timestamp, nullable=False)
        batch_op.alter_column("scored_at", new_column_name="changed_at", existing_type=Timestamp)
        batch_op.drop_column("as_of")
        batch_op.drop_column("recency_days")


def downgrade() -> None:
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recency_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("as_of", sa.Date(), nullable=True))
        batch_op.alter_column("changed_at", new_column_name="scored_at", existing_type=Timestamp)
    # Recency as of the latest run, in whole days (julianday on SQLite, date arithmetic on
    # PostgreSQL); a score with no run to date it is dropped.
    latest = "(SELECT as_of FROM rfm_runs ORDER BY scored_at DESC, id DESC LIMIT 1)"
    if op.get_bind().dialect.name == "postgresql":
        days = f"{latest} - CAST(last_ordered_at AT TIME ZONE 'UTC' AS DATE)"
    else:
        days = f"CAST(julianday({latest}) - julianday(date(last_ordered_at)) AS INTEGER)"
    op.execute(f"UPDATE rfm_scores SET as_of = {latest}, recency_days = {days}")  # noqa: S608
    op.execute("DELETE FROM rfm_scores WHERE as_of IS NULL")
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.alter_column("recency_days", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("as_of", existing_type=sa.Date(), nullable=False)
        batch_op.drop_column("last_ordered_at")
    op.drop_index(op.f("ix_rfm_runs_scored_at"), table_name="rfm_runs")
    op.drop_table("rfm_runs")
