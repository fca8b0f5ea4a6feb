"""Rich messages: a variant is text, one media item (photo, video, animation, document,
audio, voice) or an album (`kind`, `media`); it has texts per language (`translations`,
beside `body` in the campaign's `language`), buttons in rows, link-preview options,
`protect_content` and a message effect. `uploaded_files` keeps the file id each uploaded
file got, by content, so it is uploaded once.

Variants saved before this revision become what they were: a photo variant's `photo` is
its one media item, and each button is a row of its own. Downgrading keeps photos and
the buttons (one per row); other media, translations and options are dropped.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 10:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON_LIST = sa.text("'[]'")
_JSON_OBJECT = sa.text("'{}'")


def _variants(*columns: str) -> sa.TableClause:
    types: dict[str, Any] = {"id": sa.BigInteger(), "photo": sa.Text(), "kind": sa.String()}
    return sa.table(
        "campaign_variants", *(sa.column(name, types.get(name, sa.JSON())) for name in columns)
    )


def upgrade() -> None:
    op.create_table(
        "uploaded_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploaded_files")),
        sa.UniqueConstraint("sha256", "kind", name=op.f("uq_uploaded_files_sha256_kind")),
    )
    # Plain ALTER TABLE ADD COLUMN: on SQLite a batch would copy the table, and dropping
    # the old copy would cascade to every row referring to it (deliveries).
    op.add_column(
        "campaigns",
        sa.Column("language", sa.String(length=16), nullable=False, server_default="en"),
    )
    for column in (
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="text"),
        sa.Column("translations", sa.JSON(), nullable=False, server_default=_JSON_OBJECT),
        sa.Column("media", sa.JSON(), nullable=False, server_default=_JSON_LIST),
        sa.Column("link_preview", sa.JSON(), nullable=True),
        sa.Column("protect_content", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("effect_id", sa.String(length=32), nullable=True),
    ):
        op.add_column("campaign_variants", column)
    old = _variants("id", "photo", "buttons")
    new = _variants("id", "kind", "media", "buttons")
    connection = op.get_bind()
    for variant_id, photo, buttons in connection.execute(sa.select(old)).all():
        values: dict[str, Any] = {"buttons": [[button] for button in buttons or []]}
        if photo is not None:
            values |= {"kind": "photo", "media": [{"kind": "photo", "ref": photo}]}
        connection.execute(sa.update(new).where(new.c.id == variant_id).values(**values))
    _drop_columns("campaign_variants", "photo")


def downgrade() -> None:
    op.add_column("campaign_variants", sa.Column("photo", sa.Text(), nullable=True))
    new = _variants("id", "kind", "media", "buttons")
    old = _variants("id", "photo", "buttons")
    connection = op.get_bind()
    for variant_id, kind, media, rows in connection.execute(sa.select(new)).all():
        values: dict[str, Any] = {"buttons": [button for row in rows or [] for button in row]}
        if kind == "photo":
            values["photo"] = media[0]["ref"]
        connection.execute(sa.update(old).where(old.c.id == variant_id).values(**values))
    _drop_columns(
        "campaign_variants",
        *("effect_id", "protect_content", "link_preview", "media", "translations", "kind"),
    )
    _drop_columns("campaigns", "language")
    op.drop_table("uploaded_files")


def _drop_columns(table: str, *names: str) -> None:
    """SQLite drops each with its own ALTER TABLE DROP COLUMN (3.35 and later), not by a
    batch's copy of the table (see upgrade)."""
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in names:
                batch_op.drop_column(name)
        return
    for name in names:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
