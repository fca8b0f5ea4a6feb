"""AI segments and personas: a segment's kind, generated segments' profiles, personas.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:02:13.120544
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEGMENT_KIND = sa.Enum("rule", "ai", "lookalike", name="segmentkind", native_enum=False, length=16)
CONTENT_FORMAT = sa.Enum(
    "short_video", "carousel", "live", "text", name="contentformat", native_enum=False, length=16
)


def upgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", SEGMENT_KIND, nullable=False, server_default="rule"))

    op.create_table(
        "segment_profiles",
        sa.Column(
            "segment_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_profiles_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", name=op.f("pk_segment_profiles")),
    )
    op.create_table(
        "personas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source_segment", sa.String(length=64), nullable=True),
        sa.Column("rule_text", sa.Text(), nullable=True),
        sa.Column("main_problem", sa.Text(), nullable=False),
        sa.Column("preferred_format", CONTENT_FORMAT, nullable=False),
        sa.Column("tone", sa.String(length=64), nullable=False),
        sa.Column("best_offer", sa.Text(), nullable=False),
        sa.Column("example_customer", sa.Text(), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_personas_segment_id_segments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personas")),
        sa.UniqueConstraint("name", name=op.f("uq_personas_name")),
    )
    with op.batch_alter_table("personas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personas_segment_id"), ["segment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("personas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personas_segment_id"))

    op.drop_table("personas")
    op.drop_table("segment_profiles")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("kind")
