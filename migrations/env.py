"""Alembic environment: async, batch mode for SQLite, settings from SEGBOT_DATABASE_URL.

`migrations.upgrade()` hands in an open connection (config.attributes["connection"]);
the `alembic` command line opens its own from the settings.
"""

import asyncio
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.types import TypeDecorator

from core.db import create_engine
from core.settings import load_settings
from migrations import migrating
from migrations.metadata import metadata

target_metadata = metadata


def render_item(kind: str, obj: object, _context: AutogenContext) -> str | Literal[False]:
    """Write our column types as the plain SQLAlchemy type they store, so revisions never
    import application code that may change after them."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine() -> None:
    engine = create_engine(load_settings().database_url)
    try:
        async with migrating(engine) as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


shared_connection = context.config.attributes.get("connection")
if shared_connection is not None:
    run_migrations(shared_connection)
elif context.is_offline_mode():
    context.configure(
        url=load_settings().database_url.get_secret_value(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_with_own_engine())
