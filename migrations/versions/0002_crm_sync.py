"""CRM sync: runs, rejected rows, cursors, identity conflicts; purchase facts on customers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:28:47.989964
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_conflicts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("subscriber_ids", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_conflicts")),
        sa.UniqueConstraint(
            "kind", "value", "source", name=op.f("uq_identity_conflicts_kind_value_source")
        ),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector", "stream", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_count", sa.Integer(), nullable=False),
        sa.Column("inserted_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("unchanged_count", sa.Integer(), nullable=False),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("cursor_before", sa.JSON(), nullable=False),
        sa.Column("cursor_after", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_runs_connector_started", ["connector", "started_at"], unique=False
        )
        batch_op.create_index(
            "uq_sync_runs_one_running",
            ["connector"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "rejected_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_rejected_rows_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_rows")),
    )
    with op.batch_alter_table("rejected_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rejected_rows_run_id"), ["run_id"], unique=False)

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("orders_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "total_spent",
                sa.Numeric(precision=14, scale=2, asdecimal=False),
                server_default=sa.text("0"),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "average_order_value",
                sa.Numeric(precision=14, scale=2, asdecimal=False),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers_last_order_at"), ["last_order_at"], unique=False
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quantity", sa.Integer(), nullable=True))
        batch_op.create_index("ix_orders_source_updated", ["source", "updated_at"], unique=False)
        batch_op.add_column(
            sa.Column("counts_as_purchase", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_source_updated")
        batch_op.drop_column("counts_as_purchase")
        batch_op.drop_column("quantity")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_last_order_at"))
        batch_op.drop_column("last_order_at")
        batch_op.drop_column("first_order_at")
        batch_op.drop_column("average_order_value")
        batch_op.drop_column("total_spent")
        batch_op.drop_column("orders_count")

    with op.batch_alter_table("rejected_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rejected_rows_run_id"))

    op.drop_table("rejected_rows")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_sync_runs_one_running")
        batch_op.drop_index("ix_sync_runs_connector_started")

    op.drop_table("sync_runs")
    op.drop_table("sync_cursors")
    op.drop_table("identity_conflicts")
