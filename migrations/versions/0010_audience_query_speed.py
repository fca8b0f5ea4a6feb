"""Audience queries: the events index by type and time also holds the subscriber, so a
rule's "who did this within a window" is read from the index alone; segment members
carry no foreign keys (derived data: the checks were most of a refresh's insert time).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 21:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEMBER_KEYS = {"segment_id": "segments", "subscriber_id": "subscribers"}


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_type_time_subscriber", ["type", "occurred_at", "subscriber_id"]
        )
        batch_op.drop_index("ix_events_type_time")
    with op.batch_alter_table("segment_members", schema=None) as batch_op:
        for column, table in MEMBER_KEYS.items():
            batch_op.drop_constraint(f"fk_segment_members_{column}_{table}", type_="foreignkey")


def downgrade() -> None:
    for column, table in MEMBER_KEYS.items():  # members the keys would not have kept
        op.execute(
            f"DELETE FROM segment_members WHERE {column} NOT IN (SELECT id FROM {table})"  # noqa: S608
        )
    with op.batch_alter_table("segment_members", schema=None) as batch_op:
        for column, table in MEMBER_KEYS.items():
            batch_op.create_foreign_key(
                f"fk_segment_members_{column}_{table}",
                table,
                [column],
                ["id"],
                ondelete="CASCADE",
            )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_type_time", ["type", "occurred_at"])
        batch_op.drop_index("ix_events_type_time_subscriber")
